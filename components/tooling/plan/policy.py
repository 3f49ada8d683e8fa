"""Run the policy pack the way the Pulumi CLI does: a process that prints its port, then gRPC.

`PolicyPackProcess` starts `policies/__main__.py`, reads the port it prints, and drives the
Analyzer service (`GetAnalyzerInfo`, `Configure`, `Analyze` per resource, `AnalyzeStack`) with the
protobuf messages of `pulumi.runtime.proto`. The offline plan feeds it the mocked program's
resources, so `ai-clusters plan` and `pulumi preview --policy-pack policies` give the same verdicts.
"""

import json
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from ai_clusters.tooling.plugin_process import PluginError, PluginProcess
from ai_clusters.tooling.plan import Verdict, json_safe

LEVEL_NAMES = {0: "advisory", 1: "mandatory", 2: "disabled", 3: "remediate"}
LEVEL_CODES = {v: k for k, v in LEVEL_NAMES.items()}


class PolicyPackError(PluginError):
    """The pack could not be started or answered with an error."""


def _struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(json_safe(dict(value)))
    return s


class PolicyPackProcess(PluginProcess):
    """A running policy pack, reachable over gRPC on 127.0.0.1."""

    kind = "policy pack"
    error = PolicyPackError

    def __init__(self, pack_dir: Path, python: Optional[str] = None, start_timeout: float = 60.0):
        # As the CLI does: run the pack's program with an engine address; it serves the Analyzer.
        super().__init__(Path(pack_dir) / "__main__.py", ["127.0.0.1:0"], python, start_timeout)
        self.pack_dir = Path(pack_dir)
        self.stub: Optional[analyzer_pb2_grpc.AnalyzerStub] = None

    def __enter__(self) -> "PolicyPackProcess":
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.start())
        return self

    # -- the Analyzer service -------------------------------------------------------------------
    def info(self) -> analyzer_pb2.AnalyzerInfo:
        return self.stub.GetAnalyzerInfo(empty_pb2.Empty())

    def plugin_version(self) -> str:
        return self.stub.GetPluginInfo(empty_pb2.Empty()).version

    def pack_version(self) -> str:
        """The pack's version as the CLI reports it: `PulumiPolicy.yaml`'s, else the analyzer's.

        Python packs always answer "0.0.1" in AnalyzerInfo; the CLI uses the version in
        PulumiPolicy.yaml instead, and so do we.
        """
        declared = yaml.safe_load((self.pack_dir / "PulumiPolicy.yaml").read_text()) or {}
        return str(declared.get("version") or self.info().version)

    def configure(self, config: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
        """Send each policy its config: schema defaults overlaid with `config[policy]` (as the CLI does)."""
        effective: dict[str, dict[str, Any]] = {}
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for policy in self.info().policies:
            props: dict[str, Any] = {}
            schema = json_format.MessageToDict(policy.configSchema.properties) if policy.configSchema else {}
            for key, prop in schema.items():
                if isinstance(prop, dict) and "default" in prop:
                    props[key] = prop["default"]
            given = dict(config.get(policy.name) or {})
            level = given.pop("enforcementLevel", None)
            props.update(given)
            effective[policy.name] = props
            entry = request.policyConfig[policy.name]
            entry.enforcementLevel = LEVEL_CODES.get(level, policy.enforcementLevel) if level else policy.enforcementLevel
            entry.properties.CopyFrom(_struct(props))
        self.stub.Configure(request)
        return effective

    def analyze(self, urn: str, type_: str, name: str, props: Mapping[str, Any], protect: bool = False) -> list[analyzer_pb2.AnalyzeDiagnostic]:
        response = self.stub.Analyze(
            analyzer_pb2.AnalyzeRequest(
                type=type_,
                urn=urn,
                name=name,
                properties=_struct(props),
                options=analyzer_pb2.AnalyzerResourceOptions(protect=protect),
            )
        )
        return list(response.diagnostics)

    def analyze_stack(self, resources: Iterable[tuple[str, str, str, Mapping[str, Any], bool, Optional[str]]]) -> list[analyzer_pb2.AnalyzeDiagnostic]:
        request = analyzer_pb2.AnalyzeStackRequest(
            resources=[
                analyzer_pb2.AnalyzerResource(
                    type=type_,
                    urn=urn,
                    name=name,
                    properties=_struct(props),
                    options=analyzer_pb2.AnalyzerResourceOptions(protect=protect, parent=parent or ""),
                    parent=parent or "",
                )
                for urn, type_, name, props, protect, parent in resources
            ]
        )
        return list(self.stub.AnalyzeStack(request).diagnostics)


def verdict(d: analyzer_pb2.AnalyzeDiagnostic, default_urn: Optional[str] = None) -> Verdict:
    # pulumi_policy sends "<policy description>\n<message>"; keep the message itself.
    message = d.message.removeprefix(f"{d.description}\n") if d.description else d.message
    return Verdict(policy=d.policyName, level=LEVEL_NAMES.get(d.enforcementLevel, str(d.enforcementLevel)), message=message, urn=d.urn or default_urn)


def config_file(project_root: Path, environment: str) -> Path:
    """Where an environment's policy settings live: `policies/config/<env>.json`."""
    return project_root / "policies" / "config" / f"{environment}.json"


def pack_config(project_root: Path, environment: str, budget: Optional[float]) -> dict[str, Any]:
    """`policies/config/<env>.json`, with the stack's own hourly budget for its environment."""
    path = config_file(project_root, environment)
    try:
        config: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError) as exc:
        raise PolicyPackError(f"{path}: not a JSON policy configuration ({exc})") from None
    if not isinstance(config, dict):
        raise PolicyPackError(f"{path}: a policy configuration is a JSON object of policy names")
    if budget is not None:
        envs = config.setdefault("budget-and-environment", {}).setdefault("environments", {})
        envs.setdefault(environment, {})["hourlyBudgetUsd"] = budget
    return config


