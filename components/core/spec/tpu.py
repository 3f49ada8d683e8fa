"""The TPU block of a cluster (`tpu:`), for the TPU VM path and GKE TPU node pools."""

from typing import Optional

from pydantic import Field, model_validator

from ai_clusters.core.spec.base import SpecModel


class TpuDataDiskSpec(SpecModel):
    """A new persistent disk attached read-write to a single-host TPU VM (TPU VM path only)."""

    size_gb: int = Field(ge=10, le=65_536, description="Size in GB.")
    type: Optional[str] = Field(default=None, description="Disk type; default: the generation's first data disk type in the catalog.")
    mount_point: str = Field(default="/mnt/data", pattern=r"^/[A-Za-z0-9_./-]*$")


class TpuSpec(SpecModel):
    """A TPU slice, given as an accelerator type or as generation + topology."""

    type: Optional[str] = Field(default=None, description="Accelerator type, e.g. v5litepod-16.")
    generation: Optional[str] = Field(default=None, description="Generation id from the catalog (v5e, v5p, v6e …).")
    topology: Optional[str] = Field(default=None, pattern=r"^\d+x\d+(x\d+)?$")
    runtime_version: Optional[str] = None
    slices: int = Field(default=1, ge=1, le=64, description="Number of slices (multislice when > 1).")
    data_disks: list[TpuDataDiskSpec] = Field(
        default_factory=list, max_length=8, description="TPU VM path: new disks attached read-write (single-host slices only)."
    )
    startup_script: Optional[str] = Field(
        default=None, max_length=32_768, description="TPU VM path: commands run as root on every worker after the storage is mounted."
    )

    @model_validator(mode="after")
    def _one_way(self) -> "TpuSpec":
        if self.type is None and (self.generation is None or self.topology is None):
            raise ValueError("give either `type` or both `generation` and `topology`")
        return self

    @property
    def vm_only_keys(self) -> list[str]:
        """Keys set here that only the TPU VM path understands."""
        return [key for key, value in (("dataDisks", self.data_disks), ("startupScript", self.startup_script)) if value]
