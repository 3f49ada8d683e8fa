"""The advisor: from a workload to a ranked list of feasible accelerator tiers (pure functions).

It follows Google Cloud's guidance as the catalog records it (which families fit which workload
kind), then removes what cannot work for this workload and says why:

- the family is not one Google recommends for the workload kind;
- the family is not offered in the environment's zones, or not with the provisioning model asked;
- latency-bound inference on spot or flex-start capacity (it can be taken away at any time);
- multi-node training on a family without GPUDirect networking;
- not enough accelerator memory for the model (rule of thumb below).

The feasible ones are ranked cheapest per hour first, or cheapest per epoch where a benchmark
measured that tier. Memory rule of thumb, bytes per parameter: pre-training 18 (bf16 weights and
gradients, fp32 Adam moments and master weights, activations headroom), fine-tuning 16, serving 2.4
(bf16 weights plus 20 % for the KV cache), and a served model must fit on one node.
"""

import datetime
import math
from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol

from ai_clusters.core.catalog import Catalog, NodeShape, catalog, region_of
from ai_clusters.core.enums import GpuDirect, HpcOffload, ProvisioningModel, WorkloadKind
from ai_clusters.core.limits import MAX_CLUSTER_NODES


class Workload(Protocol):
    """What the advisor reads of a workload (a stack's `WorkloadSpec` is one)."""

    kind: WorkloadKind
    accelerators: int
    model_params_b: Optional[float]
    latency_ms: Optional[int]
    hours_per_month: float
    hpc_offload: Optional[HpcOffload]

BYTES_PER_PARAM = {
    WorkloadKind.PRETRAINING: 18.0,
    WorkloadKind.FINETUNING: 16.0,
    WorkloadKind.INFERENCE: 2.4,
}
TRAINING = (WorkloadKind.PRETRAINING, WorkloadKind.FINETUNING)
LATENCY_SAFE = (ProvisioningModel.ON_DEMAND, ProvisioningModel.RESERVATION)

# HPC: "depends on how much of the computation is offloaded to the GPU". Our reading of it: heavy
# offload wants the training-class GPUs, moderate offload the mid-range ones, light offload the
# smallest GPU that does the job.
HPC_FAMILIES = {
    HpcOffload.HIGH: ["a4", "a3-ultra", "a3-mega", "a3-high", "a2-ultra", "a2-high"],
    HpcOffload.MEDIUM: ["a2-high", "a2-ultra", "a3-high", "g2", "n1-v100"],
    HpcOffload.LOW: ["g2", "n1-t4", "n1-v100", "n1-p100", "n1-p4"],
}


@dataclass(frozen=True)
class Candidate:
    """One feasible way to run the workload, with its cost."""

    tier: str  # a GPU family id or a TPU generation id
    name: str
    machine_type: Optional[str] = None
    shape: Optional[NodeShape] = None
    gpu: Optional[str] = None
    gpus_per_node: int = 0
    tpu_type: Optional[str] = None
    nodes: int = 1
    accelerators: int = 0
    hourly_usd: Optional[float] = None
    price_region: Optional[str] = None
    zones: tuple[str, ...] = ()
    note: str = ""
    seconds_per_epoch: Optional[float] = None
    measured_as: Optional[str] = None  # the key of `seconds_per_epoch` that matched (machine, slice or tier)

    @property
    def is_tpu(self) -> bool:
        return self.tpu_type is not None

    @property
    def cost_per_epoch_usd(self) -> Optional[float]:
        if self.seconds_per_epoch is None or self.hourly_usd is None:
            return None
        return self.hourly_usd * self.seconds_per_epoch / 3600.0


@dataclass(frozen=True)
class Rejection:
    tier: str
    name: str
    reason: str


@dataclass
class Ranking:
    """The advisor's answer: feasible candidates best first, and what was ruled out and why."""

    workload: Workload
    feasible: list[Candidate] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def best(self) -> Optional[Candidate]:
        return self.feasible[0] if self.feasible else None


