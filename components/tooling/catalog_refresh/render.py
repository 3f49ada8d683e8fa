"""A refresh report as a terminal table, a pull-request body (markdown) or JSON."""

import json
from collections import defaultdict
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ai_clusters.tooling.catalog_refresh import RefreshReport
from ai_clusters.tooling.catalog_refresh.compare import WRITABLE, Difference

KIND_ORDER = (
    "machine-type-added", "machine-type-gone", "accelerator-added", "shape", "zone-added", "zone-gone",
    "tpu-type-added", "tpu-type-gone", "runtime-added", "runtime-gone", "price", "price-added",
)


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)


def rows(report: RefreshReport) -> list[tuple[str, str, str, str, str, str]]:
    """One row per difference, zone changes of one family and zone merged over its machine types."""
    merged: dict[tuple[str, str, str], list[Difference]] = defaultdict(list)
    out: list[tuple[str, str, str, str, str, str]] = []
    order = {k: i for i, k in enumerate(KIND_ORDER)}
    for d in sorted(report.differences, key=lambda d: (order.get(d.kind, 99), d.family or "", d.zone or "", d.machine_type or "")):
        if d.kind in ("zone-added", "zone-gone"):
            merged[(d.kind, d.family or "", d.zone or "")].append(d)
            continue
        out.append((d.kind, d.family or "", d.machine_type or "", d.zone or "", _cell(d.catalog), _cell(d.google)))
    for (kind, family, zone), diffs in merged.items():
        names = ", ".join(d.machine_type for d in diffs if d.machine_type) or "(generation)"
        out.append((kind, family, names, zone, _cell(diffs[0].catalog), _cell(diffs[0].google)))
    return sorted(out, key=lambda r: (order.get(r[0], 99), r[1], r[3], r[2]))


def _summary(report: RefreshReport) -> str:
    n = len(report.differences)
    writable = sum(1 for d in report.differences if d.kind in WRITABLE)
    if report.could_not_ask and not n:
        # an unasked part is no agreement: never "no difference" when part of Google was not asked
        return (
            f"not compared: {len(report.could_not_ask)} part(s) of Google could not be asked in project {report.project} "
            f"({report.read_on}); the catalog is neither confirmed nor contradicted there"
        )
    head = f"{n} difference(s) between the catalog and Google in project {report.project} ({report.read_on})"
    if report.could_not_ask:
        head += f", incomplete: {len(report.could_not_ask)} part(s) could not be asked"
    if report.written:
        head += f"; wrote {report.edits} edit(s) of zones and shapes to {report.written}"
    elif writable:
        head += f"; {writable} of them (zones, shapes) can be written with --write"
    return head


def text(report: RefreshReport, console: Console) -> None:
    table = Table(title=_summary(report))
    for col in ("kind", "family", "machine / accelerator / TPU type", "zone / region", "catalog", "google"):
        table.add_column(col, overflow="fold")
    for row in rows(report):
        table.add_row(*row)
    if report.differences:
        console.print(table)
    elif report.could_not_ask:
        console.print(f"[yellow]{escape(_summary(report))}[/]")
    else:
        console.print(f"[green]no difference[/] between the catalog and Google in project {report.project} ({report.read_on})")


def markdown(report: RefreshReport) -> str:
    lines = [f"## ai-clusters catalog refresh · project `{report.project}` · {report.read_on}", "", f"**{_summary(report)}**", ""]
    if report.could_not_ask:
        lines += ["Could not ask:", ""] + [f"- {line}" for line in report.could_not_ask] + [""]
    if report.differences:
        lines += ["| kind | family | machine / accelerator / TPU type | zone / region | catalog | google |", "|---|---|---|---|---|---|"]
        lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows(report)]
        lines += [
            "",
            "Zones and shapes are written by `--write` (with a dated source naming the APIs and the project); machine types, "
            "accelerators, TPU types, runtimes and prices need a person: add them with their sources.",
        ]
    return "\n".join(lines) + "\n"


def as_json(report: RefreshReport) -> str:
    return json.dumps(report.to_json(), indent=2)
