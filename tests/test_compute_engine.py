"""GpuVmCluster under mocks, for every GPU family of the catalog: what the VMs really receive."""

import datetime

import pytest

from ai_clusters import ClusterNetwork, ClusterStorage, GpuVmCluster
from ai_clusters.core.catalog import catalog, region_of
from ai_clusters.core.enums import GpuDirect, ProvisioningModel
from ai_clusters.core.nics import extra_nic_plan
from ai_clusters.core.spec import SpecError

from .conftest import labels_of, mocked

INSTANCE = "gcp:compute/instance:Instance"
TEMPLATE = "gcp:compute/instanceTemplate:InstanceTemplate"
NETWORK = "gcp:compute/network:Network"
POLICY = "gcp:compute/resourcePolicy:ResourcePolicy"


def family_cases():
    cat = catalog()
    for fam in cat.families.values():
        if fam.unsupported:
            continue  # test_unbuilt_machine_types_are_refused covers these
        if fam.attached_accelerators:
            att = cat.n1_gpus[fam.gpu.compute_engine]
            if att.end_of_support and att.end_of_support <= datetime.date.today():
                continue  # test_end_of_support_gpus_are_refused covers these
            machine = next((m.name for m in cat.n1_machines.values() if m.vcpus <= att.max_vcpus[att.counts[0]]), None)
            if machine is None:
                continue
            gpu, count = fam.gpu.compute_engine, att.counts[0]
        else:
            biggest = max((m for m in fam.machine_types if not m.unsupported), key=lambda m: m.gpus)
            machine, gpu, count = biggest.name, None, None
        zone = next((z for z in fam.zones if z.startswith("us-")), fam.zones[0])
        shape = cat.shape(machine, gpu, count)
        model = next(p for p in (ProvisioningModel.ON_DEMAND, ProvisioningModel.SPOT, ProvisioningModel.RESERVATION) if p in shape.provisioning)
        yield pytest.param(fam.id, machine, gpu, count, zone, model, id=f"{fam.id}:{machine}")


def build(family_id, machine, gpu, count, zone, model, nodes=2):
    fam = catalog().family(family_id)
    holder = {}
    provisioning = {"model": model.value}
    if model == ProvisioningModel.RESERVATION:
        provisioning["reservation"] = "res-1"

    def program():
        accel = [{"family": family_id, "zone": zone}] if fam.gpudirect != GpuDirect.NONE else []
        net = ClusterNetwork("env", {"region": region_of(zone), "accelerator_networks": accel})
        args = {
            "environment": "test",
            "region": region_of(zone),
            "zone": zone,
            "workload": {"kind": "pretraining" if fam.gpudirect != GpuDirect.NONE else "inference", "accelerators": nodes * (count or catalog().shape(machine).gpus)},
            "machine_type": machine,
            "nodes": nodes,
            "provisioning": provisioning,
            "network": net.attachment(family_id, zone, count or catalog().shape(machine).gpus),
        }
        if gpu:
            args.update(gpu=gpu, gpus_per_node=count)
        holder["cluster"] = GpuVmCluster("train", args)

    return mocked(program), holder


@pytest.mark.parametrize("family_id, machine, gpu, count, zone, model", list(family_cases()))
def test_every_family_gets_its_machine_nics_mtus_and_secure_settings(family_id, machine, gpu, count, zone, model):
    fam = catalog().family(family_id)
    reg, _ = build(family_id, machine, gpu, count, zone, model)
    vms = reg.of_type(INSTANCE) or reg.of_type(TEMPLATE)
    assert vms, "instances or a template"
    networks = {n.outputs["selfLink"]: n for n in reg.of_type(NETWORK)}
    for vm in vms:
        x = vm.inputs
        assert x["machineType"] == machine
        nics = x["networkInterfaces"]
        want = extra_nic_plan(fam) if fam.gpudirect != GpuDirect.NONE else []
        assert len(nics) == 1 + len(want)
        assert nics[0]["nicType"] == "GVNIC"
        for nic, (nic_type, mtu, roce) in zip(nics[1:], want):
            assert nic["nicType"] == nic_type.value
            net = networks[nic["network"]]
            assert net.inputs["mtu"] == mtu
            assert ("networkProfile" in net.inputs) is roce
        assert all(not nic.get("accessConfigs") for nic in nics), "no external IP"
        assert x["scheduling"]["onHostMaintenance"] == "TERMINATE"
        # Secure Boot off only where the node compiles a kernel module at boot (A3 Mega's dmabuf import helper, DKMS)
        secure = fam.id != "a3-mega"
        assert x["shieldedInstanceConfig"] == {"enableSecureBoot": secure, "enableVtpm": True, "enableIntegrityMonitoring": True}
        assert labels_of(vm).get("ai-secure-boot") == (None if secure else "off-dkms")
        assert x["metadata"]["enable-oslogin"] == "TRUE"
        assert x["serviceAccount"]["email"].startswith("train-nodes@")
        if fam.attached_accelerators:
            assert x["guestAccelerators"] == [{"type": gpu, "count": count}]
        else:
            assert not x.get("guestAccelerators")
        labels = labels_of(vm)
        assert labels["ai-cluster"] == "train" and labels["ai-environment"] == "test"
        assert labels["ai-accelerators"] == str(2 * (count or catalog().shape(machine).gpus))
        assert labels["ai-workload"] in ("pretraining", "inference")
        if fam.compact_placement:
            assert x["resourcePolicies"].endswith("/resourcePolicies/train-placement")
        else:
            assert not x.get("resourcePolicies")
    if fam.compact_placement:
        policy = reg.one(POLICY)
        assert policy.inputs["groupPlacementPolicy"]["collocation"] == "COLLOCATED"
        assert policy.inputs["groupPlacementPolicy"]["vmCount"] == 2


