"""GkeCluster: a GKE Standard cluster with GPU or TPU node pools, ready for training and serving.

The cluster is VPC-native on the ClusterNetwork host subnet and its pods/services ranges, with
private nodes, an IAM-guarded DNS endpoint (the IP endpoint stays private unless the options open
it to named ranges), Workload Identity, Dataplane V2 (and multi-networking when the family has
GPU/RDMA NICs), a release channel, deletion protection, the CSI drivers the storage needs, Managed
Service for Prometheus with DCGM GPU metrics, and a small system node pool; the default pool is
removed. The accelerator pools are planned in `gke.plan` and built in `gke.node_pools`, the objects inside the cluster
(GPU NIC networks, GPUDirect installers, volumes, the workload's service account) in `gke.objects`.
"""

from typing import Optional, TypedDict

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
from pydantic.alias_generators import to_camel
from typing_extensions import NotRequired

from ai_clusters.core import labels as contract
from ai_clusters.gke import validation
from ai_clusters.blocks.args import GpuClusterArgs, NetworkAttachmentArgs
from ai_clusters.core.catalog import catalog
from ai_clusters.blocks.component import BuildContext, ClusterComponent
from ai_clusters.core.labels import cluster_labels
from ai_clusters.core.enums import (
    ClusterPath,
    GpuDirect,
    GpuDriverVersion,
    GpuSharingStrategy,
    NicType,
    ReleaseChannel,
    WorkloadKind,
)
from ai_clusters.gke.node_pools import accelerator_node_pools, system_node_pool
from ai_clusters.gke.options import GkeOptions
from ai_clusters.gke.plan import GkePlan, PoolPlan
from ai_clusters.gke.objects import (
    KubernetesVolumeArgs,
    device_networks,
    gpudirect_daemonsets,
    kubeconfig,
    network_object_names,
    pod_network_annotations,
    storage_volume,
)
from ai_clusters.blocks.iam import node_service_account
from ai_clusters.core.nics import check_attachment
from ai_clusters.core.naming import last_segment, service_account_id
from ai_clusters.core.spec import ResolvedCluster, StorageSpec
from ai_clusters.gke.args import AuthorizedNetworkArgs, AutoscalingArgs, GkeOptionsArgs, GkeTpuArgs, GpuSharingArgs, SystemPoolArgs

WORKLOAD_ROLE = "roles/storage.objectUser"  # the workload reads and writes its cluster's bucket, nothing else


# ---- args -----------------------------------------------------------------------------------------

class GkeClusterArgs(GpuClusterArgs):
    """Args of GkeCluster: a GPU `machine_type` (or N1 `gpu`), or a `tpu` slice."""

    network: NetworkAttachmentArgs
    """Where the nodes plug in (ClusterNetwork.attachment(family, zone)); its NIC list must be a plain list."""
    tpu: NotRequired[GkeTpuArgs]
    """A TPU slice instead of GPUs."""
    bucket: NotRequired[pulumi.Input[str]]
    """The cluster's data bucket: the workload's service account may read and write its objects."""
    volumes: NotRequired[list[KubernetesVolumeArgs]]
    """Shared storage for pods (the program builds these from ClusterStorage with storage_volumes)."""
    gke: NotRequired[GkeOptionsArgs]
    """Options of this path."""


# ---- checks before anything is registered -----------------------------------------------------------

def _network_problems(resolved: ResolvedCluster, network, add) -> None:
    if not isinstance(network, dict):
        add("network", "must be a plain attachment (ClusterNetwork.attachment(family, zone)); its links may be Outputs")
        return
    for key in ("host_network", "host_subnetwork", "pods_range_name", "services_range_name"):
        if not network.get(key):
            add(f"network.{to_camel(key)}", "is required: GKE is VPC-native on the host subnet and its pods and services ranges")
    nics = network.get("extra_nics") or []
    if isinstance(nics, pulumi.Output):
        add("network.extraNics", "must be a plain list: each NIC becomes a node network and a Network object")
        return
    if resolved.shape is not None:
        for message in check_attachment(resolved.shape.family, resolved.shape.gpus, network):
            add("network", message)
    elif nics:
        add("network.extraNics", "TPU node pools use the host network only; give an attachment without extra NICs")


