"""The stack configuration as pydantic models, its checks against the catalog, and its loader.

`load_environment(config)` takes the stack's configuration (the `ai-clusters:*` keys plus
`gcp:project` and `gcp:region`, as Pulumi passes them) and returns a `ResolvedEnvironment`, or
raises `SpecError` listing every problem with its key path.
"""

import json
from typing import Any, Mapping

from pydantic import ValidationError

from ai_clusters.core.spec.resolve import (
    ResolvedCluster,
    ResolvedEnvironment,
    default_storage,
    resolve_cluster,
    resolve_environment,
)
from ai_clusters.core.spec.errors import Problem, SpecError, allowed_keys, key_path, problems_from
from ai_clusters.compute_engine.options import ComputeEngineOptions
from ai_clusters.gke.options import GkeOptions
from ai_clusters.core.spec.models import (
    BucketSpec,
    ClusterSpec,
    EnvironmentSpec,
    FilestoreSpec,
    HyperdiskMlSpec,
    LustreSpec,
    NetworkSpec,
    ParallelstoreSpec,
    ProvisioningSpec,
    SpecModel,
    StorageSpec,
    WorkloadSpec,
)
from ai_clusters.slurm.options import SlurmOptions
from ai_clusters.core.spec.tpu import TpuSpec
from ai_clusters.vertex.options import VertexOptions

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

__all__ = [
    "BucketSpec",
    "CONFIG_KEYS",
    "ClusterSpec",
    "ComputeEngineOptions",
    "EnvironmentSpec",
    "FilestoreSpec",
    "GkeOptions",
    "HyperdiskMlSpec",
    "LustreSpec",
    "NetworkSpec",
    "ParallelstoreSpec",
    "Problem",
    "ProvisioningSpec",
    "ResolvedCluster",
    "ResolvedEnvironment",
    "SlurmOptions",
    "SpecError",
    "StorageSpec",
    "TpuSpec",
    "VertexOptions",
    "WorkloadSpec",
    "allowed_keys",
    "default_storage",
    "environment_input",
    "key_path",
    "load_environment",
    "parse_model",
    "resolve_cluster",
    "resolve_environment",
]


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


def parse_model(model: type[SpecModel], data: Any, prefix: tuple = ()) -> Any:
    """Validate `data` as `model`; SpecError with one problem per bad key, named by key path."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SpecError(problems_from(exc, model, prefix)) from None


def load_environment(config: Mapping[str, Any]) -> ResolvedEnvironment:
    """Parse, check and resolve a stack's configuration."""
    env = parse_model(EnvironmentSpec, environment_input(config))
    return resolve_environment(env)
