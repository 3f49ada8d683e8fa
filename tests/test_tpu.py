"""TpuVmCluster under mocks: which TPU resources it registers (a TPU VM or a queued resource) and exactly what they receive."""

import pulumi
import pytest

from ai_clusters import ClusterNetwork, ClusterStorage, TpuVmCluster
from ai_clusters.core import labels as contract
from ai_clusters.core.accelerators import TPU_QUEUED_DYNAMIC
from ai_clusters.core.catalog import catalog
from ai_clusters.core.spec import SpecError

from ai_clusters.core.spec import load_environment

from .conftest import mocked, only
from .test_spec import cluster, config, problems

TPU_VM = "gcp:tpu/v2Vm:V2Vm"
TPU_QUEUED = "gcp:tpu/v2QueuedResource:V2QueuedResource"
QUEUED = TPU_QUEUED_DYNAMIC
DISK = "gcp:compute/disk:Disk"
NETWORK = "gcp:compute/network:Network"
SUBNET = "gcp:compute/subnetwork:Subnetwork"
ACCOUNT = "gcp:serviceaccount/account:Account"
OUTPUTS = (
    "node_names", "worker_ips", "ssh_command", "ssh_commands", "accelerator_type", "topology", "runtime_version", "chips", "hosts",
    "mount_points", "service_account", "queued_resource",
)


def build(tpu: dict, *, kind: str = "pretraining", accelerators: int = 16, region: str = "us-central1", storage: dict | None = None, **over):
    """A ClusterNetwork, optionally a ClusterStorage, and a TpuVmCluster 'tpu' wired like the stack program does."""
    holder = {}

    def program():
        net = ClusterNetwork("env", {"region": region})
        args = {
            "environment": "test",
            "region": region,
            "workload": {"kind": kind, "accelerators": accelerators},
            "tpu": tpu,
            "network": {"host_network": net.host_network, "host_subnetwork": net.host_subnetwork},
            **over,
        }
        if storage is not None:
            zone = over.get("zone") or catalog_zone(tpu, region)
            st = ClusterStorage(
                "tpu-storage",
                {
                    "environment": "test", "cluster": "tpu", "workload": kind, "region": region, "zone": zone,
                    "network": net.host_network, "private_services_range": net.private_services_range, "path": "tpu",
                    "storage": storage,
                },
            )
            args.update(mounts=st.mounts, bucket=st.bucket_name, zone=zone)
        cluster = TpuVmCluster("tpu", args)
        holder["cluster"] = cluster
        for key in OUTPUTS:
            pulumi.export(key, getattr(cluster, key))

    return mocked(program), holder


def catalog_zone(tpu: dict, region: str) -> str:
    cat = catalog()
    gen = cat.tpu_slice(tpu["type"]).generation if tpu.get("type") else cat.tpu_generation(tpu["generation"])
    return next(z for z in gen.zones if z.startswith(region))


def host_links(reg) -> tuple[str, str]:
    return reg.one(NETWORK).outputs["selfLink"], reg.one(SUBNET).outputs["selfLink"]


def node_of(r) -> dict:
    """The TPU node as registered: a V2Vm's inputs, or the node of a queued resource's (only) node spec."""
    if r.type == QUEUED:
        (spec,) = r.inputs["queuedResource"]["tpu"]["nodeSpec"]
        return spec["node"]
    return r.inputs


def script_of(r) -> str:
    return node_of(r)["metadata"]["startup-script"]


def the_node(reg):
    """The cluster's one TPU resource (a V2Vm or a queued resource)."""
    (r,) = reg.of_type(TPU_VM) + reg.of_type(QUEUED)
    return r


