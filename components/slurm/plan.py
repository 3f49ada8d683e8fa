"""The plan of a SlurmCluster: its layout, decided from its spec and the catalog before anything is built.

`resolve_layout` turns a resolved cluster with its `slurm:` options into node sets (machine,
GPUs, provisioning, static and dynamic counts, image, placement), partitions (exclusive or not,
their Slurm settings), the controller and login machines, and whether /home needs its own
Filestore. SlurmCluster builds from it and `ai-clusters blueprint` writes it as a Cluster Toolkit
blueprint, so both always describe the same cluster. Pure: no Pulumi here.
"""

import re
from dataclasses import dataclass, field
from typing import Callable, Optional

from ai_clusters.core.catalog import CatalogError, NodeShape, catalog, one_of
from ai_clusters.core.catalog.models import CpuMachineType, GpuDirectHost, SlurmFacts, SlurmLongProlog, secure_boot_for
from ai_clusters.core.enums import ClusterPath, GpuDirect, ProvisioningModel, WorkloadKind
from ai_clusters.core.naming import SLURM_CLUSTER_NAME_MAX, bounded_id
from ai_clusters.core.nics import family_uses_gpu_nics
from ai_clusters.core.spec import FilestoreSpec, ProvisioningSpec, ResolvedCluster, StorageSpec
from ai_clusters.core.spec import check_storage
from ai_clusters.core.spec.capacity import Capacity, plural
from ai_clusters.core.spec.paths import PathDefinition
from ai_clusters.slurm.options import SlurmAccountingSpec, SlurmNodeSetSpec, SlurmOptions

Add = Callable[[str, str], None]

TRAINING = (WorkloadKind.PRETRAINING, WorkloadKind.FINETUNING)
GPU_BOOT_DISK_GB = 200
CPU_BOOT_DISK_GB = 100
# Partition timers (seconds). GPU images and NICs take minutes to come up: the Toolkit's A3
# blueprints raise ResumeTimeout to 900-1200; flex-start nodes wait for capacity (slurm-gcp's
# partition module then uses the largest value Slurm takes).
RESUME_TIMEOUT = {"cpu": 300, "gpu": 900, "flex": 65_535}
SUSPEND_TIMEOUT = {"cpu": 120, "gpu": 600, "flex": 600}
SUSPEND_TIME = 300
# The service accounts of a cluster's roles: CLUSTER-SUFFIX (SlurmCluster), DEPLOYMENT-SUFFIX (the blueprint's modules).
ACCOUNT_SUFFIXES = {"controller": "ctl", "login": "login", "compute": "nodes"}


@dataclass(frozen=True)
class BootImage:
    """A boot image by family (the newest image of it) or by name."""

    project: str
    family: Optional[str] = None
    name: Optional[str] = None

    @property
    def link(self) -> str:
        if self.name:
            return f"projects/{self.project}/global/images/{self.name}"
        return f"projects/{self.project}/global/images/family/{self.family}"

    @property
    def blueprint(self) -> dict:
        """The image as the Toolkit's modules take it (instance_image)."""
        return {"name": self.name, "project": self.project} if self.name else {"family": self.family, "project": self.project}


@dataclass(frozen=True)
class NodeSet:
    """One node set: identical nodes from one instance template."""

    name: str
    machine_type: str
    shape: Optional[NodeShape]  # GPU node sets
    cpu: Optional[CpuMachineType]  # CPU node sets
    provisioning: ProvisioningSpec
    static_nodes: int
    dynamic_nodes: int
    workload: WorkloadKind
    image: BootImage
    boot_disk_gb: int
    boot_disk_type: str
    placement: bool
    node_conf: dict = field(default_factory=dict)
    threads_per_core: Optional[int] = None  # None: the platform default (SMT on where the machine has it)
    gpudirect: Optional[GpuDirectHost] = None  # the GPUDirect host set-up its nodes run at boot
    public_image: bool = True  # boots a slurm-gcp public image

    @property
    def secure_boot(self) -> bool:
        """Shielded VM Secure Boot of its nodes: off where their GPUDirect set-up compiles a kernel module at boot, or where
        they boot an image of their own that the flavour's image build (the blueprint's) compiles one into."""
        build = catalog().data.slurm.image_build(self.gpudirect.flavor) if self.gpudirect and not self.public_image else None
        return secure_boot_for(self.gpudirect, build)

    @property
    def max_nodes(self) -> int:
        return self.static_nodes + self.dynamic_nodes

    @property
    def gpus_per_node(self) -> int:
        return self.shape.gpus if self.shape else 0

    @property
    def accelerators(self) -> int:
        return self.gpus_per_node * self.max_nodes

    @property
    def flex(self) -> bool:
        return self.provisioning.model == ProvisioningModel.FLEX_START

    @property
    def local_ssd(self) -> bool:
        return bool(self.shape and self.shape.local_ssd_gb > 0)


