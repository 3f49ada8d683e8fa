"""The Vertex AI path: VertexTraining (persistent training clusters) and VertexServing (private endpoints).

    from ai_clusters import VertexServing, VertexTraining

`from_spec` is the stack's way in: it picks training or serving from `vertex.mode`, else from the
workload (inference serves, everything else trains).
"""

from typing import Union

from ai_clusters.vertex.options import VertexMode, default_mode
from ai_clusters.vertex.common import VertexOptionsArgs, VertexPoolArgs
from ai_clusters.vertex.serving import VertexServing, VertexServingArgs
from ai_clusters.vertex.training import VertexTraining, VertexTrainingArgs
from ai_clusters.blocks.cluster import spec_args


def from_spec(cl, network, storage) -> Union[VertexTraining, VertexServing]:
    """A resolved stack cluster on the Vertex AI path, with its environment's network and its storage."""
    options = cl.spec.vertex
    mode = (options.mode if options and options.mode else None) or default_mode(cl.spec.workload.kind)
    args = spec_args(cl)
    if options is not None:
        args["vertex"] = options.model_dump(exclude_none=True, exclude_defaults=True)
    args.update(
        network=network.host_network,
        private_services_range=network.private_services_range,
        network_ranges=network.cidrs,
        bucket=storage.bucket_name,
    )
    if mode == VertexMode.SERVING:
        return VertexServing(cl.name, VertexServingArgs(**args))
    return VertexTraining(cl.name, VertexTrainingArgs(**args))


__all__ = ["VertexOptionsArgs", "VertexPoolArgs", "VertexServing", "VertexServingArgs", "VertexTraining", "VertexTrainingArgs", "from_spec"]
