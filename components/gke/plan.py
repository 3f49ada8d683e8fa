"""The plan of a GkeCluster, decided before anything is registered (pure: no Pulumi here).

`plan_node_pools` decides, from the resolved cluster and the GKE options, everything that shapes the
accelerator pools: machine and accelerator, how many pools (one per TPU slice), fixed size or
autoscaling, Dynamic Workload Scheduler (flex-start, queued provisioning), spot or a reservation,
compact placement or a TPU topology, Local SSD, GPU sharing. Every impossible combination is
reported through `add(key, message)` with its stack key path before anything is registered.
"""

from dataclasses import dataclass, replace
from typing import Any, Optional

from pydantic.alias_generators import to_camel

from ai_clusters.core.catalog import Catalog, GpuFamily, NodeShape, catalog
from ai_clusters.core.enums import ClusterPath, GpuDirect, GpuDriverVersion, ProvisioningModel, WorkloadKind
from ai_clusters.core.spec import ClusterSpec, ResolvedCluster
from ai_clusters.core.spec.capacity import Capacity, default_capacity
from ai_clusters.core.spec.paths import Add, PathDefinition
from ai_clusters.gke.options import GkeOptions, GpuSharingSpec

TRAINING = (WorkloadKind.PRETRAINING, WorkloadKind.FINETUNING)



@dataclass(frozen=True)
class PoolPlan:
    """What the accelerator node pool(s) of a cluster are."""

    kind: str  # "gpu" or "tpu"
    machine_type: str
    accelerator: str  # GKE accelerator name (GPU) or cloud.google.com/gke-tpu-accelerator value (TPU)
    accelerators_per_node: int
    pools: int  # one node pool per TPU slice; 1 for GPUs
    nodes: int  # nodes per pool (the autoscaling maximum)
    min_nodes: Optional[int]  # None: a fixed size
    flex_start: bool
    queued: bool
    spot: bool
    reservation: Optional[str]
    compact: bool
    accelerator_topology: Optional[str]  # A4X: the workload policy's accelerator topology
    tpu_topology: Optional[str]
    local_ssd_count: int
    gpu_sharing: Optional[GpuSharingSpec]
    gpu_driver: GpuDriverVersion
    max_run_seconds: Optional[int]
    family: Optional[GpuFamily] = None

    @property
    def autoscaled(self) -> bool:
        return self.min_nodes is not None


def local_ssd_count(machine_type: str, local_ssd_gb: float, cat: Catalog) -> int:
    """Local SSDs bundled with a machine type (GKE mounts them as ephemeral storage)."""
    facts = cat.data.gke
    assert facts is not None
    if machine_type in facts.local_ssd_ephemeral_counts:
        return facts.local_ssd_ephemeral_counts[machine_type]
    disks, rest = divmod(int(local_ssd_gb), facts.local_ssd_disk_gb)
    return disks if not rest else 0


def _autoscaling(resolved: ResolvedCluster, options: GkeOptions, nodes: int, flex: bool, add: Add) -> Optional[int]:
    """The autoscaling minimum, or None for a fixed-size pool."""
    wanted = options.autoscaling
    kind = resolved.spec.workload.kind
    if flex:
        if wanted is not None and wanted.min_nodes > 0:
            add("gke.autoscaling.minNodes", f"flex-start nodes are created on demand and scale from zero; minNodes must be 0, not {wanted.min_nodes}")
        return 0
    if wanted is not None:
        minimum = wanted.min_nodes
    elif kind == WorkloadKind.INFERENCE and nodes > 1:
        minimum = 1  # serving keeps one node warm and grows with load
    else:
        return None
    latency = resolved.spec.workload.latency_ms
    if latency is not None and minimum < 1:
        add("gke.autoscaling.minNodes", f"a {latency} ms latency target needs at least one warm node; set minNodes to 1 or more")
    return minimum


def _capacity(resolved: ResolvedCluster, options: GkeOptions, queue_by_default: bool, add: Add) -> dict[str, Any]:
    """How the pool obtains its nodes: flex-start (queued or not), spot, a reservation, or on-demand."""
    model = resolved.provisioning
    flex = model == ProvisioningModel.FLEX_START
    queued = options.queued_provisioning if options.queued_provisioning is not None else (flex and queue_by_default)
    if queued and not flex:
        add("gke.queuedProvisioning", f"queued provisioning is Dynamic Workload Scheduler capacity: it needs provisioning flex-start, not {model.value}")
    hours = resolved.spec.provisioning.max_run_hours
    return {
        "flex_start": flex,
        "queued": queued,
        "spot": model == ProvisioningModel.SPOT,
        "reservation": resolved.spec.provisioning.reservation if model == ProvisioningModel.RESERVATION else None,
        # Flex-start VMs carry their limit on the node pool; queued requests carry it in the ProvisioningRequest.
        "max_run_seconds": hours * 3600 if flex and hours and not queued else None,
    }


