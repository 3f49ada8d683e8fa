"""Component args generated from the pydantic models of ai_clusters.core.spec.models: do not edit.

Regenerate with `make args` (ai_clusters.tooling.args_codegen); tests/test_architecture.py fails when
this file and the models differ. No `from __future__ import annotations`: schema inference reads the
real annotations."""

from typing import TypedDict
from typing_extensions import NotRequired

from ai_clusters.core.enums import HpcOffload, ProvisioningModel, WorkloadKind


class WorkloadArgs(TypedDict):
    """What a cluster runs; drives the labels the policies read."""

    kind: WorkloadKind
    """pretraining, finetuning, inference, graphics or hpc."""
    accelerators: int
    """Accelerators wanted in total (GPUs, or TPU chips)."""
    model_params_b: NotRequired[float]
    """Model size in billions of parameters (sizes the accelerator memory)."""
    latency_ms: NotRequired[int]
    """Inference only: the latency target in milliseconds."""
    hours_per_month: NotRequired[float]
    """Expected hours of use per month (default 730), for the monthly cost."""
    hpc_offload: NotRequired[HpcOffload]
    """HPC only: how much of the computation runs on the GPU."""


class ProvisioningArgs(TypedDict):
    """How capacity is obtained."""

    model: NotRequired[ProvisioningModel]
    """on-demand (default), spot, flex-start or reservation."""
    reservation: NotRequired[str]
    """With model `reservation`: the name of the specific reservation to consume."""
    max_run_hours: NotRequired[int]
    """With model `flex-start`: the longest run, at most 168 hours."""


class BucketArgs(TypedDict):
    """Cloud Storage bucket for data and checkpoints."""

    enabled: NotRequired[bool]
    """Create the bucket (default true)."""
    hierarchical_namespace: NotRequired[bool]
    """Hierarchical namespace: fast directory renames for checkpoints (default true)."""
    soft_delete_days: NotRequired[int]
    """Days deleted objects stay recoverable (default 7, 0 turns soft delete off)."""
    delete_after_days: NotRequired[int]
    """Lifecycle: delete objects older than this many days."""
    nearline_after_days: NotRequired[int]
    """Lifecycle: move objects to Nearline after this many days."""


class FilestoreArgs(TypedDict):
    """A Filestore NFS share."""

    tier: NotRequired[str]
    """Service tier: BASIC_HDD, BASIC_SSD, ZONAL, REGIONAL, ENTERPRISE (default ZONAL)."""
    capacity_gb: NotRequired[int]
    """Capacity in GiB (at least the tier's minimum)."""
    share_name: NotRequired[str]
    """Name of the file share (default share)."""
    mount_point: NotRequired[str]
    """Where nodes mount it (default /home)."""


class LustreArgs(TypedDict):
    """A Google Cloud Managed Lustre file system."""

    capacity_gb: NotRequired[int]
    """Capacity in GiB (a multiple of the throughput tier's step)."""
    throughput_mbps_per_tib: NotRequired[int]
    """Throughput tier in MB/s per TiB."""
    filesystem: NotRequired[str]
    """Lustre file system name (at most 8 letters and digits)."""
    mount_point: NotRequired[str]
    """Where nodes mount it (default /lustre)."""


class ParallelstoreArgs(TypedDict):
    """A Parallelstore (DAOS) file system."""

    capacity_gb: NotRequired[int]
    """Capacity in GiB."""
    deployment_type: NotRequired[str]
    """SCRATCH or PERSISTENT."""
    mount_point: NotRequired[str]
    """Where nodes mount it (default /parallelstore)."""


class HyperdiskMlArgs(TypedDict):
    """A Hyperdisk ML volume for model weights, attached read-only to many nodes."""

    size_gb: NotRequired[int]
    """Size in GiB."""
    throughput_mibps: NotRequired[int]
    """Provisioned throughput in MiB/s."""
    mount_point: NotRequired[str]
    """Where nodes mount it (default /models)."""
    source_snapshot: NotRequired[str]
    """Snapshot holding the model weights; the disk is then read-only for many nodes at once."""


class StorageArgs(TypedDict):
    """The storage of one cluster; left out, defaults follow the workload kind."""

    bucket: NotRequired[BucketArgs]
    """Cloud Storage bucket (on by default)."""
    filestore: NotRequired[FilestoreArgs]
    """Filestore share."""
    lustre: NotRequired[LustreArgs]
    """Managed Lustre file system."""
    parallelstore: NotRequired[ParallelstoreArgs]
    """Parallelstore file system."""
    hyperdisk_ml: NotRequired[HyperdiskMlArgs]
    """Hyperdisk ML volume."""


__all__ = ["BucketArgs", "FilestoreArgs", "HyperdiskMlArgs", "LustreArgs", "ParallelstoreArgs", "ProvisioningArgs", "StorageArgs", "WorkloadArgs"]
