"""Compare two plans of a stack by URN: resources, changed inputs, replacements, data at risk, cost, verdicts.

Pure: it reads two plan snapshots (the plan JSON of `ai-clusters plan --format json`, plus what
`snapshot.py` adds) and returns a `StackDiff`. Node counts are read from both sides' inputs with
`core.accelerators`; everything else comes from the snapshots as each side's own code planned them.
"""

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Optional

from pulumi.runtime.rpc import is_rpc_secret

from ai_clusters.core.accelerators import TPU_QUEUED_TYPES, TPU_VM, accelerator_uses
from ai_clusters.core.catalog import catalog
from ai_clusters.rules.platform_rules import DATA_TYPES
from ai_clusters.tooling.diff.replacements import ReplacementTable, plain, table, unset
from ai_clusters.tooling.diff.sides import SideResult

SECRET = "[secret]"


@dataclass
class KeyChange:
    """One input that differs: its old and new value (both masked when either was a secret)."""

    old: Any
    new: Any
    secret: bool = False

    def to_json(self) -> dict[str, Any]:
        doc = {"old": self.old, "new": self.new}
        if self.secret:
            doc["secret"] = True
        return doc


def resource_name(urn: str) -> str:
    """The resource's name, the last part of its URN."""
    return urn.rsplit("::", 1)[-1]


@dataclass
class AtUrn:
    """A resource named by its URN."""

    urn: str
    type: str

    @property
    def name(self) -> str:
        return resource_name(self.urn)


@dataclass
class ResourceChange(AtUrn):
    """A resource on both sides whose inputs (or protect, retainOnDelete) differ."""

    keys: dict[str, KeyChange]
    replace: Optional[bool]
    because: list[str] = field(default_factory=list)
    stops: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "keys": {k: v.to_json() for k, v in self.keys.items()},
            "replace": self.replace,
            "because": self.because,
            "stops": self.stops,
            "notes": self.notes,
        }


@dataclass
class DataAtRisk(AtUrn):
    """A stateful resource (bucket, file system, disk) that the change removes or replaces."""

    kind: str
    change: str  # removed | replaced | may be replaced
    protect: bool
    retain_on_delete: bool
    outcome: str  # blocked | kept | deleted
    message: str

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["retainOnDelete"] = doc.pop("retain_on_delete")
        return doc


@dataclass
class StackDiff:
    """What a change does to one stack."""

    stack: str
    base: str
    base_sha: Optional[str]
    head: str
    exists: dict[str, bool]
    errors: dict[str, Optional[str]]
    added: list[dict[str, str]] = field(default_factory=list)
    removed: list[dict[str, str]] = field(default_factory=list)
    changed: list[ResourceChange] = field(default_factory=list)
    data_at_risk: list[DataAtRisk] = field(default_factory=list)
    cost: dict[str, Any] = field(default_factory=dict)
    accelerators: dict[str, dict[str, Any]] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    """The plan's warnings the change brings (`new`) and removes (`cleared`): Secure Boot off, a partition without its image …"""
    resources: dict[str, int] = field(default_factory=dict)
    """Resources per side, for the record."""
    parents: dict[str, Optional[str]] = field(default_factory=dict)
    """Each resource's parent URN (from the side that has it), for the topology of the change."""
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The plan's record of each added or removed resource (inputs, protect …), for showing it."""

    @property
    def planned(self) -> bool:
        return not any(self.errors.values())

    @property
    def exit_code(self) -> int:
        """1 the head has a mandatory violation, 3 a side could not be planned, else 0."""
        if self.policy.get("failing"):
            return 1
        return 3 if not self.planned else 0

    @property
    def unchanged(self) -> bool:
        """Nothing to show: same resources and inputs, cost and verdicts."""
        p = self.policy
        return (
            self.planned
            and all(self.exists.values())
            and not (self.added or self.removed or self.changed or p.get("new") or p.get("cleared") or p.get("changed"))
            and not self.cost.get("delta_hourly_usd")
            and not self.cost.get("delta_monthly_usd")
            and (self.cost.get("unpriced") or {}).get("base") == (self.cost.get("unpriced") or {}).get("head")
            and not (self.warnings.get("new") or self.warnings.get("cleared"))
        )

    @property
    def replaced(self) -> list[ResourceChange]:
        return [c for c in self.changed if c.replace]

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "base": self.base,
            "base_sha": self.base_sha,
            "head": self.head,
            "summary": summary_line(self),
            "exists": self.exists,
            "errors": self.errors,
            "added": self.added,
            "removed": self.removed,
            "changed": [c.to_json() for c in self.changed],
            "data_at_risk": [d.to_json() for d in self.data_at_risk],
            "cost": self.cost,
            "accelerators": self.accelerators,
            "policy": self.policy,
            "warnings": self.warnings,
            "resources": self.resources,
            "exit_code": self.exit_code,
        }


