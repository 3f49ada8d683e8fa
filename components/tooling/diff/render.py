"""Render diffs: rich text for a terminal, and the pull-request comment (markdown) that always fits.

The comment starts with one summary line for the whole change, then a line per stack, then a
section per stack: data at risk, resources, cost, verdicts, the Mermaid topology of what changed and,
collapsed, every changed input. GitHub refuses a comment over 65,536 characters, so `comment` drops
detail from the largest sections first (inputs, then the topology and the resource list, then all but
the summary and the warnings) until it fits, and then says where the full report is.
"""

import difflib
import json
from collections import defaultdict
from typing import Any, Optional

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ai_clusters.rules.platform_rules import DATA_TYPES
from ai_clusters.tooling.diff.compare import (
    ResourceChange,
    StackDiff,
    accelerator_phrase,
    resource_name,
    signed_money,
    summary_line,
)
from ai_clusters.tooling.plan.mocks import Registration
from ai_clusters.tooling.plan.render import TOPOLOGY_TYPES, mermaid_id, money, short_type, summary

GITHUB_COMMENT_LIMIT = 65536
"""GitHub refuses an issue or pull-request comment longer than this (characters)."""
COMMENT_LIMIT = 65000
"""What `comment` aims for by default: room is left for the marker a sticky-comment action adds."""
FULL, NO_INPUTS, BRIEF, MINIMAL = 3, 2, 1, 0
"""Levels of detail of a stack's section, from everything down to the summary and the warnings."""
ROWS = 40
"""Rows of a resource table in the comment (the full report has them all)."""
TOPOLOGY_NODES = 40
CLASS_STYLES = {
    "added": "fill:#dafbe1,stroke:#1a7f37",
    "removed": "fill:#ffebe9,stroke:#cf222e",
    "replaced": "fill:#fff8c5,stroke:#9a6700",
    "updated": "fill:#ddf4ff,stroke:#0969da",
    "maybe": "fill:#fbefff,stroke:#8250df",
}


def _urn_type(urn: str) -> str:
    """The resource type a URN names (its last type segment)."""
    parts = urn.split("::")
    return parts[2].split("$")[-1] if len(parts) >= 4 else ""


def _cell(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, str) and "\n" in value:
        text = f"({value.count(chr(10)) + 1} lines)"
    text = text if len(text) <= width else text[: width - 1] + "…"
    return "`" + text.replace("`", "'").replace("|", "\\|") + "`" if text else "—"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def aggregate_line(diffs: list[StackDiff]) -> str:
    """One summary over every stack: accelerators and cost added up, verdicts counted."""
    planned = [d for d in diffs if d.planned]
    totals: dict[str, dict[str, int]] = {}
    for d in planned:
        for key, v in d.accelerators.items():
            totals.setdefault(key, {"delta": 0})["delta"] += v["delta"]
    totals = {k: v for k, v in totals.items() if v["delta"]}
    parts = [accelerator_phrase(totals), signed_money(sum(d.cost.get("delta_hourly_usd", 0.0) for d in planned)) + "/h"]
    new = sum(len(d.policy.get("new") or []) for d in planned)
    parts.append(f"{new} new violation{'' if new == 1 else 's'}")
    failing = sum(len(d.policy.get("failing") or []) for d in diffs)
    if failing:
        parts.append(f"{failing} mandatory failing")
    at_risk = sum(len(d.data_at_risk) for d in diffs)
    if at_risk:
        parts.append(f"⚠ {at_risk} data resource{'' if at_risk == 1 else 's'} removed or replaced")
    broken = [d.stack for d in diffs if not d.planned]
    if broken:
        parts.append(f"{len(broken)} stack{'' if len(broken) == 1 else 's'} could not be planned")
    return ", ".join(parts)


# -- markdown ----------------------------------------------------------------------------------------


def _change_mark(c: ResourceChange) -> tuple[str, str]:
    if c.replace:
        return "±", f"**replace** ({', '.join(c.because[:3])}{' …' if len(c.because) > 3 else ''})"
    if c.replace is None:
        why = ", ".join(c.because[:3]) or "no replacement rules for this type"
        return "~?", f"maybe replace ({why})"
    if c.stops:
        return "~", f"in place, VM stopped ({', '.join(c.stops[:3])})"
    return "~", "in place"


