"""What accelerators a resource carries, read from its inputs as the engine receives them (camelCase).

Pure functions over (type token, inputs): the policy pack and the cost estimate both use them, so a
GPU VM written by hand in someone else's stack is understood the same way as one of ours.
"""

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional

from ai_clusters.core import labels as contract
from ai_clusters.core.catalog import Catalog, GpuFamily, TpuGeneration, catalog, region_of
from ai_clusters.core.enums import ProvisioningModel
from ai_clusters.core.naming import last_segment

INSTANCE = "gcp:compute/instance:Instance"
TEMPLATE = "gcp:compute/instanceTemplate:InstanceTemplate"
REGION_TEMPLATE = "gcp:compute/regionInstanceTemplate:RegionInstanceTemplate"
NODE_POOL = "gcp:container/nodePool:NodePool"
CLUSTER = "gcp:container/cluster:Cluster"
TPU_VM = "gcp:tpu/v2Vm:V2Vm"
TPU_QUEUED = "gcp:tpu/v2QueuedResource:V2QueuedResource"
TPU_QUEUED_DYNAMIC = "pulumi-python:dynamic/tpu:QueuedResource"
"""ai-clusters' own queued resource (ai_clusters.tpu.queued_resource, a Pulumi dynamic resource): its type token is the
marker. Its inputs hold the Cloud TPU API's request JSON under `queuedResource` (tpu.nodeSpec[], spot, reservationName,
provisioningModel …) with `project`, `zone`, `queuedResourceId` and `apiVersion` beside it."""
TPU_QUEUED_TYPES = (TPU_QUEUED, TPU_QUEUED_DYNAMIC)
VERTEX_PERSISTENT = "gcp:vertex/aiPersistentResource:AiPersistentResource"
VERTEX_POOL = "gcp:vertex/aiDeploymentResourcePool:AiDeploymentResourcePool"
VERTEX_ENDPOINT = "gcp:vertex/aiEndpoint:AiEndpoint"

VM_TYPES = (INSTANCE, TEMPLATE, REGION_TEMPLATE)
VERTEX_TYPES = (VERTEX_PERSISTENT, VERTEX_POOL)

# Accelerator resources whose API has no labels field -> (the resource type that carries their labels,
# the label on it that names them). Stack-level checks and the cost lend them those labels.
LABELLESS: dict[str, tuple[str, str]] = {VERTEX_POOL: (VERTEX_ENDPOINT, contract.DEPLOYMENT_POOL)}


def with_borrowed_labels(resources: Iterable[tuple[str, Mapping[str, Any]]]) -> list[Mapping[str, Any]]:
    """Each resource's inputs; a label-less one named by another resource gets that resource's labels."""
    resources = list(resources)
    carriers = {carrier: (target, key) for target, (carrier, key) in LABELLESS.items()}
    lent: dict[tuple[str, str], dict[str, Any]] = {}
    for resource_type, inputs in resources:
        if resource_type in carriers:
            target, key = carriers[resource_type]
            labels = dict(inputs.get("labels") or {})
            if labels.get(key):
                lent[(target, str(labels[key]))] = labels
    out: list[Mapping[str, Any]] = []
    for resource_type, inputs in resources:
        name = last_segment(inputs.get("name"))
        labels = lent.get((resource_type, name)) if resource_type in LABELLESS and not inputs.get("labels") else None
        out.append({**inputs, "labels": labels} if labels else inputs)
    return out


