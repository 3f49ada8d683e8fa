"""The consumer examples: a Python stack run under mocks, a YAML program checked against the package
schema (and built through the provider's construct path), a TypeScript program's names checked too."""

import asyncio
import json
import re
import tomllib
from typing import Any

import yaml

from ai_clusters.tooling.plan.engine import find_project, run_program

from .conftest import ROOT, Registered, mocked
from .construct import construct

EXAMPLES = ROOT / "examples"
SNAPSHOT = ROOT / "tests" / "data" / "schema.json"
REFERENCE = re.compile(r"^\$\{([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_]+))?\}$")
CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
BUCKET = "gcp:storage/bucket:Bucket"


# ---- Python ------------------------------------------------------------------------------------------

def python_consumer() -> Registered:
    project = find_project(EXAMPLES / "python-consumer")
    assert project.root == EXAMPLES / "python-consumer"
    return Registered(run_program(project, "dev", {"gcp:project": "vision-prod", "gcp:region": "us-east4"}))


def test_the_python_consumer_puts_our_gke_cluster_into_its_own_vpc():
    reg = python_consumer()
    assert "ai-clusters:index:ClusterNetwork" not in reg.types(), "the consumer brings its own network"
    vpc, subnet = reg.one("gcp:compute/network:Network"), reg.one("gcp:compute/subnetwork:Subnetwork")
    assert vpc.parent is None and subnet.parent is None
    cluster = reg.one(CLUSTER, "vision")
    assert cluster.inputs["network"] == vpc.outputs["selfLink"]
    assert cluster.inputs["subnetwork"] == subnet.outputs["selfLink"]
    ranges = [r["rangeName"] for r in subnet.inputs["secondaryIpRanges"]]
    assert cluster.inputs["ipAllocationPolicy"] == {"clusterSecondaryRangeName": ranges[0], "servicesSecondaryRangeName": ranges[1]}
    assert cluster.inputs["location"] == "us-east4" and cluster.inputs["privateClusterConfig"]["enablePrivateNodes"] is True
    pool = reg.one(NODE_POOL, "vision-gpu")
    assert pool.parent == reg.one("ai-clusters:index:GkeCluster").urn
    assert pool.inputs["nodeConfig"]["machineType"] == "g2-standard-24"
    assert pool.inputs["autoscaling"] == {"totalMinNodeCount": 1, "totalMaxNodeCount": 2}
    assert pool.inputs["nodeConfig"]["resourceLabels"]["team"] == "vision"
    assert pool.inputs["nodeConfig"]["resourceLabels"]["ai-workload"] == "inference"
    assert pool.inputs["nodeLocations"] == ["us-east4-a"]


def test_the_python_consumer_gets_a_protected_bucket_its_workload_may_use():
    reg = python_consumer()
    bucket = reg.one(BUCKET)
    assert bucket.parent == reg.one("ai-clusters:index:ClusterStorage").urn
    assert bucket.inputs["location"] == "US-EAST4" and bucket.inputs["uniformBucketLevelAccess"] is True
    assert bucket.inputs["softDeletePolicy"] == {"retentionDurationSeconds": 7 * 86400}
    assert bucket.inputs["lifecycleRules"] == [{"condition": {"age": 30}, "action": {"type": "SetStorageClass", "storageClass": "NEARLINE"}}]
    assert bucket.inputs["labels"]["team"] == "vision" and bucket.inputs["labels"]["ai-environment"] == "staging"
    assert bucket.protect or bucket.retain_on_delete
    access = reg.one("gcp:storage/bucketIAMMember:BucketIAMMember")
    assert access.inputs["bucket"] == bucket.outputs["name"] and access.inputs["role"] == "roles/storage.objectUser"
    exports = reg.run.exports
    assert exports["bucket"] == bucket.outputs["name"]
    assert exports["endpoint"] in exports["kubeconfig"]


def test_the_python_consumer_requires_the_distribution_this_repository_builds():
    name = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
    requirements = (EXAMPLES / "python-consumer" / "requirements.txt").read_text().splitlines()
    assert any(line.split(">=")[0].strip() == name for line in requirements if not line.startswith("#"))


# ---- YAML --------------------------------------------------------------------------------------------

def yaml_program() -> dict:
    return yaml.safe_load((EXAMPLES / "yaml-consumer" / "Pulumi.yaml").read_text())