def not_checked(project_root: Path, environment: str, config: Mapping[str, Any]) -> list[str]:
    """What the pack did not check for this environment because nothing configures it (said, never implied)."""
    settings = ((config.get("budget-and-environment") or {}).get("environments") or {}).get(environment) or {}
    where = config_file(project_root, environment).relative_to(project_root)
    missing = "" if (project_root / where).is_file() else f" ({where} does not exist)"
    gaps = []
    if settings.get("hourlyBudgetUsd") is None:
        gaps.append(
            f"budget-and-environment: environment {environment!r} has no hourly budget{missing}: the stack's cost was compared "
            f"with none (set ai-clusters:hourlyBudgetUsd in the stack, or hourlyBudgetUsd in {where})"
        )
    if settings.get("allowedFamilies") is None:
        gaps.append(
            f"budget-and-environment: environment {environment!r} lists no allowed families{missing}: every accelerator family "
            f"was allowed (set allowedFamilies in {where})"
        )
    return gaps


def run_policy_pack(run, env, project) -> tuple[list[Verdict], str, list[str]]:
    """The plan's policy step: every registered custom resource through Analyze, then AnalyzeStack.

    Returns the verdicts, the pack's name@version, and what it could not check (no settings for the environment)."""
    resources = [r for r in run.registrations if r.custom]
    config = pack_config(project.root, env.spec.name, env.spec.hourly_budget_usd)
    with PolicyPackProcess(project.root / "policies") as pack:
        info = pack.info()
        pack.configure(config)
        verdicts = []
        for r in resources:
            # A resource policy's diagnostic is about the resource analyzed (the CLI knows which).
            verdicts.extend(verdict(d, default_urn=r.urn) for d in pack.analyze(r.urn, r.type, r.name, r.inputs, r.protect))
        stack = pack.analyze_stack((r.urn, r.type, r.name, r.inputs, r.protect, r.parent) for r in resources)
        verdicts.extend(verdict(d) for d in stack)
        name = f"{info.name}@{pack.pack_version()}"
    return verdicts, name, not_checked(project.root, env.spec.name, config)


__all__ = ["PolicyPackError", "PolicyPackProcess", "config_file", "not_checked", "pack_config", "run_policy_pack", "verdict"]
