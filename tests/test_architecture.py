"""The architecture holds: layers import what they may, paths resolve once in the core, options have one source.

Read with `ast`, so a rule broken by a lazy import inside a function is caught too.
"""

import ast
import json
import shutil
import typing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ai_clusters.blocks.args import GpuClusterArgs
from ai_clusters.blocks.network import ClusterNetworkArgs
from ai_clusters.core.enums import ClusterPath
from ai_clusters.core.spec import ClusterSpec, NetworkSpec, SpecError, load_environment, registered_paths
from ai_clusters.tooling.args_codegen import PACKAGE_DIR, _Module, generate
from ai_clusters.tooling.cli import app

from .conftest import ROOT

PATHS = ("compute_engine", "gke", "slurm", "vertex", "tpu")
LAYERS = ("core", "blocks", "rules", "tooling", *PATHS)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports (absolute names; relative imports resolved), with its line."""
    tree = ast.parse(path.read_text())
    package = ".".join(("ai_clusters", *path.relative_to(PACKAGE_DIR).parent.parts))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{a.name}") for a in node.names]  # `from ai_clusters import gke`
    return found


def _files(layer: str) -> list[Path]:
    return sorted((PACKAGE_DIR / layer).rglob("*.py"))


def _layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "ai_clusters" else ""


def _violations(files: list[Path], allowed) -> list[str]:
    out = []
    for f in files:
        for line, module in _imports(f):
            why = allowed(module)
            if why:
                out.append(f"{f.relative_to(PACKAGE_DIR.parent)}:{line} imports {module}: {why}")
    return out


def test_the_package_is_one_folder_per_layer_and_per_path():
    folders = {p.name for p in PACKAGE_DIR.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert folders == set(LAYERS)
    loose = sorted(p.name for p in PACKAGE_DIR.glob("*.py"))
    assert loose == ["__init__.py", "program.py"], "only the public API and the program sit at the top"


def test_the_pure_core_imports_no_pulumi_and_nothing_outside_the_core():
    def allowed(module: str) -> str:
        if module.split(".")[0] in ("pulumi", "pulumi_gcp", "pulumi_kubernetes", "pulumi_policy"):
            return "the core is pure"
        if module.startswith("ai_clusters.") and _layer_of(module) not in ("core", "__version__"):
            return "the core imports only the core"
        return ""

    assert _violations(_files("core"), allowed) == []


def test_no_path_imports_another_path_the_rules_or_the_tooling():
    problems = []
    for path in PATHS:

        def allowed(module: str, path: str = path) -> str:
            layer = _layer_of(module)
            if layer in PATHS and layer != path:
                return "a path never imports another path"
            if layer in ("rules", "tooling", "program"):
                return f"a path does not import {layer}"
            return ""

        problems += _violations(_files(path), allowed)
    assert problems == []


def test_the_shared_blocks_and_the_rules_stay_in_their_layers():
    def blocks(module: str) -> str:  # noqa: D401
        return "shared blocks import the core only" if _layer_of(module) in (*PATHS, "rules", "tooling", "program") else ""

    def rules(module: str) -> str:
        if module.split(".")[0].startswith("pulumi"):
            return "the rules are pure"
        return "the rules import only the core" if module.startswith("ai_clusters.") and _layer_of(module) not in ("core", "rules") else ""

    assert _violations(_files("blocks"), blocks) == []
    assert _violations(_files("rules"), rules) == []


@pytest.mark.parametrize("path", PATHS)
def test_a_paths_options_and_plan_are_pure(path):
    pure = [f for f in _files(path) if f.name in ("options.py", "plan.py", "args.py")]
    assert {f.name for f in pure} >= {"plan.py"}

    def allowed(module: str) -> str:
        return "options and plan steps are pure" if module.split(".")[0].startswith("pulumi") else ""

    assert _violations(pure, allowed) == []


def test_only_the_program_reads_stack_configuration():
    readers = ("get_stack", "get_project", "Config", "runtime.config", "config.project", "config.region")
    found = []
    for layer in ("core", "blocks", "rules", *PATHS):
        for f in _files(layer):
            for node in ast.walk(ast.parse(f.read_text())):
                if isinstance(node, ast.Attribute):
                    text = ast.unparse(node)
                    if any(text.endswith(r) for r in readers) and text.split(".")[0] in ("pulumi", "gcp", "runtime_config"):
                        found.append(f"{f.relative_to(PACKAGE_DIR.parent)}:{node.lineno} {text}")
    assert found == []


def test_every_path_registers_its_options_and_plan_step_with_the_core():
    paths = registered_paths()
    assert set(paths) == set(ClusterPath)
    for definition in paths.values():
        module, _, function = definition.component.partition(":")
        assert module.startswith(f"ai_clusters.{definition.path.value.replace('-', '_')}.")
        assert function == "from_resolved"
        if definition.options_key:
            assert definition.options_key in ClusterSpec.model_fields, "the stack names the path's options block"


# ---- one source for every option ---------------------------------------------------------------------

def test_the_generated_component_args_are_what_the_option_models_generate():
    stale = [str(p.relative_to(PACKAGE_DIR.parent)) for p, text in generate().items() if not p.is_file() or p.read_text() != text]
    assert stale == [], "the option models changed: run `make args` and commit the generated files"


def test_a_changed_option_description_makes_the_generated_args_stale(monkeypatch):
    from ai_clusters.gke.options import GkeOptions

    before = generate()
    monkeypatch.setattr(GkeOptions.model_fields["regional"], "description", "Something else.")
    after = generate()
    changed = [p.name for p in before if before[p] != after[p]]
    assert changed == ["args.py"] and 'regional: NotRequired[bool]\n    """Something else."""' in after[PACKAGE_DIR / "gke" / "args.py"]


def _mirrors(args_type: type, model: type, renames: dict[str, str]) -> list[str]:
    """Keys an args TypedDict shares with a model: the same type and description in both."""
    from ai_clusters.tooling.args_codegen import Target

    module = _Module(Target("x", "x", ()), defined={})
    hints = _annotations(args_type)
    docs = _typed_dict_docs(args_type)
    out = []
    for key, hint in hints.items():
        field_name = renames.get(key, key)
        if field_name not in model.model_fields:
            continue
        info = model.model_fields[field_name]
        spec_type = module.annotation(info.annotation, key)
        arg_type = _plain(hint)
        if spec_type.replace("Spec", "Args") != arg_type and not arg_type.endswith(spec_type.replace("Spec", "Args")):
            out.append(f"{args_type.__name__}.{key}: {arg_type} but {model.__name__}.{field_name}: {spec_type}")
        if docs.get(key) != info.description:
            out.append(f"{args_type.__name__}.{key}: {docs.get(key)!r} but {model.__name__}.{field_name}: {info.description!r}")
        if (key in args_type.__required_keys__) != info.is_required():
            out.append(f"{args_type.__name__}.{key}: required differs from {model.__name__}.{field_name}")
    return out


def _annotations(td: type) -> dict:
    """A TypedDict's annotations over its bases, unevaluated (pulumi.Input holds forward references)."""
    out: dict = {}
    for cls in reversed(td.__mro__):
        out.update(cls.__dict__.get("__annotations__", {}))
    return out