def schema() -> dict:
    return json.loads(SNAPSHOT.read_text())


def output_type(doc: dict, sch: dict, ref: str) -> dict:
    """The schema type of `${resource.output}` or `${config}` in the program."""
    match = REFERENCE.match(ref)
    assert match, f"{ref!r} is not a reference"
    name, prop = match.groups()
    if prop is None:
        assert name in doc.get("config", {}), f"{ref}: no such config"
        return {"type": doc["config"][name]["type"]}
    resource = doc["resources"][name]
    outputs = sch["resources"][resource["type"]]["properties"]
    assert prop in outputs, f"{ref}: {resource['type']} has no output {prop}"
    return outputs[prop]


def same_type(got: dict, wants: dict, sch: dict) -> bool:
    """Whether an output of type `got` fits an input of type `wants` (objects: by their fields)."""
    if "$ref" in got or "$ref" in wants:
        if got.get("$ref") == wants.get("$ref"):
            return True
        if "$ref" not in got or "$ref" not in wants:
            return False
        out, into = (sch["types"][t["$ref"].removeprefix("#/types/")] for t in (got, wants))
        fields = into.get("properties", {})
        return (
            "enum" not in out and "enum" not in into
            and set(into.get("required", [])) <= set(out.get("required", []))
            and all(k in fields and same_type(p, fields[k], sch) for k, p in out.get("properties", {}).items())
        )
    if got.get("type") != wants.get("type"):
        return False
    return got.get("type") != "array" or same_type(got["items"], wants["items"], sch)


def problems(value: Any, prop: dict, path: str, doc: dict, sch: dict) -> list[str]:
    """What is wrong with `value` as an input of schema type `prop`."""
    if isinstance(value, str) and value.startswith("${"):
        got = output_type(doc, sch, value)
        return [] if same_type(got, prop, sch) else [f"{path}: {value} is {got.get('type') or got.get('$ref')}, wants {prop.get('type') or prop.get('$ref')}"]
    if "$ref" in prop:
        typ = sch["types"][prop["$ref"].removeprefix("#/types/")]
        if "enum" in typ:
            allowed = [e["value"] for e in typ["enum"]]
            return [] if value in allowed else [f"{path}: {value!r} is not one of {allowed}"]
        return object_problems(value, typ.get("properties", {}), typ.get("required", []), path, doc, sch)
    kind = prop.get("type")
    if kind == "array":
        if not isinstance(value, list):
            return [f"{path}: wants a list"]
        return [p for i, v in enumerate(value) for p in problems(v, prop["items"], f"{path}[{i}]", doc, sch)]
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{path}: wants a map"]
        return [p for k, v in value.items() for p in problems(v, prop.get("additionalProperties", {"type": "string"}), f"{path}.{k}", doc, sch)]
    python = {"string": str, "integer": int, "number": (int, float), "boolean": bool}[kind]
    ok = isinstance(value, python) and not (kind in ("integer", "number") and isinstance(value, bool))
    return [] if ok else [f"{path}: {value!r} is not a {kind}"]


def object_problems(value: Any, properties: dict, required: list, path: str, doc: dict, sch: dict) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: wants an object"]
    found = [f"{path}.{k}: no such input" for k in value if k not in properties]
    found += [f"{path}.{k}: is required" for k in required if k not in value]
    return found + [p for k, v in value.items() if k in properties for p in problems(v, properties[k], f"{path}.{k}", doc, sch)]


def test_the_yaml_consumer_uses_the_package_as_pulumi_package_add_records_it():
    doc = yaml_program()
    assert doc["runtime"] == "yaml"
    assert (EXAMPLES / "yaml-consumer" / doc["packages"]["ai-clusters"]).resolve() == ROOT / "provider"
    types = {r["type"] for r in doc["resources"].values()}
    assert {"ai-clusters:index:ClusterNetwork", "ai-clusters:index:ClusterStorage", "ai-clusters:index:GkeCluster"} <= types
    assert types <= set(schema()["resources"])


def test_every_yaml_resource_property_fits_the_schema():
    doc, sch = yaml_program(), schema()
    found: list[str] = []
    for name, resource in doc["resources"].items():
        spec = sch["resources"][resource["type"]]
        found += object_problems(resource.get("properties", {}), spec["inputProperties"], spec.get("requiredInputs", []), name, doc, sch)
    for key, ref in doc["outputs"].items():
        output_type(doc, sch, ref)
    assert found == []


