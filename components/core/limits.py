"""This project's own limits on the size of a cluster (Google Cloud's limits live in the catalog, with sources).

They bound what a stack may ask for, so that a typo (`accelerators: 100000`) is refused with the
largest shape that fits instead of planning a hundred thousand VMs.
"""

MAX_CLUSTER_NODES = 10_000
"""The most nodes (VMs, GKE nodes, Slurm nodes, Vertex AI replicas) one cluster may have, however they are asked for."""

MAX_ACCELERATORS = 100_000
"""The most accelerators a workload may ask for (`workload.accelerators`)."""

__all__ = ["MAX_ACCELERATORS", "MAX_CLUSTER_NODES"]
