"""Whether a change of a resource's inputs makes Pulumi replace it, from the providers' own rules.

The rules are data (`data/replacements.yaml`: every ForceNew input of each resource type the program
creates, read from terraform-provider-google-beta and pulumi-kubernetes, with their sources); this
module evaluates them on two sets of inputs. `judge` answers True (replaced, and because of which
inputs), False (updated in place: none of the type's ForceNew inputs changed) or None (the type is not
in the table, or the provider decides at run time), and names the inputs updated with the VM stopped.
"""

import ipaddress
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional

from pulumi.runtime.rpc import is_rpc_secret, unwrap_rpc_secret

from ai_clusters.core.strict_yaml import load_strict

DATA = Path(__file__).resolve().parent / "data" / "replacements.yaml"


def plain(value: Any) -> Any:
    """A value with Pulumi's secret wrappers removed, at any depth (for comparing, never for showing)."""
    if is_rpc_secret(value):
        return plain(unwrap_rpc_secret(value))
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def unset(value: Any) -> bool:
    """No value, as Terraform sees an input: absent, null, empty string, list or map."""
    return value is None or value == "" or value == [] or value == {}


def values_at(inputs: Any, path: str) -> dict[str, Any]:
    """The values a rule path names, by concrete path: `a.b[*].c` -> {"a.b[0].c": …, "a.b[1].c": …};
    `a.b#` -> {"a.b#": number of blocks (an object counts 1 when present)}."""
    count = path.endswith("#")
    segments = (path[:-1] if count else path).split(".")
    found = dict(_walk(inputs, segments, ""))
    if not count:
        return found
    out: dict[str, Any] = {}
    for where, value in found.items():
        out[where + "#"] = len(value) if isinstance(value, list) else (0 if value is None else 1)
    return out


def _walk(value: Any, segments: list[str], prefix: str) -> Iterator[tuple[str, Any]]:
    if not segments:
        yield prefix, value
        return
    segment, rest = segments[0], segments[1:]
    each = segment.endswith("[*]")
    name = segment[:-3] if each else segment
    child = value.get(name) if isinstance(value, Mapping) else None
    here = f"{prefix}.{name}" if prefix else name
    if not each:
        yield from _walk(child, rest, here)
        return
    for i, item in enumerate(child if isinstance(child, list) else []):
        yield from _walk(item, rest, f"{here}[{i}]")


def changed(path: str, old: Mapping[str, Any], new: Mapping[str, Any], keeps_when_unset: bool = False) -> bool:
    """Whether the inputs a rule path names differ (unset values are equal; secrets compared unwrapped)."""
    before, after = values_at(old, path), values_at(new, path)
    for where in before.keys() | after.keys():
        o, n = before.get(where), after.get(where)
        if keeps_when_unset and unset(n):
            continue
        if (None if unset(o) else o) != (None if unset(n) else n):
            return True
    return False


# -- the CustomizeDiff tests the table names (`when`), after the provider's functions ----------------


def _one(inputs: Mapping[str, Any], path: str) -> Any:
    values = list(values_at(inputs, path).values())
    return values[0] if len(values) == 1 else None


