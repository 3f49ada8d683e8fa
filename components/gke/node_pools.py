"""The node pools of a GkeCluster, built from its plan (`ai_clusters.gke.plan`).

`accelerator_node_pools` and `system_node_pool` build the NodePool resources; every node is private,
runs as the cluster's dedicated service account with Workload Identity, Shielded VM and gVNIC.
"""

from typing import Any, Optional

import pulumi
import pulumi_gcp as gcp

from ai_clusters.core.catalog import catalog, region_of
from ai_clusters.core.enums import GpuDriverVersion, GpuSharingStrategy
from ai_clusters.core.naming import last_segment
from ai_clusters.gke.options import GkeOptions
from ai_clusters.gke.plan import PoolPlan

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]  # access is limited by the account's IAM roles
IMAGE_TYPE = "COS_CONTAINERD"  # GPUDirect, multi-networking, Lustre CSI and GPU sharing need Container-Optimized OS
DRIVER_VERSIONS = {GpuDriverVersion.DEFAULT: "DEFAULT", GpuDriverVersion.LATEST: "LATEST", GpuDriverVersion.DISABLED: "INSTALLATION_DISABLED"}
SHARING = {GpuSharingStrategy.TIME_SHARING: "TIME_SHARING", GpuSharingStrategy.MPS: "MPS"}


# ---- the resources --------------------------------------------------------------------------------

def _taint(taint) -> gcp.container.NodePoolNodeConfigTaintArgs:
    return gcp.container.NodePoolNodeConfigTaintArgs(key=taint.key, value=taint.value, effect=taint.effect)


def _node_config(
    *,
    machine_type: str,
    service_account: pulumi.Input[str],
    resource_labels: dict[str, str],
    labels: dict[str, str],
    disk_gb: Optional[int] = None,
    **extra: Any,
) -> gcp.container.NodePoolNodeConfigArgs:
    """What every node gets: COS, gVNIC, Shielded VM, Workload Identity metadata, its own service account."""
    return gcp.container.NodePoolNodeConfigArgs(
        machine_type=machine_type,
        image_type=IMAGE_TYPE,
        disk_size_gb=disk_gb,
        service_account=service_account,
        oauth_scopes=SCOPES,
        resource_labels=resource_labels,
        labels=labels,
        gvnic=gcp.container.NodePoolNodeConfigGvnicArgs(enabled=True),
        shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
            enable_secure_boot=True, enable_integrity_monitoring=True
        ),
        workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
        metadata={"disable-legacy-endpoints": "true"},
        **extra,
    )


def _reservation_affinity(plan: PoolPlan) -> Optional[gcp.container.NodePoolNodeConfigReservationAffinityArgs]:
    if plan.reservation:
        return gcp.container.NodePoolNodeConfigReservationAffinityArgs(
            consume_reservation_type="SPECIFIC_RESERVATION",
            key="compute.googleapis.com/reservation-name",
            values=[plan.reservation],
        )
    if plan.spot or plan.flex_start:  # Dynamic Workload Scheduler and spot capacity never consume reservations
        return gcp.container.NodePoolNodeConfigReservationAffinityArgs(consume_reservation_type="NO_RESERVATION")
    return None


def _guest_accelerators(plan: PoolPlan) -> Optional[list[gcp.container.NodePoolNodeConfigGuestAcceleratorArgs]]:
    if plan.kind != "gpu":
        return None  # TPU machine types carry their chips
    sharing = plan.gpu_sharing
    return [
        gcp.container.NodePoolNodeConfigGuestAcceleratorArgs(
            type=plan.accelerator,
            count=plan.accelerators_per_node,
            gpu_driver_installation_config=gcp.container.NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
                gpu_driver_version=DRIVER_VERSIONS[plan.gpu_driver]
            ),
            gpu_sharing_config=gcp.container.NodePoolNodeConfigGuestAcceleratorGpuSharingConfigArgs(
                gpu_sharing_strategy=SHARING[sharing.strategy], max_shared_clients_per_gpu=sharing.max_clients
            )
            if sharing
            else None,
        )
    ]


def _additional_networks(extra_nics: list[dict]) -> list[gcp.container.NodePoolNetworkConfigAdditionalNodeNetworkConfigArgs]:
    """The family's GPU/RDMA NICs, in order, by VPC and subnet name (what GKE's API takes)."""
    return [
        gcp.container.NodePoolNetworkConfigAdditionalNodeNetworkConfigArgs(
            network=pulumi.Output.from_input(nic["network"]).apply(last_segment),
            subnetwork=pulumi.Output.from_input(nic["subnetwork"]).apply(last_segment),
        )
        for nic in extra_nics
    ]


