"""Pydantic models of the accelerator catalog data file (`data/catalog.yaml`).

The data file is validated on load: an entry that cites a source the file does not list, a
machine type named twice, or a TPU type whose topology does not match its chip count fails here,
not at `pulumi up`.
"""

import datetime
import math
import re
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ai_clusters.core.enums import GpuDirect, NicType, ProvisioningModel, WorkloadKind


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Model):
    """Where a fact was read, and when."""

    url: str
    title: str
    read_on: datetime.date


class Price(_Model):
    """USD per hour (per VM for machines, per GPU for attached GPUs, per chip for TPUs)."""

    on_demand: Optional[float] = Field(default=None, ge=0)
    spot: Optional[float] = Field(default=None, ge=0)
    flex_start: Optional[float] = Field(default=None, ge=0)


class Sourced(_Model):
    sources: list[str] = Field(min_length=1)


class GpuModel(_Model):
    """One GPU model and the names each Google Cloud API gives it."""

    model: str
    compute_engine: str
    gke: Optional[str] = None
    vertex: Optional[str] = None
    memory_gb: float = Field(gt=0)


class NicLayout(_Model):
    """The network interfaces a machine of the family needs for its full bandwidth."""

    gvnics: int = Field(ge=1, description="Host NICs (nic0 included), of `host_nic_type`.")
    host_nic_type: str = Field(default="GVNIC", pattern=r"^(GVNIC|IDPF)$", description="Compute Engine nicType of the host NICs (A4X Max bare metal: IDPF).")
    gpu_nics: int = Field(default=0, ge=0)
    gpu_nic_type: Optional[NicType] = None
    gpu_stack_type: str = Field(default="IPV4_ONLY", pattern=r"^(IPV4_ONLY|IPV6_ONLY)$", description="Stack type of the GPU NICs' subnets.")
    host_mtu: int = Field(default=1460, ge=1300, le=8896)
    gpu_mtu: Optional[int] = Field(default=None, ge=1300, le=8896)
    second_gvnic_mtu: Optional[int] = Field(default=None, ge=1300, le=8896)
    rdma_network_profile: bool = False
    rdma_profile_suffix: str = Field(default="vpc-roce", pattern=r"^vpc-roce(-metal)?$", description="The zone's RDMA network profile is <zone>-<suffix>.")

    @model_validator(mode="after")
    def _consistent(self) -> "NicLayout":
        if self.gpu_nics and (self.gpu_nic_type is None or self.gpu_mtu is None):
            raise ValueError("gpu_nics > 0 needs gpu_nic_type and gpu_mtu")
        if self.rdma_network_profile and self.gpu_nic_type != NicType.MRDMA:
            raise ValueError("the RoCE network profile is only for MRDMA NICs")
        return self


class Image(_Model):
    """The boot image a family's nodes get by default, and how its NVIDIA driver arrives."""

    project: str
    family: str
    driver: str = Field(pattern=r"^(preinstalled|first-boot|installer)$")


class MachineType(_Model):
    name: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)+$")
    gpus: int = Field(ge=0, description="GPUs as the Compute Engine API counts them (a fractional G4 counts one).")
    gpu_share: Optional[float] = Field(default=None, gt=0, lt=1, description="The share of one GPU a fractional (vGPU) machine type gets.")
    vcpus: int = Field(ge=1)
    memory_gb: float = Field(gt=0)
    local_ssd_gb: float = Field(default=0, ge=0)
    network_bandwidth_gbps: Optional[float] = Field(default=None, gt=0)
    provisioning: Optional[list[ProvisioningModel]] = None
    zones: Optional[list[str]] = Field(default=None, min_length=1, description="Where this type is offered, when that differs from its family's `zones`.")
    unsupported: Optional[str] = Field(default=None, description="Why no path builds this machine type yet (the catalog lists it for the advisor, costs and the refresh).")
    prices: dict[str, Price] = Field(default_factory=dict)

    @property
    def gpu_units(self) -> float:
        """Whole GPUs this machine type carries (a fractional one a share of one)."""
        return self.gpus * (self.gpu_share or 1.0)


class BillingSkus(_Model):
    """How the Cloud Billing Catalog names a family's SKUs (description prefixes), for `catalog refresh`.

    A machine type's list price is vCPUs x core + memory x RAM + GPUs x GPU + Local SSD (per GiB-month / 730).
    """

    instance: str = Field(description="The SKU prefix of its core and RAM, e.g. 'A3 Instance' (Spot: 'Spot Preemptible A3 Instance').")
    gpu: Optional[str] = Field(default=None, description="The SKU prefix of its GPU, e.g. 'Nvidia H100 80GB GPU'.")


class GpuFamily(Sourced):
    """A Compute Engine GPU machine family (A4, A3 Mega, G2 …) and its machine types."""

    id: str = Field(pattern=r"^[a-z0-9-]+$")
    name: str
    series: str
    gpu: GpuModel
    gpudirect: GpuDirect
    network: NicLayout
    attached_accelerators: bool = False
    provisioning: list[ProvisioningModel]
    max_placement_group_vms: Optional[int] = Field(default=None, ge=2)
    placement_gpu_topology: Optional[str] = None
    compact_placement: bool = True
    arch: str = Field(pattern=r"^(x86_64|arm64)$")
    boot_disk_types: list[str] = Field(min_length=1)
    hyperdisk_ml: bool
    image: Image
    bare_metal: bool = False
    unsupported: Optional[str] = Field(default=None, description="Why no path builds this family yet.")
    zones: list[str] = Field(min_length=1, description="Where the family's machine types are offered (a type with its own `zones` list: there instead).")
    zones_as_of: Optional[datetime.date] = Field(default=None, description="The date of the newest source the zone list was taken from (not when it was read).")
    listed_regions: list[str] = Field(
        default_factory=list,
        description="Regions where a Compute Engine machine-types listing (a source of the family) shows the family; "
        "where one has no zone in `zones`, its zones are not known yet.",
    )
    billing: Optional[BillingSkus] = None
    machine_types: list[MachineType] = Field(default_factory=list)
    notes: Optional[str] = None

    @property
    def all_zones(self) -> list[str]:
        """Every zone any machine type of the family is offered in (`zones`, and the types' own lists)."""
        return sorted(set(self.zones).union(*(mt.zones or [] for mt in self.machine_types)))

    @model_validator(mode="after")
    def _gpudirect_matches_nics(self) -> "GpuFamily":
        wants_nics = self.gpudirect != GpuDirect.NONE
        if wants_nics != (self.network.gpu_nics > 0):
            raise ValueError(f"{self.id}: gpudirect {self.gpudirect.value} and gpu_nics {self.network.gpu_nics} disagree")
        if (self.gpudirect == GpuDirect.RDMA) != (self.network.gpu_nic_type == NicType.MRDMA):
            raise ValueError(f"{self.id}: RDMA families use MRDMA NICs, and only they do")
        return self


