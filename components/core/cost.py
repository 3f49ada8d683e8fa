"""Hourly cost of a stack from its resources and the catalog's list prices.

Computed from resource inputs (not from the spec), so the offline plan and the policy pack's budget
rule price the same thing, hand-written resources included. Accelerators are priced at full scale
(autoscaling maximum, all slices, the `ai-nodes` size of a template's group); storage by provisioned
capacity. Buckets are billed by use and count as zero here.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional

from ai_clusters.core import labels as contract
from ai_clusters.core.accelerators import VERTEX_TYPES, AcceleratorUse, accelerator_uses, with_borrowed_labels
from ai_clusters.core.catalog import Catalog, catalog, region_of
from ai_clusters.core.enums import ProvisioningModel

HOURS_PER_MONTH = 730.0


@dataclass
class ResourceCost:
    """The hourly cost of one resource."""

    urn: str
    cluster: Optional[str]
    compute_usd: float = 0.0
    storage_usd: float = 0.0
    detail: str = ""
    unpriced: list[str] = field(default_factory=list)

    @property
    def hourly_usd(self) -> float:
        return self.compute_usd + self.storage_usd


@dataclass
class ClusterCost:
    hourly_usd: float = 0.0
    compute_hourly_usd: float = 0.0
    storage_hourly_usd: float = 0.0
    monthly_usd: float = 0.0
    hours_per_month: float = HOURS_PER_MONTH


@dataclass
class StackCost:
    hourly_usd: float
    monthly_usd: float
    by_cluster: dict[str, ClusterCost]
    resources: list[ResourceCost]
    unpriced: list[str]


def _accelerator_cost(use: AcceleratorUse, region: str, cat: Catalog) -> tuple[float, str, Optional[str]]:
    where = use.region or region
    model = use.provisioning
    if use.kind == "tpu":
        if use.tpu_generation is None:
            return 0.0, "", f"unknown TPU {use.tpu_type or use.machine_type}"
        price, src = cat.tpu_price(use.tpu_generation.id, use.chips, where, model)
        if price is None:
            return 0.0, "", f"no list price for {use.tpu_generation.name} in {where}"
        return price, f"{use.chips} x {use.tpu_generation.name} chip ({model.value}, {src})", None
    if use.family is None or use.machine_type is None:
        return 0.0, "", f"GPU {use.gpu} on {use.machine_type} is not in the catalog"
    try:
        shape = cat.shape(use.machine_type, use.gpu if use.family.attached_accelerators else None, use.gpus_per_node if use.family.attached_accelerators else None)
    except LookupError as exc:
        return 0.0, "", str(exc)
    price, src = cat.node_price(shape, where, model)
    if price is None:
        return 0.0, "", f"no list price for {use.machine_type} in {where}"
    # Vertex AI bills its own rate card for training and inference; the catalog holds Compute Engine's.
    basis = ", Compute Engine rate" if use.resource_type in VERTEX_TYPES else ""
    return price * use.nodes, f"{use.nodes} x {use.machine_type} ({model.value}, {src}{basis})", None


def _storage_cost(resource_type: str, inputs: Mapping[str, Any], region: str, cat: Catalog) -> tuple[float, str]:
    facts = cat.data.storage
    loc = str(inputs.get("location") or inputs.get("zone") or region)
    where = region_of(loc)

    def per_gib_month(prices: Mapping[str, float]) -> Optional[float]:
        return prices.get(where, prices.get("us-central1"))

    if resource_type == "gcp:filestore/instance:Instance":
        tier = next((t for t in facts.filestore_tiers if t.tier == inputs.get("tier")), None)
        shares = inputs.get("fileShares") or {}
        gib = float(shares.get("capacityGb") or 0)
        price = per_gib_month(tier.prices) if tier else None
        if price is not None:
            return gib * price / HOURS_PER_MONTH, f"Filestore {inputs.get('tier')} {gib:.0f} GiB"
    elif resource_type == "gcp:lustre/instance:Instance":
        gib = float(inputs.get("capacityGib") or 0)
        tput = int(float(inputs.get("perUnitStorageThroughput") or 0))
        tier = next((t for t in facts.lustre.throughput_tiers if t.mbps_per_tib == tput), None)
        price = per_gib_month(tier.prices) if tier else None
        if price is not None:
            return gib * price / HOURS_PER_MONTH, f"Managed Lustre {gib:.0f} GiB at {tput} MB/s/TiB"
    elif resource_type == "gcp:parallelstore/instance:Instance":
        gib = float(inputs.get("capacityGib") or 0)
        price = per_gib_month(facts.parallelstore.prices)
        if price is not None:
            return gib * price / HOURS_PER_MONTH, f"Parallelstore {gib:.0f} GiB"
    elif resource_type == "gcp:compute/disk:Disk" and inputs.get("type") == "hyperdisk-ml":
        gib = float(inputs.get("size") or 0)
        hd = facts.hyperdisk_ml
        price = per_gib_month(hd.prices)
        tput_price = per_gib_month(hd.throughput_prices) or 0.0
        if price is not None:
            tput = float(inputs.get("provisionedThroughput") or 0)
            return (gib * price + tput * tput_price) / HOURS_PER_MONTH, f"Hyperdisk ML {gib:.0f} GiB"
    return 0.0, ""


def resource_cost(urn: str, resource_type: str, inputs: Mapping[str, Any], region: str, cat: Optional[Catalog] = None) -> ResourceCost:
    """The hourly list-price cost of one resource (zero for free or use-billed resources)."""
    cat = cat or catalog()
    labels = inputs.get("labels") or (inputs.get("nodeConfig") or {}).get("resourceLabels") or {}
    cost = ResourceCost(urn=urn, cluster=labels.get(contract.CLUSTER))
    details = []
    for use in accelerator_uses(resource_type, inputs, cat):
        cost.cluster = cost.cluster or use.labels.get(contract.CLUSTER)
        usd, detail, problem = _accelerator_cost(use, region, cat)
        cost.compute_usd += usd
        if detail:
            details.append(detail)
        if problem:
            cost.unpriced.append(problem)
    usd, detail = _storage_cost(resource_type, inputs, region, cat)
    cost.storage_usd += usd
    if detail:
        details.append(detail)
    cost.detail = "; ".join(details)
    return cost


def stack_cost(
    resources: Iterable[tuple[str, str, Mapping[str, Any]]],
    region: str,
    hours_per_month: Optional[Mapping[str, float]] = None,
    cat: Optional[Catalog] = None,
) -> StackCost:
    """Cost of (urn, type, inputs) triples, by the `ai-cluster` label; compute runs `hours_per_month`."""
    cat = cat or catalog()
    hours = dict(hours_per_month or {})
    by_cluster: dict[str, ClusterCost] = defaultdict(ClusterCost)
    priced: list[ResourceCost] = []
    unpriced: list[str] = []
    resources = list(resources)
    # A label-less resource (a deployment resource pool) counts for the cluster of the resource naming it.
    lent = with_borrowed_labels((rtype, inputs) for _, rtype, inputs in resources)
    for (urn, rtype, _), inputs in zip(resources, lent):
        cost = resource_cost(urn, rtype, inputs, region, cat)
        if cost.hourly_usd or cost.unpriced:
            priced.append(cost)
        unpriced.extend(f"{urn}: {u}" for u in cost.unpriced)
        if not cost.hourly_usd:
            continue
        key = cost.cluster or "(unlabelled)"
        c = by_cluster[key]
        c.compute_hourly_usd += cost.compute_usd
        c.storage_hourly_usd += cost.storage_usd
    for key, c in by_cluster.items():
        c.hours_per_month = hours.get(key, HOURS_PER_MONTH)
        c.hourly_usd = c.compute_hourly_usd + c.storage_hourly_usd
        c.monthly_usd = c.compute_hourly_usd * c.hours_per_month + c.storage_hourly_usd * HOURS_PER_MONTH
    return StackCost(
        hourly_usd=sum(c.hourly_usd for c in by_cluster.values()),
        monthly_usd=sum(c.monthly_usd for c in by_cluster.values()),
        by_cluster=dict(by_cluster),
        resources=priced,
        unpriced=unpriced,
    )


__all__ = ["ClusterCost", "ResourceCost", "StackCost", "resource_cost", "stack_cost", "ProvisioningModel"]
