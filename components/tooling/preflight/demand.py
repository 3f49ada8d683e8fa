"""What a stack asks of Google Cloud: per cluster, the machines, TPU slices and quotas it needs.

Pure functions over the resolved environment (no network), reading each path's plan:

- GPU nodes (Compute Engine, GKE GPU pools, Slurm GPU node sets) become `MachineDemand`s and draw on
  the regional GPU quota of their pool and on the project's GPUs in all regions;
- GKE TPU node pools become a `MachineDemand` on their TPU machine type and draw on Compute Engine's
  regional TPU quota (Spot and flex-start on the preemptible one, a reservation on none);
- TPU VM clusters become a `TpuDemand` and draw on the Cloud TPU API's per-zone and per-region
  quotas (the serving quotas for single-host v5e);
- Vertex AI clusters draw on Vertex AI's per-region GPU quota of their purpose (custom training for
  persistent resources, serving for deployment resource pools, at their maximum replicas).

Each quota a cluster draws on is a `QuotaNeed`: where it is read (`QuotaSource`s, in order), how much
is needed and in which unit, or why it cannot be checked.
"""

from dataclasses import dataclass, field
from enum import Enum
from typing import Optional

from ai_clusters.core.catalog import Catalog, NodeShape, TpuSlice, region_of
from ai_clusters.core.catalog.models import GpuQuotaNames, PoolQuotas, QuotaFacts, QuotaRef, TpuQuotaNames, VertexQuotaNames
from ai_clusters.core.enums import ClusterPath, ProvisioningModel
from ai_clusters.core.spec import ProvisioningSpec, ResolvedCluster, ResolvedEnvironment
from ai_clusters.tooling.preflight.model import CheckKind

UNITS = {"gpus": "GPUs", "chips": "chips", "tensorcores": "TensorCores"}


class Pool(str, Enum):
    """The quota a provisioning model draws on."""

    STANDARD = "on-demand"
    PREEMPTIBLE = "preemptible"
    RESERVED = "reserved"


def pool_of(model: ProvisioningModel, facts: QuotaFacts) -> Pool:
    if model == ProvisioningModel.RESERVATION:
        return Pool.RESERVED
    return Pool.PREEMPTIBLE if model in facts.preemptible_models else Pool.STANDARD


@dataclass(frozen=True)
class QuotaSource:
    """One place a quota is read: a Compute Engine metric (limit and usage) or a Cloud Quotas id (limit only)."""

    service: str
    metric: str = ""
    quota_id: str = ""
    dimensions: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        return self.metric or self.quota_id


@dataclass(frozen=True)
class QuotaNeed:
    """How much of one quota one cluster needs in one place, where to read it, or why it is not checked."""

    cluster: str
    kind: CheckKind
    what: str  # "on-demand nvidia-l4", "preemptible TPU v6e on GKE", "Vertex AI serving NVIDIA_L4"
    scope: str  # "zone", "region" or "project"
    location: str  # the zone, the region, or "global"
    amount: int
    unit: str
    sources: tuple[QuotaSource, ...] = ()
    unchecked: str = ""
    hints: tuple[str, ...] = ()

    @property
    def region(self) -> str:
        return region_of(self.location) if self.scope == "zone" else self.location

    @property
    def pool_key(self) -> tuple:
        """Needs with the same key draw on the same quota and add up."""
        return (self.kind, self.what, self.scope, self.location, self.unit, self.sources, self.unchecked)


@dataclass(frozen=True)
class MachineDemand:
    """Nodes of one machine type in one zone (GPU nodes, or the TPU hosts of a GKE node pool)."""

    cluster: str
    zone: str
    machine_type: str
    nodes: int
    model: ProvisioningModel
    pool: Pool
    offered_in: tuple[str, ...]  # zones the catalog lists for this machine
    shape: Optional[NodeShape] = None
    reservation: Optional[str] = None

    @property
    def region(self) -> str:
        return region_of(self.zone)

    @property
    def gpu(self) -> Optional[str]:
        return self.shape.gpu.compute_engine if self.shape is not None else None

    @property
    def gpus(self) -> int:
        return self.shape.gpus * self.nodes if self.shape is not None else 0

    @property
    def attached(self) -> bool:
        return bool(self.shape is not None and self.shape.attached)


