"""GpuVmCluster: N GPU VMs on Compute Engine.

On-demand and reserved nodes are individual instances (stable names for training jobs); spot
nodes are a managed instance group that recreates what is preempted; flex-start nodes are a
managed instance group grown by a resize request (Dynamic Workload Scheduler), all from one
instance template. More than one node gets a compact placement policy. Every VM: the machine
type and NICs of its family from the catalog, TERMINATE on host maintenance, Shielded VM, OS
Login, no external IP, a dedicated least-privilege service account, and a start-up script that
mounts the cluster's storage.
"""

from typing import Optional, TypedDict

import pulumi
import pulumi_gcp as gcp
from typing_extensions import NotRequired

from ai_clusters.compute_engine import validation
from ai_clusters.blocks.args import GpuClusterArgs, MountArgs, NetworkAttachmentArgs
from ai_clusters.blocks.cluster import check_network_attachment, compact_placement, ssh_command
from ai_clusters.blocks.component import BuildContext, ClusterComponent
from ai_clusters.blocks.iam import node_service_account
from ai_clusters.blocks.scripts import NodeScript, startup_script
from ai_clusters.blocks.vm import instance_kwargs, template_kwargs
from ai_clusters.compute_engine.plan import VmPlan, mount_problems
from ai_clusters.core.enums import ClusterPath, ProvisioningModel
from ai_clusters.core.labels import cluster_labels
from ai_clusters.core.spec import Problem, ResolvedCluster, SpecError

GUEST_ATTRIBUTES = {"enable-guest-attributes": "TRUE"}  # the start-up script reports each step there
from ai_clusters.compute_engine.args import ComputeEngineOptionsArgs


class GpuVmClusterArgs(GpuClusterArgs):
    """Args of GpuVmCluster."""

    network: pulumi.Input[NetworkAttachmentArgs]
    """Where the nodes plug in (ClusterNetwork.attachment(family, zone))."""
    mounts: NotRequired[pulumi.Input[list[MountArgs]]]
    """Shared storage every node mounts (ClusterStorage.mounts)."""
    bucket: NotRequired[pulumi.Input[str]]
    """The cluster's data bucket: the nodes' service account may read and write its objects."""
    compute_engine: NotRequired[ComputeEngineOptionsArgs]
    """Options of this path."""


