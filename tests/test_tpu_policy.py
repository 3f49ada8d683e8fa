"""The policy pack on TPU resources, driven as the Pulumi CLI drives it, and the TPU example stacks planned."""

import json
from typing import Any

import pytest

from ai_clusters.core.accelerators import accelerator_uses
from ai_clusters.core.cost import resource_cost
from ai_clusters.core.enums import ProvisioningModel
from ai_clusters.tooling.plan import make_plan
from ai_clusters.tooling.plan.render import summary
from ai_clusters.tooling.plan.policy import PolicyPackProcess, run_policy_pack, verdict

from .conftest import ROOT
from .test_tpu import QUEUED, TPU_VM, build

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
def training_vm(serving_vm) -> dict:
    """A V2Vm with an AcceleratorConfig (v5p 2x2x4) and spot scheduling, as a hand-written V2Vm may carry them."""
    node = {k: v for k, v in serving_vm.items() if k != "acceleratorType"}
    return {**node, "zone": "us-east5-a", "acceleratorConfig": {"type": "V5P", "topology": "2x2x4"}, "runtimeVersion": "v2-alpha-tpuv5", "schedulingConfig": {"spot": True}}


@pytest.fixture(scope="module")
def training_qr() -> dict:
    """ai-clusters' queued resource exactly as TpuVmCluster registers it (v5p 2x2x4 given as generation + topology, spot)."""
    reg, _ = build({"generation": "v5p", "topology": "2x2x4"}, provisioning={"model": "spot"}, zone="us-east5-a", region="us-east5")
    return reg.one(QUEUED).inputs


@pytest.fixture(scope="module")
def flex_multislice_qr() -> dict:
    """The same for 2 x v6e-256 on flex-start (a v2alpha1 request)."""
    reg, _ = build(
        {"type": "v6e-256", "slices": 2}, accelerators=512, region="us-east5", zone="us-east5-a", provisioning={"model": "flex-start"}
    )
    return reg.one(QUEUED).inputs


def qr_node(props: dict, **over: Any) -> dict:
    """A copy of a queued resource with its node changed."""
    out = json.loads(json.dumps(props))
    out["queuedResource"]["tpu"]["nodeSpec"][0]["node"].update(over)
    return out


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

def test_the_components_tpu_vm_and_queued_resources_pass_every_resource_policy(pack, serving_vm, training_qr, flex_multislice_qr):
    assert analyze(pack, TPU_VM, serving_vm) == []
    assert analyze(pack, QUEUED, training_qr) == []
    assert analyze(pack, QUEUED, flex_multislice_qr) == []


def test_a_queued_resource_is_read_from_the_api_request_it_carries(training_qr, flex_multislice_qr):
    (train,) = accelerator_uses(QUEUED, training_qr)
    assert (train.tpu_generation.id, train.tpu_topology, train.chips, train.nodes) == ("v5p", "2x2x4", 16, 4)
    assert train.provisioning == ProvisioningModel.SPOT and train.zone == "us-east5-a" and train.runtime_version == "v2-alpha-tpuv5"
    assert train.labels["ai-workload"] == "pretraining"
    (flex,) = accelerator_uses(QUEUED, flex_multislice_qr)
    assert (flex.tpu_type, flex.chips, flex.nodes, flex.provisioning) == ("v6e-256", 512, 128, ProvisioningModel.FLEX_START)
    reserved = json.loads(json.dumps(training_qr))
    del reserved["queuedResource"]["spot"]
    reserved["queuedResource"]["reservationName"] = "projects/p/locations/us-east5-a/reservations/r"
    assert accelerator_uses(QUEUED, reserved)[0].provisioning == ProvisioningModel.RESERVATION


def test_the_policy_pack_flags_a_queued_resource_whose_runtime_does_not_fit_its_generation(pack, training_qr):
    verdicts = analyze(pack, QUEUED, qr_node(training_qr, runtimeVersion="v2-alpha-tpuv6e"))
    (msg,) = by_policy(verdicts, "tpu-shape")
    assert msg.startswith("runtime v2-alpha-tpuv6e is a runtime of TPU v6e (Trillium), not of TPU v5p")
    assert [v.level for v in verdicts if v.policy == "tpu-shape"] == ["mandatory"]


