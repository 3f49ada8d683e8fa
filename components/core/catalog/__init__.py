"""The accelerator catalog: one data file of Google Cloud facts, and the lookups everything uses.

Components, the advisor, the cost estimate and the policy pack all read machine types, GPU names,
NIC layouts, TPU topologies, zones and prices from here; nothing else hard-codes them.
"""

import datetime
import difflib
import functools
from dataclasses import dataclass
from importlib import resources
from typing import Optional


from ai_clusters.core.enums import GpuDirect, ProvisioningModel, WorkloadKind
from ai_clusters.core.strict_yaml import load_strict
from ai_clusters.core.catalog.models import (
    AttachableGpu,
    CatalogData,
    CloudTpuApiGeneration,
    GpuFamily,
    GpuModel,
    MachineType,
    NicLayout,
    Price,
    TpuAcceleratorType,
    TpuGeneration,
    VertexPurposeFacts,
    WorkloadGuidance,
)

__all__ = [
    "Catalog",
    "CatalogError",
    "CatalogKeyError",
    "NodeShape",
    "TpuSlice",
    "VertexMachine",
    "catalog",
    "parse_catalog",
    "region_of",
]


class CatalogError(LookupError):
    """A name the catalog does not know, with the names it does know in the message."""

    def __str__(self) -> str:  # LookupError would quote the message
        return str(self.args[0]) if self.args else ""


def region_of(zone: str) -> str:
    """`us-central1-a` -> `us-central1` (a region name is returned unchanged)."""
    parts = zone.split("-")
    return "-".join(parts[:2]) if len(parts) >= 3 else zone


def one_of(values, limit: int = 12) -> str:
    """Format allowed values for an error message (all of them when few, else the first `limit`)."""
    values = list(values)
    shown = ", ".join(str(v) for v in values[:limit])
    return shown if len(values) <= limit else f"{shown} … ({len(values)} in all)"


def _unknown(kind: str, name: str, known: list[str]) -> CatalogError:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return CatalogError(f"'{name}' is not a {kind} in the catalog{hint}; allowed: {one_of(sorted(known))}")


@dataclass(frozen=True)
class NodeShape:
    """What one node of a GPU cluster is: machine type, family, its GPUs and where it is offered."""

    machine_type: str
    family: GpuFamily
    gpu: GpuModel
    gpus: int
    vcpus: int
    memory_gb: float
    local_ssd_gb: float
    provisioning: tuple[ProvisioningModel, ...]
    zones: tuple[str, ...]
    attached: bool = False
    gpu_share: Optional[float] = None
    unsupported: Optional[str] = None

    @property
    def network(self) -> NicLayout:
        return self.family.network

    @property
    def refusal(self) -> Optional[str]:
        """Why no path builds this shape yet, as a message (None when they do)."""
        if not self.unsupported:
            return None
        return f"{self.machine_type} ({self.family.name}) is in the catalog but no path builds it yet: {self.unsupported}"

    @property
    def gpudirect(self) -> GpuDirect:
        return self.family.gpudirect


