"""The Cluster Toolkit blueprint equivalent to a SlurmCluster, for teams that deploy with `gcluster`.

Built from the same SlurmLayout the component builds from, with the Toolkit's own modules (the
release pinned in the catalog): the host VPC with Cloud NAT and IAP SSH, the family's GPU/RDMA
networks, private services access, the cluster's file systems and bucket, one service account per
role, one nodeset module per node set, one partition module per partition, the login group and
the controller (Cloud SQL accounting when asked for). Every VM keeps our defaults: no public IP,
Shielded VM with Secure Boot (off only on node sets that compile a kernel module at boot), OS Login.

GPUDirect node sets get what SlurmCluster gives them: the catalog's host set-up as the node set's start-up
script, the RxDM prolog and epilog as the controller's prolog_scripts/epilog_scripts with the Toolkit's
long-prolog slurm.conf, and an image built in a packer group before the cluster (A3 Mega: the public
slurm-gcp image with the GPUDirect-TCPXO userspace; A3 High: the TCPX kernel, whose credentials are blueprint
variables) wired into the node set's instance_image. Ids stay within Google's limits: the deployment name is
cut so that every service account id the Toolkit derives from it (DEPLOYMENT-NAME) fits 6-30 characters.

`blueprint(...)` returns the document (a dict) and the notes on what the Toolkit does differently;
`render(...)` writes it as YAML with the notes as a comment header.
"""

import ipaddress
import math
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from ai_clusters.blocks.scripts import NodeScript, startup_script
from ai_clusters.core import labels as contract
from ai_clusters.core.catalog import GpuFamily, catalog
from ai_clusters.core.catalog.models import GpuDirectHost, SlurmImageBuild, secure_boot_for
from ai_clusters.core.labels import cluster_labels
from ai_clusters.core.enums import GpuDirect, ProvisioningModel
from ai_clusters.core.naming import SERVICE_ACCOUNT_ID_MAX, bounded_id, prefixed_id_room
from ai_clusters.core.nics import family_uses_gpu_nics
from ai_clusters.slurm import rxdm
from ai_clusters.slurm.config import to_yaml
from ai_clusters.slurm.plan import ACCOUNT_SUFFIXES, BootImage, NodeSet, SlurmLayout
from ai_clusters.core.spec import NetworkSpec, ResolvedCluster

NODESET = "community/modules/compute/schedmd-slurm-gcp-v6-nodeset"
PARTITION = "community/modules/compute/schedmd-slurm-gcp-v6-partition"
LOGIN = "community/modules/scheduler/schedmd-slurm-gcp-v6-login"
CONTROLLER = "community/modules/scheduler/schedmd-slurm-gcp-v6-controller"
CLOUDSQL = "community/modules/database/slurm-cloudsql-federation"
VPC = "modules/network/vpc"
MULTIVPC = "modules/network/multivpc"
RDMA_VPC = "modules/network/gpu-rdma-vpc"
PSA = "modules/network/private-service-access"
SERVICE_ACCOUNT = "modules/project/service-account"
STARTUP_SCRIPT = "modules/scripts/startup-script"
CUSTOM_IMAGE = "modules/packer/custom-image"
EMBEDDED = "../_modules/embedded/"  # where gcluster puts the Toolkit's own modules, relative to a group's folder
FILESTORE = "modules/file-system/filestore"
LUSTRE = "modules/file-system/managed-lustre"
PARALLELSTORE = "modules/file-system/parallelstore"
BUCKET = "modules/file-system/cloud-storage-bucket"

GPU_BLOCK_PREFIX = 20  # each GPU network module gets a /20 of the environment's gpu_cidr
SHIELDED = {"enable_secure_boot": True, "enable_vtpm": True, "enable_integrity_monitoring": True}
ROLES = {
    "controller": ["logging.logWriter", "monitoring.metricWriter", "compute.instanceAdmin.v1", "iam.serviceAccountUser"],
    "login": ["logging.logWriter", "monitoring.metricWriter", "storage.objectUser"],
    "compute": ["logging.logWriter", "monitoring.metricWriter", "artifactregistry.reader", "storage.objectUser"],
}


def blueprint_file(stack: str, cluster: str) -> str:
    """Where `ai-clusters blueprint` writes a cluster's blueprint, relative to the project."""
    return f"blueprints/{stack}-{cluster}.yaml"


