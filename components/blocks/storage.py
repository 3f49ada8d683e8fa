"""ClusterStorage: the data, checkpoint and shared file storage of one cluster.

- Cloud Storage bucket (data and checkpoints): hierarchical namespace, uniform bucket-level
  access, public access prevention enforced, soft delete kept, optional lifecycle rules.
- Filestore (NFS, e.g. /home), Google Cloud Managed Lustre and Parallelstore (high-throughput
  training file systems), Hyperdisk ML (read-mostly model weights attached read-only to many nodes).

Tiers, capacities and steps are checked against the catalog. Every stateful resource is created
with `protect` and `retain_on_delete` (and the API's own deletion protection where it has one)
unless the environment opts out with `protectData: false`. `mounts` tells a node what to mount.
"""

from typing import Optional, TypedDict

import pulumi
import pulumi_gcp as gcp
from typing_extensions import NotRequired

from ai_clusters.core import labels as contract
from ai_clusters.core.catalog import catalog
from ai_clusters.core.enums import ClusterPath, WorkloadKind
from ai_clusters.core.spec import Problem, SpecError, StorageSpec, default_storage, parse_model
from ai_clusters.core.spec.resolve import check_storage
from ai_clusters.blocks.outputs import register_typed_outputs
from ai_clusters.core.naming import last_segment
from ai_clusters.blocks.spec_args import BucketArgs, FilestoreArgs, HyperdiskMlArgs, LustreArgs, ParallelstoreArgs, StorageArgs
from ai_clusters.blocks.component import provider_project


class ClusterStorageArgs(TypedDict):
    """Args of ClusterStorage."""

    environment: str
    """Environment name: the `ai-environment` label."""
    cluster: str
    """Name of the cluster the storage serves: the `ai-cluster` label."""
    workload: WorkloadKind
    """Workload kind: picks defaults and the `ai-workload` label."""
    region: str
    """Region of the bucket."""
    zone: str
    """Zone of the zonal file systems and disks."""
    project: NotRequired[pulumi.Input[str]]
    """Project id; default: the provider's project."""
    network: NotRequired[pulumi.Input[str]]
    """Self link or id of the VPC the file systems attach to (ClusterNetwork.host_network)."""
    private_services_range: NotRequired[pulumi.Input[str]]
    """Name of the private services access range (ClusterNetwork.private_services_range)."""
    path: NotRequired[ClusterPath]
    """The path of the cluster (picks defaults; default compute-engine)."""
    storage: NotRequired[StorageArgs]
    """What to create; default: by workload kind."""
    protect_data: NotRequired[bool]
    """Protect every stateful resource from deletion (default true)."""
    labels: NotRequired[dict[str, str]]
    """Extra labels."""


class Mount(TypedDict):
    """What a node mounts."""

    kind: str
    """filestore, lustre, parallelstore, gcsfuse or hyperdisk-ml."""
    mount_point: str
    """Where it is mounted."""
    source: str
    """What is mounted (address:/share, mount point, bucket, disk)."""
    options: str
    """Mount options."""