@dataclass(frozen=True)
class TpuDemand:
    """Slices of one TPU accelerator type in one zone, through the Cloud TPU API."""

    cluster: str
    zone: str
    slice: TpuSlice
    slices: int
    runtime_version: str
    model: ProvisioningModel
    pool: Pool

    @property
    def accelerator_type(self) -> str:
        return self.slice.type.name


@dataclass
class StackDemand:
    """Everything a stack asks for, and what the pre-flight leaves out."""

    project: str
    machines: list[MachineDemand] = field(default_factory=list)
    tpus: list[TpuDemand] = field(default_factory=list)
    quotas: list[QuotaNeed] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def gpu_quota_names(cat: Catalog, gpu: str) -> Optional[GpuQuotaNames]:
    facts = cat.data.quotas
    if facts is None:
        return None
    return next((g for g in facts.gpus if g.gpu == gpu), None)


def tpu_quota_names(cat: Catalog, generation: str, gke: bool = False) -> Optional[TpuQuotaNames]:
    facts = cat.data.quotas
    if facts is None:
        return None
    return next((t for t in (facts.gke_tpus if gke else facts.tpus) if t.generation == generation), None)


def vertex_quota_names(cat: Catalog, accelerator: str) -> Optional[VertexQuotaNames]:
    facts = cat.data.quotas
    if facts is None:
        return None
    return next((v for v in facts.vertex if v.accelerator == accelerator), None)


def _sources(service: str, ref: QuotaRef, compute_service: str) -> tuple[QuotaSource, ...]:
    out = []
    if ref.metric:
        out.append(QuotaSource(compute_service, metric=ref.metric))
    if ref.quota_id:
        out.append(QuotaSource(service, quota_id=ref.quota_id, dimensions=tuple(sorted(ref.dimensions.items()))))
    return tuple(out)


# --- GPUs -----------------------------------------------------------------------------------------

def _gpu_hints(m: MachineDemand) -> tuple[str, ...]:
    offered = set(m.shape.provisioning) if m.shape is not None else set()
    if m.pool == Pool.STANDARD and ProvisioningModel.FLEX_START in offered:
        return ("or use flex-start (it draws on the preemptible quota)",)
    if m.pool == Pool.PREEMPTIBLE and ProvisioningModel.RESERVATION in offered:
        return ("or consume a reservation",)
    return ()


def gpu_needs(m: MachineDemand, cat: Catalog, facts: QuotaFacts) -> list[QuotaNeed]:
    """The regional GPU quota of the node's pool, and the project's GPUs in all regions."""
    if m.gpu is None or m.pool == Pool.RESERVED:
        return []
    names = gpu_quota_names(cat, m.gpu)
    what = f"{m.pool.value} {m.gpu}"
    common = dict(cluster=m.cluster, amount=m.gpus, unit="GPUs")
    if names is None:
        regional = QuotaNeed(kind=CheckKind.QUOTA, what=what, scope="region", location=m.region, unchecked=f"the catalog names no quota for {m.gpu}", **common)
    else:
        if m.pool == Pool.PREEMPTIBLE:
            metric = names.preemptible_metric
            # A family sold without Spot (A4X: reservations only) has no preemptible quota id in the catalog.
            cloud = (QuotaSource(facts.compute_service, quota_id=names.preemptible_quota_id),) if names.preemptible_quota_id else ()
        else:
            metric = names.metric
            cloud = (QuotaSource(facts.compute_service, quota_id=facts.gpu_family_quota_id, dimensions=(("gpu_family", names.gpu_family),)),)
        sources = ((QuotaSource(facts.compute_service, metric=metric),) if metric else ()) + cloud
        if sources:
            regional = QuotaNeed(kind=CheckKind.QUOTA, what=what, scope="region", location=m.region, sources=sources, hints=_gpu_hints(m), **common)
        else:
            regional = QuotaNeed(
                kind=CheckKind.QUOTA, what=what, scope="region", location=m.region, unchecked=f"the catalog names no {m.pool.value} quota for {m.gpu}", **common
            )
    project = QuotaNeed(
        kind=CheckKind.PROJECT_QUOTA, what="GPUs in all regions", scope="project", location="global",
        sources=(QuotaSource(facts.compute_service, metric=facts.project_gpu_metric),), **common,
    )
    return [regional, project]