# -- inputs ------------------------------------------------------------------------------------------


def input_changes(old: Any, new: Any, prefix: str = "") -> dict[str, KeyChange]:
    """The inputs that differ, by path (`a.b`, `list[2].c`); a list whose length changes is one change.
    A secret on either side is compared unwrapped and shown masked."""
    if is_rpc_secret(old) or is_rpc_secret(new):
        return {prefix: KeyChange(SECRET, SECRET, secret=True)} if plain(old) != plain(new) else {}
    if isinstance(old, Mapping) or isinstance(new, Mapping):
        if (old is None or isinstance(old, Mapping)) and (new is None or isinstance(new, Mapping)):
            before, after = old or {}, new or {}
            out: dict[str, KeyChange] = {}
            for key in sorted(set(before) | set(after)):
                out.update(input_changes(before.get(key), after.get(key), f"{prefix}.{key}" if prefix else str(key)))
            return out
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = {}
        for i, (o, n) in enumerate(zip(old, new)):
            out.update(input_changes(o, n, f"{prefix}[{i}]"))
        return out
    if (None if unset(old) else old) == (None if unset(new) else new):
        return {}
    if _has_secret(old) or _has_secret(new):
        return {prefix: KeyChange(SECRET, SECRET, secret=True)}
    return {prefix: KeyChange(old, new)}


def is_ignored(key: str, ignored: list[str]) -> bool:
    """Whether an input path (`a.b`, `list[2].c`) falls under one of a resource's `ignoreChanges` paths."""
    return any(key == path or key.startswith((f"{path}.", f"{path}[")) for path in ignored)


def _has_secret(value: Any) -> bool:
    if is_rpc_secret(value):
        return True
    if isinstance(value, Mapping):
        return any(_has_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secret(v) for v in value)
    return False


# -- the comparison ----------------------------------------------------------------------------------

EMPTY_PLAN: dict[str, Any] = {"resources": [], "cost": {"hourly_usd": 0.0, "monthly_usd": 0.0, "by_cluster": {}, "unpriced": []}, "policy": []}


def compare(
    stack: str,
    base: SideResult,
    head: SideResult,
    *,
    base_ref: str,
    base_sha: Optional[str] = None,
    head_ref: str = "work tree",
    rules: Optional[ReplacementTable] = None,
) -> StackDiff:
    """The diff of one stack between two sides (a side without the stack counts as empty)."""
    diff = StackDiff(
        stack=stack,
        base=base_ref,
        base_sha=base_sha,
        head=head_ref,
        exists={"base": not base.absent, "head": not head.absent},
        errors={"base": base.error, "head": head.error},
    )
    old = base.snapshot if base.snapshot is not None else (EMPTY_PLAN if base.absent else None)
    new = head.snapshot if head.snapshot is not None else (EMPTY_PLAN if head.absent else None)
    if new is not None:
        diff.policy["failing"] = [v for v in new.get("policy") or [] if v.get("level") == "mandatory"]
    if old is None or new is None:
        return diff
    rules = rules or table()
    before = {r["urn"]: r for r in old.get("resources") or []}
    after = {r["urn"]: r for r in new.get("resources") or []}
    diff.resources = {"base": len(before), "head": len(after)}
    diff.parents = {urn: r.get("parent") for urn, r in {**before, **after}.items()}
    diff.added = [{"urn": u, "type": after[u]["type"]} for u in after if u not in before]
    diff.removed = [{"urn": u, "type": before[u]["type"]} for u in before if u not in after]
    diff.documents = {r["urn"]: (after.get(r["urn"]) or before[r["urn"]]) for r in diff.added + diff.removed}
    for urn in (u for u in after if u in before):
        keys = input_changes(before[urn].get("inputs") or {}, after[urn].get("inputs") or {})
        ignored = after[urn].get("ignoreChanges") or []
        keys = {k: v for k, v in keys.items() if not is_ignored(k, ignored)}  # Pulumi leaves these as they are
        for option, label in (("protect", "[protect]"), ("retainOnDelete", "[retainOnDelete]")):
            if bool(before[urn].get(option)) != bool(after[urn].get(option)):
                keys[label] = KeyChange(bool(before[urn].get(option)), bool(after[urn].get(option)))
        if not keys:
            continue
        judged = rules.judge(after[urn]["type"], before[urn].get("inputs") or {}, after[urn].get("inputs") or {})
        if not _is_custom(after[urn]):
            judged.replace, judged.because, judged.notes = False, [], ["a component: its children carry the change"]
        diff.changed.append(ResourceChange(urn, after[urn]["type"], keys, judged.replace, judged.because, judged.stops, judged.notes))
    diff.data_at_risk = _data_at_risk(diff, before, after)
    diff.cost = _cost(old, new)
    diff.accelerators = _accelerators(old, new)
    diff.policy.update(_policy(old, new))
    diff.warnings = _warnings(old, new)
    return diff


