"""What every cluster component does the same way: validate its args, label, place, reach.

Components call `resolve_args` first, before they register anything: bad args end in one
SpecError naming every bad key, and nothing is half-created.
"""

from typing import Any, Optional

import pulumi
import pulumi_gcp as gcp

from ai_clusters.core import labels as contract
from ai_clusters.blocks.args import cluster_spec_input
from ai_clusters.core.catalog import GpuFamily, NodeShape, catalog, region_of
from ai_clusters.core.enums import ClusterPath
from ai_clusters.core.nics import check_attachment
from ai_clusters.core.spec import ClusterSpec, Problem, ResolvedCluster, SpecError, parse_model, resolve_cluster

PLAIN_KEYS = (
    "environment",
    "region",
    "zone",
    "workload",
    "machine_type",
    "gpu",
    "gpus_per_node",
    "nodes",
    "provisioning",
    "framework",
    "labels",
    "protect_data",
    "tpu",
)


def _contains_output(value: Any) -> bool:
    if isinstance(value, pulumi.Output):
        return True
    if isinstance(value, dict):
        return any(_contains_output(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_contains_output(v) for v in value)
    return False


def resolve_args(
    component: str,
    name: str,
    args: dict,
    path: ClusterPath,
    extra_spec: Optional[dict] = None,
    extra_checks=None,
) -> ResolvedCluster:
    """Validate a component's args with the stack's own models and checks; decide the defaults."""
    subject = f"{component} '{name}'"
    problems = [
        Problem(_camel(k), "must be a plain value known when the component is constructed, not an Output")
        for k in PLAIN_KEYS
        if _contains_output(args.get(k))
    ]
    for key in ("environment", "region"):
        if not isinstance(args.get(key), str) or not args.get(key):
            problems.append(Problem(key, "is required"))
    if problems:
        raise SpecError(problems, subject)
    try:
        spec = parse_model(ClusterSpec, cluster_spec_input(args, path, name, extra_spec))
        region = args["region"]
        zones = [args["zone"]] if args.get("zone") else catalog_zones(region)
        return resolve_cluster(
            spec,
            environment=args["environment"],
            project=args.get("project") or "",
            region=region,
            zones=zones,
            labels=None,
            protect_data=args.get("protect_data", True),
            extra_checks=extra_checks,
        )
    except SpecError as exc:
        raise SpecError(exc.problems, subject) from None


def catalog_zones(region: str) -> list[str]:
    """Every zone of `region` the catalog knows, in order."""
    cat = catalog()
    zones = {z for f in cat.families.values() for z in f.zones} | {z for g in cat.tpu_generations.values() for z in g.zones}
    return sorted(z for z in zones if region_of(z) == region)


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(p.title() for p in rest)


def cluster_labels(resolved: ResolvedCluster, min_replicas: Optional[int] = None, nodes: Optional[int] = None) -> dict[str, str]:
    """The contract labels of a cluster's accelerator resources (`nodes`: the most it scales to, if not `resolved.nodes`)."""
    w = resolved.spec.workload
    scaled = nodes is not None and resolved.shape is not None
    return contract.contract_labels(
        workload=w.kind,
        environment=resolved.environment,
        cluster=resolved.name,
        path=resolved.spec.path.value,
        accelerators=resolved.shape.gpus * nodes if scaled else resolved.accelerators,
        nodes=nodes if scaled else resolved.nodes,
        provisioning=resolved.provisioning,
        latency_ms=w.latency_ms,
        model_params_b=w.model_params_b,
        min_replicas=min_replicas,
        extra=resolved.labels,
    )


def attachment_problems(component: str, name: str, shape: NodeShape, network: Any) -> None:
    """Check the NICs given against the family's layout (now when plain, at deployment when an Output)."""

    def check(attachment: dict) -> None:
        problems = check_attachment(shape.family, shape.gpus, attachment)
        if problems:
            raise SpecError([Problem("network", p) for p in problems], f"{component} '{name}'")

    if network is None:
        raise SpecError([Problem("network", "is required (ClusterNetwork.attachment(family, zone))")], f"{component} '{name}'")
    if isinstance(network, pulumi.Output):
        network.apply(lambda a: check(a) or a)
    else:
        check(network)


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


def spec_args(cl: ResolvedCluster) -> dict:
    """A resolved stack cluster as component args: every default already decided."""
    args: dict = {
        "environment": cl.environment,
        "region": cl.region,
        "zone": cl.zone,
        "project": cl.project,
        "workload": cl.spec.workload.model_dump(exclude_none=True),
        "nodes": cl.nodes,
        "provisioning": cl.spec.provisioning.model_dump(exclude_none=True),
        "framework": cl.framework,
        "labels": cl.labels,
        "protect_data": cl.protect_data,
    }
    if cl.shape is not None:
        args["machine_type"] = cl.shape.machine_type
        if cl.shape.attached:
            args["gpu"] = cl.shape.gpu.compute_engine
            args["gpus_per_node"] = cl.shape.gpus
    return args
