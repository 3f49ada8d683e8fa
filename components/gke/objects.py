"""What a GkeCluster creates inside the cluster, with pulumi-kubernetes, through the cluster's own provider.

- Multi-networking: one `GKENetworkParamSet` and one `Network` (networking.gke.io/v1) per GPU/RDMA
  NIC of the node pool, named as Google's guides name them (`vpc1`… for GPUDirect-TCPX(O),
  `gvnic-1` and `rdma-0`… for RDMA), so pods annotate `networking.gke.io/interfaces` with them.
- GPUDirect: the family's NCCL plugin installer DaemonSet and, for TCPX/TCPXO, the NRI device
  injector, built from the catalog's copy of Google's manifests (images pinned as Google pins them).
- Storage: a PersistentVolume and a claim per shared file system or bucket, bound statically to the
  instance ClusterStorage created (reclaim policy Retain: deleting the claim keeps the data).
- Workload Identity: a Kubernetes service account that acts as the workload's Google service account.

Nothing here fetches a manifest at run time: every object is a typed resource.
"""

import json
from typing import Optional, TypedDict

import pulumi
import pulumi_kubernetes as k8s
from typing_extensions import NotRequired

from ai_clusters.core.catalog import catalog
from ai_clusters.core.catalog.models import GkeContainer, GkeDaemonSet, GkeNetworkNames
from ai_clusters.core.enums import GpuDirect, NicType
from ai_clusters.core.naming import last_segment

NETWORKING_API = "networking.gke.io/v1"
DEVICE_MODES = {NicType.GVNIC: "NetDevice", NicType.MRDMA: "RDMA"}
K8S_ARCH = {"x86_64": "amd64", "arm64": "arm64"}


class KubernetesVolumeArgs(TypedDict):
    """Shared storage made available to pods as a statically bound PersistentVolume and claim."""

    name: str
    """Name of the claim pods mount (also names the volume)."""
    kind: str
    """gcsfuse, filestore, lustre, parallelstore or hyperdisk-ml (picks the CSI driver)."""
    volume_handle: pulumi.Input[str]
    """The CSI volume handle of the instance, bucket or disk."""
    capacity_gib: int
    """Capacity in GiB (buckets: a nominal size)."""
    attributes: NotRequired[pulumi.Input[dict[str, str]]]
    """CSI volume attributes (addresses, file system name, network)."""
    read_only: NotRequired[bool]
    """Mount read-only, by many nodes at once (Hyperdisk ML)."""
    mount_options: NotRequired[list[str]]
    """Mount options (Cloud Storage FUSE)."""


# ---- names (pure) ---------------------------------------------------------------------------------

def network_object_names(nic_types: list[NicType], naming: GkeNetworkNames) -> list[str]:
    """The Network object of each extra NIC, in NIC order, named as Google's guides name them."""
    gvnic, rdma = naming.gvnic_start, naming.rdma_start
    names = []
    for nic_type in nic_types:
        if nic_type == NicType.MRDMA and naming.rdma_prefix:
            names.append(f"{naming.rdma_prefix}{rdma}")
            rdma += 1
        else:
            names.append(f"{naming.gvnic_prefix}{gvnic}")
            gvnic += 1
    return names


def pod_network_annotations(names: list[str]) -> dict[str, str]:
    """The annotations a pod carries to get one interface on each GPU/RDMA network (eth1, eth2 …)."""
    if not names:
        return {}
    interfaces = [{"interfaceName": "eth0", "network": "default"}]
    interfaces += [{"interfaceName": f"eth{i}", "network": n} for i, n in enumerate(names, start=1)]
    return {"networking.gke.io/default-interface": "eth0", "networking.gke.io/interfaces": json.dumps(interfaces)}


