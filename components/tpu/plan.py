"""The plan of a TpuVmCluster (`path: tpu`), checked against what the Cloud TPU API and pulumi-gcp offer.

Pure: the core runs it when the cluster resolves, so a stack and a component constructed by hand
fail the same way, before anything is registered.
"""

from dataclasses import dataclass
from typing import Optional

from ai_clusters.core.catalog import Catalog, CatalogError, TpuSlice, catalog, one_of
from ai_clusters.core.enums import ClusterPath, ProvisioningModel, WorkloadKind
from ai_clusters.core.spec import ClusterSpec, ResolvedCluster, StorageSpec, workload_storage
from ai_clusters.core.spec.paths import Add, PathDefinition

FLEX_START_UNSUPPORTED = (
    "flex-start TPUs come only from a queued resource with provisioning model FLEX_START, which pulumi-gcp 10.2.0 cannot "
    "express (its V2QueuedResource has no provisioning model, service account, labels or metadata); "
    "use on-demand, spot or a reservation on this path, or path 'gke' (flex-start TPU node pools)"
)


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
    if cl.provisioning.model == ProvisioningModel.FLEX_START:
        add("provisioning.model", FLEX_START_UNSUPPORTED)
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
class TpuPlan:
    """What the TPU VMs of a cluster run."""

    runtime_version: str
    """The TPU VM runtime (software version) of every node."""


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
        return TpuPlan(runtime_version=wanted)
    try:
        return TpuPlan(runtime_version=cat.tpu_runtime(gen.id, resolved.framework.value))
    except CatalogError as exc:
        add("framework", str(exc))
        return None


def tpu_vm_storage(kind: WorkloadKind) -> StorageSpec:
    """TPU VMs serve models from the bucket; otherwise the workload's storage."""
    return StorageSpec() if kind == WorkloadKind.INFERENCE else workload_storage(kind)


PATH = PathDefinition(
    path=ClusterPath.TPU,
    plan=plan_tpu_vms,
    component="ai_clusters.tpu.component:from_resolved",
    default_storage=tpu_vm_storage,
)

__all__ = ["FLEX_START_UNSUPPORTED", "PATH", "TpuPlan", "check_tpu_vm", "plan_tpu_vms", "tpu_vm_storage", "vm_count"]
