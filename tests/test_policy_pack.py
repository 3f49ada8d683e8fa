"""The policy pack, driven as the Pulumi CLI drives it: a process that prints its port, then gRPC."""

import copy
from typing import Any

import pytest

from ai_clusters.tooling.plan.policy import PolicyPackProcess, verdict
from ai_clusters.core.catalog import catalog
from ai_clusters.core.enums import ProvisioningModel
from ai_clusters.rules import RULES

from .conftest import ROOT

INSTANCE = "gcp:compute/instance:Instance"
TEMPLATE = "gcp:compute/instanceTemplate:InstanceTemplate"
NETWORK = "gcp:compute/network:Network"
POLICY = "gcp:compute/resourcePolicy:ResourcePolicy"
NODE_POOL = "gcp:container/nodePool:NodePool"
TPU_VM = "gcp:tpu/v2Vm:V2Vm"
BUCKET = "gcp:storage/bucket:Bucket"
FILESTORE = "gcp:filestore/instance:Instance"
LUSTRE = "gcp:lustre/instance:Instance"
GKE = "gcp:container/cluster:Cluster"
SA = "train-nodes@p.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def pack():
    with PolicyPackProcess(ROOT / "policies") as p:
        p.configure({"budget-and-environment": {"environments": {"dev": {"hourlyBudgetUsd": 5, "allowedFamilies": ["g2", "n1-t4"]}}}})
        yield p


def labels(**over: Any) -> dict[str, str]:
    base = {"ai-workload": "inference", "ai-environment": "test", "ai-cluster": "c", "ai-accelerators": "1", "ai-nodes": "1"}
    base.update({k.replace("_", "-"): str(v) for k, v in over.items()})
    return base


def vm(machine: str = "g2-standard-8", **over: Any) -> dict:
    props = {
        "machineType": machine,
        "zone": "us-central1-a",
        "labels": labels(),
        "networkInterfaces": [{"network": "https://x/global/networks/host", "subnetwork": "s", "nicType": "GVNIC"}],
        "scheduling": {"onHostMaintenance": "TERMINATE", "provisioningModel": "STANDARD", "automaticRestart": True},
        "shieldedInstanceConfig": {"enableSecureBoot": True, "enableVtpm": True, "enableIntegrityMonitoring": True},
        "metadata": {"enable-oslogin": "TRUE"},
        "serviceAccount": {"email": SA, "scopes": ["https://www.googleapis.com/auth/cloud-platform"]},
    }
    props.update(over)
    return props


def analyze(pack, type_: str, props: dict, protect: bool = False, name: str = "r") -> list:
    return [verdict(d) for d in pack.analyze(f"urn:pulumi:test::p::{type_}::{name}", type_, name, props, protect)]


def stack(pack, resources: list[tuple[str, str, dict]]) -> list:
    return [verdict(d) for d in pack.analyze_stack((f"urn:pulumi:test::p::{t}::{n}", t, n, p, False, None) for t, n, p in resources)]


def by_policy(verdicts, name: str) -> list[str]:
    return [v.message for v in verdicts if v.policy == name]


def test_the_pack_describes_every_policy(pack):
    info = pack.info()
    assert info.name == "ai-clusters"
    policies = {p.name: p for p in info.policies}
    assert set(policies) == {r.name for r in RULES}
    for rule in RULES:
        p = policies[rule.name]
        assert p.description and p.remediation_steps
        assert p.enforcementLevel == (1 if rule.level == "mandatory" else 0)
    assert "environments" in policies["budget-and-environment"].configSchema.properties


def test_a_clean_g2_inference_vm_passes_every_resource_policy(pack):
    assert analyze(pack, INSTANCE, vm()) == []


def test_tier_fits_workload(pack):
    bad = analyze(pack, INSTANCE, vm("a3-ultragpu-8g", labels=labels(ai_workload="graphics", ai_accelerators=8)))
    (msg,) = by_policy(bad, "tier-fits-workload")
    assert "A3 Ultra (a3-ultragpu-8g) is not a tier Google Cloud recommends for graphics; fits: G4, G2, N1 + NVIDIA T4" in msg
    t4 = vm("n1-standard-8", guestAccelerators=[{"type": "nvidia-tesla-t4", "count": 1}], labels=labels(ai_workload="pretraining"))
    (msg,) = by_policy(analyze(pack, INSTANCE, t4), "tier-fits-workload")
    assert msg.startswith("N1 + NVIDIA T4 (n1-standard-8) is not a tier Google Cloud recommends for pretraining; fits: A4X Max, A4X, A4, A3 Ultra")
    assert [v for v in bad if v.policy == "tier-fits-workload"][0].level == "mandatory"


