"""VertexTraining: a persistent Vertex AI training cluster on accelerators.

A persistent resource (long-running, billed while it runs) with the accelerator pool the workload
needs (machine type and the accelerator enum as Vertex AI names it, from the catalog; replica
count and autoscaling limits; boot disk) and optional CPU pools; reached privately (VPC peering
through the ClusterNetwork's private services access range, or a Private Service Connect
interface); workloads must run as a dedicated service account; CMEK optional; a Vertex AI
TensorBoard; the ClusterStorage bucket for staging and checkpoints. Persistent resources take
neither Spot capacity nor Compute Engine reservations, so the cluster is on-demand.
"""

from typing import Optional

import pulumi
import pulumi_gcp as gcp
import yaml

from ai_clusters.core import labels as contract
from ai_clusters.vertex.options import VertexMode, VertexNetworking
from ai_clusters.vertex.plan import VertexPlan, VertexPool
from ai_clusters.vertex.common import (
    WORKLOAD_ROLES,
    ServiceAgent,
    VertexArgs,
    VertexCluster,
    network_path,
    resource_id,
    vertex_labels,
    workload_identity,
)
from ai_clusters.core.spec import ResolvedCluster

TENSORBOARD_ROLE = "roles/aiplatform.user"  # writing to a Vertex AI TensorBoard (Vertex AI TensorBoard setup)
STAGING_ROLE = "roles/storage.objectUser"  # read data, write checkpoints and TensorBoard logs, in the cluster's bucket only


class VertexTrainingArgs(VertexArgs):
    """Args of VertexTraining (workload.kind pretraining, finetuning or hpc)."""


class VertexTraining(VertexCluster):
    """A persistent Vertex AI training cluster: resource pools, private networking, TensorBoard, staging bucket."""

    persistent_resource_id: pulumi.Output[str]
    """The id to pass to training jobs (--persistent-resource-id)."""
    persistent_resource_name: pulumi.Output[str]
    """Full resource name, projects/P/locations/R/persistentResources/ID."""
    staging_bucket: pulumi.Output[str]
    """gs:// URL of the staging and checkpoint bucket (empty when none)."""
    tensorboard: pulumi.Output[str]
    """Resource name of the Vertex AI TensorBoard (empty when off)."""
    custom_job_command: pulumi.Output[str]
    """An example `gcloud ai custom-jobs create` on this cluster (replace IMAGE_URI)."""
    custom_job_config: pulumi.Output[str]
    """The same job as a CustomJobSpec YAML for --config, with TensorBoard and output directory."""
    replica_count: pulumi.Output[int]
    """Replicas the accelerator pool starts with."""

    mode = VertexMode.TRAINING

    def __init__(
        self, name: str, args: VertexTrainingArgs, opts: Optional[pulumi.ResourceOptions] = None, *, resolved: Optional[ResolvedCluster] = None
    ):
        super().__init__(name, args, opts, resolved=resolved)

    def build_mode(self, name: str, resolved: ResolvedCluster, plan: VertexPlan, args: dict) -> None:
        project = self.project
        region = resolved.region
        labels = vertex_labels(resolved, plan)
        bucket = args.get("bucket")

        identity = workload_identity(
            name, resolved, project, self, "training", [*WORKLOAD_ROLES, *([TENSORBOARD_ROLE] if plan.tensorboard else [])], bucket, STAGING_ROLE
        )
        agent = ServiceAgent.of(name, project, self)
        grants: list[pulumi.Resource] = []
        encryption = None
        if plan.kms_key:
            grants.append(agent.use_key(plan.kms_key))
            encryption = gcp.vertex.AiPersistentResourceEncryptionSpecArgs(kms_key_name=plan.kms_key)

        network: Optional[pulumi.Output[str]] = None
        attachment: Optional[pulumi.Input[str]] = None
        if plan.networking == VertexNetworking.VPC_PEERING:
            network = network_path(args["network"], agent.project_number)
            psa = args.get("private_services_range")
            reach = {"network": network, "reserved_ip_ranges": [psa] if psa else None}
        else:
            grants.append(agent.manage_attachments())
            attachment = plan.network_attachment or self._attachment(name, resolved.environment, region, project, args["network"], plan)
            reach = {"psc_interface_config": gcp.vertex.AiPersistentResourcePscInterfaceConfigArgs(network_attachment=attachment)}

        pr_id = resource_id(resolved)
        cluster = gcp.vertex.AiPersistentResource(
            f"{name}-cluster",
            name=pr_id,
            display_name=f"{name} ({resolved.environment}) {resolved.spec.workload.kind.value}",
            location=region,
            project=project,
            labels=labels,
            resource_pools=[_pool(p) for p in plan.pools],
            # Jobs on the cluster must name a user-managed service account: ours (or another one granted as needed).
            resource_runtime_spec=gcp.vertex.AiPersistentResourceResourceRuntimeSpecArgs(
                service_account_spec=gcp.vertex.AiPersistentResourceResourceRuntimeSpecServiceAccountSpecArgs(enable_custom_service_account=True)
            ),
            encryption_spec=encryption,
            **reach,
            opts=pulumi.ResourceOptions(parent=self, depends_on=grants),
        )

        board = None
        if plan.tensorboard:
            protect = resolved.protect_data
            board = gcp.vertex.AiTensorboard(
                f"{name}-tensorboard",
                display_name=f"{name} ({resolved.environment})",
                description=f"ai-clusters TensorBoard of {name}",
                region=region,
                project=project,
                labels=contract.data_labels(labels),
                encryption_spec=gcp.vertex.AiTensorboardEncryptionSpecArgs(kms_key_name=plan.kms_key) if plan.kms_key else None,
                opts=pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect, depends_on=grants),
            )

        staging = pulumi.Output.from_input(bucket or "").apply(lambda b: f"gs://{b}" if b else "")
        self.persistent_resource_id = pulumi.Output.from_input(pr_id)
        self.persistent_resource_name = pulumi.Output.concat("projects/", project, f"/locations/{region}/persistentResources/{pr_id}")
        self.staging_bucket = staging
        self.tensorboard = board.id if board is not None else pulumi.Output.from_input("")
        self.service_account = identity.email
        job = _JobExample(name, region, pr_id, plan)
        self.custom_job_command = pulumi.Output.all(project, identity.email, network).apply(lambda v: job.command(v[0], v[1], v[2]))
        self.custom_job_config = pulumi.Output.all(identity.email, network, self.tensorboard, staging, attachment).apply(lambda v: job.config(*v))
        self.replica_count = pulumi.Output.from_input(plan.pools[0].replicas)
        self.validation_job = self.validation(identity.email, pr_id, network, attachment)
        self.cluster = cluster

    def _attachment(self, name: str, environment: str, region: str, project, network, plan: VertexPlan) -> pulumi.Output[str]:
        """A subnet and a network attachment for the PSC interface, accepting Vertex AI automatically (as documented)."""
        child = pulumi.ResourceOptions(parent=self)
        subnet = gcp.compute.Subnetwork(
            f"{name}-psc-interface",
            name=f"{environment}-{name}-psci"[:63],
            network=network,
            region=region,
            ip_cidr_range=plan.psc_interface_cidr,
            private_ip_google_access=True,
            project=project,
            opts=child,
        )
        attachment = gcp.compute.NetworkAttachment(
            f"{name}-psc-attachment",
            name=f"{environment}-{name}-vertex"[:63],
            region=region,
            connection_preference="ACCEPT_AUTOMATIC",
            subnetworks=[subnet.self_link],
            description=f"ai-clusters: Vertex AI training {name} reaches the VPC through this PSC interface",
            project=project,
            opts=child,
        )
        return attachment.id