def _as_registration(doc: dict[str, Any]) -> Registration:
    return Registration(
        urn=doc["urn"], type=doc["type"], name=doc.get("name") or resource_name(doc["urn"]), parent=doc.get("parent"),
        custom=bool(doc.get("custom", True)), protect=bool(doc.get("protect")), retain_on_delete=bool(doc.get("retainOnDelete")),
        inputs=doc.get("inputs") or {},
    )


def _risk_lines(d: StackDiff, limit: Optional[int]) -> list[str]:
    if not d.data_at_risk:
        return []
    lost = any(r.outcome == "deleted" for r in d.data_at_risk)
    lines = ["> [!CAUTION]" if lost else "> [!WARNING]", f"> **Data at risk:** {len(d.data_at_risk)} stateful resource(s) removed or replaced"]
    shown = d.data_at_risk if limit is None else d.data_at_risk[:limit]
    for r in shown:
        lines.append(f"> - {r.kind} `{r.name}` {r.change}: {r.message}")
    if len(shown) < len(d.data_at_risk):
        lines.append(f"> - … and {len(d.data_at_risk) - len(shown)} more (full report)")
    return lines + [""]


def _error_lines(d: StackDiff) -> list[str]:
    lines = []
    for side in ("base", "head"):
        if d.errors.get(side):
            where = f"`{d.base}`" if side == "base" else "the work tree"
            lines += ["> [!WARNING]", f"> **The {side} ({where}) could not be planned:**", ">", "> ```text"]
            lines += [f"> {line}" for line in str(d.errors[side]).splitlines()[:20]]
            lines += ["> ```", ""]
    return lines


def _counts_line(d: StackDiff) -> str:
    replaced = len(d.replaced)
    return (
        f"**Resources:** {len(d.added)} added · {len(d.removed)} removed · {len(d.changed)} changed"
        f" ({replaced} replaced) · {d.resources.get('base', 0)} → {d.resources.get('head', 0)}"
    )


def _resource_rows(d: StackDiff, cap: Optional[int]) -> list[str]:
    rows: list[tuple[str, str, str, str, str]] = []
    for c in sorted(d.changed, key=lambda c: (c.replace is not True, c.replace is not None, c.urn)):
        mark, what = _change_mark(c)
        keys = ", ".join(list(c.keys)[:4]) + (" …" if len(c.keys) > 4 else "")
        rows.append((mark, c.name, short_type(c.type), what, _md(keys)))
    for sign, items in (("+", d.added), ("−", d.removed)):
        for r in items:
            doc = d.documents.get(r["urn"])
            detail = summary(_as_registration(doc)) if doc else ""
            rows.append((sign, resource_name(r["urn"]), short_type(r["type"]), "", _md(detail)))
    if not rows:
        return []
    shown = rows if cap is None else rows[:cap]
    out = ["| | resource | type | how | what |", "|---|---|---|---|---|"]
    out += [f"| {m} | `{n}` | {t} | {w} | {k} |" for m, n, t, w, k in shown]
    if len(shown) < len(rows):
        out.append(f"| | … {len(rows) - len(shown)} more | | | |")
    return out + [""]


def unpriced_label(part: Any) -> str:
    """One unpriced part as a reader wants it: the resource's name and why it has no price."""
    if isinstance(part, dict):
        return f"{str(part.get('urn', '')).rsplit('::', 1)[-1]}: {part.get('reason', '')}"
    return str(part).rsplit("::", 1)[-1]


def _cost_lines(d: StackDiff) -> list[str]:
    c = d.cost
    if not c:
        return []
    out = ["**Cost** (list prices, full scale)", "", "| cluster | base $/h | head $/h | Δ $/h | Δ $/month |", "|---|---:|---:|---:|---:|"]
    for name, e in c.get("by_cluster", {}).items():
        if e["delta_hourly_usd"] or e["delta_monthly_usd"] or any(isinstance(v, dict) and v.get("base") != v.get("head") for v in e.values()):
            out.append(f"| {name} | {money(e['base_hourly_usd'])} | {money(e['head_hourly_usd'])} | {signed_money(e['delta_hourly_usd'])} | {signed_money(e['delta_monthly_usd'])} |")
    out.append(
        f"| **total** | {money(c['base_hourly_usd'])} | {money(c['head_hourly_usd'])} | **{signed_money(c['delta_hourly_usd'])}** | **{signed_money(c['delta_monthly_usd'])}** |"
    )
    unpriced = c.get("unpriced") or {}
    added = [u for u in unpriced.get("head") or [] if u not in (unpriced.get("base") or [])]
    if unpriced.get("head"):
        out += ["", f"Unpriced in the head ({len(unpriced['head'])}, {len(added)} new): " + "; ".join(_md(unpriced_label(u)) for u in unpriced["head"][:6])]
        out += ["", "Totals leave the unpriced parts out: they are lower bounds."]
    budget = (c.get("budget_hourly_usd") or {}).get("head")
    if budget is not None:
        within = "within" if c["head_hourly_usd"] <= budget else "**over**"
        out += ["", f"Hourly budget: {money(budget)} ({within})."]
    return out + [""]


