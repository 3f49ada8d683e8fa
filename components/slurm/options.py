"""Options of the Cluster Toolkit / Slurm path (`slurm:` in a cluster of a stack).

A Slurm cluster is a controller, one login group and node sets grouped into partitions. The
cluster's own `machineType`, `nodes` and `provisioning` describe its main (training) node set;
`nodeSets` adds others (a CPU or G2 debug set, a spot set …) and `partitions` groups them. Left
out, the cluster gets one node set of its machine type and one partition holding it.

These models check shape only (names, references between partitions and node sets, ranges);
machine types, images and capacity are checked against the catalog when the cluster is built
(`ai_clusters.slurm.plan`).
"""

from typing import Any, Optional, Union

from pydantic import Field, field_validator, model_validator

from ai_clusters.core.enums import WorkloadKind
from ai_clusters.core.limits import MAX_CLUSTER_NODES
from ai_clusters.core.spec.base import SpecModel
from ai_clusters.core.spec.models import FilestoreSpec, ProvisioningSpec

NODE_SET_RE = r"^[a-z][a-z0-9]{0,13}$"  # slurm-gcp keeps letters and digits, at most 14
PARTITION_RE = r"^[a-z][a-z0-9-]{0,29}$"
LOGIN_GROUP_RE = r"^[a-z][a-z0-9-]{0,14}$"
SLURM_CLUSTER_RE = r"^[a-z][-a-z0-9]{0,19}$"  # the controller module's slurm_cluster_name rule
IMAGE_NAME_RE = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"  # Compute Engine image names
ConfValue = Union[str, int]


class SlurmNodeSetSpec(SpecModel):
    """One node set: identical nodes from one instance template."""

    name: str = Field(pattern=NODE_SET_RE)
    """Node set name: lowercase letters and digits, at most 14."""
    machine_type: Optional[str] = None
    """GPU machine type, or a CPU machine type of the catalog's Slurm section; default: the cluster's."""
    gpu: Optional[str] = None
    """N1 only: the GPU to attach."""
    gpus_per_node: Optional[int] = Field(default=None, ge=1, le=16)
    """N1 only: GPUs per node."""
    static_nodes: Optional[int] = Field(default=None, ge=0, le=MAX_CLUSTER_NODES)
    """Nodes that always run."""
    dynamic_nodes: Optional[int] = Field(default=None, ge=0, le=MAX_CLUSTER_NODES)
    """Nodes Slurm creates per job and deletes when idle."""
    provisioning: Optional[ProvisioningSpec] = None
    """How capacity is obtained; default: the cluster's (for its machine type) or on-demand."""
    workload: Optional[WorkloadKind] = None
    """What this node set runs when it differs from the cluster (e.g. inference for a G2 evaluation set)."""
    image_family: Optional[str] = None
    """Boot image family; default: the cluster's."""
    image_name: Optional[str] = Field(default=None, pattern=IMAGE_NAME_RE)
    """Boot image by name (e.g. one the exported blueprint's image group built); default: the cluster's."""
    image_project: Optional[str] = None
    """Project of image_family or image_name (default for image_name: the cluster's project)."""
    boot_disk_gb: Optional[int] = Field(default=None, ge=50, le=65_536)
    """Boot disk size in GB (default 200 for GPU nodes, 100 for CPU nodes)."""
    placement: Optional[bool] = None
    """Compact placement; default: on for GPUDirect node sets of more than one node."""
    node_conf: dict[str, ConfValue] = Field(default_factory=dict)
    """Slurm NodeName line overrides (CoresPerSocket …)."""

    @field_validator("node_conf")
    @classmethod
    def _no_sockets(cls, conf: dict[str, ConfValue]) -> dict[str, ConfValue]:
        if "Sockets" in conf:
            raise ValueError("`Sockets` conflicts with the SocketsPerBoard slurm-gcp writes; set Boards/SocketsPerBoard/CoresPerSocket instead")
        return conf

    @model_validator(mode="after")
    def _has_nodes(self) -> "SlurmNodeSetSpec":
        if self.image_name and self.image_family:
            raise ValueError("give `imageName` or `imageFamily`, not both")
        if self.static_nodes == 0 and self.dynamic_nodes == 0:
            raise ValueError(f"node set {self.name!r} has no nodes: give staticNodes or dynamicNodes")
        if self.gpus_per_node is not None and self.gpu is None:
            raise ValueError("`gpusPerNode` is for N1 machine types with an attached `gpu`")
        return self