def test_hpc_gets_an_advisory_note(pack):
    (v,) = [v for v in analyze(pack, INSTANCE, vm(labels=labels(ai_workload="hpc"))) if v.policy == "hpc-tier-advisory"]
    assert v.level == "advisory" and "validate performance" in v.message


def test_scale_fits_tier(pack):
    bad = vm("a2-ultragpu-8g", labels=labels(ai_workload="pretraining", ai_accelerators=32, ai_nodes=4))
    (msg,) = by_policy(analyze(pack, INSTANCE, bad), "scale-fits-tier")
    assert "pretraining on 4 node(s) / 32 GPUs needs GPUDirect networking; A2 Ultra has none" in msg
    ok = vm("a2-ultragpu-8g", labels=labels(ai_workload="finetuning", ai_accelerators=8, ai_nodes=1))
    assert by_policy(analyze(pack, INSTANCE, ok), "scale-fits-tier") == []


def test_accelerator_waste_is_advisory(pack):
    (v,) = [v for v in analyze(pack, INSTANCE, vm("a3-highgpu-8g", labels=labels(ai_workload="finetuning", ai_accelerators=1))) if v.policy == "accelerator-waste"]
    assert v.level == "advisory" and "leaves 7 GPUs idle" in v.message


def test_latency_bound_serving(pack):
    spot = vm(labels=labels(ai_latency_ms=100), scheduling={"onHostMaintenance": "TERMINATE", "provisioningModel": "SPOT", "preemptible": True})
    (msg,) = by_policy(analyze(pack, INSTANCE, spot), "latency-bound-serving")
    assert "runs on spot capacity" in msg
    zero = {"nodeConfig": {"machineType": "g2-standard-8", "resourceLabels": labels(ai_latency_ms=100)}, "autoscaling": {"minNodeCount": 0, "maxNodeCount": 4}, "nodeLocations": ["us-central1-a"]}
    assert "scales to zero" in " ".join(by_policy(analyze(pack, NODE_POOL, zero), "latency-bound-serving"))
    assert by_policy(analyze(pack, INSTANCE, vm(labels=labels(ai_latency_ms=100))), "latency-bound-serving") == []


def test_gpu_host_maintenance(pack):
    (msg,) = by_policy(analyze(pack, INSTANCE, vm(scheduling={"onHostMaintenance": "MIGRATE"})), "gpu-host-maintenance")
    assert msg == "GPU VMs cannot live-migrate: scheduling.onHostMaintenance must be TERMINATE, not MIGRATE"
    (msg,) = by_policy(analyze(pack, TEMPLATE, vm(scheduling={})), "gpu-host-maintenance")
    assert "not MIGRATE (default)" in msg


def test_tpu_shape(pack):
    good = {
        "acceleratorType": "v5litepod-8", "runtimeVersion": "v2-alpha-tpuv5-lite", "zone": "us-central1-a", "labels": labels(ai_accelerators=8),
        "networkConfig": {"enableExternalIps": False}, "serviceAccount": {"email": SA, "scopes": ["https://www.googleapis.com/auth/cloud-platform"]},
        "shieldedInstanceConfig": {"enableSecureBoot": True}, "metadata": {"enable-oslogin": "TRUE"},
    }
    assert analyze(pack, TPU_VM, good) == []
    bad = dict(good, runtimeVersion="v2-alpha-tpuv6e")
    (msg,) = by_policy(analyze(pack, TPU_VM, bad), "tpu-shape")
    assert "runtime v2-alpha-tpuv6e is a runtime of TPU v6e (Trillium), not of TPU v5e" in msg
    pool = {"nodeConfig": {"machineType": "ct5lp-hightpu-4t", "resourceLabels": labels(ai_workload="pretraining", ai_accelerators=16)}, "placementPolicy": {"type": "COMPACT", "tpuTopology": "3x3"}, "nodeCount": 4}
    assert "topology 3x3 does not exist for TPU v5e" in " ".join(by_policy(analyze(pack, NODE_POOL, pool), "tpu-shape"))


