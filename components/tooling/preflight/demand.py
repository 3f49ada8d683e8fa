"""What a stack asks of Google Cloud: per cluster, the machines, accelerators and quota pools it needs.

Pure functions over the resolved environment (no network). A GPU cluster (Compute Engine, GKE, Slurm)
becomes a `GpuDemand`; a TPU VM cluster a `TpuDemand`; a GKE TPU node pool a `GpuDemand`-like machine
demand on its TPU machine type. Vertex AI clusters run in Google's project, under Vertex AI quotas, and
are left out with a note.
"""

from dataclasses import dataclass, field
from enum import Enum
from typing import Optional

from ai_clusters.core.catalog import Catalog, NodeShape, TpuSlice, region_of
from ai_clusters.core.catalog.models import GpuQuotaNames, QuotaFacts, TpuQuotaNames
from ai_clusters.core.enums import ClusterPath, ProvisioningModel
from ai_clusters.core.spec import ResolvedCluster, ResolvedEnvironment


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

    @property
    def units(self) -> int:
        """What the stack uses of the TPU quota: chips, or TensorCores where the generation counts those."""
        gen = self.slice.generation
        per_chip = gen.tensorcores_per_chip if gen.accelerator_type_counts == "tensorcores" else 1
        return self.slice.chips * per_chip * self.slices

    @property
    def unit(self) -> str:
        return "TensorCores" if self.slice.generation.accelerator_type_counts == "tensorcores" else "chips"


@dataclass
class StackDemand:
    """Everything a stack asks for, and what the pre-flight leaves out."""

    project: str
    machines: list[MachineDemand] = field(default_factory=list)
    tpus: list[TpuDemand] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def gpu_quota_names(cat: Catalog, gpu: str) -> Optional[GpuQuotaNames]:
    facts = cat.data.quotas
    if facts is None:
        return None
    return next((g for g in facts.gpus if g.gpu == gpu), None)


def tpu_quota_names(cat: Catalog, generation: str) -> Optional[TpuQuotaNames]:
    facts = cat.data.quotas
    if facts is None:
        return None
    return next((t for t in facts.tpus if t.generation == generation), None)


def _gke_tpu_machine(tpu: TpuSlice) -> Optional[str]:
    gke = tpu.generation.gke
    if gke is None:
        return None
    return next((m.name for m in gke.machine_types if m.chips == tpu.chips_per_vm), None)


def _cluster_demand(cl: ResolvedCluster, facts: QuotaFacts, out: StackDemand) -> None:
    model = cl.provisioning
    pool = pool_of(model, facts)
    if cl.spec.path == ClusterPath.VERTEX:
        out.notes.append(f"{cl.name}: Vertex AI runs it under Vertex AI quotas in Google's project; not checked here")
        return
    if cl.shape is not None:
        out.machines.append(
            MachineDemand(
                cluster=cl.name,
                zone=cl.zone,
                machine_type=cl.shape.machine_type,
                nodes=cl.nodes,
                model=model,
                pool=pool,
                offered_in=tuple(cl.shape.zones),
                shape=cl.shape,
                reservation=cl.spec.provisioning.reservation,
            )
        )
        return
    assert cl.tpu is not None
    slices = cl.spec.tpu.slices if cl.spec.tpu else 1
    if cl.spec.path == ClusterPath.TPU:
        out.tpus.append(
            TpuDemand(
                cluster=cl.name,
                zone=cl.zone,
                slice=cl.tpu,
                slices=slices,
                runtime_version=cl.plan.runtime_version,
                model=model,
                pool=pool,
            )
        )
        return
    machine = _gke_tpu_machine(cl.tpu)
    if machine is None:
        out.notes.append(f"{cl.name}: the catalog lists no GKE machine type for {cl.tpu.type.name}; not checked")
        return
    out.machines.append(
        MachineDemand(
            cluster=cl.name,
            zone=cl.zone,
            machine_type=machine,
            nodes=cl.tpu.vms * slices,
            model=model,
            pool=pool,
            offered_in=tuple(cl.tpu.generation.zones),
        )
    )
    out.notes.append(f"{cl.name}: GKE TPU node pool: its machine type is checked, its TPU quota is not")


def stack_demand(env: ResolvedEnvironment, cat: Catalog) -> StackDemand:
    """What the stack's clusters need of Google Cloud."""
    facts = cat.data.quotas
    if facts is None:
        raise ValueError("the catalog has no `quotas` section; the pre-flight needs it")
    out = StackDemand(project=env.spec.project)
    for cl in env.clusters:
        _cluster_demand(cl, facts, out)
    return out