def test_reservation_bound_families_bind_to_the_named_reservation():
    reg, _ = build("a3-ultra", "a3-ultragpu-8g", None, None, "us-central1-b", ProvisioningModel.RESERVATION)
    vm = reg.of_type(INSTANCE)[0].inputs
    assert vm["scheduling"]["provisioningModel"] == "RESERVATION_BOUND"
    assert vm["reservationAffinity"] == {
        "type": "SPECIFIC_RESERVATION",
        "specificReservation": {"key": "compute.googleapis.com/reservation-name", "values": ["res-1"]},
    }


def test_spot_nodes_are_a_managed_group_that_deletes_preempted_vms():
    reg, holder = build("a3-mega", "a3-megagpu-8g", None, None, "us-central1-a", ProvisioningModel.SPOT)
    template = reg.one(TEMPLATE).inputs
    assert template["scheduling"]["provisioningModel"] == "SPOT" and template["scheduling"]["instanceTerminationAction"] == "DELETE"
    mig = reg.one("gcp:compute/instanceGroupManager:InstanceGroupManager").inputs
    assert mig["targetSize"] == 2
    assert not reg.of_type(INSTANCE)


def test_flex_start_grows_an_empty_group_with_a_resize_request():
    reg, _ = build("a3-mega", "a3-megagpu-8g", None, None, "us-central1-a", ProvisioningModel.FLEX_START, nodes=4)
    template = reg.one(TEMPLATE).inputs
    assert template["scheduling"]["provisioningModel"] == "FLEX_START"
    assert template["scheduling"]["maxRunDuration"] == {"seconds": 168 * 3600}
    assert reg.one("gcp:compute/instanceGroupManager:InstanceGroupManager").inputs["targetSize"] == 0
    resize = reg.one("gcp:compute/resizeRequest:ResizeRequest").inputs
    assert resize["resizeBy"] == 4


def test_storage_is_mounted_by_the_startup_script_and_outputs_say_where():
    holder = {}

    def program():
        net = ClusterNetwork("env", {"region": "us-central1"})
        storage = ClusterStorage(
            "s",
            {
                "environment": "test",
                "cluster": "svc",
                "workload": "inference",
                "region": "us-central1",
                "zone": "us-central1-a",
                "network": net.host_network,
                "private_services_range": net.private_services_range,
                "storage": {"filestore": {"tier": "ZONAL", "capacity_gb": 1024, "mount_point": "/shared"}, "hyperdisk_ml": {"size_gb": 500}},
            },
        )
        holder["vm"] = GpuVmCluster(
            "svc",
            {
                "environment": "test",
                "region": "us-central1",
                "zone": "us-central1-a",
                "workload": {"kind": "inference", "accelerators": 1},
                "machine_type": "g2-standard-8",
                "network": net.attachment("g2", "us-central1-a"),
                "mounts": storage.mounts,
                "bucket": storage.bucket_name,
            },
        )

    reg = mocked(program)
    vm = reg.one(INSTANCE).inputs
    script = vm["metadata"]["startup-script"]
    assert "mount -t nfs" in script and "/shared" in script
    assert "gcsfuse" in script
    assert "cuda_installer.pyz install_driver" in script, "G2 boots plain Ubuntu: the driver comes from Google's installer"
    assert vm["attachedDisks"][0]["mode"] == "READ_ONLY"
    grant = reg.one("gcp:storage/bucketIAMMember:BucketIAMMember").inputs
    assert grant["role"] == "roles/storage.objectUser"

    # The script travels as metadata, so changing it updates the VM in place (for its next boot) instead of
    # replacing it, which `metadata_startup_script` (ForceNew in the provider) would do, local SSD and all.
    from ai_clusters.tooling.diff.replacements import table

    assert "metadataStartupScript" not in vm
    changed = {**vm, "metadata": {**vm["metadata"], "startup-script": script + "echo changed\n"}}
    assert table().judge(INSTANCE, vm, changed).replace is False