def _volume_problems(volumes, add) -> None:
    drivers = catalog().data.gke.csi_drivers
    if not isinstance(volumes, list):
        add("volumes", "must be a plain list: each volume becomes a PersistentVolume and a claim")
        return
    seen: set[str] = set()
    for i, v in enumerate(volumes):
        if v.get("kind") not in drivers:
            add(f"volumes[{i}].kind", f"{v.get('kind')!r} is not one of {', '.join(drivers)}")
        if v.get("name") in seen:
            add(f"volumes[{i}].name", f"{v.get('name')!r} is given twice")
        seen.add(v.get("name"))


def _gke_cluster(
    name: str,
    resolved: ResolvedCluster,
    plan: PoolPlan,
    options: GkeOptions,
    *,
    network: dict,
    project: pulumi.Input[str],
    location: str,
    storage_kinds: set[str],
    node_account: pulumi.Input[str],
    labels: dict[str, str],
    parent: pulumi.Resource,
) -> gcp.container.Cluster:
    """The cluster itself: private, VPC-native, Workload Identity, Dataplane V2, the storage's CSI drivers."""
    return gcp.container.Cluster(
        name,
        name=name,
        location=location,
        project=project,
        description=f"ai-clusters {resolved.spec.workload.kind.value} cluster of {resolved.environment}",
        network=network["host_network"],
        subnetwork=network["host_subnetwork"],
        networking_mode="VPC_NATIVE",
        ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
            cluster_secondary_range_name=network["pods_range_name"],
            services_secondary_range_name=network["services_range_name"],
        ),
        datapath_provider="ADVANCED_DATAPATH",  # Dataplane V2; multi-networking requires it
        enable_multi_networking=True if network.get("extra_nics") else None,
        private_cluster_config=gcp.container.ClusterPrivateClusterConfigArgs(
            enable_private_nodes=True,
            enable_private_endpoint=not options.public_endpoint,
            master_ipv4_cidr_block=options.master_ipv4_cidr,
        ),
        master_authorized_networks_config=gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
            cidr_blocks=[
                gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(cidr_block=n.cidr, display_name=n.name or n.cidr)
                for n in options.authorized_networks
            ],
            gcp_public_cidrs_access_enabled=False,
        )
        if options.public_endpoint
        else None,
        control_plane_endpoints_config=gcp.container.ClusterControlPlaneEndpointsConfigArgs(
            dns_endpoint_config=gcp.container.ClusterControlPlaneEndpointsConfigDnsEndpointConfigArgs(allow_external_traffic=options.dns_endpoint)
        ),
        workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(workload_pool=pulumi.Output.concat(project, ".svc.id.goog")),
        release_channel=gcp.container.ClusterReleaseChannelArgs(channel=options.release_channel.value),
        deletion_protection=options.deletion_protection if options.deletion_protection is not None else resolved.protect_data,
        remove_default_node_pool=True,
        initial_node_count=1,
        node_config=gcp.container.ClusterNodeConfigArgs(  # the default pool lives only until it is removed
            service_account=node_account,
            oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
            shielded_instance_config=gcp.container.ClusterNodeConfigShieldedInstanceConfigArgs(enable_secure_boot=True, enable_integrity_monitoring=True),
        ),
        enable_shielded_nodes=True,
        addons_config=_addons(storage_kinds),
        monitoring_config=gcp.container.ClusterMonitoringConfigArgs(
            enable_components=["SYSTEM_COMPONENTS", *(["DCGM"] if plan.kind == "gpu" and options.dcgm_metrics else [])],
            managed_prometheus=gcp.container.ClusterMonitoringConfigManagedPrometheusArgs(enabled=True),
        ),
        logging_config=gcp.container.ClusterLoggingConfigArgs(enable_components=["SYSTEM_COMPONENTS", "WORKLOADS"]),
        maintenance_policy=gcp.container.ClusterMaintenancePolicyArgs(
            daily_maintenance_window=gcp.container.ClusterMaintenancePolicyDailyMaintenanceWindowArgs(start_time=options.maintenance_start_time)
        )
        if options.maintenance_start_time
        else None,
        cost_management_config=gcp.container.ClusterCostManagementConfigArgs(enabled=True),
        resource_labels=labels,
        opts=pulumi.ResourceOptions(parent=parent, ignore_changes=["nodeConfig", "initialNodeCount"]),
    )