def _gpu_plan(resolved: ResolvedCluster, options: GkeOptions, cat: Catalog, add: Add) -> Optional[PoolPlan]:
    shape = resolved.shape
    assert shape is not None
    fam = shape.family
    facts = cat.data.gke
    assert facts is not None
    nodes = resolved.nodes
    kind = resolved.spec.workload.kind
    if not fam.gpu.gke:
        add("machineType", f"GKE offers no accelerator type for {fam.gpu.model}")
        return None
    capacity = _capacity(resolved, options, nodes > 1, add)
    flex, queued = capacity["flex_start"], capacity["queued"]

    # Nodes that talk to each other (GPUDirect families, training) sit close; serving replicas need not.
    needs_compact = nodes > 1 and fam.compact_placement and (fam.gpudirect != GpuDirect.NONE or kind in TRAINING)
    flex_compact = fam.id in facts.flex_start_compact_families
    flex_compact_names = ", ".join(cat.family(f).name for f in facts.flex_start_compact_families)
    if options.compact_placement:
        if not fam.compact_placement:
            add("gke.compactPlacement", f"{fam.name} takes no compact placement policy")
        elif queued:
            add("gke.compactPlacement", "GKE does not place queued-provisioning GPU node pools compactly; Dynamic Workload Scheduler places the nodes")
        elif flex and not flex_compact:
            add("gke.compactPlacement", f"GKE places flex-start nodes compactly only for {flex_compact_names}, not {fam.name}; use queued provisioning")
    default_compact = needs_compact and not queued and (not flex or flex_compact)
    compact = options.compact_placement if options.compact_placement is not None else default_compact
    if needs_compact and fam.gpudirect != GpuDirect.NONE and not compact and not queued:
        if flex and not flex_compact:
            add("gke.queuedProvisioning", f"{nodes} flex-start nodes of {fam.name} need queued provisioning: GKE places flex-start nodes compactly only for {flex_compact_names}")
        else:
            add("gke.compactPlacement", f"{nodes} nodes of {fam.name} need compact placement for GPUDirect; leave compactPlacement on")

    if options.gpudirect and fam.gpudirect == GpuDirect.NONE:
        add("gke.gpudirect", f"{fam.name} has no GPUDirect networking to install")

    ssd_available = local_ssd_count(shape.machine_type, shape.local_ssd_gb, cat)
    if options.local_ssd and not ssd_available:
        add("gke.localSsd", f"{shape.machine_type} has no bundled Local SSD")
    ssd = ssd_available if options.local_ssd is not False else 0

    sharing = options.gpu_sharing
    if sharing is not None:
        if kind in TRAINING:
            add("gke.gpuSharing", f"GPU sharing is for small inference and graphics workloads, not {kind.value}")
        if sharing.max_clients > facts.gpu_sharing_max_clients:
            add("gke.gpuSharing.maxClients", f"GKE shares a GPU among at most {facts.gpu_sharing_max_clients} containers, not {sharing.max_clients}")

    return PoolPlan(
        kind="gpu",
        machine_type=shape.machine_type,
        accelerator=fam.gpu.gke,
        accelerators_per_node=shape.gpus,
        pools=1,
        nodes=nodes,
        min_nodes=_autoscaling(resolved, options, nodes, flex, add),
        compact=bool(compact),
        accelerator_topology=fam.placement_gpu_topology if compact else None,
        tpu_topology=None,
        local_ssd_count=ssd,
        gpu_sharing=sharing,
        gpu_driver=options.gpu_driver,
        family=fam,
        **capacity,
    )


