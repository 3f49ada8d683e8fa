"""The Pulumi program: a resolved environment in, components out.

`__main__.py` only reads the stack configuration and calls `run`. The offline plan runs the very
same function under Pulumi's mocks.
"""

from importlib import import_module
from typing import Any, Callable, Mapping

import pulumi

from ai_clusters.core.enums import ClusterPath
from ai_clusters.blocks.network import ClusterNetwork
from ai_clusters.core.spec import ResolvedCluster, ResolvedEnvironment, SpecError, load_environment, path_definition
from ai_clusters.core.spec.resolve import accelerator_networks as resolved_accelerator_networks
from ai_clusters.blocks.storage import ClusterStorage
from ai_clusters.blocks.component import BuildContext
from ai_clusters.blocks.outputs import typed_outputs


def _builder(path: ClusterPath) -> Callable[[ResolvedCluster, BuildContext], pulumi.ComponentResource]:
    """The function that builds a path's component from a resolved cluster (its PathDefinition names it)."""
    module, _, function = path_definition(path).component.partition(":")
    return getattr(import_module(module), function)


def accelerator_networks(env: ResolvedEnvironment) -> list[dict[str, str]]:
    """The (family, zone) pairs whose GPU/RDMA NICs the environment's network must serve."""
    return [{"family": shape.family.id, "zone": zone} for shape, zone in resolved_accelerator_networks(env.clusters)]


def build(env: ResolvedEnvironment, deployment_name: str) -> dict[str, Any]:
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
        component = _builder(cl.spec.path)(cl, BuildContext(network, storage, deployment_name))
        outputs[cl.name] = typed_outputs(component)
    return outputs


def run(config: Mapping[str, Any]) -> None:
    """Build the stack from its configuration and export every cluster's outputs."""
    try:
        env = load_environment(config)
    except SpecError as exc:
        raise pulumi.RunError(f"bad stack configuration:\n{exc}") from None
    for name, value in build(env, pulumi.get_stack()).items():
        pulumi.export(name, value)


def stack_config() -> dict[str, Any]:
    """Every configuration value of the running stack (what `pulumi config` holds)."""
    from pulumi.runtime import config as runtime_config

    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
