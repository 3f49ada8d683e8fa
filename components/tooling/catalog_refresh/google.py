"""Read what Google lists, through Google's own clients, with the pre-flight's endpoints, credentials and retries.

Compute Engine `machineTypes.aggregatedList` (only the name stems the catalog knows, as a filter) and
`acceleratorTypes.aggregatedList`; Cloud TPU `locations.list`, then `acceleratorTypes.list` and
`runtimeVersions.list` per zone (concurrently); the Cloud Billing Catalog's SKUs of Compute Engine and
Cloud Storage. Every page is read. A request that gets no answer becomes one line in
`Listings.could_not_ask`, never an exception.
"""

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Optional

from ai_clusters.core.catalog import Catalog
from ai_clusters.tooling.catalog_refresh.compare import known_stems
from ai_clusters.tooling.catalog_refresh.listings import Listings, MachineTypeRow, Sku
from ai_clusters.tooling.catalog_refresh.prices import COMPUTE_SERVICE, STORAGE_SERVICE
from ai_clusters.tooling.preflight.clients import GoogleCloud, Unanswered, load_credentials
from ai_clusters.core.endpoints import Api, Connection

REFRESH_APIS = (Api.COMPUTE, Api.TPU, Api.BILLING)
_PAGE = 500


class CatalogApis(GoogleCloud):
    """The listing and billing calls of a catalog refresh, on the pre-flight's client plumbing."""

    def _billing(self):
        from google.cloud import billing_v1

        return self._client("CloudCatalogClient", Api.BILLING, billing_v1.CloudCatalogClient)

    def machine_types(self, stems: Iterable[str]) -> tuple[dict[str, dict[str, MachineTypeRow]], set[str], list[str]]:
        """name -> zone -> row, the zones answered, and the zones that could not be reached."""
        from google.cloud import compute_v1

        client = self._compute("MachineTypesClient")
        request = compute_v1.AggregatedListMachineTypesRequest(
            project=self.project,
            filter=f'name eq "({"|".join(sorted(stems))})-.*"',
            max_results=_PAGE,
            return_partial_success=True,
        )
        pages = self._call(Api.COMPUTE, "compute.machineTypes.list", lambda **kw: list(client.aggregated_list(request=request, **kw)))
        rows: dict[str, dict[str, MachineTypeRow]] = {}
        answered, unreachable = _scopes(pages, "machine_types")
        for scope, scoped in pages:
            zone = scope.removeprefix("zones/")
            for mt in scoped.machine_types:
                acc = mt.accelerators[0] if mt.accelerators else None
                rows.setdefault(mt.name, {})[zone] = MachineTypeRow(
                    name=mt.name,
                    zone=zone,
                    vcpus=mt.guest_cpus,
                    memory_gb=round(mt.memory_mb / 1024, 2),
                    gpus=acc.guest_accelerator_count if acc else 0,
                    gpu=acc.guest_accelerator_type if acc else None,
                )
        return rows, answered, unreachable

    def accelerator_types(self) -> tuple[dict[str, set[str]], list[str]]:
        from google.cloud import compute_v1

        client = self._compute("AcceleratorTypesClient")
        request = compute_v1.AggregatedListAcceleratorTypesRequest(project=self.project, max_results=_PAGE, return_partial_success=True)
        pages = self._call(Api.COMPUTE, "compute.acceleratorTypes.list", lambda **kw: list(client.aggregated_list(request=request, **kw)))
        zones: dict[str, set[str]] = {}
        for scope, scoped in pages:
            for acc in scoped.accelerator_types:
                zones.setdefault(acc.name, set()).add(scope.removeprefix("zones/"))
        return zones, _scopes(pages, "accelerator_types")[1]

    def tpu_locations(self) -> list[str]:
        """The zones of the Cloud TPU API (its locations, every page)."""
        client = self._tpu()
        zones: list[str] = []
        token = ""
        while True:
            page = self._call(Api.TPU, "tpu.locations.list", client.list_locations, request={"name": f"projects/{self.project}", "page_token": token})
            zones += [loc.location_id for loc in page.locations]
            token = page.next_page_token
            if not token:
                return zones

    def skus(self, service: str) -> list[Sku]:
        client = self._billing()
        pager = self._call(
            Api.BILLING, "cloudbilling.skus.list", lambda **kw: list(client.list_skus(request={"parent": f"services/{service}", "currency_code": "USD"}, **kw))
        )
        out = []
        for sku in pager:
            for info in sku.pricing_info[:1]:  # the current price
                expr = info.pricing_expression
                rates = [r for r in expr.tiered_rates if r.unit_price.units or r.unit_price.nanos]
                if not rates:
                    continue
                price = rates[0].unit_price
                out.append(
                    Sku(
                        service=service,
                        sku_id=sku.sku_id,
                        description=sku.description,
                        resource_group=sku.category.resource_group,
                        usage_type=sku.category.usage_type,
                        regions=tuple(sku.service_regions),
                        unit=expr.usage_unit,
                        usd=price.units + price.nanos / 1e9,
                    )
                )
        return out


def _scopes(pages: list, field: str) -> tuple[set[str], list[str]]:
    """Zones an aggregated list answered for, and those it reports as unreachable."""
    answered, unreachable = set(), []
    for scope, scoped in pages:
        if not scope.startswith("zones/"):
            continue
        zone = scope.removeprefix("zones/")
        warning = getattr(scoped, "warning", None)
        if warning is not None and warning.code == "UNREACHABLE":
            unreachable.append(zone)
        else:
            answered.add(zone)
    return answered, unreachable


def _ask(listings: Listings, fn: Callable[[], object]) -> Optional[object]:
    try:
        return fn()
    except Unanswered as exc:
        if exc.problem.line not in listings.could_not_ask:
            listings.could_not_ask.append(exc.problem.line)
        return None


def read_listings(project: str, connection: Connection, cat: Catalog, *, prices: bool = True, workers: int = 16) -> Listings:
    """Ask Google everything a refresh compares; what could not be asked is in `could_not_ask`."""
    listings = Listings(project=project)
    try:
        credentials = load_credentials(connection)
    except Unanswered as exc:
        listings.could_not_ask.append(exc.problem.line)
        return listings
    apis = CatalogApis(project, connection, credentials, pool_size=workers)
    machine = _ask(listings, lambda: apis.machine_types(known_stems(cat)))
    if machine is not None:
        listings.machine_types, listings.compute_zones, unreachable = machine
        listings.could_not_ask += [f"the Compute Engine API could not reach zone {z}: its machine types were not compared" for z in unreachable]
    accelerators = _ask(listings, apis.accelerator_types)
    if accelerators is not None:
        listings.accelerator_types, _ = accelerators
    zones = _ask(listings, apis.tpu_locations)
    if zones:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            types = list(pool.map(lambda z: _ask(listings, lambda: apis.tpu_accelerator_types(z)), zones))
            runtimes = list(pool.map(lambda z: _ask(listings, lambda: apis.tpu_runtime_versions(z)), zones))
        for zone, t, r in zip(zones, types, runtimes):
            if t is not None:
                listings.tpu_types[zone] = {a.type_ for a in t}
            if r is not None:
                listings.tpu_runtimes[zone] = {v.version for v in r}
    if prices:
        skus = [_ask(listings, lambda s=s: apis.skus(s)) for s in (COMPUTE_SERVICE, STORAGE_SERVICE)]
        if all(s is not None for s in skus):
            listings.skus = [sku for batch in skus for sku in batch]
    return listings