def memory_needed_gb(workload: Workload) -> Optional[float]:
    """Accelerator memory the model needs in GB (None when the size is unknown or irrelevant)."""
    per = BYTES_PER_PARAM.get(workload.kind)
    if per is None or workload.model_params_b is None:
        return None
    return workload.model_params_b * per


def recommended_tiers(workload: Workload, cat: Optional[Catalog] = None) -> tuple[list[str], bool]:
    """GPU family ids Google recommends for the workload (best first), and whether TPUs fit it."""
    cat = cat or catalog()
    if workload.kind == WorkloadKind.HPC:
        families = HPC_FAMILIES[workload.hpc_offload or HpcOffload.HIGH]
        return [f for f in families if f in cat.families], False
    guide = cat.guidance(workload.kind)
    return list(guide.gpu_families), guide.tpu


def _gpu_shapes(cat: Catalog, family_id: str) -> list[NodeShape]:
    fam = cat.families[family_id]
    if not fam.attached_accelerators:
        return [cat.shape(mt.name) for mt in fam.machine_types]
    return n1_shapes(cat, family_id)


def n1_shapes(cat: Catalog, family_id: str) -> list[NodeShape]:
    """For each GPU count of an N1 GPU, the smallest N1 machine type it allows (none after end of support)."""
    fam = cat.families[family_id]
    att = cat.n1_gpus[fam.gpu.compute_engine]
    if att.end_of_support and att.end_of_support <= datetime.date.today():
        return []
    shapes = []
    for count in att.counts:
        # The smallest N1 machine type the GPU count allows: enough for the GPUs, cheapest to run.
        fitting = [m for m in cat.n1_machines.values() if m.vcpus <= att.max_vcpus[count] and m.name.startswith("n1-standard-")]
        if fitting:
            smallest = min(fitting, key=lambda m: (m.vcpus < 4 * count and m.vcpus < att.max_vcpus[count], m.vcpus))
            shapes.append(cat.n1_shape(smallest.name, fam.gpu.compute_engine, count))
    return shapes


def _offered(zones: list[str], where: list[str], region: str) -> list[str]:
    if zones:
        return [z for z in zones if z in where]
    return [z for z in where if region_of(z) == region]