def _tpu_plan(resolved: ResolvedCluster, options: GkeOptions, cat: Catalog, add: Add) -> Optional[PoolPlan]:
    tpu = resolved.tpu
    assert tpu is not None and resolved.spec.tpu is not None
    gen = tpu.generation
    if gen.gke is None:
        add("tpu.generation", f"GKE offers no node pools of {gen.name}")
        return None
    multi_host = tpu.vms > 1
    per_node = tpu.chips_per_vm if multi_host else tpu.chips
    machine = next((m for m in gen.gke.machine_types if m.chips == per_node), None)
    if machine is None:
        sizes = ", ".join(f"{m.name} ({m.chips} chips)" for m in gen.gke.machine_types)
        add("tpu.type", f"{tpu.type.name} needs a GKE machine type of {per_node} chips; {gen.name} has {sizes}")
        return None
    if resolved.spec.tpu.runtime_version:
        add("tpu.runtimeVersion", "GKE installs the TPU runtime of its node image; runtimeVersion is for TPU VMs")
    for key in ("gpu_sharing", "gpu_driver", "gpudirect", "dcgm_metrics"):
        if key in options.model_fields_set:
            add(f"gke.{to_camel(key)}", "applies to GPU node pools, not TPUs")
    if options.local_ssd:
        add("gke.localSsd", "applies to GPU node pools, not TPUs")
    capacity = _capacity(resolved, options, multi_host, add)
    flex = capacity["flex_start"]
    slices = resolved.spec.tpu.slices
    if options.compact_placement is False and multi_host:
        add("gke.compactPlacement", f"a multi-host {tpu.type.name} slice is always placed compactly with its topology {tpu.type.topology}")
    if multi_host and options.autoscaling is not None and not flex:
        add("gke.autoscaling", f"a multi-host {tpu.type.name} slice runs all {tpu.vms} hosts or none; it does not autoscale")
    nodes = tpu.vms if multi_host else slices
    return PoolPlan(
        kind="tpu",
        machine_type=machine.name,
        accelerator=gen.gke.tpu_accelerator,
        accelerators_per_node=machine.chips,
        pools=slices if multi_host else 1,
        nodes=nodes,
        min_nodes=_autoscaling(resolved, options, nodes, flex, add) if (flex or not multi_host) else None,
        compact=multi_host,
        accelerator_topology=None,
        tpu_topology=tpu.type.topology if multi_host else None,
        local_ssd_count=0,
        gpu_sharing=None,
        gpu_driver=options.gpu_driver,
        **capacity,
    )


def plan_node_pools(resolved: ResolvedCluster, options: GkeOptions, add: Add, cat: Optional[Catalog] = None) -> Optional[PoolPlan]:
    """The accelerator pools of a resolved cluster; every impossible option reported through `add`."""
    cat = cat or catalog()
    system = options.system_pool.machine_type
    if system and (cat.is_gpu_machine(system) or system in cat.gke_tpu_machines or system in cat.n1_machines):
        add("gke.systemPool.machineType", f"{system} is an accelerator machine type; the system pool runs on small CPU machines")
    if resolved.shape is not None:
        return _gpu_plan(resolved, options, cat, add)
    return _tpu_plan(resolved, options, cat, add)


@dataclass(frozen=True)
class GkePlan:
    """What a GkeCluster is: its options with every default, and its accelerator node pools."""

    options: GkeOptions
    pools: PoolPlan


def plan_gke(resolved: ResolvedCluster, add: Add) -> Optional[GkePlan]:
    """The cluster's node pools; every option that cannot work reported through `add`."""
    options: GkeOptions = resolved.options
    if resolved.spec.tpu is not None:
        for key in resolved.spec.tpu.vm_only_keys:
            add(f"tpu.{key}", "applies to path 'tpu' (TPU VMs) only")
    pools = plan_node_pools(resolved, options, add)
    return GkePlan(options=options, pools=pools) if pools is not None else None


def autoscaling_sets_nodes(cl: ClusterSpec, options: GkeOptions, add: Add) -> ClusterSpec:
    """The autoscaling maximum is the cluster's node count: give one of the two (or both, equal)."""
    limit = options.autoscaling.max_nodes if options.autoscaling else None
    if limit is None:
        return cl
    if cl.nodes not in (None, limit):
        add("gke.autoscaling.maxNodes", f"{limit} disagrees with nodes {cl.nodes}; give one of them")
        return cl
    return cl.model_copy(update={"nodes": limit})


def gke_capacity(resolved: ResolvedCluster) -> Capacity:
    """The node pool(s) at their largest: the autoscaling maximum sizes a GPU pool when it is given."""
    capacity = default_capacity(resolved)
    options: GkeOptions = resolved.options
    if resolved.shape is not None and options.autoscaling is not None and options.autoscaling.max_nodes is not None:
        return replace(capacity, resize_key="gke.autoscaling.maxNodes")
    return capacity


def gke_accepts(shape: NodeShape, kind: WorkloadKind) -> Optional[str]:
    """GKE runs every GPU the catalog gives a GKE accelerator name."""
    return None if shape.family.gpu.gke else f"GKE offers no accelerator type for {shape.family.gpu.model}"


PATH = PathDefinition(
    path=ClusterPath.GKE,
    plan=plan_gke,
    component="ai_clusters.gke.component:from_resolved",
    options_key="gke",
    options_model=GkeOptions,
    prepare=autoscaling_sets_nodes,
    accepts=gke_accepts,
    capacity=gke_capacity,
)

__all__ = ["GkePlan", "PATH", "PoolPlan", "local_ssd_count", "plan_gke", "plan_node_pools"]