def test_the_schema_check_catches_what_a_yaml_author_gets_wrong():
    doc, sch = yaml_program(), schema()
    serving = doc["resources"]["serving"]
    bad = dict(serving["properties"], machine_type="g2-standard-24", workload={"kind": "training", "accelerators": "two"}, bucket="${network.gpuNetworks}")
    bad.pop("region")
    spec = sch["resources"][serving["type"]]
    found = object_problems(bad, spec["inputProperties"], spec["requiredInputs"], "serving", doc, sch)
    assert sorted(found) == sorted([
        "serving.machine_type: no such input",
        "serving.region: is required",
        "serving.workload.kind: 'training' is not one of ['pretraining', 'finetuning', 'inference', 'graphics', 'hpc']",
        "serving.workload.accelerators: 'two' is not a integer",
        "serving.bucket: ${network.gpuNetworks} is array, wants string",
    ])


def resolve(value: Any, built: dict[str, dict], config: dict[str, Any]) -> Any:
    """A YAML value with `${resource.output}` and `${config}` replaced by what they stand for."""
    if isinstance(value, str) and (match := REFERENCE.match(value)):
        name, prop = match.groups()
        return config[name] if prop is None else built[name][prop]
    if isinstance(value, dict):
        return {k: resolve(v, built, config) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, built, config) for v in value]
    return value


def test_the_yaml_consumer_builds_through_the_provider_under_mocks():
    """Each resource of the YAML program, in order, through the provider's construct path; references
    become the outputs (under schema names) of the resources built before."""
    doc = yaml_program()
    config = {k: v.get("default") for k, v in doc["config"].items() if "default" in v}
    built: dict[str, dict] = {}
    tasks: list = []

    def program():
        async def go():
            for name, resource in doc["resources"].items():
                component = resource["type"].rsplit(":", 1)[-1]
                built[name] = await construct(component, name, resolve(resource["properties"], built, config))

        tasks.append(asyncio.ensure_future(go()))

    reg = mocked(program, {"gcp:region": "us-central1"})
    tasks[0].result()
    assert reg.one(CLUSTER, "serving").inputs["network"] == reg.one("gcp:compute/network:Network", "network-host").outputs["selfLink"]
    assert reg.one(NODE_POOL, "serving-gpu").inputs["nodeConfig"]["machineType"] == "g2-standard-24"
    vm = reg.one("gcp:compute/instanceTemplate:InstanceTemplate")
    assert vm.inputs["scheduling"]["provisioningModel"] == "SPOT"
    bucket = reg.one(BUCKET).outputs["name"]
    assert f"/gcs/{bucket}" in vm.inputs["metadata"]["startup-script"], "the VMs mount the storage's bucket (storage.mounts)"
    assert reg.one(BUCKET).inputs["labels"]["team"] == "ml-platform"


# ---- TypeScript --------------------------------------------------------------------------------------

def test_the_typescript_consumer_uses_names_the_schema_has():
    folder = EXAMPLES / "typescript-consumer"
    source = (folder / "index.ts").read_text()
    assert json.loads((folder / "package.json").read_text())["dependencies"]["@pulumi/ai-clusters"] == "file:sdks/ai-clusters"
    project = yaml.safe_load((folder / "Pulumi.yaml").read_text())
    assert project["runtime"]["name"] == "nodejs" and (folder / project["packages"]["ai-clusters"]).resolve() == ROOT / "provider"
    resources = schema()["resources"]
    built = dict(re.findall(r"const (\w+) = new aiClusters\.(\w+)\(", source))
    assert set(built.values()) == {"ClusterStorage", "GkeCluster"}
    for variable, component in built.items():
        spec = resources[f"ai-clusters:index:{component}"]
        block = source[source.index(f"new aiClusters.{component}(") :]
        block = block[: re.search(r"^\}", block, re.M).start()]
        keys = set(re.findall(r"^ {4}(\w+)\s*[:,]", block, re.M))
        assert keys <= set(spec["inputProperties"]), f"{component}: {keys - set(spec['inputProperties'])}"
        assert set(spec["requiredInputs"]) <= keys, f"{component} lacks {set(spec['requiredInputs']) - keys}"
        used = set(re.findall(rf"\b{variable}\.(\w+)", source))
        assert used and used <= set(spec["properties"]), f"{component}: no outputs {used - set(spec['properties'])}"
