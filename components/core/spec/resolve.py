"""Resolution: a parsed cluster spec checked against the catalog, its defaults decided, its path planned.

A cluster comes out of here as a `ResolvedCluster`: its zone, node count, node shape (GPU) or slice
(TPU), framework and storage are decided, its path's options are parsed and its path's pure plan
step has run (`resolved.plan`), so a component only builds. Every problem found is collected and
reported together, each with its key path; nothing of a path is special-cased here: each path brings
its own checks through its `PathDefinition`.
"""

from dataclasses import dataclass, field, replace
from typing import Any, Optional, Sequence

from pydantic.alias_generators import to_camel

from ai_clusters.core.advisor import choose_shape
from ai_clusters.core.catalog import Catalog, CatalogError, NodeShape, TpuSlice, catalog, one_of, region_of
from ai_clusters.core.enums import Framework, GpuDirect, ProvisioningModel, WorkloadKind
from ai_clusters.core.nics import family_uses_gpu_nics, gpu_cidr_problems
from ai_clusters.core.places import check_region
from ai_clusters.core.spec.capacity import check_capacity, check_derived_nodes, default_capacity
from ai_clusters.core.spec.errors import Problem, SpecError, parse_model
from ai_clusters.core.spec.models import ClusterSpec, EnvironmentSpec, StorageSpec
from ai_clusters.core.spec.paths import PathDefinition, path_definition
from ai_clusters.core.spec.storage import check_storage, default_storage


@dataclass(frozen=True)
class ResolvedCluster:
    """A cluster spec with every default decided, every fact checked against the catalog, and its path's plan."""

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
    chosen_by_advisor: bool = False
    options: Any = None
    """The path's options, parsed (its options model with every default)."""
    plan: Any = None
    """What the path's pure plan step decided (GKE: the node pools; Slurm: the layout …)."""

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

    @property
    def node_shapes(self) -> list[NodeShape]:
        """The GPU shapes of the cluster's nodes (a Slurm cluster's node sets may mix families)."""
        own = path_definition(self.spec.path).node_shapes
        if own is not None:
            return own(self)
        return [self.shape] if self.shape is not None else []


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

    def extend(self, problems: list[Problem]) -> None:
        for p in problems:
            self.add(p.path, p.message)


def _zone_choice(
    out: _Collector,
    what: str,
    offered: Sequence[str],
    zone: Optional[str],
    zones: list[str],
    region: str,
    listed_regions: Sequence[str] = (),
) -> Optional[str]:
    in_region = [z for z in offered if region_of(z) == region]
    # A region where Google lists the family but the catalog knows no zone yet: say so, and how to learn them.
    unknown = (
        f" (Google lists it in {region}, but the catalog knows no zone there yet: `ai-clusters catalog refresh --project P --write`)"
        if not in_region and region in listed_regions
        else ""
    )
    if zone is not None:
        if region_of(zone) != region:
            out.add("zone", f"{zone} is not in region {region}")
            return None
        if zone not in offered:
            where = one_of(in_region) if in_region else f"no zone of {region}{unknown}"
            out.add("zone", f"{what} is not offered in {zone}; offered in: {where}")
            return None
        return zone
    for z in zones:
        if z in offered:
            return z
    where = one_of(in_region) if in_region else f"no zone of {region}{unknown} (offered in {one_of(offered)})"
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


def _path_options(out: _Collector, definition: PathDefinition, cl: ClusterSpec) -> Any:
    """The path's options block parsed with the path's own model (its default when the cluster gives none)."""
    if definition.options_model is None or definition.options_key is None:
        return None
    raw = definition.options_of(cl)
    try:
        return parse_model(definition.options_model, raw if raw is not None else {}, (to_camel(definition.options_key),))
    except SpecError as exc:
        out.extend(exc.problems)
        return None