# --- TPUs -----------------------------------------------------------------------------------------

def _in_unit(unit: str, sl: TpuSlice, slices: int) -> int:
    per_chip = sl.generation.tensorcores_per_chip if unit == "tensorcores" else 1
    return sl.chips * per_chip * slices


def tpu_needs(
    cluster: str, zone: str, sl: TpuSlice, slices: int, pool: Pool, names: Optional[TpuQuotaNames], service: str, facts: QuotaFacts, where: str, hints: tuple[str, ...] = ()
) -> list[QuotaNeed]:
    """Every quota a TPU slice draws on through one API (`where`: "Cloud TPU API" or "GKE")."""
    gen = sl.generation
    if pool == Pool.RESERVED:
        return []
    if names is None:
        return [QuotaNeed(cluster, CheckKind.TPU_QUOTA, f"{pool.value} {gen.name}", "zone", zone, sl.chips * slices, "chips", unchecked=f"the catalog names no {where} quota for {gen.name}")]
    serving = sl.type.name in names.serving_types
    label = f"{pool.value} {gen.name}{' serving' if serving else ''}{' on GKE' if where == 'GKE' else ''}"
    out = []
    quotas: list[PoolQuotas] = names.for_type(sl.type.name)
    for pq in quotas:
        location = zone if pq.scope == "zone" else region_of(zone)
        ref = pq.ref(pool.value)
        amount, unit = _in_unit(pq.unit, sl, slices), UNITS[pq.unit]
        if ref is None:
            out.append(QuotaNeed(cluster, CheckKind.TPU_QUOTA, label, pq.scope, location, amount, unit, unchecked=pq.unconfirmed[pool.value]))
        else:
            out.append(QuotaNeed(cluster, CheckKind.TPU_QUOTA, label, pq.scope, location, amount, unit, _sources(service, ref, facts.compute_service), hints=hints))
    return out


def _gke_tpu_machine(tpu: TpuSlice) -> Optional[str]:
    gke = tpu.generation.gke
    if gke is None:
        return None
    return next((m.name for m in gke.machine_types if m.chips == tpu.chips_per_vm), None)


# --- Vertex AI ------------------------------------------------------------------------------------

def vertex_needs(cl: ResolvedCluster, cat: Catalog, facts: QuotaFacts, pool: Pool) -> list[QuotaNeed]:
    """The Vertex AI GPU quota of the cluster's purpose, for its accelerators at full scale."""
    plan = cl.plan
    machine = plan.machine
    if machine.accelerator is None:
        return []
    training = plan.mode.value == "training"
    purpose = "training" if training else "serving"
    replicas = sum(p.max_nodes for p in plan.pools if p.machine.accelerator) if training else plan.max_nodes
    what = f"Vertex AI {purpose} {machine.accelerator}"
    common = dict(cluster=cl.name, kind=CheckKind.QUOTA, what=what, scope="region", location=cl.region, amount=machine.count * replicas, unit="GPUs")
    names = vertex_quota_names(cat, machine.accelerator)
    if pool != Pool.STANDARD:
        return [QuotaNeed(unchecked=f"the catalog names no {pool.value} Vertex AI quota", **common)]
    if names is None:
        return [QuotaNeed(unchecked=f"the catalog names no Vertex AI quota for {machine.accelerator}", **common)]
    ref = getattr(names, purpose)
    if ref is None:
        return [QuotaNeed(unchecked=names.unconfirmed[purpose], **common)]
    return [QuotaNeed(sources=_sources(facts.vertex_service, ref, facts.compute_service), **common)]


# --- clusters -------------------------------------------------------------------------------------

def _machine(cl: ResolvedCluster, shape: NodeShape, nodes: int, provisioning: ProvisioningSpec, facts: QuotaFacts) -> MachineDemand:
    model = provisioning.model
    return MachineDemand(
        cluster=cl.name, zone=cl.zone, machine_type=shape.machine_type, nodes=nodes, model=model, pool=pool_of(model, facts),
        offered_in=tuple(shape.zones), shape=shape, reservation=provisioning.reservation,
    )


