"""The plan of a Vertex AI cluster, decided before anything is registered (pure: no Pulumi here).

`plan_vertex` checks the `vertex:` options against the catalog's Vertex AI facts (which machine types
Vertex AI offers for training and for online inference, the accelerator enum that fits each machine
type, replica and boot disk limits, what the APIs cannot do) and decides every default: whether the
cluster is a persistent training cluster or a serving endpoint, its machine spec, replicas, networking.
"""

from dataclasses import dataclass, field
from typing import Optional

from pydantic.alias_generators import to_camel

from ai_clusters.core.catalog import VERTEX_PURPOSES, Catalog, CatalogKeyError, NodeShape, VertexMachine, catalog, one_of
from ai_clusters.core.enums import ClusterPath, ProvisioningModel, WorkloadKind
from ai_clusters.core.spec import ResolvedCluster, StorageSpec
from ai_clusters.core.spec.capacity import Capacity, plural
from ai_clusters.core.spec.paths import Add, PathDefinition
from ai_clusters.vertex.options import (
    ENDPOINT_NETWORKING,
    KMS_KEY_RE,
    SERVING_ONLY,
    TRAINING_ONLY,
    AutoscalingMetric,
    VertexEndpoint,
    VertexMode,
    VertexNetworking,
    VertexOptions,
)

@dataclass(frozen=True)
class VertexPool:
    """One resource pool of a persistent resource, resolved."""

    machine: VertexMachine
    replicas: int
    min_replicas: Optional[int]
    max_replicas: Optional[int]
    boot_disk_gb: int
    boot_disk_type: str

    @property
    def max_nodes(self) -> int:
        return self.max_replicas or self.replicas


@dataclass(frozen=True)
class VertexPlan:
    """A Vertex AI cluster with every default decided and every fact checked."""

    mode: VertexMode
    machine: VertexMachine
    networking: VertexNetworking
    min_nodes: int
    max_nodes: int
    kms_key: Optional[str] = None
    pools: list[VertexPool] = field(default_factory=list)
    tensorboard: bool = False
    psc_interface_cidr: Optional[str] = None
    network_attachment: Optional[str] = None
    endpoint: Optional[VertexEndpoint] = None
    autoscaling_metric: Optional[str] = None
    autoscaling_target: Optional[int] = None

    @property
    def accelerators(self) -> int:
        """Accelerators at full scale (the accelerator pool at its maximum)."""
        return self.machine.count * self.max_nodes


def default_mode(kind: WorkloadKind) -> VertexMode:
    return VertexMode.SERVING if kind == WorkloadKind.INFERENCE else VertexMode.TRAINING


def _machine(add: Add, cat: Catalog, purpose: str, machine_type: str, accelerator: Optional[str], count: Optional[int], prefix: str = "") -> Optional[VertexMachine]:
    try:
        return cat.vertex_machine(purpose, machine_type, accelerator, count)
    except CatalogKeyError as exc:
        key = {"machineType": "machineType", "acceleratorType": "vertex.acceleratorType", "acceleratorCount": "vertex.acceleratorCount"}[exc.key]
        add(f"{prefix}{exc.key}" if prefix else key, str(exc))
        return None


def _boot_disk(add: Add, cat: Catalog, machine: VertexMachine, size: Optional[int], kind: Optional[str], prefix: str) -> tuple[int, str]:
    facts = cat.data.vertex.training
    size = facts.boot_disk_default_gb if size is None else size
    if not facts.boot_disk_min_gb <= size <= facts.boot_disk_max_gb:
        add(f"{prefix}bootDiskGb", f"Vertex AI training takes {facts.boot_disk_min_gb}-{facts.boot_disk_max_gb} GB boot disks, not {size}")
    allowed = list(facts.boot_disk_types)
    if machine.family is not None and not machine.family.attached_accelerators:
        allowed = [t for t in allowed if t in machine.family.boot_disk_types]
    if kind is None:
        kind = allowed[0] if allowed else facts.boot_disk_types[0]
    elif kind not in allowed:
        add(f"{prefix}bootDiskType", f"{machine.machine_type} on Vertex AI takes boot disks of type {one_of(allowed)}, not {kind!r}")
    return size, kind


