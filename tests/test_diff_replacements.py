"""The replacement table: every type the program creates is covered, every path is a real input, and the
provider's rules give the answers the provider would."""

import importlib
import inspect
import json
import re
from pathlib import Path

import pytest

from ai_clusters.tooling.diff.replacements import OWN_SOURCE, ReplacementTable, table, values_at

from .conftest import ROOT

PLANS = ROOT / "tests" / "data" / "plans"


def planned_types() -> set[str]:
    types = set()
    for path in PLANS.glob("*.json"):
        for r in json.loads(path.read_text())["resources"]:
            if not r["type"].startswith(("ai-clusters:index:", "pulumi:providers:")):
                types.add(r["type"])
    return types


def test_every_resource_type_of_the_reference_stacks_has_rules_with_a_source():
    rules = table()
    missing = sorted(t for t in planned_types() if rules.rules_for(t) is None)
    assert not missing, f"add these types to tooling/diff/data/replacements.yaml: {missing}"
    for name, r in rules.types.items():
        if r.source == OWN_SOURCE:
            continue  # our own dynamic providers: the rules are their `diff`, tested below
        assert r.source in rules.sources and rules.sources[r.source]["url"].startswith("https://"), name
        assert r.replace, f"{name} lists its ForceNew inputs"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@pytest.mark.parametrize("resource_type", sorted(t for t in table().types if t.startswith("gcp:")))
def test_every_gcp_rule_path_names_inputs_of_the_pulumi_gcp_sdk(resource_type):
    """Each segment is a property of the resource or of pulumi-gcp's input types of its module."""
    module_path, cls_name = resource_type.split(":")[1].split("/")[0], resource_type.split(":")[2]
    module = importlib.import_module(f"pulumi_gcp.{module_path}")
    cls = getattr(module, cls_name)
    top = set(inspect.signature(cls._internal_init).parameters)
    inputs = Path(module.__file__).parent / "_inputs.py"
    sources = Path(inspect.getsourcefile(cls)).read_text() + (inputs.read_text() if inputs.is_file() else "")
    rules = table().types[resource_type]
    for path in (*rules.replace, *rules.unset_keeps, *(c.path for c in rules.conditional), *rules.stop):
        segments = [s.removesuffix("[*]") for s in path.removesuffix("#").split(".")]
        assert _snake(segments[0]) in top, f"{resource_type}: {segments[0]} is not an input ({path})"
        for seg in segments[1:]:
            assert f"def {_snake(seg)}(self)" in sources, f"{resource_type}: {seg} of {path} is no input type's property"


def test_values_at_expands_lists_and_counts_blocks():
    inputs = {"networkInterfaces": [{"nicType": "GVNIC"}, {"nicType": "RDMA"}], "bootDisk": {"initializeParams": {"image": "x"}}}
    assert values_at(inputs, "networkInterfaces[*].nicType") == {"networkInterfaces[0].nicType": "GVNIC", "networkInterfaces[1].nicType": "RDMA"}
    assert values_at(inputs, "networkInterfaces#") == {"networkInterfaces#": 2}
    assert values_at(inputs, "bootDisk#") == {"bootDisk#": 1}
    assert values_at(inputs, "scheduling#") == {"scheduling#": 0}


INSTANCE = "gcp:compute/instance:Instance"
VM = {
    "zone": "us-central1-a",
    "machineType": "g2-standard-8",
    "bootDisk": {"initializeParams": {"image": "ubuntu", "size": 200}},
    "networkInterfaces": [{"network": "host", "subnetwork": "host", "nicType": "GVNIC"}],
    "metadata": {"enable-oslogin": "TRUE"},
    "metadataStartupScript": "#!/bin/bash\necho one\n",
    "allowStoppingForUpdate": True,
}


def judge(resource_type, old, **changes):
    new = json.loads(json.dumps(old))
    for path, value in changes.items():
        target = new
        *parents, last = path.split("__")
        for p in parents:
            target = target[int(p)] if p.isdigit() else target.setdefault(p, {})
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    return table().judge(resource_type, old, new)


def test_an_instance_is_replaced_for_a_new_zone_image_or_nic_type_and_resized_stopped_for_a_machine_type():
    assert judge(INSTANCE, VM, zone="us-central1-b").because == ["zone"]
    assert judge(INSTANCE, VM, bootDisk__initializeParams__image="cos").because == ["bootDisk.initializeParams.image"]
    assert judge(INSTANCE, VM, networkInterfaces__0__nicType="VIRTIO_NET").replace is True
    resized = judge(INSTANCE, VM, machineType="g2-standard-12")
    assert (resized.replace, resized.stops) == (False, ["machineType"])
    grown = judge(INSTANCE, VM, bootDisk__initializeParams__size=300)
    assert (grown.replace, grown.stops) == (False, []), "the boot disk is resized in place"
    moved = judge(INSTANCE, VM, networkInterfaces__0__network="other")
    assert (moved.replace, moved.stops) == (False, ["networkInterfaces[*].network"])


def test_adding_a_gpu_or_a_nic_replaces_an_instance():
    assert judge(INSTANCE, VM, guestAccelerators=[{"type": "nvidia-l4", "count": 1}]).because == ["guestAccelerators#", "guestAccelerators[*].count", "guestAccelerators[*].type"]
    two = judge(INSTANCE, VM, networkInterfaces=VM["networkInterfaces"] * 2)
    assert "networkInterfaces#" in two.because


def test_removing_an_optional_computed_input_keeps_the_value():
    assert judge(INSTANCE, VM, zone=None).replace is False


