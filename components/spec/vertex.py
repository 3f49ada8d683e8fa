"""Options of the Vertex AI path (`vertex:` in a cluster of a stack)."""

from .base import SpecModel


class VertexOptions(SpecModel):
    """Options of the Vertex AI path."""
