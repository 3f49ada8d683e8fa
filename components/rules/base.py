"""What a rule sees (a resource) and what it is (name, level, remediation, config schema)."""

from dataclasses import dataclass, field
from functools import cached_property
from collections.abc import Sequence
from typing import Any, Callable, Iterable, Mapping, Optional

from ai_clusters.core.naming import last_segment
from ai_clusters.core.accelerators import AcceleratorUse, accelerator_uses


@dataclass
class Resource:
    """A resource as the policy engine shows it: type, inputs (camelCase) and options."""

    urn: str
    type: str
    name: str
    props: Mapping[str, Any]
    protect: bool = False
    parent: Optional[str] = None

    @cached_property
    def uses(self) -> list[AcceleratorUse]:
        try:
            return accelerator_uses(self.type, self.props)
        except Exception:  # noqa: BLE001 - odd hand-written input must not crash the pack
            return []

    @property
    def labels(self) -> Mapping[str, Any]:
        props = self.props
        return (
            props.get("labels")
            or (props.get("nodeConfig") or {}).get("resourceLabels")
            or props.get("resourceLabels")
            or next((u.labels for u in self.uses if u.kind == "tpu" and u.labels), None)  # a queued resource's node labels
            or {}
        )


@dataclass(frozen=True)
class Violation:
    message: str
    urn: Optional[str] = None


ResourceCheck = Callable[[Resource, Mapping[str, Any]], Iterable[str]]
StackCheck = Callable[[list[Resource], Mapping[str, Any]], Iterable[Violation]]


@dataclass(frozen=True)
class Rule:
    """One policy: its check, default enforcement level, remediation steps and config schema."""

    name: str
    description: str
    level: str  # "mandatory" or "advisory"
    remediation: str
    check: Optional[ResourceCheck] = None
    check_stack: Optional[StackCheck] = None
    config_schema: Mapping[str, Any] = field(default_factory=dict)

    @property
    def default_config(self) -> dict[str, Any]:
        return {k: v["default"] for k, v in self.config_schema.items() if "default" in v}


def as_list(value: Any) -> list:
    """A list from a list-like input (the policy engine hands Sequence proxies, not lists)."""
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return list(value)
    return []

