"""Render a plan: rich text for a terminal, markdown (with a Mermaid topology) for a pull request."""

import hashlib
from collections import Counter, defaultdict
from typing import Any, Optional

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from ai_clusters.core import labels as contract
from ai_clusters.core.accelerators import TPU_QUEUED_DYNAMIC, accelerator_uses, queued_request
from ai_clusters.core.cost import Unpriced, at_least
from ai_clusters.tooling.plan import Plan, json_safe
from ai_clusters.tooling.plan.mocks import Registration
from ai_clusters.core.naming import last_segment

KEY_INPUTS = (
    "machineType",
    "acceleratorType",
    "zone",
    "location",
    "region",
    "mtu",
    "ipCidrRange",
    "tier",
    "capacityGib",
    "targetSize",
    "nodeCount",
    "runtimeVersion",
    "type",
)

TOPOLOGY_TYPES = (
    "compute.Network",
    "compute.Instance",
    "compute.InstanceGroupManager",
    "compute.InstanceTemplate",
    "container.Cluster",
    "container.NodePool",
    "tpu.V2Vm",
    "tpu.V2QueuedResource",
    "vertex.AiPersistentResource",
    "vertex.AiEndpoint",
    "vertex.AiDeploymentResourcePool",
    "storage.Bucket",
    "filestore.Instance",
    "lustre.Instance",
    "parallelstore.Instance",
    "compute.Disk",
)
"""The resource kinds a topology shows (short types): networks, compute, accelerators, storage."""


def short_type(type_token: str) -> str:
    """gcp:compute/instance:Instance -> compute.Instance; ai-clusters:index:X -> X."""
    pkg, mod, name = (type_token.split(":") + ["", ""])[:3]
    if pkg == "ai-clusters":
        return name
    return f"{mod.split('/')[0]}.{name}" if mod else name


def summary(r: Registration) -> str:
    """The inputs that matter for a reviewer, on one line."""
    x = r.inputs
    parts = []
    for key in KEY_INPUTS:
        value = x.get(key)
        if value not in (None, "", [], {}) and not isinstance(value, (dict, list)):
            parts.append(f"{key}={_short(value)}")
    if x.get("networkProfile"):
        parts.append(f"profile={last_segment(x['networkProfile'])}")
    nics = x.get("networkInterfaces")
    if nics:
        kinds = [n.get("nicType", "?") for n in nics]
        parts.append(f"nics={len(nics)}({','.join(_runs(kinds))})")
        if any(n.get("accessConfigs") for n in nics):
            parts.append("EXTERNAL-IP")
    accel = x.get("guestAccelerators") or (x.get("nodeConfig") or {}).get("guestAccelerators")
    if accel:
        parts.append("gpus=" + ",".join(f"{a.get('count')}x{a.get('type')}" for a in accel))
    tpu_config = x.get("acceleratorConfig") or {}
    if tpu_config:
        parts.append(f"acceleratorConfig={tpu_config.get('type')}/{tpu_config.get('topology')}")
    parts.extend(flag for flag in ("spot", "reserved", "preemptible") if (x.get("schedulingConfig") or {}).get(flag))
    if r.type == TPU_QUEUED_DYNAMIC:
        parts.extend(_queued_summary(r.type, x))
    node_config = x.get("nodeConfig") or {}
    if node_config.get("machineType"):
        parts.append(f"machineType={node_config['machineType']}")
    labels = x.get("labels") or node_config.get("resourceLabels") or {}
    if labels.get(contract.WORKLOAD):
        parts.append(f"workload={labels[contract.WORKLOAD]}")
    if r.protect:
        parts.append("protected")
    if r.retain_on_delete:
        parts.append("retained")
    return " ".join(parts)


def _queued_summary(resource_type: str, inputs: dict) -> list[str]:
    """A queued resource's slices, runtime and tier, from the request it carries."""
    _, specs = queued_request(resource_type, inputs)
    parts = []
    for spec in specs:
        node = spec.get("node") or {}
        config = node.get("acceleratorConfig") or {}
        accelerator = node.get("acceleratorType") or f"{config.get('type')}/{config.get('topology')}"
        parts.append(f"tpu={accelerator}")
        multi = spec.get("multisliceParams") or spec.get("multiNodeParams")
        if multi:
            parts.append(f"slices={json_safe(multi.get('nodeCount'))}")
        if node.get("runtimeVersion"):
            parts.append(f"runtimeVersion={node['runtimeVersion']}")
    uses = accelerator_uses(resource_type, inputs)
    if uses:
        parts.append(uses[0].provisioning.value)
    parts.append(f"api={inputs.get('apiVersion')}")
    return parts


def _short(value: Any) -> str:
    text = str(json_safe(value))
    if text.startswith("https://www.googleapis.com/"):
        text = last_segment(text)
    return text if len(text) <= 48 else text[:45] + "..."