def test_secure_accelerators_on_queued_resource_nodes(pack, training_qr):
    def secure(props):
        return " ".join(by_policy(analyze(pack, QUEUED, props), "secure-accelerators"))

    node = training_qr["queuedResource"]["tpu"]["nodeSpec"][0]["node"]
    assert "the queued resource's TPU nodes has external IPs" in secure(qr_node(training_qr, networkConfig={**node["networkConfig"], "enableExternalIps": True}))
    assert "secure boot is off" in secure(qr_node(training_qr, shieldedInstanceConfig={}))
    assert "OS Login is off" in secure(qr_node(training_qr, metadata={"startup-script": "#!/bin/bash"}))
    assert "names no service account" in secure(qr_node(training_qr, serviceAccount={}))


def test_tier_rules_read_a_queued_resources_labels_and_tier(pack, training_qr):
    node = training_qr["queuedResource"]["tpu"]["nodeSpec"][0]["node"]
    serving_on_spot = qr_node(training_qr, labels={**node["labels"], "ai-workload": "inference", "ai-latency-ms": "100"})
    assert "runs on spot capacity" in " ".join(by_policy(analyze(pack, QUEUED, serving_on_spot), "latency-bound-serving"))
    unlabelled = qr_node(training_qr, labels={})
    assert by_policy(analyze(pack, QUEUED, unlabelled), "workload-declared")


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


def test_the_cost_of_a_slice_is_its_chips_at_the_tier_price(serving_vm, training_vm, training_qr, flex_multislice_qr):
    assert resource_cost("u", TPU_VM, serving_vm, "us-central1").compute_usd == pytest.approx(8 * 1.2)
    assert resource_cost("u", TPU_VM, training_vm, "us-east5").compute_usd == pytest.approx(16 * 1.68), "v5p spot in us-east5"
    cost = resource_cost("u", QUEUED, training_qr, "us-east5")
    assert cost.compute_usd == pytest.approx(16 * 1.68) and cost.cluster == "tpu"
    flex = resource_cost("u", QUEUED, flex_multislice_qr, "us-east5")
    assert flex.compute_usd == pytest.approx(512 * 2.7), "every chip of both slices; no flex-start TPU price listed: on-demand"


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
    "tpu-serve": (TPU_VM, {"v5e-serve": ("v5litepod-8", None, None)}),
    "tpu-train": (QUEUED, {"v5p-train": (None, {"type": "V5P", "topology": "2x2x4"}, {"spot": {}})}),
    "tpu-multislice": (QUEUED, {"mslice": ("v6e-16", None, {})}),
    "tpu-v5p-spot-queued": (QUEUED, {"v5p-spot": ("v5p-128", None, {"spot": {}, "queueingPolicy": {"validUntilDuration": "86400s"}})}),
    "tpu-v6e-multislice-flex": (
        QUEUED,
        {"v6e-flex": ("v6e-256", None, {"provisioningModel": "FLEX_START", "runDuration": {"maxRunDuration": "259200s"}, "queueingPolicy": {"validUntilDuration": "21600s"}})},
    ),
}


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_the_tpu_example_stacks_plan_without_a_mandatory_violation(stack):
    plan = make_plan(stack, ROOT, policy_runner=run_policy_pack)
    assert plan.mandatory_failures == [], plan.mandatory_failures
    kind, expected = STACKS[stack]
    found = {r.name: r.inputs for r in plan.resources if r.type in (TPU_VM, QUEUED)}
    assert set(found) == set(expected) and all(r.type == kind for r in plan.resources if r.type in (TPU_VM, QUEUED))
    for name, (acc_type, config, tier) in expected.items():
        x = found[name]
        node = x["queuedResource"]["tpu"]["nodeSpec"][0]["node"] if kind == QUEUED else x
        assert node.get("acceleratorType") == acc_type
        assert node.get("acceleratorConfig") == config
        assert node["networkConfig"]["enableExternalIps"] is False
        if tier is not None:
            assert {k: v for k, v in x["queuedResource"].items() if k != "tpu"} == tier
    assert not [r for r in plan.resources if r.type == TPU_QUEUED]
    shown = next(r for r in plan.to_json()["resources"] if r["type"] == kind)
    if kind == QUEUED:
        assert shown["inputs"]["__provider"] == "ai_clusters.tpu.queued_resource.QueuedResourceProvider (pickled by pulumi.dynamic)"
        line = summary(next(r for r in plan.resources if r.type == QUEUED))
        (use,) = accelerator_uses(QUEUED, found[next(iter(found))])
        assert f"zone={use.zone}" in line and f"{use.provisioning.value} api=" in line
        if stack == "tpu-v6e-multislice-flex":
            assert "tpu=v6e-256 slices=2 runtimeVersion=v2-alpha-tpuv6e flex-start api=v2alpha1" in line
    assert plan.to_json()["cost"]["hourly_usd"] > 0
