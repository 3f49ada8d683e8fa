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
    """An extra CPU resource pool of a persistent resource (a Reduction Server, parameter servers, data loaders …)."""

    machine_type: str = Field(description="A CPU machine type Vertex AI offers for training.")
    replicas: int = Field(default=1, ge=1, le=1000)
    min_replicas: Optional[int] = Field(default=None, ge=1, description="Autoscaling floor (with maxReplicas).")
    max_replicas: Optional[int] = Field(default=None, ge=1, description="Autoscaling ceiling.")
    boot_disk_gb: Optional[int] = Field(default=None, ge=1)
    boot_disk_type: Optional[str] = None


class VertexOptions(SpecModel):
    """Options of the Vertex AI path. Training-only and serving-only keys are rejected in the other mode."""

    mode: Optional[VertexMode] = Field(default=None, description="training or serving; default: serving for inference, else training.")
    accelerator_type: Optional[str] = Field(
        default=None, pattern=r"^[A-Z][A-Z0-9_]+$", description="Accelerator enum as Vertex AI names it; checked against the machine type."
    )
    accelerator_count: Optional[int] = Field(default=None, ge=1, le=16, description="Accelerators per replica; checked against the machine type.")
    min_replicas: Optional[int] = Field(default=None, ge=0, le=1000, description="Autoscaling floor.")
    max_replicas: Optional[int] = Field(default=None, ge=1, le=1000, description="Autoscaling ceiling.")
    boot_disk_gb: Optional[int] = Field(default=None, ge=1, description="Training: boot disk size per replica.")
    boot_disk_type: Optional[str] = Field(default=None, description="Training: pd-ssd, pd-standard or hyperdisk-balanced.")
    networking: Optional[VertexNetworking] = Field(default=None, description="vpc-peering or private-service-connect.")
    psc_interface_cidr: Optional[str] = Field(default=None, description="Training over PSC interface: the subnet of the network attachment.")
    network_attachment: Optional[str] = Field(default=None, description="Training over PSC interface: an existing network attachment instead.")
    endpoint: Optional[VertexEndpoint] = Field(default=None, description="Serving: private (VPC peering) or dedicated (Private Service Connect).")
    autoscaling_metric: Optional[AutoscalingMetric] = Field(default=None, description="Serving: gpu-duty-cycle (default) or cpu-utilization.")
    autoscaling_target: Optional[int] = Field(default=None, ge=1, le=100, description="Serving: target utilization in percent.")
    kms_key: Optional[str] = Field(default=None, description="CMEK: projects/P/locations/REGION/keyRings/R/cryptoKeys/K, in the cluster's region.")
    tensorboard: Optional[bool] = Field(default=None, description="Training: create a Vertex AI TensorBoard (default true).")
    pools: list[VertexPoolSpec] = Field(default_factory=list, description="Training: extra CPU resource pools.")

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