class ZoneLimit(_Model):
    """Lower vCPU and memory limits of a GPU count in some zones."""

    zones: list[str] = Field(min_length=1)
    count: int = Field(ge=1)
    max_vcpus: int = Field(ge=1)
    max_memory_gb: float = Field(gt=0)


class AttachableGpu(Sourced):
    """A GPU attached to N1 machine types as a guest accelerator."""

    deprecated: Optional[datetime.date] = None
    end_of_support: Optional[datetime.date] = None
    gpu: GpuModel
    counts: list[int] = Field(min_length=1)
    max_vcpus: dict[int, int]
    max_memory_gb: dict[int, float] = Field(default_factory=dict)
    zone_limits: list[ZoneLimit] = Field(default_factory=list)
    provisioning: list[ProvisioningModel]
    zones: list[str] = Field(min_length=1)
    zones_as_of: Optional[datetime.date] = None
    billing_gpu: Optional[str] = Field(default=None, description="The Cloud Billing SKU prefix of the GPU, e.g. 'Nvidia Tesla T4 GPU'.")
    prices: dict[str, Price] = Field(default_factory=dict)

    def allows(self, count: int, vcpus: int, memory_gb: float, zone: Optional[str] = None) -> bool:
        """Whether `count` of these GPUs fit a VM of that size (in `zone`, where zones differ)."""
        limits = [(self.max_vcpus.get(count), self.max_memory_gb.get(count))]
        limits += [(z.max_vcpus, z.max_memory_gb) for z in self.zone_limits if z.count == count and zone in z.zones]
        return count in self.counts and all(
            (cpu is None or vcpus <= cpu) and (mem is None or memory_gb <= mem) for cpu, mem in limits
        )

    @model_validator(mode="after")
    def _limits_per_count(self) -> "AttachableGpu":
        missing = [c for c in self.counts if c not in self.max_vcpus]
        if missing:
            raise ValueError(f"{self.gpu.compute_engine}: max_vcpus missing for counts {missing}")
        return self


class N1Defaults(Sourced):
    """What N1 GPU nodes boot from (N1 has no family entry of its own)."""

    boot_disk_types: list[str] = Field(min_length=1)
    image: Image
    billing: Optional[BillingSkus] = None


class N1MachineType(_Model):
    name: str = Field(pattern=r"^n1-(standard|highmem|highcpu)-\d+$")
    vcpus: int = Field(ge=1)
    memory_gb: float = Field(gt=0)
    prices: dict[str, Price] = Field(default_factory=dict)


class CpuMachinePrices(Sourced):
    """List prices of the machine types without accelerators the paths run (controllers, login nodes, CPU node sets, the GKE
    system pool); N1 types are priced with `N1MachineType`."""

    machines: dict[str, dict[str, Price]] = Field(description="Machine type -> region -> USD per hour per VM.")


class TpuAcceleratorType(_Model):
    name: str
    chips: int = Field(ge=1)
    topology: str = Field(pattern=r"^\d+x\d+(x\d+)?$")
    vms: int = Field(
        ge=1,
        description="TPU VMs (GKE nodes) the slice runs on: one VM for single-host slices, VMs of the generation's "
        "`chips_per_host` chips for multi-host ones. Google's v5e and v6e tables count 8-chip physical hosts instead.",
    )

    @model_validator(mode="after")
    def _topology_matches_chips(self) -> "TpuAcceleratorType":
        dims = [int(d) for d in self.topology.split("x")]
        if math.prod(dims) != self.chips:
            raise ValueError(f"{self.name}: topology {self.topology} has {math.prod(dims)} chips, not {self.chips}")
        return self


class TpuGkeMachineType(_Model):
    """A TPU VM machine type and its host shape (vCPUs and memory where a source gives them)."""

    name: str
    chips: int = Field(ge=1)
    vcpus: Optional[int] = Field(default=None, ge=1)
    memory_gb: Optional[float] = Field(default=None, gt=0)


class TpuGke(_Model):
    tpu_accelerator: str
    machine_types: list[TpuGkeMachineType] = Field(min_length=1)


class TpuGeneration(Sourced):
    """A Cloud TPU generation: its accelerator types, topologies, runtimes and prices."""

    id: str
    name: str
    accelerator_type_prefix: str
    accelerator_type_counts: str = Field(pattern=r"^(chips|tensorcores)$")
    tensorcores_per_chip: int = Field(ge=1)
    hbm_gb_per_chip: float = Field(gt=0)
    chips_per_host: int = Field(ge=1)
    max_chips_single_host: int = Field(ge=1)
    topology_dims: int = Field(ge=2, le=3)
    accelerator_types: list[TpuAcceleratorType] = Field(min_length=1)
    runtime_versions: dict[str, list[str]]
    gke: Optional[TpuGke] = None
    vertex: Optional[str] = None
    provisioning: list[ProvisioningModel]
    zones: list[str] = Field(min_length=1)
    zones_as_of: Optional[datetime.date] = None
    prices: dict[str, Price] = Field(default_factory=dict)
    notes: Optional[str] = None

    @model_validator(mode="after")
    def _types_follow_naming(self) -> "TpuGeneration":
        per = 1 if self.accelerator_type_counts == "chips" else self.tensorcores_per_chip
        for t in self.accelerator_types:
            m = re.fullmatch(rf"{re.escape(self.accelerator_type_prefix)}-(\d+)", t.name)
            if not m or int(m.group(1)) != t.chips * per:
                raise ValueError(f"{self.id}: {t.name} does not name {t.chips} chips")
            if len(t.topology.split("x")) != self.topology_dims:
                raise ValueError(f"{self.id}: {t.name} topology {t.topology} is not {self.topology_dims}-D")
        return self


