"""SlurmCluster: an HPC-style Slurm cluster on Compute Engine, as slurm-gcp v6 runs one.

What it creates, and what slurm-gcp's own scripts then do with it:
- a config bucket (uniform access, public access prevention, versioned, protected) holding the
  cluster configuration slurm-gcp reads: config.yaml, one config per node set, partition and login
  group, and the extra start-up scripts per role (`ai_clusters.slurm_config`);
- per node set one instance template (the family's GPU/RDMA NICs, Shielded VM, OS Login, no external
  IP, the node set's provisioning model, a compact placement policy for GPUDirect sets) from which
  the controller creates the static nodes and, per job, the dynamic ones;
- the controller VM (`CLUSTER-controller`: slurmctld, slurmdbd, NFS export of /opt/apps) and the
  login VMs, from the slurm-gcp public images, no external IP (SSH through IAP);
- three least-privilege service accounts: the controller may create and delete compute VMs and
  run them as the compute account; login and compute nodes read the config and log;
- Filestore for /home when the cluster's storage has no /home, every mount of ClusterStorage on
  every node (slurm-gcp writes them to /etc/fstab), object access to the checkpoint bucket;
- optionally Cloud SQL for MySQL as the accounting database.

Layout decisions (node sets, partitions, images, machines) are made in `ai_clusters.slurm_layout`,
before anything is registered; `ai-clusters blueprint` writes the same layout for `gcluster`.
"""

from typing import Any, Optional, TypedDict

import pulumi
import pulumi_gcp as gcp
from typing_extensions import NotRequired

from . import labels as contract
from . import slurm_config as conf
from .args import GpuClusterArgs, MountArgs, NetworkAttachmentArgs, ProvisioningArgs
from .blueprint import blueprint_file
from .cluster import cluster_labels, compact_placement, resolve_args, spec_args, ssh_command
from .enums import ClusterPath, WorkloadKind
from .iam import NODE_ROLES, NodeIdentity, node_service_account
from .nics import check_attachment, family_uses_gpu_nics
from .scripts import startup_script
from .slurm_layout import NodeSet, SlurmLayout, resolve_layout
from .spec import Problem, ProvisioningSpec, SpecError
from .storage import ClusterStorage, FilestoreArgs, StorageArgs
from .vm import instance_kwargs, template_kwargs

CONTROLLER_ROLES = (*NODE_ROLES, "roles/compute.instanceAdmin.v1")  # creates and deletes the compute VMs
CONFIG_READER_ROLES = ("roles/storage.objectViewer", "roles/storage.legacyBucketReader")


# ---- args ---------------------------------------------------------------------------------------

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
    image_project: NotRequired[str]
    """Project of image_family."""
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


class SlurmControllerArgs(TypedDict):
    """The controller."""

    machine_type: NotRequired[str]
    """CPU machine type; default: the catalog's controller machine type."""
    boot_disk_gb: NotRequired[int]
    """Boot disk size in GB (default 100): Slurm state and, without Cloud SQL, the accounting database."""


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
    image_project: NotRequired[str]
    """Project of image_family."""
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
    """Local folder of the slurm-gcp scripts to upload; default: nodes fetch the pinned Cluster Toolkit release."""
    scripts_url: NotRequired[str]
    """Tarball of the Cluster Toolkit source to fetch the scripts from (a mirror: https:// or gs://)."""


class SlurmClusterArgs(GpuClusterArgs):
    """Args of SlurmCluster."""

    network: pulumi.Input[NetworkAttachmentArgs]
    """Where the nodes plug in: the host network, and the GPU NICs of the cluster's machine family."""
    node_set_networks: NotRequired[dict[str, NetworkAttachmentArgs]]
    """GPU NICs of other node sets, by node set name (ClusterNetwork.attachment(family, zone))."""
    mounts: NotRequired[pulumi.Input[list[MountArgs]]]
    """Shared storage every node mounts (ClusterStorage.mounts)."""
    storage: NotRequired[StorageArgs]
    """The storage given to this cluster's ClusterStorage (tells whether /home is among `mounts`)."""
    bucket: NotRequired[pulumi.Input[str]]
    """The data and checkpoint bucket: login and compute nodes may read and write its objects."""
    private_services_range: NotRequired[pulumi.Input[str]]
    """Private services access range of the host network (Filestore for /home, Cloud SQL)."""
    slurm: NotRequired[SlurmOptionsArgs]
    """Options of this path."""


