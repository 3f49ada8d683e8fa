"""`workload.accelerators` against what a cluster really has: one rule for every path.

`workload.accelerators` is the cluster's accelerators at full scale (every node, replica or slice it can
grow to). When nothing else sizes the cluster, the node count is derived from it, rounded up to whole
nodes. When something else does (`nodes`, `gke.autoscaling.maxNodes`, `vertex.maxReplicas`, a Slurm node
set's `staticNodes`/`dynamicNodes`, the TPU slice and `tpu.slices`), the two must agree: the cluster
must have at least the accelerators asked for, and less than one node (or slice) more. Otherwise
`workload.accelerators` is refused, naming what the cluster has, so a typed value never goes unused.
"""

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional

from ai_clusters.core.limits import MAX_CLUSTER_NODES
from ai_clusters.core.spec.tpu import MAX_SLICES

if TYPE_CHECKING:
    from ai_clusters.core.spec.resolve import ResolvedCluster

KEY = "workload.accelerators"


@dataclass(frozen=True)
class Capacity:
    """The accelerators a cluster has at full scale, and how it is sized."""

    accelerators: int
    """Accelerators at full scale (GPUs of every node, or TPU chips of every slice)."""
    per_unit: int
    """Accelerators one more node, replica or slice adds (the rounding a derived count allows)."""
    shape: str
    """What the cluster is, for messages: `2 nodes x 1 NVIDIA L4 (g2-standard-8)`."""
    resize_key: Optional[str] = None
    """The key whose count sizes the cluster (suggested in the message), when one key does."""
    resize_max: int = MAX_CLUSTER_NODES
    """The largest value `resize_key` takes."""


def plural(count: int, word: str) -> str:
    """`1 node`, `2 nodes`."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def default_capacity(resolved: "ResolvedCluster") -> Capacity:
    """A GPU cluster's nodes (sized by `nodes`), or a TPU cluster's slices (sized by `tpu.slices`)."""
    if resolved.shape is not None:
        shape = resolved.shape
        return Capacity(
            accelerators=shape.gpus * resolved.nodes,
            per_unit=shape.gpus,
            shape=f"{plural(resolved.nodes, 'node')} x {shape.gpus} {shape.gpu.model} ({shape.machine_type})",
            resize_key="nodes",
        )
    tpu = resolved.tpu
    assert tpu is not None
    slices = resolved.spec.tpu.slices if resolved.spec.tpu else 1
    return Capacity(
        accelerators=tpu.chips * slices,
        per_unit=tpu.chips,
        shape=f"{plural(slices, 'slice')} of {tpu.type.name} ({tpu.chips} chips each)",
        resize_key="tpu.slices",
        resize_max=MAX_SLICES,
    )


def check_capacity(add: Callable[[str, str], None], wanted: int, has: Capacity) -> None:
    """Refuse `workload.accelerators` when the cluster has fewer, or a whole node (slice) more, than asked for."""
    if wanted <= has.accelerators < wanted + has.per_unit:
        return
    message = f"{wanted} asked for, but the cluster has {has.accelerators}: {has.shape}; set workload.accelerators to {has.accelerators}"
    if has.resize_key:
        units = math.ceil(wanted / has.per_unit)
        if units <= has.resize_max:
            message += f", or {has.resize_key} to {units}"
        else:
            message += f" ({has.resize_key} goes up to {has.resize_max:,}: {has.resize_max * has.per_unit:,} accelerators)"
    add(KEY, message)


def check_derived_nodes(add: Callable[[str, str], None], wanted: int, per_node: int, machine: str) -> Optional[int]:
    """The nodes `wanted` accelerators need (rounded up); refused above the largest cluster."""
    nodes = max(1, math.ceil(wanted / per_node))
    if nodes > MAX_CLUSTER_NODES:
        add(
            KEY,
            f"{wanted:,} accelerators need {nodes:,} nodes of {machine} ({per_node} each); a cluster has at most "
            f"{MAX_CLUSTER_NODES:,} nodes ({MAX_CLUSTER_NODES * per_node:,} accelerators of {machine}): "
            "split the work over several clusters, or pick a machine type with more accelerators",
        )
        return None
    return nodes


__all__ = ["Capacity", "KEY", "check_capacity", "check_derived_nodes", "default_capacity", "plural"]