class GpuVmCluster(ClusterComponent):
    """GPU VMs on Compute Engine: instances or a managed instance group, with compact placement."""

    instance_names: pulumi.Output[list[str]]
    """Names of the instances (empty when a managed instance group owns them)."""
    internal_ips: pulumi.Output[list[str]]
    """Internal IPs of nic0 of the instances (empty for a managed instance group)."""
    instance_group: pulumi.Output[str]
    """Name of the managed instance group (empty for individual instances)."""
    ssh_command: pulumi.Output[str]
    """SSH to the first node through Identity-Aware Proxy."""
    mount_points: pulumi.Output[list[str]]
    """Where the shared storage is mounted on every node."""
    service_account: pulumi.Output[str]
    """Email of the nodes' service account."""
    machine_type: pulumi.Output[str]
    """The machine type of every node."""
    node_count: pulumi.Output[int]
    """Number of nodes."""
    validation_job: pulumi.Output[str]
    """Commands that run the benchmark on every node and, across several GPUDirect nodes, NCCL all-reduce."""

    cluster_path = ClusterPath.COMPUTE_ENGINE

    def __init__(
        self, name: str, args: GpuVmClusterArgs, opts: Optional[pulumi.ResourceOptions] = None, *, resolved: Optional[ResolvedCluster] = None
    ):
        super().__init__(name, args, opts, resolved=resolved)

    def check_wiring(self, resolved: ResolvedCluster, args: dict, add) -> None:
        assert resolved.shape is not None
        subject = f"GpuVmCluster '{resolved.name}'"
        check_network_attachment(subject, resolved.shape, args.get("network"), add)
        plan: Optional[VmPlan] = resolved.plan
        if plan is not None:
            check_mounts(subject, plan, args.get("mounts"), add)

    def build(self, name: str, resolved: ResolvedCluster, args: dict) -> None:
        plan: VmPlan = resolved.plan
        options = plan.options
        shape = resolved.shape
        assert shape is not None
        model = resolved.provisioning
        use_group = plan.managed_group
        project = self.project
        labels = cluster_labels(resolved)
        mounts = pulumi.Output.from_input(args.get("mounts") or [])
        network = args["network"]

        identity = node_service_account(
            name,
            display=f"ai-clusters {resolved.environment}/{name} GPU nodes",
            project=project,
            parent=self,
            buckets=[args["bucket"]] if args.get("bucket") else [],
        )
        placement = compact_placement(name, resolved, self) if resolved.nodes > 1 and shape.family.compact_placement else None
        for caution in plan.cautions:
            pulumi.log.warn(caution, resource=self)
        script = mounts.apply(
            lambda ms: startup_script(
                NodeScript(
                    mounts=tuple(ms),
                    os=plan.os,
                    install_driver=plan.install_driver,
                    local_ssd=shape.local_ssd_gb > 0,
                    gpudirect=plan.gpudirect,
                    gpus=shape.gpus,
                    skip_kinds=plan.skip_mounts,
                )
            )
        )
        read_only = mounts.apply(lambda ms: [m["source"] for m in ms if m["kind"] == "hyperdisk-ml"])
        image = plan.image

        child = pulumi.ResourceOptions(parent=self)
        names: list[pulumi.Output[str]] = []
        ips: list[pulumi.Output[str]] = []
        group_name: pulumi.Input[str] = ""
        # What every node gets, in a template (groups) or on each instance.
        node_settings = dict(
            shape=shape,
            provisioning=resolved.spec.provisioning,
            attachment=network,
            image=image,
            boot_disk_gb=options.boot_disk_gb,
            service_account=identity.email,
            labels=labels,
            startup_script=script,
            placement_policy=placement.self_link if placement else None,
            read_only_disks=read_only,
            metadata=GUEST_ATTRIBUTES,
            first_boot_driver=plan.first_boot_driver,
            secure_boot=plan.secure_boot,
        )
        if use_group:
            template = gcp.compute.InstanceTemplate(
                f"{name}-template",
                name_prefix=f"{name}-",
                project=project,
                **template_kwargs(**node_settings),
                opts=pulumi.ResourceOptions(parent=self, delete_before_replace=False),
            )
            flex = model == ProvisioningModel.FLEX_START
            group = gcp.compute.InstanceGroupManager(
                f"{name}-group",
                name=f"{name}-group",
                base_instance_name=name,
                zone=resolved.zone,
                versions=[gcp.compute.InstanceGroupManagerVersionArgs(instance_template=template.self_link, name="primary")],
                # Flex-start groups start empty and grow all at once through a resize request.
                target_size=0 if flex else resolved.nodes,
                instance_lifecycle_policy=gcp.compute.InstanceGroupManagerInstanceLifecyclePolicyArgs(
                    default_action_on_failure="DO_NOTHING" if flex else "REPAIR",
                ),
                update_policy=gcp.compute.InstanceGroupManagerUpdatePolicyArgs(
                    type="OPPORTUNISTIC", minimal_action="REPLACE", max_surge_fixed=0, max_unavailable_fixed=resolved.nodes,
                    replacement_method="RECREATE",
                ),
                wait_for_instances=False,
                project=project,
                opts=child,
            )
            if flex:
                gcp.compute.ResizeRequest(
                    f"{name}-resize",
                    name=f"{name}-resize",
                    instance_group_manager=group.name,
                    zone=resolved.zone,
                    resize_by=resolved.nodes,
                    requested_run_duration=gcp.compute.ResizeRequestRequestedRunDurationArgs(
                        seconds=str((resolved.spec.provisioning.max_run_hours or 168) * 3600)
                    ),
                    description=f"ai-clusters flex-start capacity for {name}",
                    project=project,
                    opts=child,
                )
            group_name = group.name
        else:
            # Every node has the same settings: build them once, register N instances from them.
            settings = instance_kwargs(**node_settings, zone=resolved.zone)
            vms = [
                gcp.compute.Instance(f"{name}-{i}", name=f"{name}-{i}", project=project, **settings, opts=child)
                for i in range(resolved.nodes)
            ]
            names = [vm.name for vm in vms]
            ips = [vm.network_interfaces.apply(lambda nics: nics[0].network_ip or "") for vm in vms]

        self.instance_names = pulumi.Output.all(*names) if names else pulumi.Output.from_input([])
        self.internal_ips = pulumi.Output.all(*ips) if ips else pulumi.Output.from_input([])
        self.instance_group = pulumi.Output.from_input(group_name)
        first_node = (
            f"$(gcloud compute instance-groups managed list-instances {name}-group --zone {resolved.zone} --format='value(name)' --limit 1)"
            if use_group
            else f"{name}-0"
        )
        self.ssh_command = ssh_command(first_node, resolved.zone, project)
        self.mount_points = mounts.apply(lambda ms: [m["mount_point"] for m in ms])
        self.service_account = identity.email
        self.machine_type = pulumi.Output.from_input(shape.machine_type)
        self.node_count = pulumi.Output.from_input(resolved.nodes)
        instances = [] if use_group else [f"{name}-{i}" for i in range(resolved.nodes)]
        self.validation_job = pulumi.Output.from_input(project).apply(
            lambda p: validation.vm_commands(resolved, instances, f"{name}-group", p, plan)
        )


def check_mounts(subject: str, plan: VmPlan, mounts, add) -> None:
    """The mounts given against the clients the nodes' image has: now when plain, at deployment when an Output."""
    if mounts is None:
        return
    if isinstance(mounts, pulumi.Output):

        def check(ms: list) -> list:
            problems = mount_problems(plan, [m["kind"] for m in ms])
            if problems:
                raise SpecError([Problem("mounts", p) for p in problems], subject)
            return ms

        mounts.apply(check)
        return
    for problem in mount_problems(plan, [m["kind"] for m in mounts]):
        add("mounts", problem)


def from_resolved(cl: ResolvedCluster, context: BuildContext) -> GpuVmCluster:
    """The program's way in: a cluster it resolved, with its network, storage and deployment."""
    network, storage = context.network, context.storage
    assert cl.shape is not None
    wiring = dict(
        project=cl.project,
        network=network.attachment(cl.shape.family.id, cl.zone, cl.shape.gpus),
        mounts=storage.mounts,
    )
    if "bucket" in storage.resources:  # no bucket, no grant on one
        wiring["bucket"] = storage.bucket_name
    return GpuVmCluster(cl.name, wiring, resolved=cl)  # type: ignore[arg-type]


__all__ = ["ComputeEngineOptionsArgs", "GpuVmCluster", "GpuVmClusterArgs", "from_resolved"]
