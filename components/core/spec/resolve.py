"""Checks of a parsed spec against the catalog, and the defaults resolved from it.

A cluster comes out of here as a `ResolvedCluster`: its zone, node count, node shape (GPU) or slice
(TPU), runtime version, framework and storage are all decided, so the components only build.
Every problem found is collected and reported together, each with its key path.
"""

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

from ai_clusters.core.catalog import Catalog, CatalogError, NodeShape, TpuSlice, catalog, one_of, region_of
from ai_clusters.core.enums import ClusterPath, Framework, ProvisioningModel, WorkloadKind
from ai_clusters.core.spec.errors import Problem, SpecError
from ai_clusters.tpu.plan import check_tpu_vm
from ai_clusters.core.spec.models import ClusterSpec, EnvironmentSpec, FilestoreSpec, HyperdiskMlSpec, LustreSpec, StorageSpec

TPU_PATHS = (ClusterPath.TPU,)


@dataclass(frozen=True)
class ResolvedCluster:
    """A cluster spec with every default decided and every fact checked against the catalog."""

    spec: ClusterSpec
    environment: str
    project: str
    region: str
    zone: str
    nodes: int
    framework: Framework
    storage: StorageSpec
    labels: dict[str, str]
    protect_data: bool
    shape: Optional[NodeShape] = None
    tpu: Optional[TpuSlice] = None
    runtime_version: Optional[str] = None
    chosen_by_advisor: bool = False

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def accelerators(self) -> int:
        """Accelerators the cluster really has (GPUs, or TPU chips over all slices)."""
        if self.shape is not None:
            return self.shape.gpus * self.nodes
        assert self.tpu is not None
        return self.tpu.chips * (self.spec.tpu.slices if self.spec.tpu else 1)

    @property
    def family_id(self) -> str:
        if self.shape is not None:
            return self.shape.family.id
        assert self.tpu is not None
        return self.tpu.generation.id

    @property
    def provisioning(self) -> ProvisioningModel:
        return self.spec.provisioning.model


@dataclass
class ResolvedEnvironment:
    spec: EnvironmentSpec
    clusters: list[ResolvedCluster] = field(default_factory=list)


class _Collector:
    def __init__(self, prefix: str):
        self.prefix = prefix
        self.problems: list[Problem] = []

    def add(self, key: str, message: str) -> None:
        path = f"{self.prefix}.{key}" if self.prefix and key else (self.prefix or key)
        self.problems.append(Problem(path, message))


def _zone_choice(
    out: _Collector,
    what: str,
    offered: list[str],
    zone: Optional[str],
    zones: list[str],
    region: str,
) -> Optional[str]:
    in_region = [z for z in offered if region_of(z) == region]
    if zone is not None:
        if region_of(zone) != region:
            out.add("zone", f"{zone} is not in region {region}")
            return None
        if zone not in offered:
            where = one_of(in_region) if in_region else f"no zone of {region}"
            out.add("zone", f"{what} is not offered in {zone}; offered in: {where}")
            return None
        return zone
    for z in zones:
        if z in offered:
            return z
    where = one_of(in_region) if in_region else f"no zone of {region} (offered in {one_of(offered)})"
    out.add("zone", f"{what} is not offered in the environment's zones {', '.join(zones)}; offered in: {where}")
    return None


def _gpu_shape(out: _Collector, cl: ClusterSpec, cat: Catalog) -> Optional[NodeShape]:
    assert cl.machine_type is not None
    try:
        return cat.shape(cl.machine_type, cl.gpu, cl.gpus_per_node)
    except CatalogError as exc:
        text = str(exc)
        if cl.gpu and cl.machine_type in cat.n1_machines:
            if cl.gpu not in cat.n1_gpus:
                key = "gpu"
            elif "counts of" in text:
                key = "gpusPerNode"
            else:
                key = "machineType"
        else:
            key = "gpu" if "comes with" in text else ("gpusPerNode" if "exactly" in text else "machineType")
        out.add(key, text)
        return None