def kubeconfig(name: str, server: str, ca_certificate: Optional[str]) -> str:
    """A kubeconfig that authenticates with gke-gcloud-auth-plugin (the caller's Google credentials)."""
    cluster: dict = {"server": f"https://{server}"}
    if ca_certificate:
        cluster["certificate-authority-data"] = ca_certificate
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": cluster}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
            "users": [
                {
                    "name": name,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "gke-gcloud-auth-plugin",
                            "installHint": "Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin",
                            "provideClusterInfo": True,
                        }
                    },
                }
            ],
        },
        indent=2,
    )


# ---- objects --------------------------------------------------------------------------------------

def _meta(name: str, namespace: Optional[str] = None) -> k8s.meta.v1.ObjectMetaArgs:
    return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels={"app.kubernetes.io/managed-by": "ai-clusters"})


def device_networks(
    cluster: str,
    names: list[str],
    nics: list[dict],
    opts: pulumi.ResourceOptions,
) -> list[k8s.apiextensions.CustomResource]:
    """A GKENetworkParamSet and a Device Network per extra NIC; returns the Network objects."""
    networks = []
    for object_name, nic in zip(names, nics):
        params = k8s.apiextensions.CustomResource(
            f"{cluster}-paramset-{object_name}",
            api_version=NETWORKING_API,
            kind="GKENetworkParamSet",
            metadata=_meta(object_name),
            spec={
                "vpc": pulumi.Output.from_input(nic["network"]).apply(last_segment),
                "vpcSubnet": pulumi.Output.from_input(nic["subnetwork"]).apply(last_segment),
                "deviceMode": DEVICE_MODES[NicType(nic["nic_type"])],
            },
            opts=opts,
        )
        networks.append(
            k8s.apiextensions.CustomResource(
                f"{cluster}-network-{object_name}",
                api_version=NETWORKING_API,
                kind="Network",
                metadata=_meta(object_name),
                spec={
                    "type": "Device",
                    "parametersRef": {"group": "networking.gke.io", "kind": "GKENetworkParamSet", "name": object_name},
                },
                opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[params])),
            )
        )
    return networks


def _container(c: GkeContainer) -> k8s.core.v1.ContainerArgs:
    return k8s.core.v1.ContainerArgs(
        name=c.name,
        image=c.image,
        command=c.command or None,
        args=c.args or None,
        security_context=k8s.core.v1.SecurityContextArgs(privileged=True) if c.privileged else None,
        resources=k8s.core.v1.ResourceRequirementsArgs(requests={"cpu": c.cpu_request}) if c.cpu_request else None,
        volume_mounts=[k8s.core.v1.VolumeMountArgs(name=v, mount_path=p) for v, p in c.mounts.items()] or None,
    )


def node_daemonset(cluster: str, ds: GkeDaemonSet, accelerators: list[str], opts: pulumi.ResourceOptions) -> k8s.apps.v1.DaemonSet:
    """One of Google's GPU node DaemonSets, on the nodes of the given GKE accelerator types only."""
    labels = {"k8s-app": ds.name}
    match = [k8s.core.v1.NodeSelectorRequirementArgs(key="cloud.google.com/gke-accelerator", operator="In", values=accelerators)]
    if ds.arch:
        match.append(k8s.core.v1.NodeSelectorRequirementArgs(key="kubernetes.io/arch", operator="In", values=[ds.arch]))
    return k8s.apps.v1.DaemonSet(
        f"{cluster}-{ds.name}",
        metadata=_meta(ds.name, ds.namespace),
        spec=k8s.apps.v1.DaemonSetSpecArgs(
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
            update_strategy=k8s.apps.v1.DaemonSetUpdateStrategyArgs(type="RollingUpdate"),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels={"name": ds.name, **labels}),
                spec=k8s.core.v1.PodSpecArgs(
                    priority_class_name="system-node-critical",
                    affinity=k8s.core.v1.AffinityArgs(
                        node_affinity=k8s.core.v1.NodeAffinityArgs(
                            required_during_scheduling_ignored_during_execution=k8s.core.v1.NodeSelectorArgs(
                                node_selector_terms=[k8s.core.v1.NodeSelectorTermArgs(match_expressions=match)]
                            )
                        )
                    ),
                    tolerations=[k8s.core.v1.TolerationArgs(operator="Exists")],
                    host_network=ds.host_network,
                    host_pid=ds.host_pid,
                    volumes=[
                        k8s.core.v1.VolumeArgs(name=v.name, host_path=k8s.core.v1.HostPathVolumeSourceArgs(path=v.path, type=v.type))
                        for v in ds.volumes
                    ]
                    or None,
                    init_containers=[_container(c) for c in ds.init_containers] or None,
                    containers=[_container(c) for c in ds.containers],
                ),
            ),
        ),
        opts=opts,
    )