@dataclass
class AcceleratorUse:
    """The accelerators one resource stands for."""

    resource_type: str
    kind: str  # "gpu" or "tpu"
    labels: dict[str, str]
    machine_type: Optional[str] = None
    family: Optional[GpuFamily] = None
    gpu: Optional[str] = None
    gpus_per_node: int = 0
    tpu_generation: Optional[TpuGeneration] = None
    tpu_type: Optional[str] = None
    tpu_topology: Optional[str] = None
    chips: int = 0
    runtime_version: Optional[str] = None
    nodes: int = 1  # VMs (or hosts) this resource stands for when it runs
    min_nodes: int = 1  # the fewest that always run (serving replicas)
    provisioning: ProvisioningModel = ProvisioningModel.ON_DEMAND
    zone: Optional[str] = None
    region: Optional[str] = None
    notes: list[str] = field(default_factory=list)

    @property
    def family_id(self) -> Optional[str]:
        if self.family is not None:
            return self.family.id
        return self.tpu_generation.id if self.tpu_generation is not None else None

    @property
    def accelerators(self) -> int:
        return self.gpus_per_node * self.nodes if self.kind == "gpu" else self.chips


def _model_from_scheduling(s: Mapping[str, Any]) -> ProvisioningModel:
    model = str(s.get("provisioningModel") or "").upper()
    if model == "SPOT" or s.get("preemptible") or s.get("spot"):
        return ProvisioningModel.SPOT
    if model == "FLEX_START":
        return ProvisioningModel.FLEX_START
    if model == "RESERVATION_BOUND":
        return ProvisioningModel.RESERVATION
    return ProvisioningModel.ON_DEMAND


def _reservation(aff: Optional[Mapping[str, Any]]) -> bool:
    return bool(aff) and str(aff.get("type") or aff.get("consumeReservationType") or "").upper().startswith("SPECIFIC")


def _gpu_family(cat: Catalog, machine_type: Optional[str], accelerators: list[Mapping[str, Any]]) -> tuple[Optional[GpuFamily], Optional[str], int]:
    if machine_type and cat.is_gpu_machine(machine_type):
        fam, mt = cat.machines[machine_type]
        return fam, fam.gpu.compute_engine, mt.gpus
    for acc in accelerators or []:
        name = last_segment(acc.get("type") or acc.get("acceleratorType"))
        fam = cat.family_of_gpu(name)
        count = int(acc.get("count") or acc.get("acceleratorCount") or 0)
        if fam is not None or name:
            return fam, name or None, count
    return None, None, 0


def _vm_use(resource_type: str, inputs: Mapping[str, Any], cat: Catalog) -> Optional[AcceleratorUse]:
    machine = last_segment(inputs.get("machineType"))
    family, gpu, count = _gpu_family(cat, machine, inputs.get("guestAccelerators") or [])
    if not gpu:
        return None
    labels = dict(inputs.get("labels") or {})
    scheduling = inputs.get("scheduling") or {}
    model = _model_from_scheduling(scheduling)
    if model == ProvisioningModel.ON_DEMAND and _reservation(inputs.get("reservationAffinity")):
        model = ProvisioningModel.RESERVATION
    zone = inputs.get("zone")
    nodes = _vm_nodes(resource_type, labels)
    use = AcceleratorUse(
        resource_type=resource_type,
        kind="gpu",
        labels=labels,
        machine_type=machine or None,
        family=family,
        gpu=gpu,
        gpus_per_node=count,
        nodes=nodes,
        min_nodes=nodes,
        provisioning=model,
        zone=zone,
        region=region_of(zone) if zone else inputs.get("region"),
    )
    if resource_type != INSTANCE and nodes == 0:
        use.notes.append("a template alone runs nothing; its group size comes from the ai-nodes label")
    return use


def _pool_nodes(inputs: Mapping[str, Any]) -> tuple[int, int]:
    """A node pool's nodes at full scale (autoscaling maximum, else its size) and at least, over its locations."""
    autoscaling = inputs.get("autoscaling") or {}
    locations = inputs.get("nodeLocations") or [None]
    per_zone_max = autoscaling.get("maxNodeCount")
    total_max = autoscaling.get("totalMaxNodeCount")
    count = inputs.get("nodeCount") if inputs.get("nodeCount") is not None else inputs.get("initialNodeCount")
    if total_max is not None:
        nodes = int(total_max)
    elif per_zone_max is not None:
        nodes = int(per_zone_max) * len(locations)
    else:
        nodes = int(count or 0) * len(locations)
    min_nodes = int(autoscaling.get("totalMinNodeCount") or (autoscaling.get("minNodeCount") or 0) * len(locations)) if autoscaling else nodes
    return nodes, min_nodes