def _addons(kinds: set[str]) -> gcp.container.ClusterAddonsConfigArgs:
    """The CSI drivers the cluster's storage needs (the persistent disk driver always: Hyperdisk ML, PVCs)."""
    lustre = "lustre" in kinds
    return gcp.container.ClusterAddonsConfigArgs(
        gce_persistent_disk_csi_driver_config=gcp.container.ClusterAddonsConfigGcePersistentDiskCsiDriverConfigArgs(enabled=True),
        gcs_fuse_csi_driver_config=gcp.container.ClusterAddonsConfigGcsFuseCsiDriverConfigArgs(enabled="gcsfuse" in kinds),
        gcp_filestore_csi_driver_config=gcp.container.ClusterAddonsConfigGcpFilestoreCsiDriverConfigArgs(enabled="filestore" in kinds),
        parallelstore_csi_driver_config=gcp.container.ClusterAddonsConfigParallelstoreCsiDriverConfigArgs(enabled="parallelstore" in kinds),
        # ClusterStorage creates GKE-path Lustre with gke_support_enabled (port 6988): the driver must use that port.
        lustre_csi_driver_config=gcp.container.ClusterAddonsConfigLustreCsiDriverConfigArgs(enabled=lustre, enable_legacy_lustre_port=True if lustre else None),
    )


# ---- the component --------------------------------------------------------------------------------