def _gpu_machines(cl: ResolvedCluster, facts: QuotaFacts) -> list[MachineDemand]:
    """The GPU nodes of a cluster, as its path's plan lays them out."""
    assert cl.shape is not None
    if cl.spec.path == ClusterPath.SLURM:
        return [_machine(cl, n.shape, n.max_nodes, n.provisioning, facts) for n in cl.plan.gpu_node_sets]
    if cl.spec.path == ClusterPath.GKE:
        pools = cl.plan.pools
        model = (
            ProvisioningModel.RESERVATION if pools.reservation else ProvisioningModel.FLEX_START if pools.flex_start
            else ProvisioningModel.SPOT if pools.spot else ProvisioningModel.ON_DEMAND
        )
        return [_machine(cl, cl.shape, pools.nodes * pools.pools, ProvisioningSpec(model=model, reservation=pools.reservation), facts)]
    return [_machine(cl, cl.shape, cl.nodes, cl.spec.provisioning, facts)]


def _cluster_demand(cl: ResolvedCluster, cat: Catalog, facts: QuotaFacts, out: StackDemand) -> None:
    pool = pool_of(cl.provisioning, facts)
    if cl.spec.path == ClusterPath.VERTEX:
        out.quotas.extend(vertex_needs(cl, cat, facts, pool))
        cpu_pools = [p.machine.machine_type for p in cl.plan.pools if not p.machine.accelerator]
        if cpu_pools:
            out.notes.append(f"{cl.name}: the Vertex AI CPU quota of its CPU pools ({', '.join(cpu_pools)}) is not checked")
        return
    if cl.shape is not None:
        for m in _gpu_machines(cl, facts):
            out.machines.append(m)
            out.quotas.extend(gpu_needs(m, cat, facts))
        return
    assert cl.tpu is not None
    slices = cl.spec.tpu.slices if cl.spec.tpu else 1
    if cl.spec.path == ClusterPath.TPU:
        out.tpus.append(TpuDemand(cl.name, cl.zone, cl.tpu, slices, cl.plan.runtime_version, cl.provisioning, pool))
        out.quotas.extend(tpu_needs(cl.name, cl.zone, cl.tpu, slices, pool, tpu_quota_names(cat, cl.tpu.generation.id), facts.tpu_service, facts, "Cloud TPU API"))
        if pool == Pool.RESERVED:
            out.notes.append(f"{cl.name}: TPU reservation {cl.spec.provisioning.reservation}: not read (the reservation holds its own quota)")
        return
    machine = _gke_tpu_machine(cl.tpu)
    if machine is None:
        out.notes.append(f"{cl.name}: the catalog lists no GKE machine type for {cl.tpu.type.name}; not checked")
        return
    pools = cl.plan.pools
    gke_pool = Pool.RESERVED if pools.reservation else Pool.PREEMPTIBLE if (pools.spot or pools.flex_start) else Pool.STANDARD
    out.machines.append(
        MachineDemand(cl.name, cl.zone, machine, cl.tpu.vms * slices, cl.provisioning, gke_pool, tuple(cl.tpu.generation.zones), reservation=pools.reservation)
    )
    hints = ("or use Spot or flex-start node pools (they draw on the preemptible quota)",) if gke_pool == Pool.STANDARD else ()
    out.quotas.extend(tpu_needs(cl.name, cl.zone, cl.tpu, slices, gke_pool, tpu_quota_names(cat, cl.tpu.generation.id, gke=True), facts.compute_service, facts, "GKE", hints))


def stack_demand(env: ResolvedEnvironment, cat: Catalog) -> StackDemand:
    """What the stack's clusters need of Google Cloud."""
    facts = cat.data.quotas
    if facts is None:
        raise ValueError("the catalog has no `quotas` section; the pre-flight needs it")
    out = StackDemand(project=env.spec.project)
    for cl in env.clusters:
        _cluster_demand(cl, cat, facts, out)
    return out
