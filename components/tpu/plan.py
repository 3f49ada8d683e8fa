"""The plan of a TpuVmCluster (`path: tpu`), checked against what the Cloud TPU API and pulumi-gcp offer.

Pure: the core runs it when the cluster resolves, so a stack and a component constructed by hand
fail the same way, before anything is registered.

Which slices are TPU VMs and which a queued resource: a single-host, single-slice, on-demand slice is
one TPU VM (`gcp.tpu.V2Vm`, created at once or failing at once). Everything else goes through one
Cloud TPU queued resource, which waits for capacity instead of failing: a multi-host slice (the
hosts come together or not at all), multislice (one request with a node count: gang-scheduled and
repaired together), and the tiers only a queued resource can ask for in full: spot, a named
reservation, flex-start.
"""

from dataclasses import dataclass
from typing import Literal, Optional

from ai_clusters.core.catalog import Catalog, CatalogError, TpuSlice, catalog, one_of
from ai_clusters.core.enums import ClusterPath, ProvisioningModel, WorkloadKind
from ai_clusters.core.spec import ClusterSpec, ResolvedCluster, StorageSpec, workload_storage
from ai_clusters.core.spec.paths import Add, PathDefinition

QUEUED_MODELS = (ProvisioningModel.SPOT, ProvisioningModel.RESERVATION, ProvisioningModel.FLEX_START)
"""Tiers a TPU VM path cluster always gets through a queued resource."""
FLEX_START_MAX_RUN_HOURS = 168
"""Flex-start TPUs run for at most 7 days (tpu-flex-start); the default run when `maxRunHours` is not given."""
PROVISIONING_MARGIN_MINUTES = 30
"""How much longer than the request's validity `pulumi up` waits by default: the time to provision once it is filled."""
DEFAULT_CREATE_TIMEOUT_MINUTES = 60


def vm_count(sl: TpuSlice, slices: int) -> int:
    """TPU VMs (hosts) of all slices."""
    return sl.vms * slices


def check_tpu_vm(add: Add, cl: ClusterSpec, sl: TpuSlice, storage: StorageSpec, cat: Catalog) -> bool:
    """Report what a TPU VM cluster cannot have; False when the generation is not on the Cloud TPU API at all."""
    t = cl.tpu
    assert t is not None
    gen = sl.generation
    api = cat.cloud_tpu(gen.id)
    if api is None:
        offered = [g for g in cat.tpu_generations.values() if cat.cloud_tpu(g.id)]
        add(
            "tpu.type" if t.type else "tpu.generation",
            f"{gen.name} is not offered through the Cloud TPU API that TPU VMs are made with (GKE only): use path 'gke'; "
            f"TPU VMs come in {one_of(g.name for g in offered)}",
        )
        return False
    vms = vm_count(sl, t.slices)
    seen: set[str] = set()
    for i, disk in enumerate(t.data_disks):
        kind = disk.type or api.data_disk_types[0]
        if kind not in api.data_disk_types:
            add(f"tpu.dataDisks[{i}].type", f"{gen.name} VMs take {one_of(api.data_disk_types)} data disks, not {kind}")
        if disk.mount_point in seen:
            add(f"tpu.dataDisks[{i}].mountPoint", f"{disk.mount_point} is already the mount point of another data disk")
        seen.add(disk.mount_point)
    if t.data_disks and vms > 1:
        add(
            "tpu.dataDisks",
            f"a read-write disk attaches to one VM at a time and {sl.type.name} x {t.slices} slice(s) runs on {vms} VMs; "
            "share data through storage (filestore, parallelstore, the bucket) or a read-only hyperdiskMl",
        )
    hd = storage.hyperdisk_ml
    if hd is not None:
        if "hyperdisk-ml" not in api.read_only_disk_types:
            add("storage.hyperdiskMl", f"{gen.name} VMs take {one_of(api.data_disk_types)} data disks, not Hyperdisk ML")
        elif vms > 1 and not hd.source_snapshot:
            add(
                "storage.hyperdiskMl.sourceSnapshot",
                f"a Hyperdisk ML volume read by {vms} TPU VMs at once must be READ_ONLY_MANY, which needs the snapshot it starts from",
            )
    disks = 1 + len(t.data_disks) + (1 if hd is not None else 0)
    if disks > api.max_disks:
        add("tpu.dataDisks", f"{gen.name} VMs take at most {api.max_disks} disks with the boot disk, not {disks}")
    return True


