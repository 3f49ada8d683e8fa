"""GkeCluster under mocks: what the cluster, its node pools and the objects inside it really receive."""

import json

import pytest

from ai_clusters import ClusterNetwork, ClusterStorage, GkeCluster
from ai_clusters.core.catalog import catalog, region_of
from ai_clusters.core.enums import GpuDirect
from ai_clusters.gke.component import storage_volumes
from ai_clusters.gke.objects import network_object_names
from ai_clusters.core.nics import extra_nic_plan
from ai_clusters.core.spec import SpecError, StorageSpec

from .conftest import mocked

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
NETWORK = "gcp:compute/network:Network"
SUBNET = "gcp:compute/subnetwork:Subnetwork"
K8S_NETWORK = "kubernetes:networking.gke.io/v1:Network"
PARAMSET = "kubernetes:networking.gke.io/v1:GKENetworkParamSet"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
PV = "kubernetes:core/v1:PersistentVolume"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
KSA = "kubernetes:core/v1:ServiceAccount"


def gpu_cluster(family: str, machine: str, zone: str, *, nodes: int, kind: str = "pretraining", provisioning=None, gke=None, storage=None, **extra):
    """Build a ClusterNetwork for the family, optional ClusterStorage, and a GkeCluster; returns (registrations, cluster)."""
    fam = catalog().family(family)
    gpus = catalog().shape(machine).gpus
    holder = {}

    def program():
        accel = [{"family": family, "zone": zone}] if fam.gpudirect != GpuDirect.NONE else []
        net = ClusterNetwork("env", {"region": region_of(zone), "accelerator_networks": accel})
        args = {
            "environment": "test",
            "region": region_of(zone),
            "zone": zone,
            "workload": {"kind": kind, "accelerators": nodes * gpus, **extra.pop("workload", {})},
            "machine_type": machine,
            "nodes": nodes,
            "provisioning": provisioning or {"model": "on-demand"},
            "network": net.attachment(family, zone, gpus),
            **extra,
        }
        if gke is not None:
            args["gke"] = gke
        if storage is not None:
            st = ClusterStorage(
                "st",
                {
                    "environment": "test", "cluster": "c", "workload": kind, "region": region_of(zone), "zone": zone, "path": "gke",
                    "network": net.host_network, "private_services_range": net.private_services_range, "storage": storage,
                },
            )
            args.update(bucket=st.bucket_name, volumes=storage_volumes(StorageSpec.model_validate(storage), st))
        holder["cluster"] = GkeCluster("c", args)

    return mocked(program), holder["cluster"]


def tpu_cluster(tpu: dict, zone: str, *, kind: str = "pretraining", provisioning=None, gke=None, accelerators: int = 16):
    holder = {}

    def program():
        net = ClusterNetwork("env", {"region": region_of(zone)})
        args = {
            "environment": "test",
            "region": region_of(zone),
            "zone": zone,
            "workload": {"kind": kind, "accelerators": accelerators},
            "tpu": tpu,
            "provisioning": provisioning or {"model": "on-demand"},
            "network": {
                "host_network": net.host_network,
                "host_subnetwork": net.host_subnetwork,
                "pods_range_name": net.pods_range_name,
                "services_range_name": net.services_range_name,
            },
        }
        if gke is not None:
            args["gke"] = gke
        holder["cluster"] = GkeCluster("t", args)

    return mocked(program), holder["cluster"]


def output(value):
    """The resolved value of a component output (mocks resolve them synchronously)."""
    from pulumi.runtime.sync_await import _sync_await

    return _sync_await(value.future())


def accelerator_pools(reg):
    return [p for p in reg.of_type(NODE_POOL) if not p.name.endswith("-system")]


# ---- the cluster ----------------------------------------------------------------------------------

