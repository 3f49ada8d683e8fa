"""Options of the Cluster Toolkit / Slurm path (`slurm:` in a cluster of a stack)."""

from .base import SpecModel


class SlurmOptions(SpecModel):
    """Options of the Cluster Toolkit / Slurm path."""
