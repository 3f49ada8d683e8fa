"""TpuVmCluster under mocks: which TPU resources it registers and exactly what they receive."""

import pulumi
import pytest

from ai_clusters import ClusterNetwork, ClusterStorage, TpuVmCluster
from ai_clusters.core import labels as contract
from ai_clusters.core.catalog import catalog
from ai_clusters.core.spec import SpecError

from ai_clusters.core.spec import load_environment

from .conftest import labels_of, mocked, only
from .test_spec import cluster, config, problems

TPU_VM = "gcp:tpu/v2Vm:V2Vm"
TPU_QUEUED = "gcp:tpu/v2QueuedResource:V2QueuedResource"
DISK = "gcp:compute/disk:Disk"
NETWORK = "gcp:compute/network:Network"
SUBNET = "gcp:compute/subnetwork:Subnetwork"
ACCOUNT = "gcp:serviceaccount/account:Account"
OUTPUTS = ("node_names", "worker_ips", "ssh_command", "ssh_commands", "accelerator_type", "topology", "runtime_version", "chips", "hosts", "mount_points", "service_account")


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


def script_of(vm) -> str:
    return vm.inputs["metadata"]["startup-script"]


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


def test_generation_and_topology_become_an_accelerator_config_on_a_multi_host_slice():
    reg, holder = build({"generation": "v5p", "topology": "2x2x4"}, provisioning={"model": "spot"}, zone="us-east5-a", region="us-east5")
    vm = reg.one(TPU_VM).inputs
    assert "acceleratorType" not in vm
    assert vm["acceleratorConfig"] == {"type": "V5P", "topology": "2x2x4"}
    assert vm["runtimeVersion"] == "v2-alpha-tpuv5"
    assert vm["schedulingConfig"] == {"spot": True}
    assert labels_of(reg.one(TPU_VM))[contract.NODES] == "4", "v5p 2x2x4 is 16 chips on 4 hosts"
    assert labels_of(reg.one(TPU_VM))[contract.PROVISIONING] == "spot"
    cluster = holder["cluster"]
    assert cluster.resolved.nodes == 4 and cluster.resolved.accelerators == 16


@pytest.mark.parametrize("gen", [g.id for g in catalog().data.cloud_tpu_api.generations])
@pytest.mark.parametrize("framework", ["jax", "pytorch"])
def test_the_runtime_follows_the_generation_and_the_framework(gen, framework):
    cat = catalog()
    g = cat.tpu_generation(gen)
    first = g.accelerator_types[0]
    zone = next(z for z in g.zones if z.count("-") == 2)
    region = zone.rsplit("-", 1)[0]
    reg, _ = build({"type": first.name}, accelerators=first.chips, region=region, zone=zone, framework=framework)
    assert reg.one(TPU_VM).inputs["runtimeVersion"] == cat.tpu_runtime(gen, framework)


def test_reserved_capacity_goes_through_the_scheduling_config():
    reg, _ = build({"type": "v5litepod-16"}, provisioning={"model": "reservation", "reservation": "tpu-res"})
    vm = reg.one(TPU_VM).inputs
    assert vm["schedulingConfig"] == {"reserved": True}
    assert "tpu-res" in vm["description"]
    assert vm["labels"][contract.PROVISIONING] == "reservation"


def test_multislice_is_one_node_per_slice_joined_by_the_megascale_environment():
    reg, holder = build({"type": "v6e-16", "slices": 2}, accelerators=32, region="us-east5", zone="us-east5-b")
    first, second = reg.named("tpu-0"), reg.named("tpu-1")
    assert {r.name for r in reg.of_type(TPU_VM)} == {"tpu-0", "tpu-1"} and reg.of_type(TPU_QUEUED) == []
    for i, vm in enumerate((first, second)):
        x = vm.inputs
        assert x["acceleratorType"] == "v6e-16" and x["runtimeVersion"] == "v2-alpha-tpuv6e"
        assert x["labels"][contract.ACCELERATORS] == "32", "the cluster's chips over both slices"
        assert x["labels"][contract.NODES] == "4", "each node stands for its own slice's hosts"
        script = script_of(vm)
        assert f"MEGASCALE_SLICE_ID={i} " in script and "MEGASCALE_NUM_SLICES=2 " in script
        assert f"MEGASCALE_PORT={catalog().data.cloud_tpu_api.multislice_port} " in script
    coordinator = first.outputs["networkEndpoints"][0]["ipAddress"]
    assert f"MEGASCALE_COORDINATOR_ADDRESS={coordinator} " in script_of(second)
    assert first.urn in second.dependencies, "slice 1 learns slice 0's coordinator"
    assert "worker-network-endpoints | cut -d, -f1 | cut -d: -f3" in script_of(first)
    cluster = holder["cluster"]
    assert cluster.resolved.nodes == 8 and cluster.resolved.accelerators == 32


