"""The GKE example stacks through the offline plan and the policy pack process, and the rules on GKE node pools.

The rules are fed the inputs GkeCluster really registers (from a mocked run), then the same inputs
with one thing broken, through the pack as the Pulumi CLI drives it.
"""

import copy

import pytest

from ai_clusters.core.accelerators import NODE_POOL, accelerator_uses
from ai_clusters.core.enums import ProvisioningModel
from ai_clusters.tooling.plan import make_plan
from ai_clusters.tooling.plan.policy import PolicyPackProcess, run_policy_pack, verdict

from .conftest import ROOT
from .test_gke import CLUSTER, NETWORK, accelerator_pools, gpu_cluster, tpu_cluster

STACKS = ["gke-l4-serve", "gke-a3mega-train", "gke-tpu-v6e"]


@pytest.fixture(scope="module")
def pack():
    with PolicyPackProcess(ROOT / "policies") as p:
        p.configure({})
        yield p


def stack_verdicts(pack, registrations) -> list:
    resources = [(r.urn, r.type, r.name, r.inputs, r.protect, r.parent) for r in registrations if r.custom]
    found = []
    for urn, type_, name, props, protect, _ in resources:
        found.extend(verdict(d) for d in pack.analyze(urn, type_, name, props, protect))
    found.extend(verdict(d) for d in pack.analyze_stack(resources))
    return found


def messages(verdicts, policy: str) -> list[str]:
    return [v.message for v in verdicts if v.policy == policy]


@pytest.mark.parametrize("stack", STACKS)
def test_the_example_stacks_plan_without_a_mandatory_violation(stack):
    plan = make_plan(stack, ROOT, policy_runner=run_policy_pack)
    assert plan.mandatory_failures == [], [v.message for v in plan.mandatory_failures]
    assert plan.exit_code == 0
    types = {r.type for r in plan.resources}
    assert {CLUSTER, NODE_POOL, "pulumi:providers:kubernetes"} <= types
    cluster = next(r for r in plan.resources if r.type == CLUSTER).inputs
    assert cluster["privateClusterConfig"]["enablePrivateNodes"] is True
    assert plan.to_json()["resources"], "the JSON form renders"


def test_the_a3_mega_stack_requests_its_gpu_networks_and_queues_for_capacity():
    plan = make_plan("gke-a3mega-train", ROOT)
    pool = next(r for r in plan.resources if r.type == NODE_POOL and r.name.endswith("-gpu")).inputs
    assert pool["queuedProvisioning"] == {"enabled": True}
    assert len(pool["networkConfig"]["additionalNodeNetworkConfigs"]) == 8
    assert {n["network"] for n in pool["networkConfig"]["additionalNodeNetworkConfigs"]} == {f"gke-train-gpu-{i}" for i in range(8)}
    claims = {r.inputs["metadata"]["name"] for r in plan.resources if r.type == "kubernetes:core/v1:PersistentVolumeClaim"}
    assert claims == {"data", "lustre"}
    lustre = next(r for r in plan.resources if r.type == "kubernetes:core/v1:PersistentVolume" and r.name.endswith("-lustre")).inputs["spec"]["csi"]
    assert lustre["volumeHandle"] == "acme-ml-train/us-central1-a/mega-train-storage-lustre"
    assert lustre["volumeAttributes"]["filesystem"] == "lustrefs" and lustre["volumeAttributes"]["ip"].startswith("10.")


def test_accelerator_uses_read_gke_node_pools_as_written():
    reg, _ = gpu_cluster("a3-mega", "a3-megagpu-8g", "us-central1-a", nodes=4, provisioning={"model": "flex-start"})
    (use,) = accelerator_uses(NODE_POOL, accelerator_pools(reg)[0].inputs)
    assert (use.kind, use.family.id, use.gpus_per_node, use.nodes, use.min_nodes) == ("gpu", "a3-mega", 8, 4, 0)
    assert use.provisioning == ProvisioningModel.FLEX_START and use.zone == "us-central1-a" and use.region == "us-central1"
    reg, _ = gpu_cluster("a3-ultra", "a3-ultragpu-8g", "us-central1-b", nodes=2, provisioning={"model": "reservation", "reservation": "r"})
    (use,) = accelerator_uses(NODE_POOL, accelerator_pools(reg)[0].inputs)
    assert use.provisioning == ProvisioningModel.RESERVATION and use.nodes == use.min_nodes == 2
    reg, _ = tpu_cluster({"generation": "v6e", "topology": "4x4", "slices": 2}, "us-central1-b", provisioning={"model": "spot"}, accelerators=32)
    for pool in accelerator_pools(reg):
        (use,) = accelerator_uses(NODE_POOL, pool.inputs)
        assert (use.kind, use.tpu_generation.id, use.tpu_type, use.tpu_topology, use.chips, use.nodes) == ("tpu", "v6e", "v6e-16", "4x4", 16, 4)
        assert use.provisioning == ProvisioningModel.SPOT