def _plain(hint) -> str:
    origin, params = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        return _plain(next(p for p in params if p is not type(None)))
    name = getattr(origin, "__name__", "") if origin else getattr(hint, "__name__", str(hint))
    if name in ("NotRequired", "Required"):
        return _plain(params[0])
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(_plain(p) for p in params)}]"
    return name


def _typed_dict_docs(td: type) -> dict[str, str]:
    """The docstrings under a TypedDict's keys, its TypedDict bases' included (read from source)."""
    import inspect
    import sys

    module = sys.modules[td.__module__]
    cls = next(n for n in ast.parse(inspect.getsource(module)).body if isinstance(n, ast.ClassDef) and n.name == td.__name__)
    docs: dict[str, str] = {}
    for base in cls.bases:
        found = getattr(module, getattr(base, "id", ""), None)
        if found is not None and typing.is_typeddict(found):
            docs.update(_typed_dict_docs(found))
    body = cls.body
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
            docs[node.target.id] = nxt.value.value
    return docs


def test_the_cluster_args_every_component_takes_mirror_the_cluster_spec():
    assert _mirrors(GpuClusterArgs, ClusterSpec, {}) == []
    shared = [k for k in _annotations(GpuClusterArgs) if k in ClusterSpec.model_fields]
    assert set(shared) >= {"workload", "machine_type", "gpu", "gpus_per_node", "zone", "nodes", "provisioning", "framework", "labels"}