def test_a_single_host_serving_slice_is_one_secure_labelled_tpu_vm():
    reg, _ = build({"type": "v5litepod-8"}, kind="inference", accelerators=8)
    assert reg.of_type(TPU_QUEUED) == []
    vm = reg.one(TPU_VM).inputs
    assert vm["name"] == "tpu" and vm["zone"] == "us-central1-a"
    assert vm["acceleratorType"] == "v5litepod-8" and "acceleratorConfig" not in vm
    assert vm["runtimeVersion"] == "v2-alpha-tpuv5-lite" == catalog().tpu_runtime("v5e", "jax")
    network, subnet = host_links(reg)
    assert vm["networkConfig"] == {"network": network, "subnetwork": subnet, "enableExternalIps": False, "canIpForward": False}
    account = reg.one(ACCOUNT).outputs["email"]
    assert vm["serviceAccount"] == {"email": account, "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}
    assert vm["shieldedInstanceConfig"] == {"enableSecureBoot": True}
    assert vm["metadata"]["enable-oslogin"] == "TRUE" and vm["metadata"]["block-project-ssh-keys"] == "TRUE"
    assert "schedulingConfig" not in vm, "on-demand needs no scheduling config"
    assert "dataDisks" not in vm
    labels = vm["labels"]
    assert labels[contract.WORKLOAD] == "inference" and labels[contract.PATH] == "tpu"
    assert labels[contract.ACCELERATORS] == "8" and labels[contract.NODES] == "1"
    assert labels[contract.PROVISIONING] == "on-demand" and labels[contract.CLUSTER] == "tpu"
    assert "MEGASCALE" not in script_of(reg.one(TPU_VM))


def assert_secure_labelled_node(reg, node: dict, *, hosts: int) -> None:
    """The full node spec every TPU node gets, as a queued resource's node (API JSON) carries it."""
    network, subnet = host_links(reg)
    assert node["networkConfig"] == {
        "network": network.split("/compute/v1/", 1)[1],
        "subnetwork": subnet.split("/compute/v1/", 1)[1],
        "enableExternalIps": False,
        "canIpForward": False,
    }
    assert node["serviceAccount"] == {"email": reg.one(ACCOUNT).outputs["email"], "scope": ["https://www.googleapis.com/auth/cloud-platform"]}
    assert node["shieldedInstanceConfig"] == {"enableSecureBoot": True}
    assert node["metadata"]["enable-oslogin"] == "TRUE" and node["metadata"]["block-project-ssh-keys"] == "TRUE"
    assert node["metadata"]["startup-script"].startswith("#!/bin/bash")
    assert node["labels"][contract.PATH] == "tpu" and node["labels"][contract.NODES] == str(hosts)
    assert "schedulingConfig" not in node, "the tier is the request's, not the node's"


QUEUED_CASES = [
    pytest.param(
        dict(tpu={"generation": "v5p", "topology": "2x2x4"}, provisioning={"model": "spot"}, zone="us-east5-a", region="us-east5"),
        {"acceleratorConfig": {"type": "V5P", "topology": "2x2x4"}},
        {"nodeId": "tpu"},
        {"spot": {}},
        4,
        id="v5p-multi-host-spot",
    ),
    pytest.param(dict(tpu={"type": "v5litepod-16"}), {"acceleratorType": "v5litepod-16"}, {"nodeId": "tpu"}, {}, 4, id="multi-host-on-demand"),
    pytest.param(
        dict(tpu={"type": "v5litepod-8"}, kind="inference", accelerators=8, provisioning={"model": "spot"}),
        {"acceleratorType": "v5litepod-8"},
        {"nodeId": "tpu"},
        {"spot": {}},
        1,
        id="single-host-spot",
    ),
    pytest.param(
        dict(tpu={"type": "v5litepod-16"}, provisioning={"model": "reservation", "reservation": "tpu-res"}),
        {"acceleratorType": "v5litepod-16"},
        {"nodeId": "tpu"},
        {"reservationName": "projects/mock-project/locations/us-central1-a/reservations/tpu-res"},
        4,
        id="reserved",
    ),
    pytest.param(
        dict(tpu={"type": "v6e-16", "slices": 2}, accelerators=32, region="us-east5", zone="us-east5-b"),
        {"acceleratorType": "v6e-16"},
        {"multisliceParams": {"nodeCount": 2, "nodeIdPrefix": "tpu"}},
        {},
        4,
        id="multislice",
    ),
    pytest.param(
        dict(
            tpu={"type": "v6e-256", "slices": 2, "queue": {"valid_until_hours": 12}},
            accelerators=512,
            region="us-east5",
            zone="us-east5-a",
            provisioning={"model": "flex-start", "max_run_hours": 72},
        ),
        {"acceleratorType": "v6e-256"},
        {"multiNodeParams": {"nodeCount": 2, "nodeIdPrefix": "tpu"}},
        {"provisioningModel": "FLEX_START", "runDuration": {"maxRunDuration": "259200s"}, "queueingPolicy": {"validUntilDuration": "43200s"}},
        64,
        id="v6e-multislice-flex-start",
    ),
]


@pytest.mark.parametrize("over, accelerator, placement, tier, hosts", QUEUED_CASES)
def test_queued_slices_are_one_queued_resource_with_the_full_node_spec(over, accelerator, placement, tier, hosts):
    over = dict(over)
    reg, holder = build(over.pop("tpu"), **over)
    assert reg.of_type(TPU_VM) == [] and reg.of_type(TPU_QUEUED) == [], "neither a TPU VM nor pulumi-gcp's queued resource"
    qr = reg.one(QUEUED)
    x = qr.inputs
    zone = holder["cluster"].resolved.zone
    assert (x["project"], x["zone"], x["queuedResourceId"]) == ("mock-project", zone, "tpu")
    assert x["apiVersion"] == ("v2alpha1" if "provisioningModel" in tier else "v2")
    request = x["queuedResource"]
    assert {k: v for k, v in request.items() if k != "tpu"} == tier
    (spec,) = request["tpu"]["nodeSpec"]
    assert spec["parent"] == f"projects/mock-project/locations/{zone}"
    assert {k: v for k, v in spec.items() if k not in ("parent", "node")} == placement
    node = spec["node"]
    for key, value in accelerator.items():
        assert node[key] == value
    assert ("acceleratorType" in node) != ("acceleratorConfig" in node)
    assert node["runtimeVersion"] == catalog().tpu_runtime(holder["cluster"].resolved.tpu.generation.id, "jax")
    assert "(queued resource: " in node["description"]
    assert_secure_labelled_node(reg, node, hosts=hosts)
    assert qr.parent == reg.one("ai-clusters:index:TpuVmCluster").urn
    assert "MEGASCALE" not in node["metadata"]["startup-script"], "the service sets up a multislice queued resource's slices"


def test_the_create_timeout_follows_the_queue_validity_unless_given():
    reg, _ = build({"type": "v5litepod-16"}, provisioning={"model": "spot"})
    assert reg.one(QUEUED).inputs["createTimeoutMinutes"] == 60
    reg, _ = build({"type": "v5litepod-16", "queue": {"valid_until_hours": 2}}, provisioning={"model": "spot"})
    assert reg.one(QUEUED).inputs["createTimeoutMinutes"] == 2 * 60 + 30
    reg, _ = build({"type": "v5litepod-16", "queue": {"create_timeout_minutes": 15}}, provisioning={"model": "spot"})
    x = reg.one(QUEUED).inputs
    assert x["createTimeoutMinutes"] == 15 and "queueingPolicy" not in x["queuedResource"]


@pytest.mark.parametrize("gen", [g.id for g in catalog().data.cloud_tpu_api.generations])
@pytest.mark.parametrize("framework", ["jax", "pytorch"])
def test_the_runtime_follows_the_generation_and_the_framework(gen, framework):
    cat = catalog()
    g = cat.tpu_generation(gen)
    first = g.accelerator_types[0]
    zone = next(z for z in g.zones if z.count("-") == 2)
    region = zone.rsplit("-", 1)[0]
    reg, _ = build({"type": first.name}, accelerators=first.chips, region=region, zone=zone, framework=framework)
    assert node_of(the_node(reg))["runtimeVersion"] == cat.tpu_runtime(gen, framework)


def test_storage_is_mounted_on_every_worker_and_outputs_say_where():
    storage = {"bucket": {"softDeleteDays": 7}, "filestore": {"capacityGb": 1024, "mountPoint": "/shared"}, "parallelstore": {"capacityGb": 12000}}
    reg, _ = build({"type": "v5litepod-16"}, storage=storage)
    script = script_of(reg.one(QUEUED))
    assert "mount -t nfs" in script and "/shared" in script
    assert "dfuse -m /parallelstore" in script
    assert "gcsfuse" in script
    grant = reg.one("gcp:storage/bucketIAMMember:BucketIAMMember").inputs
    assert grant["role"] == "roles/storage.objectUser"
    bucket = reg.one("gcp:storage/bucket:Bucket").outputs["name"]
    assert reg.run.exports["mount_points"] == [f"/gcs/{bucket}", "/shared", "/parallelstore"]


def test_a_single_host_slice_gets_its_own_protected_data_disk_formatted_on_first_boot():
    reg, _ = build({"type": "v5litepod-8", "data_disks": [{"size_gb": 200, "mount_point": "/mnt/models"}]}, kind="inference", accelerators=8)
    disk = reg.one(DISK)
    assert disk.inputs["type"] == "pd-balanced" and disk.inputs["size"] == 200 and disk.inputs["zone"] == "us-central1-a"
    assert disk.protect and disk.retain_on_delete
    assert disk.inputs["labels"][contract.CLUSTER] == "tpu" and contract.ACCELERATORS not in disk.inputs["labels"]
    assert reg.of_type(QUEUED) == [], "single-host on-demand: one TPU VM"
    vm = reg.one(TPU_VM)
    assert vm.inputs["dataDisks"] == [{"sourceDisk": disk.outputs["id"], "mode": "READ_WRITE"}]
    script = script_of(vm)
    assert "dev=/dev/disk/by-id/google-persistent-disk-1" in script and "mkfs.ext4" in script and "/mnt/models" in script


def test_hyperdisk_ml_weights_attach_read_only_to_every_v6e_worker():
    storage = {"bucket": {"enabled": False}, "hyperdiskMl": {"sizeGb": 2048, "sourceSnapshot": "projects/p/global/snapshots/llama", "mountPoint": "/models"}}
    reg, _ = build({"type": "v6e-16"}, kind="inference", region="us-east5", zone="us-east5-b", storage=storage)
    disk = only(d for d in reg.of_type(DISK) if d.inputs["type"] == "hyperdisk-ml")
    vm = reg.one(QUEUED)
    (attached,) = node_of(vm)["dataDisks"]
    assert attached["mode"] == "READ_ONLY"
    assert attached["sourceDisk"] == disk.outputs["selfLink"].split("/compute/v1/", 1)[1]
    assert attached["sourceDisk"].startswith("projects/")
    script = script_of(vm)
    assert "mount -o ro,noload \"$dev\" /models" in script and "mkfs" not in script


def test_outputs_name_the_nodes_and_reach_every_worker():
    reg, _ = build({"type": "v6e-16", "slices": 2}, accelerators=32, region="us-east5", zone="us-east5-b")
    out = reg.run.exports
    qr = reg.one(QUEUED)
    assert out["node_names"] == ["tpu-0", "tpu-1"] == qr.outputs["nodeNames"]
    assert out["ssh_command"] == "gcloud compute tpus tpu-vm ssh tpu-0 --zone us-east5-b --project mock-project --worker=all --tunnel-through-iap"
    assert out["ssh_commands"][1].startswith("gcloud compute tpus tpu-vm ssh tpu-1 ")
    assert out["worker_ips"] == qr.outputs["workerIps"] and len(out["worker_ips"]) == 8
    assert (out["accelerator_type"], out["topology"], out["runtime_version"]) == ("v6e-16", "4x4", "v2-alpha-tpuv6e")
    assert (out["chips"], out["hosts"]) == (32, 8)
    assert out["service_account"] == reg.one(ACCOUNT).outputs["email"]
    assert out["queued_resource"] == "projects/mock-project/locations/us-east5-b/queuedResources/tpu"


def test_a_tpu_vm_names_no_queued_resource():
    reg, _ = build({"type": "v5litepod-8"}, kind="inference", accelerators=8)
    out = reg.run.exports
    assert out["queued_resource"] == "" and out["node_names"] == ["tpu"]
    assert out["worker_ips"] == [reg.one(TPU_VM).outputs["networkEndpoints"][0]["ipAddress"]]


BAD = [
    pytest.param({"tpu": {"generation": "v5e", "topology": "3x3"}}, "tpu.topology", "topology '3x3' does not exist for TPU v5e; allowed: 1x1, 2x2, 2x4", id="impossible-topology"),
    pytest.param(
        {"tpu": {"type": "v5litepod-16", "runtime_version": "v2-alpha-tpuv6e"}},
        "tpu.runtimeVersion",
        "'v2-alpha-tpuv6e' is a runtime of TPU v6e (Trillium), not of TPU v5e; allowed: v2-alpha-tpuv5-lite",
        id="runtime-of-another-generation",
    ),
    pytest.param(
        {"tpu": {"type": "tpu7x-16"}},
        "tpu.type",
        "TPU7x (Ironwood) is not offered through the Cloud TPU API that TPU VMs are made with (GKE only): use path 'gke'",
        id="tpu7x-is-gke-only",
    ),
    pytest.param(
        {"tpu": {"type": "v5litepod-16"}, "provisioning": {"model": "flex-start"}},
        "zone",
        "flex-start TPU v5e for training is offered in us-west4-a, not us-central1-a",
        id="flex-start-zone",
    ),
    pytest.param(
        {"tpu": {"type": "v5p-16"}, "provisioning": {"model": "flex-start"}, "region": "us-east5"},
        "provisioning.model",
        "Google offers no flex-start TPU v5p through Cloud TPU queued resources; flex-start TPU VMs come in TPU v5e, TPU v6e (Trillium)",
        id="flex-start-generation",
    ),
    pytest.param(
        {"tpu": {"type": "v5litepod-8", "queue": {"valid_until_hours": 2}}, "workload": {"kind": "inference", "accelerators": 8}},
        "tpu.queue",
        "applies to slices made through a queued resource; v5litepod-8 on-demand is one TPU VM",
        id="queue-on-a-tpu-vm",
    ),
    pytest.param(
        {"tpu": {"type": "v5litepod-16", "queue": {"valid_until_hours": 2, "create_timeout_minutes": 60}}},
        "tpu.queue.createTimeoutMinutes",
        "60 minutes is shorter than validUntilHours (2 h)",
        id="timeout-shorter-than-validity",
    ),
    pytest.param(
        {"tpu": {"type": "v5litepod-16", "data_disks": [{"size_gb": 100}]}},
        "tpu.dataDisks",
        "a read-write disk attaches to one VM at a time and v5litepod-16 x 1 slice(s) runs on 4 VMs",
        id="read-write-disk-on-multi-host",
    ),
    pytest.param(
        {"tpu": {"type": "v5litepod-8", "data_disks": [{"size_gb": 100, "type": "hyperdisk-balanced"}]}},
        "tpu.dataDisks[0].type",
        "TPU v5e VMs take pd-balanced data disks, not hyperdisk-balanced",
        id="disk-type-of-another-generation",
    ),
    pytest.param({"tpu": {"type": "v5litepod-8"}, "framework": "tensorflow"}, "framework", "TPU v5e lists no runtime for tensorflow", id="framework-without-runtime"),
    pytest.param({"tpu": {"type": "v5litepod-8"}, "nodes": 2}, "nodes", "v5litepod-8 x 1 slice(s) runs on 1 hosts, not 2", id="node-count"),
    pytest.param({"tpu": {"type": "v5litepod-8"}, "zone": "us-central1-b"}, "zone", "TPU v5e is not offered in us-central1-b", id="zone"),
]


@pytest.mark.parametrize("over, key, message", BAD)
def test_bad_input_is_one_clear_error_before_anything_is_registered(over, key, message):
    errors: list[SpecError] = []

    def program():
        args = {
            "environment": "test",
            "region": "us-central1",
            "workload": {"kind": "pretraining", "accelerators": 16},
            "network": {"host_network": "h", "host_subnetwork": "s"},
            **over,
        }
        try:
            TpuVmCluster("bad", args)
        except SpecError as exc:
            errors.append(exc)

    reg = mocked(program)
    assert reg.all == [], "nothing is half-created"
    (error,) = errors
    (problem,) = error.problems
    assert problem.path == key
    assert message in problem.message


# ---- the same rules from a stack's configuration ------------------------------------------------------

def tpu_cluster(**over) -> dict:
    base = {"name": "t", "path": "tpu", "machineType": None, "workload": {"kind": "pretraining", "accelerators": 16}, "tpu": {"type": "v5litepod-16"}}
    base.update(over)
    return cluster(**base)


def test_a_stack_resolves_the_runtime_zone_and_hosts_of_a_tpu_cluster():
    (cl,) = load_environment(config(tpu_cluster(tpu={"generation": "v5e", "topology": "4x4", "slices": 2}, framework="pytorch", workload={"kind": "pretraining", "accelerators": 32}))).clusters
    assert (cl.tpu.type.name, cl.plan.runtime_version, cl.zone, cl.nodes, cl.accelerators) == ("v5litepod-16", "v2-alpha-tpuv5-lite", "us-central1-a", 8, 32)


def test_tpu7x_on_the_tpu_vm_path_names_gke_and_nothing_else():
    (msg,) = problems(config(tpu_cluster(tpu={"type": "tpu7x-8"}), zones=["us-central1-c"]))
    assert msg.startswith("clusters[0].tpu.type: TPU7x (Ironwood) is not offered through the Cloud TPU API")
    assert "use path 'gke'" in msg


def test_flex_start_outside_its_zones_and_data_disks_are_refused_with_their_key_paths():
    found = problems(config(tpu_cluster(provisioning="flex-start", tpu={"type": "v5litepod-16", "dataDisks": [{"sizeGb": 100}]})))
    assert len(found) == 2
    assert found[0].startswith("clusters[0].tpu.dataDisks: a read-write disk attaches to one VM at a time")
    assert found[1] == "clusters[0].zone: flex-start TPU v5e for training is offered in us-west4-a, not us-central1-a"


def test_a_stack_plans_flex_start_multislice_as_a_v2alpha1_queued_resource():
    flex = tpu_cluster(
        provisioning={"model": "flex-start", "maxRunHours": 48},
        workload={"kind": "pretraining", "accelerators": 512},
        tpu={"type": "v6e-256", "slices": 2, "queue": {"validUntilHours": 8}},
    )
    cfg = {**config(flex, zones=["us-east5-a"]), "gcp:region": "us-east5"}
    (cl,) = load_environment(cfg).clusters
    q = cl.plan.queued
    assert (q.api_version, q.tier.value, q.node_count) == ("v2alpha1", "flex-start", 2)
    assert (q.max_run_seconds, q.valid_until_seconds, q.create_timeout_minutes) == (48 * 3600, 8 * 3600, 8 * 60 + 30)
    assert q.why == "multislice: 2 x v6e-256"


def test_only_single_host_on_demand_slices_are_tpu_vms():
    def queued(**over):
        (cl,) = load_environment(config(tpu_cluster(**over))).clusters
        return cl.plan.queued

    assert queued(tpu={"type": "v5litepod-8"}, workload={"kind": "inference", "accelerators": 8}) is None
    assert queued(tpu={"type": "v5litepod-16"}).why == "multi-host slice: v5litepod-16 on 4 TPU VMs"
    assert queued(tpu={"type": "v5litepod-8"}, workload={"kind": "inference", "accelerators": 8}, provisioning="spot").why == "spot capacity"


def test_tpu_vm_only_keys_are_refused_on_the_gke_path():
    gke = tpu_cluster(path="gke", tpu={"type": "v5litepod-16", "startupScript": "echo hi"})
    assert "clusters[0].tpu.startupScript: applies to path 'tpu' (TPU VMs) only" in problems(config(gke))


def test_hyperdisk_ml_needs_a_generation_that_takes_it_and_a_snapshot_when_shared():
    v5e = tpu_cluster(tpu={"type": "v5litepod-8"}, storage={"hyperdiskMl": {"sizeGb": 1024}})
    assert problems(config(v5e)) == ["clusters[0].storage.hyperdiskMl: TPU v5e VMs take pd-balanced data disks, not Hyperdisk ML"]
    v6e = tpu_cluster(tpu={"type": "v6e-16"}, storage={"hyperdiskMl": {"sizeGb": 1024}})
    (msg,) = problems(config(v6e, zones=["us-central1-b"]))
    assert msg.startswith("clusters[0].storage.hyperdiskMl.sourceSnapshot: a Hyperdisk ML volume read by 4 TPU VMs at once")