class SlurmPartitionSpec(SpecModel):
    """A partition: the node sets a job may land on."""

    name: str = Field(pattern=PARTITION_RE)
    """Partition name."""
    node_sets: list[str] = Field(min_length=1)
    """Names of its node sets."""
    default: bool = False
    """Jobs that name no partition run here (default: the first partition)."""
    exclusive: Optional[bool] = None
    """Whole nodes per job; default: on for GPU partitions of training workloads."""
    suspend_time: Optional[int] = Field(default=None, ge=-1)
    """Idle seconds before dynamic nodes are deleted (-1: never)."""
    resume_timeout: Optional[int] = Field(default=None, gt=0, lt=65_536)
    """Seconds a node may take to come up."""
    conf: dict[str, ConfValue] = Field(default_factory=dict)
    """Further Slurm partition settings (MaxTime …)."""


class SlurmLoginSpec(SpecModel):
    """The login nodes."""

    name: str = Field(default="login", pattern=LOGIN_GROUP_RE)
    """Login group name (default login)."""
    count: int = Field(default=1, ge=1, le=16)
    """Number of login nodes (default 1)."""
    machine_type: Optional[str] = None
    """CPU machine type; default: the catalog's login machine type."""
    boot_disk_gb: int = Field(default=100, ge=50, le=65_536)
    """Boot disk size in GB (default 100)."""


class SlurmControllerSpec(SpecModel):
    """The controller."""

    machine_type: Optional[str] = None
    """CPU machine type; default: the catalog's controller machine type."""
    boot_disk_gb: int = Field(default=100, ge=50, le=65_536)
    """Boot disk size in GB (default 100): Slurm state and, without Cloud SQL, the accounting database."""


class SlurmAccountingSpec(SpecModel):
    """Cloud SQL for MySQL as the accounting database."""

    password_secret: str = Field(pattern=r"^(projects/[^/]+/secrets/)?[A-Za-z0-9_-]{1,255}$")
    """Secret Manager secret holding the database password (its latest version is read)."""
    tier: str = Field(default="db-custom-2-7680", pattern=r"^db-[a-z0-9-]+$")
    """Cloud SQL tier (default db-custom-2-7680)."""
    edition: str = Field(default="ENTERPRISE", pattern=r"^(ENTERPRISE|ENTERPRISE_PLUS)$")
    """ENTERPRISE (default) or ENTERPRISE_PLUS."""
    database_version: str = Field(default="MYSQL_8_0", pattern=r"^MYSQL_(5_7|8_0|8_4)$")
    """MYSQL_5_7, MYSQL_8_0 (default) or MYSQL_8_4."""


