"""TpuVmCluster: TPU slices as TPU VMs through the Cloud TPU API (`gcp.tpu.V2Vm`).

Every slice, single-host or multi-host, is one TPU node (`gcp.tpu.V2Vm`): the Cloud TPU API creates
all the hosts of a multi-host slice from one node. A multislice cluster is one node per slice,
`NAME-0` … `NAME-(n-1)`, like the node ids of a multislice queued resource, and every worker gets
the MEGASCALE environment (in /etc/environment) that joins the slices over the data-center network:
slice 0's first worker coordinates, so the other slices are created once slice 0 is up and its
address is known. Slices created this way are not gang-scheduled or repaired together as a queued
resource's would be: a preempted or failed slice is not replaced on its own.

Why not `gcp.tpu.V2QueuedResource`: in pulumi-gcp 10.2.0 it carries only the accelerator type,
runtime version and network of each node: no service account (the nodes would run as the default
compute account with access to every API), no labels (the policies could not see the workload), no
metadata (no start-up script), no spot/guaranteed tier, no multislice parameters and no valid-until
time. So flex-start (which only a queued resource can request) is refused with a clear message, and
the other provisioning models go through the node's scheduling config: spot, or reserved capacity.

Every node: the accelerator type (or AcceleratorConfig type + topology) and runtime version from
the catalog, the ClusterNetwork host subnet with no external IPs, a dedicated least-privilege service
account, Shielded VM secure boot, OS Login, the contract labels, data disks where wanted, and a
start-up script that mounts the cluster's storage (Filestore, Parallelstore, the bucket through
Cloud Storage FUSE, Hyperdisk ML) on every worker.
"""

from typing import Any, Optional, TypedDict

import pulumi
import pulumi_gcp as gcp
from typing_extensions import NotRequired

from ai_clusters.core import labels as contract
from ai_clusters.tpu import validation
from ai_clusters.blocks.args import ClusterArgs, MountArgs, NetworkAttachmentArgs
from ai_clusters.core.catalog import catalog
from ai_clusters.blocks.component import BuildContext, ClusterComponent
from ai_clusters.core.labels import cluster_labels
from ai_clusters.core.enums import ClusterPath, ProvisioningModel
from ai_clusters.blocks.iam import node_service_account
from ai_clusters.blocks.scripts import environment_block, startup_script
from ai_clusters.core.spec import Problem, ResolvedCluster, SpecError
from ai_clusters.blocks.vm import METADATA, SCOPES
from ai_clusters.tpu.plan import TpuPlan
from ai_clusters.tpu.args import TpuDataDiskArgs, TpuSliceArgs

TPU_METADATA_URL = "http://metadata.google.internal/computeMetadata/v1/instance/attributes"


class TpuVmClusterArgs(ClusterArgs):
    """Args of TpuVmCluster."""

    tpu: TpuSliceArgs
    """The TPU slice(s)."""
    network: pulumi.Input[NetworkAttachmentArgs]
    """The host network and subnetwork (ClusterNetwork.host_network / host_subnetwork); TPU VMs take no extra NICs here."""
    mounts: NotRequired[pulumi.Input[list[MountArgs]]]
    """Shared storage every worker mounts (ClusterStorage.mounts)."""
    bucket: NotRequired[pulumi.Input[str]]
    """The cluster's data bucket: the nodes' service account may read and write its objects."""


