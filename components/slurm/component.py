"""SlurmCluster: an HPC-style Slurm cluster on Compute Engine, as slurm-gcp v6 runs one.

What it creates, and what slurm-gcp's own scripts then do with it:
- a config bucket (uniform access, public access prevention, versioned, protected) holding the
  cluster configuration slurm-gcp reads: config.yaml, one config per node set, partition and login
  group, and the extra start-up scripts per role (`ai_clusters.slurm.config`);
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

Layout decisions (node sets, partitions, images, machines) are made in `ai_clusters.slurm.plan`,
before anything is registered; `ai-clusters blueprint` writes the same layout for `gcluster`.
"""

from typing import Any, Optional, TypedDict

import pulumi
import pulumi_gcp as gcp
from typing_extensions import NotRequired

from ai_clusters.core import labels as contract
from ai_clusters.slurm import config as conf
from ai_clusters.slurm import rxdm, validation
from ai_clusters.blocks.args import GpuClusterArgs, MountArgs, NetworkAttachmentArgs, ProvisioningArgs
from ai_clusters.slurm.blueprint import blueprint_file
from ai_clusters.blocks.cluster import check_network_attachment, compact_placement, ssh_command
from ai_clusters.blocks.component import BuildContext, ClusterComponent
from ai_clusters.core.labels import cluster_labels
from ai_clusters.core.enums import ClusterPath, WorkloadKind
from ai_clusters.blocks.iam import NODE_ROLES, NodeIdentity, node_service_account
from ai_clusters.core.nics import family_uses_gpu_nics
from ai_clusters.blocks.scripts import NodeScript, startup_script
from ai_clusters.slurm.plan import ACCOUNT_SUFFIXES, NodeSet, RoleMachine, SlurmLayout
from ai_clusters.core.spec import Problem, ProvisioningSpec, ResolvedCluster, SpecError
from ai_clusters.blocks.storage import ClusterStorage, FilestoreArgs, StorageArgs
from ai_clusters.blocks.vm import instance_kwargs, template_kwargs
from ai_clusters.slurm.args import (
    SlurmAccountingArgs,
    SlurmControllerArgs,
    SlurmLoginArgs,
    SlurmNodeSetArgs,
    SlurmOptionsArgs,
    SlurmPartitionArgs,
)

CONTROLLER_ROLES = (*NODE_ROLES, "roles/compute.instanceAdmin.v1")  # creates and deletes the compute VMs
CONFIG_READER_ROLES = ("roles/storage.objectViewer", "roles/storage.legacyBucketReader")


# ---- args ---------------------------------------------------------------------------------------

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
    deployment_name: NotRequired[str]
    """Name of the deployment the exported Cluster Toolkit blueprint gets (default: the environment); the stack passes its name."""


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