def _runs(items: list[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        if out and out[-1].split("x", 1)[-1] == item:
            n = int(out[-1].split("x", 1)[0]) + 1
            out[-1] = f"{n}x{item}"
        else:
            out.append(f"1x{item}")
    return [o.removeprefix("1x") for o in out]


def _children(plan: Plan) -> dict[Optional[str], list[Registration]]:
    kids: dict[Optional[str], list[Registration]] = defaultdict(list)
    for r in plan.resources:
        kids[r.parent].append(r)
    return kids


def money(value: Optional[float], complete: bool = True) -> str:
    """Dollars, as a lower bound ("at least") when a part had no list price."""
    return "—" if value is None else at_least(f"${value:,.2f}", complete)


def grouped(items: list[Unpriced]) -> list[str]:
    """Unpriced (or use-billed) parts, one line per cluster and reason, with how many resources it covers."""
    counts = Counter((u.cluster or "(unlabelled)", u.reason) for u in items)
    return [f"{cluster}: {reason}" + (f" ({n} resources)" if n > 1 else "") for (cluster, reason), n in counts.items()]


def budget_state(plan: Plan) -> Optional[str]:
    """within / over / cannot tell (unpriced parts) for the environment's hourly budget, or None without one."""
    budget = plan.budget_hourly_usd
    if budget is None:
        return None
    if plan.cost.hourly_usd > budget:
        return "over"
    if not plan.cost.complete:
        return f"not known: the priced part is within, {len(plan.cost.unpriced)} part(s) have no list price"
    return "within"


def text(plan: Plan, console: Console) -> None:
    """Print the plan for a terminal."""
    kids = _children(plan)
    tree = Tree(f"[bold]stack {plan.stack}[/] · project {plan.project} · {len(plan.resources)} resources")

    def add(node: Tree, parent: Optional[str]) -> None:
        for r in kids.get(parent, []):
            label = f"[cyan]{short_type(r.type)}[/] [bold]{r.name}[/]"
            detail = summary(r)
            branch = node.add(f"{label} [dim]{detail}[/]" if detail else label)
            add(branch, r.urn)

    add(tree, None)
    console.print(tree)
    for warning in plan.run.warnings:
        console.print(Text.assemble(("warning: ", "yellow"), warning))
    console.print(cost_table(plan))
    console.print(policy_table(plan))


def cost_table(plan: Plan) -> Group:
    """The cost per cluster, then what it leaves out: parts without a list price, and what is billed by use."""
    cost = plan.cost
    table = Table(title="Cost (list prices, full scale)", show_footer=True)
    table.add_column("cluster", footer="total")
    table.add_column("hours/month", justify="right")
    table.add_column("compute $/h", justify="right")
    table.add_column("storage $/h", justify="right")
    table.add_column("$/hour", justify="right", footer=money(cost.hourly_usd, cost.complete))
    table.add_column("$/month", justify="right", footer=money(cost.monthly_usd, cost.complete))
    table.add_column("unpriced", justify="right", footer=str(len(cost.unpriced)))
    for name, c in sorted(cost.by_cluster.items()):
        table.add_row(
            name,
            f"{c.hours_per_month:g}",
            money(c.compute_hourly_usd),
            money(c.storage_hourly_usd),
            money(c.hourly_usd, c.complete),
            money(c.monthly_usd, c.complete),
            str(len(c.unpriced)),
        )
    state = budget_state(plan)
    if state is not None:
        style = {"within": "green", "over": "red"}.get(state, "yellow")
        table.caption = f"hourly budget of {plan.environment.spec.name}: {money(plan.budget_hourly_usd)} ([{style}]{state}[/])"
    parts: list[Any] = [table]
    if cost.unpriced:
        parts.append("[yellow]Not priced (the totals above are lower bounds):[/]")
        parts.extend(f"  {line}" for line in grouped(cost.unpriced))
    if cost.billed_by_use:
        parts.append("[dim]Billed by use, not estimated:[/]")
        parts.extend(f"[dim]  {line}[/]" for line in grouped(cost.billed_by_use))
    return Group(*parts)


def policy_table(plan: Plan) -> Any:
    if plan.policy_pack is None:
        return Text("policy pack not run: no policy was checked", style="yellow")
    gaps = [Text.assemble(("not checked: ", "yellow"), gap) for gap in plan.policy_not_checked]
    if not plan.policy:
        return Group(Text(f"policy pack {plan.policy_pack}: no violations", style="green"), *gaps)
    table = Table(title=f"Policy verdicts ({plan.policy_pack})")
    table.add_column("level")
    table.add_column("policy")
    table.add_column("resource")
    table.add_column("message")
    for v in sorted(plan.policy, key=lambda v: (v.level != "mandatory", v.policy)):
        style = "red" if v.level == "mandatory" else "yellow"
        table.add_row(Text(v.level, style=style), Text(v.policy), Text((v.urn or "stack").rsplit("::", 1)[-1]), Text(v.message))
    return Group(table, *gaps)


def mermaid_id(urn: str) -> str:
    """A Mermaid node id for a resource, the same in every run."""
    return "n" + hashlib.sha256(urn.encode()).hexdigest()[:10]


def markdown(plan: Plan) -> str:
    """A pull-request comment: verdicts, cost, a Mermaid topology and the resource list."""
    env = plan.environment.spec
    failures = plan.mandatory_failures
    head = "❌ mandatory policy violations" if failures else "✅ no mandatory policy violations"
    lines = [f"## ai-clusters plan · stack `{plan.stack}` · project `{plan.project}`", "", f"**{head}** · {len(plan.resources)} resources", ""]
    if plan.run.warnings:
        lines += ["### Warnings", "", *(f"- ⚠️ {w}" for w in plan.run.warnings), ""]
    cost = plan.cost
    lines += ["### Cost (list prices, full scale)", "", "| cluster | hours/month | $/hour | $/month | unpriced parts |", "|---|---:|---:|---:|---:|"]
    for name, c in sorted(cost.by_cluster.items()):
        lines.append(f"| {name} | {c.hours_per_month:g} | {money(c.hourly_usd, c.complete)} | {money(c.monthly_usd, c.complete)} | {len(c.unpriced)} |")
    lines.append(f"| **total** | | **{money(cost.hourly_usd, cost.complete)}** | **{money(cost.monthly_usd, cost.complete)}** | {len(cost.unpriced)} |")
    state = budget_state(plan)
    if state is not None:
        lines += ["", f"Hourly budget of `{env.name}`: {money(env.hourly_budget_usd)} ({'**over**' if state == 'over' else state})."]
    if cost.unpriced:
        lines += ["", "⚠️ **Not priced** — these parts have no list price in the catalog, so the totals are lower bounds:", ""]
        lines += [f"- {line}" for line in grouped(cost.unpriced)]
    if cost.billed_by_use:
        lines += ["", "<details><summary>Billed by use, not estimated</summary>", ""]
        lines += [f"- {line}" for line in grouped(cost.billed_by_use)]
        lines += ["", "</details>"]
    lines += ["", "### Policy verdicts", ""]
    if plan.policy_pack is None:
        lines.append("_The policy pack was not run: no policy was checked._")
    elif not plan.policy:
        lines.append(f"No violations from `{plan.policy_pack}`.")
    else:
        lines += ["| level | policy | resource | message |", "|---|---|---|---|"]
        for v in sorted(plan.policy, key=lambda v: (v.level != "mandatory", v.policy)):
            res = (v.urn or "stack").rsplit("::", 1)[-1]
            lines.append(f"| {v.level} | `{v.policy}` | `{res}` | {v.message.replace('|', '/')} |")
    if plan.policy_not_checked:
        lines += ["", "**Not checked:**", ""] + [f"- {gap}" for gap in plan.policy_not_checked]
    lines += ["", "### Topology", "", "```mermaid", "graph LR"]
    lines += _mermaid(plan)
    lines += ["```", "", "<details><summary>Resources</summary>", "", "| type | name | key inputs |", "|---|---|---|"]
    for r in plan.resources:
        lines.append(f"| {short_type(r.type)} | `{r.name}` | {summary(r).replace('|', '/')} |")
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def _mermaid(plan: Plan) -> list[str]:
    """Components as subgraphs, with their networks, node groups and storage inside."""
    kids = _children(plan)
    out: list[str] = []
    for comp in kids.get(None, []):
        if comp.custom:
            continue
        out.append(f'  subgraph {mermaid_id(comp.urn)}["{short_type(comp.type)} {comp.name}"]')
        for r in _descendants(kids, comp.urn):
            kind = short_type(r.type)
            if kind in TOPOLOGY_TYPES:
                detail = r.inputs.get("machineType") or (r.inputs.get("nodeConfig") or {}).get("machineType") or r.inputs.get("acceleratorType") or r.inputs.get("mtu") or ""
                out.append(f'    {mermaid_id(r.urn)}["{kind}<br/>{r.name}{"<br/>" + str(detail) if detail else ""}"]')
        out.append("  end")
    for comp in kids.get(None, []):
        if comp.type.endswith(":ClusterNetwork"):
            for other in kids.get(None, []):
                if other is not comp and not other.custom and not other.type.endswith(":ClusterStorage"):
                    out.append(f"  {mermaid_id(comp.urn)} --- {mermaid_id(other.urn)}")
        if comp.type.endswith(":ClusterStorage"):
            cluster = comp.name.removesuffix("-storage")
            target = next((o for o in kids.get(None, []) if o.name == cluster and not o.custom), None)
            if target:
                out.append(f"  {mermaid_id(target.urn)} -.-> {mermaid_id(comp.urn)}")
    return out


def _descendants(kids: dict, urn: str) -> list[Registration]:
    out = []
    for r in kids.get(urn, []):
        out.append(r)
        out.extend(_descendants(kids, r.urn))
    return out