def deployment_name(environment: str, cluster: str) -> str:
    """The blueprint's deployment name: ENV-CLUSTER, cut so that every DEPLOYMENT-SUFFIX service account id fits 30 characters."""
    return bounded_id(f"{environment}-{cluster}", prefixed_id_room(SERVICE_ACCOUNT_ID_MAX, *ACCOUNT_SUFFIXES.values()))


def literal(text: str) -> str:
    """Text gcluster passes through as is: every `$(` escaped (`\\$(`, backslashes before it doubled), so shell
    command substitutions are not read as blueprint expressions."""
    return re.sub(r"(\\*)\$\(", lambda m: "\\" * (2 * len(m.group(1)) + 1) + "$(", text)


@dataclass
class Blueprint:
    doc: dict
    notes: list[str] = field(default_factory=list)


class _Modules:
    """The deployment groups and their modules, in order: modules go to the group opened last."""

    def __init__(self) -> None:
        self.groups: list[dict] = [{"group": "primary", "modules": []}]

    @property
    def items(self) -> list[dict]:
        return [m for g in self.groups for m in g["modules"]]

    def group(self, name: str) -> None:
        self.groups.append({"group": name, "modules": []})

    def add(self, id: str, source: str, settings: dict, use: Optional[list[str]] = None, kind: Optional[str] = None) -> str:
        module: dict[str, Any] = {"id": id, "source": source}
        if kind:
            module["kind"] = kind
        if use:
            module["use"] = list(use)
        module["settings"] = {k: v for k, v in settings.items() if v is not None}
        self.groups[-1]["modules"].append(module)
        return id


def _image(image: BootImage) -> dict:
    return image.blueprint


def _gpu_networks(mods: _Modules, layout: SlurmLayout, net: NetworkSpec) -> dict[str, dict]:
    """The GPU/RDMA networks each GPUDirect family needs: {family id: {use: [...], additional_networks: expr}}."""
    blocks = iter(ipaddress.ip_network(net.gpu_cidr).subnets(new_prefix=GPU_BLOCK_PREFIX))
    out: dict[str, dict] = {}
    families: dict[str, GpuFamily] = {}
    for ns in layout.gpu_node_sets:
        fam = ns.shape.family  # type: ignore[union-attr]
        if fam.gpudirect != GpuDirect.NONE and family_uses_gpu_nics(fam, ns.gpus_per_node):
            families.setdefault(fam.id, fam)
    for fid, fam in families.items():
        key = fid.replace("-", "")
        layout_ = fam.network
        if fam.gpudirect in (GpuDirect.TCPX, GpuDirect.TCPXO):
            mods.add(
                f"gpunets_{key}",
                MULTIVPC,
                {
                    "network_name_prefix": f"$(vars.deployment_name)-{key}-gpu",
                    "network_count": layout_.gpu_nics,
                    "mtu": layout_.gpu_mtu,
                    "global_ip_address_range": str(next(blocks)),
                    "subnetwork_cidr_suffix": GPU_BLOCK_PREFIX + math.ceil(math.log2(layout_.gpu_nics)),
                },
            )
            out[fid] = {"use": [f"gpunets_{key}"], "additional_networks": None}
        else:  # RDMA: extra gVNIC VPCs, then one VPC with the zone's RoCE profile and a subnet per RDMA NIC
            gvnics = []
            for i in range(1, layout_.gvnics):
                block = next(blocks)
                gid = mods.add(
                    f"gvnic{i}_{key}",
                    VPC,
                    {
                        "network_name": f"$(vars.deployment_name)-{key}-gvnic-{i}",
                        "mtu": layout_.second_gvnic_mtu or layout_.host_mtu,
                        "subnetworks": [
                            {
                                "subnet_name": f"$(vars.deployment_name)-{key}-gvnic-{i}",
                                "subnet_region": "$(vars.region)",
                                "subnet_ip": str(next(block.subnets(new_prefix=22))),
                            }
                        ],
                        "enable_cloud_nat": False,
                        "enable_iap_ssh_ingress": False,
                    },
                )
                gvnics.append(gid)
            rid = mods.add(
                f"rdma_{key}",
                RDMA_VPC,
                {
                    "network_name": f"$(vars.deployment_name)-{key}-rdma",
                    "network_profile": "https://www.googleapis.com/compute/beta/projects/$(vars.project_id)/global/networkProfiles/$(vars.zone)-vpc-roce",
                    "network_routing_mode": "REGIONAL",
                    "mtu": layout_.gpu_mtu,
                    "subnetworks_template": {
                        "name_prefix": f"$(vars.deployment_name)-{key}-rdma",
                        "count": layout_.gpu_nics,
                        "ip_range": str(next(blocks)),
                        "region": "$(vars.region)",
                    },
                },
            )
            nics = ", ".join(
                "{network=null, subnetwork=%s.subnetwork_self_link, subnetwork_project=vars.project_id, nic_type=\"GVNIC\", "
                "queue_count=null, network_ip=\"\", stack_type=null, access_config=[], ipv6_access_config=[], alias_ip_range=[]}" % g
                for g in gvnics
            )
            out[fid] = {"use": [], "additional_networks": f"$(concat([{nics}], {rid}.subnetwork_interfaces))"}
    return out


