"""The catalog held against what Google's APIs list: every difference, one record each (pure).

Compared, for the families the catalog knows (a machine type belongs to a family by the first two
parts of its name, `a3-megagpu`):
- zones of every GPU machine type, of every N1 GPU (acceleratorTypes) and of every TPU generation
  (Cloud TPU acceleratorTypes, or for GKE-only TPU7x the zones of its host machine type);
- machine types Google lists that the catalog lacks, or no longer lists; their shapes (vCPUs,
  memory, GPUs) and those of N1 and TPU host machine types; NVIDIA accelerator types nobody knows;
- TPU accelerator types and TPU VM runtime versions added or gone;
- list prices that moved by more than 5 %, or that Google now has where the catalog has none.
"""

from dataclasses import dataclass
from typing import Any, Iterable, Optional

from ai_clusters.core.catalog import Catalog, region_of
from ai_clusters.core.catalog.models import Price
from ai_clusters.tooling.catalog_refresh.listings import Listings
from ai_clusters.tooling.catalog_refresh.prices import COMPUTE_SERVICE, STORAGE_SERVICE, SkuPrices

PRICE_TOLERANCE = 0.05
MACHINE_TYPES_SOURCE = "compute.googleapis.com machineTypes.aggregatedList"
ACCELERATORS_SOURCE = "compute.googleapis.com acceleratorTypes.aggregatedList"
TPU_TYPES_SOURCE = "tpu.googleapis.com acceleratorTypes.list"
TPU_RUNTIMES_SOURCE = "tpu.googleapis.com runtimeVersions.list"
WRITABLE = ("zone-added", "zone-gone", "shape")


@dataclass(frozen=True)
class Difference:
    """One fact where the catalog and Google disagree; `zone` holds the region for prices."""

    kind: str
    family: Optional[str]
    machine_type: Optional[str]
    zone: Optional[str]
    catalog: Any
    google: Any
    source: str

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "family": self.family,
            "machine_type": self.machine_type,
            "zone": self.zone,
            "catalog": self.catalog,
            "google": self.google,
            "source": self.source,
        }


def stem(machine_type: str) -> str:
    """The part of a machine type's name that names its family and series: a3-megagpu-8g -> a3-megagpu."""
    return "-".join(machine_type.split("-")[:2])


def known_stems(cat: Catalog) -> dict[str, str]:
    """Machine-type name stems the catalog knows -> the family (GPU family, TPU generation or n1) they belong to."""
    stems = {stem(name): fam.id for name, (fam, _) in cat.machines.items()}
    stems.update({stem(name): "n1" for name in cat.n1_machines})
    stems.update({stem(name): gen.id for name, (gen, _) in cat.gke_tpu_machines.items()})
    return stems


def compare(cat: Catalog, listings: Listings) -> list[Difference]:
    """Every difference between the catalog and what `listings` holds, in a stable order."""
    out: list[Difference] = []
    if listings.machine_types or listings.compute_zones:
        out += _gpu_machine_types(cat, listings)
        out += _other_machine_types(cat, listings)
    if listings.accelerator_types:
        out += _accelerators(cat, listings)
    if listings.tpu_types or listings.machine_types:
        out += _tpu(cat, listings)
    if listings.skus is not None:
        out += _prices(cat, SkuPrices(listings.skus))
    return out


def _zone_diffs(family: str, name: Optional[str], have: Iterable[str], google: set[str], answered: set[str], source: str) -> list[Difference]:
    have = set(have)
    added = [Difference("zone-added", family, name, z, None, z, source) for z in sorted(google - have)]
    gone = [Difference("zone-gone", family, name, z, z, None, source) for z in sorted(have - google) if not answered or z in answered]
    return added + gone


def _shape_text(vcpus: Optional[int], memory_gb: Optional[float], gpus: Optional[int] = None) -> str:
    text = f"{vcpus} vCPU, {memory_gb:g} GB"
    return text + (f", {gpus} GPU" if gpus is not None else "")


def _gpu_machine_types(cat: Catalog, listings: Listings) -> list[Difference]:
    out: list[Difference] = []
    for fam in cat.data.gpu_families:
        for mt in fam.machine_types:
            google = listings.zones_of(mt.name)
            if not google:
                out.append(Difference("machine-type-gone", fam.id, mt.name, None, mt.name, None, MACHINE_TYPES_SOURCE))
                continue
            out += _zone_diffs(fam.id, mt.name, mt.zones or fam.zones, google, listings.compute_zones, MACHINE_TYPES_SOURCE)
            row = listings.shape_of(mt.name)
            assert row is not None
            if row.shape() != (mt.vcpus, mt.memory_gb, mt.gpus):
                out.append(
                    Difference(
                        "shape", fam.id, mt.name, None, _shape_text(mt.vcpus, mt.memory_gb, mt.gpus), _shape_text(*row.shape()), MACHINE_TYPES_SOURCE
                    )
                )
    return out


