"""The Pulumi program: a resolved environment in, components out.

`__main__.py` only reads the stack configuration and calls `run`. The offline plan runs the very
same function under Pulumi's mocks.
"""

from typing import Any, Callable, Mapping

import pulumi

from ai_clusters.core.enums import ClusterPath, GpuDirect
from ai_clusters.blocks.network import ClusterNetwork
from ai_clusters.core.nics import family_uses_gpu_nics
from ai_clusters.core.spec import ResolvedCluster, ResolvedEnvironment, SpecError, load_environment
from ai_clusters.blocks.storage import ClusterStorage
from ai_clusters.blocks.outputs import typed_outputs

Builder = Callable[[ResolvedCluster, ClusterNetwork, ClusterStorage], pulumi.ComponentResource]


def _builders() -> dict[ClusterPath, Builder]:
    from ai_clusters.compute_engine import component as compute_engine
    from ai_clusters.gke import component as gke
    from ai_clusters.slurm import component as slurm
    from ai_clusters.tpu import component as tpu
    from ai_clusters.vertex import build as vertex

    builders: dict[ClusterPath, Builder] = {
        ClusterPath.COMPUTE_ENGINE: compute_engine.from_spec,
        ClusterPath.GKE: gke.from_spec,
        ClusterPath.SLURM: slurm.from_spec,
        ClusterPath.TPU: tpu.from_spec,
        ClusterPath.VERTEX: vertex.from_spec,
    }
    return builders


def _node_shapes(cl: ResolvedCluster) -> list:
    """The GPU shapes a cluster's nodes use (a Slurm cluster's node sets may mix families)."""
    if cl.spec.path == ClusterPath.SLURM:
        from ai_clusters.slurm.layout import node_shapes

        return node_shapes(cl)
    if cl.spec.path == ClusterPath.VERTEX:
        return []  # Vertex AI brings its own GPU networking; it reaches the host VPC only
    return [cl.shape] if cl.shape is not None else []


def accelerator_networks(env: ResolvedEnvironment) -> list[dict[str, str]]:
    """The (family, zone) pairs whose GPU/RDMA NICs the environment's network must serve."""
    wanted: list[dict[str, str]] = []
    for cl in env.clusters:
        for shape in _node_shapes(cl):
            if shape.gpudirect == GpuDirect.NONE or not family_uses_gpu_nics(shape.family, shape.gpus):
                continue
            item = {"family": shape.family.id, "zone": cl.zone}
            if item not in wanted:
                wanted.append(item)
    return wanted


def build(env: ResolvedEnvironment) -> dict[str, Any]:
    """Create the environment's network, and per cluster its storage and its path's component."""
    spec = env.spec
    net = spec.network
    network = ClusterNetwork(
        spec.name,
        {
            "region": spec.region,
            "project": spec.project,
            "accelerator_networks": accelerator_networks(env),
            "host_cidr": net.host_cidr,
            "pods_cidr": net.pods_cidr,
            "services_cidr": net.services_cidr,
            "gpu_cidr": net.gpu_cidr,
            "psa_cidr": net.psa_cidr,
            "host_mtu": net.host_mtu,
            "iap_ssh": net.iap_ssh,
            "private_services_access": net.private_services_access,
        },
    )
    builders = _builders()
    outputs: dict[str, Any] = {"network": {"host_network": network.host_network, "host_subnetwork": network.host_subnetwork}}
    for cl in env.clusters:
        storage = ClusterStorage(
            f"{cl.name}-storage",
            {
                "environment": spec.name,
                "cluster": cl.name,
                "workload": cl.spec.workload.kind,
                "region": cl.region,
                "zone": cl.zone,
                "project": spec.project,
                "network": network.host_network,
                "private_services_range": network.private_services_range,
                "path": cl.spec.path,
                "storage": cl.storage.model_dump(exclude_none=True),
                "protect_data": cl.protect_data,
                "labels": cl.labels,
            },
        )
        builder = builders.get(cl.spec.path)
        if builder is None:
            raise SpecError([], f"path {cl.spec.path.value!r} is not built yet")
        component = builder(cl, network, storage)
        outputs[cl.name] = typed_outputs(component)
    return outputs


def run(config: Mapping[str, Any]) -> None:
    """Build the stack from its configuration and export every cluster's outputs."""
    try:
        env = load_environment(config)
    except SpecError as exc:
        raise pulumi.RunError(f"bad stack configuration:\n{exc}") from None
    for name, value in build(env).items():
        pulumi.export(name, value)


def stack_config() -> dict[str, Any]:
    """Every configuration value of the running stack (what `pulumi config` holds)."""
    from pulumi.runtime import config as runtime_config

    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
