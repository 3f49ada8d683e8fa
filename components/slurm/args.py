"""Component args generated from the pydantic models of ai_clusters.slurm.options: do not edit.

Regenerate with `make args` (ai_clusters.tooling.args_codegen); tests/test_architecture.py fails when
this file and the models differ. No `from __future__ import annotations`: schema inference reads the
real annotations."""

from typing import TypedDict
from typing_extensions import NotRequired

from ai_clusters.blocks.spec_args import FilestoreArgs, ProvisioningArgs
from ai_clusters.core.enums import WorkloadKind


class SlurmControllerArgs(TypedDict):
    """The controller."""

    machine_type: NotRequired[str]
    """CPU machine type; default: the catalog's controller machine type."""
    boot_disk_gb: NotRequired[int]
    """Boot disk size in GB (default 100): Slurm state and, without Cloud SQL, the accounting database."""


class SlurmLoginArgs(TypedDict):
    """The login nodes."""

    name: NotRequired[str]
    """Login group name (default login)."""
    count: NotRequired[int]
    """Number of login nodes (default 1)."""
    machine_type: NotRequired[str]
    """CPU machine type; default: the catalog's login machine type."""
    boot_disk_gb: NotRequired[int]
    """Boot disk size in GB (default 100)."""


class SlurmNodeSetArgs(TypedDict):
    """One node set: identical nodes from one instance template."""

    name: str
    """Node set name: lowercase letters and digits, at most 14."""
    machine_type: NotRequired[str]
    """GPU machine type, or a CPU machine type of the catalog's Slurm section; default: the cluster's."""
    gpu: NotRequired[str]
    """N1 only: the GPU to attach."""
    gpus_per_node: NotRequired[int]
    """N1 only: GPUs per node."""
    static_nodes: NotRequired[int]
    """Nodes that always run."""
    dynamic_nodes: NotRequired[int]
    """Nodes Slurm creates per job and deletes when idle."""
    provisioning: NotRequired[ProvisioningArgs]
    """How capacity is obtained; default: the cluster's (for its machine type) or on-demand."""
    workload: NotRequired[WorkloadKind]
    """What this node set runs when it differs from the cluster (e.g. inference for a G2 evaluation set)."""
    image_family: NotRequired[str]
    """Boot image family; default: the cluster's."""
    image_name: NotRequired[str]
    """Boot image by name (e.g. one the exported blueprint's image group built); default: the cluster's."""
    image_project: NotRequired[str]
    """Project of image_family or image_name (default for image_name: the cluster's project)."""
    boot_disk_gb: NotRequired[int]
    """Boot disk size in GB (default 200 for GPU nodes, 100 for CPU nodes)."""
    placement: NotRequired[bool]
    """Compact placement; default: on for GPUDirect node sets of more than one node."""
    node_conf: NotRequired[dict[str, str]]
    """Slurm NodeName line overrides (CoresPerSocket …)."""


class SlurmPartitionArgs(TypedDict):
    """A partition: the node sets a job may land on."""

    name: str
    """Partition name."""
    node_sets: list[str]
    """Names of its node sets."""
    default: NotRequired[bool]
    """Jobs that name no partition run here (default: the first partition)."""
    exclusive: NotRequired[bool]
    """Whole nodes per job; default: on for GPU partitions of training workloads."""
    suspend_time: NotRequired[int]
    """Idle seconds before dynamic nodes are deleted (-1: never)."""
    resume_timeout: NotRequired[int]
    """Seconds a node may take to come up."""
    conf: NotRequired[dict[str, str]]
    """Further Slurm partition settings (MaxTime …)."""


class SlurmAccountingArgs(TypedDict):
    """Cloud SQL for MySQL as the accounting database."""

    password_secret: str
    """Secret Manager secret holding the database password (its latest version is read)."""
    tier: NotRequired[str]
    """Cloud SQL tier (default db-custom-2-7680)."""
    edition: NotRequired[str]
    """ENTERPRISE (default) or ENTERPRISE_PLUS."""
    database_version: NotRequired[str]
    """MYSQL_5_7, MYSQL_8_0 (default) or MYSQL_8_4."""


class SlurmOptionsArgs(TypedDict):
    """Options of the Slurm path."""

    cluster_name: NotRequired[str]
    """Slurm cluster name (node names start with it); default: the component's name."""
    image_family: NotRequired[str]
    """Boot image family of every node; default: the catalog's slurm-gcp public image."""
    image_name: NotRequired[str]
    """Boot image of every node by name; default: the catalog's slurm-gcp public image."""
    image_project: NotRequired[str]
    """Project of image_family or image_name (default for image_name: the cluster's project)."""
    auth: NotRequired[str]
    """slurm (Slurm's own auth/slurm, the default: MUNGE is deprecated in slurm-gcp) or munge; switching an existing cluster needs it recreated."""
    controller: NotRequired[SlurmControllerArgs]
    """The controller."""
    login: NotRequired[SlurmLoginArgs]
    """The login nodes."""
    node_sets: NotRequired[list[SlurmNodeSetArgs]]
    """Node sets; default: one of the cluster's machine type."""
    partitions: NotRequired[list[SlurmPartitionArgs]]
    """Partitions; default: one per node set."""
    home: NotRequired[FilestoreArgs]
    """Filestore for /home when the storage has none (default ZONAL, 1 TiB)."""
    accounting: NotRequired[SlurmAccountingArgs]
    """Cloud SQL accounting database (default: MariaDB on the controller)."""
    scripts_dir: NotRequired[str]
    """Local folder of the slurm-gcp scripts to upload; default: the pinned Cluster Toolkit release's."""
    scripts_url: NotRequired[str]
    """Tarball of the Cluster Toolkit source to take the scripts from (a mirror: https:// or gs://); default: the pinned release on GitHub."""
    stage_scripts: NotRequired[bool]
    """Copy the scripts tarball into the config bucket at deployment, so nodes need no internet (default); false: every node downloads it."""


__all__ = ["SlurmAccountingArgs", "SlurmControllerArgs", "SlurmLoginArgs", "SlurmNodeSetArgs", "SlurmOptionsArgs", "SlurmPartitionArgs"]