def _other_machine_types(cat: Catalog, listings: Listings) -> list[Difference]:
    """N1 and TPU host shapes, and machine types of known stems the catalog lacks."""
    out: list[Difference] = []
    hosts = {m.name: (gen.id, m) for gen in cat.data.tpu_generations if gen.gke for m in gen.gke.machine_types}
    cpu_shapes: dict[str, tuple[str, Optional[int], Optional[float]]] = {n: ("n1", m.vcpus, m.memory_gb) for n, m in cat.n1_machines.items()}
    cpu_shapes.update({name: (gen_id, m.vcpus, m.memory_gb) for name, (gen_id, m) in hosts.items()})
    for name, (family, vcpus, memory_gb) in cpu_shapes.items():
        row = listings.shape_of(name)
        if row is None:
            if family == "n1" or name in hosts:
                out.append(Difference("machine-type-gone", family, name, None, name, None, MACHINE_TYPES_SOURCE))
            continue
        if (row.vcpus, row.memory_gb) != (vcpus, memory_gb):
            mine = _shape_text(vcpus, memory_gb) if vcpus is not None else None  # None: the catalog does not know it yet
            out.append(Difference("shape", family, name, None, mine, _shape_text(row.vcpus, row.memory_gb), MACHINE_TYPES_SOURCE))
    stems = known_stems(cat)
    known = set(cat.machines) | set(cat.n1_machines) | set(hosts)
    for name in sorted(set(listings.machine_types) - known):
        family = stems.get(stem(name))
        row = listings.shape_of(name)
        if family is None or row is None:
            continue
        zones = sorted(listings.zones_of(name))
        shown = _shape_text(*row.shape()) + (f" x {row.gpu}" if row.gpu else "") + f" in {len(zones)} zone(s): {', '.join(zones[:6])}"
        out.append(Difference("machine-type-added", family, name, None, None, shown + (" …" if len(zones) > 6 else ""), MACHINE_TYPES_SOURCE))
    return out


def _accelerators(cat: Catalog, listings: Listings) -> list[Difference]:
    out: list[Difference] = []
    for gpu in cat.data.n1_attachable_gpus:
        family = _n1_family(cat, gpu.gpu.compute_engine)
        google = listings.accelerator_types.get(gpu.gpu.compute_engine, set())
        if not google:
            out.append(Difference("machine-type-gone", family, gpu.gpu.compute_engine, None, gpu.gpu.compute_engine, None, ACCELERATORS_SOURCE))
            continue
        out += _zone_diffs(family, gpu.gpu.compute_engine, gpu.zones, google, listings.compute_zones, ACCELERATORS_SOURCE)
    for name in sorted(listings.accelerator_types):
        # -vws: the same GPU with an NVIDIA RTX Virtual Workstation licence, not another accelerator
        if name.startswith("nvidia-") and not name.endswith("-vws") and cat.family_of_gpu(name) is None:
            zones = sorted(listings.accelerator_types[name])
            out.append(Difference("accelerator-added", None, name, None, None, f"in {len(zones)} zone(s): {', '.join(zones[:6])}", ACCELERATORS_SOURCE))
    return out


def tpu_zones(cat: Catalog, listings: Listings, gen_id: str) -> Optional[set[str]]:
    """Where Google offers a TPU generation: Cloud TPU accelerator types, or (GKE only) its host machine types."""
    gen = cat.tpu_generation(gen_id)
    if cat.cloud_tpu(gen_id) is not None:
        if not listings.tpu_types:
            return None
        prefix = f"{gen.accelerator_type_prefix}-"
        return {z for z, names in listings.tpu_types.items() if any(n.startswith(prefix) for n in names)}
    if not listings.machine_types or gen.gke is None:
        return None
    return set().union(*(listings.zones_of(m.name) for m in gen.gke.machine_types))


def _tpu(cat: Catalog, listings: Listings) -> list[Difference]:
    out: list[Difference] = []
    for gen in cat.data.tpu_generations:
        google = tpu_zones(cat, listings, gen.id)
        if google is None:
            continue
        api = cat.cloud_tpu(gen.id) is not None
        answered = set(listings.tpu_types) if api else listings.compute_zones
        out += _zone_diffs(gen.id, None, gen.zones, google, answered, TPU_TYPES_SOURCE if api else MACHINE_TYPES_SOURCE)
        if not api or not google:
            continue
        prefix = f"{gen.accelerator_type_prefix}-"
        listed = {n for z in google for n in listings.tpu_types.get(z, ()) if n.startswith(prefix)}
        have = {t.name for t in gen.accelerator_types}
        out += [Difference("tpu-type-added", gen.id, n, None, None, n, TPU_TYPES_SOURCE) for n in sorted(listed - have, key=_by_size)]
        out += [Difference("tpu-type-gone", gen.id, n, None, n, None, TPU_TYPES_SOURCE) for n in sorted(have - listed, key=_by_size)]
        out += _runtimes(cat, listings, gen.id, google)
    return out


def _by_size(name: str) -> tuple[str, int]:
    head, _, size = name.rpartition("-")
    return head, int(size) if size.isdigit() else 0