def _gpu_candidate(
    cat: Catalog,
    workload: Workload,
    family_id: str,
    region: str,
    zones: list[str],
    provisioning: ProvisioningModel,
    need_gb: Optional[float],
) -> tuple[Optional[Candidate], Optional[str]]:
    fam = cat.families[family_id]
    offered = _offered(zones, fam.all_zones, region)
    if not offered:
        return None, f"not offered in {', '.join(zones) if zones else region}"
    shapes = _gpu_shapes(cat, family_id)
    largest = max((s.gpus for s in shapes), default=0)
    if workload.kind in TRAINING and fam.gpudirect == GpuDirect.NONE and largest and workload.accelerators > largest:
        return None, f"{workload.accelerators} GPUs of training span nodes, and {fam.name} has no GPUDirect networking (at most {largest} GPUs per VM)"
    widest = max(shapes, key=lambda s: s.gpus, default=None)
    if widest is not None and math.ceil(workload.accelerators / widest.gpus) > MAX_CLUSTER_NODES:
        return None, (
            f"{workload.accelerators:,} GPUs need {math.ceil(workload.accelerators / widest.gpus):,} nodes even of {widest.machine_type}, "
            f"over the {MAX_CLUSTER_NODES:,} nodes of one cluster (at most {MAX_CLUSTER_NODES * widest.gpus:,} GPUs of {fam.name})"
        )
    best: Optional[Candidate] = None
    reasons: list[str] = []
    for shape in shapes:
        if shape.unsupported:
            reasons.append(f"{shape.machine_type}: no path builds it yet ({shape.unsupported})")
            continue
        shape_offered = _offered(zones, list(shape.zones), region)
        if not shape_offered:
            reasons.append(f"{shape.machine_type} is not offered in {', '.join(zones) if zones else region}")
            continue
        if provisioning not in shape.provisioning:
            reasons.append(
                f"{shape.machine_type} cannot be had {provisioning.value} (only {', '.join(p.value for p in shape.provisioning)})"
            )
            continue
        nodes = max(1, math.ceil(workload.accelerators / shape.gpus))
        if nodes > MAX_CLUSTER_NODES:
            continue  # a larger machine type of the family may fit (the family is ruled out above when none does)
        if workload.kind in TRAINING and nodes > 1 and fam.gpudirect == GpuDirect.NONE:
            reasons.append(f"{nodes} nodes of training need GPUDirect networking, which {fam.name} lacks")
            continue
        limit = fam.max_placement_group_vms
        if limit and workload.kind in TRAINING and nodes > limit:
            reasons.append(
                f"{shape.machine_type}: {nodes:,} nodes exceed the compact placement limit of {limit:,} VMs "
                f"(at most {limit:,} x {shape.machine_type}: {limit * shape.gpus:,} GPUs)"
            )
            continue
        if need_gb is not None:
            have = shape.gpu.memory_gb * (shape.gpus if workload.kind == WorkloadKind.INFERENCE else shape.gpus * nodes)
            if have < need_gb:
                scope = "one node" if workload.kind == WorkloadKind.INFERENCE else f"{nodes} nodes"
                reasons.append(f"{shape.machine_type}: {scope} give {have:.0f} GB of GPU memory, the model needs {need_gb:.0f} GB")
                continue
        price, where = cat.node_price(shape, region, provisioning)
        hourly = price * nodes if price is not None else None
        cand = Candidate(
            tier=family_id,
            name=fam.name,
            machine_type=shape.machine_type,
            shape=shape,
            gpu=shape.gpu.compute_engine,
            gpus_per_node=shape.gpus,
            nodes=nodes,
            accelerators=nodes * shape.gpus,
            hourly_usd=hourly,
            price_region=where,
            zones=tuple(shape_offered),
        )
        if best is None or _cost_key(cand) < _cost_key(best):
            best = cand
    if best is None:
        return None, "; ".join(dict.fromkeys(reasons)) or "no machine type fits"
    return best, None


def _tpu_candidate(
    cat: Catalog,
    workload: Workload,
    gen_id: str,
    region: str,
    zones: list[str],
    provisioning: ProvisioningModel,
    need_gb: Optional[float],
) -> tuple[Optional[Candidate], Optional[str]]:
    gen = cat.tpu_generations[gen_id]
    offered = _offered(zones, gen.zones, region)
    if not offered:
        return None, f"not offered in {', '.join(zones) if zones else region}"
    if provisioning not in gen.provisioning:
        return None, f"cannot be had {provisioning.value}"
    fitting = sorted((t for t in gen.accelerator_types if t.chips >= workload.accelerators), key=lambda t: t.chips)
    if not fitting:
        largest = max(gen.accelerator_types, key=lambda t: t.chips)
        return None, f"the largest slice, {largest.name}, has {largest.chips:,} chips (more take a multislice cluster: tpu.slices)"
    for t in fitting:
        if workload.kind == WorkloadKind.INFERENCE and t.vms > 1:
            return None, "a served model must fit on one host"
        if need_gb is not None and t.chips * gen.hbm_gb_per_chip < need_gb:
            continue
        price, where = cat.tpu_price(gen_id, t.chips, region, provisioning)
        return Candidate(
            tier=gen_id,
            name=gen.name,
            tpu_type=t.name,
            nodes=t.vms,
            accelerators=t.chips,
            hourly_usd=price,
            price_region=where,
            zones=tuple(offered),
        ), None
    return None, f"no slice of {gen.name} has the {need_gb:.0f} GB of HBM the model needs"