def _storage(mods: _Modules, cl: ResolvedCluster, layout: SlurmLayout, protect: bool) -> list[str]:
    """The file systems and bucket every node mounts (their network_storage reaches the controller)."""
    ids: list[str] = []
    use = ["network", "private_service_access"]
    protection = {"enabled": True, "reason": "ai-clusters: data must survive configuration changes"} if protect else {"enabled": False}
    filestores = [fs for fs in (cl.storage.filestore, layout.home) if fs is not None]
    for fs in filestores:
        fid = "homefs" if fs.mount_point == "/home" else "filestore"
        ids.append(
            mods.add(
                fid,
                FILESTORE,
                {
                    "filestore_tier": fs.tier,
                    "size_gb": fs.capacity_gb,
                    "filestore_share_name": fs.share_name,
                    "local_mount": fs.mount_point,
                    "deletion_protection": protection,
                },
                use,
            )
        )
    if cl.storage.lustre is not None:
        lu = cl.storage.lustre
        ids.append(
            mods.add(
                "lustre",
                LUSTRE,
                {
                    "name": "$(vars.deployment_name)-lustre",
                    "size_gib": lu.capacity_gb,
                    "per_unit_storage_throughput": lu.throughput_mbps_per_tib,
                    "remote_mount": lu.filesystem,
                    "local_mount": lu.mount_point,
                },
                use,
            )
        )
    if cl.storage.parallelstore is not None:
        ps = cl.storage.parallelstore
        ids.append(mods.add("parallelstore", PARALLELSTORE, {"size_gb": ps.capacity_gb, "local_mount": ps.mount_point}, use))
    if cl.storage.bucket.enabled:
        b = cl.storage.bucket
        ids.append(
            mods.add(
                "data_bucket",
                BUCKET,
                {
                    "local_mount": "/gcs",
                    "random_suffix": True,
                    "enable_hierarchical_namespace": b.hierarchical_namespace,
                    "uniform_bucket_level_access": True,
                    "public_access_prevention": "enforced",
                    "soft_delete_retention_duration": b.soft_delete_days * 86400,
                    "force_destroy": not protect,
                    "mount_options": "defaults,_netdev,implicit_dirs,allow_other,dir_mode=777,file_mode=777",
                },
            )
        )
    return ids


@dataclass(frozen=True)
class ImageGroup:
    """An image a node set boots, built by packer in its own group before the cluster's."""

    node_set: NodeSet
    build: SlurmImageBuild
    host: GpuDirectHost

    @property
    def group(self) -> str:
        return f"image-{self.node_set.name}"

    @property
    def family(self) -> str:
        return f"$(vars.deployment_name)-{self.node_set.name}"

    @property
    def source(self) -> BootImage:
        ref = self.build.source_image
        return BootImage(ref.project, family=ref.family) if ref is not None else self.node_set.image


def image_groups(layout: SlurmLayout) -> list[ImageGroup]:
    """The images to build: GPUDirect node sets on a public image whose flavour has an image build in the catalog
    (A3 Mega: its userspace ahead of boot; A3 High: the TCPX kernel it cannot do without)."""
    facts, setup = layout.facts, catalog().data.node_setup
    out = []
    for ns in layout.gpu_node_sets:
        if not ns.public_image or setup is None:
            continue
        host = ns.gpudirect or next((h for n, h in layout.image_needs() if n.name == ns.name), None)
        build = facts.image_build(host.flavor) if host is not None else None
        if host is not None and build is not None:
            out.append(ImageGroup(ns, build, host))
    return out


