"""The stack's configuration in, a resolved environment out.

`load_environment(config)` takes the stack's configuration (the `ai-clusters:*` keys plus `gcp:project`
and `gcp:region`, as Pulumi passes them), parses it into `EnvironmentSpec`, resolves every cluster and
runs every path's own plan step, or raises `SpecError` listing every problem with its key path.
"""

import json
import re
from typing import Any, Mapping

from ai_clusters.core.spec.errors import Problem, SpecError, parse_model
from ai_clusters.core.spec.models import EnvironmentSpec
from ai_clusters.core.spec.resolve import ResolvedEnvironment, resolve_environment

NAMESPACE = "ai-clusters"

# Stack configuration key -> EnvironmentSpec key. Structured values arrive as JSON text.
CONFIG_KEYS: dict[str, str] = {
    f"{NAMESPACE}:environment": "environment",
    "gcp:project": "project",
    "gcp:region": "region",
    f"{NAMESPACE}:zones": "zones",
    f"{NAMESPACE}:hourlyBudgetUsd": "hourlyBudgetUsd",
    f"{NAMESPACE}:labels": "labels",
    f"{NAMESPACE}:protectData": "protectData",
    f"{NAMESPACE}:network": "network",
    f"{NAMESPACE}:clusters": "clusters",
}


def _decode(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in "[{" or text in ("true", "false") or text.replace(".", "", 1).lstrip("-").isdigit():
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                return value
    return value


def environment_input(config: Mapping[str, Any]) -> dict[str, Any]:
    """Map stack configuration keys to the EnvironmentSpec input; unknown ai-clusters keys are errors."""
    unknown = [k for k in config if k.startswith(f"{NAMESPACE}:") and k not in CONFIG_KEYS]
    if unknown:
        allowed = ", ".join(k for k in CONFIG_KEYS if k.startswith(NAMESPACE))
        raise SpecError([Problem(k, f"unknown configuration key; allowed: {allowed}") for k in unknown])
    return {field: _decode(config[key]) for key, field in CONFIG_KEYS.items() if key in config}


STACK_KEYS: dict[str, str] = {field: key for key, field in CONFIG_KEYS.items()}
"""EnvironmentSpec key -> the stack configuration key a user writes (`project` -> `gcp:project`)."""


def stack_key_path(path: str) -> str:
    """A problem's key path as the stack file spells it: `project` -> `gcp:project`, `network.hostCidr` ->
    `ai-clusters:network.hostCidr`; a cluster's keys keep their short `clusters[N].…` form."""
    root = re.split(r"[.\[]", path, maxsplit=1)[0]
    if root not in STACK_KEYS or (root == "clusters" and path != root):
        return path
    return STACK_KEYS[root] + path[len(root):]


def load_environment(config: Mapping[str, Any]) -> ResolvedEnvironment:
    """Parse, check and resolve a stack's configuration, every path's own checks included.

    SpecError names each problem by the key the stack file writes (`gcp:project`, `clusters[1].gke.…`)."""
    try:
        return resolve_environment(parse_model(EnvironmentSpec, environment_input(config)))
    except SpecError as exc:
        raise SpecError([Problem(stack_key_path(p.path), p.message) for p in exc.problems], exc.subject) from None


__all__ = ["CONFIG_KEYS", "NAMESPACE", "STACK_KEYS", "environment_input", "load_environment", "stack_key_path"]