def _replicas(add: Add, nodes: int, low: Optional[int], high: Optional[int], prefix: str) -> tuple[Optional[int], Optional[int]]:
    """Training autoscaling: both bounds or none; min > 0, min < max, min <= replicas <= max."""
    if low is None and high is None:
        return None, None
    low = nodes if low is None else low
    high = nodes if high is None else high
    if low < 1:
        add(f"{prefix}minReplicas", "a persistent resource pool keeps at least 1 replica (min_replica_count > 0)")
    if low >= high:
        add(f"{prefix}maxReplicas", f"autoscaling needs minReplicas < maxReplicas (got {low} and {high}); leave both unset for a fixed size")
    elif not low <= nodes <= high:
        add(f"{prefix}minReplicas", f"the pool starts with {nodes} replicas, which must lie within minReplicas {low} and maxReplicas {high}")
    return low, high


def _provisioning(add: Add, mode: VertexMode, model: ProvisioningModel, latency_ms: Optional[int]) -> None:
    if model == ProvisioningModel.ON_DEMAND:
        return
    if mode == VertexMode.TRAINING:
        why = (
            "persistent resources cannot consume Compute Engine reservations (Vertex AI: use reservations with training)"
            if model == ProvisioningModel.RESERVATION
            else f"persistent resource pools take no {model.value} capacity (their API has no field for it)"
        )
    elif latency_ms is not None and model == ProvisioningModel.SPOT:
        why = f"latency-bound serving (workload.latencyMs {latency_ms}) keeps on-demand capacity; Spot VMs can be taken away"
    else:
        why = f"deployment resource pools take no {model.value} capacity (their API has no field for it)"
    add("provisioning.model", f"{why}; use on-demand")


def networking_of(opts: "VertexOptions", mode: VertexMode) -> tuple[VertexNetworking, Optional[VertexEndpoint]]:
    """Training: VPC peering unless told otherwise. Serving: the endpoint kind decides (dedicated, over PSC, by default)."""
    if mode == VertexMode.TRAINING:
        return opts.networking or VertexNetworking.VPC_PEERING, None
    endpoint = opts.endpoint or (
        VertexEndpoint.PRIVATE if opts.networking == VertexNetworking.VPC_PEERING else VertexEndpoint.DEDICATED
    )
    return ENDPOINT_NETWORKING[endpoint], endpoint


def _networking(add: Add, opts: "VertexOptions", mode: VertexMode) -> tuple[VertexNetworking, Optional[VertexEndpoint]]:
    net, endpoint = networking_of(opts, mode)
    if mode == VertexMode.TRAINING:
        psc = net == VertexNetworking.PRIVATE_SERVICE_CONNECT
        if psc and not (opts.psc_interface_cidr or opts.network_attachment):
            add("vertex.pscInterfaceCidr", "a Private Service Connect interface needs a subnet for its network attachment (e.g. a /28) or networkAttachment")
        if not psc and (opts.psc_interface_cidr or opts.network_attachment):
            add("vertex.networking", "pscInterfaceCidr and networkAttachment apply to networking 'private-service-connect'")
    elif endpoint is not None and opts.networking is not None and opts.networking != net:
        add("vertex.networking", f"a {endpoint.value} endpoint is reached through {net.value}, not {opts.networking.value}")
    return net, endpoint


@dataclass
class _Context:
    """What the training and serving halves of plan_vertex share."""

    opts: VertexOptions
    cat: Catalog
    report: Add
    mode: VertexMode
    machine: Optional[VertexMachine]
    networking: VertexNetworking
    endpoint: Optional[VertexEndpoint]
    nodes: int
    kind: WorkloadKind
    latency_ms: Optional[int]


