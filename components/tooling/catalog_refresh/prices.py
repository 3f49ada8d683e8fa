"""List prices from Cloud Billing Catalog SKUs, in the catalog's units (pure).

A SKU is found by its service, the start of its description, its usage type (OnDemand or Preemptible
for Spot) and a region it serves; the description prefixes are the catalog's own `billing` entries,
the way Google names them (as Cyclenerd's google-cloud-pricing-cost-calculator maps them in
build/mapping.csv). A machine type's price is vCPUs x core + memory x RAM + GPUs x GPU + bundled
Local SSD (per GiB-month / 730), as Google bills accelerator-optimized machine types.
"""

from dataclasses import dataclass
from typing import Optional

from ai_clusters.core.catalog.models import BillingSkus, MachineType
from ai_clusters.tooling.catalog_refresh.listings import Sku

COMPUTE_SERVICE = "6F81-5844-456A"  # Compute Engine in the Cloud Billing Catalog
STORAGE_SERVICE = "95FF-2EF5-5EA1"  # Cloud Storage
HOURS_PER_MONTH = 730.0
GIB_PER_GB = 1.073741824
LOCAL_SSD = "SSD backed Local Storage"


@dataclass(frozen=True)
class SkuPrices:
    """Lookups over the SKUs read, in one currency (USD)."""

    skus: list[Sku]

    def unit_price(self, service: str, prefix: str, region: str, spot: bool = False) -> Optional[float]:
        """The price of the SKU whose description starts with `prefix` in `region` (None: none, or several that disagree).

        Per hour for compute, per GiB-hour for memory (a per-GB SKU is converted), per GiB-month for storage.
        """
        usage = "Preemptible" if spot else "OnDemand"
        found = {
            round(_per_gib(s), 9)
            for s in self.skus
            if s.service == service and s.usage_type == usage and s.description.startswith(prefix) and region in s.regions
        }
        return found.pop() if len(found) == 1 else None

    def machine(self, billing: BillingSkus, mt: MachineType, region: str, spot: bool) -> Optional[float]:
        """USD per hour of an accelerator-optimized machine type from its core, RAM, GPU and Local SSD SKUs."""
        spot_prefix = "Spot Preemptible " if spot else ""
        core = self.unit_price(COMPUTE_SERVICE, f"{spot_prefix}{billing.instance} Core", region, spot)
        ram = self.unit_price(COMPUTE_SERVICE, f"{spot_prefix}{billing.instance} Ram", region, spot)
        if core is None or ram is None:
            return None
        total = mt.vcpus * core + mt.memory_gb * ram
        if mt.gpus:
            gpu = self.gpu(billing.gpu, region, spot) if billing.gpu else None
            if gpu is None:
                return None
            total += mt.gpu_units * gpu
        if mt.local_ssd_gb:
            ssd = self.unit_price(COMPUTE_SERVICE, LOCAL_SSD + (" attached to Spot" if spot else ""), region, spot)
            if ssd is None:
                return None
            total += mt.local_ssd_gb * ssd / HOURS_PER_MONTH
        return total

    def gpu(self, prefix: str, region: str, spot: bool) -> Optional[float]:
        """USD per GPU-hour: '<GPU> running in …', or '<GPU> attached to Spot …' for Spot."""
        return self.unit_price(COMPUTE_SERVICE, f"{prefix} attached to Spot" if spot else f"{prefix} running in", region, spot)

    def cpu_machine(self, billing: BillingSkus, vcpus: int, memory_gb: float, region: str, spot: bool) -> Optional[float]:
        """USD per hour of a predefined machine type from its core and RAM SKUs (N1)."""
        spot_prefix = "Spot Preemptible " if spot else ""
        core = self.unit_price(COMPUTE_SERVICE, f"{spot_prefix}{billing.instance} Core", region, spot)
        ram = self.unit_price(COMPUTE_SERVICE, f"{spot_prefix}{billing.instance} Ram", region, spot)
        return None if core is None or ram is None else vcpus * core + memory_gb * ram


def _per_gib(sku: Sku) -> float:
    """Per-GB (decimal) memory SKUs in GiB, the unit of the others."""
    return sku.usd * GIB_PER_GB if sku.unit == "GBy.h" else sku.usd
