"""Component args generated from the pydantic models of ai_clusters.gke.options and ai_clusters.core.spec.tpu: do not edit.

Regenerate with `make args` (ai_clusters.tooling.args_codegen); tests/test_architecture.py fails when
this file and the models differ. No `from __future__ import annotations`: schema inference reads the
real annotations."""

from typing import TypedDict
from typing_extensions import NotRequired

from ai_clusters.core.enums import GpuDriverVersion, GpuSharingStrategy, ReleaseChannel


class AuthorizedNetworkArgs(TypedDict):
    """A range allowed to reach the public control-plane endpoint."""

    cidr: str
    """CIDR block."""
    name: NotRequired[str]
    """Display name."""


class SystemPoolArgs(TypedDict):
    """The CPU node pool for system pods."""

    machine_type: NotRequired[str]
    """Machine type; default: the catalog's (e2-standard-4)."""
    min_nodes: NotRequired[int]
    """Autoscaling minimum."""
    max_nodes: NotRequired[int]
    """Autoscaling maximum."""
    disk_gb: NotRequired[int]
    """Boot disk size."""


class GpuSharingArgs(TypedDict):
    """Several containers on one GPU (small inference)."""

    strategy: NotRequired[GpuSharingStrategy]
    """time-sharing (default) or mps."""
    max_clients: NotRequired[int]
    """Containers that may share one GPU (2 to 48)."""


class AutoscalingArgs(TypedDict):
    """Autoscaling of the accelerator node pool."""

    min_nodes: NotRequired[int]
    """The fewest nodes kept (0 lets the pool scale to zero)."""
    max_nodes: NotRequired[int]
    """The most nodes; default: the cluster's `nodes`."""


class GkeOptionsArgs(TypedDict):
    """Options of the GKE path (the same keys as a stack's `gke:` block)."""

    release_channel: NotRequired[ReleaseChannel]
    """RAPID, REGULAR (default), STABLE or EXTENDED."""
    regional: NotRequired[bool]
    """Regional control plane (default true); false: zonal."""
    public_endpoint: NotRequired[bool]
    """Expose the control plane's public IP endpoint to `authorized_networks` (default false)."""
    authorized_networks: NotRequired[list[AuthorizedNetworkArgs]]
    """Ranges allowed to reach the public endpoint."""
    dns_endpoint: NotRequired[bool]
    """IAM-guarded DNS endpoint of the control plane (default true): how Pulumi reaches a private cluster."""
    master_ipv4_cidr: NotRequired[str]
    """A private /28 for a VPC-peered control plane; default: Private Service Connect."""
    deletion_protection: NotRequired[bool]
    """GKE deletion protection; default: protect_data."""
    maintenance_start_time: NotRequired[str]
    """Daily maintenance window start, HH:MM UTC."""
    system_pool: NotRequired[SystemPoolArgs]
    """The system node pool."""
    gpu_driver: NotRequired[GpuDriverVersion]
    """NVIDIA driver GKE installs: latest (default), default or disabled."""
    gpu_sharing: NotRequired[GpuSharingArgs]
    """GPU time-sharing or MPS."""
    autoscaling: NotRequired[AutoscalingArgs]
    """Default: fixed size for training, 1..nodes for inference, 0..nodes for flex-start."""
    queued_provisioning: NotRequired[bool]
    """Dynamic Workload Scheduler queued provisioning; default: on for multi-node flex-start."""
    local_ssd: NotRequired[bool]
    """Local NVMe SSD as ephemeral storage; default: on where the machine bundles it."""
    compact_placement: NotRequired[bool]
    """Compact placement; default: on for more than one node where the family supports it."""
    dcgm_metrics: NotRequired[bool]
    """GPU (DCGM) metrics in Managed Service for Prometheus (default true)."""
    in_cluster_objects: NotRequired[bool]
    """Create the multi-network, GPUDirect, volume and service account objects in the cluster (default true)."""
    gpudirect: NotRequired[bool]
    """Install the family's GPUDirect/RDMA components; default: where the family has them."""
    namespace: NotRequired[str]
    """Namespace of the volume claims and the workload's service account (default: default)."""


class GkeTpuArgs(TypedDict):
    """A TPU slice for the cluster's TPU node pools (give `type`, or `generation` and `topology`)."""

    type: NotRequired[str]
    """Accelerator type, e.g. v5litepod-16."""
    generation: NotRequired[str]
    """Generation id from the catalog (v4, v5e, v5p, v6e), with `topology`."""
    topology: NotRequired[str]
    """Topology in chips, e.g. 4x4 or 2x2x2, with `generation`."""
    slices: NotRequired[int]
    """Number of slices (multislice when more than 1)."""


__all__ = ["AuthorizedNetworkArgs", "AutoscalingArgs", "GkeOptionsArgs", "GkeTpuArgs", "GpuSharingArgs", "SystemPoolArgs"]