def _network_name(network: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.from_input(network).apply(last_segment)


def _network_id(network: pulumi.Input[str], after: Optional[pulumi.Input[str]] = None) -> pulumi.Output[str]:
    """projects/P/global/networks/N, whatever form the network was given in.

    `after` (the private services range) makes the file system wait for the service peering.
    """
    return pulumi.Output.all(network, after).apply(
        lambda v: v[0][v[0].index("projects/"):] if "projects/" in v[0] else v[0]
    )


class ClusterStorage(pulumi.ComponentResource):
    """Bucket, Filestore, Managed Lustre, Parallelstore and Hyperdisk ML for one cluster, protected."""

    bucket_name: pulumi.Output[str]
    """Name of the data and checkpoint bucket (empty when none)."""
    bucket_url: pulumi.Output[str]
    """gs:// URL of the bucket (empty when none)."""
    mounts: pulumi.Output[list[Mount]]
    """What every node mounts, and where."""

    def __init__(self, name: str, args: ClusterStorageArgs, opts: Optional[pulumi.ResourceOptions] = None):
        args = dict(args)
        spec = _validate_storage_args(name, args)  # before anything is registered
        super().__init__("ai-clusters:index:ClusterStorage", name, {}, opts)
        project = provider_project(args)
        zone, region = args["zone"], args["region"]
        protect = args.get("protect_data", True)
        labels = contract.data_labels(
            {
                **{k: contract.label_value(v) for k, v in (args.get("labels") or {}).items()},
                contract.WORKLOAD: WorkloadKind(args["workload"]).value,
                contract.ENVIRONMENT: contract.label_value(args["environment"]),
                contract.CLUSTER: contract.label_value(args["cluster"]),
                contract.PATH: ClusterPath(args.get("path") or ClusterPath.COMPUTE_ENGINE).value,
                contract.MANAGED_BY: "ai-clusters",
            }
        )
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect)
        network = args.get("network")
        psa_range = args.get("private_services_range")
        mounts: list[pulumi.Output] = []
        self.resources: dict[str, pulumi.Resource] = {}

        self.bucket_name = pulumi.Output.from_input("")
        self.bucket_url = pulumi.Output.from_input("")
        if spec.bucket.enabled:
            b = spec.bucket
            lifecycle = []
            if b.nearline_after_days:
                lifecycle.append(
                    gcp.storage.BucketLifecycleRuleArgs(
                        action=gcp.storage.BucketLifecycleRuleActionArgs(type="SetStorageClass", storage_class="NEARLINE"),
                        condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=b.nearline_after_days),
                    )
                )
            if b.delete_after_days:
                lifecycle.append(
                    gcp.storage.BucketLifecycleRuleArgs(
                        action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                        condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=b.delete_after_days),
                    )
                )
            bucket = gcp.storage.Bucket(
                f"{name}-data",
                location=region.upper(),
                storage_class="STANDARD",
                uniform_bucket_level_access=True,
                public_access_prevention="enforced",
                hierarchical_namespace=gcp.storage.BucketHierarchicalNamespaceArgs(enabled=b.hierarchical_namespace),
                soft_delete_policy=gcp.storage.BucketSoftDeletePolicyArgs(retention_duration_seconds=b.soft_delete_days * 86400),
                lifecycle_rules=lifecycle or None,
                force_destroy=not protect,
                labels=labels,
                project=project,
                opts=stateful,
            )
            self.resources["bucket"] = bucket
            self.bucket_name = bucket.name
            self.bucket_url = bucket.url
            mounts.append(
                bucket.name.apply(
                    lambda n: Mount(kind="gcsfuse", mount_point=f"/gcs/{n}", source=n, options="implicit_dirs,file_cache_max_size_mb=-1")
                )
            )

        if spec.filestore is not None:
            fs = spec.filestore
            tier = next(t for t in catalog().data.storage.filestore_tiers if t.tier == fs.tier)
            filestore = gcp.filestore.Instance(
                f"{name}-filestore",
                name=f"{name}-fs",
                location=zone if tier.scope == "zonal" else region,
                tier=fs.tier,
                file_shares=gcp.filestore.InstanceFileSharesArgs(name=fs.share_name, capacity_gb=fs.capacity_gb),
                networks=[
                    gcp.filestore.InstanceNetworkArgs(
                        network=_network_name(network),
                        modes=["MODE_IPV4"],
                        connect_mode="PRIVATE_SERVICE_ACCESS" if psa_range else "DIRECT_PEERING",
                        reserved_ip_range=psa_range,
                    )
                ],
                deletion_protection_enabled=protect,
                deletion_protection_reason="ai-clusters: data must survive configuration changes" if protect else None,
                labels=labels,
                project=project,
                opts=stateful,
            )
            self.resources["filestore"] = filestore
            mounts.append(
                filestore.networks.apply(
                    lambda nets, fs=fs: Mount(
                        kind="filestore",
                        mount_point=fs.mount_point,
                        source=f"{(nets[0].ip_addresses or ['0.0.0.0'])[0]}:/{fs.share_name}",
                        options="defaults,_netdev,hard,timeo=600,retrans=3",
                    )
                )
            )

        if spec.lustre is not None:
            lu = spec.lustre
            lustre = gcp.lustre.Instance(
                f"{name}-lustre",
                instance_id=f"{name}-lustre",
                location=zone,
                capacity_gib=str(lu.capacity_gb),
                per_unit_storage_throughput=str(lu.throughput_mbps_per_tib),
                filesystem=lu.filesystem,
                network=_network_id(network, psa_range),
                gke_support_enabled=args.get("path") == ClusterPath.GKE,
                labels=labels,
                project=project,
                opts=stateful,
            )
            self.resources["lustre"] = lustre
            mounts.append(
                lustre.mount_point.apply(
                    lambda mp, lu=lu: Mount(kind="lustre", mount_point=lu.mount_point, source=mp or "", options="defaults,_netdev")
                )
            )

        if spec.parallelstore is not None:
            ps = spec.parallelstore
            parallelstore = gcp.parallelstore.Instance(
                f"{name}-parallelstore",
                instance_id=f"{name}-ps",
                location=zone,
                capacity_gib=str(ps.capacity_gb),
                deployment_type=ps.deployment_type,
                network=_network_id(network, psa_range),
                labels=labels,
                project=project,
                opts=stateful,
            )
            self.resources["parallelstore"] = parallelstore
            mounts.append(
                parallelstore.access_points.apply(
                    lambda aps, ps=ps: Mount(kind="parallelstore", mount_point=ps.mount_point, source=",".join(aps or []), options="dfuse")
                )
            )

        if spec.hyperdisk_ml is not None:
            hd = spec.hyperdisk_ml
            disk = gcp.compute.Disk(
                f"{name}-models",
                name=f"{name}-models",
                type="hyperdisk-ml",
                zone=zone,
                size=hd.size_gb,
                provisioned_throughput=hd.throughput_mibps,
                snapshot=hd.source_snapshot,
                # Filled from a snapshot it is read-only for every node at once; empty it starts
                # writable by one VM, to be hydrated and then switched to READ_ONLY_MANY by hand.
                access_mode="READ_ONLY_MANY" if hd.source_snapshot else "READ_WRITE_SINGLE",
                labels=labels,
                project=project,
                opts=pulumi.ResourceOptions.merge(stateful, pulumi.ResourceOptions(ignore_changes=["accessMode"])),
            )
            self.resources["hyperdisk_ml"] = disk
            mounts.append(
                disk.self_link.apply(
                    lambda link, hd=hd: Mount(kind="hyperdisk-ml", mount_point=hd.mount_point, source=link, options="ro,noload")
                )
            )

        self.mounts = pulumi.Output.all(*mounts) if mounts else pulumi.Output.from_input([])
        register_typed_outputs(self)


def _validate_storage_args(name: str, args: dict) -> StorageSpec:
    subject = f"ClusterStorage '{name}'"
    problems = [Problem(k, "is required") for k in ("environment", "cluster", "workload", "region", "zone") if not args.get(k)]
    if problems:
        raise SpecError(problems, subject)
    try:
        kind = WorkloadKind(args["workload"])
        path = ClusterPath(args.get("path") or ClusterPath.COMPUTE_ENGINE)
    except ValueError as exc:
        raise SpecError([Problem("workload", str(exc))], subject) from None
    raw = args.get("storage")
    try:
        spec = parse_model(StorageSpec, raw, ("storage",)) if raw is not None else default_storage(kind, path)
    except SpecError as exc:
        raise SpecError(exc.problems, subject) from None
    out: list[Problem] = []
    check_storage(lambda key, msg: out.append(Problem(key, msg)), spec, args["zone"], catalog())
    needs_network = spec.filestore or spec.lustre or spec.parallelstore
    if needs_network and not args.get("network"):
        out.append(Problem("network", "is required for Filestore, Lustre and Parallelstore (the VPC they attach to)"))
    if out:
        raise SpecError(out, subject)
    return spec