def image_build_script(group: ImageGroup) -> str:
    """The build VM's script: the recipe's own steps, then the flavour's set-up that needs no GPU machine; the recipe's
    {variables} become blueprint variables."""
    steps = tuple((s.name, tuple(s.lines)) for s in group.build.steps)
    script = startup_script(NodeScript(first_steps=steps, gpudirect=group.host, gpus=group.node_set.gpus_per_node, rxdm_at_boot=False, image_build=True))
    script = literal(script)
    for name in group.build.variables:
        script = script.replace("{" + name + "}", f"$(vars.{name})")
    return script


def node_set_script(ns: NodeSet, host: Optional[GpuDirectHost]) -> Optional[str]:
    """A GPU node set's start-up script in the blueprint: the GPUDirect set-up (RxDM per job) and the local SSD array."""
    if ns.shape is None or (host is None and not ns.local_ssd):
        return None
    return literal(startup_script(NodeScript(local_ssd=ns.local_ssd, gpudirect=host, gpus=ns.gpus_per_node, rxdm_at_boot=False)))


def _node_set(mods: _Modules, ns: NodeSet, networks: dict[str, dict], built: Optional[ImageGroup]) -> str:
    host = built.host if built is not None else ns.gpudirect  # a built image has what its flavour needs
    fam = ns.shape.family if ns.shape else None
    gpu_net = networks.get(fam.id) if fam else None
    model = ns.provisioning.model
    settings: dict[str, Any] = {
        "name": ns.name,
        "machine_type": ns.machine_type,
        "node_count_static": ns.static_nodes,
        "node_count_dynamic_max": ns.dynamic_nodes,
        "enable_placement": ns.placement,
        "disk_type": ns.boot_disk_type,
        "disk_size_gb": ns.boot_disk_gb,
        "instance_image": {"family": built.family, "project": "$(vars.project_id)"} if built else _image(ns.image),
        "instance_image_custom": True if built or not ns.public_image else None,
        # SMT as SlurmCluster's templates have it (the platform default unless node_conf says otherwise), not the
        # nodeset module's default of one thread per core, so that node_conf's ThreadsPerCore is what the VM has.
        "advanced_machine_features": {"threads_per_core": ns.threads_per_core},
        "enable_public_ips": False,
        "enable_oslogin": True,
        "enable_shielded_vm": True,
        # Secure Boot off where the node set's GPUDirect set-up compiles a kernel module (as SlurmCluster does)
        "shielded_instance_config": {**SHIELDED, "enable_secure_boot": ns.secure_boot and secure_boot_for(host, built.build if built else None)},
        "startup_script": node_set_script(ns, host),
    }
    if ns.shape is not None:
        settings.update(on_host_maintenance="TERMINATE", bandwidth_tier="gvnic_enabled")
        if ns.shape.attached:
            settings["guest_accelerator"] = [{"type": ns.shape.gpu.compute_engine, "count": ns.shape.gpus}]
    if model == ProvisioningModel.RESERVATION:
        settings["reservation_name"] = ns.provisioning.reservation
    elif model == ProvisioningModel.SPOT:
        settings["enable_spot_vm"] = True
    elif model == ProvisioningModel.FLEX_START:
        settings["dws_flex"] = {"enabled": True, "max_run_duration": (ns.provisioning.max_run_hours or 168) * 3600}
    if ns.node_conf:
        settings["node_conf"] = dict(ns.node_conf)
    if gpu_net and gpu_net["additional_networks"]:
        settings["additional_networks"] = gpu_net["additional_networks"]
    use = ["network", "compute_sa", *(gpu_net["use"] if gpu_net else [])]
    return mods.add(f"{ns.name}_nodeset", NODESET, settings, use)


