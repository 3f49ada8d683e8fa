"""Render a pre-flight: a rich table for a terminal, markdown for a pull request, JSON for scripts.

A reason that keeps several checks from being made (no credentials, a permission missing on every
request) is said once, under the table, and the rows point to it; JSON keeps every message whole.
"""

import json
from collections import Counter

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ai_clusters.tooling.preflight.model import Check, PreflightReport, Status

_STYLE = {Status.OK: "green", Status.FAIL: "bold red", Status.UNKNOWN: "yellow"}
_MARK = {Status.OK: "✅", Status.FAIL: "❌", Status.UNKNOWN: "❔"}


def _num(value) -> str:
    if value is None:
        return "—"
    return f"{value:g}" if isinstance(value, float) else str(value)


def verdict(report: PreflightReport) -> str:
    code = report.exit_code
    unchecked = f"{len(report.notes)} not checked (see below)" if report.notes else ""
    if not report.checks:
        return f"nothing checked: {unchecked or 'the stack asks for no accelerators'}"
    if code == 0:
        return f"everything checked fits; {unchecked}" if unchecked else "everything fits"
    if code == 1:
        return "Google Cloud would refuse part of this stack"
    return "nothing failed, but some checks could not be made"


def tally(report: PreflightReport) -> str:
    return f"{report.count(Status.OK)} ok, {report.count(Status.FAIL)} fail, {report.count(Status.UNKNOWN)} unknown"


def repeated(messages: list[str]) -> list[str]:
    """The messages that occur more than once, in order of first appearance (said once, under a table)."""
    counts = Counter(messages)
    return [m for m in dict.fromkeys(messages) if counts[m] > 1]


def shared_reasons(report: PreflightReport) -> list[str]:
    """The reasons several checks could not be made for, in order of first appearance."""
    return repeated([c.message for c in report.checks if c.status == Status.UNKNOWN])


def _message(check: Check, shared: list[str]) -> str:
    if check.status == Status.UNKNOWN and check.message in shared:
        return f"could not ask: see [{shared.index(check.message) + 1}] below"
    return check.message


def text(report: PreflightReport, console: Console) -> None:
    shared = shared_reasons(report)
    table = Table(title=f"ai-clusters preflight · stack {report.stack} · project {report.project}", show_lines=False)
    for col, justify in (("cluster", "left"), ("check", "left"), ("where", "left"), ("status", "left"), ("needed", "right"), ("available", "right"), ("message", "left")):
        table.add_column(col, justify=justify, overflow="fold")
    for c in report.checks:
        j = c.to_json()
        table.add_row(c.cluster, c.kind.value, c.where, Text(c.status.value, style=_STYLE[c.status]), _num(j["needed"]), _num(j["available"]), _message(c, shared))
    if report.checks:
        console.print(table)
    for i, reason in enumerate(shared, 1):
        console.print(Text(f"[{i}] {reason}", style=_STYLE[Status.UNKNOWN]))
    style = _STYLE[Status.OK if report.exit_code == 0 else Status.FAIL if report.exit_code == 1 else Status.UNKNOWN]
    console.print(Text(f"{verdict(report)}: {tally(report)} · {report.requests} requests in {report.seconds:.2f}s", style=style))
    for note in report.notes:
        console.print(f"[dim]note: {note}[/]", highlight=False)


def markdown(report: PreflightReport) -> str:
    shared = shared_reasons(report)
    lines = [
        f"## ai-clusters preflight · stack `{report.stack}` · project `{report.project}`",
        "",
        f"**{_MARK[Status.OK] if report.exit_code == 0 else _MARK[Status.FAIL] if report.exit_code == 1 else _MARK[Status.UNKNOWN]} {verdict(report)}** · {tally(report)}",
        "",
    ]
    if report.checks:
        lines += ["| cluster | check | where | status | needed | available | message |", "|---|---|---|---|---:|---:|---|"]
    for c in report.checks:
        j = c.to_json()
        message = _message(c, shared).replace("|", "/")
        lines.append(f"| {c.cluster} | {c.kind.value} | {c.where} | {_MARK[c.status]} {c.status.value} | {_num(j['needed'])} | {_num(j['available'])} | {message} |")
    if shared:
        lines += ["", *[f"[{i}] {reason}  " for i, reason in enumerate(shared, 1)]]
    if report.notes:
        lines += ["", *[f"- {n}" for n in report.notes]]
    lines.append("")
    return "\n".join(lines)


def as_json(report: PreflightReport) -> str:
    return json.dumps(report.to_json(), indent=2)
