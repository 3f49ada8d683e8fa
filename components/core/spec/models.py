"""Pydantic models of a stack's configuration: the environment and its clusters.

Keys are camelCase in stack files and YAML programs (`modelParamsB`) and snake_case in Python
(`model_params_b`); both are accepted. Unknown keys are errors. These models check shape and
ranges; `ai_clusters.core.spec.resolve` checks them against the catalog and resolves defaults.
"""

import ipaddress
import re
from typing import Any, Optional

from pydantic import Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from ai_clusters.core.enums import ClusterPath, Framework, HpcOffload, ProvisioningModel, WorkloadKind
from ai_clusters.core.limits import MAX_ACCELERATORS, MAX_CLUSTER_NODES
from ai_clusters.core.spec.base import SpecModel
from ai_clusters.core.spec.tpu import TpuSpec

PathOptions = Optional[dict[str, Any]]
"""A path's options block, checked by the path's own options model when the cluster resolves (key paths kept)."""

NAME_RE = r"^[a-z]([a-z0-9-]{0,18}[a-z0-9])?$"
LABEL_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")


def _check_labels(labels: dict[str, str]) -> dict[str, str]:
    for key, value in labels.items():
        if not LABEL_KEY_RE.match(key):
            raise ValueError(f"label key {key!r} must start with a lowercase letter and use only a-z, 0-9, _ and - (max 63)")
        if not LABEL_VALUE_RE.match(str(value)):
            raise ValueError(f"label value {value!r} of {key!r} may use only a-z, 0-9, _ and - (max 63)")
    return labels


class WorkloadSpec(SpecModel):
    """What a cluster runs; drives the labels the policies read."""

    kind: WorkloadKind
    """pretraining, finetuning, inference, graphics or hpc."""
    accelerators: int = Field(ge=1, le=MAX_ACCELERATORS)
    """Accelerators wanted in total (GPUs, or TPU chips)."""
    model_params_b: Optional[float] = Field(default=None, gt=0, le=20_000)
    """Model size in billions of parameters (sizes the accelerator memory)."""
    latency_ms: Optional[int] = Field(default=None, gt=0, le=600_000)
    """Inference only: the latency target in milliseconds."""
    hours_per_month: float = Field(default=730, gt=0, le=744)
    """Expected hours of use per month (default 730), for the monthly cost."""
    hpc_offload: Optional[HpcOffload] = None
    """HPC only: how much of the computation runs on the GPU."""

    @model_validator(mode="after")
    def _kind_specific(self) -> "WorkloadSpec":
        if self.latency_ms is not None and self.kind != WorkloadKind.INFERENCE:
            raise ValueError(f"latencyMs applies to inference only, not {self.kind.value}")
        if self.hpc_offload is not None and self.kind != WorkloadKind.HPC:
            raise ValueError(f"hpcOffload applies to hpc only, not {self.kind.value}")
        return self