class CloudTpuApiGeneration(_Model):
    """What the Cloud TPU API (TPU VMs) offers for one generation."""

    id: str
    accelerator_config_type: str = Field(pattern=r"^[A-Z0-9_]+$")
    data_disk_types: list[str] = Field(min_length=1)
    read_only_disk_types: list[str] = Field(default_factory=list)
    max_disks: int = Field(ge=1)  # per VM, the boot disk included
    flex_start_zones: dict[Literal["training", "serving"], list[str]] = Field(default_factory=dict)
    """Zones where flex-start TPUs of this generation come through queued resources, per use; none: no flex-start."""


class CloudTpuApi(Sourced):
    """The Cloud TPU API (tpu.googleapis.com) that TPU VMs and queued resources are created with; generations absent here are GKE only."""

    generations: list[CloudTpuApiGeneration] = Field(min_length=1)


class CapacityRange(_Model):
    """Capacities from min to max GiB, in steps counted from min."""

    min_gib: int = Field(ge=1)
    max_gib: int = Field(ge=1)
    step_gib: int = Field(ge=1)

    def allows(self, gib: int) -> bool:
        return self.min_gib <= gib <= self.max_gib and (gib - self.min_gib) % self.step_gib == 0

    def __str__(self) -> str:
        return f"{self.min_gib}-{self.max_gib} GiB in steps of {self.step_gib}"


class FilestoreTier(Sourced):
    tier: str
    scope: str = Field(pattern=r"^(zonal|regional)$")
    ranges: list[CapacityRange] = Field(min_length=1)
    protocols: list[str] = Field(default_factory=list)
    legacy: bool = False
    prices: dict[str, float] = Field(default_factory=dict)


class LustreThroughputTier(_Model):
    mbps_per_tib: int
    ranges: list[CapacityRange] = Field(min_length=1)
    prices: dict[str, float] = Field(default_factory=dict)


class LustreFacts(Sourced):
    throughput_tiers: list[LustreThroughputTier] = Field(min_length=1)
    zones: list[str] = Field(default_factory=list)
    zones_complete: bool = False


class ParallelstoreFacts(Sourced):
    ranges: list[CapacityRange] = Field(min_length=1)
    deployment_types: list[str]
    invitation_only: bool = False
    zones: list[str] = Field(default_factory=list)
    prices: dict[str, float] = Field(default_factory=dict)


class HyperdiskMlFacts(Sourced):
    min_gib: int
    max_gib: int
    max_throughput_mibps: int
    min_throughput_mibps: Optional[int] = None
    max_read_only_attachments: int
    prices: dict[str, float] = Field(default_factory=dict)
    throughput_prices: dict[str, float] = Field(default_factory=dict)


class CloudStorageFacts(Sourced):
    soft_delete_default_days: int
    soft_delete_min_days: int
    soft_delete_max_days: int
    prices: dict[str, float] = Field(default_factory=dict, description="Standard storage, USD per GiB-month by region (billed by use).")
    billing: Optional[str] = Field(default=None, description="Cloud Billing SKU prefix of regional Standard storage.")


class DiskType(Sourced):
    """A Compute Engine disk type used for boot or data disks, and its capacity list price."""

    type: str = Field(pattern=r"^(pd|hyperdisk)-[a-z]+$")
    prices: dict[str, float] = Field(default_factory=dict, description="USD per GiB-month of provisioned capacity, by region.")
    billing: Optional[str] = Field(default=None, description="Cloud Billing SKU prefix of its capacity, e.g. 'Balanced PD Capacity'.")
    note: Optional[str] = None


class StorageFacts(_Model):
    filestore_tiers: list[FilestoreTier] = Field(min_length=1)
    lustre: LustreFacts
    parallelstore: ParallelstoreFacts
    hyperdisk_ml: HyperdiskMlFacts
    cloud_storage: CloudStorageFacts
    disks: list[DiskType] = Field(default_factory=list)

    def disk(self, disk_type: str) -> Optional[DiskType]:
        return next((d for d in self.disks if d.type == disk_type), None)


class VertexPurposeFacts(Sourced):
    """What Vertex AI offers for one purpose (custom training or online inference), from its compute pages."""

    gpu_machine_types: list[str] = Field(min_length=1)
    cpu_machine_types: list[str] = Field(default_factory=list)
    n1_gpu_counts: dict[str, dict[str, list[int]]] = Field(default_factory=dict)
    gpudirect: dict[str, GpuDirect] = Field(default_factory=dict)
    reservation_only: list[str] = Field(default_factory=list)
    min_replicas: dict[str, int] = Field(default_factory=dict)


class VertexTrainingFacts(VertexPurposeFacts):
    """Custom training on persistent resources: machine types, GPUDirect, boot disks."""

    boot_disk_types: list[str] = Field(min_length=1)
    boot_disk_min_gb: int = Field(ge=1)
    boot_disk_max_gb: int = Field(ge=1)
    boot_disk_default_gb: int = Field(ge=1)


class VertexPredictionFacts(VertexPurposeFacts):
    """Online inference on deployment resource pools: machine types, replicas, autoscaling metrics."""

    min_replica_count: int = Field(ge=0)
    autoscaling_metrics: dict[str, str] = Field(min_length=1)
    default_autoscaling_target: int = Field(ge=1, le=100)


class VertexFacts(_Model):
    """Vertex AI facts: training and inference compute, and the pages behind its networking and IAM."""

    training: VertexTrainingFacts
    prediction: VertexPredictionFacts
    networking_sources: list[str] = Field(min_length=1)

    def check_against(self, families: list[GpuFamily], n1_gpus: list["AttachableGpu"], check) -> None:
        """Every machine type named is a GPU machine type whose family Vertex AI names; every source is listed."""
        check("vertex", [*self.training.sources, *self.prediction.sources, *self.networking_sources])
        machines = {mt.name: fam for fam in families for mt in fam.machine_types}
        known = {g.gpu.vertex for g in n1_gpus}
        for purpose, facts in (("training", self.training), ("prediction", self.prediction)):
            for name in [*facts.gpu_machine_types, *facts.gpudirect, *facts.reservation_only, *facts.min_replicas]:
                fam = machines.get(name)
                if fam is None or not fam.gpu.vertex:
                    raise ValueError(f"vertex {purpose}: {name} is not a GPU machine type of a family with a Vertex AI accelerator name")
            for name, gpus in facts.n1_gpu_counts.items():
                if set(gpus) - known:
                    raise ValueError(f"vertex {purpose}: {name} names unknown N1 GPUs {sorted(set(gpus) - known)}")


