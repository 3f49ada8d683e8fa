"""The component package's schema, read as the Pulumi CLI reads it: start provider/, call GetSchema over gRPC."""

import inspect
import json

import pytest
from pulumi.provider.experimental.util import camel_case
from typer.testing import CliRunner

from ai_clusters import __version__
from ai_clusters.tooling.cli import app
from ai_clusters.tooling.provider import COMPONENTS, PACKAGE
from ai_clusters.tooling.schema import REFRESH_COMMAND, ProviderProcess, schema_text

from .conftest import ROOT

SNAPSHOT = ROOT / "tests" / "data" / "schema.json"
PUBLIC = ["ClusterNetwork", "ClusterStorage", "GpuVmCluster", "GkeCluster", "SlurmCluster", "TpuVmCluster", "VertexTraining", "VertexServing"]


@pytest.fixture(scope="module")
def served():
    with ProviderProcess(ROOT / "provider") as provider:
        yield provider.schema(), provider.plugin_version()


@pytest.fixture(scope="module")
def schema(served):
    return served[0]


def token(name: str) -> str:
    return f"{PACKAGE}:index:{name}"


def args_type(component) -> type:
    return inspect.get_annotations(component.__init__)["args"]


def refs(node):
    """Every `$ref` anywhere under `node`."""
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def test_the_provider_serves_every_public_component_under_its_token(served):
    schema, version = served
    assert schema["name"] == "ai-clusters" and schema["version"] == __version__ == version
    assert sorted(schema["resources"]) == sorted(token(n) for n in PUBLIC)
    assert [c.__name__ for c in COMPONENTS] == PUBLIC
    assert all(r["isComponent"] for r in schema["resources"].values())


def test_every_reference_resolves_to_a_type_of_the_package(schema):
    for ref in refs(schema):
        assert ref.startswith("#/types/ai-clusters:index:"), ref
        assert ref.removeprefix("#/types/") in schema["types"], ref


def test_every_component_and_input_is_described(schema):
    for tok, resource in schema["resources"].items():
        assert resource.get("description"), tok
        for key, prop in {**resource["inputProperties"], **resource["properties"]}.items():
            assert prop.get("description"), f"{tok}.{key}"
    for tok, typ in schema["types"].items():
        assert typ.get("description"), tok
        for key, prop in (typ.get("properties") or {}).items():
            assert prop.get("description"), f"{tok}.{key}"


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.__name__)
def test_required_inputs_are_exactly_the_args_without_defaults(schema, component):
    args = args_type(component)
    resource = schema["resources"][token(component.__name__)]
    assert set(resource["inputProperties"]) == {camel_case(k) for k in args.__required_keys__ | args.__optional_keys__}
    assert sorted(resource["requiredInputs"]) == sorted(camel_case(k) for k in args.__required_keys__)


def test_nested_args_types_require_what_their_typeddict_requires(schema):
    from ai_clusters.blocks.args import MountArgs, NetworkAttachmentArgs, NicArgs, WorkloadArgs

    for args in (WorkloadArgs, NetworkAttachmentArgs, NicArgs, MountArgs):
        typ = schema["types"][token(args.__name__)]
        assert sorted(typ.get("required", [])) == sorted(camel_case(k) for k in args.__required_keys__), args.__name__


def test_outputs_are_typed_and_the_kubeconfig_is_a_secret(schema):
    res = {name: schema["resources"][token(name)]["properties"] for name in PUBLIC}
    for name, outputs in res.items():
        for key, prop in outputs.items():
            assert "type" in prop or "$ref" in prop, f"{name}.{key} has no type"
    assert res["GkeCluster"]["kubeconfig"] == {**res["GkeCluster"]["kubeconfig"], "type": "string", "secret": True}
    assert [k for n, o in res.items() for k, p in o.items() if p.get("secret")] == ["kubeconfig"]
    assert res["GkeCluster"]["endpoint"]["type"] == "string"
    assert res["GkeCluster"]["podNetworks"]["items"]["type"] == "string"  # the NICs' network names, in order
    assert res["ClusterNetwork"]["hostNetwork"]["type"] == "string"
    assert res["ClusterNetwork"]["attachments"]["items"]["$ref"] == f"#/types/{token('NetworkAttachment')}"
    assert res["ClusterStorage"]["mounts"]["items"]["$ref"] == f"#/types/{token('Mount')}"
    assert schema["types"][token("Mount")]["properties"]["mountPoint"]["type"] == "string"
    for name in ("GpuVmCluster", "SlurmCluster", "TpuVmCluster"):
        assert res[name]["mountPoints"] == {**res[name]["mountPoints"], "type": "array", "items": res[name]["mountPoints"]["items"]}
        assert res[name]["mountPoints"]["items"]["type"] == "string"
    assert res["GpuVmCluster"]["nodeCount"]["type"] == "integer"
    assert res["SlurmCluster"]["nodeSets"]["items"]["$ref"] == f"#/types/{token('NodeSetInfo')}"


def test_enums_carry_their_values(schema):
    kinds = schema["types"][token("WorkloadKind")]
    assert kinds["type"] == "string"
    assert {e["value"] for e in kinds["enum"]} == {"pretraining", "finetuning", "inference", "graphics", "hpc"}


def test_the_schema_matches_its_checked_in_snapshot(schema):
    assert SNAPSHOT.is_file(), f"no schema snapshot; write it with: {REFRESH_COMMAND}"
    snapshot = json.loads(SNAPSHOT.read_text())
    assert schema == snapshot, f"the package schema changed; review the change and refresh the snapshot with: {REFRESH_COMMAND}"
    assert SNAPSHOT.read_text() == schema_text(schema), f"the snapshot is not in its canonical form; refresh it with: {REFRESH_COMMAND}"


def test_the_refresh_command_writes_the_served_schema_in_snapshot_form(schema, tmp_path):
    out = tmp_path / "schema.json"
    result = CliRunner().invoke(app, ["schema", "--output", str(out), "--project-dir", str(ROOT)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == schema_text(schema)
    assert REFRESH_COMMAND == "ai-clusters schema --output tests/data/schema.json"


def test_the_refresh_command_says_when_there_is_no_provider(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: other\nruntime: python\n")
    result = CliRunner().invoke(app, ["schema", "--project-dir", str(tmp_path)])
    assert result.exit_code == 3
    assert f"no component provider at {tmp_path / 'provider'}" in result.output.replace("\n", "")
