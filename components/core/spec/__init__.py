"""The stack specification: pydantic models, their errors, resolution against the catalog, and loading.

`load_environment(config)` turns a stack's configuration into a `ResolvedEnvironment` (every cluster
resolved and planned by its path) or raises `SpecError` naming every problem by its key path. Pure:
nothing here imports Pulumi.
"""

from ai_clusters.core.spec.base import SpecModel
from ai_clusters.core.spec.errors import Problem, SpecError, allowed_keys, key_path, parse_model, problems_from
from ai_clusters.core.spec.loader import CONFIG_KEYS, NAMESPACE, environment_input, load_environment
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
    StorageSpec,
    WorkloadSpec,
)
from ai_clusters.core.spec.paths import PathDefinition, path_definition, registered_paths
from ai_clusters.core.spec.resolve import ResolvedCluster, ResolvedEnvironment, resolve_cluster, resolve_environment
from ai_clusters.core.spec.storage import check_storage, default_storage, workload_storage
from ai_clusters.core.spec.tpu import TpuDataDiskSpec, TpuQueueSpec, TpuSpec

__all__ = [
    "BucketSpec",
    "CONFIG_KEYS",
    "ClusterSpec",
    "EnvironmentSpec",
    "FilestoreSpec",
    "HyperdiskMlSpec",
    "LustreSpec",
    "NAMESPACE",
    "NetworkSpec",
    "ParallelstoreSpec",
    "PathDefinition",
    "Problem",
    "ProvisioningSpec",
    "ResolvedCluster",
    "ResolvedEnvironment",
    "SpecError",
    "SpecModel",
    "StorageSpec",
    "TpuDataDiskSpec",
    "TpuQueueSpec",
    "TpuSpec",
    "WorkloadSpec",
    "allowed_keys",
    "check_storage",
    "default_storage",
    "environment_input",
    "key_path",
    "load_environment",
    "parse_model",
    "path_definition",
    "problems_from",
    "registered_paths",
    "resolve_cluster",
    "resolve_environment",
    "workload_storage",
]