def _vm_nodes(resource_type: str, labels: Mapping[str, str]) -> int:
    """An instance is one VM; a template stands for the group made from it (the ai-nodes label)."""
    return 1 if resource_type == INSTANCE else (contract.read_int(labels, contract.NODES) or 0)


@dataclass(frozen=True)
class VmGroup:
    """The VMs a Compute Engine or GKE resource stands for, accelerators or not, and the disks each one has."""

    resource_type: str
    machine_type: str
    nodes: int
    labels: dict[str, str]
    region: Optional[str]
    provisioning: ProvisioningModel
    disks: tuple[tuple[Optional[float], Optional[str], bool], ...]  # (size GiB, disk type, boot) per VM; None: not set


def vm_group(resource_type: str, inputs: Mapping[str, Any]) -> Optional[VmGroup]:
    """The VMs of an instance, template or node pool (None for other resources)."""
    if resource_type in VM_TYPES:
        labels = dict(inputs.get("labels") or {})
        zone = inputs.get("zone")
        if resource_type == INSTANCE:
            boot = (inputs.get("bootDisk") or {}).get("initializeParams") or {}
            disks = ((_number(boot.get("size")), boot.get("type"), True),)
        else:
            disks = tuple(
                (_number(d.get("diskSizeGb")), d.get("diskType"), bool(d.get("boot")))
                for d in inputs.get("disks") or []
                if str(d.get("type") or "PERSISTENT").upper() == "PERSISTENT" and not d.get("source")
            )
        return VmGroup(
            resource_type=resource_type,
            machine_type=last_segment(inputs.get("machineType")),
            nodes=_vm_nodes(resource_type, labels),
            labels=labels,
            region=region_of(zone) if zone else inputs.get("region"),
            provisioning=_model_from_scheduling(inputs.get("scheduling") or {}),
            disks=disks,
        )
    if resource_type == NODE_POOL:
        config = inputs.get("nodeConfig") or {}
        locations = inputs.get("nodeLocations") or []
        location = str(inputs.get("location") or "")
        return VmGroup(
            resource_type=resource_type,
            machine_type=str(config.get("machineType") or ""),
            nodes=_pool_nodes(inputs)[0],
            labels=dict(config.get("resourceLabels") or {}),
            region=region_of(locations[0]) if locations else (region_of(location) if location else None),
            provisioning=ProvisioningModel.SPOT if config.get("spot") or config.get("preemptible") else ProvisioningModel.ON_DEMAND,
            disks=((_number(config.get("diskSizeGb")), config.get("diskType"), True),),
        )
    return None