class SlurmOptions(SpecModel):
    """Options of the Slurm path."""

    cluster_name: Optional[str] = Field(default=None, pattern=SLURM_CLUSTER_RE)
    """Slurm cluster name (node names start with it); default: the component's name."""
    image_family: Optional[str] = None
    """Boot image family of every node; default: the catalog's slurm-gcp public image."""
    image_name: Optional[str] = Field(default=None, pattern=IMAGE_NAME_RE)
    """Boot image of every node by name; default: the catalog's slurm-gcp public image."""
    image_project: Optional[str] = None
    """Project of image_family or image_name (default for image_name: the cluster's project)."""
    auth: Optional[str] = Field(default=None, pattern=r"^(slurm|munge)$")
    """slurm (Slurm's own auth/slurm, the default: MUNGE is deprecated in slurm-gcp) or munge; switching an existing cluster needs it recreated."""
    controller: SlurmControllerSpec = Field(default_factory=SlurmControllerSpec)
    """The controller."""
    login: SlurmLoginSpec = Field(default_factory=SlurmLoginSpec)
    """The login nodes."""
    node_sets: list[SlurmNodeSetSpec] = Field(default_factory=list)
    """Node sets; default: one of the cluster's machine type."""
    partitions: list[SlurmPartitionSpec] = Field(default_factory=list)
    """Partitions; default: one per node set."""
    home: Optional[FilestoreSpec] = None
    """Filestore for /home when the storage has none (default ZONAL, 1 TiB)."""
    accounting: Optional[SlurmAccountingSpec] = None
    """Cloud SQL accounting database (default: MariaDB on the controller)."""
    scripts_dir: Optional[str] = None
    """Local folder of the slurm-gcp scripts to upload; default: the pinned Cluster Toolkit release's."""
    scripts_url: Optional[str] = Field(default=None, pattern=r"^(https|gs)://\S+$")
    """Tarball of the Cluster Toolkit source to take the scripts from (a mirror: https:// or gs://); default: the pinned release on GitHub."""
    stage_scripts: bool = True
    """Copy the scripts tarball into the config bucket at deployment, so nodes need no internet (default); false: every node downloads it."""

    @field_validator("home", mode="before")
    @classmethod
    def _home_at_home(cls, value: Any) -> Any:
        if isinstance(value, dict) and "mountPoint" not in value and "mount_point" not in value:
            return {**value, "mountPoint": "/home"}
        return value

    @field_validator("home")
    @classmethod
    def _home(cls, spec: Optional[FilestoreSpec]) -> Optional[FilestoreSpec]:
        if spec is not None and spec.mount_point != "/home":
            raise ValueError(f"the home file system is mounted at /home, not {spec.mount_point}")
        return spec

    @model_validator(mode="after")
    def _references(self) -> "SlurmOptions":
        problems: list[str] = []
        sets = [n.name for n in self.node_sets]
        dupes = sorted({n for n in sets if sets.count(n) > 1})
        if dupes:
            problems.append(f"node set names are used twice: {', '.join(dupes)}")
        parts = [p.name for p in self.partitions]
        dupes = sorted({p for p in parts if parts.count(p) > 1})
        if dupes:
            problems.append(f"partition names are used twice: {', '.join(dupes)}")
        if self.partitions and not self.node_sets:
            problems.append("`partitions` group `nodeSets`: define the node sets too")
        elif self.partitions:
            for p in self.partitions:
                unknown = [n for n in p.node_sets if n not in sets]
                if unknown:
                    problems.append(f"partition {p.name!r} names unknown node sets {', '.join(unknown)}; known: {', '.join(sets)}")
            used = {n for p in self.partitions for n in p.node_sets}
            unused = [n for n in sets if n not in used]
            if unused:
                problems.append(f"node sets {', '.join(unused)} are in no partition")
        defaults = [p.name for p in self.partitions if p.default]
        if len(defaults) > 1:
            problems.append(f"only one partition can be the default, not {', '.join(defaults)}")
        if self.scripts_dir and self.scripts_url:
            problems.append("give `scriptsDir` (upload) or `scriptsUrl` (download), not both")
        if self.image_name and self.image_family:
            problems.append("give `imageName` or `imageFamily`, not both")
        if problems:
            raise ValueError("; ".join(problems))
        return self


__all__ = [
    "SlurmAccountingSpec",
    "SlurmControllerSpec",
    "SlurmLoginSpec",
    "SlurmNodeSetSpec",
    "SlurmOptions",
    "SlurmPartitionSpec",
]