def accelerator_node_pools(
    name: str,
    plan: PoolPlan,
    *,
    cluster: gcp.container.Cluster,
    location: str,
    zone: str,
    project: pulumi.Input[str],
    extra_nics: list[dict],
    service_account: pulumi.Input[str],
    labels: dict[str, str],
    parent: pulumi.Resource,
) -> list[gcp.container.NodePool]:
    """The GPU node pool, or one node pool per TPU slice."""
    facts = catalog().data.gke
    assert facts is not None
    child = pulumi.ResourceOptions(parent=parent)
    placement: Optional[gcp.container.NodePoolPlacementPolicyArgs] = None
    if plan.compact:
        policy_name = None
        if plan.accelerator_topology:  # A4X: a workload policy gives the NVLink domain's topology
            policy = gcp.compute.ResourcePolicy(
                f"{name}-workload-policy",
                name=f"{name}-workload-policy",
                region=region_of(zone),
                workload_policy=gcp.compute.ResourcePolicyWorkloadPolicyArgs(
                    type="HIGH_THROUGHPUT", accelerator_topology=plan.accelerator_topology
                ),
                project=project,
                opts=child,
            )
            policy_name = policy.name
        placement = gcp.container.NodePoolPlacementPolicyArgs(type="COMPACT", tpu_topology=plan.tpu_topology, policy_name=policy_name)
    taint = facts.gpu_taint if plan.kind == "gpu" else facts.tpu_taint
    scaled = plan.autoscaled and plan.min_nodes != plan.nodes
    pools = []
    for i in range(plan.pools):
        pool_name = f"{name}-{plan.kind}" if plan.pools == 1 else f"{name}-{plan.kind}-{i}"
        pools.append(
            gcp.container.NodePool(
                pool_name,
                name=pool_name,
                cluster=cluster.id,
                location=location,
                node_locations=[zone],
                node_count=None if scaled else plan.nodes,
                initial_node_count=plan.min_nodes if scaled else None,
                autoscaling=gcp.container.NodePoolAutoscalingArgs(
                    total_min_node_count=plan.min_nodes,
                    total_max_node_count=plan.nodes,
                    location_policy="ANY" if (plan.flex_start or plan.spot) else None,
                )
                if scaled
                else None,
                queued_provisioning=gcp.container.NodePoolQueuedProvisioningArgs(enabled=True) if plan.queued else None,
                placement_policy=placement,
                management=gcp.container.NodePoolManagementArgs(auto_repair=not plan.flex_start, auto_upgrade=True),
                upgrade_settings=gcp.container.NodePoolUpgradeSettingsArgs(strategy="SURGE", max_surge=0, max_unavailable=1),
                network_config=gcp.container.NodePoolNetworkConfigArgs(
                    enable_private_nodes=True,
                    additional_node_network_configs=_additional_networks(extra_nics) or None,
                ),
                node_config=_node_config(
                    machine_type=plan.machine_type,
                    service_account=service_account,
                    resource_labels=labels,
                    labels=labels,
                    guest_accelerators=_guest_accelerators(plan),
                    taints=[_taint(taint)],
                    spot=plan.spot or None,
                    flex_start=plan.flex_start or None,
                    max_run_duration=f"{plan.max_run_seconds}s" if plan.max_run_seconds else None,
                    reservation_affinity=_reservation_affinity(plan),
                    ephemeral_storage_local_ssd_config=gcp.container.NodePoolNodeConfigEphemeralStorageLocalSsdConfigArgs(
                        local_ssd_count=plan.local_ssd_count
                    )
                    if plan.local_ssd_count
                    else None,
                ),
                project=project,
                opts=child,
            )
        )
    return pools


def system_node_pool(
    name: str,
    options: GkeOptions,
    *,
    cluster: gcp.container.Cluster,
    location: str,
    zone: str,
    project: pulumi.Input[str],
    service_account: pulumi.Input[str],
    labels: dict[str, str],
    parent: pulumi.Resource,
) -> gcp.container.NodePool:
    """The small CPU pool for system pods, autoscaled between the catalog's (or the options') bounds."""
    facts = catalog().data.gke
    assert facts is not None
    wanted, default = options.system_pool, facts.system_pool
    low = wanted.min_nodes or default.min_nodes
    high = max(wanted.max_nodes or default.max_nodes, low)
    return gcp.container.NodePool(
        f"{name}-system",
        name=f"{name}-system",
        cluster=cluster.id,
        location=location,
        node_locations=[zone],
        initial_node_count=low,
        autoscaling=gcp.container.NodePoolAutoscalingArgs(total_min_node_count=low, total_max_node_count=high),
        management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
        network_config=gcp.container.NodePoolNetworkConfigArgs(enable_private_nodes=True),
        node_config=_node_config(
            machine_type=wanted.machine_type or default.machine_type,
            disk_gb=wanted.disk_gb or default.disk_gb,
            service_account=service_account,
            resource_labels=labels,
            labels=labels,
        ),
        project=project,
        opts=pulumi.ResourceOptions(parent=parent),
    )


__all__ = ["accelerator_node_pools", "system_node_pool"]