class SlurmCluster(ClusterComponent):
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
    validation_job: pulumi.Output[str]
    """An sbatch script for the training partition: the benchmark on every node, NCCL all-reduce across GPUDirect nodes."""

    cluster_path = ClusterPath.SLURM

    def __init__(
        self, name: str, args: SlurmClusterArgs, opts: Optional[pulumi.ResourceOptions] = None, *, resolved: Optional[ResolvedCluster] = None
    ):
        super().__init__(name, args, opts, resolved=resolved)

    def check_wiring(self, resolved: ResolvedCluster, args: dict, add) -> None:
        layout: Optional[SlurmLayout] = resolved.plan
        network, per_set = args.get("network"), args.get("node_set_networks") or {}
        if layout is None:  # the layout itself has problems: they are reported
            return
        if network is None:
            add("network", "is required (ClusterNetwork.attachment(family, zone))")
            return
        names = [n.name for n in layout.node_sets]
        for key in per_set:
            if key not in names:
                add(f"nodeSetNetworks.{key}", f"is not a node set; node sets: {', '.join(names)}")
        for ns in layout.node_sets:
            if ns.shape is not None and family_uses_gpu_nics(ns.shape.family, ns.shape.gpus):
                key = f"nodeSetNetworks.{ns.name}" if ns.name in per_set else "network"
                check_network_attachment(f"SlurmCluster '{resolved.name}'", ns.shape, per_set.get(ns.name, network), add, key, f"node set {ns.name}: ")

    def build(self, name: str, resolved: ResolvedCluster, args: dict) -> None:
        layout: SlurmLayout = resolved.plan
        attachments = _node_set_attachments(layout, args["network"], args.get("node_set_networks") or {})
        for caution in layout.cautions(resolved.storage):
            pulumi.log.warn(caution, resource=self)
        self.layout = layout
        self._name = name
        self._project = self.project
        self._network = args["network"]
        self._child = pulumi.ResourceOptions(parent=self)
        self._stateful = pulumi.ResourceOptions(parent=self, protect=resolved.protect_data, retain_on_delete=resolved.protect_data)
        self._labels = {**contract.data_labels(cluster_labels(resolved)), "slurm_cluster_name": layout.cluster_name}
        self._objects: list[gcp.storage.BucketObject] = []
        project = self._project

        self._bucket = self._config_bucket()
        self._bucket_path = pulumi.Output.concat("gs://", self._bucket.name, "/", layout.bucket_dir)
        self._ids = self._identities([args["bucket"]] if args.get("bucket") else [])
        mounts = self._mounts(args.get("mounts") or [], args.get("private_services_range"))
        scripted = mounts.apply(conf.script_mounts)
        # Hyperdisk ML volumes are attached to GPU nodes only; the other mounts reach every node.
        no_disks = scripted.apply(lambda ms: startup_script(NodeScript(mounts=tuple(m for m in ms if m["kind"] != "hyperdisk-ml"))))
        self._put("script-controller", conf.script_object("controller", "ai-clusters.sh"), no_disks)
        self._put(f"script-login-{layout.login.group}", conf.script_object(f"login-{layout.login.group}", "ai-clusters.sh"), no_disks)
        if layout.scripts_dir:
            self._upload_scripts(layout.scripts_dir)
        self._staged_url = self._stage_scripts()
        prologs = self._rxdm_scripts()
        read_only = mounts.apply(lambda ms: [m["source"] for m in ms if m["kind"] == "hyperdisk-ml"])
        infos = [self._node_set(ns, attachments[ns.name], read_only, scripted, no_disks) for ns in layout.node_sets]
        for p in layout.partitions:
            self._put(f"partition-{p.name}", f"partition_configs/{p.name}.yaml", conf.to_yaml(conf.partition_config(p)))
        group = layout.login.group
        self._put(f"login-{group}", f"login_group_configs/{group}.yaml", conf.to_yaml(conf.login_group_config(layout)))
        secret = self._accounting(args.get("private_services_range")) if layout.accounting is not None else None

        # The configuration every node reads first, written last: its presence says all the rest is there.
        config = gcp.storage.BucketObject(
            f"{name}-config-yaml",
            bucket=self._bucket.name,
            name=f"{layout.bucket_dir}/config.yaml",
            content=pulumi.Output.all(project, self._bucket_path, mounts.apply(conf.network_storage), secret.name if secret else None).apply(
                lambda v: conf.to_yaml(
                    conf.core_config(
                        layout, project=v[0], bucket_path=v[1], storage=v[2], cloudsql_secret=v[3], prolog_scripts=prologs, epilog_scripts=prologs
                    )
                )
            ),
            content_type="text/plain",
            opts=pulumi.ResourceOptions(parent=self, depends_on=self._objects),
        )
        controller = self._role_vm(
            "controller",
            f"{layout.cluster_name}-controller",  # slurm-gcp's default control host name
            "controller",
            layout.controller,
            {"slurm_ha_role": "primary", "slurm_backup_controller_name": ""},
            [config],
            deletion_protection=resolved.protect_data,  # Slurm state and, without Cloud SQL, the accounting database
        )
        login_names = [
            self._role_vm(
                f"{group}-{i + 1}", f"{layout.cluster_name}-{group}-{i + 1:03d}", "login", layout.login, {"slurm_login_group": group}, [config, controller]
            ).name
            for i in range(layout.login.count)
        ]

        self.controller_name = controller.name
        self.login_names = pulumi.Output.all(*login_names)
        self.ssh_command = ssh_command(f"{layout.cluster_name}-{group}-001", resolved.zone, project)
        self.partition_names = pulumi.Output.from_input([p.name for p in sorted(layout.partitions, key=lambda p: not p.default)])
        self.node_sets = pulumi.Output.all(*infos)
        self.config_bucket = self._bucket.name
        self.config_path = self._bucket_path
        self.mount_points = mounts.apply(lambda ms: [m["mount_point"] for m in ms])
        self.blueprint_path = pulumi.Output.from_input(blueprint_file(args.get("deployment_name") or resolved.environment, name))
        self.cleanup_command = pulumi.Output.concat(
            "gcloud compute instances list --project ", project,
            f" --filter='labels.slurm_cluster_name={layout.cluster_name} AND labels.slurm_instance_role=compute'",
            " --format='value(name,zone)' | while read vm zone; do gcloud compute instances delete \"$vm\" --zone \"$zone\" --quiet --project ",
            project, "; done",
        )
        self.controller_service_account = self._ids["controller"].email
        self.compute_service_account = self._ids["compute"].email
        self.validation_job = pulumi.Output.from_input(validation_sbatch(resolved, layout))

    # -- pieces ---------------------------------------------------------------------------------------
    def _config_bucket(self) -> gcp.storage.Bucket:
        """The bucket slurm-gcp reads the cluster configuration from: private, versioned, protected."""
        return gcp.storage.Bucket(
            f"{self._name}-config",
            location=self.resolved.region.upper(),
            storage_class="STANDARD",
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            force_destroy=not self.resolved.protect_data,
            labels={**self._labels, "slurm_role": "config"},
            project=self._project,
            opts=self._stateful,
        )

    def _identities(self, data_buckets: list) -> dict[str, NodeIdentity]:
        """One service account per role; all read the config, the controller creates compute VMs."""
        name, env = self._name, self.resolved.environment
        ids = {
            role: node_service_account(
                f"{name}-{role}",
                display=f"ai-clusters {env}/{name} Slurm {role}",
                project=self._project,
                parent=self,
                roles=CONTROLLER_ROLES if role == "controller" else NODE_ROLES,
                buckets=[] if role == "controller" else data_buckets,
                account_id=f"{name}-{suffix}",  # kept within IAM's 6-30 characters by node_service_account
            )
            for role, suffix in ACCOUNT_SUFFIXES.items()
        }
        for role, identity in ids.items():
            for iam_role in CONFIG_READER_ROLES:
                gcp.storage.BucketIAMMember(
                    f"{name}-config-{role}-{iam_role.split('.')[-1]}", bucket=self._bucket.name, role=iam_role, member=identity.member, opts=self._child
                )
        # The compute VMs the controller creates run as the compute account.
        gcp.serviceaccount.IAMMember(
            f"{name}-controller-acts-as-compute",
            service_account_id=ids["compute"].account.name,
            role="roles/iam.serviceAccountUser",
            member=ids["controller"].member,
            opts=self._child,
        )
        return ids

    def _mounts(self, mounts: Any, psa_range: Any) -> pulumi.Output:
        """The storage's mounts, with a Filestore for /home created here when the storage has none."""
        user = pulumi.Output.from_input(mounts)
        if self.layout.home is not None:
            r = self.resolved
            home = ClusterStorage(
                f"{self._name}-home",
                {
                    "environment": r.environment,
                    "cluster": self._name,
                    "workload": r.spec.workload.kind,
                    "region": r.region,
                    "zone": r.zone,
                    "project": self._project,
                    "network": _host_part(self._network, "host_network"),
                    "private_services_range": psa_range or "",
                    "path": ClusterPath.SLURM,
                    "storage": {"bucket": {"enabled": False}, "filestore": self.layout.home.model_dump()},
                    "protect_data": r.protect_data,
                    "labels": r.labels,
                },
                opts=self._child,
            )
            user = pulumi.Output.all(home.mounts, user).apply(lambda v: [*v[0], *v[1]])
        return user.apply(_one_home(self._name))

    def _put(self, key: str, object_name: pulumi.Input[str], content: pulumi.Input[str]) -> gcp.storage.BucketObject:
        """One object under the cluster's folder of the config bucket."""
        obj = gcp.storage.BucketObject(
            f"{self._name}-{key}",
            bucket=self._bucket.name,
            name=f"{self.layout.bucket_dir}/{object_name}" if isinstance(object_name, str) else pulumi.Output.concat(self.layout.bucket_dir, "/", object_name),
            content=content,
            content_type="text/plain",
            opts=self._child,
        )
        self._objects.append(obj)
        return obj

    def _upload_scripts(self, folder: str) -> None:
        """The slurm-gcp scripts, uploaded where each role's bootstrap looks for them."""
        for zip_name in ("slurm-gcp-devel-controller.zip", "slurm-gcp-devel.zip"):
            gcp.storage.BucketObject(
                f"{self._name}-{zip_name.removesuffix('.zip')}",
                bucket=self._bucket.name,
                name=f"{self.layout.bucket_dir}/{zip_name}",
                source=pulumi.FileArchive(folder),
                opts=self._child,
            )

    def _stage_scripts(self) -> Optional[pulumi.Output]:
        """The slurm-gcp scripts tarball copied into the config bucket at deployment (nodes then need no internet to start)."""
        staged = conf.staged_scripts_object(self.layout)
        if staged is None:
            return None
        obj = gcp.storage.BucketObject(
            f"{self._name}-slurm-gcp-scripts",
            bucket=self._bucket.name,
            name=f"{self.layout.bucket_dir}/{staged}",
            source=pulumi.RemoteAsset(self.layout.scripts_url),
            content_type="application/gzip",
            opts=self._child,
        )
        self._objects.append(obj)
        return pulumi.Output.concat(self._bucket_path, "/", staged)

    def _rxdm_scripts(self) -> list[str]:
        """The RxDM prolog and epilog (GPUDirect-TCPX/TCPXO node sets), stored where slurm-gcp installs them; their keys."""
        sets = self.layout.rxdm_node_sets
        if not sets:
            return []
        hosts = {ns.machine_type: ns.gpudirect for ns in sets}
        gpus = {ns.machine_type: ns.gpus_per_node for ns in sets}
        self._put("prolog-rxdm", conf.script_object("prolog", rxdm.SCRIPT), rxdm.prolog(hosts, gpus))  # type: ignore[arg-type]
        self._put("epilog-rxdm", conf.script_object("epilog", rxdm.SCRIPT), rxdm.epilog(hosts))  # type: ignore[arg-type]
        return [conf.script_key(rxdm.SCRIPT)]

    def _node_set(self, ns: NodeSet, attachment: Any, read_only: pulumi.Output, scripted: pulumi.Output, no_disks: pulumi.Output) -> pulumi.Output:
        """A node set's instance template (and placement policy), its start-up script and its config."""
        name, layout, resolved = self._name, self.layout, self.resolved
        placement = (
            compact_placement(f"{name}-{ns.name}", resolved, self, vm_count=ns.max_nodes, family=ns.shape.family)
            if ns.placement and ns.shape is not None
            else None
        )
        template = gcp.compute.InstanceTemplate(
            f"{name}-{ns.name}",
            name_prefix=f"{layout.cluster_name}-{ns.name}-",
            project=self._project,
            **template_kwargs(
                shape=ns.shape,
                machine_type=ns.machine_type,
                disk_type=ns.boot_disk_type,
                provisioning=ns.provisioning,
                attachment=attachment,
                image=ns.image.link,
                boot_disk_gb=ns.boot_disk_gb,
                service_account=self._ids["compute"].email,
                labels=self._node_set_labels(ns),
                startup_script=conf.BOOTSTRAP,
                placement_policy=placement.self_link if placement else None,
                read_only_disks=read_only if ns.shape is not None else [],
                metadata=conf.node_metadata(layout, "compute", self._bucket_path, self._staged_url),
                threads_per_core=ns.threads_per_core,
                secure_boot=ns.secure_boot,
            ),
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=False),
        )
        script = (
            no_disks
            if ns.shape is None
            else scripted.apply(
                lambda ms: startup_script(
                    NodeScript(mounts=tuple(ms), local_ssd=ns.local_ssd, gpudirect=ns.gpudirect, gpus=ns.gpus_per_node, rxdm_at_boot=False)
                )
            )
        )
        self._put(f"script-{ns.name}", conf.script_object(f"nodeset-{ns.name}", "ai-clusters.sh"), script)
        self._put(
            f"nodeset-{ns.name}",
            f"nodeset_configs/{ns.name}.yaml",
            pulumi.Output.all(template.self_link, _host_part(self._network, "host_subnetwork"), self._project).apply(
                lambda v: conf.to_yaml(conf.nodeset_config(ns, template=v[0], subnetwork=v[1], zone=resolved.zone, project=v[2]))
            ),
        )
        return template.self_link.apply(
            lambda link: NodeSetInfo(
                name=ns.name, machine_type=ns.machine_type, static_nodes=ns.static_nodes, dynamic_nodes=ns.dynamic_nodes, instance_template=link
            )
        )

    def _node_set_labels(self, ns: NodeSet) -> dict[str, str]:
        """The contract labels of a node set's template: its own workload, GPUs and largest size."""
        resolved = self.resolved
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
                "slurm_cluster_name": self.layout.cluster_name,
                "slurm_instance_role": "compute",
                "slurm_nodeset": ns.name,
            },
        )

    def _role_vm(self, key: str, vm_name: str, role: str, machine: RoleMachine, extra_metadata: dict, after: list, **extra: Any) -> gcp.compute.Instance:
        """The controller or a login VM: CPU, on-demand, the cluster's image, the host NIC only."""
        return gcp.compute.Instance(
            f"{self._name}-{key}",
            name=vm_name,
            project=self._project,
            **instance_kwargs(
                shape=None,
                machine_type=machine.machine.name,
                disk_type=machine.machine.boot_disk_types[0],
                provisioning=ProvisioningSpec(),
                attachment=_host_only(self._network),
                image=self.layout.image.link,
                boot_disk_gb=machine.boot_disk_gb,
                service_account=self._ids[role].email,
                labels={**self._labels, "slurm_instance_role": role},
                startup_script=conf.BOOTSTRAP,
                zone=self.resolved.zone,
                metadata=conf.node_metadata(self.layout, role, self._bucket_path, self._staged_url, **extra_metadata),
            ),
            **extra,
            opts=pulumi.ResourceOptions(parent=self, depends_on=after),
        )

    def _accounting(self, psa_range: Any) -> gcp.secretmanager.SecretVersion:
        """Cloud SQL for MySQL on the host network's private services access, and the secret slurm-gcp reads."""
        name, layout, resolved, project = self._name, self.layout, self.resolved, self._project
        acc = layout.accounting
        assert acc is not None
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
                    private_network=_host_part(self._network, "host_network"),
                    allocated_ip_range=psa_range or None,
                    enable_private_path_for_google_cloud_services=True,
                ),
                user_labels=self._labels,
            ),
            project=project,
            opts=self._stateful,
        )
        child = self._child
        gcp.sql.Database(f"{name}-accounting-db", name=conf.ACCOUNTING_DATABASE, instance=instance.name, project=project, opts=child)
        gcp.sql.User(f"{name}-accounting-user", name=conf.ACCOUNTING_USER, instance=instance.name, password=password, project=project, opts=child)
        secret = gcp.secretmanager.Secret(
            f"{name}-cloudsql",
            secret_id=conf.cloudsql_secret_id(layout.cluster_name),
            replication=gcp.secretmanager.SecretReplicationArgs(auto=gcp.secretmanager.SecretReplicationAutoArgs()),
            labels=self._labels,
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
            f"{name}-cloudsql-controller", secret_id=secret.id, role="roles/secretmanager.secretAccessor", member=self._ids["controller"].member, opts=child
        )
        return version



