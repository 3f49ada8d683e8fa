"""Options of the Compute Engine path (`computeEngine:` in a cluster of a stack)."""

from typing import Optional

from pydantic import Field

from ai_clusters.core.spec.base import SpecModel


class ComputeEngineOptions(SpecModel):
    """Options of the Compute Engine path."""

    image_family: Optional[str] = Field(default=None, description="Boot image family; default: the catalog's image for the GPU family.")
    image_project: str = Field(default="deeplearning-platform-release", description="Project of image_family.")
    boot_disk_gb: int = Field(default=200, ge=50, le=65_536)
    managed_instance_group: Optional[bool] = Field(default=None, description="Force a MIG (true) or single instances (false).")