class TpuVmCluster(ClusterComponent):
    """TPU slices as TPU VMs (Cloud TPU API): single-host, multi-host and multislice."""

    node_names: pulumi.Output[list[str]]
    """Names of the TPU nodes, one per slice."""
    worker_ips: pulumi.Output[list[str]]
    """Internal IPs of every worker, slice by slice."""
    ssh_command: pulumi.Output[str]
    """Run on every worker of the first slice: append --command '...' (through Identity-Aware Proxy)."""
    ssh_commands: pulumi.Output[list[str]]
    """The same for every slice."""
    accelerator_type: pulumi.Output[str]
    """Accelerator type of every slice, e.g. v5litepod-16."""
    topology: pulumi.Output[str]
    """Topology of every slice in chips."""
    runtime_version: pulumi.Output[str]
    """TPU VM runtime version."""
    chips: pulumi.Output[int]
    """TPU chips over all slices."""
    hosts: pulumi.Output[int]
    """TPU VMs (workers) over all slices."""
    mount_points: pulumi.Output[list[str]]
    """Where shared storage and data disks are mounted on every worker."""
    service_account: pulumi.Output[str]
    """Email of the nodes' service account."""
    validation_job: pulumi.Output[str]
    """Commands that run the benchmark on every worker of every slice (--worker=all)."""

    cluster_path = ClusterPath.TPU

    def __init__(
        self, name: str, args: TpuVmClusterArgs, opts: Optional[pulumi.ResourceOptions] = None, *, resolved: Optional[ResolvedCluster] = None
    ):
        super().__init__(name, args, opts, resolved=resolved)

    def check_wiring(self, resolved: ResolvedCluster, args: dict, add) -> None:
        network = args.get("network")
        if network is None:
            add("network", "is required (ClusterNetwork.host_network and host_subnetwork)")
        elif isinstance(network, dict):
            if network.get("extra_nics"):
                add("network.extraNics", "TPU VMs here take the host network only")
            for key in ("host_network", "host_subnetwork"):
                if not network.get(key):
                    add(f"network.{key}", "is required")

    def build(self, name: str, resolved: ResolvedCluster, args: dict) -> None:
        plan: TpuPlan = resolved.plan
        sl, spec = resolved.tpu, resolved.spec.tpu
        assert sl is not None and spec is not None
        api = catalog().cloud_tpu(sl.generation.id)
        assert api is not None
        project = self.project
        labels = cluster_labels(resolved)
        slice_labels = {**labels, contract.NODES: str(sl.vms)}
        mounts = pulumi.Output.from_input(args.get("mounts") or [])
        host = pulumi.Output.from_input(args["network"])
        child = pulumi.ResourceOptions(parent=self)

        identity = node_service_account(
            name,
            display=f"ai-clusters {resolved.environment}/{name} TPU nodes",
            project=project,
            parent=self,
            buckets=[args["bucket"]] if args.get("bucket") else [],
        )
        own_disks = self._data_disks(name, resolved, api.data_disk_types[0], project, labels)
        disk_mounts = [
            {"kind": "disk", "mount_point": d.mount_point, "source": _device(i), "options": "defaults"}
            for i, d in enumerate(spec.data_disks)
        ]
        node_mounts = mounts.apply(lambda ms: _node_mounts(name, resolved, ms, disk_mounts))
        data_disks = pulumi.Output.all(pulumi.Output.all(*[d.id for d in own_disks]), mounts).apply(
            lambda v: [gcp.tpu.V2VmDataDiskArgs(source_disk=d, mode="READ_WRITE") for d in v[0]]
            + [gcp.tpu.V2VmDataDiskArgs(source_disk=_disk_path(m["source"]), mode="READ_ONLY") for m in v[1] if m["kind"] == "hyperdisk-ml"]
            or None
        )

        nodes: list[gcp.tpu.V2Vm] = []
        for i in range(spec.slices):
            node_name = name if spec.slices == 1 else f"{name}-{i}"
            coordinator = _coordinator_of(nodes[0]) if i > 0 else None
            script = pulumi.Output.all(node_mounts, coordinator).apply(
                lambda v, i=i: startup_script(v[0], extra=_extra_script(resolved, i, v[1], multislice_port()))
            )
            node = gcp.tpu.V2Vm(
                node_name,
                name=node_name,
                zone=resolved.zone,
                project=project,
                description=_description(resolved, i),
                runtime_version=plan.runtime_version,
                **_accelerator(resolved, api.accelerator_config_type),
                network_config=host.apply(
                    lambda net: gcp.tpu.V2VmNetworkConfigArgs(
                        network=net["host_network"],
                        subnetwork=net["host_subnetwork"],
                        enable_external_ips=False,
                        can_ip_forward=False,
                    )
                ),
                service_account=gcp.tpu.V2VmServiceAccountArgs(email=identity.email, scopes=SCOPES),
                scheduling_config=_scheduling(resolved.provisioning),
                shielded_instance_config=gcp.tpu.V2VmShieldedInstanceConfigArgs(enable_secure_boot=True),
                data_disks=data_disks,
                metadata=script.apply(lambda s: {**METADATA, "startup-script": s}),
                labels=slice_labels,
                opts=child,
            )
            nodes.append(node)

        zone = resolved.zone
        self.node_names = pulumi.Output.all(*[n.name for n in nodes])
        self.worker_ips = pulumi.Output.all(*[n.network_endpoints for n in nodes]).apply(
            lambda per_node: [_endpoint_ip(e) for eps in per_node for e in (eps or [])]
        )
        self.ssh_commands = pulumi.Output.all(*[tpu_ssh_command(n.name, zone, project) for n in nodes])
        self.ssh_command = tpu_ssh_command(nodes[0].name, zone, project)
        self.accelerator_type = pulumi.Output.from_input(sl.type.name)
        self.topology = pulumi.Output.from_input(sl.type.topology)
        self.runtime_version = pulumi.Output.from_input(plan.runtime_version)
        self.chips = pulumi.Output.from_input(resolved.accelerators)
        self.hosts = pulumi.Output.from_input(resolved.nodes)
        self.mount_points = node_mounts.apply(lambda ms: [m["mount_point"] for m in ms])
        self.service_account = identity.email
        self.validation_job = pulumi.Output.all(project, self.node_names).apply(lambda v: validation.tpu_commands(resolved, v[1], v[0]))

    def _data_disks(self, name: str, resolved: ResolvedCluster, default_type: str, project: Any, labels: dict) -> list[gcp.compute.Disk]:
        """The cluster's own data disks: protected like every stateful resource unless the environment opts out."""
        protect = resolved.protect_data
        opts = pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect)
        assert resolved.spec.tpu is not None
        return [
            gcp.compute.Disk(
                f"{name}-data-{i}",
                name=f"{name}-data-{i}",
                type=d.type or default_type,
                size=d.size_gb,
                zone=resolved.zone,
                labels=contract.data_labels(labels),
                project=project,
                opts=opts,
            )
            for i, d in enumerate(resolved.spec.tpu.data_disks)
        ]


