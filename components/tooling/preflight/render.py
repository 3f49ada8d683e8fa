"""Render a pre-flight: a rich table for a terminal, markdown for a pull request, JSON for scripts."""

import json

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ai_clusters.tooling.preflight.model import PreflightReport, Status

_STYLE = {Status.OK: "green", Status.FAIL: "bold red", Status.UNKNOWN: "yellow"}
_MARK = {Status.OK: "✅", Status.FAIL: "❌", Status.UNKNOWN: "❔"}


def _num(value) -> str:
    if value is None:
        return "—"
    return f"{value:g}" if isinstance(value, float) else str(value)


def verdict(report: PreflightReport) -> str:
    code = report.exit_code
    if code == 0:
        return "everything fits"
    if code == 1:
        return "Google Cloud would refuse part of this stack"
    return "nothing failed, but some checks could not be made"


def tally(report: PreflightReport) -> str:
    return f"{report.count(Status.OK)} ok, {report.count(Status.FAIL)} fail, {report.count(Status.UNKNOWN)} unknown"


def text(report: PreflightReport, console: Console) -> None:
    table = Table(title=f"ai-clusters preflight · stack {report.stack} · project {report.project}", show_lines=False)
    for col, justify in (("cluster", "left"), ("check", "left"), ("where", "left"), ("status", "left"), ("needed", "right"), ("available", "right"), ("message", "left")):
        table.add_column(col, justify=justify, overflow="fold")
    for c in report.checks:
        table.add_row(c.cluster, c.kind.value, c.where, Text(c.status.value, style=_STYLE[c.status]), _num(c.to_json()["needed"]), _num(c.to_json()["available"]), c.message)
    console.print(table)
    style = _STYLE[Status.OK if report.exit_code == 0 else Status.FAIL if report.exit_code == 1 else Status.UNKNOWN]
    console.print(Text(f"{verdict(report)}: {tally(report)} · {report.requests} requests in {report.seconds:.2f}s", style=style))
    for note in report.notes:
        console.print(f"[dim]note: {note}[/]", highlight=False)


def markdown(report: PreflightReport) -> str:
    lines = [
        f"## ai-clusters preflight · stack `{report.stack}` · project `{report.project}`",
        "",
        f"**{_MARK[Status.OK] if report.exit_code == 0 else _MARK[Status.FAIL] if report.exit_code == 1 else _MARK[Status.UNKNOWN]} {verdict(report)}** · {tally(report)}",
        "",
        "| cluster | check | where | status | needed | available | message |",
        "|---|---|---|---|---:|---:|---|",
    ]
    for c in report.checks:
        j = c.to_json()
        lines.append(
            f"| {c.cluster} | {c.kind.value} | {c.where} | {_MARK[c.status]} {c.status.value} | {_num(j['needed'])} | {_num(j['available'])} | {c.message.replace('|', '/')} |"
        )
    if report.notes:
        lines += ["", *[f"- {n}" for n in report.notes]]
    lines.append("")
    return "\n".join(lines)


def as_json(report: PreflightReport) -> str:
    return json.dumps(report.to_json(), indent=2)
