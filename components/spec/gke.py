"""Options of the GKE path (`gke:` in a cluster of a stack)."""

from .base import SpecModel


class GkeOptions(SpecModel):
    """Options of the GKE path."""