class GkeCluster(ClusterComponent):
    """A private GKE Standard cluster with GPU or TPU node pools, GPUDirect networking and storage."""

    secret_outputs = ("kubeconfig",)  # not annotated: no output itself; the package schema marks these secret

    cluster_name: pulumi.Output[str]
    """Name of the GKE cluster."""
    location: pulumi.Output[str]
    """Region (regional cluster) or zone of the control plane."""
    endpoint: pulumi.Output[str]
    """The control plane's address kubectl uses: its DNS name, or its IP when the DNS endpoint is off."""
    kubeconfig: pulumi.Output[str]
    """Kubeconfig (secret) that authenticates with gke-gcloud-auth-plugin."""
    get_credentials_command: pulumi.Output[str]
    """The gcloud command that writes this cluster's credentials."""
    node_pools: pulumi.Output[list[str]]
    """Names of the accelerator node pools (one per TPU slice)."""
    system_node_pool: pulumi.Output[str]
    """Name of the system node pool."""
    machine_type: pulumi.Output[str]
    """Machine type of the accelerator nodes."""
    node_selector: pulumi.Output[dict[str, str]]
    """Node labels a pod selects to land on the accelerator nodes."""
    pod_networks: pulumi.Output[list[str]]
    """The Network objects of the GPU/RDMA NICs, in NIC order (eth1, eth2 …)."""
    pod_network_annotations: pulumi.Output[dict[str, str]]
    """Annotations a pod carries to get an interface on every GPU/RDMA network."""
    gpudirect: pulumi.Output[str]
    """GPUDirect flavor of the nodes: tcpx, tcpxo, rdma or none."""
    gpudirect_sidecar_image: pulumi.Output[str]
    """The receive-datapath manager image GPUDirect-TCPX(O) workloads run beside NCCL (empty otherwise)."""
    volume_claims: pulumi.Output[list[str]]
    """PersistentVolumeClaims of the shared storage, in `namespace`."""
    namespace: pulumi.Output[str]
    """Namespace of the claims and the workload's service account."""
    workload_service_account: pulumi.Output[str]
    """Kubernetes service account that acts as the workload's Google service account (empty when none)."""
    workload_google_service_account: pulumi.Output[str]
    """Email of the workload's Google service account, with access to the bucket (empty when none)."""
    node_service_account: pulumi.Output[str]
    """Email of the nodes' service account."""
    validation_job: pulumi.Output[str]
    """A Job (one node) or JobSet (several) that runs the benchmark on the accelerator nodes, and NCCL all-reduce across GPUDirect nodes."""

    cluster_path = ClusterPath.GKE

    def __init__(
        self, name: str, args: GkeClusterArgs, opts: Optional[pulumi.ResourceOptions] = None, *, resolved: Optional[ResolvedCluster] = None
    ):
        super().__init__(name, args, opts, resolved=resolved)

    def check_wiring(self, resolved: ResolvedCluster, args: dict, add) -> None:
        _network_problems(resolved, args.get("network"), add)
        _volume_problems(args.get("volumes") or [], add)

    def build(self, name: str, resolved: ResolvedCluster, args: dict) -> None:
        gke: GkePlan = resolved.plan
        plan, options = gke.pools, gke.options
        self.plan, self.options = plan, options
        facts = catalog().data.gke
        assert facts is not None
        network: dict = args["network"]
        volumes: list[KubernetesVolumeArgs] = list(args.get("volumes") or [])
        bucket = args.get("bucket")
        project = self.project
        location = resolved.region if options.regional else resolved.zone
        inference = resolved.spec.workload.kind == WorkloadKind.INFERENCE
        labels = cluster_labels(resolved, min_replicas=plan.min_nodes if inference and plan.autoscaled else None)
        extra_nics = list(network.get("extra_nics") or [])

        identity = node_service_account(
            name,
            display=f"ai-clusters {resolved.environment}/{name} GKE nodes",
            project=project,
            parent=self,
            roles=facts.node_service_account_roles,
        )
        storage_kinds = {v["kind"] for v in volumes} | ({"gcsfuse"} if bucket else set())
        cluster = _gke_cluster(
            name, resolved, plan, options, network=network, project=project, location=location,
            storage_kinds=storage_kinds, node_account=identity.email, labels=contract.data_labels(labels), parent=self,
        )
        system = system_node_pool(
            name, options, cluster=cluster, location=location, zone=resolved.zone, project=project,
            service_account=identity.email, labels=contract.data_labels(labels), parent=self,
        )
        pools = accelerator_node_pools(
            name, plan, cluster=cluster, location=location, zone=resolved.zone, project=project,
            extra_nics=extra_nics, service_account=identity.email, labels=labels, parent=self,
        )
        ksa_name = f"{name}-workload"
        workload_account = self._workload_identity(name, project, bucket, options.namespace, ksa_name, cluster) if bucket else None

        family = resolved.shape.family if resolved.shape else None
        flavor = family.gpudirect if family else GpuDirect.NONE
        direct = facts.gpudirect_for(flavor)
        nic_types = [NicType(n["nic_type"]) for n in extra_nics]
        names = network_object_names(nic_types, direct.network_names) if direct and extra_nics else []
        self.endpoint = self._endpoint(cluster, options)
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(cluster.name, self.endpoint, cluster.master_auth).apply(
                lambda v: kubeconfig(v[0], v[1], None if options.dns_endpoint else _field(v[2], "cluster_ca_certificate"))
            )
        )
        if options.in_cluster_objects:
            provider = k8s.Provider(
                f"{name}-k8s", kubeconfig=self.kubeconfig, enable_server_side_apply=True, opts=pulumi.ResourceOptions(parent=self, depends_on=[system])
            )
            k8s_opts = pulumi.ResourceOptions(parent=self, provider=provider)
            if names:
                device_networks(name, names, extra_nics, k8s_opts)
            if family is not None and (options.gpudirect if options.gpudirect is not None else bool(names)):
                gpudirect_daemonsets(name, flavor, family.arch, plan.accelerator, k8s_opts)
            self._workload_objects(name, options.namespace, volumes, ksa_name, workload_account, k8s_opts)

        self.cluster_name = cluster.name
        self.location = pulumi.Output.from_input(location)
        self.get_credentials_command = pulumi.Output.concat(
            "gcloud container clusters get-credentials ", cluster.name, f" --location {location} --project ", project,
            " --dns-endpoint" if options.dns_endpoint else ("" if options.public_endpoint else " --internal-ip"),
        )
        self.node_pools = pulumi.Output.all(*[p.name for p in pools])
        self.system_node_pool = system.name
        self.machine_type = pulumi.Output.from_input(plan.machine_type)
        self.node_selector = pulumi.Output.from_input(_node_selector(plan))
        self.pod_networks = pulumi.Output.from_input(names)
        self.pod_network_annotations = pulumi.Output.from_input(pod_network_annotations(names))
        self.gpudirect = pulumi.Output.from_input(flavor.value)
        self.gpudirect_sidecar_image = pulumi.Output.from_input((direct.workload_sidecar_image if direct else None) or "")
        self.volume_claims = pulumi.Output.from_input([v["name"] for v in volumes] if options.in_cluster_objects else [])
        self.namespace = pulumi.Output.from_input(options.namespace)
        self.workload_service_account = pulumi.Output.from_input(ksa_name if workload_account and options.in_cluster_objects else "")
        self.workload_google_service_account = workload_account.email if workload_account else pulumi.Output.from_input("")
        self.node_service_account = identity.email
        tpu_slice = resolved.tpu
        self.validation_job = self.workload_service_account.apply(
            lambda ksa: validation.kubernetes_job(
                resolved,
                nodes=tpu_slice.vms if tpu_slice is not None else resolved.nodes,
                slices=plan.pools if tpu_slice is not None else 1,
                node_selector=_node_selector(plan),
                pod_annotations=pod_network_annotations(names),
                namespace=options.namespace,
                service_account=ksa,
            )
        )

    def _workload_objects(self, name, namespace, volumes, ksa_name, workload_account, opts: pulumi.ResourceOptions) -> None:
        """The namespace, the volumes and claims, and the Kubernetes service account of the workload."""
        if namespace != "default" and (volumes or workload_account):
            ns = k8s.core.v1.Namespace(f"{name}-namespace", metadata=k8s.meta.v1.ObjectMetaArgs(name=namespace), opts=opts)
            opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[ns]))
        for volume in volumes:
            storage_volume(name, volume, namespace, opts)
        if workload_account is not None:
            k8s.core.v1.ServiceAccount(
                f"{name}-workload",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=ksa_name, namespace=namespace, annotations={"iam.gke.io/gcp-service-account": workload_account.email}
                ),
                opts=opts,
            )

    def _workload_identity(self, name, project, bucket, namespace, ksa_name, cluster) -> gcp.serviceaccount.Account:
        """A Google service account for the workload, with the bucket, impersonated by the Kubernetes one."""
        child = pulumi.ResourceOptions(parent=self)
        account = gcp.serviceaccount.Account(
            f"{name}-workload",
            account_id=service_account_id(f"{name}-workload"),
            display_name=f"ai-clusters {name} workloads (Workload Identity)",
            project=project,
            opts=child,
        )
        gcp.storage.BucketIAMMember(
            f"{name}-workload-bucket", bucket=bucket, role=WORKLOAD_ROLE, member=account.email.apply(lambda e: f"serviceAccount:{e}"), opts=child
        )
        gcp.serviceaccount.IAMMember(
            f"{name}-workload-identity",
            service_account_id=account.name,
            role="roles/iam.workloadIdentityUser",
            member=pulumi.Output.concat("serviceAccount:", project, f".svc.id.goog[{namespace}/{ksa_name}]"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster]),  # the identity pool exists once the cluster does
        )
        return account

    @staticmethod
    def _endpoint(cluster: gcp.container.Cluster, options: GkeOptions) -> pulumi.Output[str]:
        if not options.dns_endpoint:
            return cluster.endpoint
        return pulumi.Output.all(cluster.control_plane_endpoints_config, cluster.endpoint).apply(
            lambda v: _field(_field(v[0], "dns_endpoint_config"), "endpoint") or v[1] or ""
        )