def validation_sbatch(resolved, layout: SlurmLayout) -> str:
    """The validation job for the first GPU partition (the default one if it has GPUs): all its GPU nodes."""
    by_name = {n.name: n for n in layout.node_sets}
    for p in sorted(layout.partitions, key=lambda p: not p.default):
        gpu_sets = [by_name[n] for n in p.node_sets if n in by_name and by_name[n].shape is not None]
        if gpu_sets:
            nodes = sum(n.max_nodes for n in gpu_sets)
            shape = gpu_sets[0].shape
            assert shape is not None
            return validation.sbatch_script(resolved, p.name, nodes, shape)
    return "# no GPU partition: nothing to validate\n"


# ---- helpers ------------------------------------------------------------------------------------

def _host_part(network: Any, key: str) -> Any:
    """One host-network value of an attachment given plainly or as an Output."""
    if isinstance(network, pulumi.Output):
        return network.apply(lambda n: n[key])
    return network[key]


def _host_only(network: Any) -> Any:
    """The host NIC alone (controller, login and CPU nodes)."""
    keep = ("host_network", "host_subnetwork", "host_mtu")
    if isinstance(network, pulumi.Output):
        return network.apply(lambda n: {k: n[k] for k in keep if k in n})
    return {k: network[k] for k in keep if k in network}