def test_the_network_args_mirror_the_stacks_network_block():
    assert _mirrors(ClusterNetworkArgs, NetworkSpec, {}) == []
    shared = [k for k in _annotations(ClusterNetworkArgs) if k in NetworkSpec.model_fields]
    assert len(shared) == len(NetworkSpec.model_fields)


# ---- resolve once, with the path's own checks ------------------------------------------------------------

GKE_COLD_SERVING = """\
config:
  gcp:project: acme-ml-serving
  gcp:region: us-central1
  ai-clusters:environment: gke-serve
  ai-clusters:zones: [us-central1-a]
  ai-clusters:clusters:
    - name: ok-train
      path: compute-engine
      workload: {kind: finetuning, accelerators: 1}
      machineType: g2-standard-8
    - name: l4-serve
      path: gke
      workload: {kind: inference, accelerators: 4, latencyMs: 150}
      machineType: g2-standard-8
      gke:
        autoscaling: {minNodes: 0}
"""
MESSAGE = "clusters[1].gke.autoscaling.minNodes: a 150 ms latency target needs at least one warm node"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copy(ROOT / "__main__.py", tmp_path / "__main__.py")
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.cold.yaml").write_text(GKE_COLD_SERVING)
    return tmp_path


def test_a_paths_own_check_fails_in_load_environment_with_its_key_path(project):
    import yaml

    from ai_clusters.tooling.plan.engine import find_project, read_stack_config

    config = read_stack_config(find_project(project), "cold")
    assert yaml.safe_load(GKE_COLD_SERVING)  # the document itself is fine
    with pytest.raises(SpecError) as err:
        load_environment(config)
    assert MESSAGE in str(err.value)


@pytest.mark.parametrize("command", [["plan"], ["preflight"]])
def test_plan_and_preflight_refuse_it_before_anything_runs(project, command, monkeypatch):
    for api in ("COMPUTE", "TPU", "QUOTAS"):  # nothing may leave loopback, and nothing is asked anyway
        monkeypatch.setenv(f"AI_CLUSTERS_{api}_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("AI_CLUSTERS_ANONYMOUS_CREDENTIALS", "1")
    result = CliRunner().invoke(app, [*command, "--stack", "cold", "--project-dir", str(project)])
    output = " ".join(result.output.split())
    assert result.exit_code == 2, output
    assert MESSAGE in output and "GkeCluster 'l4-serve'" not in output
    assert "Traceback" not in output


def test_a_resolved_cluster_carries_its_paths_plan_so_nothing_resolves_twice(monkeypatch):
    """The program builds from the plan load_environment made: the plan step runs once per cluster."""
    from ai_clusters.core.spec import paths as registry
    from ai_clusters.program import build
    from ai_clusters.tooling.plan.engine import find_project, read_stack_config, run_mocked

    calls: dict[str, int] = {}
    originals = registry.registered_paths()
    for path, definition in originals.items():
        counted = definition.plan

        def plan(resolved, add, counted=counted):
            calls[resolved.name] = calls.get(resolved.name, 0) + 1
            return counted(resolved, add)

        monkeypatch.setitem(originals, path, type(definition)(**{**definition.__dict__, "plan": plan}))
    env = load_environment(read_stack_config(find_project(ROOT), "prod"))
    run_mocked(lambda: build(env, "prod"), config={"gcp:project": env.spec.project, "gcp:region": env.spec.region})
    assert calls and set(calls.values()) == {1}, calls
    assert json.dumps(sorted(calls)) == json.dumps(sorted(c.name for c in env.clusters))


def test_generated_args_define_each_class_once():
    """A model reached both as a listed item and as a field's type is written once (a second class would shadow the first)."""
    import re

    from ai_clusters.tooling.args_codegen import generate

    for path, text in generate().items():
        names = re.findall(r"^class (\w+)\(", text, flags=re.M)
        assert len(names) == len(set(names)), f"{path}: {sorted(n for n in names if names.count(n) > 1)}"