def _runtimes(cat: Catalog, listings: Listings, gen_id: str, zones: set[str]) -> list[Difference]:
    """A catalog runtime no zone of the generation offers is gone; one every zone offers that the catalog
    knows for no generation is added (legacy tpu-vm-* TensorFlow/PyTorch images are not tracked)."""
    answered = [listings.tpu_runtimes[z] for z in sorted(zones) if z in listings.tpu_runtimes]
    if not answered:
        return []
    offered = set().union(*answered)
    everywhere = set.intersection(*answered)
    mine = set(cat.tpu_runtimes(gen_id))
    known = {v for g in cat.data.tpu_generations for v in cat.tpu_runtimes(g.id)}
    gone = [Difference("runtime-gone", gen_id, v, None, v, None, TPU_RUNTIMES_SOURCE) for v in sorted(mine - offered)]
    added = [
        Difference("runtime-added", gen_id, v, None, None, v, TPU_RUNTIMES_SOURCE)
        for v in sorted(everywhere - known)
        if not v.startswith("tpu-vm-")
    ]
    return gone + added


FALLBACK_REGION = "us-central1"  # where every price lookup falls back to (Catalog._pick): a missing price there matters


def _compared_regions(priced: Iterable[str], family_priced: Iterable[str], offered: Iterable[str]) -> list[str]:
    """Regions a price is compared in: where the catalog prices it, where it prices its family, and the fallback region."""
    offered = set(offered)
    return sorted(set(priced) | ((set(family_priced) | {FALLBACK_REGION}) & offered))


def _n1_family(cat: Catalog, gpu_name: str) -> str:
    fam = cat.family_of_gpu(gpu_name)
    return fam.id if fam else gpu_name


def _price_diffs(family: str, name: str, region: str, have: Optional[Price], google: tuple[Optional[float], Optional[float]], source: str) -> list[Difference]:
    out = []
    for label, mine, theirs in (("on-demand", have.on_demand if have else None, google[0]), ("spot", have.spot if have else None, google[1])):
        if theirs is None:
            continue
        if mine is None:
            out.append(Difference("price-added", family, name, region, None, {label: round(theirs, 5)}, source))
        elif abs(theirs - mine) > PRICE_TOLERANCE * mine:
            out.append(Difference("price", family, name, region, {label: mine}, {label: round(theirs, 5)}, source))
    return out


def _prices(cat: Catalog, skus: SkuPrices) -> list[Difference]:
    out: list[Difference] = []
    compute = f"cloudbilling.googleapis.com services/{COMPUTE_SERVICE}/skus"
    for fam in cat.data.gpu_families:
        if fam.billing is None:
            continue
        family_priced = {r for mt in fam.machine_types for r in mt.prices}
        for mt in fam.machine_types:
            for region in _compared_regions(mt.prices, family_priced, (region_of(z) for z in mt.zones or fam.zones)):
                google = (skus.machine(fam.billing, mt, region, False), skus.machine(fam.billing, mt, region, True))
                out += _price_diffs(fam.id, mt.name, region, mt.prices.get(region), google, compute)
    for gpu in cat.data.n1_attachable_gpus:
        if gpu.billing_gpu is None:
            continue
        for region in _compared_regions(gpu.prices, (), (region_of(z) for z in gpu.zones)):
            google = (skus.gpu(gpu.billing_gpu, region, False), skus.gpu(gpu.billing_gpu, region, True))
            out += _price_diffs(_n1_family(cat, gpu.gpu.compute_engine), gpu.gpu.compute_engine, region, gpu.prices.get(region), google, compute)
    n1_billing = cat.data.n1_defaults.billing
    if n1_billing is not None:
        for m in cat.data.n1_machine_types:
            for region in sorted(m.prices):
                google = (skus.cpu_machine(n1_billing, m.vcpus, m.memory_gb, region, False), skus.cpu_machine(n1_billing, m.vcpus, m.memory_gb, region, True))
                out += _price_diffs("n1", m.name, region, m.prices.get(region), google, compute)
    return out + _storage_prices(cat, skus)


def _storage_prices(cat: Catalog, skus: SkuPrices) -> list[Difference]:
    """Disk capacity and Cloud Storage Standard, USD per GiB-month."""
    out: list[Difference] = []
    items = [(d.type, d.billing, d.prices, COMPUTE_SERVICE) for d in cat.data.storage.disks]
    gcs = cat.data.storage.cloud_storage
    items.append(("cloud-storage-standard", gcs.billing, gcs.prices, STORAGE_SERVICE))
    for name, billing, prices, service in items:
        if billing is None:
            continue
        source = f"cloudbilling.googleapis.com services/{service}/skus"
        for region in sorted(set(prices) | {FALLBACK_REGION}):
            theirs = skus.unit_price(service, billing, region)
            mine = prices.get(region)
            if theirs is None:
                continue
            if mine is None:
                out.append(Difference("price-added", "storage", name, region, None, {"per GiB-month": round(theirs, 5)}, source))
            elif abs(theirs - mine) > PRICE_TOLERANCE * mine:
                out.append(Difference("price", "storage", name, region, {"per GiB-month": mine}, {"per GiB-month": round(theirs, 5)}, source))
    return out
