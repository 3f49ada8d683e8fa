"""TpuVmCluster: TPU slices through the Cloud TPU API, as one TPU VM or one queued resource.

A single-host, single-slice, on-demand slice is one TPU node (`gcp.tpu.V2Vm`), created at once or
failing at once. Everything else is one Cloud TPU queued resource (`TpuQueuedResource`, our own
resource: pulumi-gcp 10.2.0's `V2QueuedResource` carries no labels, service account, metadata,
Shielded VM, tier or multislice parameters), which waits for capacity instead of failing:
- a multi-host slice (its hosts come together or not at all);
- multislice: one request with a node count, nodes `NAME-0` … `NAME-(n-1)`, gang-scheduled and
  repaired together by the service, which also gives every worker the multislice (MEGASCALE)
  settings in its `tpu-env` metadata, so no slice waits for another's address;
- spot, a named reservation (`reservationName`), and flex-start (v2alpha1 `provisioningModel`
  FLEX_START with `runDuration.maxRunDuration`: the service deletes the slices when the run ends).
`tpu.queue.validUntilHours` bounds how long the request may wait in the queue;
`tpu.queue.createTimeoutMinutes` how long `pulumi up` waits for it (see ai_clusters.tpu.plan).

Every node, either way: the accelerator type (or AcceleratorConfig type + topology) and runtime
version from the catalog, the ClusterNetwork host subnet with no external IPs, a dedicated
least-privilege service account, Shielded VM secure boot, OS Login, the contract labels, data disks
where wanted, and a start-up script that mounts the cluster's storage (Filestore, Parallelstore, the
bucket through Cloud Storage FUSE, Hyperdisk ML) on every worker.
"""