@dataclass(frozen=True)
class Partition:
    """A partition and the Slurm settings slurm-gcp writes for it."""

    name: str
    node_sets: tuple[str, ...]
    default: bool
    exclusive: bool
    job_exclusive: bool  # slurm-gcp's enable_job_exclusive: a node per job, deleted after it
    conf: dict


@dataclass(frozen=True)
class RoleMachine:
    """The controller or the login group."""

    machine: CpuMachineType
    boot_disk_gb: int
    count: int = 1
    group: str = ""


@dataclass(frozen=True)
class SlurmLayout:
    cluster_name: str
    image: BootImage
    controller: RoleMachine
    login: RoleMachine
    node_sets: tuple[NodeSet, ...]
    partitions: tuple[Partition, ...]
    home: Optional[FilestoreSpec]  # a Filestore the cluster creates for /home (None: the storage has /home)
    accounting: Optional[SlurmAccountingSpec]
    scripts_dir: Optional[str]
    scripts_url: str
    facts: SlurmFacts
    native_auth: bool = True
    stage_scripts: bool = True

    @property
    def bucket_dir(self) -> str:
        """The folder of the config bucket slurm-gcp reads (the Toolkit's default name)."""
        return f"{self.cluster_name}-files"

    def node_set(self, name: str) -> NodeSet:
        return next(n for n in self.node_sets if n.name == name)

    @property
    def gpu_node_sets(self) -> list[NodeSet]:
        return [n for n in self.node_sets if n.shape is not None]

    @property
    def rxdm_node_sets(self) -> list[NodeSet]:
        """GPU node sets whose jobs need the receive-datapath manager, started per job by the prolog."""
        return [n for n in self.node_sets if n.gpudirect is not None and n.gpudirect.rxdm is not None]

    @property
    def long_prolog(self) -> Optional[SlurmLongProlog]:
        """The long-prolog slurm.conf timers, when RxDM starts in a prolog on any node set."""
        lp = self.facts.long_prolog
        return lp if any(n.gpudirect.flavor in lp.flavors for n in self.rxdm_node_sets) else None  # type: ignore[union-attr]

    def partitions_of(self, node_set: str) -> list[str]:
        return [p.name for p in self.partitions if node_set in p.node_sets]

    def image_needs(self) -> list[tuple[NodeSet, GpuDirectHost]]:
        """GPUDirect node sets on a public image whose flavour needs an image built for it (TCPX: its kernel)."""
        setup = catalog().data.node_setup
        out = []
        for ns in self.gpu_node_sets:
            fam = ns.shape.family  # type: ignore[union-attr]
            if setup is None or ns.gpudirect is not None or not ns.public_image or not family_uses_gpu_nics(fam, ns.gpus_per_node):
                continue
            host = setup.host(fam.gpudirect, "ubuntu")
            if host is not None and host.needs_custom_image:
                out.append((ns, host))
        return out

    def cautions(self, storage: StorageSpec, images: bool = True) -> list[str]:
        """What may not work as laid out and cannot be checked here (shown by the component and the blueprint;
        `images`: the GPUDirect images node sets lack, which the blueprint builds itself)."""
        out = []
        public = self.facts.image_project
        if storage.lustre is not None and any(n.image.project == public for n in self.node_sets):
            out.append(
                "Managed Lustre on nodes that boot with Secure Boot needs signed Lustre kernel modules; slurm-gcp documents its "
                "public images as Secure Boot ready without Lustre (docs/images.md): check the client loads, or use a custom image."
            )
        setup = catalog().data.node_setup
        for ns in self.node_sets:
            if not ns.secure_boot and setup is not None:
                out.append(f"node set {ns.name} ({ns.machine_type}): Secure Boot is off: {setup.dkms_secure_boot}")
        for ns, host in self.image_needs() if images else []:
            parts = ", ".join(self.partitions_of(ns.name))
            out.append(
                f"partition {parts} (node set {ns.name}, {ns.machine_type}) needs a GPUDirect-{host.flavor.value.upper()} image: "
                f"{host.needs_custom_image}. Until it has one, its nodes boot {ns.image.family or ns.image.name} without GPUDirect "
                f"(NCCL over the host NIC only). Build the image with group image-{ns.name} of `ai-clusters blueprint`, "
                f"then give node set {ns.name} that image (imageName, or imageFamily and imageProject)."
            )
        return out


