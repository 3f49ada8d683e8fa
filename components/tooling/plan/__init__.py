"""The offline plan: the stack's program under mocks, its cost and its policy verdicts.

`make_plan(stack)` returns a `Plan`; `ai-clusters plan` renders it as text, markdown, JSON or
SARIF. Exit codes: 0 fine, 1 a mandatory policy failed, 2 bad input.
"""

import math
import pickletools
from base64 import b64decode
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import pulumi

from ai_clusters.core.cost import StackCost, stack_cost
from ai_clusters.core.spec import ResolvedEnvironment, load_environment
from ai_clusters.tooling.plan.engine import PlanInputError, Project, ProgramRun, find_project, read_stack_config, run_program
from ai_clusters.tooling.plan.mocks import Registration

__all__ = ["Plan", "PlanInputError", "Verdict", "make_plan", "find_project"]


@dataclass(frozen=True)
class Verdict:
    """One policy violation."""

    policy: str
    level: str  # advisory | mandatory
    message: str
    urn: Optional[str] = None


@dataclass
class Plan:
    stack: str
    project: str
    environment: ResolvedEnvironment
    run: ProgramRun
    cost: StackCost
    policy: list[Verdict] = field(default_factory=list)
    policy_pack: Optional[str] = None
    policy_not_checked: list[str] = field(default_factory=list)
    """What the policy pack could not check for this stack (no settings for its environment), one line each."""

    @property
    def resources(self) -> list[Registration]:
        return self.run.registrations

    @property
    def budget_hourly_usd(self) -> Optional[float]:
        return self.environment.spec.hourly_budget_usd

    @property
    def mandatory_failures(self) -> list[Verdict]:
        return [v for v in self.policy if v.level == "mandatory"]

    @property
    def exit_code(self) -> int:
        return 1 if self.mandatory_failures else 0

    def to_json(self) -> dict[str, Any]:
        """The plan for scripts, in the documented shape."""
        return {
            "stack": self.stack,
            "project": self.project,
            "resources": [
                {
                    "urn": r.urn,
                    "type": r.type,
                    "name": r.name,
                    "parent": r.parent,
                    "inputs": json_safe(shown_inputs(r.inputs)),
                    "protect": r.protect,
                    "retainOnDelete": r.retain_on_delete,
                    "ignoreChanges": r.ignore_changes,
                }
                for r in self.resources
            ],
            "cost": {
                "hourly_usd": round(self.cost.hourly_usd, 4),
                "monthly_usd": round(self.cost.monthly_usd, 2),
                "complete": self.cost.complete,
                "budget_hourly_usd": self.budget_hourly_usd,
                "by_cluster": {
                    name: {
                        "hourly_usd": round(c.hourly_usd, 4),
                        "monthly_usd": round(c.monthly_usd, 2),
                        "complete": c.complete,
                        "compute_hourly_usd": round(c.compute_hourly_usd, 4),
                        "storage_hourly_usd": round(c.storage_hourly_usd, 4),
                        "hours_per_month": c.hours_per_month,
                        "unpriced": c.unpriced,
                        "billed_by_use": c.billed_by_use,
                    }
                    for name, c in sorted(self.cost.by_cluster.items())
                },
                "unpriced": [{"urn": u.urn, "cluster": u.cluster, "reason": u.reason} for u in self.cost.unpriced],
                "billed_by_use": [{"urn": u.urn, "cluster": u.cluster, "reason": u.reason} for u in self.cost.billed_by_use],
            },
            "policy": [{"policy": v.policy, "level": v.level, "message": v.message, "urn": v.urn} for v in self.policy],
            "warnings": list(self.run.warnings),
            "policy_not_checked": list(self.policy_not_checked),
        }


def json_safe(value: Any) -> Any:
    """Inputs as plain JSON (unknowns become null, non-finite numbers strings)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [json_safe(v) for v in value]
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return int(value) if value.is_integer() else value
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, (pulumi.Asset, pulumi.Archive)):
        return asset_wire_form(value)
    return str(value)


def asset_wire_form(value: Any) -> dict[str, Any]:
    """An asset or archive as the engine receives it (Pulumi's signature key, and its uri, path, text or assets),
    not where the object lives in memory."""
    from pulumi.runtime import rpc

    asset = isinstance(value, pulumi.Asset)
    out: dict[str, Any] = {rpc._special_sig_key: rpc._special_asset_sig if asset else rpc._special_archive_sig}
    for key in ("uri", "path", "text", "assets"):
        found = getattr(value, key, None)
        if found is not None:
            out[key] = json_safe(found)
    return out


DYNAMIC_PROVIDER_KEY = "__provider"


def shown_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """Inputs as the plan shows them: a dynamic resource's pickled provider (`__provider`) as the class it names."""
    if not isinstance(inputs.get(DYNAMIC_PROVIDER_KEY), str):
        return inputs
    return {**inputs, DYNAMIC_PROVIDER_KEY: f"{dynamic_provider_class(inputs[DYNAMIC_PROVIDER_KEY])} (pickled by pulumi.dynamic)"}


def dynamic_provider_class(serialized: str) -> str:
    """`module.Class` of a provider pickled by reference, read from the pickle's opcodes (nothing is unpickled)."""
    try:
        strings: list[str] = []
        for op, arg, _ in pickletools.genops(b64decode(serialized)):
            if isinstance(arg, str):
                strings.append(arg)
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                return f"{strings[-2]}.{strings[-1]}"
            elif op.name == "GLOBAL" and isinstance(arg, str):
                return arg.replace(" ", ".")
    except Exception:  # noqa: BLE001 - not a pickle we can read: say so rather than fail the plan
        pass
    return "an inline provider"


PolicyRunner = Callable[[ProgramRun, ResolvedEnvironment, Project], tuple[list[Verdict], Optional[str], list[str]]]
"""Runs the policy pack over a mocked run: (verdicts, pack name@version, what it could not check)."""


def make_plan(
    stack: str,
    project_dir: Optional[Path] = None,
    *,
    policy_runner: Optional[PolicyRunner] = None,
) -> Plan:
    """Plan a stack. Raises PlanInputError or SpecError on bad input (exit code 2)."""
    project = find_project(project_dir)
    config = read_stack_config(project, stack)
    env = load_environment(config)
    run = run_program(project, stack, config)
    hours = {cl.name: cl.spec.workload.hours_per_month for cl in env.clusters}
    cost = stack_cost(((r.urn, r.type, r.inputs) for r in run.registrations if r.custom), env.spec.region, hours)
    plan = Plan(stack=stack, project=env.spec.project, environment=env, run=run, cost=cost)
    if policy_runner is not None:
        plan.policy, plan.policy_pack, plan.policy_not_checked = policy_runner(run, env, project)
    return plan

