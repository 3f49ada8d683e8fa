"""`ai-clusters catalog refresh`: ask Google's APIs what the catalog describes, and say what changed.

Layers: `listings` (what the APIs answered, pure data), `google` (reading them with Google's clients
on the pre-flight's connection: endpoints, credentials, retries, one-line problems), `prices` (list
prices from Billing SKUs), `compare` (the differences, pure), `write` (`--write`: zones and shapes
into catalog.yaml as text edits, verified), `render` (text, markdown, JSON).

Exit codes: 0 no difference, 1 differences found, 3 something could not be asked.
"""

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ai_clusters.core.catalog import Catalog, catalog
from ai_clusters.tooling.catalog_refresh.compare import WRITABLE, Difference, compare
from ai_clusters.tooling.catalog_refresh.google import REFRESH_APIS, read_listings
from ai_clusters.tooling.catalog_refresh.listings import Listings
from ai_clusters.tooling.catalog_refresh.write import WriteError, planned_edits, rewrite
from ai_clusters.core.endpoints import Connection

__all__ = ["CATALOG_FILE", "Difference", "REFRESH_APIS", "RefreshReport", "WriteError", "refresh"]

CATALOG_FILE = Path(__file__).resolve().parents[2] / "core" / "catalog" / "data" / "catalog.yaml"


@dataclass
class RefreshReport:
    """The differences found on one day in one project, what could not be asked, and what was written."""

    project: str
    read_on: datetime.date
    differences: list[Difference] = field(default_factory=list)
    could_not_ask: list[str] = field(default_factory=list)
    written: Optional[Path] = None
    edits: int = 0

    @property
    def exit_code(self) -> int:
        if self.could_not_ask:
            return 3
        return 1 if self.differences else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "read_on": self.read_on.isoformat(),
            "project": self.project,
            "differences": [d.to_json() for d in self.differences],
            "could_not_ask": self.could_not_ask,
            "written": str(self.written) if self.written else None,
        }


def refresh(
    project: str,
    connection: Connection,
    *,
    cat: Optional[Catalog] = None,
    prices: bool = True,
    write: Optional[Path] = None,
    today: Optional[datetime.date] = None,
    listings: Optional[Listings] = None,
) -> RefreshReport:
    """Compare the catalog with what Google lists; with `write`, update that catalog file's zones and shapes.

    Nothing is written when something could not be asked (a partial answer would remove zones that are
    still there). WriteError when the edit cannot be made exactly.
    """
    cat = cat or catalog()
    day = today or datetime.date.today()
    listings = listings or read_listings(project, connection, cat, prices=prices)
    report = RefreshReport(project=project, read_on=day, differences=compare(cat, listings), could_not_ask=list(listings.could_not_ask))
    if write is not None and not report.could_not_ask and any(d.kind in WRITABLE for d in report.differences):
        edits = planned_edits(cat, listings, day)
        if edits:
            write.write_text(rewrite(write.read_text(encoding="utf-8"), edits), encoding="utf-8")
            report.written, report.edits = write, len(edits)
    return report