def test_storage_is_mounted_on_every_worker_and_outputs_say_where():
    storage = {"bucket": {"softDeleteDays": 7}, "filestore": {"capacityGb": 1024, "mountPoint": "/shared"}, "parallelstore": {"capacityGb": 12000}}
    reg, _ = build({"type": "v5litepod-16"}, storage=storage)
    script = script_of(reg.one(TPU_VM))
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
    vm = reg.one(TPU_VM)
    assert vm.inputs["dataDisks"] == [{"sourceDisk": disk.outputs["id"], "mode": "READ_WRITE"}]
    script = script_of(vm)
    assert "dev=/dev/disk/by-id/google-persistent-disk-1" in script and "mkfs.ext4" in script and "/mnt/models" in script


def test_hyperdisk_ml_weights_attach_read_only_to_every_v6e_worker():
    storage = {"bucket": {"enabled": False}, "hyperdiskMl": {"sizeGb": 2048, "sourceSnapshot": "projects/p/global/snapshots/llama", "mountPoint": "/models"}}
    reg, _ = build({"type": "v6e-16"}, kind="inference", region="us-east5", zone="us-east5-b", storage=storage)
    disk = only(d for d in reg.of_type(DISK) if d.inputs["type"] == "hyperdisk-ml")
    vm = reg.one(TPU_VM)
    (attached,) = vm.inputs["dataDisks"]
    assert attached["mode"] == "READ_ONLY"
    assert attached["sourceDisk"] == disk.outputs["selfLink"].split("/compute/v1/", 1)[1]
    assert attached["sourceDisk"].startswith("projects/")
    script = script_of(vm)
    assert "mount -o ro,noload \"$dev\" /models" in script and "mkfs" not in script


def test_outputs_name_the_nodes_and_reach_every_worker():
    reg, _ = build({"type": "v6e-16", "slices": 2}, accelerators=32, region="us-east5", zone="us-east5-b")
    out = reg.run.exports
    assert out["node_names"] == ["tpu-0", "tpu-1"]
    assert out["ssh_command"] == "gcloud compute tpus tpu-vm ssh tpu-0 --zone us-east5-b --project mock-project --worker=all --tunnel-through-iap"
    assert out["ssh_commands"][1].startswith("gcloud compute tpus tpu-vm ssh tpu-1 ")
    assert out["worker_ips"] == [vm.outputs["networkEndpoints"][0]["ipAddress"] for vm in (reg.named("tpu-0"), reg.named("tpu-1"))]
    assert (out["accelerator_type"], out["topology"], out["runtime_version"]) == ("v6e-16", "4x4", "v2-alpha-tpuv6e")
    assert (out["chips"], out["hosts"]) == (32, 8)
    assert out["service_account"] == reg.one(ACCOUNT).outputs["email"]


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
    pytest.param({"tpu": {"type": "v5litepod-16"}, "provisioning": {"model": "flex-start"}}, "provisioning.model", "flex-start TPUs come only from a queued resource", id="flex-start"),
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


def test_flex_start_and_data_disks_are_refused_with_their_key_paths():
    found = problems(config(tpu_cluster(provisioning="flex-start", tpu={"type": "v5litepod-16", "dataDisks": [{"sizeGb": 100}]})))
    assert len(found) == 2
    assert found[0].startswith("clusters[0].provisioning.model: flex-start TPUs come only from a queued resource")
    assert found[1].startswith("clusters[0].tpu.dataDisks: a read-write disk attaches to one VM at a time")


def test_tpu_vm_only_keys_are_refused_on_the_gke_path():
    gke = tpu_cluster(path="gke", tpu={"type": "v5litepod-16", "startupScript": "echo hi"})
    assert "clusters[0].tpu.startupScript: applies to path 'tpu' (TPU VMs) only" in problems(config(gke))


def test_hyperdisk_ml_needs_a_generation_that_takes_it_and_a_snapshot_when_shared():
    v5e = tpu_cluster(tpu={"type": "v5litepod-8"}, storage={"hyperdiskMl": {"sizeGb": 1024}})
    assert problems(config(v5e)) == ["clusters[0].storage.hyperdiskMl: TPU v5e VMs take pd-balanced data disks, not Hyperdisk ML"]
    v6e = tpu_cluster(tpu={"type": "v6e-16"}, storage={"hyperdiskMl": {"sizeGb": 1024}})
    (msg,) = problems(config(v6e, zones=["us-central1-b"]))
    assert msg.startswith("clusters[0].storage.hyperdiskMl.sourceSnapshot: a Hyperdisk ML volume read by 4 TPU VMs at once")
