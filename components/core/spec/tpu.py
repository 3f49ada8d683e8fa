"""The TPU block of a cluster (`tpu:`), for the TPU VM path and GKE TPU node pools."""

from typing import Optional

from pydantic import Field, model_validator

from ai_clusters.core.spec.base import SpecModel

MAX_SLICES = 64
"""The most slices of one multislice cluster (`tpu.slices`)."""


class TpuDataDiskSpec(SpecModel):
    """A new disk attached read-write to a single-host TPU VM."""

    size_gb: int = Field(ge=10, le=65_536)
    """Size in GB."""
    type: Optional[str] = None
    """Disk type; default: the generation's first data disk type in the catalog (pd-balanced, hyperdisk-balanced)."""
    mount_point: str = Field(default="/mnt/data", pattern=r"^/[A-Za-z0-9_./-]*$")
    """Where it is mounted (default /mnt/data)."""


class TpuQueueSpec(SpecModel):
    """How a queued resource waits for capacity (TPU VM path: multi-host, multislice, spot, reserved and flex-start slices)."""

    valid_until_hours: Optional[int] = Field(default=None, ge=1, le=720)
    """The request expires (state FAILED) when it is not filled within this many hours (queueingPolicy.validUntilDuration); default: it waits until deleted."""
    create_timeout_minutes: Optional[int] = Field(default=None, ge=1, le=43_200)
    """How long `pulumi up` waits for the slices to be ACTIVE before it deletes the request and fails; default: validUntilHours plus 30 minutes, else 60."""


class TpuSpec(SpecModel):
    """The TPU slice(s): an accelerator type, or a generation and a topology."""

    type: Optional[str] = None
    """Accelerator type, e.g. v5litepod-16."""
    generation: Optional[str] = None
    """Generation id from the catalog (v4, v5e, v5p, v6e), with `topology`."""
    topology: Optional[str] = Field(default=None, pattern=r"^\d+x\d+(x\d+)?$")
    """Topology in chips, e.g. 4x4 or 2x2x2, with `generation`."""
    runtime_version: Optional[str] = None
    """TPU VM runtime; default: the catalog's runtime for the generation and the framework."""
    slices: int = Field(default=1, ge=1, le=MAX_SLICES)
    """Number of slices (multislice when more than 1)."""
    data_disks: list[TpuDataDiskSpec] = Field(default_factory=list, max_length=8)
    """New disks attached read-write (single-host, single-slice clusters only)."""
    startup_script: Optional[str] = Field(default=None, max_length=32_768)
    """Commands run as root on every worker at boot, after the storage is mounted."""
    queue: Optional[TpuQueueSpec] = None
    """Waiting for capacity, for slices made through a queued resource (multi-host, multislice, spot, reserved, flex-start)."""

    @model_validator(mode="after")
    def _one_way(self) -> "TpuSpec":
        if self.type is None and (self.generation is None or self.topology is None):
            raise ValueError("give either `type` or both `generation` and `topology`")
        return self

    @property
    def vm_only_keys(self) -> list[str]:
        """Keys set here that only the TPU VM path understands."""
        return [key for key, value in (("dataDisks", self.data_disks), ("startupScript", self.startup_script), ("queue", self.queue)) if value]