class NodeSetInfo(TypedDict):
    """A node set as built."""

    name: str
    """Node set name."""
    machine_type: str
    """Machine type of its nodes."""
    static_nodes: int
    """Nodes that always run."""
    dynamic_nodes: int
    """Nodes created per job."""
    instance_template: str
    """Self link of its instance template."""


# ---- the component ------------------------------------------------------------------------------

class SlurmCluster(pulumi.ComponentResource):
    """A slurm-gcp v6 cluster: controller, login nodes, node sets in partitions, Filestore /home."""

    controller_name: pulumi.Output[str]
    """Name of the controller VM."""
    login_names: pulumi.Output[list[str]]
    """Names of the login VMs."""
    ssh_command: pulumi.Output[str]
    """SSH to the first login node through Identity-Aware Proxy."""
    partition_names: pulumi.Output[list[str]]
    """The Slurm partitions (the default first)."""
    node_sets: pulumi.Output[list[NodeSetInfo]]
    """The node sets and their instance templates."""
    config_bucket: pulumi.Output[str]
    """Name of the bucket holding the Slurm configuration."""
    config_path: pulumi.Output[str]
    """gs:// path the nodes read their configuration from (metadata slurm_bucket_path)."""
    mount_points: pulumi.Output[list[str]]
    """Where shared storage is mounted on every node."""
    blueprint_path: pulumi.Output[str]
    """Where `ai-clusters blueprint` writes the equivalent Cluster Toolkit blueprint."""
    cleanup_command: pulumi.Output[str]
    """Deletes the compute VMs Slurm created outside Pulumi's state (run it before destroying the cluster)."""
    controller_service_account: pulumi.Output[str]
    """Email of the controller's service account."""
    compute_service_account: pulumi.Output[str]
    """Email of the compute nodes' service account."""

    def __init__(self, name: str, args: SlurmClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        args = dict(args)
        found: list[SlurmLayout] = []
        extra = {"slurm": args.get("slurm") or None, "storage": args.get("storage")}
        resolved = resolve_args(
            "SlurmCluster",
            name,
            args,
            ClusterPath.SLURM,
            extra,
            extra_checks=lambda r, add: found.extend(filter(None, [resolve_layout(r, add)])),
        )
        layout = found[0]
        attachments = _node_set_attachments(name, layout, args.get("network"), args.get("node_set_networks") or {})
        super().__init__("ai-clusters:index:SlurmCluster", name, {}, opts)
        self.resolved = resolved
        self.layout = layout
        project = args.get("project") or gcp.config.project
        protect = resolved.protect_data
        network = args["network"]
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect)
        slurm_labels = {"slurm_cluster_name": layout.cluster_name}
        base_labels = {**contract.data_labels(cluster_labels(resolved)), **slurm_labels}

        # -- config bucket and identities ---------------------------------------------------------
        bucket = gcp.storage.Bucket(
            f"{name}-config",
            location=resolved.region.upper(),
            storage_class="STANDARD",
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            force_destroy=not protect,
            labels={**base_labels, "slurm_role": "config"},
            project=project,
            opts=stateful,
        )
        bucket_path = pulumi.Output.concat("gs://", bucket.name, "/", layout.bucket_dir)
        data_buckets = [args["bucket"]] if args.get("bucket") else []
        ids = {
            "controller": node_service_account(
                f"{name}-controller", display=f"ai-clusters {resolved.environment}/{name} Slurm controller", project=project,
                parent=self, roles=CONTROLLER_ROLES, account_id=_account_id(name, "ctl"),
            ),
            "login": node_service_account(
                f"{name}-login", display=f"ai-clusters {resolved.environment}/{name} Slurm login", project=project,
                parent=self, buckets=data_buckets, account_id=_account_id(name, "login"),
            ),
            "compute": node_service_account(
                f"{name}-compute", display=f"ai-clusters {resolved.environment}/{name} Slurm compute", project=project,
                parent=self, buckets=data_buckets, account_id=_account_id(name, "nodes"),
            ),
        }
        for role, identity in ids.items():
            for iam_role in CONFIG_READER_ROLES:
                gcp.storage.BucketIAMMember(
                    f"{name}-config-{role}-{iam_role.split('.')[-1]}", bucket=bucket.name, role=iam_role, member=identity.member, opts=child
                )
        # The controller creates compute VMs that run as the compute account.
        gcp.serviceaccount.IAMMember(
            f"{name}-controller-acts-as-compute",
            service_account_id=ids["compute"].account.name,
            role="roles/iam.serviceAccountUser",
            member=ids["controller"].member,
            opts=child,
        )

        # -- storage ------------------------------------------------------------------------------
        user_mounts = pulumi.Output.from_input(args.get("mounts") or [])
        if layout.home is not None:
            home = ClusterStorage(
                f"{name}-home",
                {
                    "environment": resolved.environment,
                    "cluster": name,
                    "workload": resolved.spec.workload.kind,
                    "region": resolved.region,
                    "zone": resolved.zone,
                    "project": project,
                    "network": network["host_network"] if isinstance(network, dict) else pulumi.Output.from_input(network).apply(lambda n: n["host_network"]),
                    "private_services_range": args.get("private_services_range") or "",
                    "path": ClusterPath.SLURM,
                    "storage": {"bucket": {"enabled": False}, "filestore": layout.home.model_dump()},
                    "protect_data": protect,
                    "labels": resolved.labels,
                },
                opts=child,
            )
            mounts = pulumi.Output.all(home.mounts, user_mounts).apply(lambda v: [*v[0], *v[1]])
        else:
            mounts = user_mounts
        mounts = mounts.apply(_one_home(name))
        fstab = mounts.apply(conf.network_storage)
        scripted = mounts.apply(conf.script_mounts)

        # -- extra start-up scripts slurm-gcp runs per role ---------------------------------------
        objects: list[gcp.storage.BucketObject] = []

        def put(key: str, object_name: pulumi.Input[str], content: pulumi.Input[str]) -> gcp.storage.BucketObject:
            obj = gcp.storage.BucketObject(
                f"{name}-{key}",
                bucket=bucket.name,
                name=pulumi.Output.concat(layout.bucket_dir, "/", object_name),
                content=content,
                content_type="text/plain",
                opts=child,
            )
            objects.append(obj)
            return obj

        # Hyperdisk ML volumes are attached to GPU nodes only; the other mounts reach every node.
        no_disks = scripted.apply(lambda ms: startup_script([m for m in ms if m["kind"] != "hyperdisk-ml"]))
        put("script-controller", conf.script_object("controller", "ai-clusters.sh"), no_disks)
        put(f"script-login-{layout.login.group}", conf.script_object(f"login-{layout.login.group}", "ai-clusters.sh"), no_disks)
        if layout.scripts_dir:
            # The slurm-gcp scripts, uploaded where the bootstrap of each role looks for them.
            for zip_name in ("slurm-gcp-devel-controller.zip", "slurm-gcp-devel.zip"):
                gcp.storage.BucketObject(
                    f"{name}-{zip_name.removesuffix('.zip')}",
                    bucket=bucket.name,
                    name=f"{layout.bucket_dir}/{zip_name}",
                    source=pulumi.FileArchive(layout.scripts_dir),
                    opts=child,
                )

        # -- node sets ----------------------------------------------------------------------------
        host_subnet = network["host_subnetwork"] if isinstance(network, dict) else pulumi.Output.from_input(network).apply(lambda n: n["host_subnetwork"])
        read_only = mounts.apply(lambda ms: [m["source"] for m in ms if m["kind"] == "hyperdisk-ml"])
        infos: list[pulumi.Output] = []
        for ns in layout.node_sets:
            labels = self._node_set_labels(resolved, layout, ns)
            placement = (
                compact_placement(f"{name}-{ns.name}", resolved, self, vm_count=ns.max_nodes, family=ns.shape.family)
                if ns.placement and ns.shape is not None
                else None
            )
            template = gcp.compute.InstanceTemplate(
                f"{name}-{ns.name}",
                name_prefix=f"{layout.cluster_name}-{ns.name}-",
                project=project,
                **template_kwargs(
                    shape=ns.shape,
                    machine_type=ns.machine_type,
                    disk_type=ns.boot_disk_type,
                    provisioning=ns.provisioning,
                    attachment=attachments[ns.name],
                    image=ns.image.link,
                    boot_disk_gb=ns.boot_disk_gb,
                    service_account=ids["compute"].email,
                    labels=labels,
                    startup_script=conf.BOOTSTRAP,
                    placement_policy=placement.self_link if placement else None,
                    read_only_disks=read_only if ns.shape is not None else [],
                    metadata=conf.node_metadata(layout, "compute", bucket_path),
                ),
                opts=pulumi.ResourceOptions(parent=self, delete_before_replace=False),
            )
            put(
                f"script-{ns.name}",
                conf.script_object(f"nodeset-{ns.name}", "ai-clusters.sh"),
                no_disks if ns.shape is None else scripted.apply(lambda ms, ns=ns: startup_script(ms, local_ssd=ns.local_ssd)),
            )
            put(
                f"nodeset-{ns.name}",
                f"nodeset_configs/{ns.name}.yaml",
                pulumi.Output.all(template.self_link, host_subnet, project).apply(
                    lambda v, ns=ns: conf.to_yaml(conf.nodeset_config(ns, template=v[0], subnetwork=v[1], zone=resolved.zone, project=v[2]))
                ),
            )
            infos.append(
                template.self_link.apply(
                    lambda link, ns=ns: NodeSetInfo(
                        name=ns.name, machine_type=ns.machine_type, static_nodes=ns.static_nodes, dynamic_nodes=ns.dynamic_nodes, instance_template=link
                    )
                )
            )
        for p in layout.partitions:
            put(f"partition-{p.name}", f"partition_configs/{p.name}.yaml", conf.to_yaml(conf.partition_config(p)))
        put(f"login-{layout.login.group}", f"login_group_configs/{layout.login.group}.yaml", conf.to_yaml(conf.login_group_config(layout)))

        # -- accounting database ------------------------------------------------------------------
        secret_version: Optional[gcp.secretmanager.SecretVersion] = None
        if layout.accounting is not None:
            secret_version = self._accounting(name, layout, resolved, project, network, args.get("private_services_range"), ids["controller"], base_labels, stateful, child)

        # -- the configuration every node reads first (written last: it tells the nodes all is there)
        config = gcp.storage.BucketObject(
            f"{name}-config-yaml",
            bucket=bucket.name,
            name=f"{layout.bucket_dir}/config.yaml",
            content=pulumi.Output.all(project, bucket_path, fstab, secret_version.name if secret_version else None).apply(
                lambda v: conf.to_yaml(conf.core_config(layout, project=v[0], bucket_path=v[1], storage=v[2], cloudsql_secret=v[3]))
            ),
            content_type="text/plain",
            opts=pulumi.ResourceOptions(parent=self, depends_on=objects),
        )

        # -- controller and login nodes -----------------------------------------------------------
        def role_vm(key: str, vm_name: str, role: str, machine, extra_metadata: dict, after: list, **extra) -> gcp.compute.Instance:
            return gcp.compute.Instance(
                f"{name}-{key}",
                name=vm_name,
                project=project,
                **instance_kwargs(
                    shape=None,
                    machine_type=machine.machine.name,
                    disk_type=machine.machine.boot_disk_types[0],
                    provisioning=ProvisioningSpec(),
                    attachment=_host_only(network),
                    image=layout.image.link,
                    boot_disk_gb=machine.boot_disk_gb,
                    service_account=ids[role].email,
                    labels={**base_labels, "slurm_instance_role": role},
                    startup_script=conf.BOOTSTRAP,
                    zone=resolved.zone,
                    metadata=conf.node_metadata(layout, role, bucket_path, **extra_metadata),
                ),
                **extra,
                opts=pulumi.ResourceOptions(parent=self, depends_on=after),
            )

        controller = role_vm(
            "controller",
            f"{layout.cluster_name}-controller",  # slurm-gcp's default control host name
            "controller",
            layout.controller,
            {"slurm_ha_role": "primary", "slurm_backup_controller_name": ""},
            [config],
            deletion_protection=protect,  # Slurm state and, without Cloud SQL, the accounting database
        )
        group = layout.login.group
        login_names = [
            role_vm(
                f"{group}-{i + 1}", f"{layout.cluster_name}-{group}-{i + 1:03d}", "login", layout.login, {"slurm_login_group": group}, [config, controller]
            ).name
            for i in range(layout.login.count)
        ]

        # -- outputs ------------------------------------------------------------------------------
        first_login = f"{layout.cluster_name}-{layout.login.group}-001"
        self.controller_name = controller.name
        self.login_names = pulumi.Output.all(*login_names)
        self.ssh_command = ssh_command(first_login, resolved.zone, project)
        ordered = sorted(layout.partitions, key=lambda p: not p.default)
        self.partition_names = pulumi.Output.from_input([p.name for p in ordered])
        self.node_sets = pulumi.Output.all(*infos)
        self.config_bucket = bucket.name
        self.config_path = bucket_path
        self.mount_points = mounts.apply(lambda ms: [m["mount_point"] for m in ms])
        self.blueprint_path = pulumi.Output.from_input(blueprint_file(pulumi.get_stack(), name))
        self.cleanup_command = pulumi.Output.concat(
            "gcloud compute instances list --project ", project,
            f" --filter='labels.slurm_cluster_name={layout.cluster_name} AND labels.slurm_instance_role=compute'",
            " --format='value(name,zone)' | while read vm zone; do gcloud compute instances delete \"$vm\" --zone \"$zone\" --quiet --project ",
            project, "; done",
        )
        self.controller_service_account = ids["controller"].email
        self.compute_service_account = ids["compute"].email
        self.register_outputs(
            {
                "controller_name": self.controller_name,
                "login_names": self.login_names,
                "ssh_command": self.ssh_command,
                "partition_names": self.partition_names,
                "node_sets": self.node_sets,
                "config_bucket": self.config_bucket,
                "config_path": self.config_path,
                "mount_points": self.mount_points,
                "blueprint_path": self.blueprint_path,
                "cleanup_command": self.cleanup_command,
                "controller_service_account": self.controller_service_account,
                "compute_service_account": self.compute_service_account,
            }
        )

    # -- pieces -------------------------------------------------------------------------------------
    @staticmethod
    def _node_set_labels(resolved, layout: SlurmLayout, ns: NodeSet) -> dict[str, str]:
        """The contract labels of a node set's template: its own workload, GPUs and largest size."""
        w = resolved.spec.workload
        return contract.contract_labels(
            workload=ns.workload,
            environment=resolved.environment,
            cluster=resolved.name,
            path=ClusterPath.SLURM.value,
            accelerators=ns.accelerators,
            nodes=ns.max_nodes,
            provisioning=ns.provisioning.model,
            latency_ms=w.latency_ms if ns.workload == w.kind else None,
            model_params_b=w.model_params_b,
            extra={
                **resolved.labels,
                "slurm_cluster_name": layout.cluster_name,
                "slurm_instance_role": "compute",
                "slurm_nodeset": ns.name,
            },
        )

    def _accounting(self, name, layout, resolved, project, network, psa_range, controller: NodeIdentity, labels, stateful, child):
        """Cloud SQL for MySQL on the host network's private services access, and the secret slurm-gcp reads."""
        acc = layout.accounting
        host = network["host_network"] if isinstance(network, dict) else pulumi.Output.from_input(network).apply(lambda n: n["host_network"])
        password = gcp.secretmanager.get_secret_version_output(secret=acc.password_secret, project=project).apply(
            lambda v: pulumi.Output.secret(v.secret_data or "")
        )
        instance = gcp.sql.DatabaseInstance(
            f"{name}-accounting",
            name=f"{layout.cluster_name}-slurm-accounting",
            region=resolved.region,
            database_version=acc.database_version,
            deletion_protection=resolved.protect_data,
            settings=gcp.sql.DatabaseInstanceSettingsArgs(
                tier=acc.tier,
                edition=acc.edition,
                disk_autoresize=True,
                deletion_protection_enabled=resolved.protect_data,
                backup_configuration=gcp.sql.DatabaseInstanceSettingsBackupConfigurationArgs(enabled=True, binary_log_enabled=True),
                ip_configuration=gcp.sql.DatabaseInstanceSettingsIpConfigurationArgs(
                    ipv4_enabled=False,  # private IP on the host network only
                    private_network=host,
                    allocated_ip_range=psa_range or None,
                    enable_private_path_for_google_cloud_services=True,
                ),
                user_labels=labels,
            ),
            project=project,
            opts=stateful,
        )
        gcp.sql.Database(f"{name}-accounting-db", name=conf.ACCOUNTING_DATABASE, instance=instance.name, project=project, opts=child)
        gcp.sql.User(f"{name}-accounting-user", name=conf.ACCOUNTING_USER, instance=instance.name, password=password, project=project, opts=child)
        secret = gcp.secretmanager.Secret(
            f"{name}-cloudsql",
            secret_id=conf.cloudsql_secret_id(layout.cluster_name),
            replication=gcp.secretmanager.SecretReplicationArgs(auto=gcp.secretmanager.SecretReplicationAutoArgs()),
            labels=labels,
            project=project,
            opts=child,
        )
        version = gcp.secretmanager.SecretVersion(
            f"{name}-cloudsql",
            secret=secret.id,
            secret_data=pulumi.Output.secret(
                pulumi.Output.json_dumps(
                    {
                        "server_ip": instance.private_ip_address.apply(lambda ip: ip or ""),
                        "user": conf.ACCOUNTING_USER,
                        "password": password,
                        "db_name": conf.ACCOUNTING_DATABASE,
                    }
                )
            ),
            opts=child,
        )
        gcp.secretmanager.SecretIamMember(
            f"{name}-cloudsql-controller", secret_id=secret.id, role="roles/secretmanager.secretAccessor", member=controller.member, opts=child
        )
        return version


