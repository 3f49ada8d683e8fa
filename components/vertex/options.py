"""Options of the Vertex AI path (`vertex:` in a cluster of a stack): the shape of the block.

`ai_clusters.vertex.plan` checks them against the catalog's Vertex AI facts and decides every default.
"""

import ipaddress
import re
from enum import Enum
from typing import Optional

from pydantic import Field, field_validator, model_validator

from ai_clusters.core.spec.base import SpecModel

KMS_KEY_RE = re.compile(r"^projects/[^/]+/locations/([a-z0-9-]+)/keyRings/[^/]+/cryptoKeys/[^/]+$")
ATTACHMENT_RE = re.compile(r"^(projects/[^/]+/regions/[a-z0-9-]+/networkAttachments/)?[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


class VertexMode(str, Enum):
    """What a Vertex AI cluster is: a persistent training cluster or a serving endpoint."""

    TRAINING = "training"
    SERVING = "serving"


class VertexNetworking(str, Enum):
    """How Vertex AI reaches the VPC (training) or the VPC reaches Vertex AI (serving)."""

    VPC_PEERING = "vpc-peering"
    PRIVATE_SERVICE_CONNECT = "private-service-connect"


class VertexEndpoint(str, Enum):
    """The kind of serving endpoint: private (VPC peering) or dedicated private (Private Service Connect)."""

    PRIVATE = "private"
    DEDICATED = "dedicated"


class AutoscalingMetric(str, Enum):
    """What serving autoscales on."""

    GPU_DUTY_CYCLE = "gpu-duty-cycle"
    CPU_UTILIZATION = "cpu-utilization"


ENDPOINT_NETWORKING = {
    VertexEndpoint.PRIVATE: VertexNetworking.VPC_PEERING,
    VertexEndpoint.DEDICATED: VertexNetworking.PRIVATE_SERVICE_CONNECT,
}
TRAINING_ONLY = ("boot_disk_gb", "boot_disk_type", "tensorboard", "pools", "psc_interface_cidr", "network_attachment")
SERVING_ONLY = ("endpoint", "autoscaling_metric", "autoscaling_target")


def _private_cidr(value: Optional[str]) -> Optional[str]:
    if value is None:
        return value
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a CIDR range ({exc})") from None
    if not net.is_private or not 24 <= net.prefixlen <= 28:
        raise ValueError(f"{value!r} must be a private range of /24 to /28 (Vertex AI recommends a /28)")
    return value


class VertexPoolSpec(SpecModel):
    """An extra CPU resource pool of a persistent resource."""

    machine_type: str
    """A CPU machine type Vertex AI offers for training (e.g. n2-highcpu-16 for a Reduction Server)."""
    replicas: int = Field(default=1, ge=1, le=1000)
    """Replicas the pool starts with (default 1)."""
    min_replicas: Optional[int] = Field(default=None, ge=1)
    """Autoscaling floor (at least 1)."""
    max_replicas: Optional[int] = Field(default=None, ge=1)
    """Autoscaling ceiling."""
    boot_disk_gb: Optional[int] = Field(default=None, ge=1)
    """Boot disk size per replica (100-64,000 GB, default 100)."""
    boot_disk_type: Optional[str] = None
    """pd-ssd, pd-standard or hyperdisk-balanced."""


class VertexOptions(SpecModel):
    """Options of the Vertex AI path."""

    mode: Optional[VertexMode] = None
    """training or serving; default: serving for inference workloads, else training."""
    accelerator_type: Optional[str] = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]+$")
    """Accelerator enum as Vertex AI names it (NVIDIA_H100_80GB …); default and check: the one the machine type carries."""
    accelerator_count: Optional[int] = Field(default=None, ge=1, le=16)
    """Accelerators per replica; default and check: the machine type's."""
    min_replicas: Optional[int] = Field(default=None, ge=0, le=1000)
    """Autoscaling floor (serving default 1; training: autoscaling only when set)."""
    max_replicas: Optional[int] = Field(default=None, ge=1, le=1000)
    """Autoscaling ceiling (serving default: nodes)."""
    boot_disk_gb: Optional[int] = Field(default=None, ge=1)
    """Training: boot disk size per replica (100-64,000 GB, default 100)."""
    boot_disk_type: Optional[str] = None
    """Training: pd-ssd, pd-standard or hyperdisk-balanced (default: the first the machine type takes)."""
    networking: Optional[VertexNetworking] = None
    """vpc-peering (private services access) or private-service-connect."""
    psc_interface_cidr: Optional[str] = None
    """Training over a PSC interface: range of a new subnet for the network attachment (a /28 is recommended)."""
    network_attachment: Optional[str] = None
    """Training over a PSC interface: an existing network attachment instead."""
    endpoint: Optional[VertexEndpoint] = None
    """Serving: private (VPC peering) or dedicated (Private Service Connect, the default)."""
    autoscaling_metric: Optional[AutoscalingMetric] = None
    """Serving: gpu-duty-cycle (default) or cpu-utilization."""
    autoscaling_target: Optional[int] = Field(default=None, ge=1, le=100)
    """Serving: target utilization in percent (default 60)."""
    kms_key: Optional[str] = None
    """CMEK key, projects/P/locations/REGION/keyRings/R/cryptoKeys/K, in the cluster's region."""
    tensorboard: Optional[bool] = None
    """Training: create a Vertex AI TensorBoard (default true)."""
    pools: list[VertexPoolSpec] = Field(default_factory=list)
    """Training: extra CPU resource pools."""

    @field_validator("psc_interface_cidr")
    @classmethod
    def _cidr(cls, value: Optional[str]) -> Optional[str]:
        return _private_cidr(value)

    @field_validator("kms_key")
    @classmethod
    def _kms(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not KMS_KEY_RE.match(value):
            raise ValueError(f"{value!r} is not a key name like projects/P/locations/REGION/keyRings/R/cryptoKeys/K")
        return value

    @field_validator("network_attachment")
    @classmethod
    def _attachment(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not ATTACHMENT_RE.match(value):
            raise ValueError(f"{value!r} is not a network attachment name or projects/P/regions/R/networkAttachments/N")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "VertexOptions":
        if self.min_replicas is not None and self.max_replicas is not None and self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas {self.min_replicas} is above maxReplicas {self.max_replicas}")
        if self.psc_interface_cidr and self.network_attachment:
            raise ValueError("give pscInterfaceCidr (a new attachment) or networkAttachment (an existing one), not both")
        return self


__all__ = [
    "ATTACHMENT_RE",
    "AutoscalingMetric",
    "ENDPOINT_NETWORKING",
    "KMS_KEY_RE",
    "SERVING_ONLY",
    "TRAINING_ONLY",
    "VertexEndpoint",
    "VertexMode",
    "VertexNetworking",
    "VertexOptions",
    "VertexPoolSpec",
]