class GkeContainer(_Model):
    """A container of a DaemonSet Google documents for GKE nodes."""

    name: str
    image: str
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    mounts: dict[str, str] = Field(default_factory=dict, description="volume name -> mount path")
    privileged: bool = False
    cpu_request: Optional[str] = None


class GkeHostPath(_Model):
    """A hostPath volume of such a DaemonSet."""

    name: str
    path: str
    type: Optional[str] = Field(default=None, pattern=r"^(Directory|DirectoryOrCreate|File|FileOrCreate)$")


class GkeDaemonSet(Sourced):
    """A node DaemonSet (NCCL plugin installer, NRI device injector) as Google's manifest defines it."""

    name: str
    namespace: str = "kube-system"
    arch: Optional[str] = Field(default=None, pattern=r"^(amd64|arm64)$", description="Only nodes of this kubernetes.io/arch; unset: amd64 nodes, without an arch term.")
    host_network: bool = True
    host_pid: bool = True
    volumes: list[GkeHostPath] = Field(default_factory=list)
    init_containers: list[GkeContainer] = Field(default_factory=list)
    containers: list[GkeContainer] = Field(min_length=1)

    @model_validator(mode="after")
    def _mounts_exist(self) -> "GkeDaemonSet":
        names = {v.name for v in self.volumes}
        for c in [*self.init_containers, *self.containers]:
            missing = set(c.mounts) - names
            if missing:
                raise ValueError(f"{self.name}/{c.name} mounts unknown volumes {sorted(missing)}")
        return self


class GkeNetworkNames(_Model):
    """How Google's GKE guides name the Network objects of a family's extra NICs (pods reference them)."""

    gvnic_prefix: str
    gvnic_start: int = Field(ge=0)
    rdma_prefix: Optional[str] = None
    rdma_start: int = Field(default=0, ge=0)


class GkeGpuDirect(Sourced):
    """What GKE needs in the cluster for one GPUDirect flavor."""

    flavor: GpuDirect
    network_names: GkeNetworkNames
    nccl_installers: list[GkeDaemonSet] = Field(min_length=1, description="One per node architecture.")
    nri_device_injector: bool = False
    workload_sidecar_image: Optional[str] = Field(default=None, description="The receive-datapath manager workloads run beside NCCL.")


class GkeTaint(_Model):
    key: str
    value: str
    effect: str = Field(pattern=r"^(NO_SCHEDULE|PREFER_NO_SCHEDULE|NO_EXECUTE)$")


class GkeSystemPool(Sourced):
    """Defaults of the small CPU pool every cluster keeps for system pods."""

    machine_type: str
    disk_gb: int = Field(ge=20)
    min_nodes: int = Field(ge=1)
    max_nodes: int = Field(ge=1)


class GkeManagementFee(Sourced):
    """GKE's flat cluster management fee (every mode, size and topology)."""

    usd_per_hour: float = Field(gt=0)
    free_tier_usd_per_month: float = Field(ge=0, description="Monthly credit per billing account; it covers zonal and Autopilot clusters only.")


class GkeFacts(Sourced):
    """GKE facts the GkeCluster component builds from."""

    system_pool: GkeSystemPool
    management_fee: Optional[GkeManagementFee] = None
    node_service_account_roles: list[str] = Field(min_length=1)
    gpu_taint: GkeTaint
    tpu_taint: GkeTaint
    gpu_sharing_max_clients: int = Field(ge=2)
    local_ssd_disk_gb: int = Field(ge=1)
    local_ssd_ephemeral_counts: dict[str, int] = Field(default_factory=dict, description="machine type -> bundled Local SSDs")
    flex_start_compact_families: list[str] = Field(default_factory=list)
    device_network_name_max: int = Field(ge=1)
    csi_drivers: dict[str, str]
    nri_device_injector: GkeDaemonSet
    gpudirect: list[GkeGpuDirect]

    def cited(self) -> list[tuple[str, list[str]]]:
        """(owner, source ids) of every sourced part, for the catalog's reference check."""
        parts: list[tuple[str, list[str]]] = [("gke", self.sources), ("gke.system_pool", self.system_pool.sources)]
        if self.management_fee is not None:
            parts.append(("gke.management_fee", self.management_fee.sources))
        parts.append(("gke.nri_device_injector", self.nri_device_injector.sources))
        for g in self.gpudirect:
            parts.append((f"gke.gpudirect.{g.flavor.value}", g.sources))
            parts.extend((f"gke.gpudirect.{g.flavor.value}.{d.name}", d.sources) for d in g.nccl_installers)
        return parts

    def gpudirect_for(self, flavor: GpuDirect) -> Optional[GkeGpuDirect]:
        return next((g for g in self.gpudirect if g.flavor == flavor), None)


class WorkloadGuidance(Sourced):
    """Which families Google Cloud recommends for a workload kind, best first."""

    kind: WorkloadKind
    gpu_families: list[str]
    tpu: bool
    note: Optional[str] = None


class ImageRef(_Model):
    """A boot image family in its project."""

    project: str
    family: str


class SlurmImageFamily(_Model):
    """A slurm-gcp public image family."""

    family: str
    os: str
    arch: str = Field(pattern=r"^(x86_64|arm64)$")
    signed_gpu_driver: bool  # Secure Boot with GPUs needs signed NVIDIA kernel modules


class CpuMachineType(_Model):
    """A CPU machine type for Slurm controllers, login nodes and CPU partitions."""

    name: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)+$")
    vcpus: int = Field(ge=1)
    memory_gb: float = Field(gt=0)
    boot_disk_types: list[str] = Field(min_length=1)