class ProvisioningSpec(SpecModel):
    """How capacity is obtained."""

    model: ProvisioningModel = ProvisioningModel.ON_DEMAND
    """on-demand (default), spot, flex-start or reservation."""
    reservation: Optional[str] = Field(default=None, pattern=r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
    """With model `reservation`: the name of the specific reservation to consume."""
    max_run_hours: Optional[int] = Field(default=None, ge=1, le=168)
    """With model `flex-start`: the longest run, at most 168 hours."""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"model": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _reservation_named(self) -> "ProvisioningSpec":
        if self.model == ProvisioningModel.RESERVATION and not self.reservation:
            raise ValueError("model 'reservation' needs the reservation's name in `reservation`")
        if self.reservation and self.model != ProvisioningModel.RESERVATION:
            raise ValueError(f"`reservation` is only used with model 'reservation', not {self.model.value!r}")
        if self.max_run_hours and self.model != ProvisioningModel.FLEX_START:
            raise ValueError("`maxRunHours` is only used with model 'flex-start'")
        return self


# ---- storage -----------------------------------------------------------------------------------

class BucketSpec(SpecModel):
    """Cloud Storage bucket for data and checkpoints."""

    enabled: bool = True
    """Create the bucket (default true)."""
    hierarchical_namespace: bool = True
    """Hierarchical namespace: fast directory renames for checkpoints (default true)."""
    soft_delete_days: int = Field(default=7, ge=0, le=90)
    """Days deleted objects stay recoverable (default 7, 0 turns soft delete off)."""
    delete_after_days: Optional[int] = Field(default=None, ge=1)
    """Lifecycle: delete objects older than this many days."""
    nearline_after_days: Optional[int] = Field(default=None, ge=1)
    """Lifecycle: move objects to Nearline after this many days."""


class FilestoreSpec(SpecModel):
    """A Filestore NFS share."""

    tier: str = "ZONAL"
    """Service tier: BASIC_HDD, BASIC_SSD, ZONAL, REGIONAL, ENTERPRISE (default ZONAL)."""
    capacity_gb: int = Field(default=1024, ge=1)
    """Capacity in GiB (at least the tier's minimum)."""
    share_name: str = Field(default="share", pattern=r"^[a-z][a-z0-9_]{0,15}$")
    """Name of the file share (default share)."""
    mount_point: str = Field(default="/home", pattern=r"^/[A-Za-z0-9_./-]*$")
    """Where nodes mount it (default /home)."""


class LustreSpec(SpecModel):
    """A Google Cloud Managed Lustre file system."""

    capacity_gb: int = Field(default=18_000, ge=1)
    """Capacity in GiB (a multiple of the throughput tier's step)."""
    throughput_mbps_per_tib: int = Field(default=500, ge=1)
    """Throughput tier in MB/s per TiB."""
    filesystem: str = Field(default="lustrefs", pattern=r"^[a-z][a-z0-9]{0,7}$")
    """Lustre file system name (at most 8 letters and digits)."""
    mount_point: str = Field(default="/lustre", pattern=r"^/[A-Za-z0-9_./-]*$")
    """Where nodes mount it (default /lustre)."""


class ParallelstoreSpec(SpecModel):
    """A Parallelstore (DAOS) file system."""

    capacity_gb: int = Field(default=12_000, ge=1)
    """Capacity in GiB."""
    deployment_type: str = Field(default="SCRATCH", pattern=r"^(SCRATCH|PERSISTENT)$")
    """SCRATCH or PERSISTENT."""
    mount_point: str = Field(default="/parallelstore", pattern=r"^/[A-Za-z0-9_./-]*$")
    """Where nodes mount it (default /parallelstore)."""


class HyperdiskMlSpec(SpecModel):
    """A Hyperdisk ML volume for model weights, attached read-only to many nodes."""

    size_gb: int = Field(default=1024, ge=1)
    """Size in GiB."""
    throughput_mibps: Optional[int] = Field(default=None, ge=1)
    """Provisioned throughput in MiB/s."""
    mount_point: str = Field(default="/models", pattern=r"^/[A-Za-z0-9_./-]*$")
    """Where nodes mount it (default /models)."""
    source_snapshot: Optional[str] = None
    """Snapshot holding the model weights; the disk is then read-only for many nodes at once."""


class StorageSpec(SpecModel):
    """The storage of one cluster; left out, defaults follow the workload kind."""

    bucket: BucketSpec = Field(default_factory=BucketSpec)
    """Cloud Storage bucket (on by default)."""
    filestore: Optional[FilestoreSpec] = None
    """Filestore share."""
    lustre: Optional[LustreSpec] = None
    """Managed Lustre file system."""
    parallelstore: Optional[ParallelstoreSpec] = None
    """Parallelstore file system."""
    hyperdisk_ml: Optional[HyperdiskMlSpec] = None
    """Hyperdisk ML volume."""


# ---- network -----------------------------------------------------------------------------------

class NetworkSpec(SpecModel):
    """The environment's network: host VPC ranges and the accelerator networks' address space."""

    host_cidr: str = "10.0.0.0/20"
    """Host subnet range (default 10.0.0.0/20)."""
    pods_cidr: str = "10.64.0.0/14"
    """GKE pods secondary range (default 10.64.0.0/14)."""
    services_cidr: str = "10.68.0.0/20"
    """GKE services secondary range (default 10.68.0.0/20)."""
    gpu_cidr: str = "192.168.0.0/16"
    """Range split into one /22 per GPU or RDMA subnet (default 192.168.0.0/16)."""
    psa_cidr: str = "10.72.0.0/16"
    """Range reserved for private services access (default 10.72.0.0/16)."""
    private_services_access: bool = True
    """Reserve a range and peer it with Google services (Filestore, Lustre, Parallelstore, Vertex AI)."""
    host_mtu: Optional[int] = Field(default=None, ge=1300, le=8896)
    """Host VPC MTU; default: the largest any requested family needs (1460 when none)."""
    iap_ssh: bool = True
    """Allow SSH from Identity-Aware Proxy (default true). No other ingress from outside."""

    @field_validator("host_cidr", "pods_cidr", "services_cidr", "gpu_cidr", "psa_cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            net = ipaddress.ip_network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a CIDR range ({exc})") from None
        if not net.is_private:
            raise ValueError(f"{value!r} is not a private range (RFC 1918)")
        return value

    @model_validator(mode="after")
    def _disjoint(self) -> "NetworkSpec":
        ranges = {k: ipaddress.ip_network(getattr(self, k)) for k in ("host_cidr", "pods_cidr", "services_cidr", "gpu_cidr", "psa_cidr")}
        keys = list(ranges)
        for i, a in enumerate(keys):
            for b in keys[i + 1:]:
                if ranges[a].overlaps(ranges[b]):
                    raise ValueError(f"{to_camel(a)} {ranges[a]} overlaps {to_camel(b)} {ranges[b]}")
        if ranges["gpu_cidr"].prefixlen > 18:
            raise ValueError("gpuCidr must be /18 or larger (one /22 per GPU or RDMA subnet)")
        return self


class ClusterSpec(SpecModel):
    """One cluster of the environment."""

    name: str = Field(pattern=NAME_RE)
    """Short name (lowercase, digits, -; at most 20)."""
    path: ClusterPath
    """compute-engine, gke, slurm, vertex or tpu."""
    workload: WorkloadSpec
    """What the cluster runs."""
    machine_type: Optional[str] = None
    """GPU machine type from the catalog; default: the advisor's top choice."""
    gpu: Optional[str] = None
    """N1 only: the GPU to attach, e.g. nvidia-tesla-t4."""
    gpus_per_node: Optional[int] = Field(default=None, ge=1, le=16)
    """N1 only: GPUs attached per VM."""
    tpu: Optional[TpuSpec] = None
    """A TPU slice instead of GPUs (paths tpu and gke)."""
    zone: Optional[str] = None
    """Zone; default: the first zone (of the environment, or of the region) that offers the accelerator."""
    nodes: Optional[int] = Field(default=None, ge=1, le=MAX_CLUSTER_NODES)
    """Number of nodes; default: enough for `workload.accelerators`."""
    provisioning: ProvisioningSpec = Field(default_factory=ProvisioningSpec)
    """How capacity is obtained (default on-demand)."""
    framework: Optional[Framework] = None
    """ML framework (jax, pytorch, tensorflow); picks runtimes and validation jobs."""
    storage: Optional[StorageSpec] = None
    """The cluster's storage; left out, defaults follow the workload kind."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Extra labels for every resource (the contract labels are added)."""
    compute_engine: PathOptions = None
    """Options of path compute-engine (`computeEngine:`)."""
    gke: PathOptions = None
    """Options of path gke."""
    slurm: PathOptions = None
    """Options of path slurm."""
    vertex: PathOptions = None
    """Options of path vertex."""

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        return _check_labels(labels)

    @model_validator(mode="after")
    def _path_fields(self) -> "ClusterSpec":
        own = {
            ClusterPath.COMPUTE_ENGINE: "compute_engine",
            ClusterPath.GKE: "gke",
            ClusterPath.SLURM: "slurm",
            ClusterPath.VERTEX: "vertex",
        }
        for path, field in own.items():
            if getattr(self, field) is not None and self.path != path:
                raise ValueError(f"`{to_camel(field)}` options apply to path {path.value!r}, not {self.path.value!r}")
        if self.path == ClusterPath.TPU:
            if self.tpu is None:
                raise ValueError("path 'tpu' needs a `tpu` block (type, or generation + topology)")
            if self.machine_type or self.gpu:
                raise ValueError("path 'tpu' takes `tpu`, not `machineType`/`gpu`")
        elif self.tpu is not None and self.path != ClusterPath.GKE:
            raise ValueError(f"`tpu` is for paths 'tpu' and 'gke', not {self.path.value!r}")
        if self.tpu is not None and (self.machine_type or self.gpu):
            raise ValueError("a cluster is either GPU (`machineType`) or TPU (`tpu`), not both")
        if self.gpus_per_node is not None and self.gpu is None:
            raise ValueError("`gpusPerNode` is for N1 machine types with an attached `gpu`")
        return self


class EnvironmentSpec(SpecModel):
    """A whole stack: where it runs and its clusters."""

    name: str = Field(alias="environment", pattern=NAME_RE)
    """Environment name (dev, staging, prod …): the `ai-environment` label."""
    project: str = Field(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
    """Google Cloud project id (`gcp:project`)."""
    region: str = Field(pattern=r"^[a-z]+-[a-z]+\d+$")
    """Region of the environment, e.g. us-central1 (`gcp:region`)."""
    zones: list[str] = Field(min_length=1)
    """Zones clusters may use, in order of preference."""
    hourly_budget_usd: Optional[float] = Field(default=None, ge=0)
    """Hourly budget at list prices; the policies compare the plan's cost with it."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Extra labels for every resource of every cluster."""
    protect_data: bool = True
    """Protect stateful resources from deletion (default true; set false only in throwaway environments)."""
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    """The environment's network."""
    clusters: list[ClusterSpec] = Field(min_length=1)
    """The clusters."""

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        return _check_labels(labels)

    @field_validator("zones")
    @classmethod
    def _zones_unique(cls, zones: list[str]) -> list[str]:
        for z in zones:
            if not re.match(r"^[a-z]+-[a-z]+\d+-[a-z]$", z):
                raise ValueError(f"{z!r} is not a zone name like us-central1-a")
        if len(set(zones)) != len(zones):
            raise ValueError("zones are listed twice")
        return zones
