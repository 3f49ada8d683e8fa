"""Render `ai-clusters where`: a table of options (zones of one region that answer alike share a row) ending
with the stack edit that moves the cluster to the best option, or JSON for scripts."""

import json

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ai_clusters.tooling.preflight.render import repeated
from ai_clusters.tooling.preflight.where import Option, WhereReport


def _price(o: Option) -> str:
    return "no list price" if o.hourly_usd is None else f"${o.hourly_usd:,.2f}"


def shared_reasons(report: WhereReport) -> list[str]:
    """Reasons an answer could not be had that several options share (no credentials …): said once, under the table."""
    return repeated([r for o in report.options for r in dict.fromkeys(o.reasons) if r.startswith("unknown:")])


def _why(o: Option, shared: list[str]) -> str:
    lines = [f"unknown: see [{shared.index(r) + 1}] below" if r in shared else r for r in dict.fromkeys(o.reasons)]
    return "\n".join(lines) or "—"


def rows(report: WhereReport) -> list[tuple[list[str], Option]]:
    """Options in rank order, the zones of one region that answer alike (fit, price, reasons) on one row."""
    groups: dict[tuple, tuple[list[str], Option]] = {}
    for o in report.options:
        key = (o.region, o.provisioning, o.fits, o.unknown, o.hourly_usd, tuple(o.reasons))
        groups.setdefault(key, ([], o))[0].append(o.zone)
    return list(groups.values())


def _zones(zones: list[str]) -> str:
    first, *rest = zones
    return ", ".join([first, *[f"-{z.rsplit('-', 1)[1]}" for z in rest]])


def _needed(report: WhereReport) -> str:
    n = report.needed
    if "accelerator_type" in n:
        return f"{n['slices']} x {n['accelerator_type']} ({n['accelerators']} {n['unit']}, {n['path']})"
    nodes = f"{n['nodes']} x " if n.get("nodes") else ""
    return f"{nodes}{n['machine_type']}, {n['accelerators']} {n['accelerator']} {n['unit']} ({n['path']})"


def text(report: WhereReport, console: Console) -> None:
    table = Table(title=f"ai-clusters where · stack {report.stack} · cluster {report.cluster} · {_needed(report)}")
    for col, justify in (("#", "right"), ("zones", "left"), ("provisioning", "left"), ("fits", "left"), ("$/hour", "right"), ("why", "left")):
        table.add_column(col, justify=justify, overflow="fold")
    shared = shared_reasons(report)
    for i, (zones, o) in enumerate(rows(report), 1):
        fits = Text("yes", style="green") if o.fits else Text("unknown", style="yellow") if o.unknown else Text("no", style="red")
        here = " (now)" if (o.zone, o.provisioning) == report.current else ""
        table.add_row(str(i), _zones(zones) + here, o.provisioning.value, fits, _price(o), _why(o, shared))
    console.print(table)
    for i, reason in enumerate(shared, 1):
        console.print(Text(f"[{i}] {reason.removeprefix('unknown: ')}", style="yellow"))
    fitting = sum(1 for o in report.options if o.fits)
    console.print(f"{fitting} of {len(report.options)} options fit · {report.requests} requests in {report.seconds:.2f}s", highlight=False)
    for note in report.notes:
        console.print(f"[dim]note: {note}[/]", highlight=False)
    best = report.best
    if best is None and report.exit_code == 1:
        console.print(Text("nothing fits now: see why above", style="bold red"))
    elif best is None:
        console.print(Text("nothing confirmed to fit: some answers could not be had (see why above)", style="yellow"))
    elif not report.edit:
        console.print(Text(f"{report.cluster} is already at the best option: {best.zone}, {best.provisioning.value}, {_price(best)}/h", style="green"))
    else:
        console.print(Text(f"best: {best.zone}, {best.provisioning.value}, {_price(best)}/h. Stack edit ({report.stack_file}):", style="green"))
        console.print("\n".join(report.edit), highlight=False, markup=False)


def as_json(report: WhereReport) -> str:
    return json.dumps(report.to_json(), indent=2)