def _node_set_attachments(layout: SlurmLayout, network: Any, per_set: dict) -> dict[str, Any]:
    """Each node set's NICs: its own attachment, the cluster's (GPU NICs of its family), or the host NIC alone."""
    out: dict[str, Any] = {}
    for ns in layout.node_sets:
        if ns.shape is None or not family_uses_gpu_nics(ns.shape.family, ns.shape.gpus):
            out[ns.name] = _host_only(network)
        else:
            out[ns.name] = per_set.get(ns.name, network)
    return out


def _one_home(name: str):
    def check(mounts: list) -> list:
        homes = [m for m in mounts if m["mount_point"] == "/home"]
        if len(homes) != 1:
            raise SpecError([Problem("mounts", f"exactly one file system must be mounted at /home, not {len(homes)}")], f"SlurmCluster '{name}'")
        return mounts

    return check


def from_resolved(cl: ResolvedCluster, context: BuildContext) -> SlurmCluster:
    """The program's way in: a cluster it resolved, with its network, storage and deployment."""
    network, storage = context.network, context.storage
    layout: SlurmLayout = cl.plan
    wiring = dict(
        project=cl.project,
        network={"host_network": network.host_network, "host_subnetwork": network.host_subnetwork},
        node_set_networks={
            ns.name: network.attachment(ns.shape.family.id, cl.zone, ns.shape.gpus)
            for ns in layout.gpu_node_sets
            if family_uses_gpu_nics(ns.shape.family, ns.shape.gpus)  # type: ignore[union-attr]
        },
        mounts=storage.mounts,
        private_services_range=network.private_services_range,
    )
    if "bucket" in storage.resources:  # no bucket, no grant on one
        wiring["bucket"] = storage.bucket_name
    wiring["deployment_name"] = context.deployment_name
    return SlurmCluster(cl.name, wiring, resolved=cl)  # type: ignore[arg-type]


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
    "from_resolved",
]
