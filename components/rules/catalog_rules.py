"""Rules about the accelerator tier: does it fit the workload, the scale, the latency, the shape?"""

from typing import Any, Iterable, Mapping

from ai_clusters.core import labels as contract
from ai_clusters.core.accelerators import LABELLESS
from ai_clusters.core.advisor import LATENCY_SAFE, TRAINING, recommended_tiers
from ai_clusters.core.catalog import catalog
from ai_clusters.core.enums import GpuDirect, HpcOffload, WorkloadKind
from ai_clusters.core.spec.models import WorkloadSpec
from ai_clusters.rules.base import Resource, Rule


def _kind(labels: Mapping[str, Any]):
    try:
        return WorkloadKind(labels.get(contract.WORKLOAD))
    except ValueError:
        return None


def _fits_names(kind: WorkloadKind) -> tuple[list[str], bool]:
    families, tpus = recommended_tiers(WorkloadSpec(kind=kind, accelerators=1))
    cat = catalog()
    names = [cat.families[f].name for f in families]
    if tpus:
        names.append("TPUs (" + ", ".join(g.name.removeprefix("TPU ") for g in cat.tpu_generations.values()) + ")")
    return names, tpus


def _tier_fits(r: Resource, _cfg: Mapping[str, Any]) -> Iterable[str]:
    for use in r.uses:
        kind = _kind(use.labels)
        if kind is None or kind == WorkloadKind.HPC:
            continue  # undeclared workloads are workload-declared's business; HPC is advisory
        families, tpus = recommended_tiers(WorkloadSpec(kind=kind, accelerators=1))
        names, _ = _fits_names(kind)
        if use.kind == "tpu":
            if not tpus:
                yield f"TPU {use.tpu_generation.name if use.tpu_generation else ''} is not a tier Google Cloud recommends for {kind.value}; fits: {', '.join(names)}"
            continue
        if use.family is None:
            yield f"GPU {use.gpu} on {use.machine_type} is not in the catalog, so its tier cannot be checked; fits {kind.value}: {', '.join(names)}"
        elif use.family.id not in families:
            yield (
                f"{use.family.name} ({use.machine_type or use.gpu}) is not a tier Google Cloud recommends for {kind.value}; "
                f"fits: {', '.join(names)}"
            )


TIER_FITS_WORKLOAD = Rule(
    name="tier-fits-workload",
    description="The accelerator family is one Google Cloud recommends for the resource's ai-workload.",
    level="mandatory",
    remediation=(
        "Pick a machine type of a family that fits the workload (`ai-clusters recommend --workload KIND`): "
        "pre-training, fine-tuning and serving on A4, A3 Ultra, A3 Mega, A3 High, A2 or TPUs; graphics on G2 or N1 with T4. "
        "If the label is wrong, fix the cluster's workload kind."
    ),
    check=_tier_fits,
)


def _hpc(r: Resource, _cfg: Mapping[str, Any]) -> Iterable[str]:
    for use in r.uses:
        if _kind(use.labels) != WorkloadKind.HPC or use.family is None:
            continue
        fits = [offload.value for offload in HpcOffload if use.family.id in recommended_tiers(WorkloadSpec(kind=WorkloadKind.HPC, accelerators=1, hpc_offload=offload))[0]]
        if fits:
            yield f"HPC on {use.family.name} suits a {'/'.join(fits)} GPU offload; validate performance for this scenario (ai-clusters benchmark)"
        else:
            yield f"HPC on {use.family.name}: the right tier depends on how much computation the GPU takes; validate performance (ai-clusters benchmark)"


HPC_TIER = Rule(
    name="hpc-tier-advisory",
    description="HPC: the tier depends on how much of the computation is offloaded to the GPU (advisory).",
    level="advisory",
    remediation="Measure with `ai-clusters benchmark` on the candidate tiers and keep the cheapest per run.",
    check=_hpc,
)


def _declared_accelerators(use) -> int:
    return contract.read_int(use.labels, contract.ACCELERATORS) or use.accelerators


def _scale(r: Resource, _cfg: Mapping[str, Any]) -> Iterable[str]:
    for use in r.uses:
        kind = _kind(use.labels)
        if kind not in TRAINING or use.kind != "gpu" or use.family is None:
            continue
        total = _declared_accelerators(use)
        nodes = contract.read_int(use.labels, contract.NODES) or use.nodes
        if (nodes > 1 or total > 8) and use.family.gpudirect == GpuDirect.NONE:
            yield (
                f"{kind.value} on {nodes} node(s) / {total} GPUs needs GPUDirect networking; {use.family.name} has none. "
                "Use A3 High (8 GPUs), A3 Mega, A3 Ultra, A4 or a TPU slice"
            )


SCALE_FITS_TIER = Rule(
    name="scale-fits-tier",
    description="Multi-node training, or more than 8 accelerators, runs only on GPUDirect families or TPU slices.",
    level="mandatory",
    remediation="Use a3-highgpu-8g, a3-megagpu-8g, a3-ultragpu-8g or a4-highgpu-8g (with their GPU/RDMA networks), or a TPU slice.",
    check=_scale,
)


