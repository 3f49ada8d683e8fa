"""The TPU block of a cluster (`tpu:`), for the TPU VM path and GKE TPU node pools."""

from typing import Optional

from pydantic import Field, model_validator

from .base import SpecModel


class TpuSpec(SpecModel):
    """A TPU slice, given as an accelerator type or as generation + topology."""

    type: Optional[str] = Field(default=None, description="Accelerator type, e.g. v5litepod-16.")
    generation: Optional[str] = Field(default=None, description="Generation id from the catalog (v5e, v5p, v6e …).")
    topology: Optional[str] = Field(default=None, pattern=r"^\d+x\d+(x\d+)?$")
    runtime_version: Optional[str] = None
    slices: int = Field(default=1, ge=1, le=64, description="Number of slices (multislice when > 1).")

    @model_validator(mode="after")
    def _one_way(self) -> "TpuSpec":
        if self.type is None and (self.generation is None or self.topology is None):
            raise ValueError("give either `type` or both `generation` and `topology`")
        return self