def plan_vertex(resolved: ResolvedCluster, add: Add, cat: Optional[Catalog] = None) -> Optional[VertexPlan]:
    """Check a resolved Vertex AI cluster against the catalog's Vertex facts and decide its settings.

    Every problem goes to `add(key, message)`; the plan is None when there was one.
    """
    cat = cat or catalog()
    spec = resolved.spec
    opts: VertexOptions = resolved.options or VertexOptions()
    work = spec.workload
    mode = opts.mode or default_mode(work.kind)
    problems: list[str] = []

    def report(key: str, message: str) -> None:
        problems.append(key)
        add(key, message)

    if resolved.shape is not None and not resolved.shape.family.gpu.vertex:
        report("machineType", f"Vertex AI does not offer {resolved.shape.family.gpu.model}")
        return None
    if mode != default_mode(work.kind):
        report("workload.kind", f"Vertex AI {mode.value} is for {'inference' if mode == VertexMode.SERVING else 'training'} workloads, not {work.kind.value}")
    for name in SERVING_ONLY if mode == VertexMode.TRAINING else TRAINING_ONLY:
        if getattr(opts, name) not in (None, []):
            report(f"vertex.{to_camel(name)}", f"applies to Vertex AI {'serving' if mode == VertexMode.TRAINING else 'training'}, not {mode.value}")
    _provisioning(report, mode, spec.provisioning.model, work.latency_ms)
    if opts.kms_key:
        key_region = KMS_KEY_RE.match(opts.kms_key).group(1)  # type: ignore[union-attr]
        if key_region != resolved.region:
            report("vertex.kmsKey", f"the key is in {key_region}; Vertex AI needs a key in the resource's region {resolved.region}")
    networking, endpoint = _networking(report, opts, mode)
    if resolved.shape is None:
        report("machineType", "Vertex AI clusters run on GPU machine types")
        return None
    ctx = _Context(
        opts, cat, report, mode, _cluster_machine(report, cat, resolved, opts, mode), networking, endpoint, resolved.nodes, work.kind, work.latency_ms
    )
    plan = _training_plan(ctx) if mode == VertexMode.TRAINING else _serving_plan(ctx)
    return None if problems else plan


def _cluster_machine(report: Add, cat: Catalog, resolved: ResolvedCluster, opts: VertexOptions, mode: VertexMode) -> Optional[VertexMachine]:
    """The cluster's machine spec for Vertex AI: the accelerator enum and count that fit its machine type."""
    shape = resolved.shape
    assert shape is not None
    accelerator, count = opts.accelerator_type, opts.accelerator_count
    if shape.attached:  # N1: the cluster's gpu and gpusPerNode decide; the options may only repeat them
        if accelerator is not None and accelerator != shape.gpu.vertex:
            report("vertex.acceleratorType", f"{accelerator} is not the cluster's gpu {resolved.spec.gpu} ({shape.gpu.vertex})")
            return None
        if count is not None and count != shape.gpus:
            report("vertex.acceleratorCount", f"{count} is not the cluster's gpusPerNode {shape.gpus}")
            return None
        accelerator, count = shape.gpu.vertex, shape.gpus
    purpose = "training" if mode == VertexMode.TRAINING else "prediction"
    return _machine(report, cat, purpose, shape.machine_type, accelerator, count)


def _training_plan(ctx: _Context) -> Optional[VertexPlan]:
    opts, cat, report, machine = ctx.opts, ctx.cat, ctx.report, ctx.machine
    facts = cat.vertex_facts("training")
    if machine is not None and machine.machine_type in facts.reservation_only:
        report("machineType", f"{machine.machine_type} on Vertex AI needs a shared reservation, which persistent resources cannot consume")
    low, high = _replicas(report, ctx.nodes, opts.min_replicas, opts.max_replicas, "vertex.")
    most = high or ctx.nodes
    if machine is not None and most > 1 and ctx.kind in (WorkloadKind.PRETRAINING, WorkloadKind.FINETUNING) and machine.machine_type not in facts.gpudirect:
        report(
            "vertex.maxReplicas" if high else "nodes",
            f"{most} replicas of {machine.machine_type} for {ctx.kind.value}: Vertex AI training sets up GPUDirect only on "
            f"{one_of(facts.gpudirect)}; use one of them, or one replica",
        )
    pools: list[VertexPool] = []
    if machine is not None:
        size, disk = _boot_disk(report, cat, machine, opts.boot_disk_gb, opts.boot_disk_type, "vertex.")
        pools.append(VertexPool(machine, ctx.nodes, low, high, size, disk))
    for i, extra in enumerate(opts.pools):
        prefix = f"vertex.pools[{i}]."
        m = _machine(report, cat, "training", extra.machine_type, None, None, prefix)
        if m is not None and m.accelerator is not None:
            report(f"{prefix}machineType", f"extra pools run on CPU machine types; {m.machine_type} carries {m.count} x {m.accelerator}")
            m = None
        p_low, p_high = _replicas(report, extra.replicas, extra.min_replicas, extra.max_replicas, prefix)
        if m is not None:
            size, disk = _boot_disk(report, cat, m, extra.boot_disk_gb, extra.boot_disk_type, prefix)
            pools.append(VertexPool(m, extra.replicas, p_low, p_high, size, disk))
    if machine is None:
        return None
    return VertexPlan(
        mode=ctx.mode,
        machine=machine,
        networking=ctx.networking,
        min_nodes=low or ctx.nodes,
        max_nodes=most,
        kms_key=opts.kms_key,
        pools=pools,
        tensorboard=True if opts.tensorboard is None else opts.tensorboard,
        psc_interface_cidr=opts.psc_interface_cidr,
        network_attachment=opts.network_attachment,
    )