class SlurmNodeConf(Sourced):
    """The Slurm NodeName settings Cluster Toolkit's examples give a GPU machine type, with SMT at the platform default."""

    machine_type: str
    conf: dict[str, int] = Field(description="Boards/SocketsPerBoard/CoresPerSocket/ThreadsPerCore (never Sockets: slurm-gcp writes SocketsPerBoard).")
    sockets_per_board: int = Field(ge=1, description="SocketsPerBoard slurm-gcp derives for the machine type when `conf` does not say.")

    @model_validator(mode="after")
    def _no_sockets(self) -> "SlurmNodeConf":
        allowed = {"Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore"}
        if set(self.conf) - allowed:
            raise ValueError(f"slurm.node_conf {self.machine_type}: only {sorted(allowed)} may be set, not {sorted(set(self.conf) - allowed)}")
        return self

    @property
    def vcpus(self) -> int:
        """The vCPUs this node line describes (boards x sockets x cores x threads)."""
        c = self.conf
        return c.get("Boards", 1) * c.get("SocketsPerBoard", self.sockets_per_board) * c["CoresPerSocket"] * c.get("ThreadsPerCore", 1)


class SlurmLongProlog(Sourced):
    """The slurm.conf timers Cluster Toolkit's A3 High/Mega examples use (long-prolog-slurm.conf.tpl) while RxDM starts in a prolog."""

    flavors: list[GpuDirect] = Field(min_length=1, description="The GPUDirect flavours whose node sets start RxDM per job.")
    conf_tpl: str = Field(description="The template's path in the Toolkit (the blueprint's slurm_conf_tpl names it under ../_modules/embedded/).")
    message_timeout: int = Field(gt=0)
    batch_start_timeout: int = Field(gt=0)
    prolog_epilog_timeout: int = Field(gt=0)
    prolog_flags: str
    cred_expire: int = Field(gt=0)


class SlurmAuth(Sourced):
    """How Slurm daemons authenticate: Slurm's own auth/slurm (a key the controller shares) or MUNGE."""

    native: bool = Field(description="auth/slurm (enable_slurm_auth) by default; false: MUNGE.")
    munge_removal: datetime.date = Field(description="When slurm-gcp removes MUNGE support, as the Toolkit announces it.")


class SlurmImageStep(_Model):
    """A named step of an image build: shell lines, {variable} filled in with the blueprint's variable."""

    name: str = Field(pattern=r"^[a-z0-9-]+$")
    lines: list[str] = Field(min_length=1)


class SlurmImageBuild(Sourced):
    """How the exported blueprint builds the boot image a GPUDirect flavour's Slurm nodes need (modules/packer/custom-image)."""

    flavor: GpuDirect
    source_image: Optional[ImageRef] = Field(default=None, description="None: the slurm-gcp public image the cluster boots (it has Slurm and the signed driver).")
    machine_type: str = Field(description="The VM packer builds on.")
    install_ansible: bool = False
    builds_kernel_modules: bool = Field(
        default=False,
        description="The steps compile a kernel module (DKMS) into the image: its nodes boot with Secure Boot off (node_setup.dkms_secure_boot).",
    )
    variables: dict[str, str] = Field(default_factory=dict, description="Blueprint variables the steps read (name -> what to supply).")
    steps: list[SlurmImageStep] = Field(default_factory=list, description="Run first; then the flavour's host set-up that needs no GPU hardware.")


class SlurmFacts(Sourced):
    """What the Slurm path needs: the pinned Cluster Toolkit release, slurm-gcp images, CPU machine types."""

    toolkit_release: str
    toolkit_commit: str = Field(pattern=r"^[0-9a-f]{40}$")
    scripts_path: str
    image_project: str
    default_image_family: str
    image_families: list[SlurmImageFamily] = Field(min_length=1)
    controller_machine_type: str
    login_machine_type: str
    cpu_machine_types: list[CpuMachineType] = Field(min_length=1)
    node_conf: list[SlurmNodeConf] = Field(default_factory=list)
    long_prolog: SlurmLongProlog
    auth: SlurmAuth
    image_builds: list[SlurmImageBuild] = Field(default_factory=list)

    def node_conf_of(self, machine_type: str) -> Optional[SlurmNodeConf]:
        return next((n for n in self.node_conf if n.machine_type == machine_type), None)

    def image_build(self, flavor: GpuDirect) -> Optional[SlurmImageBuild]:
        return next((b for b in self.image_builds if b.flavor == flavor), None)

    def cited(self) -> list[tuple[str, list[str]]]:
        """(owner, source ids) of every sourced fact in this section."""
        out = [("slurm", self.sources), ("slurm.long_prolog", self.long_prolog.sources), ("slurm.auth", self.auth.sources)]
        out += [(f"slurm.node_conf.{n.machine_type}", n.sources) for n in self.node_conf]
        out += [(f"slurm.image_builds.{b.flavor.value}", b.sources) for b in self.image_builds]
        return out

    @model_validator(mode="after")
    def _defaults_known(self) -> "SlurmFacts":
        families = {f.family for f in self.image_families}
        if self.default_image_family not in families:
            raise ValueError(f"slurm: default image family {self.default_image_family} is not listed")
        machines = {m.name for m in self.cpu_machine_types}
        for role, name in (("controller", self.controller_machine_type), ("login", self.login_machine_type)):
            if name not in machines:
                raise ValueError(f"slurm: {role} machine type {name} is not a listed CPU machine type")
        return self


class GpuQuotaNames(_Model):
    """How Google Cloud names the regional quotas of one GPU model (see `QuotaFacts`)."""

    gpu: str = Field(description="Compute Engine accelerator name, e.g. nvidia-l4.")
    metric: Optional[str] = Field(default=None, pattern=r"^[A-Z0-9_]+$", description="regions.get metric of the on-demand pool, where the Compute API lists one.")
    preemptible_metric: Optional[str] = Field(default=None, pattern=r"^[A-Z0-9_]+$", description="regions.get metric of the preemptible pool.")
    gpu_family: str = Field(pattern=r"^[A-Z0-9_]+$", description="Cloud Quotas gpu_family dimension value.")
    preemptible_quota_id: Optional[str] = Field(default=None, description="Cloud Quotas id of the preemptible pool (none for reservation-only GPUs).")


QuotaPool = Literal["on-demand", "preemptible"]
QuotaUnit = Literal["gpus", "chips", "tensorcores"]


