"""What Google's APIs answered, reduced to what the catalog compares (pure data, no client types)."""

from collections import Counter
from dataclasses import dataclass, field
from typing import Optional


@dataclass(frozen=True)
class MachineTypeRow:
    """One machine type in one zone, as `machineTypes.aggregatedList` describes it."""

    name: str
    zone: str
    vcpus: int
    memory_gb: float
    gpus: int = 0
    gpu: Optional[str] = None

    def shape(self) -> tuple[int, float, int]:
        return self.vcpus, self.memory_gb, self.gpus


@dataclass(frozen=True)
class Sku:
    """One Cloud Billing Catalog SKU: its description, category, regions and USD price per usage unit."""

    service: str
    sku_id: str
    description: str
    resource_group: str
    usage_type: str
    regions: tuple[str, ...]
    unit: str
    usd: float


@dataclass
class Listings:
    """Everything read in one refresh. Empty collections for what was not asked."""

    project: str
    machine_types: dict[str, dict[str, MachineTypeRow]] = field(default_factory=dict)  # name -> zone -> row
    accelerator_types: dict[str, set[str]] = field(default_factory=dict)  # name -> zones
    compute_zones: set[str] = field(default_factory=set)  # every zone the aggregated list answered for
    tpu_types: dict[str, set[str]] = field(default_factory=dict)  # zone -> accelerator type names
    tpu_runtimes: dict[str, set[str]] = field(default_factory=dict)  # zone -> runtime versions
    skus: Optional[list[Sku]] = None  # None: prices were not read
    could_not_ask: list[str] = field(default_factory=list)

    def zones_of(self, machine_type: str) -> set[str]:
        return set(self.machine_types.get(machine_type, {}))

    def shape_of(self, machine_type: str) -> Optional[MachineTypeRow]:
        """The shape most zones give (a machine type's shape does not depend on the zone)."""
        rows = list(self.machine_types.get(machine_type, {}).values())
        if not rows:
            return None
        common, _ = Counter(r.shape() for r in rows).most_common(1)[0]
        return next(r for r in rows if r.shape() == common)