def multislice_port() -> int:
    """The MEGASCALE port slices coordinate on."""
    api = catalog().data.cloud_tpu_api
    assert api is not None
    return api.multislice_port


def tpu_ssh_command(node: pulumi.Input[str], zone: str, project: pulumi.Input[str]) -> pulumi.Output[str]:
    """SSH to every worker of a TPU node through Identity-Aware Proxy (the workers have no external IP)."""
    return pulumi.Output.concat(
        "gcloud compute tpus tpu-vm ssh ", node, f" --zone {zone} --project ", project, " --worker=all --tunnel-through-iap"
    )


def _accelerator(resolved: ResolvedCluster, config_type: str) -> dict:
    """The accelerator as the cluster gave it: an accelerator type, or AcceleratorConfig type + topology."""
    sl, spec = resolved.tpu, resolved.spec.tpu
    assert sl is not None and spec is not None
    if spec.type:
        return {"accelerator_type": sl.type.name}
    return {"accelerator_config": gcp.tpu.V2VmAcceleratorConfigArgs(type=config_type, topology=sl.type.topology)}


def _scheduling(model: ProvisioningModel) -> Optional[gcp.tpu.V2VmSchedulingConfigArgs]:
    """Spot capacity, or the project's TPU reservation in the zone; on-demand needs nothing."""
    if model == ProvisioningModel.SPOT:
        return gcp.tpu.V2VmSchedulingConfigArgs(spot=True)
    if model == ProvisioningModel.RESERVATION:
        return gcp.tpu.V2VmSchedulingConfigArgs(reserved=True)
    return None


def _description(resolved: ResolvedCluster, index: int) -> str:
    spec, prov = resolved.spec.tpu, resolved.spec.provisioning
    assert spec is not None
    text = f"ai-clusters {resolved.environment}/{resolved.name}"
    if spec.slices > 1:
        text += f" slice {index} of {spec.slices}"
    if prov.reservation:
        text += f" (reserved capacity: {prov.reservation})"
    return text


