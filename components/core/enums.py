"""Enumerations shared by the spec, the catalog, the components' args and the policies.

They are `str` enums so that a stack file, a YAML program and Python code can all write the plain
value (`"pretraining"`), and Pulumi's schema inference turns each into a schema enum.
"""

from enum import Enum


class WorkloadKind(str, Enum):
    """What the cluster is for; written to the `ai-workload` label that the policies read."""

    PRETRAINING = "pretraining"
    FINETUNING = "finetuning"
    INFERENCE = "inference"
    GRAPHICS = "graphics"
    HPC = "hpc"


class ClusterPath(str, Enum):
    """The way the accelerators are provisioned."""

    COMPUTE_ENGINE = "compute-engine"
    GKE = "gke"
    SLURM = "slurm"
    VERTEX = "vertex"
    TPU = "tpu"


class ProvisioningModel(str, Enum):
    """How the capacity is obtained."""

    ON_DEMAND = "on-demand"
    SPOT = "spot"
    FLEX_START = "flex-start"
    RESERVATION = "reservation"


class GpuDirect(str, Enum):
    """The GPU-to-GPU networking a machine family offers across nodes."""

    NONE = "none"
    TCPX = "tcpx"
    TCPXO = "tcpxo"
    RDMA = "rdma"


class NicType(str, Enum):
    """Compute Engine network interface types used by accelerator machines."""

    GVNIC = "GVNIC"
    MRDMA = "MRDMA"


class Framework(str, Enum):
    """The ML framework a cluster runs; picks TPU runtime versions and validation jobs."""

    JAX = "jax"
    PYTORCH = "pytorch"
    TENSORFLOW = "tensorflow"


class HpcOffload(str, Enum):
    """For HPC workloads: how much of the computation runs on the GPU."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class ReleaseChannel(str, Enum):
    """GKE release channel: how fast the control plane and nodes follow new Kubernetes versions."""

    RAPID = "RAPID"
    REGULAR = "REGULAR"
    STABLE = "STABLE"
    EXTENDED = "EXTENDED"


class GpuSharingStrategy(str, Enum):
    """How several containers share one GPU of a GKE node (small inference)."""

    TIME_SHARING = "time-sharing"
    MPS = "mps"


class GpuDriverVersion(str, Enum):
    """Which NVIDIA driver GKE installs on GPU nodes (gpu_driver_installation_config)."""

    DEFAULT = "default"
    LATEST = "latest"
    DISABLED = "disabled"
