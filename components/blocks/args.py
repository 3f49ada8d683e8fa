"""Typed args shared by the components (TypedDicts, so Pulumi can infer the package schema).

Fields that shape the resource graph (machine type, counts, workload) are plain values, known
when the component is constructed; fields that wire resources together (network and subnet ids,
mount addresses) are `pulumi.Input`s. Every field carries a docstring: it becomes the schema's
description. The same keys are validated by the pydantic models in `ai_clusters.core.spec`.

No `from __future__ import annotations` here: schema inference reads the real annotations.
"""

from typing import TypedDict

import pulumi
from typing_extensions import NotRequired

from ai_clusters.core.enums import Framework, NicType
from ai_clusters.blocks.spec_args import ProvisioningArgs, WorkloadArgs


class NicArgs(TypedDict):
    """One network interface after the first (host) one."""

    network: pulumi.Input[str]
    """Self link or name of the VPC network."""
    subnetwork: pulumi.Input[str]
    """Self link or name of the subnetwork."""
    nic_type: NicType
    """GVNIC or MRDMA."""
    mtu: NotRequired[int]
    """MTU of the network (checked against the machine family's documented MTU)."""
    rdma_profile: NotRequired[bool]
    """True when the network was created with the zone's RoCE network profile."""


class NetworkAttachmentArgs(TypedDict):
    """Where a cluster's nodes plug in: the host network and the accelerator NICs, in order."""

    host_network: pulumi.Input[str]
    """Self link of the host VPC network (nic0)."""
    host_subnetwork: pulumi.Input[str]
    """Self link of the host subnetwork (nic0)."""
    host_mtu: NotRequired[int]
    """MTU of the host VPC."""
    extra_nics: NotRequired[list[NicArgs]]
    """The NICs after nic0, in the order the machine family needs them (GPU/RDMA NICs)."""
    pods_range_name: NotRequired[pulumi.Input[str]]
    """GKE: the host subnetwork's secondary range for pods."""
    services_range_name: NotRequired[pulumi.Input[str]]
    """GKE: the host subnetwork's secondary range for services."""


class MountArgs(TypedDict):
    """Shared storage a node mounts (an output of ClusterStorage)."""

    kind: str
    """filestore, lustre, parallelstore, gcsfuse or hyperdisk-ml."""
    mount_point: str
    """Where it is mounted on the node."""
    source: pulumi.Input[str]
    """What is mounted: `IP:/share`, `IP@tcp:/fs`, a bucket name, or a disk self link."""
    options: NotRequired[str]
    """Mount options."""


class ClusterArgs(TypedDict):
    """Args every cluster component takes (plain values, validated like a stack's cluster)."""

    environment: str
    """Environment name (dev, staging, prod …): the `ai-environment` label."""
    region: str
    """Region of the cluster, e.g. us-central1."""
    workload: WorkloadArgs
    """What the cluster runs."""
    zone: NotRequired[str]
    """Zone; default: the first zone (of the environment, or of the region) that offers the accelerator."""
    project: NotRequired[pulumi.Input[str]]
    """Project id; default: the provider's project."""
    nodes: NotRequired[int]
    """Number of nodes; default: enough for `workload.accelerators`."""
    provisioning: NotRequired[ProvisioningArgs]
    """How capacity is obtained (default on-demand)."""
    framework: NotRequired[Framework]
    """ML framework (jax, pytorch, tensorflow); picks runtimes and validation jobs."""
    labels: NotRequired[dict[str, str]]
    """Extra labels for every resource (the contract labels are added)."""
    protect_data: NotRequired[bool]
    """Protect stateful resources from deletion (default true)."""


class GpuClusterArgs(ClusterArgs):
    """Args of the GPU cluster components."""

    machine_type: NotRequired[str]
    """GPU machine type from the catalog; default: the advisor's top choice."""
    gpu: NotRequired[str]
    """N1 only: the GPU to attach, e.g. nvidia-tesla-t4."""
    gpus_per_node: NotRequired[int]
    """N1 only: GPUs attached per VM."""