def _field(value, key: str):
    """A field of a nested output, typed object or plain dict (camelCase) alike."""
    if value is None:
        return None
    if isinstance(value, dict):
        return value.get(to_camel(key), value.get(key))
    return getattr(value, key, None)



def _node_selector(plan: PoolPlan) -> dict[str, str]:
    """The node labels GKE sets on the accelerator nodes, for a pod's nodeSelector."""
    if plan.kind == "tpu":
        selector = {"cloud.google.com/gke-tpu-accelerator": plan.accelerator}
        if plan.tpu_topology:
            selector["cloud.google.com/gke-tpu-topology"] = plan.tpu_topology
        return selector
    return {"cloud.google.com/gke-accelerator": plan.accelerator}


# ---- from a stack ---------------------------------------------------------------------------------

def storage_volumes(st: StorageSpec, storage) -> list[KubernetesVolumeArgs]:
    """A ClusterStorage (built from `st`) as volumes for pods: one claim per bucket, file system or disk.

    Volume handles and attributes as the GKE CSI drivers document them for existing instances.
    """
    res = storage.resources
    out: list[KubernetesVolumeArgs] = []

    def volume(kind: str, handle, gib: int, name: Optional[str] = None, **extra) -> None:
        out.append(KubernetesVolumeArgs(name=name or kind, kind=kind, volume_handle=handle, capacity_gib=gib, **extra))

    if "bucket" in res:
        volume("gcsfuse", res["bucket"].name, 1024, name="data", mount_options=["implicit-dirs"])
    if "filestore" in res and st.filestore is not None:
        fs, share = res["filestore"], st.filestore.share_name
        handle = pulumi.Output.concat("modeInstance/", fs.location, "/", fs.name, f"/{share}")
        ip = fs.networks.apply(lambda nets: (nets[0].ip_addresses or [""])[0])
        volume("filestore", handle, st.filestore.capacity_gb, attributes=ip.apply(lambda a, share=share: {"ip": a, "volume": share}))
    if "lustre" in res and st.lustre is not None:
        lu = res["lustre"]
        handle = pulumi.Output.concat(lu.project, "/", lu.location, "/", lu.instance_id)
        attrs = pulumi.Output.all(lu.mount_point, lu.filesystem).apply(lambda v: {"ip": (v[0] or "").split("@")[0], "filesystem": v[1]})
        volume("lustre", handle, st.lustre.capacity_gb, attributes=attrs)
    if "parallelstore" in res and st.parallelstore is not None:
        ps = res["parallelstore"]
        handle = pulumi.Output.concat(ps.project, "/", ps.location, "/", ps.instance_id, "/default-pool/default-container")
        attrs = pulumi.Output.all(ps.access_points, ps.network).apply(lambda v: {"accessPoints": ",".join(v[0] or []), "network": last_segment(v[1])})
        volume("parallelstore", handle, st.parallelstore.capacity_gb, attributes=attrs)
    if "hyperdisk_ml" in res and st.hyperdisk_ml is not None:
        hd = st.hyperdisk_ml
        volume("hyperdisk-ml", res["hyperdisk_ml"].id, hd.size_gb, name="models", read_only=bool(hd.source_snapshot))
    return out


def from_resolved(cl: ResolvedCluster, context: BuildContext) -> GkeCluster:
    """The program's way in: a cluster it resolved, with its network, storage and deployment."""
    network, storage = context.network, context.storage
    if cl.tpu is not None:
        attachment = NetworkAttachmentArgs(  # TPU nodes use the host network only
            host_network=network.host_network,
            host_subnetwork=network.host_subnetwork,
            pods_range_name=network.pods_range_name,
            services_range_name=network.services_range_name,
        )
    else:
        assert cl.shape is not None
        attachment = network.attachment(cl.shape.family.id, cl.zone, cl.shape.gpus)
    wiring = dict(project=cl.project, network=attachment, volumes=storage_volumes(cl.storage, storage))
    if "bucket" in storage.resources:
        wiring["bucket"] = storage.bucket_name
    return GkeCluster(cl.name, wiring, resolved=cl)  # type: ignore[arg-type]


__all__ = [
    "AuthorizedNetworkArgs",
    "AutoscalingArgs",
    "GkeCluster",
    "GkeClusterArgs",
    "GkeOptionsArgs",
    "GkeTpuArgs",
    "GpuSharingArgs",
    "SystemPoolArgs",
    "from_resolved",
    "storage_volumes",
]