def _waste(r: Resource, cfg: Mapping[str, Any]) -> Iterable[str]:
    limit = int(cfg.get("smallWorkloadAccelerators", 2))
    for use in r.uses:
        if use.kind != "gpu" or use.gpus_per_node < 8:
            continue
        wanted = contract.read_int(use.labels, contract.ACCELERATORS)
        if wanted is not None and wanted <= limit:
            yield f"an {use.gpus_per_node}-GPU machine ({use.machine_type}) for a {wanted}-GPU workload leaves {use.gpus_per_node - wanted} GPUs idle; pick a smaller shape"


ACCELERATOR_WASTE = Rule(
    name="accelerator-waste",
    description="An 8-GPU machine for a 1-2 GPU workload wastes most of it (advisory).",
    level="advisory",
    remediation="Use a 1- or 2-GPU shape of the family (a3-highgpu-1g/2g, a2-highgpu-1g/2g, g2-standard-*).",
    check=_waste,
    config_schema={"smallWorkloadAccelerators": {"type": "integer", "default": 2, "description": "Workloads of at most this many accelerators count as small."}},
)


def _latency(r: Resource, _cfg: Mapping[str, Any]) -> Iterable[str]:
    for use in r.uses:
        if _kind(use.labels) != WorkloadKind.INFERENCE or contract.read_int(use.labels, contract.LATENCY_MS) is None:
            continue
        latency = contract.read_int(use.labels, contract.LATENCY_MS)
        if use.provisioning not in LATENCY_SAFE:
            yield f"serving with a {latency} ms latency target runs on {use.provisioning.value} capacity, which can be taken away; use on-demand or a reservation"
        min_replicas = contract.read_int(use.labels, contract.MIN_REPLICAS)
        floor = min(use.min_nodes, min_replicas) if min_replicas is not None else use.min_nodes
        if floor < 1:
            yield f"serving with a {latency} ms latency target scales to zero; keep at least one replica warm"
        families, tpus = recommended_tiers(WorkloadSpec(kind=WorkloadKind.INFERENCE, accelerators=1))
        if use.kind == "gpu" and use.family is not None and use.family.id not in families:
            yield f"{use.family.name} is not a serving tier"


LATENCY_BOUND_SERVING = Rule(
    name="latency-bound-serving",
    description="Inference with a latency target runs on-demand or reserved, keeps at least one replica, on a serving tier.",
    level="mandatory",
    remediation="Set provisioning to on-demand or a reservation, a minimum of at least one replica/node, and a serving tier (G2, A2, A3, A4).",
    check=_latency,
)


def _tpu_shape(r: Resource, _cfg: Mapping[str, Any]) -> Iterable[str]:
    cat = catalog()
    for use in r.uses:
        if use.kind != "tpu":
            continue
        gen = use.tpu_generation
        if gen is None:
            what = use.tpu_type or use.machine_type or "of this AcceleratorConfig type"
            yield f"TPU {what} is not in the catalog; known: {', '.join(cat.tpu_generations)}"
            continue
        topologies = {t.topology: t for t in gen.accelerator_types}
        if use.tpu_topology and use.tpu_topology not in topologies:
            yield f"topology {use.tpu_topology} does not exist for {gen.name}; allowed: {', '.join(topologies)}"
        if use.tpu_type and use.tpu_type in cat.tpu_types and use.tpu_topology:
            expected = cat.tpu_slice(use.tpu_type).type.topology
            if use.tpu_topology != expected:
                yield f"{use.tpu_type} has topology {expected}, not {use.tpu_topology}"
        if use.runtime_version:
            runtimes = cat.tpu_runtimes(gen.id)
            if use.runtime_version not in runtimes:
                other = next((g.name for g in cat.tpu_generations.values() if use.runtime_version in cat.tpu_runtimes(g.id)), None)
                where = f"a runtime of {other}" if other else "not a known runtime"
                yield f"runtime {use.runtime_version} is {where}, not of {gen.name}; use one of {', '.join(runtimes)}"
        if r.type.endswith("NodePool") and use.tpu_topology in topologies and use.machine_type in cat.gke_tpu_machines:
            chips_per_node = cat.gke_tpu_machines[use.machine_type][1]
            t = topologies[use.tpu_topology]
            if t.chips % chips_per_node:
                yield f"topology {use.tpu_topology} ({t.chips} chips) does not split into {use.machine_type} nodes of {chips_per_node} chips"
            elif use.nodes and use.nodes % (t.chips // chips_per_node):
                yield f"a {use.tpu_topology} slice needs a multiple of {t.chips // chips_per_node} {use.machine_type} nodes, not {use.nodes}"


TPU_SHAPE = Rule(
    name="tpu-shape",
    description="TPU accelerator type, topology and runtime version agree with the generation.",
    level="mandatory",
    remediation="Use an accelerator type and topology the generation offers and its runtime version (`ai-clusters catalog --family v5e`).",
    check=_tpu_shape,
)


def _declared(r: Resource, _cfg: Mapping[str, Any]) -> Iterable[str]:
    if not r.uses or (r.type in LABELLESS and not r.labels):
        return  # a resource without a labels field is checked at stack level (workload-by-reference)
    missing = contract.missing(r.labels)
    if missing:
        yield f"a resource with accelerators must carry the workload labels; missing or invalid: {', '.join(missing)}"


WORKLOAD_DECLARED = Rule(
    name="workload-declared",
    description="Every resource with accelerators carries the workload labels (ai-workload, ai-environment, ai-cluster, ai-accelerators).",
    level="mandatory",
    remediation="Add the labels (see ai_clusters.core.labels), or build the resource with an ai-clusters component, which adds them.",
    check=_declared,
)