def _device(index: int) -> str:
    """A TPU VM's data disks by position: the boot disk is persistent-disk-0, the data disks follow in order."""
    return f"/dev/disk/by-id/google-persistent-disk-{index + 1}"


def _disk_path(link: str) -> str:
    """`projects/P/zones/Z/disks/D`, as the Cloud TPU API wants it, from a self link or id."""
    marker = link.find("projects/")
    return link[marker:] if marker >= 0 else link


def _node_mounts(name: str, resolved: ResolvedCluster, mounts: list, disk_mounts: list) -> list[dict]:
    """What every worker mounts: the data disks, then the shared storage (Hyperdisk ML as a read-only data disk)."""
    assert resolved.tpu is not None and resolved.spec.tpu is not None
    api = catalog().cloud_tpu(resolved.tpu.generation.id)
    assert api is not None
    out = list(disk_mounts)
    next_disk = len(disk_mounts)
    for m in mounts:
        if m["kind"] != "hyperdisk-ml":
            out.append(dict(m))
            continue
        if "hyperdisk-ml" not in api.read_only_disk_types:
            raise SpecError(
                [Problem("mounts", f"{resolved.tpu.generation.name} VMs take {', '.join(api.data_disk_types)} disks, not Hyperdisk ML")],
                f"TpuVmCluster '{name}'",
            )
        out.append({"kind": "disk", "mount_point": m["mount_point"], "source": _device(next_disk), "options": "ro,noload"})
        next_disk += 1
    return out


def _coordinator_of(first: gcp.tpu.V2Vm) -> pulumi.Output[str]:
    """The internal IP of worker 0 of slice 0, which coordinates a multislice job."""
    return first.network_endpoints.apply(lambda eps: _endpoint_ip((eps or [None])[0]))


def _endpoint_ip(endpoint: Any) -> str:
    if endpoint is None:
        return ""
    if isinstance(endpoint, dict):
        return endpoint.get("ip_address") or endpoint.get("ipAddress") or ""
    return getattr(endpoint, "ip_address", "") or ""


def _extra_script(resolved: ResolvedCluster, index: int, coordinator: Optional[str], port: int) -> str:
    """The multislice environment (when more than one slice), then the user's own commands."""
    spec = resolved.spec.tpu
    assert spec is not None
    parts = []
    if spec.slices > 1:
        # Slice 0 reads its first worker's IP from the TPU metadata (worker-network-endpoints, as JAX does);
        # the other slices get it from slice 0's node.
        address = coordinator or f"$(curl -fs -H 'Metadata-Flavor: Google' {TPU_METADATA_URL}/worker-network-endpoints | cut -d, -f1 | cut -d: -f3)"
        env = {
            "MEGASCALE_COORDINATOR_ADDRESS": address,
            "MEGASCALE_PORT": str(port),
            "MEGASCALE_NUM_SLICES": str(spec.slices),
            "MEGASCALE_SLICE_ID": str(index),
        }
        parts.append(environment_block(env, f"Multislice: slice {index} of {spec.slices}, coordinated by slice 0 worker 0"))
    if spec.startup_script:
        parts.append("\n# The cluster's own start-up commands\n" + spec.startup_script.rstrip() + "\n")
    return "".join(parts)


def from_resolved(cl: ResolvedCluster, context: BuildContext) -> TpuVmCluster:
    """The program's way in: a cluster it resolved, with its network, storage and deployment."""
    network, storage = context.network, context.storage
    wiring = dict(
        project=cl.project,
        network=NetworkAttachmentArgs(host_network=network.host_network, host_subnetwork=network.host_subnetwork),
        mounts=storage.mounts,
    )
    if cl.storage.bucket.enabled:
        wiring["bucket"] = storage.bucket_name
    return TpuVmCluster(cl.name, wiring, resolved=cl)  # type: ignore[arg-type]


__all__ = ["TpuDataDiskArgs", "TpuSliceArgs", "TpuVmCluster", "TpuVmClusterArgs", "from_resolved", "tpu_ssh_command"]