@dataclass(frozen=True)
class QueuedPlan:
    """How a cluster's slices are requested as one Cloud TPU queued resource."""

    api_version: Literal["v2", "v2alpha1"]
    """v2 (GA); v2alpha1 only for flex-start, whose provisioning model and run duration exist in no other version."""
    tier: ProvisioningModel
    """on-demand, spot, reservation or flex-start."""
    node_count: int
    """Slices: one node per slice, named `<cluster>-<i>` when more than one."""
    reservation: Optional[str]
    """With tier reservation: the reservation's name in the cluster's project and zone."""
    max_run_seconds: Optional[int]
    """With flex-start: how long the slices run before the service deletes them (runDuration.maxRunDuration)."""
    valid_until_seconds: Optional[int]
    """How long the request may wait in the queue before it expires (queueingPolicy.validUntilDuration)."""
    create_timeout_minutes: int
    """How long `pulumi up` waits for ACTIVE before it deletes the request and fails."""
    why: str
    """Why these slices are a queued resource and not a TPU VM (shown in the node description)."""


@dataclass(frozen=True)
class TpuPlan:
    """What the TPU nodes of a cluster run, and whether they come from a queued resource."""

    runtime_version: str
    """The TPU VM runtime (software version) of every node."""
    queued: Optional[QueuedPlan] = None
    """The queued resource the slices are requested through; None: one TPU VM (single-host on-demand)."""


def queued_reason(sl: TpuSlice, slices: int, model: ProvisioningModel) -> Optional[str]:
    """Why a cluster's slices need a queued resource, or None when a single TPU VM serves (single-host on-demand)."""
    if slices > 1:
        return f"multislice: {slices} x {sl.type.name}"
    if model in QUEUED_MODELS:
        return f"{model.value} capacity"
    if sl.vms > 1:
        return f"multi-host slice: {sl.type.name} on {sl.vms} TPU VMs"
    return None


def plan_queue(resolved: ResolvedCluster, add: Add, cat: Catalog) -> Optional[QueuedPlan]:
    """The queued resource of a cluster (None: a TPU VM), its tier settings checked against the catalog."""
    cl, sl = resolved.spec, resolved.tpu
    assert cl.tpu is not None and sl is not None
    model = cl.provisioning.model
    why = queued_reason(sl, cl.tpu.slices, model)
    queue = cl.tpu.queue
    if why is None:
        if queue is not None:
            add("tpu.queue", f"applies to slices made through a queued resource; {sl.type.name} on-demand is one TPU VM, created at once")
        return None
    ok = True
    if model == ProvisioningModel.FLEX_START:
        ok = _check_flex_start(add, resolved, sl, cat)
    valid_until = queue.valid_until_hours if queue else None
    timeout = queue.create_timeout_minutes if queue else None
    if valid_until is not None and timeout is not None and timeout < valid_until * 60:
        add(
            "tpu.queue.createTimeoutMinutes",
            f"{timeout} minutes is shorter than validUntilHours ({valid_until} h): pulumi would delete the request while it may "
            "still be filled; wait at least as long, or shorten validUntilHours",
        )
        ok = False
    if not ok:
        return None
    if timeout is None:
        timeout = valid_until * 60 + PROVISIONING_MARGIN_MINUTES if valid_until else DEFAULT_CREATE_TIMEOUT_MINUTES
    flex = model == ProvisioningModel.FLEX_START
    return QueuedPlan(
        api_version="v2alpha1" if flex else "v2",
        tier=model,
        node_count=cl.tpu.slices,
        reservation=cl.provisioning.reservation,
        max_run_seconds=(cl.provisioning.max_run_hours or FLEX_START_MAX_RUN_HOURS) * 3600 if flex else None,
        valid_until_seconds=valid_until * 3600 if valid_until else None,
        create_timeout_minutes=timeout,
        why=why,
    )