def test_networking_complete_checks_node_networks_placement_and_queueing(pack):
    reg, _ = gpu_cluster("a3-ultra", "a3-ultragpu-8g", "us-central1-b", nodes=2, provisioning={"model": "reservation", "reservation": "r"})
    assert messages(stack_verdicts(pack, reg.all), "networking-complete") == []
    pool = accelerator_pools(reg)[0]

    def broken(change) -> list[str]:
        regs = copy.deepcopy(reg.all)
        target = next(r for r in regs if r.urn == pool.urn)
        change(target.inputs, regs)
        return messages(stack_verdicts(pack, regs), "networking-complete")

    dropped = broken(lambda x, _: x["networkConfig"]["additionalNodeNetworkConfigs"].pop())
    assert dropped == ["A3 Ultra needs 9 node networks after the host one (1 GVNIC, 8 MRDMA) for its full bandwidth; it has 8"]
    unplaced = broken(lambda x, _: x.pop("placementPolicy"))
    assert unplaced == ["2 nodes of A3 Ultra need placementPolicy.type COMPACT"]

    def no_profile(_, regs):
        roce = next(r for r in regs if r.type == NETWORK and r.inputs["name"] == "env-roce-b")
        roce.inputs.pop("networkProfile")

    assert len(broken(no_profile)) == 8 and "lacks the zone's RoCE network profile" in broken(no_profile)[0]

    queued, _ = gpu_cluster("a3-mega", "a3-megagpu-8g", "us-central1-a", nodes=4, provisioning={"model": "flex-start"})
    assert messages(stack_verdicts(pack, queued.all), "networking-complete") == [], "queued provisioning needs no compact placement"


def test_tpu_shape_checks_the_topology_of_gke_tpu_pools(pack):
    reg, _ = tpu_cluster({"type": "v5litepod-16"}, "us-central1-a")
    pool = accelerator_pools(reg)[0]
    assert messages(stack_verdicts(pack, reg.all), "tpu-shape") == []
    wrong = copy.deepcopy(pool.inputs)
    wrong["placementPolicy"]["tpuTopology"] = "4x8"
    (msg,) = messages([verdict(d) for d in pack.analyze(pool.urn, NODE_POOL, pool.name, wrong)], "tpu-shape")
    assert msg == "a 4x8 slice needs a multiple of 8 ct5lp-hightpu-4t nodes, not 4"


def test_secure_accelerators_on_gke_clusters_and_node_pools(pack):
    reg, _ = gpu_cluster("g2", "g2-standard-8", "us-central1-a", nodes=1, kind="inference")
    assert messages(stack_verdicts(pack, reg.all), "secure-accelerators") == []
    cluster = reg.one(CLUSTER)
    open_endpoint = copy.deepcopy(cluster.inputs)
    open_endpoint["privateClusterConfig"]["enablePrivateEndpoint"] = False
    (msg,) = messages([verdict(d) for d in pack.analyze(cluster.urn, CLUSTER, cluster.name, open_endpoint)], "secure-accelerators")
    assert msg.startswith("the control plane's public endpoint is open to every address")
    open_endpoint["masterAuthorizedNetworksConfig"] = {"cidrBlocks": [{"cidrBlock": "203.0.113.0/24"}]}
    assert messages([verdict(d) for d in pack.analyze(cluster.urn, CLUSTER, cluster.name, open_endpoint)], "secure-accelerators") == []
    pool = accelerator_pools(reg)[0]
    public = copy.deepcopy(pool.inputs)
    public["networkConfig"]["enablePrivateNodes"] = False
    public["nodeConfig"]["workloadMetadataConfig"]["mode"] = "GCE_METADATA"
    found = messages([verdict(d) for d in pack.analyze(pool.urn, NODE_POOL, pool.name, public)], "secure-accelerators")
    assert any("turns private nodes off" in m for m in found) and any("GCE_METADATA" in m for m in found)


def test_latency_bound_serving_sees_the_warm_node():
    reg, _ = gpu_cluster("g2", "g2-standard-8", "us-central1-a", nodes=4, kind="inference", workload={"latency_ms": 100})
    (use,) = accelerator_uses(NODE_POOL, accelerator_pools(reg)[0].inputs)
    assert use.min_nodes == 1 and use.nodes == 4 and use.provisioning == ProvisioningModel.ON_DEMAND