def default_node_set_name(shape: NodeShape) -> str:
    """a3-mega -> a3mega: slurm-gcp node set names are letters and digits."""
    return re.sub(r"[^a-z0-9]", "", shape.family.id)[:14]


def scripts_archive_url(facts: SlurmFacts) -> str:
    """The Cluster Toolkit source at the pinned commit (GitHub serves one archive per commit)."""
    return f"https://github.com/GoogleCloudPlatform/cluster-toolkit/archive/{facts.toolkit_commit}.tar.gz"


def _cpu_machine(facts: SlurmFacts, name: str) -> Optional[CpuMachineType]:
    return next((m for m in facts.cpu_machine_types if m.name == name), None)


def _role_machine(add: Add, facts: SlurmFacts, key: str, name: str) -> Optional[CpuMachineType]:
    machine = _cpu_machine(facts, name)
    if machine is None:
        add(key, f"{name!r} is not a CPU machine type of the catalog; allowed: {one_of([m.name for m in facts.cpu_machine_types], 20)}")
    return machine


def _image(
    add: Add,
    facts: SlurmFacts,
    key: str,
    family: Optional[str],
    project: Optional[str],
    base: Optional[BootImage],
    name: Optional[str] = None,
    own_project: str = "",
) -> Optional[BootImage]:
    if family is None and project is None and name is None and base is not None:
        return base
    if name is not None:
        return BootImage(project or own_project or facts.image_project, name=name)
    project = project or facts.image_project
    family = family or facts.default_image_family
    if project == facts.image_project and family not in {f.family for f in facts.image_families}:
        add(key, f"{family!r} is not a slurm-gcp public image family; known: {one_of([f.family for f in facts.image_families])}")
        return None
    return BootImage(project, family)


def _gpu_image_problems(add: Add, facts: SlurmFacts, key: str, image: BootImage, shape: NodeShape) -> None:
    if image.project != facts.image_project or image.name:
        return  # a custom image: its drivers and architecture are its owner's business
    fam = next(f for f in facts.image_families if f.family == image.family)
    if fam.arch != shape.family.arch:
        add(key, f"{shape.machine_type} is {shape.family.arch}; image family {image.family} is {fam.arch}")
    elif not fam.signed_gpu_driver:
        signed = [f.family for f in facts.image_families if f.signed_gpu_driver and f.arch == shape.family.arch]
        add(
            key,
            f"GPU nodes boot with Secure Boot, which needs signed NVIDIA drivers; {image.family} has none. "
            f"Use {one_of(signed) if signed else 'a custom image with signed drivers'}",
        )