def test_bad_combinations_fail_before_anything_is_registered():
    errors = []

    def attempt(**over):
        args = {
            "environment": "test",
            "region": "us-central1",
            "workload": {"kind": "pretraining", "accelerators": 16},
            "machine_type": "a3-ultragpu-8g",
            "zone": "us-central1-b",
            "provisioning": {"model": "spot"},
            "network": {"host_network": "h", "host_subnetwork": "s"},
        }
        args.update(over)
        try:
            GpuVmCluster("bad", args)
        except SpecError as exc:
            errors.append(str(exc))

    def program():
        attempt()  # RDMA family without the RDMA network
        attempt(machine_type="n1-standard-8", gpu="nvidia-tesla-t4", gpus_per_node=3, zone=None, workload={"kind": "graphics", "accelerators": 3})
        attempt(zone="us-central1-a")  # A3 Ultra is not offered there

    reg = mocked(program)
    assert reg.all == [], "nothing is half-created"
    assert "network: A3 Ultra needs 9 NICs after nic0 (1 GVNIC, 8 MRDMA); the network gives 0" in errors[0]
    assert "A3 Ultra needs the RDMA network" in errors[0]
    assert "gpusPerNode: nvidia-tesla-t4 attaches in counts of 1, 2, 4 per VM, not 3" in errors[1]
    assert "zone: a3-ultragpu-8g (A3 Ultra) is not offered in us-central1-a" in errors[2]


def test_end_of_support_gpus_are_refused():
    errors = []

    def program():
        try:
            GpuVmCluster("old", {"environment": "t", "region": "us-central1", "workload": {"kind": "hpc", "accelerators": 1},
                                 "machine_type": "n1-standard-8", "gpu": "nvidia-tesla-p100", "gpus_per_node": 1,
                                 "network": {"host_network": "h", "host_subnetwork": "s"}})
        except SpecError as exc:
            errors.append(str(exc))

    assert mocked(program).all == []
    assert "nvidia-tesla-p100 reached end of support on 2026-09-15" in errors[0]


@pytest.mark.parametrize(
    "machine, zone, reason",
    [
        ("a4x-maxgpu-4g-metal", "us-central1-b", "IDPF host NICs and eight IPv6-only MRDMA NICs"),
        ("g4-standard-6", "us-central1-b", "vGPU guest driver"),
    ],
)
def test_unbuilt_machine_types_are_refused_with_the_reason(machine, zone, reason):
    errors = []

    def program():
        try:
            GpuVmCluster("unbuilt", {"environment": "t", "region": "us-central1", "zone": zone, "workload": {"kind": "inference", "accelerators": 1},
                                     "machine_type": machine, "provisioning": {"model": "reservation", "reservation": "r"},
                                     "network": {"host_network": "h", "host_subnetwork": "s"}})
        except SpecError as exc:
            errors.append(str(exc))

    assert mocked(program).all == [], "nothing is half-created"
    assert f"machineType: {machine}" in errors[0] and "no path builds it yet" in errors[0] and reason in errors[0]


def test_a_region_google_lists_without_a_known_zone_points_at_the_refresh():
    """A4X is listed in us-east1 (gcloud, 2026-08) but no zone there is known: the error says so and how to learn it."""
    errors = []

    def program():
        try:
            GpuVmCluster("east", {"environment": "t", "region": "us-east1", "zone": "us-east1-b", "workload": {"kind": "pretraining", "accelerators": 4},
                                  "machine_type": "a4x-highgpu-4g", "provisioning": {"model": "reservation", "reservation": "r"},
                                  "network": {"host_network": "h", "host_subnetwork": "s"}})
        except SpecError as exc:
            errors.append(str(exc))

    assert mocked(program).all == []
    assert "zone: a4x-highgpu-4g (A4X) is not offered in us-east1-b; offered in: no zone of us-east1 (Google lists it in us-east1" in errors[0]
    assert "ai-clusters catalog refresh" in errors[0]