class CatalogKeyError(CatalogError):
    """A CatalogError that knows which input key is wrong (machineType, acceleratorType, acceleratorCount)."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


VERTEX_PURPOSES = {"training": "custom training", "prediction": "online inference"}


@dataclass(frozen=True)
class VertexMachine:
    """A machine spec as Vertex AI takes it: machine type, accelerator enum and count (no accelerator: CPU)."""

    machine_type: str
    accelerator: Optional[str]
    count: int
    family: Optional[GpuFamily]


@dataclass(frozen=True)
class TpuSlice:
    """One TPU slice: the generation and the accelerator type with its topology."""

    generation: TpuGeneration
    type: TpuAcceleratorType

    @property
    def chips(self) -> int:
        return self.type.chips

    @property
    def vms(self) -> int:
        """The TPU VMs (GKE nodes) one slice runs on."""
        return self.type.vms

    @property
    def chips_per_vm(self) -> int:
        return self.type.chips // self.type.vms


def _n1_family(gpu: AttachableGpu, data: CatalogData) -> GpuFamily:
    """N1 GPUs are attached to N1 machine types; give each GPU model a family of its own."""
    short = gpu.gpu.compute_engine.removeprefix("nvidia-").removeprefix("tesla-")
    return GpuFamily(
        id=f"n1-{short}",
        name=f"N1 + {gpu.gpu.model}",
        series="n1",
        gpu=gpu.gpu,
        gpudirect=GpuDirect.NONE,
        network=NicLayout(gvnics=1),
        attached_accelerators=True,
        provisioning=gpu.provisioning,
        compact_placement=False,  # N1 takes no compact placement policy
        arch="x86_64",
        boot_disk_types=data.n1_defaults.boot_disk_types,
        hyperdisk_ml=False,
        image=data.n1_defaults.image,
        zones=gpu.zones,
        machine_types=[],
        sources=list(dict.fromkeys([*gpu.sources, *data.n1_defaults.sources])),
    )


class Catalog:
    """Lookups over the validated catalog data."""

    def __init__(self, data: CatalogData):
        self.data = data
        self.families: dict[str, GpuFamily] = {f.id: f for f in data.gpu_families}
        self.machines: dict[str, tuple[GpuFamily, MachineType]] = {
            mt.name: (fam, mt) for fam in data.gpu_families for mt in fam.machine_types
        }
        self.n1_gpus: dict[str, AttachableGpu] = {g.gpu.compute_engine: g for g in data.n1_attachable_gpus}
        for gpu in data.n1_attachable_gpus:
            fam = _n1_family(gpu, data)
            self.families[fam.id] = fam
        self.n1_machines = {m.name: m for m in data.n1_machine_types}
        self.tpu_generations: dict[str, TpuGeneration] = {g.id: g for g in data.tpu_generations}
        self.tpu_types: dict[str, TpuSlice] = {
            t.name: TpuSlice(g, t) for g in data.tpu_generations for t in g.accelerator_types
        }
        self.gke_tpu_machines: dict[str, tuple[TpuGeneration, int]] = {
            m.name: (g, m.chips) for g in data.tpu_generations if g.gke for m in g.gke.machine_types
        }
        self._family_by_gpu: dict[str, GpuFamily] = {}
        for fam in self.families.values():
            for name in (fam.gpu.compute_engine, fam.gpu.gke, fam.gpu.vertex):
                if name:
                    self._family_by_gpu.setdefault(name, fam)
        self._guidance: dict[WorkloadKind, WorkloadGuidance] = {g.kind: g for g in data.guidance}
        unknown = {f for g in data.guidance for f in g.gpu_families} - set(self.families)
        if unknown:
            raise ValueError(f"catalog guidance names unknown families {sorted(unknown)}")

    # --- GPUs -------------------------------------------------------------------------------
    @property
    def gpu_machine_types(self) -> list[str]:
        return list(self.machines)

    def family(self, family_id: str) -> GpuFamily:
        try:
            return self.families[family_id]
        except KeyError:
            raise _unknown("GPU family", family_id, list(self.families)) from None

    def family_of_gpu(self, accelerator: str) -> Optional[GpuFamily]:
        """The family of a GPU given by any of its API names (Compute Engine, GKE or Vertex AI)."""
        return self._family_by_gpu.get(accelerator)

    def family_of_machine(self, machine_type: str) -> Optional[GpuFamily]:
        hit = self.machines.get(machine_type)
        return hit[0] if hit else None

    def is_gpu_machine(self, machine_type: str) -> bool:
        return machine_type in self.machines

    def shape(self, machine_type: str, gpu: Optional[str] = None, gpu_count: Optional[int] = None) -> NodeShape:
        """Resolve a node: a GPU machine type, or an N1 machine type with attached GPUs."""
        if machine_type in self.machines:
            fam, mt = self.machines[machine_type]
            if gpu and gpu not in (fam.gpu.compute_engine, fam.gpu.gke, fam.gpu.vertex):
                raise CatalogError(
                    f"'{machine_type}' comes with {fam.gpu.compute_engine}; no other GPU can be attached"
                )
            if gpu_count is not None and gpu_count != mt.gpus:
                raise CatalogError(f"'{machine_type}' has exactly {mt.gpus} GPUs, not {gpu_count}")
            return NodeShape(
                machine_type=machine_type,
                family=fam,
                gpu=fam.gpu,
                gpus=mt.gpus,
                vcpus=mt.vcpus,
                memory_gb=mt.memory_gb,
                local_ssd_gb=mt.local_ssd_gb,
                provisioning=tuple(mt.provisioning or fam.provisioning),
                zones=tuple(mt.zones or fam.zones),
                gpu_share=mt.gpu_share,
                unsupported=mt.unsupported or fam.unsupported,
            )
        if machine_type in self.n1_machines:
            if gpu is None:
                raise CatalogError(
                    f"'{machine_type}' has no GPU of its own; attach one of {one_of(sorted(self.n1_gpus))}"
                )
            return self.n1_shape(machine_type, gpu, gpu_count or 1)
        raise _unknown("GPU machine type", machine_type, [*self.machines, *self.n1_machines])

    def n1_shape(self, machine_type: str, gpu: str, count: int) -> NodeShape:
        n1 = self.n1_machines.get(machine_type)
        if n1 is None:
            raise _unknown("N1 machine type", machine_type, list(self.n1_machines))
        att = self.n1_gpus.get(gpu)
        if att is None:
            raise _unknown("GPU that attaches to N1", gpu, list(self.n1_gpus))
        if att.end_of_support and att.end_of_support <= datetime.date.today():
            raise CatalogError(f"{gpu} reached end of support on {att.end_of_support}; use a G2 or A-series machine type")
        if count not in att.counts:
            raise CatalogError(
                f"{gpu} attaches in counts of {one_of(att.counts)} per VM, not {count}"
            )
        if n1.vcpus > att.max_vcpus[count]:
            raise CatalogError(
                f"{count} x {gpu} allows at most {att.max_vcpus[count]} vCPUs; {machine_type} has {n1.vcpus}"
            )
        limit = att.max_memory_gb.get(count)
        if limit is not None and n1.memory_gb > limit:
            raise CatalogError(f"{count} x {gpu} allows at most {limit} GB of memory; {machine_type} has {n1.memory_gb}")
        fam = self.family_of_gpu(gpu)
        assert fam is not None
        # Some zones allow less vCPU and memory per GPU count (P100 x 4): the shape is not offered there.
        zones = tuple(z for z in att.zones if att.allows(count, n1.vcpus, n1.memory_gb, z))
        return NodeShape(
            machine_type=machine_type,
            family=fam,
            gpu=att.gpu,
            gpus=count,
            vcpus=n1.vcpus,
            memory_gb=n1.memory_gb,
            local_ssd_gb=0,
            provisioning=tuple(att.provisioning),
            zones=zones,
            attached=True,
        )

    def guidance(self, kind: WorkloadKind) -> WorkloadGuidance:
        return self._guidance[kind]

    # --- TPUs -------------------------------------------------------------------------------
    def tpu_generation(self, gen_id: str) -> TpuGeneration:
        try:
            return self.tpu_generations[gen_id]
        except KeyError:
            raise _unknown("TPU generation", gen_id, list(self.tpu_generations)) from None

    def tpu_slice(self, accelerator_type: str) -> TpuSlice:
        try:
            return self.tpu_types[accelerator_type]
        except KeyError:
            raise _unknown("TPU accelerator type", accelerator_type, list(self.tpu_types)) from None

    def tpu_slice_for(self, gen_id: str, topology: str) -> TpuSlice:
        gen = self.tpu_generation(gen_id)
        for t in gen.accelerator_types:
            if t.topology == topology:
                return TpuSlice(gen, t)
        raise CatalogError(
            f"topology '{topology}' does not exist for {gen.name}; allowed: "
            f"{one_of([t.topology for t in gen.accelerator_types], limit=40)}"
        )

    def tpu_runtime(self, gen_id: str, framework: str) -> str:
        """The default TPU VM runtime version of a generation for a framework."""
        gen = self.tpu_generation(gen_id)
        versions = gen.runtime_versions.get(framework) or gen.runtime_versions.get("default")
        if not versions:
            raise CatalogError(f"{gen.name} lists no runtime for {framework}; known: {one_of(gen.runtime_versions)}")
        return versions[0]

    def cloud_tpu(self, gen_id: str) -> Optional[CloudTpuApiGeneration]:
        """What the Cloud TPU API (TPU VMs) offers for a generation; None when it is GKE only (TPU7x)."""
        api = self.data.cloud_tpu_api
        return next((g for g in api.generations if g.id == gen_id), None) if api else None

    def tpu_generation_of_config_type(self, config_type: str) -> Optional[TpuGeneration]:
        """The generation of a Cloud TPU API AcceleratorConfig type (V5LITE_POD -> v5e)."""
        api = self.data.cloud_tpu_api
        hit = next((g for g in api.generations if g.accelerator_config_type == config_type.upper()), None) if api else None
        return self.tpu_generations.get(hit.id) if hit else None

    def tpu_runtimes(self, gen_id: str) -> list[str]:
        gen = self.tpu_generation(gen_id)
        seen: dict[str, None] = {}
        for versions in gen.runtime_versions.values():
            for v in versions:
                seen.setdefault(v, None)
        return list(seen)

    # --- Vertex AI ----------------------------------------------------------------------------
    def vertex_facts(self, purpose: str) -> VertexPurposeFacts:
        """What Vertex AI offers for `training` or `prediction`."""
        return getattr(self.data.vertex, purpose)

    @property
    def vertex_accelerators(self) -> list[str]:
        """Every GPU accelerator enum Vertex AI knows, as the catalog names it."""
        return sorted({f.gpu.vertex for f in self.families.values() if f.gpu.vertex})

    def vertex_machine(self, purpose: str, machine_type: str, accelerator: Optional[str] = None, count: Optional[int] = None) -> VertexMachine:
        """The machine spec for Vertex AI `purpose`; CatalogKeyError names the key that does not fit."""
        facts = self.vertex_facts(purpose)
        what = VERTEX_PURPOSES[purpose]
        if accelerator is not None and accelerator not in self.vertex_accelerators:
            raise CatalogKeyError("acceleratorType", str(_unknown("Vertex AI accelerator type", accelerator, self.vertex_accelerators)))
        if machine_type in facts.gpu_machine_types:
            fam, mt = self.machines[machine_type]
            enum = fam.gpu.vertex
            if accelerator is not None and accelerator != enum:
                raise CatalogKeyError("acceleratorType", f"{accelerator} does not fit {machine_type}, which carries {mt.gpus} x {enum}")
            if count is not None and count != mt.gpus:
                raise CatalogKeyError("acceleratorCount", f"{machine_type} carries exactly {mt.gpus} x {enum}, not {count}")
            return VertexMachine(machine_type, enum, mt.gpus, fam)
        if machine_type in facts.n1_gpu_counts:
            allowed = facts.n1_gpu_counts[machine_type]
            if accelerator is None:
                raise CatalogKeyError("acceleratorType", f"{machine_type} has no GPU of its own; attach one of {one_of(allowed)}")
            if accelerator not in allowed:
                raise CatalogKeyError(
                    "acceleratorType", f"{accelerator} does not attach to {machine_type} for Vertex AI {what}; allowed: {one_of(allowed)}"
                )
            counts = allowed[accelerator]
            count = counts[0] if count is None else count
            if count not in counts:
                raise CatalogKeyError("acceleratorCount", f"{machine_type} takes {one_of(counts)} x {accelerator} for Vertex AI {what}, not {count}")
            return VertexMachine(machine_type, accelerator, count, self.family_of_gpu(accelerator))
        if machine_type in facts.cpu_machine_types:
            if accelerator is not None:
                raise CatalogKeyError("acceleratorType", f"{machine_type} takes no accelerator for Vertex AI {what}")
            return VertexMachine(machine_type, None, 0, None)
        offered = [*facts.gpu_machine_types, *facts.n1_gpu_counts, *facts.cpu_machine_types]
        close = difflib.get_close_matches(machine_type, offered, n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise CatalogKeyError(
            "machineType", f"'{machine_type}' is not a machine type Vertex AI offers for {what}{hint}; offered: {one_of(offered)}"
        )

    # --- Prices -----------------------------------------------------------------------------
    @staticmethod
    def quote(prices: dict[str, Price], region: str, model: ProvisioningModel) -> tuple[Optional[float], Optional[str], Optional[ProvisioningModel]]:
        """The hourly price in `region` (falling back to us-central1), the region it is from, and the provisioning
        model it is the price of: the on-demand price stands in where the catalog has none for `model`."""
        for where in (region, "us-central1"):
            price = prices.get(where)
            if price is None:
                continue
            if model == ProvisioningModel.SPOT and price.spot is not None:
                return price.spot, where, ProvisioningModel.SPOT
            if model == ProvisioningModel.FLEX_START and price.flex_start is not None:
                return price.flex_start, where, ProvisioningModel.FLEX_START
            if price.on_demand is not None:
                return price.on_demand, where, ProvisioningModel.ON_DEMAND
        return None, None, None

    @classmethod
    def _pick(cls, prices: dict[str, Price], region: str, model: ProvisioningModel) -> tuple[Optional[float], Optional[str]]:
        """The hourly price in `region` (falling back to us-central1), and the region it is from."""
        usd, where, _ = cls.quote(prices, region, model)
        return usd, where

    def cpu_machine_price(self, machine_type: str, region: str, model: ProvisioningModel) -> tuple[Optional[float], Optional[str]]:
        """USD per hour of a machine type without accelerators, and the price's region (None: the catalog has no price)."""
        n1 = self.n1_machines.get(machine_type)
        if n1 is not None:
            return self._pick(n1.prices, region, model)
        listed = self.data.cpu_machine_prices
        prices = listed.machines.get(machine_type) if listed is not None else None
        return self._pick(prices, region, model) if prices else (None, None)

    def node_price(self, shape: NodeShape, region: str, model: ProvisioningModel) -> tuple[Optional[float], Optional[str]]:
        """USD per hour for one node of `shape`, and the region whose list price was used."""
        if not shape.attached:
            _, mt = self.machines[shape.machine_type]
            return self._pick(mt.prices, region, model)
        vm, where = self._pick(self.n1_machines[shape.machine_type].prices, region, model)
        gpu, gpu_where = self._pick(self.n1_gpus[shape.gpu.compute_engine].prices, region, model)
        if vm is None or gpu is None:
            return None, None
        return vm + gpu * shape.gpus, where if where == gpu_where else f"{where}/{gpu_where}"

    def tpu_price(self, gen_id: str, chips: int, region: str, model: ProvisioningModel) -> tuple[Optional[float], Optional[str]]:
        per_chip, where = self._pick(self.tpu_generation(gen_id).prices, region, model)
        return (per_chip * chips if per_chip is not None else None), where

    @staticmethod
    def per_gib_month(prices: dict[str, float], region: str) -> tuple[Optional[float], Optional[str]]:
        """A storage list price (USD per GiB-month) in `region`, falling back to us-central1, and its region."""
        for where in (region, "us-central1"):
            if where in prices:
                return prices[where], where
        return None, None


def parse_catalog(text: str) -> Catalog:
    """A catalog from the text of a data file, validated."""
    return Catalog(CatalogData.model_validate(load_strict(text)))


@functools.lru_cache(maxsize=1)
def catalog() -> Catalog:
    """The catalog, loaded and validated once per process."""
    return parse_catalog(resources.files(__package__).joinpath("data/catalog.yaml").read_text(encoding="utf-8"))