def default_storage(kind: WorkloadKind, path: ClusterPath) -> StorageSpec:
    """Storage when a cluster gives none: what Google's AI storage guidance suggests per workload."""
    if path in (ClusterPath.VERTEX,):
        return StorageSpec()
    if kind == WorkloadKind.PRETRAINING:
        return StorageSpec(lustre=LustreSpec())
    if kind in (WorkloadKind.FINETUNING, WorkloadKind.HPC):
        return StorageSpec(filestore=FilestoreSpec())
    if kind == WorkloadKind.INFERENCE and path != ClusterPath.TPU:
        return StorageSpec(hyperdisk_ml=HyperdiskMlSpec())
    return StorageSpec()


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
    cs = facts.cloud_storage
    days = storage.bucket.soft_delete_days
    if days and not cs.soft_delete_min_days <= days <= cs.soft_delete_max_days:
        add("storage.bucket.softDeleteDays", f"soft delete keeps {cs.soft_delete_min_days}-{cs.soft_delete_max_days} days (0 turns it off), not {days}")


def resolve_cluster(
    cl: ClusterSpec,
    *,
    environment: str,
    project: str,
    region: str,
    zones: list[str],
    labels: Optional[dict[str, str]] = None,
    protect_data: bool = True,
    prefix: str = "",
    cat: Optional[Catalog] = None,
    extra_checks: Optional[Callable[[ResolvedCluster, Callable[[str, str], None]], None]] = None,
) -> ResolvedCluster:
    """Check one cluster against the catalog and decide its defaults; SpecError lists every problem."""
    cat = cat or catalog()
    out = _Collector(prefix)
    shape: Optional[NodeShape] = None
    tpu: Optional[TpuSlice] = None
    runtime: Optional[str] = None
    zone: Optional[str] = None
    nodes = cl.nodes
    by_advisor = False
    framework = cl.framework

    if cl.tpu is not None:
        t = cl.tpu
        try:
            if t.type is not None:
                tpu = cat.tpu_slice(t.type)
                if t.generation is not None and t.generation != tpu.generation.id:
                    out.add("tpu.generation", f"{t.type} is {tpu.generation.name} ({tpu.generation.id}), not {t.generation}")
                    tpu = None
                elif t.topology is not None and t.topology != tpu.type.topology:
                    out.add("tpu.topology", f"{t.type} has topology {tpu.type.topology}, not {t.topology}")
                    tpu = None
            else:
                assert t.generation is not None and t.topology is not None
                tpu = cat.tpu_slice_for(t.generation, t.topology)
        except CatalogError as exc:
            key = "tpu.type" if t.type else ("tpu.generation" if "generation" in str(exc) else "tpu.topology")
            out.add(key, str(exc))
        if tpu is not None:
            gen = tpu.generation
            framework = framework or Framework.JAX
            on_cloud_tpu_api = True  # TPU VMs need a runtime of the Cloud TPU API; TPU7x has none (GKE only)
            if cl.path == ClusterPath.TPU:
                storage_wanted = cl.storage or default_storage(cl.workload.kind, cl.path)
                on_cloud_tpu_api = check_tpu_vm(out.add, cl, tpu, storage_wanted, cat)
            else:
                for key in t.vm_only_keys:
                    out.add(f"tpu.{key}", "applies to path 'tpu' (TPU VMs) only")
            allowed = cat.tpu_runtimes(gen.id)
            if on_cloud_tpu_api and t.runtime_version is not None:
                if t.runtime_version not in allowed:
                    other = next((g.name for g in cat.tpu_generations.values() if t.runtime_version in cat.tpu_runtimes(g.id)), None)
                    why = f"is a runtime of {other}" if other else "is not a known runtime"
                    out.add("tpu.runtimeVersion", f"{t.runtime_version!r} {why}, not of {gen.name}; allowed: {one_of(allowed)}")
                runtime = t.runtime_version
            elif on_cloud_tpu_api:
                try:
                    runtime = cat.tpu_runtime(gen.id, framework.value)
                except CatalogError as exc:
                    out.add("framework", str(exc))
            zone = _zone_choice(out, gen.name, gen.zones, cl.zone, zones, region)
            if cl.provisioning.model not in gen.provisioning:
                out.add(
                    "provisioning.model",
                    f"{gen.name} cannot be had {cl.provisioning.model.value}; allowed: {one_of(p.value for p in gen.provisioning)}",
                )
            if nodes is not None and nodes != tpu.hosts * t.slices:
                out.add("nodes", f"{tpu.type.name} x {t.slices} slice(s) runs on {tpu.hosts * t.slices} hosts, not {nodes}")
            nodes = tpu.hosts * t.slices
    else:
        framework = framework or Framework.PYTORCH
        if cl.machine_type is None:
            from ai_clusters.core.advisor import choose_shape

            cand, ranking = choose_shape(
                cl.workload,
                region=region,
                zones=[cl.zone] if cl.zone else zones,
                provisioning=cl.provisioning.model,
                require_vertex=cl.path == ClusterPath.VERTEX,
                cat=cat,
            )
            if cand is None:
                reasons = "; ".join(f"{r.name}: {r.reason}" for r in ranking.rejected[:6])
                out.add("machineType", f"is required: the advisor found no feasible tier ({reasons})")
            else:
                shape = cand.shape
                by_advisor = True
        else:
            shape = _gpu_shape(out, cl, cat)
        if shape is not None:
            fam = shape.family
            zone = _zone_choice(out, f"{shape.machine_type} ({fam.name})", fam.zones, cl.zone, zones, region)
            # Vertex AI obtains capacity its own way; its path checks provisioning (spec.vertex.plan_vertex).
            if cl.path != ClusterPath.VERTEX and cl.provisioning.model not in shape.provisioning:
                out.add(
                    "provisioning.model",
                    f"{shape.machine_type} cannot be had {cl.provisioning.model.value}; allowed: "
                    f"{one_of(p.value for p in shape.provisioning)}",
                )
            if cl.path == ClusterPath.VERTEX and not fam.gpu.vertex:
                out.add("machineType", f"Vertex AI does not offer {fam.gpu.model}")
            nodes = nodes or max(1, math.ceil(cl.workload.accelerators / shape.gpus))
            limit = fam.max_placement_group_vms
            if limit and nodes > limit and cl.workload.kind in (WorkloadKind.PRETRAINING, WorkloadKind.FINETUNING):
                out.add("nodes", f"{nodes} nodes exceed {fam.name}'s compact placement limit of {limit} VMs")

    storage = cl.storage or default_storage(cl.workload.kind, cl.path)
    if zone is not None:
        check_storage(out.add, storage, zone, cat)

    if out.problems:
        raise SpecError(out.problems)
    assert zone is not None and nodes is not None and framework is not None
    resolved = ResolvedCluster(
        spec=cl,
        environment=environment,
        project=project,
        region=region,
        zone=zone,
        nodes=nodes,
        framework=framework,
        storage=storage,
        labels={**(labels or {}), **cl.labels},
        protect_data=protect_data,
        shape=shape,
        tpu=tpu,
        runtime_version=runtime,
        chosen_by_advisor=by_advisor,
    )
    if extra_checks is not None:
        extra_checks(resolved, out.add)
        if out.problems:
            raise SpecError(out.problems)
    return resolved


def resolve_environment(env: EnvironmentSpec, cat: Optional[Catalog] = None) -> ResolvedEnvironment:
    """Check every cluster of an environment; SpecError lists every problem of every cluster."""
    cat = cat or catalog()
    problems: list[Problem] = []
    for z in env.zones:
        if region_of(z) != env.region:
            problems.append(Problem("zones", f"{z} is not in region {env.region}"))
    seen: dict[str, int] = {}
    for i, cl in enumerate(env.clusters):
        if cl.name in seen:
            problems.append(Problem(f"clusters[{i}].name", f"{cl.name!r} is already the name of clusters[{seen[cl.name]}]"))
        seen.setdefault(cl.name, i)
    resolved = ResolvedEnvironment(env)
    for i, cl in enumerate(env.clusters):
        try:
            resolved.clusters.append(
                resolve_cluster(
                    cl,
                    environment=env.name,
                    project=env.project,
                    region=env.region,
                    zones=env.zones,
                    labels=env.labels,
                    protect_data=env.protect_data,
                    prefix=f"clusters[{i}]",
                    cat=cat,
                )
            )
        except SpecError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SpecError(problems)
    return resolved
