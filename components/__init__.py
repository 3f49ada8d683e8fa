"""ai-clusters: Pulumi components for AI accelerator clusters on Google Cloud.

    from ai_clusters import ClusterNetwork, ClusterStorage, GpuVmCluster

The components are loaded on first use, so the pure modules (spec, catalog, advisor, rules) import
without pulling in the Pulumi resource SDKs: the policy pack and the command line start fast.
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "ClusterNetwork": "network",
    "ClusterNetworkArgs": "network",
    "AcceleratorNetworkArgs": "network",
    "ClusterStorage": "storage",
    "ClusterStorageArgs": "storage",
    "StorageArgs": "storage",
    "GpuVmCluster": "compute_engine",
    "GpuVmClusterArgs": "compute_engine",
    "TpuVmCluster": "tpu",
    "TpuVmClusterArgs": "tpu",
    "SlurmCluster": "slurm",
    "SlurmClusterArgs": "slurm",
    "GkeCluster": "gke",
    "GkeClusterArgs": "gke",
    "WorkloadArgs": "args",
    "ProvisioningArgs": "args",
    "NetworkAttachmentArgs": "args",
    "NicArgs": "args",
    "MountArgs": "args",
    "WorkloadKind": "enums",
    "ClusterPath": "enums",
    "ProvisioningModel": "enums",
    "Framework": "enums",
    "NicType": "enums",
    "SpecError": "spec",
    "VertexTraining": "vertex",
    "VertexTrainingArgs": "vertex",
    "VertexServing": "vertex",
    "VertexServingArgs": "vertex",
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