def test_secure_accelerators(pack):
    exposed = vm(networkInterfaces=[{"network": "n", "subnetwork": "s", "nicType": "GVNIC", "accessConfigs": [{"natIp": ""}]}])
    default_sa = vm(serviceAccount={"email": "123-compute@developer.gserviceaccount.com", "scopes": ["https://www.googleapis.com/auth/cloud-platform"]})
    insecure = vm(shieldedInstanceConfig={"enableSecureBoot": False}, metadata={})
    assert "nic0 has an external IP" in " ".join(by_policy(analyze(pack, INSTANCE, exposed), "secure-accelerators"))
    assert "default compute service account with the cloud-platform scope" in " ".join(by_policy(analyze(pack, INSTANCE, default_sa), "secure-accelerators"))
    msgs = by_policy(analyze(pack, INSTANCE, insecure), "secure-accelerators")
    assert any("secure boot is off" in m for m in msgs) and any("OS Login is off" in m for m in msgs)
    assert by_policy(analyze(pack, GKE, {"privateClusterConfig": {"enablePrivateNodes": False}}), "secure-accelerators")
    assert not by_policy(analyze(pack, GKE, {"privateClusterConfig": {"enablePrivateNodes": True, "enablePrivateEndpoint": True}}), "secure-accelerators")


def test_secure_boot_off_is_accepted_only_where_the_node_compiles_kernel_modules_and_says_so(pack):
    off = {"enableSecureBoot": False, "enableVtpm": True, "enableIntegrityMonitoring": True}
    mega = dict(labels(ai_workload="pretraining", ai_accelerators=8), **{"ai-secure-boot": "off-dkms"})

    def secure(machine: str, lab: dict) -> str:
        return " ".join(by_policy(analyze(pack, INSTANCE, vm(machine, labels=lab, shieldedInstanceConfig=off)), "secure-accelerators"))

    assert "secure boot is off" not in secure("a3-megagpu-8g", mega), "A3 Mega: the TCPXO import helper is built with DKMS"
    assert "secure boot is off" not in secure("a3-highgpu-8g", mega), "A3 High: the Slurm image's NVIDIA driver is built with DKMS"
    assert "secure boot is off" in secure("a3-megagpu-8g", labels(ai_workload="pretraining", ai_accelerators=8)), "unlabelled"
    assert "secure boot is off" in secure("g2-standard-8", dict(labels(), **{"ai-secure-boot": "off-dkms"})), "G2 builds no module"
    assert "secure boot is off" in secure("a4-highgpu-8g", mega), "the gIB plugin is no kernel module"


def test_data_survives(pack):
    bucket = {"labels": labels(), "publicAccessPrevention": "enforced", "uniformBucketLevelAccess": True, "location": "US-CENTRAL1"}
    assert analyze(pack, BUCKET, bucket, protect=True) == []
    (msg,) = by_policy(analyze(pack, BUCKET, bucket, protect=False), "data-survives")
    assert "the bucket can be deleted by a config change" in msg
    public = dict(bucket, publicAccessPrevention="inherited")
    assert "public access prevention" in " ".join(by_policy(analyze(pack, BUCKET, public, protect=True), "data-survives"))
    assert analyze(pack, FILESTORE, {"labels": labels(), "deletionProtectionEnabled": True, "tier": "ZONAL"}) == []
    assert by_policy(analyze(pack, LUSTRE, {"labels": labels(), "capacityGib": "18000"}), "data-survives")


def test_workload_declared(pack):
    (msg,) = by_policy(analyze(pack, INSTANCE, vm(labels={"team": "x"})), "workload-declared")
    assert msg == "a resource with accelerators must carry the workload labels; missing or invalid: ai-workload, ai-environment, ai-cluster, ai-accelerators"
    wrong = vm(labels=labels(ai_workload="training", ai_accelerators="many"))
    (msg,) = by_policy(analyze(pack, INSTANCE, wrong), "workload-declared")
    assert "ai-workload (must be one of pretraining, finetuning, inference, graphics, hpc)" in msg and "ai-accelerators (must be a number)" in msg
    assert by_policy(analyze(pack, "gcp:compute/network:Network", {"name": "n"}), "workload-declared") == []