def _node_set(
    add: Add,
    resolved: ResolvedCluster,
    spec: SlurmNodeSetSpec,
    key: str,
    facts: SlurmFacts,
    base_image: BootImage,
) -> Optional[NodeSet]:
    cat = catalog()
    shape: Optional[NodeShape] = None
    cpu: Optional[CpuMachineType] = None
    inherits = spec.machine_type is None
    if inherits:
        shape = resolved.shape
        machine_type = shape.machine_type if shape else ""
    else:
        machine_type = spec.machine_type
        if machine_type in cat.machines or machine_type in cat.n1_machines:
            try:
                shape = cat.shape(machine_type, spec.gpu, spec.gpus_per_node)
            except CatalogError as exc:
                add(f"{key}.machineType", str(exc))
                return None
        else:
            cpu = _cpu_machine(facts, machine_type)
            if cpu is None:
                known = [m.name for m in facts.cpu_machine_types]
                add(
                    f"{key}.machineType",
                    f"{machine_type!r} is neither a GPU machine type nor a CPU machine type of the catalog; CPU types: {one_of(known, 20)}",
                )
                return None
            if spec.gpu:
                add(f"{key}.gpu", f"{machine_type} is a CPU machine type; GPUs attach to N1 machine types only")
    if shape is None and cpu is None:
        return None

    provisioning = spec.provisioning or (resolved.spec.provisioning if inherits else ProvisioningSpec())
    model = provisioning.model
    if shape is not None:
        if model not in shape.provisioning:
            add(f"{key}.provisioning.model", f"{machine_type} cannot be had {model.value}; allowed: {one_of(p.value for p in shape.provisioning)}")
        if shape.refusal:
            add(f"{key}.machineType", shape.refusal)
        elif resolved.zone not in shape.zones:
            add(f"{key}.machineType", f"{machine_type} ({shape.family.name}) is not offered in the cluster's zone {resolved.zone}")
    elif model == ProvisioningModel.FLEX_START:
        add(f"{key}.provisioning.model", "flex-start (Dynamic Workload Scheduler) is for GPU node sets here; use on-demand, spot or a reservation")

    static, dynamic = spec.static_nodes, spec.dynamic_nodes
    if static is None and dynamic is None:
        if not inherits:
            add(key, f"node set {spec.name!r} has its own machine type: give staticNodes and/or dynamicNodes")
            return None
        static, dynamic = (0, resolved.nodes) if model == ProvisioningModel.FLEX_START else (resolved.nodes, 0)
    static, dynamic = static or 0, dynamic or 0
    if model == ProvisioningModel.FLEX_START and static:
        add(f"{key}.staticNodes", "flex-start capacity comes per job: give dynamicNodes, not staticNodes")

    image = _image(add, facts, f"{key}.imageFamily", spec.image_family, spec.image_project, base_image, spec.image_name, resolved.project)
    if image is None:
        return None
    if shape is not None:
        _gpu_image_problems(add, facts, f"{key}.imageFamily", image, shape)
    public = image.project == facts.image_project and image.name is None

    fam = shape.family if shape else None
    max_nodes = static + dynamic
    wants_placement = bool(fam and fam.compact_placement and fam.gpudirect != GpuDirect.NONE and max_nodes > 1)
    placement = wants_placement if spec.placement is None else spec.placement
    if placement and not (fam and fam.compact_placement):
        add(f"{key}.placement", f"{machine_type} takes no compact placement policy")
        placement = False
    if placement and fam and fam.max_placement_group_vms and max_nodes > fam.max_placement_group_vms:
        add(key, f"{max_nodes} nodes exceed {fam.name}'s compact placement limit of {fam.max_placement_group_vms} VMs; split the node set")

    return NodeSet(
        name=spec.name,
        machine_type=machine_type,
        shape=shape,
        cpu=cpu,
        provisioning=provisioning,
        static_nodes=static,
        dynamic_nodes=dynamic,
        workload=spec.workload or resolved.spec.workload.kind,
        image=image,
        boot_disk_gb=spec.boot_disk_gb or (GPU_BOOT_DISK_GB if shape else CPU_BOOT_DISK_GB),
        boot_disk_type=(shape.family.boot_disk_types[0] if shape else cpu.boot_disk_types[0]),  # type: ignore[union-attr]
        placement=placement,
        node_conf=_node_conf(facts, machine_type, spec),
        threads_per_core=int(spec.node_conf["ThreadsPerCore"]) if "ThreadsPerCore" in spec.node_conf else None,
        gpudirect=_gpudirect_host(shape, public),
        public_image=public,
    )


