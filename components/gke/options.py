"""Options of the GKE path (`gke:` in a cluster of a stack).

Every option has a default that is right for the cluster's workload and family, so a stack may give
none. What depends on the resolved cluster (TPU or GPU, the family, the node count) is checked by
`ai_clusters.gke.gke_checks`; here only shape and ranges.
"""

import ipaddress
from typing import Optional

from pydantic import Field, field_validator, model_validator

from ai_clusters.core.enums import GpuDriverVersion, GpuSharingStrategy, ReleaseChannel
from ai_clusters.core.limits import MAX_CLUSTER_NODES
from ai_clusters.core.spec.base import SpecModel


class AuthorizedNetwork(SpecModel):
    """A range allowed to reach the public control-plane endpoint."""

    cidr: str
    """CIDR block."""
    name: Optional[str] = Field(default=None, max_length=60)
    """Display name."""

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            net = ipaddress.ip_network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a CIDR block ({exc})") from None
        if net.prefixlen == 0:
            raise ValueError("0.0.0.0/0 opens the control plane to the whole internet; name the ranges that need it")
        return value


class GpuSharingSpec(SpecModel):
    """Several containers on one GPU (small inference)."""

    strategy: GpuSharingStrategy = GpuSharingStrategy.TIME_SHARING
    """time-sharing (default) or mps."""
    max_clients: int = Field(default=2, ge=2)
    """Containers that may share one GPU (2 to 48)."""


class AutoscalingSpec(SpecModel):
    """Autoscaling of the accelerator node pool."""

    min_nodes: int = Field(default=0, ge=0, le=MAX_CLUSTER_NODES)
    """The fewest nodes kept (0 lets the pool scale to zero)."""
    max_nodes: Optional[int] = Field(default=None, ge=1, le=MAX_CLUSTER_NODES)
    """The most nodes; default: the cluster's `nodes`."""

    @model_validator(mode="after")
    def _ordered(self) -> "AutoscalingSpec":
        if self.max_nodes is not None and self.min_nodes > self.max_nodes:
            raise ValueError(f"minNodes {self.min_nodes} is above maxNodes {self.max_nodes}")
        return self


class SystemPoolSpec(SpecModel):
    """The CPU node pool for system pods."""

    machine_type: Optional[str] = Field(default=None, pattern=r"^[a-z0-9]+(-[a-z0-9]+)+$")
    """Machine type; default: the catalog's (e2-standard-4)."""
    min_nodes: Optional[int] = Field(default=None, ge=1, le=100)
    """Autoscaling minimum."""
    max_nodes: Optional[int] = Field(default=None, ge=1, le=100)
    """Autoscaling maximum."""
    disk_gb: Optional[int] = Field(default=None, ge=20, le=65_536)
    """Boot disk size."""

    @model_validator(mode="after")
    def _ordered(self) -> "SystemPoolSpec":
        if self.min_nodes is not None and self.max_nodes is not None and self.min_nodes > self.max_nodes:
            raise ValueError(f"minNodes {self.min_nodes} is above maxNodes {self.max_nodes}")
        return self


class GkeOptions(SpecModel):
    """Options of the GKE path (the same keys as a stack's `gke:` block)."""

    release_channel: ReleaseChannel = ReleaseChannel.REGULAR
    """RAPID, REGULAR (default), STABLE or EXTENDED."""
    regional: bool = True
    """Regional control plane (default true); false: zonal."""
    public_endpoint: bool = False
    """Expose the control plane's public IP endpoint to `authorized_networks` (default false)."""
    authorized_networks: list[AuthorizedNetwork] = Field(default_factory=list)
    """Ranges allowed to reach the public endpoint."""
    dns_endpoint: bool = True
    """IAM-guarded DNS endpoint of the control plane (default true): how Pulumi reaches a private cluster."""
    master_ipv4_cidr: Optional[str] = None
    """A private /28 for a VPC-peered control plane; default: Private Service Connect."""
    deletion_protection: Optional[bool] = None
    """GKE deletion protection; default: protect_data."""
    maintenance_start_time: Optional[str] = Field(default=None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    """Daily maintenance window start, HH:MM UTC."""
    system_pool: SystemPoolSpec = Field(default_factory=SystemPoolSpec)
    """The system node pool."""
    gpu_driver: GpuDriverVersion = GpuDriverVersion.LATEST
    """NVIDIA driver GKE installs: latest (default), default or disabled."""
    gpu_sharing: Optional[GpuSharingSpec] = None
    """GPU time-sharing or MPS."""
    autoscaling: Optional[AutoscalingSpec] = None
    """Default: fixed size for training, 1..nodes for inference, 0..nodes for flex-start."""
    queued_provisioning: Optional[bool] = None
    """Dynamic Workload Scheduler queued provisioning; default: on for multi-node flex-start."""
    local_ssd: Optional[bool] = None
    """Local NVMe SSD as ephemeral storage; default: on where the machine bundles it."""
    compact_placement: Optional[bool] = None
    """Compact placement; default: on for more than one node where the family supports it."""
    dcgm_metrics: bool = True
    """GPU (DCGM) metrics in Managed Service for Prometheus (default true)."""
    in_cluster_objects: bool = True
    """Create the multi-network, GPUDirect, volume and service account objects in the cluster (default true)."""
    gpudirect: Optional[bool] = None
    """Install the family's GPUDirect/RDMA components; default: where the family has them."""
    namespace: str = Field(default="default", pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    """Namespace of the volume claims and the workload's service account (default: default)."""

    @model_validator(mode="after")
    def _endpoint(self) -> "GkeOptions":
        if self.public_endpoint and not self.authorized_networks:
            raise ValueError("publicEndpoint needs authorizedNetworks: the ranges allowed to reach the control plane")
        if self.authorized_networks and not self.public_endpoint:
            raise ValueError("authorizedNetworks apply to the public endpoint; set publicEndpoint: true or drop them")
        if self.gpudirect and not self.in_cluster_objects:
            raise ValueError("gpudirect installs objects in the cluster; it needs inClusterObjects")
        if self.master_ipv4_cidr is not None:
            try:
                net = ipaddress.ip_network(self.master_ipv4_cidr, strict=True)
            except ValueError as exc:
                raise ValueError(f"masterIpv4Cidr {self.master_ipv4_cidr!r} is not a CIDR block ({exc})") from None
            if net.prefixlen != 28 or not net.is_private:
                raise ValueError(f"masterIpv4Cidr must be a private /28, not {self.master_ipv4_cidr}")
        return self


__all__ = ["AuthorizedNetwork", "AutoscalingSpec", "GkeOptions", "GpuSharingSpec", "SystemPoolSpec"]
