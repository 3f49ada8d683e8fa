"""ai-clusters: Pulumi components for AI accelerator clusters on Google Cloud.

    from ai_clusters import ClusterNetwork, ClusterStorage, GpuVmCluster

The components are loaded on first use, so the pure modules (spec, catalog, advisor, rules) import
without pulling in the Pulumi resource SDKs: the policy pack and the command line start fast.
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "ClusterNetwork": "blocks.network",
    "ClusterNetworkArgs": "blocks.network",
    "AcceleratorNetworkArgs": "blocks.network",
    "ClusterStorage": "blocks.storage",
    "ClusterStorageArgs": "blocks.storage",
    "StorageArgs": "blocks.storage",
    "GpuVmCluster": "compute_engine.component",
    "GpuVmClusterArgs": "compute_engine.component",
    "TpuVmCluster": "tpu.component",
    "TpuVmClusterArgs": "tpu.component",
    "SlurmCluster": "slurm.component",
    "SlurmClusterArgs": "slurm.component",
    "GkeCluster": "gke.component",
    "GkeClusterArgs": "gke.component",
    "WorkloadArgs": "blocks.args",
    "ProvisioningArgs": "blocks.args",
    "NetworkAttachmentArgs": "blocks.args",
    "NicArgs": "blocks.args",
    "MountArgs": "blocks.args",
    "WorkloadKind": "core.enums",
    "ClusterPath": "core.enums",
    "ProvisioningModel": "core.enums",
    "Framework": "core.enums",
    "NicType": "core.enums",
    "SpecError": "core.spec",
    "VertexTraining": "vertex.component",
    "VertexTrainingArgs": "vertex.component",
    "VertexServing": "vertex.component",
    "VertexServingArgs": "vertex.component",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ai_clusters' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