def _node_conf(facts: SlurmFacts, machine_type: str, spec: SlurmNodeSetSpec) -> dict:
    """The node line's overrides: the Toolkit's for the machine type (catalog), then the node set's own."""
    known = facts.node_conf_of(machine_type)
    return {**(known.conf if known else {}), **spec.node_conf}


def _gpudirect_host(shape: Optional[NodeShape], public_image: bool) -> Optional[GpuDirectHost]:
    """The GPUDirect set-up a node set's nodes run at boot: the flavour's Ubuntu one (slurm-gcp's GPU images are Ubuntu);
    none without GPU NICs, or on a public image when the flavour needs an image built for it (TCPX: its kernel)."""
    setup = catalog().data.node_setup
    if shape is None or setup is None or shape.gpudirect == GpuDirect.NONE or not family_uses_gpu_nics(shape.family, shape.gpus):
        return None
    host = setup.host(shape.gpudirect, "ubuntu")
    if host is None or (host.needs_custom_image and public_image):
        return None
    return host


def _partition_kind(sets: list[NodeSet]) -> str:
    if any(n.flex for n in sets):
        return "flex"
    return "gpu" if any(n.shape for n in sets) else "cpu"


def _partitions(options: SlurmOptions, node_sets: list[NodeSet]) -> list[Partition]:
    specs = options.partitions or []
    by_name = {n.name: n for n in node_sets}
    groups: list[tuple[str, list[str], bool, Optional[bool], Optional[int], Optional[int], dict]] = (
        [(p.name, list(p.node_sets), p.default, p.exclusive, p.suspend_time, p.resume_timeout, dict(p.conf)) for p in specs]
        if specs
        else [(n.name, [n.name], i == 0, None, None, None, {}) for i, n in enumerate(node_sets)]
    )
    any_default = any(g[2] for g in groups)
    out = []
    for i, (name, names, default, exclusive, suspend_time, resume_timeout, extra) in enumerate(groups):
        sets = [by_name[n] for n in names if n in by_name]
        kind = _partition_kind(sets)
        if exclusive is None:
            exclusive = kind != "cpu" and any(n.workload in TRAINING for n in sets if n.shape)
        has_static = any(n.static_nodes for n in sets)
        # slurm-gcp's job-exclusive mode deletes a node after its job, so it cannot hold static nodes;
        # static nodes are made exclusive by Slurm's OverSubscribe instead (as the Toolkit's A3 blueprints do).
        job_exclusive = exclusive and not has_static
        suspend = suspend_time if suspend_time is not None else SUSPEND_TIME
        conf: dict = {
            "Default": "YES" if (default or (not any_default and i == 0)) else None,
            "SuspendTime": "INFINITE" if suspend < 0 else suspend,
            "SuspendTimeout": SUSPEND_TIMEOUT[kind],
            "ResumeTimeout": resume_timeout or RESUME_TIMEOUT[kind],
        }
        if exclusive and has_static:
            conf["OverSubscribe"] = "EXCLUSIVE"
        conf.update(extra)
        if kind == "flex":
            conf["ResumeTimeout"] = RESUME_TIMEOUT["flex"]
        out.append(
            Partition(
                name=name,
                node_sets=tuple(names),
                default=conf["Default"] == "YES",
                exclusive=exclusive,
                job_exclusive=job_exclusive,
                conf={k: v for k, v in conf.items() if v is not None},
            )
        )
    return out


def _has_home(storage: StorageSpec) -> bool:
    shared = [storage.filestore, storage.lustre, storage.parallelstore]
    return any(fs is not None and fs.mount_point == "/home" for fs in shared)