def _number(value: Any) -> Optional[float]:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _node_pool_use(inputs: Mapping[str, Any], cat: Catalog) -> Optional[AcceleratorUse]:
    config = inputs.get("nodeConfig") or {}
    machine = str(config.get("machineType") or "")
    labels = dict(config.get("resourceLabels") or {})
    locations = inputs.get("nodeLocations") or [None]
    nodes, min_nodes = _pool_nodes(inputs)
    if config.get("spot") or config.get("preemptible"):
        model = ProvisioningModel.SPOT
    elif config.get("flexStart") or (inputs.get("queuedProvisioning") or {}).get("enabled"):
        model = ProvisioningModel.FLEX_START
    elif _reservation(config.get("reservationAffinity")):
        model = ProvisioningModel.RESERVATION
    else:
        model = ProvisioningModel.ON_DEMAND
    zone = locations[0]
    placement = inputs.get("placementPolicy") or {}
    if machine in cat.gke_tpu_machines:
        gen, chips = cat.gke_tpu_machines[machine]
        topology = placement.get("tpuTopology")  # multi-host slices: the pool is one slice of this topology
        return AcceleratorUse(
            resource_type=NODE_POOL,
            kind="tpu",
            labels=labels,
            machine_type=machine,
            tpu_generation=gen,
            tpu_type=next((t.name for t in gen.accelerator_types if t.topology == topology), None) if topology else None,
            tpu_topology=topology,
            chips=chips * nodes,
            nodes=nodes,
            min_nodes=min_nodes,
            provisioning=model,
            zone=zone,
            region=region_of(zone) if zone else None,
        )
    family, gpu, count = _gpu_family(cat, machine, config.get("guestAccelerators") or [])
    if not gpu:
        return None
    return AcceleratorUse(
        resource_type=NODE_POOL,
        kind="gpu",
        labels=labels,
        machine_type=machine,
        family=family,
        gpu=gpu,
        gpus_per_node=count,
        nodes=nodes,
        min_nodes=min_nodes,
        provisioning=model,
        zone=zone,
        region=region_of(zone) if zone else (inputs.get("location") if str(inputs.get("location", "")).count("-") == 1 else None),
    )


def _tpu_node_use(resource_type: str, node: Mapping[str, Any], zone: Optional[str], model: ProvisioningModel, cat: Catalog, slices: int = 1) -> AcceleratorUse:
    """One TPU node as a V2Vm writes it (or a queued resource's node spec): type or config + topology, runtime."""
    labels = dict(node.get("labels") or {})
    acc_type = node.get("acceleratorType")
    config = node.get("acceleratorConfig") or {}
    gen = None
    chips = 0
    topology = config.get("topology")
    if acc_type and acc_type in cat.tpu_types:
        sl = cat.tpu_slice(acc_type)
        gen, chips, topology = sl.generation, sl.chips, topology or sl.type.topology
    elif config.get("type"):
        gen = cat.tpu_generation_of_config_type(str(config["type"]))
        if gen and topology:
            match = next((t for t in gen.accelerator_types if t.topology == topology), None)
            chips = match.chips if match else 0
    hosts = 1
    if gen is not None and chips:
        hosts = next((t.vms for t in gen.accelerator_types if t.chips == chips), 1)
    return AcceleratorUse(
        resource_type=resource_type,
        kind="tpu",
        labels=labels,
        tpu_generation=gen,
        tpu_type=acc_type,
        tpu_topology=topology,
        chips=chips * slices,
        runtime_version=node.get("runtimeVersion"),
        nodes=hosts * slices,
        min_nodes=hosts * slices,
        provisioning=model,
        zone=zone,
        region=region_of(zone) if zone else None,
    )


def _queued_model(request: Mapping[str, Any]) -> ProvisioningModel:
    """A queued resource's tier as the Cloud TPU API names it (pulumi-gcp 10.2.0 carries none: on-demand)."""
    named = str(request.get("provisioningModel") or "").upper()
    if named == "SPOT" or request.get("spot") is not None:
        return ProvisioningModel.SPOT
    if named == "FLEX_START":
        return ProvisioningModel.FLEX_START
    if named == "RESERVATION_BOUND" or request.get("reservationName") or (request.get("guaranteed") or {}).get("reserved"):
        return ProvisioningModel.RESERVATION
    return ProvisioningModel.ON_DEMAND


def queued_request(resource_type: str, inputs: Mapping[str, Any]) -> tuple[Mapping[str, Any], list[Mapping[str, Any]]]:
    """A queued resource's request and its node specs: pulumi-gcp's (`tpu.nodeSpecs`) or the API's JSON in ours (`queuedResource`)."""
    if resource_type == TPU_QUEUED_DYNAMIC:
        request = inputs.get("queuedResource") or {}
        return request, list((request.get("tpu") or {}).get("nodeSpec") or [])
    return inputs, list((inputs.get("tpu") or {}).get("nodeSpecs") or [])