def blueprint(cl: ResolvedCluster, layout: SlurmLayout, network: NetworkSpec) -> Blueprint:
    """The Cluster Toolkit blueprint of one Slurm cluster of a stack."""
    facts = layout.facts
    mods = _Modules()
    notes = [
        f"Cluster Toolkit {facts.toolkit_release} (commit {facts.toolkit_commit}) modules; deploy with: gcluster deploy <this file>",
        "Service accounts get project-level roles here (storage.objectUser included); SlurmCluster grants object access on the data bucket only.",
    ]
    if layout.rxdm_node_sets or layout.image_needs():
        notes.append(
            "GPUDirect-TCPX/TCPXO node sets: their start-up script installs the NCCL plugin and pulls RxDM's image; the controller's "
            "prolog_scripts start RxDM per multi-node job and its epilog_scripts stop it (the long-prolog slurm.conf gives them time)."
        )
    notes.extend(layout.cautions(cl.storage, images=False))  # the blueprint builds the images it needs
    if cl.storage.hyperdisk_ml is not None:
        notes.append("Hyperdisk ML has no Slurm module in the Toolkit: create and attach it separately.")
    host_mtu = network.host_mtu or max([n.shape.family.network.host_mtu for n in layout.gpu_node_sets] or [1460])  # type: ignore[union-attr]
    psa = ipaddress.ip_network(network.psa_cidr)
    labels = contract.data_labels(cluster_labels(cl))
    protect = cl.protect_data

    mods.add(
        "network",
        VPC,
        {
            "network_name": "$(vars.deployment_name)-host",
            "mtu": host_mtu,
            "subnetworks": [
                {
                    "subnet_name": "$(vars.deployment_name)-host",
                    "subnet_region": "$(vars.region)",
                    "subnet_ip": network.host_cidr,
                    "subnet_private_access": True,
                }
            ],
            "enable_cloud_nat": True,
            "enable_iap_ssh_ingress": True,
            "enable_internal_traffic": True,
        },
    )
    gpu_networks = _gpu_networks(mods, layout, network)
    mods.add("private_service_access", PSA, {"address": str(psa.network_address), "prefix_length": psa.prefixlen}, ["network"])
    storage_ids = _storage(mods, cl, layout, protect)
    for role, roles in ROLES.items():
        mods.add(
            f"{role}_sa",
            SERVICE_ACCOUNT,
            {"name": ACCOUNT_SUFFIXES[role], "display_name": f"Slurm {role} of {layout.cluster_name}", "project_roles": roles},
        )
    groups = image_groups(layout)
    variables: dict[str, str] = {}
    for g in groups:  # the build VM's script, then the image in a packer group of its own
        mods.add(
            f"image_script_{g.node_set.name}",
            STARTUP_SCRIPT,
            {
                "install_ansible": g.build.install_ansible or None,
                "runners": [{"type": "shell", "destination": "ai-clusters-image.sh", "content": image_build_script(g)}],
            },
        )
        variables.update({k: "" for k in g.build.variables})
    for g in groups:
        src = g.source
        mods.group(g.group)
        mods.add(
            f"image_{g.node_set.name}",
            CUSTOM_IMAGE,
            {
                "machine_type": g.build.machine_type,
                "source_image_project_id": [src.project],
                "source_image_family": src.family,
                "source_image": src.name,
                "image_family": g.family,
                "disk_size": g.node_set.boot_disk_gb,
            },
            [f"image_script_{g.node_set.name}", "network"],
            kind="packer",
        )
        notes.append(
            f"Group {g.group} builds node set {g.node_set.name}'s image ({g.host.flavor.value.upper()}) with packer before the cluster group."
            + (f" Supply {', '.join(g.build.variables)} with --vars (ask your Google Cloud representative)." if g.build.variables else "")
        )
    if groups:
        mods.group("cluster")
    built = {g.node_set.name: g for g in groups}
    node_set_ids = {ns.name: _node_set(mods, ns, gpu_networks, built.get(ns.name)) for ns in layout.node_sets}
    partition_ids = []
    for p in layout.partitions:
        conf = {k: str(v) for k, v in p.conf.items() if k != "Default"}
        partition_ids.append(
            mods.add(
                f"{p.name.replace('-', '_')}_partition",
                PARTITION,
                {"partition_name": p.name, "is_default": p.default, "exclusive": p.job_exclusive, "partition_conf": conf},
                [node_set_ids[n] for n in p.node_sets],
            )
        )
    login = layout.login
    mods.add(
        "slurm_login",
        LOGIN,
        {
            "name_prefix": login.group,
            "num_instances": login.count,
            "machine_type": login.machine.name,
            "disk_type": login.machine.boot_disk_types[0],
            "disk_size_gb": login.boot_disk_gb,
            "instance_image": _image(layout.image),
            "enable_login_public_ips": False,
            "enable_oslogin": True,
            "enable_shielded_vm": True,
            "shielded_instance_config": SHIELDED,
        },
        ["network", "login_sa"],
    )
    controller_use = ["network", "controller_sa", *partition_ids, "slurm_login", *storage_ids]
    if layout.accounting is not None:
        acc = layout.accounting
        controller_use.append(
            mods.add(
                "slurm_accounting",
                CLOUDSQL,
                {
                    "sql_instance_name": f"{layout.cluster_name}-slurm-accounting",
                    "tier": acc.tier,
                    "edition": acc.edition,
                    "database_version": acc.database_version,
                    "deletion_protection": protect,
                    "enable_backups": True,
                },
                ["network", "private_service_access"],
            )
        )
        notes.append("The Toolkit's Cloud SQL module draws its own password; SlurmCluster reads it from Secret Manager instead.")
    ctl = layout.controller
    hosts = {ns.name: built[ns.name].host if ns.name in built else ns.gpudirect for ns in layout.node_sets}
    rxdm_sets = [ns for ns in layout.node_sets if hosts[ns.name] is not None and hosts[ns.name].rxdm is not None]  # type: ignore[union-attr]
    lp = facts.long_prolog if any(hosts[ns.name].flavor in facts.long_prolog.flavors for ns in rxdm_sets) else None  # type: ignore[union-attr]
    scripts = _rxdm_scripts(rxdm_sets, hosts)
    mods.add(
        "slurm_controller",
        CONTROLLER,
        {
            "slurm_cluster_name": layout.cluster_name,
            "machine_type": ctl.machine.name,
            "disk_type": ctl.machine.boot_disk_types[0],
            "disk_size_gb": ctl.boot_disk_gb,
            "instance_image": _image(layout.image),
            "enable_controller_public_ips": False,
            "enable_oslogin": True,
            "enable_shielded_vm": True,
            "shielded_instance_config": SHIELDED,
            "enable_slurm_auth": layout.native_auth,
            "slurm_conf_tpl": EMBEDDED + lp.conf_tpl if lp else None,
            "prolog_scripts": scripts.get("prolog"),
            "epilog_scripts": scripts.get("epilog"),
        },
        controller_use,
    )
    if not layout.native_auth:
        notes.append(f"MUNGE authentication: slurm-gcp announces its removal for {facts.auth.munge_removal}; moving to auth/slurm needs the cluster recreated.")
    doc = {
        "blueprint_name": f"{cl.environment}-{cl.name}",
        "vars": {
            "project_id": cl.project,
            "deployment_name": deployment_name(cl.environment, cl.name),
            "region": cl.region,
            "zone": cl.zone,
            "labels": labels,
            **variables,
        },
        "deployment_groups": mods.groups,
    }
    return Blueprint(doc=doc, notes=notes)


def _rxdm_scripts(sets: list[NodeSet], hosts: dict[str, Optional[GpuDirectHost]]) -> dict[str, list[dict]]:
    """The RxDM prolog and epilog as the controller's prolog_scripts/epilog_scripts (empty without TCPX/TCPXO node sets)."""
    if not sets:
        return {}
    by_machine = {ns.machine_type: hosts[ns.name] for ns in sets}
    gpus = {ns.machine_type: ns.gpus_per_node for ns in sets}
    return {
        "prolog": [{"filename": rxdm.SCRIPT, "content": literal(rxdm.prolog(by_machine, gpus))}],  # type: ignore[arg-type]
        "epilog": [{"filename": rxdm.SCRIPT, "content": literal(rxdm.epilog(by_machine))}],  # type: ignore[arg-type]
    }


def render(bp: Blueprint) -> str:
    """The blueprint as YAML, its notes as a comment header."""
    head = "".join(f"# {n}\n" for n in ["Written by `ai-clusters blueprint`.", *bp.notes])
    return head + "---\n" + to_yaml(bp.doc)


__all__ = ["Blueprint", "blueprint", "blueprint_file", "render"]