def resolve_layout(resolved: ResolvedCluster, add: Add) -> Optional[SlurmLayout]:
    """The cluster's Slurm layout; every problem goes to `add(key, message)` (None when any)."""
    facts = catalog().data.slurm
    options: SlurmOptions = resolved.options or SlurmOptions()
    before = _Counter(add)
    add = before.add
    image = _image(add, facts, "slurm.imageFamily", options.image_family, options.image_project, None, options.image_name, resolved.project)
    controller = _role_machine(add, facts, "slurm.controller.machineType", options.controller.machine_type or facts.controller_machine_type)
    login = _role_machine(add, facts, "slurm.login.machineType", options.login.machine_type or facts.login_machine_type)

    specs = list(options.node_sets)
    if not specs:
        if resolved.shape is None:
            add("slurm.nodeSets", "a Slurm cluster needs GPU nodes: give machineType or nodeSets")
            return None
        specs = [SlurmNodeSetSpec(name=default_node_set_name(resolved.shape))]
    node_sets: list[NodeSet] = []
    if image is not None:
        for i, spec in enumerate(specs):
            ns = _node_set(add, resolved, spec, f"slurm.nodeSets[{i}]", facts, image)
            if ns is not None:
                node_sets.append(ns)

    home: Optional[FilestoreSpec] = None
    if not _has_home(resolved.storage):
        home = options.home or FilestoreSpec(mount_point="/home")
        check_storage(
            lambda key, msg: add(key.replace("storage.filestore", "slurm.home"), msg),
            StorageSpec(filestore=home),
            resolved.zone,
            catalog(),
        )
    if before.count or image is None or controller is None or login is None:
        return None
    return SlurmLayout(
        cluster_name=options.cluster_name or bounded_id(resolved.name, SLURM_CLUSTER_NAME_MAX),
        image=image,
        controller=RoleMachine(controller, options.controller.boot_disk_gb),
        login=RoleMachine(login, options.login.boot_disk_gb, count=options.login.count, group=options.login.name),
        node_sets=tuple(node_sets),
        partitions=tuple(_partitions(options, node_sets)),
        home=home,
        accounting=options.accounting,
        scripts_dir=options.scripts_dir,
        scripts_url=options.scripts_url or scripts_archive_url(facts),
        facts=facts,
        native_auth=facts.auth.native if options.auth is None else options.auth == "slurm",
        stage_scripts=options.stage_scripts,
    )


class _Counter:
    """Counts the problems reported through it."""

    def __init__(self, add: Add):
        self._add = add
        self.count = 0

    def add(self, key: str, message: str) -> None:
        self.count += 1
        self._add(key, message)


def node_shapes(resolved: ResolvedCluster) -> list[NodeShape]:
    """Every GPU shape a Slurm cluster's node sets use (for the environment's accelerator networks)."""
    layout: SlurmLayout = resolved.plan
    return [n.shape for n in layout.gpu_node_sets if n.shape is not None]


def slurm_capacity(resolved: ResolvedCluster) -> Capacity:
    """The GPUs of every GPU node set at its largest (static + dynamic nodes)."""
    layout: SlurmLayout = resolved.plan
    options: SlurmOptions = resolved.options or SlurmOptions()
    sets = layout.gpu_node_sets
    shape = ", ".join(f"node set {n.name}: {plural(n.max_nodes, 'node')} x {n.gpus_per_node} {n.shape.gpu.model} ({n.machine_type})" for n in sets if n.shape)
    resize = None
    if not options.node_sets:
        resize = "nodes"
    elif len(sets) == 1:
        i = next(i for i, spec in enumerate(options.node_sets) if spec.name == sets[0].name)
        counts = [key for key, value in (("staticNodes", sets[0].static_nodes), ("dynamicNodes", sets[0].dynamic_nodes)) if value]
        resize = f"slurm.nodeSets[{i}].{counts[0]}" if len(counts) == 1 else None
    return Capacity(
        accelerators=sum(n.accelerators for n in sets),
        per_unit=max((n.gpus_per_node for n in sets), default=1),
        shape=shape or "no GPU node set",
        resize_key=resize,
    )


PATH = PathDefinition(
    path=ClusterPath.SLURM,
    plan=resolve_layout,
    component="ai_clusters.slurm.component:from_resolved",
    options_key="slurm",
    options_model=SlurmOptions,
    node_shapes=node_shapes,
    capacity=slurm_capacity,
)


__all__ = [
    "ACCOUNT_SUFFIXES",
    "PATH",
    "BootImage",
    "NodeSet",
    "Partition",
    "RoleMachine",
    "SlurmLayout",
    "default_node_set_name",
    "node_shapes",
    "resolve_layout",
    "scripts_archive_url",
]
