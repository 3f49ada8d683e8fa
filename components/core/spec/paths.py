"""How a path plugs into the core: its options model and its pure plan step.

Each path folder (`ai_clusters.gke`, `ai_clusters.slurm` …) declares one `PathDefinition` in its
`plan` module and names it in `pyproject.toml` under the entry-point group `ai_clusters.paths`. The core
finds the definitions there, so it never imports a path, and `load_environment` runs every path's own
checks before anything is registered: a problem is reported with its stack key path
(`clusters[1].gke.autoscaling.minNodes: …`) by `plan`, `preflight` and the component package alike.
"""

from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Callable, Optional

from ai_clusters.core.catalog import NodeShape
from ai_clusters.core.enums import ClusterPath, WorkloadKind
from ai_clusters.core.spec.base import SpecModel
from ai_clusters.core.spec.models import ClusterSpec, StorageSpec

if TYPE_CHECKING:
    from ai_clusters.core.spec.capacity import Capacity
    from ai_clusters.core.spec.resolve import ResolvedCluster

ENTRY_POINT_GROUP = "ai_clusters.paths"

Add = Callable[[str, str], None]
"""Reports a problem: `add(key, message)`, the key relative to the cluster (`gke.autoscaling.minNodes`)."""


@dataclass(frozen=True)
class PathDefinition:
    """What the core needs to know of a path to resolve its clusters completely."""

    path: ClusterPath
    """The `path:` value of a cluster."""
    plan: Callable[["ResolvedCluster", Add], Any]
    """The pure plan step: from the resolved cluster (`resolved.options` parsed) to the path's plan, every
    problem reported through `add`. The component builds from the plan and never resolves again."""
    component: str
    """`module:function` that builds the path's component from a resolved cluster, its network and its storage."""
    options_key: Optional[str] = None
    """The ClusterSpec field (snake_case) holding the path's options, e.g. `gke`."""
    options_model: Optional[type[SpecModel]] = None
    """The pydantic model of those options (also the source of the component package's options args)."""
    prepare: Optional[Callable[[ClusterSpec, Any, Add], ClusterSpec]] = None
    """Adjusts the cluster spec from the options before the generic resolution (GKE: the autoscaling maximum is the node count)."""
    accepts: Optional[Callable[[NodeShape, WorkloadKind], Optional[str]]] = None
    """Why the path cannot run a GPU shape (None: it can); the advisor skips such shapes when it picks the machine."""
    own_capacity: bool = False
    """The path obtains capacity its own way and checks the provisioning model itself (Vertex AI)."""
    default_storage: Optional[Callable[[WorkloadKind], StorageSpec]] = None
    """Storage of a cluster that names none; default: the core's storage guidance per workload."""
    node_shapes: Optional[Callable[["ResolvedCluster"], list[NodeShape]]] = None
    """The GPU shapes of the cluster's nodes whose NICs the environment's network must serve; default: the cluster's shape."""
    capacity: Optional[Callable[["ResolvedCluster"], "Capacity"]] = None
    """The accelerators the planned cluster has at full scale (`resolved.plan` set), checked against
    `workload.accelerators`; default: its nodes x GPUs per node, or its slices x chips per slice."""

    def options_of(self, spec: ClusterSpec) -> Any:
        """The raw options a cluster spec gives for this path (None when it gives none)."""
        return getattr(spec, self.options_key) if self.options_key else None


class PathNotRegistered(LookupError):
    """No installed distribution declares the path (reinstall the project: `make install`)."""


@lru_cache(maxsize=1)
def registered_paths() -> dict[ClusterPath, PathDefinition]:
    """Every path the installed distributions declare under the `ai_clusters.paths` entry points."""
    found: dict[ClusterPath, PathDefinition] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        definition = ep.load()
        if not isinstance(definition, PathDefinition):
            raise TypeError(f"entry point {ep.name} = {ep.value} is not a PathDefinition")
        found.setdefault(definition.path, definition)
    return found


def path_definition(path: ClusterPath) -> PathDefinition:
    """The definition of one path."""
    found = registered_paths().get(path)
    if found is None:
        raise PathNotRegistered(
            f"path {path.value!r} is declared by no installed distribution (entry-point group {ENTRY_POINT_GROUP}); "
            "reinstall the project with `make install`"
        )
    return found


__all__ = ["Add", "ENTRY_POINT_GROUP", "PathDefinition", "PathNotRegistered", "path_definition", "registered_paths"]