def _pool(pool: VertexPool) -> gcp.vertex.AiPersistentResourceResourcePoolArgs:
    m = pool.machine
    return gcp.vertex.AiPersistentResourceResourcePoolArgs(
        machine_spec=gcp.vertex.AiPersistentResourceResourcePoolMachineSpecArgs(
            machine_type=m.machine_type, accelerator_type=m.accelerator, accelerator_count=m.count or None
        ),
        replica_count=str(pool.replicas),
        autoscaling_spec=gcp.vertex.AiPersistentResourceResourcePoolAutoscalingSpecArgs(
            min_replica_count=str(pool.min_replicas), max_replica_count=str(pool.max_replicas)
        )
        if pool.min_replicas is not None
        else None,
        disk_spec=gcp.vertex.AiPersistentResourceResourcePoolDiskSpecArgs(boot_disk_type=pool.boot_disk_type, boot_disk_size_gb=pool.boot_disk_gb),
    )


class _JobExample:
    """A custom job on the cluster: the primary replica, then the other replicas, matching the pools."""

    def __init__(self, name: str, region: str, pr_id: str, plan: VertexPlan):
        self.name, self.region, self.pr_id, self.plan = name, region, pr_id, plan

    def _pools(self) -> list[tuple[VertexPool, int]]:
        main, *extra = self.plan.pools
        specs = [(main, 1)] + ([(main, main.replicas - 1)] if main.replicas > 1 else [])
        return specs + [(p, p.replicas) for p in extra]

    def command(self, project: str, account: str, network: Optional[str]) -> str:
        flags = [
            f"--project={project}",
            f"--region={self.region}",
            f"--display-name={self.name}-job",
            f"--persistent-resource-id={self.pr_id}",
            f"--service-account={account}",
        ]
        if network:
            flags.append(f"--network={network}")  # a job's network and CMEK must match the persistent resource's
        if self.plan.kms_key:
            flags.append(f"--kms-key={self.plan.kms_key}")
        for pool, replicas in self._pools():
            m = pool.machine
            spec = [f"machine-type={m.machine_type}", f"replica-count={replicas}"]
            if m.accelerator:
                spec += [f"accelerator-type={m.accelerator}", f"accelerator-count={m.count}"]
            spec += [f"disk-type={pool.boot_disk_type}", f"disk-size={pool.boot_disk_gb}", "container-image-uri=IMAGE_URI"]
            flags.append("--worker-pool-spec=" + ",".join(spec))
        return "gcloud ai custom-jobs create " + " ".join(flags)

    def config(self, account: str, network: Optional[str], tensorboard: str, staging: str, attachment: Optional[str]) -> str:
        pools = []
        for pool, replicas in self._pools():
            m = pool.machine
            machine = {"machineType": m.machine_type}
            if m.accelerator:
                machine.update(acceleratorType=m.accelerator, acceleratorCount=m.count)
            pools.append(
                {
                    "machineSpec": machine,
                    "replicaCount": replicas,
                    "diskSpec": {"bootDiskType": pool.boot_disk_type, "bootDiskSizeGb": pool.boot_disk_gb},
                    "containerSpec": {"imageUri": "IMAGE_URI"},
                }
            )
        spec: dict = {"persistentResourceId": self.pr_id, "serviceAccount": account, "workerPoolSpecs": pools}
        if network:
            spec["network"] = network
        if attachment:
            spec["pscInterfaceConfig"] = {"networkAttachment": attachment}
        if tensorboard:
            spec["tensorboard"] = tensorboard
        if staging:
            spec["baseOutputDirectory"] = {"outputUriPrefix": f"{staging}/vertex/{self.name}"}
        return yaml.dump(spec, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False)


__all__ = ["VertexTraining", "VertexTrainingArgs"]