def _serving_plan(ctx: _Context) -> Optional[VertexPlan]:
    opts, report, machine = ctx.opts, ctx.report, ctx.machine
    prediction = ctx.cat.data.vertex.prediction
    floor = prediction.min_replicas.get(machine.machine_type, 0) if machine is not None else 0
    low = max(prediction.min_replica_count, floor) if opts.min_replicas is None else opts.min_replicas
    high = opts.max_replicas if opts.max_replicas is not None else max(ctx.nodes, low)
    if low < 1:
        why = (
            f"latency-bound serving (workload.latencyMs {ctx.latency_ms}) keeps at least one replica warm; 0 would scale to zero"
            if ctx.latency_ms is not None
            else "a deployment resource pool keeps at least 1 replica (min_replica_count >= 1)"
        )
        report("vertex.minReplicas", why)
    elif machine is not None and low < floor:
        report("vertex.minReplicas", f"{machine.machine_type} serves from at least {floor} replicas, not {low}")
    if high < low:
        report("vertex.maxReplicas", f"maxReplicas {high} is below minReplicas {low}")
    if machine is None:
        return None
    metric = opts.autoscaling_metric or AutoscalingMetric.GPU_DUTY_CYCLE
    return VertexPlan(
        mode=ctx.mode,
        machine=machine,
        networking=ctx.networking,
        min_nodes=low,
        max_nodes=high,
        kms_key=opts.kms_key,
        endpoint=ctx.endpoint,
        autoscaling_metric=prediction.autoscaling_metrics[metric.value],
        autoscaling_target=opts.autoscaling_target or prediction.default_autoscaling_target,
    )


def vertex_capacity(resolved: ResolvedCluster) -> Capacity:
    """The accelerator pool at its largest: its replicas (the maximum when it autoscales) x the machine's accelerators."""
    plan: VertexPlan = resolved.plan
    opts: VertexOptions = resolved.options or VertexOptions()
    m = plan.machine
    if opts.max_replicas is not None:
        resize = "vertex.maxReplicas"
    elif plan.max_nodes > resolved.nodes:
        resize = "vertex.minReplicas"
    else:
        resize = "nodes"
    return Capacity(
        accelerators=plan.accelerators,
        per_unit=max(m.count, 1),
        shape=f"{plural(plan.max_nodes, 'replica')} x {m.count} {resolved.shape.gpu.model if resolved.shape else m.accelerator} ({m.machine_type})",
        resize_key=resize,
    )


def vertex_accepts(shape: NodeShape, kind: WorkloadKind, cat: Optional[Catalog] = None) -> Optional[str]:
    """Why Vertex AI cannot run a GPU shape for this workload (None: it can)."""
    cat = cat or catalog()
    if not shape.family.gpu.vertex:
        return "not offered by Vertex AI"
    purpose = "prediction" if kind == WorkloadKind.INFERENCE else "training"
    if shape.machine_type not in cat.vertex_facts(purpose).gpu_machine_types:
        return f"Vertex AI does not offer {shape.machine_type} for {VERTEX_PURPOSES[purpose]}"
    return None


PATH = PathDefinition(
    path=ClusterPath.VERTEX,
    plan=plan_vertex,
    component="ai_clusters.vertex.component:from_resolved",
    options_key="vertex",
    options_model=VertexOptions,
    accepts=vertex_accepts,
    own_capacity=True,  # Vertex AI obtains capacity its own way; plan_vertex checks the provisioning model
    default_storage=lambda kind: StorageSpec(),
    node_shapes=lambda resolved: [],  # Vertex AI brings its own GPU networking; it reaches the host VPC only
    capacity=vertex_capacity,
)

__all__ = ["PATH", "VertexPlan", "VertexPool", "default_mode", "networking_of", "plan_vertex", "vertex_accepts"]
