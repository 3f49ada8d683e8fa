"""Component args generated from the pydantic models of ai_clusters.compute_engine.options: do not edit.

Regenerate with `make args` (ai_clusters.tooling.args_codegen); tests/test_architecture.py fails when
this file and the models differ. No `from __future__ import annotations`: schema inference reads the
real annotations."""

from typing import TypedDict
from typing_extensions import NotRequired


class ComputeEngineOptionsArgs(TypedDict):
    """Options of the Compute Engine path."""

    image_family: NotRequired[str]
    """Boot image family; default: the catalog's image for the GPU family."""
    image_project: NotRequired[str]
    """Project of the boot image family."""
    boot_disk_gb: NotRequired[int]
    """Boot disk size in GB (default 200)."""
    managed_instance_group: NotRequired[bool]
    """Force a managed instance group (true) or individual instances (false)."""


__all__ = ["ComputeEngineOptionsArgs"]