def _policy_lines(d: StackDiff, full: bool) -> list[str]:
    p = d.policy
    rows = [("new", v) for v in p.get("new") or []] + [("cleared", v) for v in p.get("cleared") or []]
    rows += [("reworded", v) for v in p.get("changed") or []]
    failing = p.get("failing") or []
    pack = (p.get("pack") or {}).get("head")
    out = [f"**Policy** ({f'`{pack}`' if pack else 'pack not run'}): {len(p.get('new') or [])} new, {len(p.get('cleared') or [])} cleared, {len(failing)} mandatory failing in the head", ""]
    if rows:
        out += ["| | level | policy | resource | message |", "|---|---|---|---|---|"]
        out += [f"| {what} | {v.get('level')} | `{v.get('policy')}` | `{resource_name(v.get('urn') or 'stack')}` | {_md(v.get('message'))} |" for what, v in rows]
        out.append("")
    persisting = [v for v in failing if v not in (p.get("new") or []) and not any(v.get("urn") == c.get("urn") and v.get("policy") == c.get("policy") for c in p.get("changed") or [])]
    if persisting and full:
        out += ["<details><summary>Mandatory verdicts already failing on the base</summary>", "", "| policy | resource | message |", "|---|---|---|"]
        out += [f"| `{v.get('policy')}` | `{resource_name(v.get('urn') or 'stack')}` | {_md(v.get('message'))} |" for v in persisting]
        out += ["", "</details>", ""]
    return out


def _topology_lines(d: StackDiff) -> list[str]:
    """The Mermaid picture of only what changed: changed resources inside their top-level components."""
    state: dict[str, str] = {}
    for r in d.added:
        state[r["urn"]] = "added"
    for r in d.removed:
        state[r["urn"]] = "removed"
    for c in d.changed:
        state[c.urn] = "replaced" if c.replace else ("maybe" if c.replace is None else "updated")
    shown = [u for u in state if short_type(_urn_type(u)) in TOPOLOGY_TYPES or _urn_type(u) in DATA_TYPES]
    if not shown:
        return []
    groups: dict[str, list[str]] = defaultdict(list)
    for urn in shown[:TOPOLOGY_NODES]:
        top = urn
        while d.parents.get(top):
            top = d.parents[top]
        groups[top].append(urn)
    sign = {"added": "+", "removed": "−", "replaced": "±", "updated": "~", "maybe": "~?"}
    out = ["**Topology of the change**", "", "```mermaid", "graph LR"]
    for top, members in groups.items():
        if top in members:
            out.append(f'  {mermaid_id(top)}["{sign[state[top]]} {short_type(_urn_type(top))}<br/>{resource_name(top)}"]:::{state[top]}')
            continue
        out.append(f'  subgraph {mermaid_id(top)}["{short_type(_urn_type(top))} {resource_name(top)}"]')
        for urn in members:
            out.append(f'    {mermaid_id(urn)}["{sign[state[urn]]} {short_type(_urn_type(urn))}<br/>{resource_name(urn)}"]:::{state[urn]}')
        out.append("  end")
    used = {state[u] for members in groups.values() for u in members}
    out += [f"  classDef {name} {style}" for name, style in CLASS_STYLES.items() if name in used]
    out.append("```")
    if len(shown) > TOPOLOGY_NODES:
        out.append(f"_… and {len(shown) - TOPOLOGY_NODES} more changed resources in the list above._")
    return out + [""]


