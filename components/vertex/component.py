"""The Vertex AI path's components: VertexTraining (persistent training clusters) and VertexServing (private endpoints).

    from ai_clusters import VertexServing, VertexTraining

`from_resolved` is the program's way in: the plan says training or serving (from `vertex.mode`, else
from the workload: inference serves, everything else trains).
"""

from typing import Union

from ai_clusters.blocks.component import BuildContext
from ai_clusters.core.spec import ResolvedCluster
from ai_clusters.vertex.common import VertexArgs, VertexOptionsArgs, VertexPoolArgs
from ai_clusters.vertex.options import VertexMode
from ai_clusters.vertex.plan import VertexPlan
from ai_clusters.vertex.serving import VertexServing, VertexServingArgs
from ai_clusters.vertex.training import VertexTraining, VertexTrainingArgs


def from_resolved(cl: ResolvedCluster, context: BuildContext) -> Union[VertexTraining, VertexServing]:
    """The program's way in: a cluster it resolved, with its network, storage and deployment."""
    network, storage = context.network, context.storage
    plan: VertexPlan = cl.plan
    wiring = dict(
        project=cl.project,
        network=network.host_network,
        private_services_range=network.private_services_range,
        network_ranges=network.cidrs,
        bucket=storage.bucket_name,
    )
    component = VertexServing if plan.mode == VertexMode.SERVING else VertexTraining
    return component(cl.name, wiring, resolved=cl)  # type: ignore[arg-type]


__all__ = [
    "VertexArgs",
    "VertexOptionsArgs",
    "VertexPoolArgs",
    "VertexServing",
    "VertexServingArgs",
    "VertexTraining",
    "VertexTrainingArgs",
    "from_resolved",
]
