"""The regions and zones the catalog knows: where some accelerator is offered.

A region or zone typed by a user (`--region`, `--zone`, `gcp:region`) is checked here, so a typo is an
error with the nearest names instead of an empty answer or another region's prices.
"""

import difflib
from typing import Optional

from ai_clusters.core.catalog import Catalog, CatalogError, catalog, one_of, region_of


def known_zones(cat: Optional[Catalog] = None) -> list[str]:
    """Every zone where the catalog offers a GPU family or a TPU generation, sorted."""
    cat = cat or catalog()
    zones = {z for f in cat.families.values() for z in f.all_zones} | {z for g in cat.tpu_generations.values() for z in g.zones}
    return sorted(zones)


def known_regions(cat: Optional[Catalog] = None) -> list[str]:
    """Every region with a zone in the catalog, sorted."""
    return sorted({region_of(z) for z in known_zones(cat)})


def zones_of(region: str, cat: Optional[Catalog] = None) -> list[str]:
    """The catalog's zones of one region, in order."""
    return [z for z in known_zones(cat) if region_of(z) == region]


def _unknown(kind: str, name: str, known: list[str], listed: list[str], where: str) -> CatalogError:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return CatalogError(f"{name!r} is not a {kind} where the catalog offers accelerators; {hint}{where}: {one_of(listed, 40)}")


def check_region(region: str, cat: Optional[Catalog] = None) -> str:
    """`region` when the catalog knows it; else CatalogError naming the nearest regions."""
    known = known_regions(cat)
    if region not in known:
        raise _unknown("region", region, known, known, "regions")
    return region


def check_zone(zone: str, cat: Optional[Catalog] = None) -> str:
    """`zone` when the catalog knows it; else CatalogError naming the nearest zones."""
    known = known_zones(cat)
    if zone not in known:
        region = region_of(zone)
        nearby = zones_of(region, cat)
        if nearby:
            raise _unknown("zone", zone, known, nearby, f"zones of {region}")
        raise _unknown("zone", zone, known, known_regions(cat), "zones are in the regions")
    return zone


__all__ = ["check_region", "check_zone", "known_regions", "known_zones", "zones_of"]