def _input_lines(d: StackDiff, cap: Optional[int]) -> list[str]:
    if not d.changed:
        return []
    out = [f"<details><summary>Changed inputs ({len(d.changed)} resource{'' if len(d.changed) == 1 else 's'})</summary>", ""]
    for c in d.changed:
        _, what = _change_mark(c)
        out += [f"**{short_type(c.type)} `{c.name}`**: {what}" + (f" · {'; '.join(c.notes)}" if c.notes else ""), ""]
        out += ["| input | base | head |", "|---|---|---|"]
        keys = list(c.keys.items())
        shown = keys if cap is None else keys[:cap]
        blocks = []
        for key, change in shown:
            out.append(f"| `{_md(key)}` | {_cell(change.old)} | {_cell(change.new)} |")
            if isinstance(change.old, str) and isinstance(change.new, str) and ("\n" in change.old or "\n" in change.new):
                blocks.append((key, change))
        if len(shown) < len(keys):
            out.append(f"| … {len(keys) - len(shown)} more | | |")
        out.append("")
        for key, change in blocks:
            lines = list(difflib.unified_diff(change.old.splitlines(), change.new.splitlines(), "base", "head", lineterm="", n=1))[2:]
            if cap is not None and len(lines) > cap:
                lines = lines[:cap] + [f"… {len(lines) - cap} more lines"]
            out += [f"`{key}`:", "", "```diff", *(line.replace("```", "'''") for line in lines), "```", ""]
    return out + ["</details>", ""]


def _warning_lines(d: StackDiff) -> list[str]:
    """The plan warnings the change brings and clears (kept at every level of detail: they are short and easy to miss)."""
    rows = [("new", w) for w in d.warnings.get("new") or []] + [("cleared", w) for w in d.warnings.get("cleared") or []]
    if not rows:
        return []
    return ["**Plan warnings**", ""] + [f"- {'⚠ ' if what == 'new' else ''}{what}: {_md(w)}" for what, w in rows] + [""]


