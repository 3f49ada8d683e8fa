"""Pulumi pieces several paths share: NIC checks of an attachment, compact placement, SSH through IAP."""

from typing import Any, Callable, Optional

import pulumi
import pulumi_gcp as gcp

from ai_clusters.core.catalog import GpuFamily, NodeShape
from ai_clusters.core.nics import check_attachment
from ai_clusters.core.spec import Problem, ResolvedCluster, SpecError


def check_network_attachment(
    subject: str, shape: NodeShape, network: Any, add: Callable[[str, str], None], key: str = "network", what: str = ""
) -> None:
    """The NICs given against the family's layout: now when plain, at deployment when an Output (`what` prefixes each message)."""
    if network is None:
        add(key, "is required (ClusterNetwork.attachment(family, zone))")
        return
    if isinstance(network, pulumi.Output):

        def check(attachment: dict) -> dict:
            problems = check_attachment(shape.family, shape.gpus, attachment)
            if problems:
                raise SpecError([Problem(key, what + p) for p in problems], subject)
            return attachment

        network.apply(check)
        return
    for problem in check_attachment(shape.family, shape.gpus, network):
        add(key, what + problem)


def compact_placement(
    name: str,
    resolved: ResolvedCluster,
    parent: pulumi.Resource,
    vm_count: Optional[int] = None,
    family: Optional[GpuFamily] = None,
) -> gcp.compute.ResourcePolicy:
    """A compact placement policy (collocated group) for the cluster's nodes, or `vm_count` of `family`."""
    fam = family or (resolved.shape.family if resolved.shape else None)
    return gcp.compute.ResourcePolicy(
        f"{name}-placement",
        name=f"{name}-placement",
        region=resolved.region,
        group_placement_policy=gcp.compute.ResourcePolicyGroupPlacementPolicyArgs(
            vm_count=vm_count or resolved.nodes,
            collocation="COLLOCATED",
            gpu_topology=fam.placement_gpu_topology if fam else None,
        ),
        description=f"ai-clusters compact placement for {resolved.name}",
        project=resolved.project or None,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def ssh_command(node: str, zone: str, project: pulumi.Input[str]) -> pulumi.Output[str]:
    """SSH through Identity-Aware Proxy: the nodes have no external IP."""
    return pulumi.Output.concat("gcloud compute ssh ", node, f" --zone {zone} --tunnel-through-iap --project ", project)
