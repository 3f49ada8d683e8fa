"""Component args generated from the pydantic models of ai_clusters.core.spec.tpu: do not edit.

Regenerate with `make args` (ai_clusters.tooling.args_codegen); tests/test_architecture.py fails when
this file and the models differ. No `from __future__ import annotations`: schema inference reads the
real annotations."""

from typing import TypedDict
from typing_extensions import NotRequired


class TpuDataDiskArgs(TypedDict):
    """A new disk attached read-write to a single-host TPU VM."""

    size_gb: int
    """Size in GB."""
    type: NotRequired[str]
    """Disk type; default: the generation's first data disk type in the catalog (pd-balanced, hyperdisk-balanced)."""
    mount_point: NotRequired[str]
    """Where it is mounted (default /mnt/data)."""


class TpuQueueArgs(TypedDict):
    """How a queued resource waits for capacity (TPU VM path: multi-host, multislice, spot, reserved and flex-start slices)."""

    valid_until_hours: NotRequired[int]
    """The request expires (state FAILED) when it is not filled within this many hours (queueingPolicy.validUntilDuration); default: it waits until deleted."""
    create_timeout_minutes: NotRequired[int]
    """How long `pulumi up` waits for the slices to be ACTIVE before it deletes the request and fails; default: validUntilHours plus 30 minutes, else 60."""


class TpuSliceArgs(TypedDict):
    """The TPU slice(s): an accelerator type, or a generation and a topology."""

    type: NotRequired[str]
    """Accelerator type, e.g. v5litepod-16."""
    generation: NotRequired[str]
    """Generation id from the catalog (v4, v5e, v5p, v6e), with `topology`."""
    topology: NotRequired[str]
    """Topology in chips, e.g. 4x4 or 2x2x2, with `generation`."""
    runtime_version: NotRequired[str]
    """TPU VM runtime; default: the catalog's runtime for the generation and the framework."""
    slices: NotRequired[int]
    """Number of slices (multislice when more than 1)."""
    data_disks: NotRequired[list[TpuDataDiskArgs]]
    """New disks attached read-write (single-host, single-slice clusters only)."""
    startup_script: NotRequired[str]
    """Commands run as root on every worker at boot, after the storage is mounted."""
    queue: NotRequired[TpuQueueArgs]
    """Waiting for capacity, for slices made through a queued resource (multi-host, multislice, spot, reserved, flex-start)."""


__all__ = ["TpuDataDiskArgs", "TpuQueueArgs", "TpuSliceArgs"]