def test_the_cluster_is_private_vpc_native_with_workload_identity_and_dataplane_v2():
    reg, _ = gpu_cluster("g2", "g2-standard-8", "us-central1-a", nodes=2, kind="inference")
    c = reg.one(CLUSTER).inputs
    assert c["privateClusterConfig"] == {"enablePrivateNodes": True, "enablePrivateEndpoint": True}
    assert "masterAuthorizedNetworksConfig" not in c, "no public endpoint, so no ranges to authorize"
    assert c["controlPlaneEndpointsConfig"] == {"dnsEndpointConfig": {"allowExternalTraffic": True}}
    assert c["workloadIdentityConfig"] == {"workloadPool": "mock-project.svc.id.goog"}
    assert c["datapathProvider"] == "ADVANCED_DATAPATH"
    assert c["networkingMode"] == "VPC_NATIVE"
    assert c["ipAllocationPolicy"] == {"clusterSecondaryRangeName": "env-pods", "servicesSecondaryRangeName": "env-services"}
    assert c["network"].endswith("/global/networks/env-host") and c["subnetwork"].endswith("/subnetworks/env-host")
    assert "enableMultiNetworking" not in c, "G2 has no GPU NICs"
    assert c["releaseChannel"] == {"channel": "REGULAR"}
    assert c["deletionProtection"] is True
    assert c["removeDefaultNodePool"] is True
    assert c["location"] == "us-central1"
    assert c["monitoringConfig"] == {"enableComponents": ["SYSTEM_COMPONENTS", "DCGM"], "managedPrometheus": {"enabled": True}}
    assert c["nodeConfig"]["serviceAccount"] == "c-nodes@mock-project.iam.gserviceaccount.com", "even the default pool never runs as the default account"
    assert c["resourceLabels"]["ai-cluster"] == "c" and "ai-accelerators" not in c["resourceLabels"], "the cluster carries no accelerators"
    system = reg.one(NODE_POOL, "c-system").inputs
    assert system["nodeConfig"]["machineType"] == catalog().data.gke.system_pool.machine_type
    assert system["autoscaling"] == {"totalMinNodeCount": 1, "totalMaxNodeCount": 3}
    assert system["networkConfig"] == {"enablePrivateNodes": True}
    roles = {m.inputs["role"] for m in reg.of_type("gcp:projects/iAMMember:IAMMember")}
    assert roles == {"roles/container.defaultNodeServiceAccount", "roles/artifactregistry.reader"}


def test_a_public_endpoint_is_limited_to_the_authorized_networks():
    gke = {"public_endpoint": True, "authorized_networks": [{"cidr": "203.0.113.0/24", "name": "office"}], "regional": False, "release_channel": "STABLE"}
    reg, cluster = gpu_cluster("g2", "g2-standard-8", "us-central1-a", nodes=1, kind="inference", gke=gke)
    c = reg.one(CLUSTER).inputs
    assert c["privateClusterConfig"]["enablePrivateEndpoint"] is False
    assert c["masterAuthorizedNetworksConfig"] == {
        "cidrBlocks": [{"cidrBlock": "203.0.113.0/24", "displayName": "office"}],
        "gcpPublicCidrsAccessEnabled": False,
    }
    assert c["location"] == "us-central1-a" and c["releaseChannel"] == {"channel": "STABLE"}


def test_outputs_name_the_cluster_its_pools_and_a_kubeconfig_for_the_dns_endpoint():
    reg, cluster = gpu_cluster("g2", "g2-standard-8", "us-central1-a", nodes=2, kind="inference")
    assert output(cluster.cluster_name) == "c"
    assert output(cluster.node_pools) == ["c-gpu"]
    assert output(cluster.system_node_pool) == "c-system"
    endpoint = output(cluster.endpoint)
    assert endpoint.endswith(".us-central1.gke.goog")
    config = json.loads(output(cluster.kubeconfig))
    assert config["clusters"][0]["cluster"] == {"server": f"https://{endpoint}"}
    assert config["users"][0]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert output(cluster.node_selector) == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    assert output(cluster.get_credentials_command).endswith("--dns-endpoint")
    assert output(cluster.pod_networks) == [] and output(cluster.gpudirect) == "none"


# ---- GPU node pools -------------------------------------------------------------------------------