from dataclasses import dataclass
from typing import Any, Optional

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
from ai_clusters.blocks.scripts import NodeScript, startup_script
from ai_clusters.core.spec import Problem, ResolvedCluster, SpecError
from ai_clusters.blocks.vm import METADATA, SCOPES
from ai_clusters.tpu.plan import QueuedPlan, TpuPlan
from ai_clusters.tpu.queued_resource import MULTISLICE_KEY, TpuQueuedResource, parent_of
from ai_clusters.tpu.args import TpuDataDiskArgs, TpuSliceArgs

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
    """TPU slices through the Cloud TPU API: one TPU VM (single-host on-demand) or one queued resource (multi-host, multislice, spot, reserved, flex-start)."""

    node_names: pulumi.Output[list[str]]
    """Names of the TPU nodes, one per slice."""
    queued_resource: pulumi.Output[str]
    """The queued resource the slices were requested through (projects/P/locations/ZONE/queuedResources/ID); empty for a TPU VM."""
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
            lambda v: [{"sourceDisk": d, "mode": "READ_WRITE"} for d in v[0]]
            + [{"sourceDisk": _relative(m["source"]), "mode": "READ_ONLY"} for m in v[1] if m["kind"] == "hyperdisk-ml"]
        )

        script = node_mounts.apply(lambda ms: startup_script(NodeScript(mounts=tuple(ms), extra=_extra_script(resolved))))
        metadata = script.apply(lambda text: {**METADATA, "startup-script": text})
        node = _Node(description=_description(resolved, plan.queued), labels=slice_labels, metadata=metadata, data_disks=data_disks, host=host, email=identity.email)
        if plan.queued is None:
            self.node_names, self.worker_ips, self.queued_resource = self._tpu_vm(name, resolved, node, api.accelerator_config_type)
        else:
            self.node_names, self.worker_ips, self.queued_resource = self._queued_resource(name, resolved, node, plan.queued, api.accelerator_config_type)

        zone = resolved.zone
        self.ssh_commands = pulumi.Output.all(self.node_names, project).apply(lambda v: [tpu_ssh_command(n, zone, v[1]) for n in v[0]])
        self.ssh_command = self.ssh_commands.apply(lambda commands: commands[0] if commands else "")
        self.accelerator_type = pulumi.Output.from_input(sl.type.name)
        self.topology = pulumi.Output.from_input(sl.type.topology)
        self.runtime_version = pulumi.Output.from_input(plan.runtime_version)
        self.chips = pulumi.Output.from_input(resolved.accelerators)
        self.hosts = pulumi.Output.from_input(resolved.nodes)
        self.mount_points = node_mounts.apply(lambda ms: [m["mount_point"] for m in ms])
        self.service_account = identity.email
        self.validation_job = pulumi.Output.all(project, self.node_names).apply(lambda v: validation.tpu_commands(resolved, v[1], v[0]))

    def _tpu_vm(self, name: str, resolved: ResolvedCluster, node: "_Node", config_type: str) -> tuple[pulumi.Output, pulumi.Output, pulumi.Output]:
        """One TPU VM (a single-host on-demand slice): its node names, worker IPs, and no queued resource."""
        plan: TpuPlan = resolved.plan
        vm = gcp.tpu.V2Vm(
            name,
            name=name,
            zone=resolved.zone,
            project=self.project,
            description=node.description,
            runtime_version=plan.runtime_version,
            **_accelerator(resolved, config_type),
            network_config=node.host.apply(
                lambda net: gcp.tpu.V2VmNetworkConfigArgs(
                    network=net["host_network"],
                    subnetwork=net["host_subnetwork"],
                    enable_external_ips=False,
                    can_ip_forward=False,
                )
            ),
            service_account=gcp.tpu.V2VmServiceAccountArgs(email=node.email, scopes=SCOPES),
            shielded_instance_config=gcp.tpu.V2VmShieldedInstanceConfigArgs(enable_secure_boot=True),
            data_disks=node.data_disks.apply(
                lambda disks: [gcp.tpu.V2VmDataDiskArgs(source_disk=d["sourceDisk"], mode=d["mode"]) for d in disks] or None
            ),
            metadata=node.metadata,
            labels=node.labels,
            opts=pulumi.ResourceOptions(parent=self),
        )
        ips = vm.network_endpoints.apply(lambda eps: [_endpoint_ip(e) for e in (eps or [])])
        return pulumi.Output.all(vm.name), ips, pulumi.Output.from_input("")

    def _queued_resource(
        self, name: str, resolved: ResolvedCluster, node: "_Node", queued: QueuedPlan, config_type: str
    ) -> tuple[pulumi.Output, pulumi.Output, pulumi.Output]:
        """One queued resource for all the slices, its request in the Cloud TPU API's JSON: node names, worker IPs, its name."""
        plan: TpuPlan = resolved.plan
        zone = resolved.zone
        node_spec = pulumi.Output.all(node.host, node.email, node.metadata, node.data_disks, self.project).apply(
            lambda v: {
                "parent": parent_of(v[4], zone),
                **_node_placement(name, queued),
                "node": {
                    **_accelerator_json(resolved, config_type),
                    "runtimeVersion": plan.runtime_version,
                    "description": node.description,
                    "networkConfig": {
                        "network": _relative(v[0]["host_network"]),
                        "subnetwork": _relative(v[0]["host_subnetwork"]),
                        "enableExternalIps": False,
                        "canIpForward": False,
                    },
                    "serviceAccount": {"email": v[1], "scope": list(SCOPES)},
                    "shieldedInstanceConfig": {"enableSecureBoot": True},
                    "labels": node.labels,
                    "metadata": v[2],
                    **({"dataDisks": v[3]} if v[3] else {}),
                },
            }
        )
        request = pulumi.Output.all(node_spec, self.project).apply(lambda v: {"tpu": {"nodeSpec": [v[0]]}, **_tier(queued, v[1], zone)})
        qr = TpuQueuedResource(
            name,
            project=self.project,
            zone=zone,
            queued_resource_id=name,
            queued_resource=request,
            api_version=queued.api_version,
            create_timeout_minutes=queued.create_timeout_minutes,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return qr.node_names, qr.worker_ips, qr.queued_resource_name

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


@dataclass(frozen=True)
class _Node:
    """What every TPU node of a cluster gets, either way it is made."""

    description: str
    labels: dict
    metadata: pulumi.Output
    data_disks: pulumi.Output  # [{sourceDisk, mode}] in the Cloud TPU API's JSON
    host: pulumi.Output
    email: pulumi.Output


def tpu_ssh_command(node: str, zone: str, project: str) -> str:
    """SSH to every worker of a TPU node through Identity-Aware Proxy (the workers have no external IP)."""
    return f"gcloud compute tpus tpu-vm ssh {node} --zone {zone} --project {project} --worker=all --tunnel-through-iap"


def _accelerator(resolved: ResolvedCluster, config_type: str) -> dict:
    """The accelerator as the cluster gave it: an accelerator type, or AcceleratorConfig type + topology."""
    sl, spec = resolved.tpu, resolved.spec.tpu
    assert sl is not None and spec is not None
    if spec.type:
        return {"accelerator_type": sl.type.name}
    return {"accelerator_config": gcp.tpu.V2VmAcceleratorConfigArgs(type=config_type, topology=sl.type.topology)}


def _accelerator_json(resolved: ResolvedCluster, config_type: str) -> dict:
    """The same choice in the Cloud TPU API's JSON (a queued resource's node)."""
    sl, spec = resolved.tpu, resolved.spec.tpu
    assert sl is not None and spec is not None
    if spec.type:
        return {"acceleratorType": sl.type.name}
    return {"acceleratorConfig": {"type": config_type, "topology": sl.type.topology}}


def _node_placement(name: str, queued: QueuedPlan) -> dict:
    """One node named after the cluster, or one per slice: `<name>-0` … through the version's multislice parameters."""
    if queued.node_count > 1:
        return {MULTISLICE_KEY[queued.api_version]: {"nodeCount": queued.node_count, "nodeIdPrefix": name}}
    return {"nodeId": name}


def _tier(queued: QueuedPlan, project: str, zone: str) -> dict:
    """The request's tier and queueing policy in the Cloud TPU API's JSON (v2; flex-start in v2alpha1)."""
    out: dict[str, Any] = {}
    if queued.tier == ProvisioningModel.SPOT:
        out["spot"] = {}
    elif queued.tier == ProvisioningModel.RESERVATION:
        out["reservationName"] = f"{parent_of(project, zone)}/reservations/{queued.reservation}"
    elif queued.tier == ProvisioningModel.FLEX_START:
        out["provisioningModel"] = "FLEX_START"
        out["runDuration"] = {"maxRunDuration": f"{queued.max_run_seconds}s"}
    if queued.valid_until_seconds:
        out["queueingPolicy"] = {"validUntilDuration": f"{queued.valid_until_seconds}s"}
    return out


def _description(resolved: ResolvedCluster, queued: Optional[QueuedPlan]) -> str:
    spec, prov = resolved.spec.tpu, resolved.spec.provisioning
    assert spec is not None
    text = f"ai-clusters {resolved.environment}/{resolved.name}"
    if queued is not None:
        text += f" (queued resource: {queued.why})"
    if prov.reservation:
        text += f" (reserved capacity: {prov.reservation})"
    return text


def _device(index: int) -> str:
    """A TPU VM's data disks by position: the boot disk is persistent-disk-0, the data disks follow in order."""
    return f"/dev/disk/by-id/google-persistent-disk-{index + 1}"


def _relative(link: str) -> str:
    """`projects/P/…` (a disk, network or subnetwork), as the Cloud TPU API wants it, from a self link or id."""
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


def _endpoint_ip(endpoint: Any) -> str:
    if endpoint is None:
        return ""
    if isinstance(endpoint, dict):
        return endpoint.get("ip_address") or endpoint.get("ipAddress") or ""
    return getattr(endpoint, "ip_address", "") or ""


def _extra_script(resolved: ResolvedCluster) -> str:
    """The user's own start-up commands, after the storage is mounted."""
    spec = resolved.spec.tpu
    assert spec is not None
    if spec.startup_script:
        return "\n# The cluster's own start-up commands\n" + spec.startup_script.rstrip() + "\n"
    return ""


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