def _tpu_slice(out: _Collector, cl: ClusterSpec, cat: Catalog) -> Optional[TpuSlice]:
    t = cl.tpu
    assert t is not None
    try:
        if t.type is not None:
            found = cat.tpu_slice(t.type)
            if t.generation is not None and t.generation != found.generation.id:
                out.add("tpu.generation", f"{t.type} is {found.generation.name} ({found.generation.id}), not {t.generation}")
                return None
            if t.topology is not None and t.topology != found.type.topology:
                out.add("tpu.topology", f"{t.type} has topology {found.type.topology}, not {t.topology}")
                return None
            return found
        assert t.generation is not None and t.topology is not None
        return cat.tpu_slice_for(t.generation, t.topology)
    except CatalogError as exc:
        key = "tpu.type" if t.type else ("tpu.generation" if "generation" in str(exc) else "tpu.topology")
        out.add(key, str(exc))
        return None


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
) -> ResolvedCluster:
    """Check one cluster against the catalog, decide its defaults and run its path's plan step.

    SpecError lists every problem, each named by its key path under `prefix`.
    """
    cat = cat or catalog()
    out = _Collector(prefix)
    definition = path_definition(cl.path)
    options = _path_options(out, definition, cl)
    options_failed = bool(out.problems)
    if definition.prepare is not None and options is not None:
        cl = definition.prepare(cl, options, out.add)
    early = len(out.problems)  # the options' own problems: reported with the rest, the plan still runs when it can
    shape: Optional[NodeShape] = None
    tpu: Optional[TpuSlice] = None
    zone: Optional[str] = None
    nodes = cl.nodes
    by_advisor = False
    framework = cl.framework

    if cl.tpu is not None:
        tpu = _tpu_slice(out, cl, cat)
        if tpu is not None:
            gen = tpu.generation
            framework = framework or Framework.JAX
            zone = _zone_choice(out, gen.name, gen.zones, cl.zone, zones, region)
            if cl.provisioning.model not in gen.provisioning:
                out.add(
                    "provisioning.model",
                    f"{gen.name} cannot be had {cl.provisioning.model.value}; allowed: {one_of(p.value for p in gen.provisioning)}",
                )
            slices = cl.tpu.slices
            if nodes is not None and nodes != tpu.vms * slices:
                out.add("nodes", f"{tpu.type.name} x {slices} slice(s) runs on {tpu.vms * slices} hosts, not {nodes}")
            nodes = tpu.vms * slices
    else:
        framework = framework or Framework.PYTORCH
        if cl.machine_type is None:
            accepts = definition.accepts
            cand, ranking = choose_shape(
                cl.workload,
                region=region,
                zones=[cl.zone] if cl.zone else zones,
                provisioning=cl.provisioning.model,
                accept=(lambda s: accepts(s, cl.workload.kind)) if accepts else None,
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
            if shape.refusal:
                out.add("machineType", shape.refusal)
            zone = _zone_choice(out, f"{shape.machine_type} ({fam.name})", shape.zones, cl.zone, zones, region, fam.listed_regions)
            if not definition.own_capacity and cl.provisioning.model not in shape.provisioning:
                out.add(
                    "provisioning.model",
                    f"{shape.machine_type} cannot be had {cl.provisioning.model.value}; allowed: "
                    f"{one_of(p.value for p in shape.provisioning)}",
                )
            nodes = nodes or check_derived_nodes(out.add, cl.workload.accelerators, shape.gpus, shape.machine_type)
            limit = fam.max_placement_group_vms
            if nodes and limit and nodes > limit and cl.workload.kind in (WorkloadKind.PRETRAINING, WorkloadKind.FINETUNING):
                out.add(
                    "nodes" if cl.nodes is not None else "workload.accelerators",
                    f"{nodes} nodes exceed {fam.name}'s compact placement limit of {limit} VMs "
                    f"(at most {limit} x {shape.machine_type}: {limit * shape.gpus:,} GPUs)",
                )

    storage = cl.storage or default_storage(cl.workload.kind, cl.path)
    if zone is not None:
        check_storage(out.add, storage, zone, cat)

    if options_failed or len(out.problems) > early:
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
        chosen_by_advisor=by_advisor,
        options=options,
    )
    plan = definition.plan(resolved, out.add)
    if not out.problems:
        resolved = replace(resolved, plan=plan)
        check_capacity(out.add, cl.workload.accelerators, (definition.capacity or default_capacity)(resolved))
    if out.problems:
        raise SpecError(out.problems, partial=resolved)
    return resolved


def resolve_environment(env: EnvironmentSpec, cat: Optional[Catalog] = None) -> ResolvedEnvironment:
    """Check every cluster of an environment; SpecError lists every problem of every cluster."""
    cat = cat or catalog()
    problems: list[Problem] = []
    try:
        check_region(env.region, cat)
    except CatalogError as exc:  # every cluster's zone would only say the same again
        raise SpecError([Problem("region", str(exc))]) from None
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
    problems.extend(_network_problems(env, resolved.clusters))
    if problems:
        raise SpecError(problems)
    return resolved


def accelerator_networks(clusters: list[ResolvedCluster]) -> list[tuple[NodeShape, str]]:
    """One node shape per (family, zone) whose GPU/RDMA NICs the environment's network must serve."""
    found: dict[tuple[str, str], NodeShape] = {}
    for cl in clusters:
        for shape in cl.node_shapes:
            if shape.gpudirect != GpuDirect.NONE and family_uses_gpu_nics(shape.family, shape.gpus):
                found.setdefault((shape.family.id, cl.zone), shape)
    return [(shape, zone) for (_, zone), shape in found.items()]


def _network_problems(env: EnvironmentSpec, clusters: list[ResolvedCluster]) -> list[Problem]:
    """The environment's network against what its clusters need: accelerator subnets, the host MTU."""
    pairs = [(shape.family, zone) for shape, zone in accelerator_networks(clusters)]
    problems = [Problem("network.gpuCidr", p) for p in gpu_cidr_problems(env.network.gpu_cidr, pairs)]
    return problems + _host_mtu_problems(env, clusters)


def _host_mtu_problems(env: EnvironmentSpec, clusters: list[ResolvedCluster]) -> list[Problem]:
    """A host VPC MTU set below what a GPUDirect family of the environment needs."""
    mtu = env.network.host_mtu
    if mtu is None:
        return []
    index = {cl.name: i for i, cl in reversed(list(enumerate(env.clusters)))}
    out: list[Problem] = []
    for cl in clusters:
        for shape in cl.node_shapes:
            fam = shape.family
            if family_uses_gpu_nics(fam, shape.gpus) and mtu < fam.network.host_mtu:
                out.append(Problem("network.hostMtu", f"{mtu} is below the {fam.network.host_mtu} that {fam.name} (clusters[{index[cl.name]}]) needs"))
    return list(dict.fromkeys(out))


__all__ = ["ResolvedCluster", "ResolvedEnvironment", "accelerator_networks", "resolve_cluster", "resolve_environment"]
