"""Hourly cost of a stack from its resources and the catalog's list prices, and what it leaves out.

Computed from resource inputs (not from the spec), so the offline plan and the policy pack's budget
rule price the same thing, hand-written resources included. Accelerators are priced at full scale
(autoscaling maximum, all slices, the `ai-nodes` size of a template's group); storage by provisioned
capacity: file systems, data disks and the boot disks of every VM of an instance, template or node
pool. Nothing is counted as free because its price is unknown:

- a part with no list price in the catalog (a machine type, a disk type, a file-system tier, a region)
  is *unpriced*: it is listed, and every total that leaves it out is a lower bound ("at least");
- a resource billed by use (a bucket's stored data, Cloud NAT) is listed as *billed by use*: the
  estimate covers provisioned capacity only and says so.

Not estimated at all: TPU VM boot disks (part of the TPU VM), Vertex AI's own disk and management
charges (its compute is priced at the Compute Engine rate), network egress.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional

from ai_clusters.core import labels as contract
from ai_clusters.core.accelerators import CLUSTER as GKE_CLUSTER
from ai_clusters.core.accelerators import VERTEX_TYPES, AcceleratorUse, VmGroup, accelerator_uses, vm_group, with_borrowed_labels
from ai_clusters.core.catalog import Catalog, catalog, region_of
from ai_clusters.core.enums import ProvisioningModel
from ai_clusters.core.naming import last_segment

HOURS_PER_MONTH = 730.0

# Resources whose charges follow use, not provisioned size: listed, never counted as $0.
BILLED_BY_USE = {
    "gcp:storage/bucket:Bucket": "Cloud Storage bucket",
    "gcp:compute/routerNat:RouterNat": "Cloud NAT gateway (per VM served and per GiB processed)",
    "gcp:vertex/aiTensorboard:AiTensorboard": "Vertex AI TensorBoard",
}


@dataclass(frozen=True)
class Unpriced:
    """A part of the stack the estimate leaves out, and why."""

    urn: str
    cluster: Optional[str]
    reason: str

    def __str__(self) -> str:
        return f"{self.urn.rsplit('::', 1)[-1]}: {self.reason}"


@dataclass
class ResourceCost:
    """The hourly cost of one resource, and its parts without a list price."""

    urn: str
    cluster: Optional[str]
    compute_usd: float = 0.0
    storage_usd: float = 0.0
    detail: str = ""
    unpriced: list[str] = field(default_factory=list)
    billed_by_use: list[str] = field(default_factory=list)

    @property
    def hourly_usd(self) -> float:
        return self.compute_usd + self.storage_usd


@dataclass
class ClusterCost:
    """One cluster's cost; `unpriced` non-empty means the figures are lower bounds."""

    hourly_usd: float = 0.0
    compute_hourly_usd: float = 0.0
    storage_hourly_usd: float = 0.0
    monthly_usd: float = 0.0
    hours_per_month: float = HOURS_PER_MONTH
    unpriced: list[str] = field(default_factory=list)
    billed_by_use: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.unpriced


