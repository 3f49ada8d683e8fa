"""Component args generated from the pydantic models of ai_clusters.vertex.options: do not edit.

Regenerate with `make args` (ai_clusters.tooling.args_codegen); tests/test_architecture.py fails when
this file and the models differ. No `from __future__ import annotations`: schema inference reads the
real annotations."""

from typing import TypedDict
from typing_extensions import NotRequired

from ai_clusters.vertex.options import AutoscalingMetric, VertexEndpoint, VertexMode, VertexNetworking


class VertexPoolArgs(TypedDict):
    """An extra CPU resource pool of a persistent resource."""

    machine_type: str
    """A CPU machine type Vertex AI offers for training (e.g. n2-highcpu-16 for a Reduction Server)."""
    replicas: NotRequired[int]
    """Replicas the pool starts with (default 1)."""
    min_replicas: NotRequired[int]
    """Autoscaling floor (at least 1)."""
    max_replicas: NotRequired[int]
    """Autoscaling ceiling."""
    boot_disk_gb: NotRequired[int]
    """Boot disk size per replica (100-64,000 GB, default 100)."""
    boot_disk_type: NotRequired[str]
    """pd-ssd, pd-standard or hyperdisk-balanced."""


class VertexOptionsArgs(TypedDict):
    """Options of the Vertex AI path."""

    mode: NotRequired[VertexMode]
    """training or serving; default: serving for inference workloads, else training."""
    accelerator_type: NotRequired[str]
    """Accelerator enum as Vertex AI names it (NVIDIA_H100_80GB …); default and check: the one the machine type carries."""
    accelerator_count: NotRequired[int]
    """Accelerators per replica; default and check: the machine type's."""
    min_replicas: NotRequired[int]
    """Autoscaling floor (serving default 1; training: autoscaling only when set)."""
    max_replicas: NotRequired[int]
    """Autoscaling ceiling (serving default: nodes)."""
    boot_disk_gb: NotRequired[int]
    """Training: boot disk size per replica (100-64,000 GB, default 100)."""
    boot_disk_type: NotRequired[str]
    """Training: pd-ssd, pd-standard or hyperdisk-balanced (default: the first the machine type takes)."""
    networking: NotRequired[VertexNetworking]
    """vpc-peering (private services access) or private-service-connect."""
    psc_interface_cidr: NotRequired[str]
    """Training over a PSC interface: range of a new subnet for the network attachment (a /28 is recommended)."""
    network_attachment: NotRequired[str]
    """Training over a PSC interface: an existing network attachment instead."""
    endpoint: NotRequired[VertexEndpoint]
    """Serving: private (VPC peering) or dedicated (Private Service Connect, the default)."""
    autoscaling_metric: NotRequired[AutoscalingMetric]
    """Serving: gpu-duty-cycle (default) or cpu-utilization."""
    autoscaling_target: NotRequired[int]
    """Serving: target utilization in percent (default 60)."""
    kms_key: NotRequired[str]
    """CMEK key, projects/P/locations/REGION/keyRings/R/cryptoKeys/K, in the cluster's region."""
    tensorboard: NotRequired[bool]
    """Training: create a Vertex AI TensorBoard (default true)."""
    pools: NotRequired[list[VertexPoolArgs]]
    """Training: extra CPU resource pools."""


__all__ = ["VertexOptionsArgs", "VertexPoolArgs"]