def _cost_key(c: Candidate) -> tuple[float, float]:
    per_epoch = c.cost_per_epoch_usd
    hourly = c.hourly_usd if c.hourly_usd is not None else math.inf
    return (per_epoch if per_epoch is not None else math.inf, hourly)


def recommend(
    workload: Workload,
    *,
    region: str = "us-central1",
    zones: Optional[list[str]] = None,
    provisioning: ProvisioningModel = ProvisioningModel.ON_DEMAND,
    include_gpus: bool = True,
    include_tpus: bool = True,
    accept: Optional[Callable[[NodeShape], Optional[str]]] = None,
    seconds_per_epoch: Optional[dict[str, float]] = None,
    cat: Optional[Catalog] = None,
) -> Ranking:
    """Rank the feasible tiers for `workload`, cheapest first, with a reason for each rejection.

    `seconds_per_epoch` maps a tier (family id, machine type or TPU type) to a measured time per
    epoch; measured candidates are ranked by cost per epoch ahead of those with list prices only.
    """
    cat = cat or catalog()
    zones = list(zones or [])
    ranking = Ranking(workload)
    need_gb = memory_needed_gb(workload)
    families, tpus_fit = recommended_tiers(workload, cat)

    if workload.latency_ms is not None and provisioning not in LATENCY_SAFE:
        for fid in families:
            ranking.rejected.append(Rejection(fid, cat.families[fid].name, f"latency-bound serving cannot run on {provisioning.value} capacity"))
        return ranking

    if include_gpus:
        for fid in families:
            fam = cat.families[fid]
            cand, why = _gpu_candidate(cat, workload, fid, region, zones, provisioning, need_gb)
            refusal = accept(cand.shape) if cand and cand.shape and accept else None
            if refusal:
                cand, why = None, refusal
            if cand:
                ranking.feasible.append(cand)
            else:
                ranking.rejected.append(Rejection(fid, fam.name, why or "does not fit"))
        for fid, fam in cat.families.items():
            if fid not in families:
                ranking.rejected.append(Rejection(fid, fam.name, f"not a tier Google Cloud recommends for {workload.kind.value}"))
    if include_tpus:
        for gen_id, gen in cat.tpu_generations.items():
            if not tpus_fit:
                ranking.rejected.append(Rejection(gen_id, gen.name, f"TPUs are not a fit for {workload.kind.value}"))
                continue
            cand, why = _tpu_candidate(cat, workload, gen_id, region, zones, provisioning, need_gb)
            if cand:
                ranking.feasible.append(cand)
            else:
                ranking.rejected.append(Rejection(gen_id, gen.name, why or "does not fit"))

    if seconds_per_epoch:
        measured = []
        for c in ranking.feasible:
            key = next((k for k in (c.machine_type, c.tpu_type, c.tier) if k and k in seconds_per_epoch), None)
            secs = seconds_per_epoch[key] if key else None
            measured.append(Candidate(**{**c.__dict__, "seconds_per_epoch": secs, "measured_as": key}))
        ranking.feasible = measured
    order = {fid: i for i, fid in enumerate(families)}
    ranking.feasible.sort(key=lambda c: (*_cost_key(c), order.get(c.tier, len(order))))
    return ranking


def choose_shape(
    workload: Workload,
    *,
    region: str,
    zones: list[str],
    provisioning: ProvisioningModel,
    accept: Optional[Callable[[NodeShape], Optional[str]]] = None,
    cat: Optional[Catalog] = None,
) -> tuple[Optional[Candidate], Ranking]:
    """The top GPU choice for a cluster spec that names no machine type."""
    ranking = recommend(
        workload,
        region=region,
        zones=zones,
        provisioning=provisioning,
        include_tpus=False,
        accept=accept,
        cat=cat,
    )
    return ranking.best, ranking
