"""The policy pack on TPU resources, driven as the Pulumi CLI drives it, and the TPU example stacks planned."""

from typing import Any

import pytest

from ai_clusters.core.accelerators import accelerator_uses
from ai_clusters.core.cost import resource_cost
from ai_clusters.core.enums import ProvisioningModel
from ai_clusters.tooling.plan import make_plan
from ai_clusters.tooling.plan.policy import PolicyPackProcess, run_policy_pack, verdict

from .conftest import ROOT
from .test_tpu import TPU_VM, build

TPU_QUEUED = "gcp:tpu/v2QueuedResource:V2QueuedResource"


@pytest.fixture(scope="module")
def pack():
    with PolicyPackProcess(ROOT / "policies") as p:
        p.configure({})
        yield p


@pytest.fixture(scope="module")
def serving_vm() -> dict:
    """A V2Vm exactly as TpuVmCluster registers it (v5e single-host serving)."""
    reg, _ = build({"type": "v5litepod-8"}, kind="inference", accelerators=8)
    return reg.one(TPU_VM).inputs


@pytest.fixture(scope="module")
def training_vm() -> dict:
    """A V2Vm with an AcceleratorConfig, as TpuVmCluster registers generation + topology (v5p 2x2x4, spot)."""
    reg, _ = build({"generation": "v5p", "topology": "2x2x4"}, provisioning={"model": "spot"}, zone="us-east5-a", region="us-east5")
    return reg.one(TPU_VM).inputs


def analyze(pack, type_: str, props: dict, name: str = "r") -> list:
    return [verdict(d) for d in pack.analyze(f"urn:pulumi:test::p::{type_}::{name}", type_, name, props, False)]


def by_policy(verdicts, name: str) -> list[str]:
    return [v.message for v in verdicts if v.policy == name]


def with_(props: dict, **over: Any) -> dict:
    out = dict(props)
    out.update(over)
    return out


def queued(**node_over: Any) -> dict:
    """A queued resource as pulumi-gcp 10.2.0 can write it: no labels, service account or tier."""
    node = {"acceleratorType": "v5litepod-16", "runtimeVersion": "v2-alpha-tpuv5-lite", "networkConfig": {"enableExternalIps": False}}
    node.update(node_over)
    return {"name": "qr", "zone": "us-central1-a", "tpu": {"nodeSpecs": [{"parent": "projects/p/locations/us-central1-a", "nodeId": "n", "node": node}]}}


# ---- what the rules read from the component's own resources ---------------------------------------

def test_the_component_v2vms_pass_every_resource_policy(pack, serving_vm, training_vm):
    assert analyze(pack, TPU_VM, serving_vm) == []
    assert analyze(pack, TPU_VM, training_vm) == []


def test_accelerator_type_and_accelerator_config_read_the_same_slice(serving_vm, training_vm):
    (serve,) = accelerator_uses(TPU_VM, serving_vm)
    assert (serve.tpu_generation.id, serve.tpu_type, serve.tpu_topology, serve.chips, serve.nodes) == ("v5e", "v5litepod-8", "2x4", 8, 1)
    assert serve.runtime_version == "v2-alpha-tpuv5-lite" and serve.provisioning == ProvisioningModel.ON_DEMAND
    assert serve.zone == "us-central1-a" and serve.region == "us-central1"
    (train,) = accelerator_uses(TPU_VM, training_vm)
    assert (train.tpu_generation.id, train.tpu_type, train.tpu_topology, train.chips, train.nodes) == ("v5p", None, "2x2x4", 16, 4)
    assert train.provisioning == ProvisioningModel.SPOT and train.zone == "us-east5-a"
    reserved = accelerator_uses(TPU_VM, with_(training_vm, schedulingConfig={"reserved": True}))[0]
    assert reserved.provisioning == ProvisioningModel.RESERVATION


def test_a_queued_resource_is_read_as_pulumi_gcp_writes_it():
    (use,) = accelerator_uses(TPU_QUEUED, queued())
    assert (use.tpu_generation.id, use.chips, use.nodes, use.zone) == ("v5e", 16, 4, "us-central1-a")
    assert use.provisioning == ProvisioningModel.ON_DEMAND, "pulumi-gcp 10.2.0 carries no tier"
    two = queued()
    two["tpu"]["nodeSpecs"].append({**two["tpu"]["nodeSpecs"][0], "nodeId": "m"})
    assert [u.chips for u in accelerator_uses(TPU_QUEUED, two)] == [16, 16], "every node spec counts"


def test_the_cost_of_a_slice_is_its_chips_at_the_tier_price(serving_vm, training_vm):
    assert resource_cost("u", TPU_VM, serving_vm, "us-central1").compute_usd == pytest.approx(8 * 1.2)
    assert resource_cost("u", TPU_VM, training_vm, "us-east5").compute_usd == pytest.approx(16 * 1.68), "v5p spot in us-east5"