def _decreases(path: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> Optional[bool]:
    """IsDiskShrinkage: a smaller number (removing it is fine)."""
    o, n = _one(old, path), _one(new, path)
    if o is None or n is None:
        return False
    try:
        return float(n) < float(o)
    except (TypeError, ValueError):
        return None


def _narrows(path: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> Optional[bool]:
    """IsShrinkageIpCidr: a range that does not contain the whole old one."""
    o, n = _one(old, path), _one(new, path)
    if unset(o) or unset(n) or o == n:
        return False
    try:
        before, after = ipaddress.ip_network(str(o), strict=False), ipaddress.ip_network(str(n), strict=False)
    except ValueError:
        return None
    return not (before.version == after.version and before.subnet_of(after))


def _turned_off(path: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> Optional[bool]:
    """isPolicyLocked / isBeenEnabled: true before, false after."""
    return _one(old, path) is True and _one(new, path) is False


def _cleared(path: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> Optional[bool]:
    """ForceNewResourcePoliciesWorkloadPolicyIfNewIsEmpty: a value before, none after."""
    return not unset(_one(old, path)) and unset(_one(new, path))


def _loses_items(path: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> Optional[bool]:
    """containerClusterEnableK8sBetaApisCustomizeDiff: an item of the old set missing from the new one."""
    o, n = _one(old, path) or [], _one(new, path) or []
    return any(item not in n for item in o)


def _startup_script_switch(path: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> Optional[bool]:
    """isGracefulMetadataStartupSwitch: every change of the script replaces the VM, except moving the same
    script between metadataStartupScript and metadata.startup-script."""
    o, n = _one(old, path) or "", _one(new, path) or ""
    if o == n:
        return False
    meta_old, meta_new = old.get("metadata") or {}, new.get("metadata") or {}
    if not meta_old and not meta_new:
        return True
    if o == "":
        return not ("startup-script" in meta_old and n == meta_old["startup-script"])
    if n == "":
        return not ("startup-script" in meta_new and o == meta_new["startup-script"])
    return True


def _unknown(path: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> Optional[bool]:
    """The provider decides from what it reads back: a change may replace."""
    return None if changed(path, old, new) else False


CONDITIONS: dict[str, Callable[[str, Mapping[str, Any], Mapping[str, Any]], Optional[bool]]] = {
    "decreases": _decreases,
    "narrows": _narrows,
    "turned-off": _turned_off,
    "cleared": _cleared,
    "loses-items": _loses_items,
    "startup-script-switch": _startup_script_switch,
    "unknown": _unknown,
}


# -- the table ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Conditional:
    path: str
    when: str
    note: str


@dataclass(frozen=True)
class TypeRules:
    """The replacement rules of one resource type."""

    source: str
    replace: tuple[str, ...]
    unset_keeps: frozenset[str] = frozenset()
    conditional: tuple[Conditional, ...] = ()
    stop: tuple[str, ...] = ()


@dataclass
class Judgement:
    """What Pulumi would do with a resource whose inputs changed."""

    replace: Optional[bool]
    because: list[str] = field(default_factory=list)
    """The rule paths that replace it (or may, with `replace` None)."""
    stops: list[str] = field(default_factory=list)
    """Inputs updated in place with the VM stopped."""
    notes: list[str] = field(default_factory=list)


class ReplacementTable:
    """The rules of `data/replacements.yaml`, by resource type."""

    def __init__(self, doc: Mapping[str, Any]):
        self.sources: dict[str, Any] = dict(doc.get("sources") or {})
        self.types = {name: _rules(name, body, self.sources) for name, body in (doc.get("types") or {}).items()}
        self.families = {prefix: _rules(prefix, body, self.sources) for prefix, body in (doc.get("families") or {}).items()}
        self.types.update(own_provider_rules())

    def rules_for(self, resource_type: str) -> Optional[TypeRules]:
        if resource_type in self.types:
            return self.types[resource_type]
        return next((rules for prefix, rules in self.families.items() if resource_type.startswith(prefix)), None)

    def judge(self, resource_type: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> Judgement:
        """Replace, update in place, or unknown, for a resource whose inputs go from `old` to `new`."""
        rules = self.rules_for(resource_type)
        if rules is None:
            return Judgement(None, notes=[f"no replacement rules for {resource_type}"])
        old, new = plain(old), plain(new)
        verdict = Judgement(False)
        verdict.because = [p for p in rules.replace if changed(p, old, new, keeps_when_unset=p in rules.unset_keeps)]
        maybe = []
        for cond in rules.conditional:
            outcome = CONDITIONS[cond.when](cond.path, old, new)
            if outcome or outcome is None:
                (verdict.because if outcome else maybe).append(cond.path)
                verdict.notes.append(cond.note)
        verdict.stops = [p for p in rules.stop if changed(p, old, new)]
        if verdict.because:
            verdict.replace = True
        elif maybe:
            verdict.replace, verdict.because = None, maybe
        return verdict


def _rules(name: str, body: Mapping[str, Any], sources: Mapping[str, Any]) -> TypeRules:
    if body.get("source") not in sources:
        raise ValueError(f"replacements.yaml: {name} cites {body.get('source')!r}, which is not under sources")
    conditional = tuple(Conditional(c["path"], c["when"], c["note"]) for c in body.get("conditional") or [])
    unknown = [c.when for c in conditional if c.when not in CONDITIONS]
    if unknown:
        raise ValueError(f"replacements.yaml: {name} names unknown tests {unknown}; known: {', '.join(CONDITIONS)}")
    return TypeRules(
        source=body["source"],
        replace=tuple(str(body.get("replace") or "").split()),
        unset_keeps=frozenset(str(body.get("unset_keeps") or "").split()),
        conditional=conditional,
        stop=tuple(str(body.get("stop") or "").split()),
    )


OWN_SOURCE = "ai-clusters"
"""The source of the rules of our own dynamic providers: their `diff`, read from the code itself."""


def own_provider_rules() -> dict[str, TypeRules]:
    """The rules of the resource types this project's dynamic providers implement (one source: the provider's code)."""
    from ai_clusters.core.accelerators import TPU_QUEUED_DYNAMIC
    from ai_clusters.tpu.queued_resource import REPLACING

    return {TPU_QUEUED_DYNAMIC: TypeRules(source=OWN_SOURCE, replace=REPLACING)}


@lru_cache(maxsize=1)
def table() -> ReplacementTable:
    """The table shipped with the package."""
    return ReplacementTable(load_strict(DATA.read_text()))


__all__ = ["CONDITIONS", "Judgement", "ReplacementTable", "TypeRules", "changed", "plain", "table", "unset", "values_at"]