# ---- helpers ------------------------------------------------------------------------------------

def _account_id(name: str, role: str) -> str:
    """Service account ids are 6-30 characters."""
    base = f"{name}-{role}"[:30].rstrip("-")
    return base if len(base) >= 6 else f"{base}-slurm"[:30]


def _host_only(network: Any) -> Any:
    """The host NIC alone (controller, login and CPU nodes)."""
    keep = ("host_network", "host_subnetwork", "host_mtu")
    if isinstance(network, pulumi.Output):
        return network.apply(lambda n: {k: n[k] for k in keep if k in n})
    return {k: network[k] for k in keep if k in network}


def _node_set_attachments(name: str, layout: SlurmLayout, network: Any, per_set: dict) -> dict[str, Any]:
    """Each node set's NICs, checked against its family now (plain values) or at deployment (Outputs)."""
    subject = f"SlurmCluster '{name}'"
    if network is None:
        raise SpecError([Problem("network", "is required (ClusterNetwork.attachment(family, zone))")], subject)
    problems = [
        Problem(f"nodeSetNetworks.{key}", f"is not a node set; node sets: {', '.join(n.name for n in layout.node_sets)}")
        for key in per_set
        if key not in {n.name for n in layout.node_sets}
    ]
    out: dict[str, Any] = {}
    for ns in layout.node_sets:
        if ns.shape is None or not family_uses_gpu_nics(ns.shape.family, ns.shape.gpus):
            out[ns.name] = _host_only(network)
            continue
        key = f"nodeSetNetworks.{ns.name}" if ns.name in per_set else "network"
        attachment = per_set.get(ns.name, network)
        out[ns.name] = attachment

        def check(a: dict, ns: NodeSet = ns, key: str = key) -> list[Problem]:
            return [Problem(key, f"node set {ns.name}: {p}") for p in check_attachment(ns.shape.family, ns.shape.gpus, a)]  # type: ignore[union-attr]

        if isinstance(attachment, pulumi.Output):
            attachment.apply(lambda a, check=check: _raise(check(a), subject) or a)
        else:
            problems.extend(check(attachment))
    if problems:
        raise SpecError(problems, subject)
    return out


