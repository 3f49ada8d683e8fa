"""What the component package hosts, and one fix to the schema inference it relies on.

Every public component goes into `COMPONENTS`; `provider/__main__.py` hosts them with
`component_provider_host`. The args of the cluster components share their common fields through
TypedDict inheritance (`GpuClusterArgs`, `ClusterArgs`): Pulumi's analyzer reads field docstrings only
from the class it analyzes, so `use_inherited_docstrings` makes it look along the class's bases too,
and every input of the schema keeps its description.
"""

from typing import Optional

from pulumi.provider.experimental import component as _component
from pulumi.provider.experimental.analyzer import Analyzer

from . import __version__
from .args import ClusterArgs, GpuClusterArgs
from .compute_engine import GpuVmCluster
from .gke import GkeCluster
from .network import ClusterNetwork
from .slurm import SlurmCluster
from .storage import ClusterStorage
from .tpu import TpuVmCluster
from .vertex import VertexServing, VertexTraining
from .vertex_common import VertexArgs

PACKAGE = "ai-clusters"
VERSION = __version__
COMPONENTS = [ClusterNetwork, ClusterStorage, GpuVmCluster, GkeCluster, SlurmCluster, TpuVmCluster, VertexTraining, VertexServing]
SHARED_ARGS = (VertexArgs, GpuClusterArgs, ClusterArgs)


class InheritingAnalyzer(Analyzer):
    """An analyzer that also finds the docstrings of inherited fields (shared args, component bases).

    Python 3.11 keeps no record of a TypedDict's bases, so the shared args of `ai_clusters.args`
    (ClusterArgs, GpuClusterArgs) are searched when a class does not declare a field itself.
    """

    def get_docstring(self, typ: type, name: str) -> Optional[str]:
        found = super().get_docstring(typ, name)
        for base in getattr(typ, "__mro__", ())[1:]:  # outputs declared on a component base class
            if found is None and name in base.__dict__.get("__annotations__", {}):
                found = super().get_docstring(base, name)
        if found is None and typ not in SHARED_ARGS:
            for base in SHARED_ARGS:
                if name in base.__annotations__:
                    found = super().get_docstring(base, name)
                    if found is not None:
                        break
        return found


def use_inherited_docstrings() -> None:
    """Make the component provider infer the schema with `InheritingAnalyzer`."""
    _component.Analyzer = InheritingAnalyzer
