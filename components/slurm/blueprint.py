"""The Cluster Toolkit blueprint equivalent to a SlurmCluster, for teams that deploy with `gcluster`.

Built from the same SlurmLayout the component builds from, with the Toolkit's own modules (the
release pinned in the catalog): the host VPC with Cloud NAT and IAP SSH, the family's GPU/RDMA
networks, private services access, the cluster's file systems and bucket, one service account per
role, one nodeset module per node set, one partition module per partition, the login group and
the controller (Cloud SQL accounting when asked for). Every VM keeps our defaults: no public IP,
Shielded VM with Secure Boot, OS Login.

`blueprint(...)` returns the document (a dict) and the notes on what the Toolkit does differently;
`render(...)` writes it as YAML with the notes as a comment header.
"""

import ipaddress
import math
from dataclasses import dataclass, field
from typing import Any, Optional

from ai_clusters.core import labels as contract
from ai_clusters.core.catalog import GpuFamily
from ai_clusters.core.labels import cluster_labels
from ai_clusters.core.enums import GpuDirect, ProvisioningModel
from ai_clusters.core.nics import family_uses_gpu_nics
from ai_clusters.slurm.config import to_yaml
from ai_clusters.slurm.plan import NodeSet, SlurmLayout
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


@dataclass
class Blueprint:
    doc: dict
    notes: list[str] = field(default_factory=list)


class _Modules:
    """The modules of the one deployment group, in order."""

    def __init__(self) -> None:
        self.items: list[dict] = []

    def add(self, id: str, source: str, settings: dict, use: Optional[list[str]] = None) -> str:
        module: dict[str, Any] = {"id": id, "source": source}
        if use:
            module["use"] = list(use)
        module["settings"] = {k: v for k, v in settings.items() if v is not None}
        self.items.append(module)
        return id


def _image(layout_image) -> dict:
    return {"family": layout_image.family, "project": layout_image.project}


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


def _node_set(mods: _Modules, ns: NodeSet, networks: dict[str, dict]) -> str:
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
        "instance_image": _image(ns.image),
        "enable_public_ips": False,
        "enable_oslogin": True,
        "enable_shielded_vm": True,
        "shielded_instance_config": SHIELDED,
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
    if any(n.shape.gpudirect != GpuDirect.NONE for n in layout.gpu_node_sets):  # type: ignore[union-attr]
        notes.append(
            "GPUDirect node sets get their NICs; the NCCL plugin and its daemons (TCPXO RxDM, gIB) are not in the public "
            "slurm-gcp images: the Toolkit's A3/A4 blueprints build a custom image and prolog for them."
        )
    notes.extend(layout.cautions(cl.storage))
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
            {"name": f"{layout.cluster_name}-{role}"[:30], "display_name": f"Slurm {role} of {layout.cluster_name}", "project_roles": roles},
        )
    node_set_ids = {ns.name: _node_set(mods, ns, gpu_networks) for ns in layout.node_sets}
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
        },
        controller_use,
    )
    doc = {
        "blueprint_name": f"{cl.environment}-{cl.name}",
        "vars": {
            "project_id": cl.project,
            "deployment_name": f"{cl.environment}-{cl.name}"[:20].rstrip("-"),
            "region": cl.region,
            "zone": cl.zone,
            "labels": labels,
        },
        "deployment_groups": [{"group": "primary", "modules": mods.items}],
    }
    return Blueprint(doc=doc, notes=notes)


def render(bp: Blueprint) -> str:
    """The blueprint as YAML, its notes as a comment header."""
    head = "".join(f"# {n}\n" for n in ["Written by `ai-clusters blueprint`.", *bp.notes])
    return head + "---\n" + to_yaml(bp.doc)


__all__ = ["Blueprint", "blueprint", "blueprint_file", "render"]