@dataclass
class StackCost:
    hourly_usd: float
    monthly_usd: float
    by_cluster: dict[str, ClusterCost]
    resources: list[ResourceCost]
    unpriced: list[Unpriced]
    billed_by_use: list[Unpriced] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Whether every provisioned part had a list price (else the totals are lower bounds)."""
        return not self.unpriced


def at_least(amount: str, complete: bool) -> str:
    """A money figure as a reader must take it: exact, or a lower bound when something is unpriced."""
    return amount if complete else f"at least {amount}"


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
        return 0.0, "", f"no list price for {use.machine_type} ({model.value}) in {where}"
    # Vertex AI bills its own rate card for training and inference; the catalog holds Compute Engine's.
    basis = ", Compute Engine rate" if use.resource_type in VERTEX_TYPES else ""
    return price * use.nodes, f"{use.nodes} x {use.machine_type} ({model.value}, {src}{basis})", None


@dataclass(frozen=True)
class _Part:
    """One priced piece of a resource: USD per hour, or None with the reason it has no price."""

    usd: Optional[float]
    what: str
    why: str = ""


def _per_gib(prices: Mapping[str, float], gib: float, region: str, what: str, extra: float = 0.0) -> _Part:
    price, where = Catalog.per_gib_month(dict(prices), region)
    if price is None:
        return _Part(None, what, f"no list price for {what} in {region}")
    suffix = "" if where == region else f", {where} price"
    return _Part((gib * price + extra) / HOURS_PER_MONTH, f"{what} ({price:g} $/GiB-month{suffix})")


def _disk(gib: Optional[float], disk_type: Optional[str], region: str, cat: Catalog, what: str, count: int = 1) -> _Part:
    """`count` disks of one size and type (a hyperdisk-ml disk's provisioned throughput is its own part)."""
    if gib is None or not disk_type:
        missing = " and ".join(x for x, v in (("size", gib), ("type", disk_type)) if not v)
        return _Part(None, what, f"{what}: {missing} not set (the service's default), not priced")
    label = f"{count} x {gib:g} GiB {disk_type} {what}" if count != 1 else f"{gib:g} GiB {disk_type} {what}"
    facts = cat.data.storage.disk(disk_type)
    if facts is None:
        return _Part(None, label, f"no list price for {disk_type} in the catalog")
    return _per_gib(facts.prices, gib * count, region, label)


def _storage_parts(resource_type: str, inputs: Mapping[str, Any], region: str, cat: Catalog) -> list[_Part]:
    """The provisioned storage of a file system or data disk."""
    facts = cat.data.storage
    where = region_of(str(inputs.get("location") or inputs.get("zone") or region))
    if resource_type == "gcp:filestore/instance:Instance":
        tier_name = str(inputs.get("tier") or "")
        tier = next((t for t in facts.filestore_tiers if t.tier == tier_name), None)
        shares = inputs.get("fileShares") or {}
        gib = float(shares.get("capacityGb") or 0)
        what = f"Filestore {tier_name} {gib:,.0f} GiB"
        return [_per_gib(tier.prices if tier else {}, gib, where, what)]
    if resource_type == "gcp:lustre/instance:Instance":
        gib = float(inputs.get("capacityGib") or 0)
        tput = int(float(inputs.get("perUnitStorageThroughput") or 0))
        tier = next((t for t in facts.lustre.throughput_tiers if t.mbps_per_tib == tput), None)
        what = f"Managed Lustre {gib:,.0f} GiB at {tput} MB/s/TiB"
        return [_per_gib(tier.prices if tier else {}, gib, where, what)]
    if resource_type == "gcp:parallelstore/instance:Instance":
        gib = float(inputs.get("capacityGib") or 0)
        return [_per_gib(facts.parallelstore.prices, gib, where, f"Parallelstore {gib:,.0f} GiB")]
    if resource_type == "gcp:compute/disk:Disk":
        gib = float(inputs["size"]) if inputs.get("size") is not None else None
        disk_type = last_type(inputs.get("type"))
        if disk_type == "hyperdisk-ml":
            hd = facts.hyperdisk_ml
            tput = float(inputs.get("provisionedThroughput") or 0)
            tput_price, _ = Catalog.per_gib_month(hd.throughput_prices, where)
            if tput and tput_price is None:
                return [_Part(None, f"Hyperdisk ML {gib or 0:g} GiB", f"no list price for Hyperdisk ML throughput ({tput:g} MiB/s) in {where}")]
            return [_per_gib(hd.prices, gib or 0, where, f"Hyperdisk ML {gib or 0:g} GiB", extra=tput * (tput_price or 0.0))]
        return [_disk(gib, disk_type, where, cat, "data disk")]
    return []


def last_type(value: Any) -> Optional[str]:
    """A disk type as written in any form (pd-ssd, or a zones/…/diskTypes/pd-ssd URL)."""
    return last_segment(value) or None


def _vm_parts(group: VmGroup, priced_by_accelerators: bool, region: str, cat: Catalog) -> tuple[list[_Part], list[_Part]]:
    """(compute, storage) of the VMs of an instance, template or node pool."""
    where = group.region or region
    compute: list[_Part] = []
    if not priced_by_accelerators and group.nodes and group.machine_type and group.machine_type not in cat.gke_tpu_machines:
        what = f"{group.nodes} x {group.machine_type}"
        price, src = cat.cpu_machine_price(group.machine_type, where, group.provisioning)
        if price is None:
            compute.append(_Part(None, what, f"no list price for {group.machine_type} in the catalog"))
        else:
            compute.append(_Part(price * group.nodes, f"{what} ({group.provisioning.value}, {src})"))
    storage = []
    if group.nodes:
        for gib, disk_type, boot in group.disks:
            storage.append(_disk(gib, last_type(disk_type), where, cat, "boot disk" if boot else "disk", count=group.nodes))
    return compute, storage


def resource_cost(urn: str, resource_type: str, inputs: Mapping[str, Any], region: str, cat: Optional[Catalog] = None) -> ResourceCost:
    """The hourly list-price cost of one resource, with what it could not price and what is billed by use."""
    cat = cat or catalog()
    labels = inputs.get("labels") or inputs.get("resourceLabels") or (inputs.get("nodeConfig") or {}).get("resourceLabels") or {}
    cost = ResourceCost(urn=urn, cluster=labels.get(contract.CLUSTER))
    details = []
    uses = accelerator_uses(resource_type, inputs, cat)
    for use in uses:
        cost.cluster = cost.cluster or use.labels.get(contract.CLUSTER)
        usd, detail, problem = _accelerator_cost(use, region, cat)
        cost.compute_usd += usd
        if detail:
            details.append(detail)
        if problem:
            cost.unpriced.append(problem)
    compute: list[_Part] = []
    storage = _storage_parts(resource_type, inputs, region, cat)
    group = vm_group(resource_type, inputs)
    if group is not None:
        compute, boot = _vm_parts(group, bool(uses), region, cat)
        storage += boot
    for parts, attr in ((compute, "compute_usd"), (storage, "storage_usd")):
        for part in parts:
            if part.usd is None:
                cost.unpriced.append(part.why)
            else:
                setattr(cost, attr, getattr(cost, attr) + part.usd)
                details.append(part.what)
    if resource_type in BILLED_BY_USE:
        cost.billed_by_use.append(_by_use_note(resource_type, inputs, region, cat))
    if resource_type == GKE_CLUSTER:
        fee = _gke_fee(inputs, cat)
        if fee.usd is None:
            cost.unpriced.append(fee.why)
        else:
            cost.compute_usd += fee.usd
            details.append(fee.what)
    cost.detail = "; ".join(details)
    return cost


def _gke_fee(inputs: Mapping[str, Any], cat: Catalog) -> _Part:
    """GKE's flat management fee; a zonal cluster may be covered by the free tier's monthly credit (one per billing account)."""
    what = "GKE cluster management fee"
    fee = cat.data.gke.management_fee if cat.data.gke is not None else None
    if fee is None:
        return _Part(None, what, f"{what}: no list price in the catalog")
    zonal = str(inputs.get("location") or "").count("-") == 2
    credit = f"; the free tier's ${fee.free_tier_usd_per_month:g}/month credit may cover one zonal cluster" if zonal else ""
    return _Part(fee.usd_per_hour, f"{what} ({fee.usd_per_hour:g} $/h{credit})")


def _by_use_note(resource_type: str, inputs: Mapping[str, Any], region: str, cat: Catalog) -> str:
    what = BILLED_BY_USE[resource_type]
    if resource_type == "gcp:storage/bucket:Bucket":
        where = str(inputs.get("location") or region).lower()
        price, src = Catalog.per_gib_month(cat.data.storage.cloud_storage.prices, where)
        if price is not None and src == where:
            return f"{what} (Standard storage {price:g} $/GiB-month in {where})"
    return what


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
    costed: list[ResourceCost] = []
    unpriced: list[Unpriced] = []
    by_use: list[Unpriced] = []
    resources = list(resources)
    # A label-less resource (a deployment resource pool) counts for the cluster of the resource naming it.
    lent = with_borrowed_labels((rtype, inputs) for _, rtype, inputs in resources)
    for (urn, rtype, _), inputs in zip(resources, lent):
        cost = resource_cost(urn, rtype, inputs, region, cat)
        if not (cost.hourly_usd or cost.unpriced or cost.billed_by_use):
            continue
        costed.append(cost)
        unpriced.extend(Unpriced(urn, cost.cluster, u) for u in cost.unpriced)
        by_use.extend(Unpriced(urn, cost.cluster, u) for u in cost.billed_by_use)
        if cost.hourly_usd or cost.unpriced:  # a row for what is provisioned; use-billed parts join the rows there are
            c = by_cluster[cost.cluster or "(unlabelled)"]
            c.compute_hourly_usd += cost.compute_usd
            c.storage_hourly_usd += cost.storage_usd
            c.unpriced.extend(cost.unpriced)
    for item in by_use:
        if (item.cluster or "(unlabelled)") in by_cluster:
            by_cluster[item.cluster or "(unlabelled)"].billed_by_use.append(item.reason)
    for key, c in by_cluster.items():
        c.hours_per_month = hours.get(key, HOURS_PER_MONTH)
        c.hourly_usd = c.compute_hourly_usd + c.storage_hourly_usd
        c.monthly_usd = c.compute_hourly_usd * c.hours_per_month + c.storage_hourly_usd * HOURS_PER_MONTH
    return StackCost(
        hourly_usd=sum(c.hourly_usd for c in by_cluster.values()),
        monthly_usd=sum(c.monthly_usd for c in by_cluster.values()),
        by_cluster=dict(by_cluster),
        resources=costed,
        unpriced=unpriced,
        billed_by_use=by_use,
    )


__all__ = [
    "BILLED_BY_USE",
    "ClusterCost",
    "ResourceCost",
    "StackCost",
    "Unpriced",
    "at_least",
    "resource_cost",
    "stack_cost",
    "ProvisioningModel",
]