# ---- the rules on TPU resources ----------------------------------------------------------------------

def test_tpu_shape_checks_config_topology_and_runtime(pack, training_vm):
    bad_topology = with_(training_vm, acceleratorConfig={"type": "V5P", "topology": "3x3x3"})
    assert "topology 3x3x3 does not exist for TPU v5p" in " ".join(by_policy(analyze(pack, TPU_VM, bad_topology), "tpu-shape"))
    other_runtime = with_(training_vm, runtimeVersion="v2-alpha-tpuv5-lite")
    (msg,) = by_policy(analyze(pack, TPU_VM, other_runtime), "tpu-shape")
    assert msg.startswith("runtime v2-alpha-tpuv5-lite is a runtime of TPU v5e, not of TPU v5p")
    unknown = with_(training_vm, acceleratorConfig={"type": "V9", "topology": "2x2"})
    assert "is not in the catalog" in " ".join(by_policy(analyze(pack, TPU_VM, unknown), "tpu-shape"))


def test_secure_accelerators_on_tpu_vms(pack, serving_vm):
    def secure(props):
        return " ".join(by_policy(analyze(pack, TPU_VM, props), "secure-accelerators"))

    no_account = {k: v for k, v in serving_vm.items() if k != "serviceAccount"}
    assert "names no service account, so it runs as the default compute service account with access to all Cloud APIs" in secure(no_account)
    exposed = with_(serving_vm, networkConfig={**serving_vm["networkConfig"], "enableExternalIps": True})
    assert "the TPU VM has external IPs" in secure(exposed)
    assert "secure boot is off" in secure(with_(serving_vm, shieldedInstanceConfig={"enableSecureBoot": False}))
    assert "OS Login is off" in secure(with_(serving_vm, metadata={"startup-script": "#!/bin/bash"}))
    default = with_(serving_vm, serviceAccount={"email": "123-compute@developer.gserviceaccount.com", "scopes": []})
    assert "default compute service account with the cloud-platform scope" in secure(default)


def test_a_hand_written_queued_resource_is_flagged_for_its_gaps(pack):
    verdicts = analyze(pack, TPU_QUEUED, queued())
    assert "queued resource's TPU nodes names no service account" in " ".join(by_policy(verdicts, "secure-accelerators"))
    (declared,) = by_policy(verdicts, "workload-declared")
    assert "missing or invalid: ai-workload, ai-environment, ai-cluster, ai-accelerators" in declared
    assert all(v.level == "mandatory" for v in verdicts if v.policy in ("secure-accelerators", "workload-declared"))


def test_workload_declared_and_tier_rules_read_the_v2vm_labels(pack, serving_vm):
    unlabelled = {k: v for k, v in serving_vm.items() if k != "labels"}
    assert by_policy(analyze(pack, TPU_VM, unlabelled), "workload-declared")
    graphics = with_(serving_vm, labels={**serving_vm["labels"], "ai-workload": "graphics"})
    assert "is not a tier Google Cloud recommends for graphics" in " ".join(by_policy(analyze(pack, TPU_VM, graphics), "tier-fits-workload"))
    serving_on_spot = with_(serving_vm, labels={**serving_vm["labels"], "ai-latency-ms": "100"}, schedulingConfig={"spot": True})
    assert "runs on spot capacity" in " ".join(by_policy(analyze(pack, TPU_VM, serving_on_spot), "latency-bound-serving"))


# ---- the example stacks ------------------------------------------------------------------------------

STACKS = {
    "tpu-serve": {"v5e-serve": ("v5litepod-8", None)},
    "tpu-train": {"v5p-train": (None, {"type": "V5P", "topology": "2x2x4"})},
    "tpu-multislice": {"mslice-0": ("v6e-16", None), "mslice-1": ("v6e-16", None)},
}


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_the_tpu_example_stacks_plan_without_a_mandatory_violation(stack):
    plan = make_plan(stack, ROOT, policy_runner=run_policy_pack)
    assert plan.mandatory_failures == [], plan.mandatory_failures
    vms = {r.name: r.inputs for r in plan.resources if r.type == TPU_VM}
    assert set(vms) == set(STACKS[stack])
    for name, (acc_type, config) in STACKS[stack].items():
        assert vms[name].get("acceleratorType") == acc_type
        assert vms[name].get("acceleratorConfig") == config
        assert vms[name]["networkConfig"]["enableExternalIps"] is False
    assert not [r for r in plan.resources if r.type == TPU_QUEUED]
    assert plan.to_json()["cost"]["hourly_usd"] > 0
