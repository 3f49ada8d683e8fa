"""Options of the GKE path (`gke:` in a cluster of a stack).

Every option has a default that is right for the cluster's workload and family, so a stack may give
none. What depends on the resolved cluster (TPU or GPU, the family, the node count) is checked by
`ai_clusters.gke.gke_checks`; here only shape and ranges.
"""

import ipaddress
from typing import Optional

from pydantic import Field, field_validator, model_validator

from ai_clusters.core.enums import GpuDriverVersion, GpuSharingStrategy, ReleaseChannel
from ai_clusters.core.spec.base import SpecModel


class AuthorizedNetwork(SpecModel):
    """A range allowed to reach the public control-plane endpoint."""

    cidr: str = Field(description="CIDR block, e.g. 203.0.113.0/24.")
    name: Optional[str] = Field(default=None, max_length=60, description="Display name.")

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
    """Several containers on one GPU: time-sharing or NVIDIA MPS, for small inference."""

    strategy: GpuSharingStrategy = GpuSharingStrategy.TIME_SHARING
    max_clients: int = Field(default=2, ge=2, description="Containers that may share one GPU (the catalog gives GKE's maximum).")


class AutoscalingSpec(SpecModel):
    """Node pool autoscaling. The maximum is the cluster's node count (`nodes`)."""

    min_nodes: int = Field(default=0, ge=0, le=10_000)
    max_nodes: Optional[int] = Field(default=None, ge=1, le=10_000, description="Default: the cluster's `nodes`.")

    @model_validator(mode="after")
    def _ordered(self) -> "AutoscalingSpec":
        if self.max_nodes is not None and self.min_nodes > self.max_nodes:
            raise ValueError(f"minNodes {self.min_nodes} is above maxNodes {self.max_nodes}")
        return self


class SystemPoolSpec(SpecModel):
    """The small CPU node pool for system pods (DNS, metrics, the GPUDirect and CSI daemons' controllers)."""

    machine_type: Optional[str] = Field(default=None, pattern=r"^[a-z0-9]+(-[a-z0-9]+)+$", description="Default: the catalog's GKE system pool machine type.")
    min_nodes: Optional[int] = Field(default=None, ge=1, le=100)
    max_nodes: Optional[int] = Field(default=None, ge=1, le=100)
    disk_gb: Optional[int] = Field(default=None, ge=20, le=65_536)

    @model_validator(mode="after")
    def _ordered(self) -> "SystemPoolSpec":
        if self.min_nodes is not None and self.max_nodes is not None and self.min_nodes > self.max_nodes:
            raise ValueError(f"minNodes {self.min_nodes} is above maxNodes {self.max_nodes}")
        return self


class GkeOptions(SpecModel):
    """Options of the GKE path."""

    release_channel: ReleaseChannel = ReleaseChannel.REGULAR
    regional: bool = Field(default=True, description="Regional control plane (three replicas); false: zonal.")
    public_endpoint: bool = Field(default=False, description="Expose the control plane's public IP endpoint (authorizedNetworks only).")
    authorized_networks: list[AuthorizedNetwork] = Field(default_factory=list, description="Ranges allowed to reach the public endpoint.")
    dns_endpoint: bool = Field(default=True, description="IAM-guarded DNS endpoint of the control plane (how Pulumi reaches a private cluster).")
    master_ipv4_cidr: Optional[str] = Field(default=None, description="A /28 for a VPC-peered control plane; default: Private Service Connect.")
    deletion_protection: Optional[bool] = Field(default=None, description="GKE deletion protection; default: the environment's protectData.")
    maintenance_start_time: Optional[str] = Field(default=None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Daily maintenance window start (UTC, HH:MM).")
    system_pool: SystemPoolSpec = Field(default_factory=SystemPoolSpec)
    gpu_driver: GpuDriverVersion = Field(default=GpuDriverVersion.LATEST, description="NVIDIA driver GKE installs on GPU nodes.")
    gpu_sharing: Optional[GpuSharingSpec] = None
    autoscaling: Optional[AutoscalingSpec] = Field(default=None, description="Default: fixed size for training, 1..nodes for inference.")
    queued_provisioning: Optional[bool] = Field(
        default=None, description="Dynamic Workload Scheduler (ProvisioningRequest); default: on for multi-node flex-start."
    )
    local_ssd: Optional[bool] = Field(default=None, description="Local NVMe SSD as ephemeral storage; default: on where the machine bundles it.")
    compact_placement: Optional[bool] = Field(default=None, description="Default: on for more than one node where the family supports it.")
    dcgm_metrics: bool = Field(default=True, description="GPU (DCGM) metrics in Managed Service for Prometheus.")
    in_cluster_objects: bool = Field(default=True, description="Create the multi-network, GPUDirect and storage objects in the cluster.")
    gpudirect: Optional[bool] = Field(default=None, description="Install the family's GPUDirect/RDMA components; default: on where it has them.")
    namespace: str = Field(default="default", pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", description="Namespace of the volumes and workload identity.")

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