def test_l4_inference_autoscales_from_one_warm_node_with_the_gke_managed_driver():
    reg, _ = gpu_cluster("g2", "g2-standard-8", "us-central1-a", nodes=4, kind="inference", workload={"latency_ms": 150})
    (pool,) = accelerator_pools(reg)
    x = pool.inputs
    cfg = x["nodeConfig"]
    assert cfg["machineType"] == "g2-standard-8"
    assert cfg["guestAccelerators"] == [{"type": "nvidia-l4", "count": 1, "gpuDriverInstallationConfig": {"gpuDriverVersion": "LATEST"}}]
    assert x["autoscaling"] == {"totalMinNodeCount": 1, "totalMaxNodeCount": 4}
    assert x["initialNodeCount"] == 1 and "nodeCount" not in x
    assert cfg["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    assert cfg["gvnic"] == {"enabled": True} and cfg["imageType"] == "COS_CONTAINERD"
    assert cfg["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert cfg["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
    assert x["networkConfig"] == {"enablePrivateNodes": True}, "no GPU NICs on G2"
    assert "placementPolicy" not in x and "queuedProvisioning" not in x
    assert x["nodeLocations"] == ["us-central1-a"]
    labels = cfg["resourceLabels"]
    assert labels["ai-workload"] == "inference" and labels["ai-latency-ms"] == "150"
    assert labels["ai-min-replicas"] == "1" and labels["ai-accelerators"] == "4" and labels["ai-nodes"] == "4"
    assert cfg["labels"] == labels, "the contract labels are Kubernetes node labels too"


@pytest.mark.parametrize("strategy, api", [("time-sharing", "TIME_SHARING"), ("mps", "MPS")])
def test_small_inference_shares_gpus(strategy, api):
    gke = {"gpu_sharing": {"strategy": strategy, "max_clients": 4}, "gpu_driver": "default"}
    reg, _ = gpu_cluster("g2", "g2-standard-8", "us-central1-a", nodes=1, kind="inference", gke=gke)
    (acc,) = accelerator_pools(reg)[0].inputs["nodeConfig"]["guestAccelerators"]
    assert acc["gpuSharingConfig"] == {"gpuSharingStrategy": api, "maxSharedClientsPerGpu": 4}
    assert acc["gpuDriverInstallationConfig"] == {"gpuDriverVersion": "DEFAULT"}


def gpu_nic_expectations(reg, family_id, pool):
    """Every additional node network of the pool, in order, against the family's NIC plan and the VPCs' MTU/profile."""
    fam = catalog().family(family_id)
    networks = {n.inputs["name"]: n.inputs for n in reg.of_type(NETWORK)}
    subnets = {s.inputs["name"]: s.inputs for s in reg.of_type(SUBNET)}
    extra = pool["networkConfig"]["additionalNodeNetworkConfigs"]
    plan = extra_nic_plan(fam)
    assert len(extra) == len(plan)
    for nic, (nic_type, mtu, roce) in zip(extra, plan):
        net = networks[nic["network"]]
        assert net["mtu"] == mtu
        assert ("networkProfile" in net) is roce
        assert subnets[nic["subnetwork"]]["network"].endswith(f"/networks/{nic['network']}")
    return extra


def test_a3_mega_dws_training_queues_for_all_nodes_with_eight_tcpxo_nics():
    reg, cluster = gpu_cluster(
        "a3-mega", "a3-megagpu-8g", "us-central1-a", nodes=4, provisioning={"model": "flex-start", "max_run_hours": 72},
        storage={"bucket": {}, "lustre": {"capacity_gb": 18000, "throughput_mbps_per_tib": 500}},
    )
    (pool,) = accelerator_pools(reg)
    x = pool.inputs
    cfg = x["nodeConfig"]
    assert cfg["machineType"] == "a3-megagpu-8g"
    assert cfg["guestAccelerators"][0]["type"] == "nvidia-h100-mega-80gb" and cfg["guestAccelerators"][0]["count"] == 8
    assert x["queuedProvisioning"] == {"enabled": True}
    assert cfg["flexStart"] is True and "maxRunDuration" not in cfg, "a queued request carries its run duration itself"
    assert x["autoscaling"] == {"totalMinNodeCount": 0, "totalMaxNodeCount": 4, "locationPolicy": "ANY"}
    assert cfg["reservationAffinity"] == {"consumeReservationType": "NO_RESERVATION"}
    assert x["management"] == {"autoRepair": False, "autoUpgrade": True}
    assert "placementPolicy" not in x, "Dynamic Workload Scheduler places queued nodes itself"
    assert cfg["ephemeralStorageLocalSsdConfig"] == {"localSsdCount": 16}
    extra = gpu_nic_expectations(reg, "a3-mega", x)
    assert [n["network"] for n in extra] == [f"env-gpu-{i}" for i in range(8)]
    assert reg.one(CLUSTER).inputs["enableMultiNetworking"] is True
    # One GKENetworkParamSet + Network per NIC, named as Google's guides name them.
    names = [f"vpc{i}" for i in range(1, 9)]
    params = {p.inputs["metadata"]["name"]: p.inputs["spec"] for p in reg.of_type(PARAMSET)}
    assert sorted(params) == sorted(names)
    for name, nic in zip(names, extra):
        assert params[name] == {"vpc": nic["network"], "vpcSubnet": nic["subnetwork"], "deviceMode": "NetDevice"}
    nets = {n.inputs["metadata"]["name"]: n.inputs["spec"] for n in reg.of_type(K8S_NETWORK)}
    assert nets["vpc3"] == {"type": "Device", "parametersRef": {"group": "networking.gke.io", "kind": "GKENetworkParamSet", "name": "vpc3"}}
    assert output(cluster.pod_networks) == names
    interfaces = json.loads(output(cluster.pod_network_annotations)["networking.gke.io/interfaces"])
    assert interfaces[0] == {"interfaceName": "eth0", "network": "default"} and interfaces[8] == {"interfaceName": "eth8", "network": "vpc8"}
    # GPUDirect-TCPXO as Google documents it: the NCCL plugin installer and the NRI device injector.
    daemonsets = {d.inputs["metadata"]["name"]: d.inputs for d in reg.of_type(DAEMONSET)}
    assert set(daemonsets) == {"nccl-tcpxo-installer", "device-injector"}
    tcpxo = catalog().data.gke.gpudirect_for(GpuDirect.TCPXO)
    pod = daemonsets["nccl-tcpxo-installer"]["spec"]["template"]["spec"]
    assert [c["image"] for c in pod["initContainers"]] == [c.image for c in tcpxo.nccl_installers[0].init_containers]
    assert pod["initContainers"][1]["image"].endswith("nccl-plugin-gpudirecttcpx-dev:v1.0.15")
    term = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    assert term["matchExpressions"] == [{"key": "cloud.google.com/gke-accelerator", "operator": "In", "values": ["nvidia-h100-mega-80gb"]}]
    assert pod["hostNetwork"] is True and pod["tolerations"] == [{"operator": "Exists"}]
    assert daemonsets["device-injector"]["metadata"]["namespace"] == "kube-system"
    assert output(cluster.gpudirect_sidecar_image) == tcpxo.workload_sidecar_image
    # Storage: the Lustre CSI driver on its GKE port, and static volumes bound to the instances.
    addons = reg.one(CLUSTER).inputs["addonsConfig"]
    assert addons["lustreCsiDriverConfig"] == {"enabled": True, "enableLegacyLustrePort": True}
    assert addons["gcsFuseCsiDriverConfig"] == {"enabled": True}


def test_single_node_flex_start_vms_scale_from_zero_with_a_run_limit():
    reg, _ = gpu_cluster("a3-high", "a3-highgpu-8g", "us-central1-a", nodes=1, kind="finetuning", provisioning={"model": "flex-start", "max_run_hours": 24})
    x = accelerator_pools(reg)[0].inputs
    assert "queuedProvisioning" not in x and x["nodeConfig"]["flexStart"] is True
    assert x["nodeConfig"]["maxRunDuration"] == f"{24 * 3600}s"
    assert x["autoscaling"] == {"totalMinNodeCount": 0, "totalMaxNodeCount": 1, "locationPolicy": "ANY"}


def test_a3_ultra_flex_start_may_be_placed_compactly_without_a_queue():
    gke = {"queued_provisioning": False}
    reg, _ = gpu_cluster("a3-ultra", "a3-ultragpu-8g", "us-central1-b", nodes=2, provisioning={"model": "flex-start"}, gke=gke)
    x = accelerator_pools(reg)[0].inputs
    assert x["placementPolicy"] == {"type": "COMPACT"} and "queuedProvisioning" not in x


def test_a3_ultra_reserved_training_gets_the_rdma_networks_compact_placement_and_gib():
    reg, cluster = gpu_cluster(
        "a3-ultra", "a3-ultragpu-8g", "us-central1-b", nodes=2, provisioning={"model": "reservation", "reservation": "ultra-res"}
    )
    (pool,) = accelerator_pools(reg)
    x = pool.inputs
    assert x["placementPolicy"] == {"type": "COMPACT"}
    assert x["nodeCount"] == 2 and "autoscaling" not in x
    assert x["nodeConfig"]["reservationAffinity"] == {
        "consumeReservationType": "SPECIFIC_RESERVATION",
        "key": "compute.googleapis.com/reservation-name",
        "values": ["ultra-res"],
    }
    assert x["nodeConfig"]["ephemeralStorageLocalSsdConfig"] == {"localSsdCount": 32}
    extra = gpu_nic_expectations(reg, "a3-ultra", x)
    assert extra[0]["network"] == "env-gvnic-1" and {n["network"] for n in extra[1:]} == {"env-roce-b"}
    params = {p.inputs["metadata"]["name"]: p.inputs["spec"] for p in reg.of_type(PARAMSET)}
    assert params["gvnic-1"]["deviceMode"] == "NetDevice"
    assert [params[f"rdma-{i}"]["vpcSubnet"] for i in range(8)] == [f"env-roce-b-{i}" for i in range(8)]
    assert all(params[f"rdma-{i}"]["deviceMode"] == "RDMA" for i in range(8))
    assert output(cluster.pod_networks) == ["gvnic-1"] + [f"rdma-{i}" for i in range(8)]
    (ds,) = reg.of_type(DAEMONSET)
    assert ds.inputs["metadata"]["name"] == "nccl-rdma-installer", "RDMA needs no NRI device injector"
    assert ds.inputs["spec"]["template"]["spec"]["initContainers"][0]["image"].endswith("nccl-plugin-gib:v1.1.1")


def test_a4x_pools_follow_a_workload_policy_and_get_the_arm64_gib_installer():
    reg, _ = gpu_cluster("a4x", "a4x-highgpu-4g", "us-central1-a", nodes=2, provisioning={"model": "reservation", "reservation": "gb200"})
    policy = reg.one("gcp:compute/resourcePolicy:ResourcePolicy").inputs
    assert policy["workloadPolicy"] == {"type": "HIGH_THROUGHPUT", "acceleratorTopology": "1x72"} and policy["region"] == "us-central1"
    (pool,) = accelerator_pools(reg)
    assert pool.inputs["placementPolicy"] == {"type": "COMPACT", "policyName": "c-workload-policy"}
    assert len(gpu_nic_expectations(reg, "a4x", pool.inputs)) == 5
    (ds,) = reg.of_type(DAEMONSET)
    pod = ds.inputs["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["image"].endswith("nccl-plugin-gib-arm64:v1.1.0")
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"]
    assert terms[1] == {"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]}


def test_a3_high_on_demand_training_is_compact_with_four_tcpx_nics():
    reg, _ = gpu_cluster("a3-high", "a3-highgpu-8g", "us-central1-a", nodes=2)
    (pool,) = accelerator_pools(reg)
    assert pool.inputs["placementPolicy"] == {"type": "COMPACT"}
    assert "reservationAffinity" not in pool.inputs["nodeConfig"]
    assert len(gpu_nic_expectations(reg, "a3-high", pool.inputs)) == 4
    names = {d.inputs["metadata"]["name"] for d in reg.of_type(DAEMONSET)}
    assert names == {"nccl-tcpx-installer", "device-injector"}


def test_spot_inference_uses_no_reservation_and_in_cluster_objects_can_be_left_out():
    gke = {"in_cluster_objects": False, "local_ssd": False}
    reg, cluster = gpu_cluster("a3-high", "a3-highgpu-8g", "us-central1-a", nodes=1, kind="finetuning", provisioning={"model": "spot"}, gke=gke)
    cfg = accelerator_pools(reg)[0].inputs["nodeConfig"]
    assert cfg["spot"] is True and cfg["reservationAffinity"] == {"consumeReservationType": "NO_RESERVATION"}
    assert "ephemeralStorageLocalSsdConfig" not in cfg
    assert not [r for r in reg.all if r.type.startswith("kubernetes:") or r.type.startswith("pulumi:providers:kubernetes")]
    assert output(cluster.pod_networks) == ["vpc1", "vpc2", "vpc3", "vpc4"], "the names still tell pods what to annotate"


def test_storage_becomes_static_volumes_and_workload_identity_for_the_bucket():
    holder = {}

    def program():
        net = ClusterNetwork("env", {"region": "us-central1"})
        st = ClusterStorage(
            "st",
            {
                "environment": "test", "cluster": "c", "workload": "inference", "region": "us-central1", "zone": "us-central1-a", "path": "gke",
                "network": net.host_network, "private_services_range": net.private_services_range,
                "storage": {"filestore": {"capacity_gb": 1024}, "hyperdisk_ml": {"size_gb": 100, "source_snapshot": "weights"}},
            },
        )
        spec = StorageSpec.model_validate({"filestore": {"capacity_gb": 1024}, "hyperdisk_ml": {"size_gb": 100, "source_snapshot": "weights"}})
        holder["c"] = GkeCluster(
            "c",
            {
                "environment": "test", "region": "us-central1", "zone": "us-central1-a",
                "workload": {"kind": "inference", "accelerators": 1}, "machine_type": "g2-standard-8",
                "network": net.attachment("g2", "us-central1-a"), "bucket": st.bucket_name,
                "volumes": storage_volumes(spec, st), "gke": {"namespace": "serving"},
            },
        )

    reg = mocked(program)
    pvs = {p.inputs["metadata"]["name"]: p.inputs["spec"] for p in reg.of_type(PV)}
    assert set(pvs) == {"c-data", "c-filestore", "c-models"}
    fs = pvs["c-filestore"]
    assert fs["csi"]["driver"] == "filestore.csi.storage.gke.io"
    assert fs["csi"]["volumeHandle"] == "modeInstance/us-central1-a/st-fs/share"
    assert fs["csi"]["volumeAttributes"]["volume"] == "share" and fs["csi"]["volumeAttributes"]["ip"].startswith("10.0.")
    assert fs["persistentVolumeReclaimPolicy"] == "Retain" and fs["accessModes"] == ["ReadWriteMany"]
    assert fs["claimRef"] == {"namespace": "serving", "name": "filestore"}
    models = pvs["c-models"]
    assert models["csi"]["driver"] == "pd.csi.storage.gke.io" and models["accessModes"] == ["ReadOnlyMany"]
    assert models["csi"]["volumeHandle"] == "projects/mock-project/zones/us-central1-a/disks/st-models" and models["csi"]["readOnly"] is True
    data = pvs["c-data"]
    assert data["csi"]["driver"] == "gcsfuse.csi.storage.gke.io" and data["mountOptions"] == ["implicit-dirs"]
    claims = {c.inputs["metadata"]["name"]: c.inputs for c in reg.of_type(PVC)}
    assert claims["models"]["spec"]["volumeName"] == "c-models" and claims["models"]["metadata"]["namespace"] == "serving"
    assert reg.one("kubernetes:core/v1:Namespace").inputs["metadata"]["name"] == "serving"
    ksa = reg.one(KSA).inputs["metadata"]
    assert (ksa["name"], ksa["namespace"]) == ("c-workload", "serving")
    assert ksa["annotations"] == {"iam.gke.io/gcp-service-account": "c-workload@mock-project.iam.gserviceaccount.com"}
    binding = reg.one("gcp:serviceaccount/iAMMember:IAMMember").inputs
    assert binding["role"] == "roles/iam.workloadIdentityUser"
    assert binding["member"] == "serviceAccount:mock-project.svc.id.goog[serving/c-workload]"
    bucket = reg.one("gcp:storage/bucketIAMMember:BucketIAMMember").inputs
    assert bucket["role"] == "roles/storage.objectUser" and bucket["member"].startswith("serviceAccount:c-workload@")
    addons = reg.one(CLUSTER).inputs["addonsConfig"]
    assert addons["gcpFilestoreCsiDriverConfig"] == {"enabled": True} and addons["gcsFuseCsiDriverConfig"] == {"enabled": True}
    assert addons["lustreCsiDriverConfig"] == {"enabled": False}
    assert output(holder["c"].volume_claims) == ["data", "filestore", "models"]


# ---- TPU node pools -------------------------------------------------------------------------------

def test_a_multi_host_v5e_slice_is_one_compact_pool_with_its_topology():
    reg, cluster = tpu_cluster({"type": "v5litepod-16"}, "us-central1-a")
    (pool,) = accelerator_pools(reg)
    x = pool.inputs
    cfg = x["nodeConfig"]
    assert cfg["machineType"] == "ct5lp-hightpu-4t"
    assert x["nodeCount"] == 4, "16 chips / 4 chips per node"
    assert x["placementPolicy"] == {"type": "COMPACT", "tpuTopology": "4x4"}
    assert "guestAccelerators" not in cfg
    assert cfg["taints"] == [{"key": "google.com/tpu", "value": "present", "effect": "NO_SCHEDULE"}]
    assert cfg["resourceLabels"]["ai-accelerators"] == "16"
    assert reg.one(CLUSTER).inputs["monitoringConfig"]["enableComponents"] == ["SYSTEM_COMPONENTS"], "no DCGM without GPUs"
    assert output(cluster.node_selector) == {"cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice", "cloud.google.com/gke-tpu-topology": "4x4"}
    assert not reg.of_type(DAEMONSET) and not reg.of_type(K8S_NETWORK)


def test_a_v6e_multislice_gets_one_node_pool_per_slice():
    reg, cluster = tpu_cluster({"generation": "v6e", "topology": "4x4", "slices": 2}, "us-central1-b", provisioning={"model": "spot"}, accelerators=32)
    pools = sorted(accelerator_pools(reg), key=lambda p: p.name)
    assert [p.name for p in pools] == ["t-tpu-0", "t-tpu-1"]
    for p in pools:
        assert p.inputs["nodeConfig"]["machineType"] == "ct6e-standard-4t" and p.inputs["nodeCount"] == 4
        assert p.inputs["placementPolicy"]["tpuTopology"] == "4x4" and p.inputs["nodeConfig"]["spot"] is True
    assert output(cluster.node_pools) == ["t-tpu-0", "t-tpu-1"]


def test_a_flex_start_v5p_slice_queues_and_scales_from_zero():
    reg, _ = tpu_cluster({"type": "v5p-32"}, "us-east5-a", provisioning={"model": "flex-start"})
    (pool,) = accelerator_pools(reg)
    x = pool.inputs
    assert x["nodeConfig"]["machineType"] == "ct5p-hightpu-4t"
    assert x["queuedProvisioning"] == {"enabled": True} and x["nodeConfig"]["flexStart"] is True
    assert x["autoscaling"]["totalMaxNodeCount"] == 4 and x["autoscaling"]["totalMinNodeCount"] == 0
    assert x["placementPolicy"] == {"type": "COMPACT", "tpuTopology": "2x2x4"}, "TPU slices keep their topology with queued provisioning"


def test_a_single_host_v6e_serves_on_one_node_without_a_topology():
    reg, _ = tpu_cluster({"type": "v6e-8"}, "us-central1-b", kind="inference", accelerators=8)
    (pool,) = accelerator_pools(reg)
    assert pool.inputs["nodeConfig"]["machineType"] == "ct6e-standard-8t" and pool.inputs["nodeCount"] == 1
    assert "placementPolicy" not in pool.inputs


# ---- bad input ------------------------------------------------------------------------------------

def attempt(errors, name="bad", **over):
    args = {
        "environment": "test", "region": "us-central1", "zone": "us-central1-a",
        "workload": {"kind": "inference", "accelerators": 2}, "machine_type": "g2-standard-8",
        "network": {"host_network": "h", "host_subnetwork": "s", "pods_range_name": "p", "services_range_name": "v"},
    }
    args.update(over)
    try:
        GkeCluster(name, args)
    except SpecError as exc:
        errors.append(str(exc))
        return
    errors.append("")


def test_bad_input_fails_with_one_error_naming_every_key_and_registers_nothing():
    errors: list[str] = []

    def program():
        attempt(errors, gke={"public_endpoint": True})
        attempt(errors, gke={"queued_provisioning": True, "gpu_sharing": {"max_clients": 64}}, workload={"kind": "pretraining", "accelerators": 2})
        attempt(errors, gke={"autoscaling": {"min_nodes": 0}}, workload={"kind": "inference", "accelerators": 2, "latency_ms": 100})
        attempt(
            errors, machine_type=None, tpu={"type": "v5litepod-16"},
            gke={"gpu_sharing": {"max_clients": 2}, "autoscaling": {"min_nodes": 1}}, workload={"kind": "pretraining", "accelerators": 16},
        )
        attempt(
            errors, machine_type="a3-megagpu-8g", nodes=4, provisioning={"model": "flex-start"}, gke={"queued_provisioning": False},
            workload={"kind": "pretraining", "accelerators": 32},
        )
        attempt(errors, machine_type="a3-ultragpu-8g", zone="us-central1-b", provisioning={"model": "spot"}, workload={"kind": "pretraining", "accelerators": 8},
                network={"host_network": "h", "host_subnetwork": "s"})
        attempt(errors, nodes=2, gke={"autoscaling": {"max_nodes": 3}, "system_pool": {"machine_type": "a2-highgpu-1g"}})
        attempt(errors, volumes=[{"name": "x", "kind": "nfs", "volume_handle": "h", "capacity_gib": 1}])
        attempt(errors, machine_type="a3-megagpu-8g", nodes=2, provisioning={"model": "flex-start"}, gke={"compact_placement": True},
                workload={"kind": "pretraining", "accelerators": 16})

    reg = mocked(program)
    assert reg.all == [], "nothing is half-created"
    assert "gke: publicEndpoint needs authorizedNetworks" in errors[0]
    assert "gke.queuedProvisioning: queued provisioning is Dynamic Workload Scheduler capacity: it needs provisioning flex-start, not on-demand" in errors[1]
    assert "gke.gpuSharing: GPU sharing is for small inference and graphics workloads, not pretraining" in errors[1]
    assert "gke.gpuSharing.maxClients: GKE shares a GPU among at most 48 containers, not 64" in errors[1]
    assert "gke.autoscaling.minNodes: a 100 ms latency target needs at least one warm node" in errors[2]
    assert "gke.gpuSharing: applies to GPU node pools, not TPUs" in errors[3]
    assert "gke.autoscaling: a multi-host v5litepod-16 slice runs all 4 hosts or none" in errors[3]
    assert "gke.queuedProvisioning: 4 flex-start nodes of A3 Mega need queued provisioning" in errors[4]
    assert "network.podsRangeName: is required" in errors[5] and "network: A3 Ultra needs 9 NICs after nic0 (1 GVNIC, 8 MRDMA)" in errors[5]
    assert "gke.autoscaling.maxNodes: 3 disagrees with nodes 2" in errors[6]
    assert "gke.systemPool.machineType: a2-highgpu-1g is an accelerator machine type" in errors[6], "reported together"
    assert "volumes[0].kind: 'nfs' is not one of gcsfuse, filestore, lustre, parallelstore, hyperdisk-ml" in errors[7]
    assert "gke.compactPlacement: GKE does not place queued-provisioning GPU node pools compactly" in errors[8]


def test_more_bad_input():
    errors: list[str] = []

    def program():
        attempt(errors, gke={"system_pool": {"machine_type": "a2-highgpu-1g"}, "local_ssd": True})
        attempt(errors, machine_type=None, tpu={"type": "v5litepod-16", "runtime_version": "v2-alpha-tpuv5-lite"}, workload={"kind": "pretraining", "accelerators": 16},
                network={"host_network": "h", "host_subnetwork": "s", "pods_range_name": "p", "services_range_name": "v",
                         "extra_nics": [{"network": "n", "subnetwork": "s", "nic_type": "GVNIC"}]})
        attempt(errors, gke={"authorized_networks": [{"cidr": "0.0.0.0/0"}], "public_endpoint": True, "bogus": 1})
        attempt(errors, gke={"gpudirect": True})

    reg = mocked(program)
    assert reg.all == []
    assert "gke.systemPool.machineType: a2-highgpu-1g is an accelerator machine type" in errors[0]
    assert "gke.localSsd: g2-standard-8 has no bundled Local SSD" in errors[0]
    assert "tpu.runtimeVersion: GKE installs the TPU runtime of its node image" in errors[1]
    assert "network.extraNics: TPU node pools use the host network only" in errors[1]
    assert "opens the control plane to the whole internet" in errors[2] and "gke.bogus: unknown key" in errors[2]
    assert "gke.gpudirect: G2 has no GPUDirect networking to install" in errors[3]


# ---- pure helpers ---------------------------------------------------------------------------------

def test_network_object_names_follow_googles_guides():
    from ai_clusters.core.enums import NicType

    rdma = catalog().data.gke.gpudirect_for(GpuDirect.RDMA).network_names
    tcpx = catalog().data.gke.gpudirect_for(GpuDirect.TCPXO).network_names
    assert network_object_names([NicType.GVNIC] + [NicType.MRDMA] * 8, rdma) == ["gvnic-1"] + [f"rdma-{i}" for i in range(8)]
    assert network_object_names([NicType.GVNIC] * 4, tcpx) == ["vpc1", "vpc2", "vpc3", "vpc4"]
    limit = catalog().data.gke.device_network_name_max
    assert all(len(n) <= limit for n in network_object_names([NicType.MRDMA] * 16, rdma))


def test_every_gpudirect_family_has_its_gke_enablement_and_local_ssd_counts_agree():
    cat = catalog()
    gke = cat.data.gke
    for fam in cat.families.values():
        if fam.gpudirect != GpuDirect.NONE and not fam.unsupported:
            assert fam.gpu.gke, f"{fam.id} has no GKE accelerator name"
            direct = gke.gpudirect_for(fam.gpudirect)
            assert direct is not None, fam.id
            arch = {"x86_64": None, "arm64": "arm64"}[fam.arch]
            assert any(d.arch == arch for d in direct.nccl_installers), f"no installer for {fam.id} ({fam.arch})"
    for machine, count in gke.local_ssd_ephemeral_counts.items():
        assert cat.machines[machine][1].local_ssd_gb == count * gke.local_ssd_disk_gb