def gpudirect_stack(nics: int, mtu: int = 8244, placement: bool = True) -> list:
    gpu_nets = [(NETWORK, f"gpu-{i}", {"name": f"gpu-{i}", "mtu": mtu}) for i in range(8)]
    vm_props = vm(
        "a3-megagpu-8g",
        labels=labels(ai_workload="pretraining", ai_accelerators=16, ai_nodes=2),
        networkInterfaces=[{"network": "https://x/global/networks/host", "subnetwork": "s", "nicType": "GVNIC"}]
        + [{"network": f"https://x/global/networks/gpu-{i}", "subnetwork": f"s{i}", "nicType": "GVNIC"} for i in range(nics)],
    )
    if placement:
        vm_props["resourcePolicies"] = "https://x/regions/r/resourcePolicies/pp"
    return [(NETWORK, "host", {"name": "host", "mtu": 8244}), *gpu_nets, (POLICY, "pp", {"name": "pp", "groupPlacementPolicy": {"collocation": "COLLOCATED", "vmCount": 2}}), (INSTANCE, "node-0", vm_props)]


def test_networking_complete(pack):
    assert by_policy(stack(pack, gpudirect_stack(8)), "networking-complete") == []
    (msg,) = by_policy(stack(pack, gpudirect_stack(4)), "networking-complete")
    assert msg == "A3 Mega needs 8 NICs after the host one (8 GVNIC) for its full bandwidth; it has 4"
    wrong_mtu = by_policy(stack(pack, gpudirect_stack(8, mtu=1460)), "networking-complete")
    assert len(wrong_mtu) == 8 and "MTU 1460; A3 Mega needs 8244" in wrong_mtu[0]
    (msg,) = by_policy(stack(pack, gpudirect_stack(8, placement=False)), "networking-complete")
    assert "2 nodes of A3 Mega need a compact placement policy" in msg


def test_budget_and_allowed_families_per_environment(pack):
    dev = labels(ai_environment="dev")
    big = vm("a3-megagpu-8g", labels=dict(dev, **{"ai-workload": "pretraining", "ai-accelerators": "8"}))
    verdicts = by_policy(stack(pack, [(INSTANCE, "big", big)]), "budget-and-environment")
    assert any(m.startswith("dev may not create a3-mega (a3-megagpu-8g); allowed there: g2, n1-t4") for m in verdicts)
    assert by_policy(stack(pack, [(INSTANCE, "small", vm(labels=dev))]), "budget-and-environment") == []


def test_budget_overrun(pack):
    cat = catalog()
    dev = labels(ai_environment="dev")
    boot = {"initializeParams": {"size": 100, "type": "pd-balanced"}}
    many = [(INSTANCE, f"g{i}", vm("g2-standard-96", labels=dev, bootDisk=boot)) for i in range(3)]
    (msg,) = by_policy(stack(pack, many), "budget-and-environment")
    vm_usd, _ = cat.node_price(cat.shape("g2-standard-96"), "us-central1", ProvisioningModel.ON_DEMAND)
    disk_usd = 100 * cat.data.storage.disk("pd-balanced").prices["us-central1"] / 730
    assert msg == f"dev costs ${3 * (vm_usd + disk_usd):,.2f}/hour at list prices, over its budget of $5.00/hour"


def test_a_budget_verdict_over_an_unpriced_part_says_at_least(pack):
    dev = labels(ai_environment="dev")
    unpriced_boot = {"initializeParams": {"size": 100, "type": "hyperdisk-balanced"}}  # no list price in the catalog
    many = [(INSTANCE, f"g{i}", vm("g2-standard-96", labels=dev, bootDisk=unpriced_boot)) for i in range(3)]
    (msg,) = by_policy(stack(pack, many), "budget-and-environment")
    assert msg.startswith("dev costs at least $") and "(3 part(s) without a list price not counted)" in msg
    assert msg.endswith("over its budget of $5.00/hour")