def stack_markdown(d: StackDiff, level: int = FULL, cap: Optional[int] = ROWS) -> str:
    """One stack's section, at a level of detail; `cap` limits table rows (None: all)."""
    out = [f"### `{d.stack}` · {summary_line(d)}", ""]
    out += _error_lines(d)
    out += _risk_lines(d, None if level > MINIMAL else 5)
    if not d.planned:
        return "\n".join(out)
    if d.unchanged:
        return "\n".join(out + ["No change to resources, inputs, cost or verdicts.", ""])
    out += [_counts_line(d), ""]
    out += _warning_lines(d)
    if level == MINIMAL:
        return "\n".join(out)
    if level >= NO_INPUTS:
        out += _resource_rows(d, cap)
    out += _cost_lines(d)
    out += _policy_lines(d, full=level >= NO_INPUTS)
    if level >= NO_INPUTS:
        out += _topology_lines(d)
    if level >= FULL:
        out += _input_lines(d, cap if cap is None else cap // 2)
    return "\n".join(out)


def overview(diffs: list[StackDiff], base: str, base_sha: Optional[str]) -> list[str]:
    where = f"`{base}`" + (f" (`{base_sha[:10]}`)" if base_sha else "")
    stacks = f"{len(diffs)} stack{'' if len(diffs) == 1 else 's'}"
    lines = [f"**ai-clusters diff** · {stacks} against {where}: {aggregate_line(diffs)}", ""]
    if not diffs:
        return lines + ["The change touches no stack (no stack file, nor the program, its code or the policy pack)."]
    lines += ["| stack | change |", "|---|---|"]
    lines += [f"| `{d.stack}` | {_md(summary_line(d))} |" for d in diffs]
    return lines + [""]


def full_report(diffs: list[StackDiff], base: str, base_sha: Optional[str]) -> str:
    """Everything, uncut (for a file or a workflow artifact)."""
    parts = overview(diffs, base, base_sha) + [stack_markdown(d, FULL, None) for d in diffs]
    return "\n".join(parts).rstrip() + "\n"


def comment(
    diffs: list[StackDiff],
    base: str,
    base_sha: Optional[str],
    *,
    limit: int = COMMENT_LIMIT,
    details_url: Optional[str] = None,
) -> str:
    """The pull-request comment, at most `limit` characters: the whole report when it fits; else long
    tables are cut and the largest sections lose detail first, and the comment says where the rest is."""
    whole = full_report(diffs, base, base_sha)
    if len(whole) <= limit:
        return whole
    head = overview(diffs, base, base_sha)
    levels = {d.stack: FULL for d in diffs}
    by_stack = {d.stack: d for d in diffs}

    def section(stack: str) -> str:
        return stack_markdown(by_stack[stack], levels[stack], ROWS)

    sections = {d.stack: section(d.stack) for d in diffs}
    where = f" The full report: {details_url}" if details_url else " Run `ai-clusters diff` for the full report."
    note = f"> [!NOTE]\n> Shortened to fit GitHub's {GITHUB_COMMENT_LIMIT:,}-character limit.{where}\n"

    def assemble(order: list[str]) -> str:
        left_out = len(diffs) - len(order)
        tail = [f"_{left_out} more stack section(s) left out: see the table above and the full report._"] if left_out else []
        return "\n".join(head[:2] + [note] + head[2:] + [sections[s] for s in order] + tail).rstrip() + "\n"

    order = [d.stack for d in diffs]
    text = assemble(order)
    while len(text) > limit:
        candidates = [s for s in order if levels[s] > MINIMAL]
        if not candidates:
            break
        biggest = max(candidates, key=lambda s: len(sections[s]))
        levels[biggest] -= 1
        sections[biggest] = section(biggest)
        text = assemble(order)
    while len(text) > limit and order:
        order = order[:-1]
        text = assemble(order)
    if len(text) > limit:  # the overview alone is too long: cut it at a line
        cut = text[: limit - 200].rsplit("\n", 1)[0]
        text = cut + f"\n\n_… cut at {limit:,} characters.{where}_\n"
    return text


# -- text ----------------------------------------------------------------------------------------------


def text(diffs: list[StackDiff], base: str, base_sha: Optional[str], console: Console) -> None:
    """Print the diffs for a terminal."""
    console.print(overview(diffs, base, base_sha)[0].replace("**", ""), highlight=False)
    for d in diffs:
        console.print(f"\n[bold]{d.stack}[/]: {summary_line(d)}", highlight=False)
        for side in ("base", "head"):
            if d.errors.get(side):
                console.print(f"[red]{side} could not be planned:[/] {d.errors[side]}", highlight=False)
        for r in d.data_at_risk:
            style = "yellow" if r.outcome == "blocked" else "bold red"
            console.print(f"[{style}]data at risk:[/] {r.kind} {r.name} {r.change}: {r.message}", highlight=False)
        if not d.planned or d.unchanged:
            continue
        table = Table(title=_counts_line(d).replace("**", ""), show_lines=False)
        for col in ("", "resource", "type", "how", "what"):
            table.add_column(col)
        for c in d.changed:
            mark, what = _change_mark(c)
            keys = "; ".join(f"{k}: {_plain_cell(v.old)} → {_plain_cell(v.new)}" for k, v in list(c.keys.items())[:6])
            table.add_row(mark, c.name, short_type(c.type), what.replace("**", ""), keys)
        for sign, items in (("+", d.added), ("−", d.removed)):
            for r in items:
                table.add_row(sign, resource_name(r["urn"]), short_type(r["type"]), "", "")
        if d.added or d.removed or d.changed:
            console.print(table)
        cost = Table(title="Cost (list prices, full scale)")
        for col in ("cluster", "base $/h", "head $/h", "Δ $/h", "Δ $/month"):
            cost.add_column(col, justify="left" if col == "cluster" else "right")
        for name, e in d.cost.get("by_cluster", {}).items():
            if e["delta_hourly_usd"] or e["delta_monthly_usd"]:
                cost.add_row(
                    name, money(e["base_hourly_usd"]), money(e["head_hourly_usd"]), signed_money(e["delta_hourly_usd"]), signed_money(e["delta_monthly_usd"])
                )
        c = d.cost
        cost.add_row("total", money(c["base_hourly_usd"]), money(c["head_hourly_usd"]), signed_money(c["delta_hourly_usd"]), signed_money(c["delta_monthly_usd"]))
        console.print(cost)
        for what in ("new", "cleared", "changed"):
            for v in d.policy.get(what) or []:
                style = "red" if v.get("level") == "mandatory" else "yellow"
                console.print(f"[{style}]{what} {v.get('level')}[/] {v.get('policy')} {resource_name(v.get('urn') or 'stack')}: {v.get('message')}", highlight=False)
        for what in ("new", "cleared"):
            for w in d.warnings.get(what) or []:
                console.print(f"[{'yellow' if what == 'new' else 'green'}]{what} plan warning:[/] {escape(w)}", highlight=False)


def _plain_cell(value: Any) -> str:
    return _cell(value, 40).strip("`")


__all__ = ["COMMENT_LIMIT", "GITHUB_COMMENT_LIMIT", "aggregate_line", "comment", "full_report", "overview", "stack_markdown", "text"]