def gpudirect_daemonsets(cluster: str, flavor: GpuDirect, arch: str, accelerator: str, opts: pulumi.ResourceOptions) -> list[k8s.apps.v1.DaemonSet]:
    """The NCCL plugin installer of the flavor for the node architecture, and the NRI injector where needed."""
    facts = catalog().data.gke
    assert facts is not None
    direct = facts.gpudirect_for(flavor)
    if direct is None:
        return []
    k8s_arch = K8S_ARCH.get(arch, arch)
    installer = next((d for d in direct.nccl_installers if (d.arch or "amd64") == k8s_arch), None)
    made = [node_daemonset(cluster, installer, [accelerator], opts)] if installer else []
    if direct.nri_device_injector:
        made.append(node_daemonset(cluster, facts.nri_device_injector, [accelerator], opts))
    return made


def storage_volume(cluster: str, volume: KubernetesVolumeArgs, namespace: str, opts: pulumi.ResourceOptions) -> k8s.core.v1.PersistentVolumeClaim:
    """A PersistentVolume bound to an existing instance, and its claim in `namespace`."""
    facts = catalog().data.gke
    assert facts is not None
    claim = volume["name"]
    read_only = bool(volume.get("read_only"))
    if read_only:
        mode = ["ReadOnlyMany"]
    else:  # file systems and buckets are shared; a writable disk attaches to one node
        mode = ["ReadWriteOnce"] if volume["kind"] == "hyperdisk-ml" else ["ReadWriteMany"]
    size = {"storage": f"{volume['capacity_gib']}Gi"}
    pv_name = f"{cluster}-{claim}"
    pv = k8s.core.v1.PersistentVolume(
        f"{cluster}-pv-{claim}",
        metadata=_meta(pv_name),
        spec=k8s.core.v1.PersistentVolumeSpecArgs(
            storage_class_name="",
            capacity=size,
            access_modes=mode,
            persistent_volume_reclaim_policy="Retain",
            volume_mode="Filesystem",
            mount_options=volume.get("mount_options") or None,
            claim_ref=k8s.core.v1.ObjectReferenceArgs(namespace=namespace, name=claim),
            csi=k8s.core.v1.CSIPersistentVolumeSourceArgs(
                driver=facts.csi_drivers[volume["kind"]],
                volume_handle=volume["volume_handle"],
                volume_attributes=volume.get("attributes"),
                read_only=read_only or None,
                fs_type="ext4" if volume["kind"] == "hyperdisk-ml" else None,
            ),
        ),
        opts=opts,
    )
    return k8s.core.v1.PersistentVolumeClaim(
        f"{cluster}-pvc-{claim}",
        metadata=_meta(claim, namespace),
        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
            access_modes=mode,
            storage_class_name="",
            volume_name=pv_name,
            resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests=size),
        ),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[pv])),
    )


__all__ = [
    "KubernetesVolumeArgs",
    "device_networks",
    "gpudirect_daemonsets",
    "kubeconfig",
    "network_object_names",
    "node_daemonset",
    "pod_network_annotations",
    "storage_volume",
]