def _tpu_use(resource_type: str, inputs: Mapping[str, Any], cat: Catalog) -> list[AcceleratorUse]:
    if resource_type == TPU_VM:
        sched = inputs.get("schedulingConfig") or {}
        model = ProvisioningModel.SPOT if sched.get("spot") or sched.get("preemptible") else (
            ProvisioningModel.RESERVATION if sched.get("reserved") else ProvisioningModel.ON_DEMAND
        )
        return [_tpu_node_use(resource_type, inputs, inputs.get("zone"), model, cat)]
    request, specs = queued_request(resource_type, inputs)
    model = _queued_model(request)
    uses = []
    for spec in specs:
        multi = spec.get("multisliceParams") or spec.get("multiNodeParams") or {}
        slices = int(multi.get("nodeCount") or 1)
        zone = last_segment(spec.get("parent")) or inputs.get("zone")
        use = _tpu_node_use(resource_type, spec.get("node") or {}, zone, model, cat, slices)
        use.labels = use.labels or dict(inputs.get("labels") or {})
        uses.append(use)
    return uses


def _vertex_use(resource_type: str, inputs: Mapping[str, Any], cat: Catalog) -> list[AcceleratorUse]:
    labels = dict(inputs.get("labels") or {})
    region = inputs.get("location") or inputs.get("region")
    pools: list[tuple[Mapping[str, Any], int, int]] = []
    if resource_type == VERTEX_PERSISTENT:
        for pool in inputs.get("resourcePools") or []:
            auto = pool.get("autoscalingSpec") or {}
            count = int(pool.get("replicaCount") or 0)
            pools.append((pool.get("machineSpec") or {}, int(auto.get("maxReplicaCount") or count), int(auto.get("minReplicaCount") or count)))
    else:
        ded = inputs.get("dedicatedResources") or {}
        pools.append((ded.get("machineSpec") or {}, int(ded.get("maxReplicaCount") or ded.get("minReplicaCount") or 1), int(ded.get("minReplicaCount") or 0)))
    uses = []
    for spec, max_n, min_n in pools:
        machine = spec.get("machineType")
        family, gpu, count = _gpu_family(
            cat, machine, [{"type": spec.get("acceleratorType"), "count": spec.get("acceleratorCount")}] if spec.get("acceleratorType") else []
        )
        if not gpu:
            continue
        model = ProvisioningModel.SPOT if spec.get("spot") or (inputs.get("dedicatedResources") or {}).get("spot") else ProvisioningModel.ON_DEMAND
        if _reservation(spec.get("reservationAffinity")):
            model = ProvisioningModel.RESERVATION
        uses.append(
            AcceleratorUse(
                resource_type=resource_type,
                kind="gpu",
                labels=labels,
                machine_type=machine,
                family=family,
                gpu=family.gpu.compute_engine if family is not None else gpu,  # one name for cost and rules
                gpus_per_node=count,
                nodes=max_n,
                min_nodes=min_n,
                provisioning=model,
                region=region,
            )
        )
    return uses


def accelerator_uses(resource_type: str, inputs: Mapping[str, Any], cat: Optional[Catalog] = None) -> list[AcceleratorUse]:
    """Every accelerator use of one resource (empty when it carries none)."""
    cat = cat or catalog()
    if resource_type in VM_TYPES:
        use = _vm_use(resource_type, inputs, cat)
        return [use] if use else []
    if resource_type == NODE_POOL:
        use = _node_pool_use(inputs, cat)
        return [use] if use else []
    if resource_type == TPU_VM or resource_type in TPU_QUEUED_TYPES:
        return _tpu_use(resource_type, inputs, cat)
    if resource_type in (VERTEX_PERSISTENT, VERTEX_POOL):
        return _vertex_use(resource_type, inputs, cat)
    return []