class QuotaRef(_Model):
    """Where one quota pool is read: a Compute Engine metric (regions.get shows limit and usage), else a Cloud Quotas id."""

    metric: Optional[str] = Field(default=None, pattern=r"^[A-Z0-9_]+$", description="regions.get metric, read first where set.")
    quota_id: Optional[str] = Field(default=None, description="Cloud Quotas quotaInfos id (limit only).")
    dimensions: dict[str, str] = Field(default_factory=dict, description="Cloud Quotas dimensions besides the location (tpu_family …).")

    @model_validator(mode="after")
    def _named(self) -> "QuotaRef":
        if not self.metric and not self.quota_id:
            raise ValueError("a quota is read by its metric or its Cloud Quotas id; give one")
        return self


class PoolQuotas(Sourced):
    """One quota of an accelerator in one scope (zone or region), for its on-demand and preemptible pools.

    A pool whose id no source confirms is listed under `unconfirmed` with the reason: pre-flight
    reports it as not checked, and never guesses an id.
    """

    scope: Literal["zone", "region"]
    unit: QuotaUnit
    on_demand: Optional[QuotaRef] = None
    preemptible: Optional[QuotaRef] = None
    unconfirmed: dict[QuotaPool, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _every_pool_named_or_explained(self) -> "PoolQuotas":
        for pool, ref in (("on-demand", self.on_demand), ("preemptible", self.preemptible)):
            if (ref is None) == (pool not in self.unconfirmed):
                raise ValueError(f"the {pool} pool needs either its quota or the reason it is unconfirmed, not both")
        return self

    def ref(self, pool: str) -> Optional[QuotaRef]:
        return {"on-demand": self.on_demand, "preemptible": self.preemptible}.get(pool)


class TpuQuotaNames(_Model):
    """The quotas one TPU generation draws on through one API: every listed quota applies (zone and region)."""

    generation: str
    quotas: list[PoolQuotas] = Field(min_length=1)
    serving_types: list[str] = Field(default_factory=list, description="Accelerator types that draw on `serving_quotas` instead.")
    serving_quotas: list[PoolQuotas] = Field(default_factory=list)

    def for_type(self, accelerator_type: str) -> list[PoolQuotas]:
        return self.serving_quotas if accelerator_type in self.serving_types else self.quotas


class VertexQuotaNames(Sourced):
    """The Vertex AI quotas (service aiplatform.googleapis.com, per region, in GPUs) of one accelerator enum."""

    accelerator: str = Field(description="Vertex AI accelerator enum, e.g. NVIDIA_H100_80GB.")
    training: Optional[QuotaRef] = Field(default=None, description="Custom training (persistent resources use it too).")
    serving: Optional[QuotaRef] = Field(default=None, description="Online prediction (deployment resource pools).")
    unconfirmed: dict[Literal["training", "serving"], str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _every_purpose_named_or_explained(self) -> "VertexQuotaNames":
        for purpose in ("training", "serving"):
            if (getattr(self, purpose) is None) == (purpose not in self.unconfirmed):
                raise ValueError(f"{self.accelerator}: {purpose} needs either its quota or the reason it is unconfirmed, not both")
        return self


class QuotaFacts(Sourced):
    """Which quota each accelerator draws on, and where the APIs show it (read by `ai-clusters preflight` and `where`)."""

    compute_service: str
    tpu_service: str
    vertex_service: str = "aiplatform.googleapis.com"
    project_gpu_metric: str = Field(pattern=r"^[A-Z0-9_]+$")
    gpu_family_quota_id: str
    preemptible_models: list[ProvisioningModel]
    gpus: list[GpuQuotaNames] = Field(min_length=1)
    tpus: list[TpuQuotaNames] = Field(default_factory=list, description="TPU VMs: Cloud TPU API quotas.")
    gke_tpus: list[TpuQuotaNames] = Field(default_factory=list, description="GKE TPU node pools: Compute Engine quotas.")
    vertex: list[VertexQuotaNames] = Field(default_factory=list)

    def cited(self) -> list[tuple[str, list[str]]]:
        out = [("quotas", self.sources)]
        for api, entries in (("tpus", self.tpus), ("gke_tpus", self.gke_tpus)):
            for t in entries:
                out += [(f"quotas.{api}.{t.generation}", q.sources) for q in [*t.quotas, *t.serving_quotas]]
        out += [(f"quotas.vertex.{v.accelerator}", v.sources) for v in self.vertex]
        return out


class NcclHost(_Model):
    """How a GPUDirect flavour's NCCL runs on a host: what to source, what to export, where the plugin lives."""

    setup: list[str] = Field(default_factory=list, description="Shell lines run first (the plugin's own environment script).")
    env: dict[str, str] = Field(default_factory=dict)
    library_dir: Optional[str] = None


class NcclGkeTest(NcclHost):
    """The NCCL test pods of one flavour on GKE, as Google's manifests run them."""

    image: str
    ssh_start: str = Field(description="Starts the image's SSH daemon (every pod).")
    run: str = Field(description="What the first pod runs: {hosts} {nhosts} {gpus} {np} {args} {env_flags} are filled in.")
    mounts: dict[str, str] = Field(default_factory=dict, description="host path -> container path")
    sidecar_command: list[str] = Field(default_factory=list, description="The receive-datapath manager (TCPX/TCPXO), run as a native sidecar.")
    sidecar_mounts: dict[str, str] = Field(default_factory=dict, description="host path -> container path for the sidecar")
    sidecar_devices: list[str] = Field(default_factory=list, description="Devices the NRI injector gives the sidecar besides /dev/nvidiaN.")
    socket_dir: Optional[tuple[str, str]] = Field(default=None, description="A folder the sidecar (first) and the test (second) share.")
    shm_size: str = Field(default="1Gi", pattern=r"^\d+[MG]i$", description="Size of the in-memory /dev/shm of the test pods.")


class NcclFlavor(Sourced):
    """The NCCL test of one GPUDirect flavour on GKE (VMs and Slurm nodes: catalog `node_setup`)."""

    flavor: GpuDirect
    gke: NcclGkeTest


class ExpectedBusBandwidth(_Model):
    """A published all-reduce bus bandwidth of a family (GB/s), or null where no source gives one."""

    gbps: Optional[float] = Field(default=None, gt=0)
    sources: list[str] = Field(default_factory=list)
    note: Optional[str] = None

    @model_validator(mode="after")
    def _cited(self) -> "ExpectedBusBandwidth":
        if self.gbps is not None and not self.sources:
            raise ValueError("an expected bus bandwidth needs the source that publishes it")
        return self


class NcclFacts(Sourced):
    """The NCCL all-reduce test the validation jobs run on multi-node GPU clusters."""

    tests_repo: str
    all_reduce_args: str
    flavors: list[NcclFlavor] = Field(min_length=1)
    expected_busbw: dict[str, ExpectedBusBandwidth] = Field(default_factory=dict, description="GPU family id -> figure")

    def flavor(self, flavor: GpuDirect) -> Optional[NcclFlavor]:
        return next((f for f in self.flavors if f.flavor == flavor), None)


class ImageOs(_Model):
    """What operating system a boot image runs: how its nodes install software."""

    project: str
    family: str
    os: str = Field(pattern=r"^(cos|ubuntu-2204|ubuntu-2404|debian-12|rocky-8|rocky-9)$")
    sources: list[str] = Field(min_length=1)

    @property
    def apt(self) -> bool:
        return self.os.startswith(("ubuntu", "debian"))


class AptRepository(_Model):
    """An apt repository a node adds before installing a package from it."""

    name: str = Field(pattern=r"^[a-z0-9-]+$", description="File name under /etc/apt/sources.list.d (and the key's under /etc/apt/keyrings).")
    line: Optional[str] = Field(default=None, description="The repository line; {codename} is the release's code name, {keyring} the key file.")
    list_url: Optional[str] = Field(default=None, description="A .list file to fetch instead of a line (its deb lines get signed-by the key).")
    key_url: Optional[str] = Field(default=None, description="The repository's signing key (dearmored into /etc/apt/keyrings/NAME.gpg).")
    requires: list[str] = Field(default_factory=list, description="Packages the repository's transport needs first (from earlier repositories).")

    @model_validator(mode="after")
    def _one_source(self) -> "AptRepository":
        if (self.line is None) == (self.list_url is None):
            raise ValueError(f"repository {self.name}: give exactly one of line or list_url")
        return self


class ContainerRun(_Model):
    """A container a node runs with docker: its image (tag pinned) and exactly the flags its source gives."""

    image: str = Field(pattern=r"^[a-z0-9.-]+(/[a-z0-9._-]+)+:[A-Za-z0-9._-]+$")
    docker_flags: list[str] = Field(default_factory=list)
    gpu_devices: bool = Field(default=False, description="Pass /dev/nvidia0 … one per GPU as devices (hosts without the NVIDIA container toolkit).")
    args: list[str] = Field(default_factory=list, description="Arguments after the image ({uds_path} is filled in).")
    ready_log: Optional[str] = Field(default=None, description="A line of its log that says it is ready.")
    settle_seconds: Optional[int] = Field(default=None, ge=1, description="Seconds its source waits after starting it when no ready line is known.")


class DkmsFix(_Model):
    """A DKMS module rebuilt from its packaged source with a one-line fix, where a newer kernel needs it."""

    package: str
    version: str
    file: str
    replace: tuple[str, str]


class GpuDirectHost(Sourced):
    """How a node of one GPUDirect flavour on one OS comes up ready for NCCL over every GPU NIC."""

    flavor: GpuDirect
    os: str = Field(pattern=r"^(cos|ubuntu)$")
    image: Optional[ImageRef] = Field(default=None, description="The boot image a VM of the flavour needs (None: the family's).")
    needs_custom_image: Optional[str] = Field(default=None, description="Why the flavour needs an image built for it on this OS, when it does.")
    driver: list[str] = Field(default_factory=list, description="Shell lines that install the NVIDIA driver (COS), in order.")
    repositories: list[AptRepository] = Field(default_factory=list)
    packages: list[str] = Field(default_factory=list, description="apt packages, version-pinned where the source pins them.")
    docker: bool = Field(default=True, description="The node runs containers (RxDM, the plugin installer): docker and the NVIDIA toolkit are set up.")
    dkms_fix: Optional[DkmsFix] = None
    kernel_modules: list[str] = Field(default_factory=list)
    aperture_devices: Optional[str] = Field(default=None, description="PCI vendor:device of the aperture devices bound under /dev/aperture_devices.")
    accept_tcp: bool = Field(default=False, description="Accept TCP on the node's firewall (iptables), as the flavour's source does.")
    exec_mounts: list[str] = Field(default_factory=list, description="Folders re-mounted executable (COS mounts /var noexec).")
    uds_path: Optional[str] = Field(default=None, description="The folder RxDM and NCCL share their sockets in.")
    job_uds_path: Optional[str] = Field(default=None, description="The folder per Slurm job when RxDM starts in a prolog (${SLURM_JOB_ID} in it).")
    aperture_udev_rule: Optional[str] = Field(default=None, description="A udev rule that binds the aperture devices at every boot (written into built images).")
    rxdm: Optional[ContainerRun] = Field(default=None, description="The receive-datapath manager (TCPX, TCPXO).")
    plugin: Optional[ContainerRun] = Field(default=None, description="The NCCL plugin installer container.")
    files: dict[str, str] = Field(default_factory=dict, description="Files the node writes (path -> content), e.g. the GPU/NIC topology RxDM reads.")
    nccl: NcclHost

    @property
    def builds_kernel_modules(self) -> bool:
        """The node compiles a kernel module at boot (DKMS), which loads only with Secure Boot off (`NodeSetupFacts.dkms_secure_boot`)."""
        return self.dkms_fix is not None or "dkms" in self.packages


def secure_boot_for(host: Optional[GpuDirectHost], build: Optional[SlurmImageBuild] = None) -> bool:
    """Secure Boot stays on unless the node's GPUDirect set-up compiles a kernel module at boot, or the image build it
    boots compiled one in (`NodeSetupFacts.dkms_secure_boot` says why); vTPM and integrity monitoring stay on either way."""
    return not any(x is not None and x.builds_kernel_modules for x in (host, build))


class StorageClient(Sourced):
    """How a node on one OS installs the client of one storage kind."""

    kind: str = Field(pattern=r"^(filestore|lustre|parallelstore|gcsfuse)$")
    os: list[str] = Field(min_length=1, description="The image OSes this way works on (ImageOs.os values).")
    repositories: list[AptRepository] = Field(default_factory=list)
    packages: list[str] = Field(default_factory=list, description="apt packages; {kernel} is the running kernel's release.")
    kernel_modules: list[str] = Field(default_factory=list)
    builtin: bool = Field(default=False, description="The OS has the client already (nothing to install).")


class NodeSetupFacts(Sourced):
    """What nodes install at boot: the GPUDirect userspace per flavour and OS, the storage clients per OS."""

    images: list[ImageOs] = Field(min_length=1)
    gpudirect: list[GpuDirectHost] = Field(min_length=1)
    storage_clients: list[StorageClient] = Field(min_length=1)
    docker: list[AptRepository] = Field(default_factory=list, description="Where an apt node gets the NVIDIA container toolkit.")
    env_file: str = Field(description="Where a node writes the NCCL environment its jobs source.")
    dkms_secure_boot: str = Field(description="Why a node that compiles kernel modules (DKMS) boots with Secure Boot off.")

    def image_os(self, project: str, family: str) -> Optional[ImageOs]:
        return next((i for i in self.images if i.project == project and i.family == family), None)

    def host(self, flavor: GpuDirect, os: str) -> Optional[GpuDirectHost]:
        kind = "cos" if os == "cos" else "ubuntu"
        return next((h for h in self.gpudirect if h.flavor == flavor and h.os == kind), None)

    def vm_host(self, flavor: GpuDirect) -> Optional[GpuDirectHost]:
        """The set-up a Compute Engine VM of the flavour gets: the one that needs no custom image."""
        return next((h for h in self.gpudirect if h.flavor == flavor and not h.needs_custom_image), None)

    def client(self, kind: str, os: str) -> Optional[StorageClient]:
        return next((c for c in self.storage_clients if c.kind == kind and os in c.os), None)


class CatalogData(_Model):
    """The whole data file."""

    read_on: datetime.date
    sources: dict[str, Source]
    guidance: list[WorkloadGuidance]
    vertex: VertexFacts
    gpu_families: list[GpuFamily]
    n1_attachable_gpus: list[AttachableGpu]
    n1_defaults: N1Defaults
    n1_machine_types: list[N1MachineType]
    cpu_machine_prices: Optional[CpuMachinePrices] = None
    tpu_generations: list[TpuGeneration]
    storage: StorageFacts
    cloud_tpu_api: Optional[CloudTpuApi] = None
    slurm: SlurmFacts
    quotas: Optional[QuotaFacts] = None
    gke: Optional[GkeFacts] = None
    nccl: Optional[NcclFacts] = None
    node_setup: Optional[NodeSetupFacts] = None

    @model_validator(mode="after")
    def _references_resolve(self) -> "CatalogData":
        def check(owner: str, ids: list[str]) -> None:
            unknown = [s for s in ids if s not in self.sources]
            if unknown:
                raise ValueError(f"{owner} cites unknown sources {unknown}")

        names: set[str] = set()
        for fam in self.gpu_families:
            check(fam.id, fam.sources)
            for mt in fam.machine_types:
                if mt.name in names:
                    raise ValueError(f"machine type {mt.name} listed twice")
                names.add(mt.name)
        for gpu in self.n1_attachable_gpus:
            check(gpu.gpu.compute_engine, gpu.sources)
        check("n1_defaults", self.n1_defaults.sources)
        if self.cpu_machine_prices is not None:
            check("cpu_machine_prices", self.cpu_machine_prices.sources)
            n1 = {m.name for m in self.n1_machine_types} & set(self.cpu_machine_prices.machines)
            if n1:
                raise ValueError(f"cpu_machine_prices lists N1 types {sorted(n1)}: they are priced under n1_machine_types")
        self.vertex.check_against(self.gpu_families, self.n1_attachable_gpus, check)
        for gen in self.tpu_generations:
            check(gen.id, gen.sources)
        for g in self.guidance:
            check(f"guidance {g.kind.value}", g.sources)
        st = self.storage
        for item in [*st.filestore_tiers, st.lustre, st.parallelstore, st.hyperdisk_ml, st.cloud_storage, *st.disks]:
            check(type(item).__name__, item.sources)
        if self.cloud_tpu_api is not None:
            check("cloud_tpu_api", self.cloud_tpu_api.sources)
            known = {g.id for g in self.tpu_generations}
            unknown = [g.id for g in self.cloud_tpu_api.generations if g.id not in known]
            if unknown:
                raise ValueError(f"cloud_tpu_api names unknown TPU generations {unknown}")
        for owner, ids in self.slurm.cited():
            check(owner, ids)
        for nc in self.slurm.node_conf:
            mt = next((m for fam in self.gpu_families for m in fam.machine_types if m.name == nc.machine_type), None)
            if mt is None:
                raise ValueError(f"slurm.node_conf names unknown machine type {nc.machine_type}")
            if nc.vcpus != mt.vcpus:
                raise ValueError(f"slurm.node_conf {nc.machine_type} describes {nc.vcpus} vCPUs; the machine type has {mt.vcpus}")
        if self.quotas is not None:
            for owner, ids in self.quotas.cited():
                check(owner, ids)
            gens = {g.id for g in self.tpu_generations}
            unknown = [t.generation for t in [*self.quotas.tpus, *self.quotas.gke_tpus] if t.generation not in gens]
            if unknown:
                raise ValueError(f"quotas name unknown TPU generations {unknown}")
        for owner, ids in self.gke.cited() if self.gke else []:
            check(owner, ids)
        if self.nccl is not None:
            check("nccl", self.nccl.sources)
            for f in self.nccl.flavors:
                check(f"nccl.{f.flavor.value}", f.sources)
            families = {fam.id for fam in self.gpu_families}
            for fam_id, expected in self.nccl.expected_busbw.items():
                if fam_id not in families:
                    raise ValueError(f"nccl.expected_busbw names unknown GPU family {fam_id}")
                check(f"nccl.expected_busbw.{fam_id}", expected.sources)
        if self.node_setup is not None:
            ns = self.node_setup
            check("node_setup", ns.sources)
            for img in ns.images:
                check(f"node_setup.images.{img.family}", img.sources)
            for h in ns.gpudirect:
                check(f"node_setup.gpudirect.{h.flavor.value}.{h.os}", h.sources)
            for c in ns.storage_clients:
                check(f"node_setup.storage_clients.{c.kind}", c.sources)
        return self
