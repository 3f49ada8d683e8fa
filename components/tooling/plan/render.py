"""Render a plan: rich text for a terminal, markdown (with a Mermaid topology) for a pull request."""

from collections import defaultdict
from typing import Any, Optional

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from ai_clusters.core import labels as contract
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


def money(value: Optional[float]) -> str:
    return "—" if value is None else f"${value:,.2f}"


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
    console.print(cost_table(plan))
    console.print(policy_table(plan))


def cost_table(plan: Plan) -> Table:
    table = Table(title="Cost (list prices, full scale)", show_footer=True)
    table.add_column("cluster", footer="total")
    table.add_column("hours/month", justify="right")
    table.add_column("compute $/h", justify="right")
    table.add_column("storage $/h", justify="right")
    table.add_column("$/hour", justify="right", footer=money(plan.cost.hourly_usd))
    table.add_column("$/month", justify="right", footer=money(plan.cost.monthly_usd))
    for name, c in sorted(plan.cost.by_cluster.items()):
        table.add_row(name, f"{c.hours_per_month:g}", money(c.compute_hourly_usd), money(c.storage_hourly_usd), money(c.hourly_usd), money(c.monthly_usd))
    budget = plan.budget_hourly_usd
    if budget is not None:
        state = "[green]within[/]" if plan.cost.hourly_usd <= budget else "[red]over[/]"
        table.caption = f"hourly budget of {plan.environment.spec.name}: {money(budget)} ({state})"
    if plan.cost.unpriced:
        table.caption = (table.caption or "") + f" · {len(plan.cost.unpriced)} resource(s) without a list price"
    return table


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


def _mermaid_id(urn: str) -> str:
    return "n" + str(abs(hash(urn)) % 10**10)


def markdown(plan: Plan) -> str:
    """A pull-request comment: verdicts, cost, a Mermaid topology and the resource list."""
    env = plan.environment.spec
    failures = plan.mandatory_failures
    head = "❌ mandatory policy violations" if failures else "✅ no mandatory policy violations"
    lines = [f"## ai-clusters plan · stack `{plan.stack}` · project `{plan.project}`", "", f"**{head}** · {len(plan.resources)} resources", ""]
    lines += ["### Cost (list prices, full scale)", "", "| cluster | hours/month | $/hour | $/month |", "|---|---:|---:|---:|"]
    for name, c in sorted(plan.cost.by_cluster.items()):
        lines.append(f"| {name} | {c.hours_per_month:g} | {money(c.hourly_usd)} | {money(c.monthly_usd)} |")
    lines.append(f"| **total** | | **{money(plan.cost.hourly_usd)}** | **{money(plan.cost.monthly_usd)}** |")
    if env.hourly_budget_usd is not None:
        within = "within" if plan.cost.hourly_usd <= env.hourly_budget_usd else "**over**"
        lines += ["", f"Hourly budget of `{env.name}`: {money(env.hourly_budget_usd)} ({within})."]
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
    interesting = (
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
    for comp in kids.get(None, []):
        if comp.custom:
            continue
        out.append(f'  subgraph {_mermaid_id(comp.urn)}["{short_type(comp.type)} {comp.name}"]')
        for r in _descendants(kids, comp.urn):
            kind = short_type(r.type)
            if kind in interesting:
                detail = r.inputs.get("machineType") or (r.inputs.get("nodeConfig") or {}).get("machineType") or r.inputs.get("acceleratorType") or r.inputs.get("mtu") or ""
                out.append(f'    {_mermaid_id(r.urn)}["{kind}<br/>{r.name}{"<br/>" + str(detail) if detail else ""}"]')
        out.append("  end")
    for comp in kids.get(None, []):
        if comp.type.endswith(":ClusterNetwork"):
            for other in kids.get(None, []):
                if other is not comp and not other.custom and not other.type.endswith(":ClusterStorage"):
                    out.append(f"  {_mermaid_id(comp.urn)} --- {_mermaid_id(other.urn)}")
        if comp.type.endswith(":ClusterStorage"):
            cluster = comp.name.removesuffix("-storage")
            target = next((o for o in kids.get(None, []) if o.name == cluster and not o.custom), None)
            if target:
                out.append(f"  {_mermaid_id(target.urn)} -.-> {_mermaid_id(comp.urn)}")
    return out


def _descendants(kids: dict, urn: str) -> list[Registration]:
    out = []
    for r in kids.get(urn, []):
        out.append(r)
        out.extend(_descendants(kids, r.urn))
    return out