def _warnings(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, list[str]]:
    """Plan warnings on the head and not the base (new), and the other way round (cleared)."""
    before, after = list(old.get("warnings") or []), list(new.get("warnings") or [])
    return {"new": [w for w in after if w not in before], "cleared": [w for w in before if w not in after]}


def _is_custom(resource: Mapping[str, Any]) -> bool:
    if "custom" in resource:
        return bool(resource["custom"])
    return not str(resource.get("type", "")).startswith("ai-clusters:index:")


def _data_at_risk(diff: StackDiff, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[DataAtRisk]:
    """Removed or replaced stateful resources, and whether protect or retainOnDelete would stop the loss
    (the Pulumi engine refuses to delete a protected resource, and to replace one protected on both
    sides; it leaves a retainOnDelete resource in the cloud)."""
    out = []
    candidates = [(r["urn"], "removed") for r in diff.removed]
    candidates += [(c.urn, "replaced" if c.replace else "may be replaced") for c in diff.changed if c.replace is not False]
    for urn, change in candidates:
        old = before[urn]
        kind = DATA_TYPES.get(old["type"])
        if kind is None:
            continue
        protect = bool(old.get("protect")) and (change == "removed" or bool(after[urn].get("protect")))
        retain = bool(old.get("retainOnDelete"))
        verb = "delete" if change == "removed" else "replace"
        if protect:
            outcome, message = "blocked", f"`pulumi up` refuses to {verb} it: it is protected (lift protect first to go ahead)"
        elif retain:
            outcome = "kept"
            message = "retainOnDelete: the old one stays in the cloud with its data, no longer managed by the stack"
            if change != "removed":
                message += "; the new one starts empty (a fixed name collides with the old one)"
        else:
            outcome = "deleted"
            message = "neither protect nor retainOnDelete: its data would be DELETED" + ("" if change == "removed" else " and the new one starts empty")
        out.append(DataAtRisk(urn, old["type"], kind, change, bool(old.get("protect")), retain, outcome, message))
    return out


def _money(value: Any) -> float:
    try:
        return float(value or 0.0)
    except (TypeError, ValueError):
        return 0.0


def _cost(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """Hourly and monthly cost on both sides and the delta, per cluster, with the unpriced parts of each."""
    b, h = old.get("cost") or {}, new.get("cost") or {}

    def triple(base: Mapping[str, Any], head: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, digits in (("hourly_usd", 4), ("monthly_usd", 2)):
            bv, hv = _money(base.get(key)), _money(head.get(key))
            out[f"base_{key}"], out[f"head_{key}"], out[f"delta_{key}"] = round(bv, digits), round(hv, digits), round(hv - bv, digits)
        return out

    doc = triple(b, h)
    doc["unpriced"] = {"base": list(b.get("unpriced") or []), "head": list(h.get("unpriced") or [])}
    doc["budget_hourly_usd"] = {"base": b.get("budget_hourly_usd"), "head": h.get("budget_hourly_usd")}
    clusters: dict[str, Any] = {}
    bc, hc = b.get("by_cluster") or {}, h.get("by_cluster") or {}
    for name in sorted(set(bc) | set(hc)):
        entry = triple(bc.get(name) or {}, hc.get(name) or {})
        # Whatever list fields a cluster's cost carries (the unpriced parts), both sides of each.
        for key in sorted({k for side in (bc.get(name) or {}, hc.get(name) or {}) for k, v in side.items() if isinstance(v, list)}):
            entry[key] = {"base": list((bc.get(name) or {}).get(key) or []), "head": list((hc.get(name) or {}).get(key) or [])}
        clusters[name] = entry
    doc["by_cluster"] = clusters
    return doc


def _accelerators(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Accelerator capacity at full scale on both sides: GPU and GKE TPU nodes by machine type, TPU VM
    slices by accelerator type; only the kinds whose count changes."""
    cat = catalog()
    sides = []
    for doc in (old, new):
        counts: Counter = Counter()
        for r in doc.get("resources") or []:
            for use in accelerator_uses(r["type"], plain(r.get("inputs") or {}), cat):
                key, n = _capacity(use, cat)
                if key:
                    counts[key] += n
        sides.append(counts)
    out = {}
    for key in sorted(set(sides[0]) | set(sides[1])):
        if sides[0][key] != sides[1][key]:
            out[key] = {"base": sides[0][key], "head": sides[1][key], "delta": sides[1][key] - sides[0][key]}
    return out


def _capacity(use: Any, cat: Any) -> tuple[Optional[str], int]:
    if use.resource_type == TPU_VM or use.resource_type in TPU_QUEUED_TYPES:
        name = use.tpu_type or (f"{use.tpu_generation.id} {use.tpu_topology}" if use.tpu_generation is not None else None)
        per_slice = 0
        if use.tpu_type and use.tpu_type in cat.tpu_types:
            per_slice = cat.tpu_slice(use.tpu_type).chips
        slices = use.chips // per_slice if per_slice else 1
        return (f"{name} slice" if name else None), slices
    return use.machine_type, int(use.nodes)


def _policy(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """Verdicts new in the head and cleared from the base; one whose message changed but whose policy,
    level and resource did not is `changed`, not new."""
    def key(v: Mapping[str, Any]) -> tuple:
        return (v.get("policy"), v.get("level"), v.get("urn"), v.get("message"))

    base, head = list(old.get("policy") or []), list(new.get("policy") or [])
    new_ones, gone = _unmatched(head, base, key), _unmatched(base, head, key)
    by_subject: dict[tuple, list] = defaultdict(list)
    for v in gone:
        by_subject[key(v)[:3]].append(v)
    changed, still_new = [], []
    for v in new_ones:
        match = by_subject.get(key(v)[:3])
        if match:
            changed.append({**v, "old_message": match.pop(0).get("message")})
        else:
            still_new.append(v)
    cleared = [v for group in by_subject.values() for v in group]
    return {
        "new": still_new,
        "cleared": cleared,
        "changed": changed,
        "pack": {"base": old.get("policy_pack"), "head": new.get("policy_pack")},
    }


def _unmatched(items: list, others: list, key: Any) -> list:
    """The items of `items` without an equal one in `others` (as multisets)."""
    left = Counter(key(v) for v in others)
    out = []
    for v in items:
        if left[key(v)]:
            left[key(v)] -= 1
        else:
            out.append(v)
    return out


# -- the one-line summary ----------------------------------------------------------------------------


def signed_money(value: float) -> str:
    return f"{'-' if value < 0 else '+'}${abs(value):,.2f}"


def accelerator_phrase(accelerators: Mapping[str, Mapping[str, Any]]) -> str:
    parts = [f"{v['delta']:+d} {k}{'s' if k.endswith('slice') and abs(v['delta']) != 1 else ''}" for k, v in accelerators.items()]
    return ", ".join(parts) if parts else "no accelerator change"


def summary_line(diff: StackDiff) -> str:
    """`+8 a3-megagpu-8g, +$742.97/h, 0 new violations`, with what else a reviewer must not miss."""
    lead = []
    if not diff.exists.get("base") and diff.exists.get("head"):
        lead.append("new stack")
    if diff.exists.get("base") and not diff.exists.get("head"):
        lead.append("stack removed")
    for side in ("base", "head"):
        if diff.errors.get(side):
            lead.append(f"{side} could not be planned")
    if not diff.planned:
        failing = len(diff.policy.get("failing") or [])
        tail = [f"{failing} mandatory failing"] if failing else []
        return ", ".join(lead + tail)
    parts = lead + [accelerator_phrase(diff.accelerators)]
    cost = signed_money(diff.cost.get("delta_hourly_usd", 0.0)) + "/h"
    unpriced = diff.cost.get("unpriced") or {}
    more = [u for u in unpriced.get("head") or [] if u not in (unpriced.get("base") or [])]
    fewer = [u for u in unpriced.get("base") or [] if u not in (unpriced.get("head") or [])]
    if more or fewer:
        cost += " (" + ", ".join(p for p in (f"+{len(more)} unpriced" if more else "", f"-{len(fewer)} unpriced" if fewer else "") if p) + ")"
    parts.append(cost)
    new = len(diff.policy.get("new") or [])
    parts.append(f"{new} new violation{'' if new == 1 else 's'}")
    failing = len(diff.policy.get("failing") or [])
    if failing:
        parts.append(f"{failing} mandatory failing")
    warned = len(diff.warnings.get("new") or [])
    if warned:
        parts.append(f"{warned} new plan warning{'' if warned == 1 else 's'}")
    if diff.data_at_risk:
        n, lost = len(diff.data_at_risk), sum(1 for d in diff.data_at_risk if d.outcome == "deleted")
        loses = f" ({lost} lose{'s its' if lost == 1 else ' their'} data)" if lost else ""
        parts.append(f"⚠ {n} data resource{'' if n == 1 else 's'} removed or replaced{loses}")
    return ", ".join(parts)


__all__ = ["AtUrn", "DataAtRisk", "KeyChange", "ResourceChange", "StackDiff", "compare", "input_changes", "resource_name", "summary_line"]
