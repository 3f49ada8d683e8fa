"""The plan of a GpuVmCluster, decided before anything is registered (pure: no Pulumi here).

On-demand and reserved nodes are individual instances (stable names for training jobs); spot nodes
are a managed instance group that recreates what is preempted; flex-start nodes are a managed
instance group grown by a resize request (Dynamic Workload Scheduler).
"""

from dataclasses import dataclass
from typing import Optional

from ai_clusters.compute_engine.options import ComputeEngineOptions
from ai_clusters.core.enums import ClusterPath, ProvisioningModel
from ai_clusters.core.spec import ResolvedCluster
from ai_clusters.core.spec.paths import Add, PathDefinition


@dataclass(frozen=True)
class VmPlan:
    """How the nodes of a GpuVmCluster are made."""

    options: ComputeEngineOptions
    managed_group: bool
    """A managed instance group owns the nodes (spot, flex-start, or asked for); else individual instances."""
    image: str
    """`projects/P/global/images/family/F` of the boot disk."""


def plan_vms(resolved: ResolvedCluster, add: Add) -> Optional[VmPlan]:
    """Instances or a managed instance group, and the boot image; every impossible option reported through `add`."""
    options: ComputeEngineOptions = resolved.options
    shape = resolved.shape
    assert shape is not None
    model = resolved.provisioning
    group = options.managed_instance_group
    if group is None:
        group = model in (ProvisioningModel.SPOT, ProvisioningModel.FLEX_START)
    if model == ProvisioningModel.FLEX_START and not group:
        add("computeEngine.managedInstanceGroup", "flex-start nodes come from a managed instance group; leave it unset or true")
        return None
    image = shape.family.image
    family = options.image_family or image.family
    project = options.image_project if options.image_family else image.project
    return VmPlan(options=options, managed_group=group, image=f"projects/{project}/global/images/family/{family}")


PATH = PathDefinition(
    path=ClusterPath.COMPUTE_ENGINE,
    plan=plan_vms,
    component="ai_clusters.compute_engine.component:from_resolved",
    options_key="compute_engine",
    options_model=ComputeEngineOptions,
)

__all__ = ["PATH", "VmPlan", "plan_vms"]
