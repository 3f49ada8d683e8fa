"""A cluster's storage: the default per workload, and its checks against the catalog."""

from typing import Callable

from pydantic.alias_generators import to_camel

from ai_clusters.core.catalog import Catalog, one_of
from ai_clusters.core.enums import ClusterPath, WorkloadKind
from ai_clusters.core.spec.models import FilestoreSpec, HyperdiskMlSpec, LustreSpec, StorageSpec
from ai_clusters.core.spec.paths import path_definition


def workload_storage(kind: WorkloadKind) -> StorageSpec:
    """Storage when a cluster gives none: what Google's AI storage guidance suggests per workload."""
    if kind == WorkloadKind.PRETRAINING:
        return StorageSpec(lustre=LustreSpec())
    if kind in (WorkloadKind.FINETUNING, WorkloadKind.HPC):
        return StorageSpec(filestore=FilestoreSpec())
    if kind == WorkloadKind.INFERENCE:
        return StorageSpec(hyperdisk_ml=HyperdiskMlSpec())
    return StorageSpec()


def default_storage(kind: WorkloadKind, path: ClusterPath) -> StorageSpec:
    """The storage of a cluster on `path` that names none: the path's own default, else the workload's."""
    own = path_definition(path).default_storage
    return own(kind) if own is not None else workload_storage(kind)


def _fits(ranges, gib: int) -> bool:
    return any(r.allows(gib) for r in ranges)


def _ranges(ranges) -> str:
    return " or ".join(str(r) for r in ranges)


def check_storage(add: Callable[[str, str], None], storage: StorageSpec, zone: str, cat: Catalog) -> None:
    """Check storage choices against the catalog's tiers, capacities, steps and zones."""
    facts = cat.data.storage
    if storage.filestore is not None:
        fs = storage.filestore
        tiers = {t.tier: t for t in facts.filestore_tiers}
        tier = tiers.get(fs.tier)
        if tier is None:
            add("storage.filestore.tier", f"{fs.tier!r} is not one of {', '.join(tiers)}")
        elif not _fits(tier.ranges, fs.capacity_gb):
            add("storage.filestore.capacityGb", f"{fs.tier} takes {_ranges(tier.ranges)}, not {fs.capacity_gb}")
    if storage.lustre is not None:
        lu = storage.lustre
        tiers = {t.mbps_per_tib: t for t in facts.lustre.throughput_tiers}
        tier = tiers.get(lu.throughput_mbps_per_tib)
        if tier is None:
            add("storage.lustre.throughputMbpsPerTib", f"{lu.throughput_mbps_per_tib} is not one of {', '.join(map(str, tiers))}")
        elif not _fits(tier.ranges, lu.capacity_gb):
            add("storage.lustre.capacityGb", f"at {tier.mbps_per_tib} MB/s per TiB Lustre takes {_ranges(tier.ranges)}, not {lu.capacity_gb}")
        if facts.lustre.zones_complete and zone not in facts.lustre.zones:
            add("storage.lustre", f"Managed Lustre is not offered in {zone}; offered in: {one_of(facts.lustre.zones)}")
    if storage.parallelstore is not None:
        ps, pf = storage.parallelstore, facts.parallelstore
        if not _fits(pf.ranges, ps.capacity_gb):
            add("storage.parallelstore.capacityGb", f"Parallelstore takes {_ranges(pf.ranges)}, not {ps.capacity_gb}")
        if ps.deployment_type not in pf.deployment_types:
            add("storage.parallelstore.deploymentType", f"{ps.deployment_type!r} is not one of {', '.join(pf.deployment_types)}")
        if pf.zones and zone not in pf.zones:
            add("storage.parallelstore", f"Parallelstore is not offered in {zone}; offered in: {one_of(pf.zones)}")
    if storage.hyperdisk_ml is not None:
        hd, hf = storage.hyperdisk_ml, facts.hyperdisk_ml
        if not hf.min_gib <= hd.size_gb <= hf.max_gib:
            add("storage.hyperdiskMl.sizeGb", f"Hyperdisk ML takes {hf.min_gib}-{hf.max_gib} GiB, not {hd.size_gb}")
        low = hf.min_throughput_mibps or 1
        if hd.throughput_mibps is not None and not low <= hd.throughput_mibps <= hf.max_throughput_mibps:
            add("storage.hyperdiskMl.throughputMibps", f"Hyperdisk ML takes {low}-{hf.max_throughput_mibps} MiB/s, not {hd.throughput_mibps}")
    mounted: dict[str, str] = {}
    for key in ("filestore", "lustre", "parallelstore", "hyperdisk_ml"):
        fs = getattr(storage, key)
        if fs is None:
            continue
        name = to_camel(key)
        if fs.mount_point in mounted:
            add(f"storage.{name}.mountPoint", f"{fs.mount_point} is already the mount point of storage.{mounted[fs.mount_point]}")
        mounted.setdefault(fs.mount_point, name)
    cs = facts.cloud_storage
    days = storage.bucket.soft_delete_days
    if days and not cs.soft_delete_min_days <= days <= cs.soft_delete_max_days:
        add("storage.bucket.softDeleteDays", f"soft delete keeps {cs.soft_delete_min_days}-{cs.soft_delete_max_days} days (0 turns it off), not {days}")


__all__ = ["check_storage", "default_storage", "workload_storage"]