def _check_flex_start(add: Add, resolved: ResolvedCluster, sl: TpuSlice, cat: Catalog) -> bool:
    """Flex-start TPUs exist for some generations, in some zones, per use (training or serving)."""
    api = cat.cloud_tpu(sl.generation.id)
    assert api is not None
    offered = {z for zones in api.flex_start_zones.values() for z in zones}
    if not offered:
        with_flex = [g for g in cat.data.cloud_tpu_api.generations if g.flex_start_zones] if cat.data.cloud_tpu_api else []
        add(
            "provisioning.model",
            f"Google offers no flex-start {sl.generation.name} through Cloud TPU queued resources; flex-start TPU VMs come in "
            f"{one_of(cat.tpu_generation(g.id).name for g in with_flex)}, or use path 'gke' (flex-start TPU node pools)",
        )
        return False
    use = "serving" if resolved.spec.workload.kind == WorkloadKind.INFERENCE else "training"
    zones = api.flex_start_zones.get(use, [])
    if resolved.zone not in zones:
        add("zone", f"flex-start {sl.generation.name} for {use} is offered in {one_of(zones) if zones else 'no zone'}, not {resolved.zone}")
        return False
    return True


def plan_tpu_vms(resolved: ResolvedCluster, add: Add, cat: Optional[Catalog] = None) -> Optional[TpuPlan]:
    """Check a TPU VM cluster against the Cloud TPU API and decide its runtime version."""
    cat = cat or catalog()
    cl, sl = resolved.spec, resolved.tpu
    if cl.tpu is None or sl is None:
        add("tpu", "is required: {type} or {generation, topology}")
        return None
    if not check_tpu_vm(add, cl, sl, resolved.storage, cat):
        return None
    gen = sl.generation
    allowed = cat.tpu_runtimes(gen.id)
    wanted = cl.tpu.runtime_version
    if wanted is not None:
        if wanted not in allowed:
            other = next((g.name for g in cat.tpu_generations.values() if wanted in cat.tpu_runtimes(g.id)), None)
            why = f"is a runtime of {other}" if other else "is not a known runtime"
            add("tpu.runtimeVersion", f"{wanted!r} {why}, not of {gen.name}; allowed: {one_of(allowed)}")
            return None
        runtime = wanted
    else:
        try:
            runtime = cat.tpu_runtime(gen.id, resolved.framework.value)
        except CatalogError as exc:
            add("framework", str(exc))
            return None
    problems: list[tuple[str, str]] = []
    queued = plan_queue(resolved, lambda key, message: problems.append((key, message)), cat)
    for key, message in problems:
        add(key, message)
    return None if problems else TpuPlan(runtime_version=runtime, queued=queued)


def tpu_vm_storage(kind: WorkloadKind) -> StorageSpec:
    """TPU VMs serve models from the bucket; otherwise the workload's storage."""
    return StorageSpec() if kind == WorkloadKind.INFERENCE else workload_storage(kind)


PATH = PathDefinition(
    path=ClusterPath.TPU,
    plan=plan_tpu_vms,
    component="ai_clusters.tpu.component:from_resolved",
    default_storage=tpu_vm_storage,
)

__all__ = ["PATH", "QueuedPlan", "TpuPlan", "check_tpu_vm", "plan_queue", "plan_tpu_vms", "queued_reason", "tpu_vm_storage", "vm_count"]