def test_a_changed_startup_script_replaces_the_vm_unless_it_moves_to_metadata():
    assert judge(INSTANCE, VM, metadataStartupScript="#!/bin/bash\necho two\n").because == ["metadataStartupScript"]
    moved = dict(VM, metadata={**VM["metadata"], "startup-script": VM["metadataStartupScript"]})
    assert table().judge(INSTANCE, VM, {k: v for k, v in moved.items() if k != "metadataStartupScript"}).replace is False


def test_node_pool_machine_type_is_in_place_but_its_gpus_are_not():
    pool = {"nodeConfig": {"machineType": "g2-standard-8", "guestAccelerators": [{"type": "nvidia-l4", "count": 1}]}, "autoscaling": {"totalMaxNodeCount": 4}}
    pool_type = "gcp:container/nodePool:NodePool"
    assert judge(pool_type, pool, nodeConfig__machineType="g2-standard-12").replace is False
    assert judge(pool_type, pool, autoscaling__totalMaxNodeCount=8).replace is False
    assert judge(pool_type, pool, nodeConfig__guestAccelerators=[{"type": "nvidia-l4", "count": 2}]).because == ["nodeConfig.guestAccelerators[*].count"]


def test_a_tpu_vm_is_replaced_for_another_accelerator_type():
    vm = {"zone": "us-central1-a", "acceleratorType": "v5litepod-8", "runtimeVersion": "v2-alpha-tpuv5-lite", "labels": {"a": "1"}}
    assert judge("gcp:tpu/v2Vm:V2Vm", vm, acceleratorType="v5litepod-4").because == ["acceleratorType"]
    assert judge("gcp:tpu/v2Vm:V2Vm", vm, labels={"a": "2"}).replace is False


def test_a_disk_is_replaced_when_it_shrinks_and_a_subnetwork_when_its_range_narrows():
    disk = {"zone": "europe-west4-a", "type": "hyperdisk-ml", "size": 100}
    assert judge("gcp:compute/disk:Disk", disk, size=200).replace is False
    assert judge("gcp:compute/disk:Disk", disk, size=50).because == ["size"]
    subnet = {"network": "host", "region": "us-central1", "ipCidrRange": "10.0.0.0/20"}
    assert judge("gcp:compute/subnetwork:Subnetwork", subnet, ipCidrRange="10.0.0.0/16").replace is False
    assert judge("gcp:compute/subnetwork:Subnetwork", subnet, ipCidrRange="10.0.0.0/24").because == ["ipCidrRange"]
    assert judge("gcp:compute/subnetwork:Subnetwork", subnet, ipCidrRange="10.1.0.0/20").replace is True


def test_a_bucket_is_replaced_for_another_location_not_for_its_lifecycle():
    bucket = {"location": "US-CENTRAL1", "softDeletePolicy": {"retentionDurationSeconds": 604800}}
    assert judge("gcp:storage/bucket:Bucket", bucket, location="EUROPE-WEST4").because == ["location"]
    assert judge("gcp:storage/bucket:Bucket", bucket, softDeletePolicy={"retentionDurationSeconds": 0}).replace is False


def test_kubernetes_objects_follow_pulumi_kubernetes():
    net = {"metadata": {"name": "gpu-0"}, "spec": {"type": "Device"}}
    assert judge("kubernetes:networking.gke.io/v1:Network", net, metadata={"name": "gpu-1"}).because == ["metadata.name"]
    assert judge("kubernetes:networking.gke.io/v1:Network", net, spec={"type": "L3"}).replace is False
    pvc = {"metadata": {"name": "models"}, "spec": {"storageClassName": "hyperdisk-ml", "resources": {"requests": {"storage": "100Gi"}}}}
    assert judge("kubernetes:core/v1:PersistentVolumeClaim", pvc, spec={**pvc["spec"], "storageClassName": "x"}).replace is True


def test_a_type_without_rules_is_unknown():
    verdict = table().judge("gcp:alloydb/cluster:Cluster", {"a": 1}, {"a": 2})
    assert verdict.replace is None and "no replacement rules" in verdict.notes[0]


def test_a_table_citing_an_unknown_source_or_test_is_refused():
    with pytest.raises(ValueError, match="not under sources"):
        ReplacementTable({"sources": {}, "types": {"x:y:Z": {"source": "nowhere", "replace": "a"}}})
    with pytest.raises(ValueError, match="unknown tests"):
        ReplacementTable({"sources": {"s": {}}, "types": {"x:y:Z": {"source": "s", "replace": "a", "conditional": [{"path": "a", "when": "sometimes", "note": ""}]}}})


def test_the_queued_resource_rules_are_what_its_provider_diffs():
    """A TPU queued resource is our dynamic provider: the diff replaces it exactly when the provider's `diff` does."""
    from ai_clusters.core.accelerators import TPU_QUEUED_DYNAMIC
    from ai_clusters.tpu.queued_resource import QueuedResourceProvider

    old = {"project": "p", "zone": "us-east5-a", "queuedResourceId": "q", "apiVersion": "v2", "queuedResource": {"tpu": {"nodeSpec": [{"node": {"acceleratorType": "v5p-128"}}]}}, "createTimeoutMinutes": 30, "state": "ACTIVE"}
    cases = {
        "accelerator": {**old, "queuedResource": {"tpu": {"nodeSpec": [{"node": {"acceleratorType": "v5p-256"}}]}}},
        "timeout": {**old, "createTimeoutMinutes": 60},
        "zone": {**old, "zone": "us-east5-b"},
    }
    for what, new in cases.items():
        provider = QueuedResourceProvider().diff("id", old, new)
        judged = table().judge(TPU_QUEUED_DYNAMIC, old, new)
        assert judged.replace == bool(provider.replaces), what
    assert table().judge(TPU_QUEUED_DYNAMIC, old, cases["timeout"]).replace is False
