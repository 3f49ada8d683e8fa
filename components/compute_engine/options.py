"""Options of the Compute Engine path (`computeEngine:` in a cluster of a stack)."""

from typing import Optional

from pydantic import Field

from ai_clusters.core.spec.base import SpecModel


class ComputeEngineOptions(SpecModel):
    """Options of the Compute Engine path."""

    image_family: Optional[str] = None
    """Boot image family; default: the catalog's image for the GPU family."""
    image_project: str = "deeplearning-platform-release"
    """Project of the boot image family."""
    boot_disk_gb: int = Field(default=200, ge=50, le=65_536)
    """Boot disk size in GB (default 200)."""
    managed_instance_group: Optional[bool] = None
    """Force a managed instance group (true) or individual instances (false)."""