def _raise(problems: list[Problem], subject: str) -> None:
    if problems:
        raise SpecError(problems, subject)


def _one_home(name: str):
    def check(mounts: list) -> list:
        homes = [m for m in mounts if m["mount_point"] == "/home"]
        if len(homes) != 1:
            raise SpecError([Problem("mounts", f"exactly one file system must be mounted at /home, not {len(homes)}")], f"SlurmCluster '{name}'")
        return mounts

    return check


def from_spec(cl, network, storage) -> SlurmCluster:
    """The stack's way in: a resolved cluster, its environment's network and its storage."""
    args = spec_args(cl)
    if cl.spec.slurm is not None:
        args["slurm"] = _options_args(cl.spec.slurm)
    args["storage"] = cl.storage.model_dump(exclude_none=True)
    layout = resolve_layout(cl, lambda key, msg: None)  # bad input is reported by SlurmCluster itself
    args.update(
        network={"host_network": network.host_network, "host_subnetwork": network.host_subnetwork},
        node_set_networks={
            ns.name: network.attachment(ns.shape.family.id, cl.zone, ns.shape.gpus)
            for ns in (layout.gpu_node_sets if layout else [])
            if family_uses_gpu_nics(ns.shape.family, ns.shape.gpus)  # type: ignore[union-attr]
        },
        mounts=storage.mounts,
        bucket=storage.bucket_name,
        private_services_range=network.private_services_range,
    )
    return SlurmCluster(cl.name, SlurmClusterArgs(**args))


def _options_args(options) -> dict:
    """SlurmOptions as component args (nested provisioning and home back to plain dicts)."""
    data = options.model_dump(exclude_none=True, exclude={"node_sets", "home"})
    data["node_sets"] = [
        {**n.model_dump(exclude_none=True, exclude={"provisioning"}), **({"provisioning": n.provisioning.model_dump(exclude_none=True)} if n.provisioning else {})}
        for n in options.node_sets
    ]
    if options.home is not None:
        data["home"] = options.home.model_dump(exclude_none=True)
    return data


__all__ = [
    "NodeSetInfo",
    "SlurmAccountingArgs",
    "SlurmCluster",
    "SlurmClusterArgs",
    "SlurmControllerArgs",
    "SlurmLoginArgs",
    "SlurmNodeSetArgs",
    "SlurmOptionsArgs",
    "SlurmPartitionArgs",
    "from_spec",
]
