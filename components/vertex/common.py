"""What VertexTraining and VertexServing share: their options and args, validation, identity, private networking.

Both validate their args with the stack's own models and the catalog's Vertex AI facts before
anything is registered (the core runs `ai_clusters.vertex.plan`), run their workloads as a dedicated service account, let
Vertex AI's own service agent do only what its docs require (CMEK, PSC interface, acting as the
serving account), and reach the cluster's VPC privately: VPC peering through the ClusterNetwork's
private services access range, or Private Service Connect.
"""

import ipaddress
from dataclasses import dataclass
from typing import Optional, Sequence, TypedDict

import pulumi
import pulumi_gcp as gcp
from typing_extensions import NotRequired

from ai_clusters.vertex import validation
from ai_clusters.blocks.args import GpuClusterArgs
from ai_clusters.blocks.component import ClusterComponent
from ai_clusters.blocks.iam import NodeIdentity, node_service_account
from ai_clusters.core.enums import ClusterPath
from ai_clusters.core.labels import cluster_labels
from ai_clusters.core.naming import last_segment
from ai_clusters.core.spec import Problem, ResolvedCluster, SpecError
from ai_clusters.vertex.options import AutoscalingMetric, VertexEndpoint, VertexMode, VertexNetworking, VertexOptions
from ai_clusters.vertex.plan import VertexPlan, networking_of
from ai_clusters.vertex.args import VertexOptionsArgs, VertexPoolArgs

KMS_ROLE = "roles/cloudkms.cryptoKeyEncrypterDecrypter"  # the service agent, on the CMEK key
PSC_INTERFACE_ROLE = "roles/compute.networkAdmin"  # the service agent, where the network attachment lives
WORKLOAD_ROLES = ("roles/logging.logWriter", "roles/monitoring.metricWriter")


class VertexArgs(GpuClusterArgs):
    """Args both Vertex AI components take."""

    network: NotRequired[pulumi.Input[str]]
    """Self link of the VPC Vertex AI reaches privately (ClusterNetwork.host_network)."""
    private_services_range: NotRequired[pulumi.Input[str]]
    """Name of the VPC's private services access range (ClusterNetwork.private_services_range), for VPC peering."""
    network_ranges: NotRequired[list[str]]
    """Ranges already used in the VPC (ClusterNetwork.cidrs): a new PSC interface subnet must not overlap them."""
    bucket: NotRequired[pulumi.Input[str]]
    """The cluster's bucket (ClusterStorage.bucket_name): staging and checkpoints for training, model artifacts for serving."""
    vertex: NotRequired[VertexOptionsArgs]
    """Options of this path."""


def _wiring_problems(args: dict, options: VertexOptions, mode: VertexMode, add) -> None:
    networking, _ = networking_of(options, mode)
    # Peering names the VPC; serving over PSC creates its endpoint in it; a new PSC interface needs a subnet in it.
    if (mode == VertexMode.SERVING or networking == VertexNetworking.VPC_PEERING or options.psc_interface_cidr) and not args.get("network"):
        add("network", "is required: the VPC Vertex AI reaches privately (ClusterNetwork.host_network)")
    if options.psc_interface_cidr:
        ours = ipaddress.ip_network(options.psc_interface_cidr)
        for used in args.get("network_ranges") or []:
            if ours.overlaps(ipaddress.ip_network(used, strict=False)):
                add("vertex.pscInterfaceCidr", f"{options.psc_interface_cidr} overlaps {used}, already used in the VPC")


class VertexCluster(ClusterComponent):
    """What both Vertex AI components are: args checked before anything is registered, a project, a machine spec."""

    service_account: pulumi.Output[str]
    """Email of the dedicated account the cluster's workloads run as."""
    machine_type: pulumi.Output[str]
    """Machine type of the accelerator replicas."""
    accelerator_type: pulumi.Output[str]
    """Accelerator enum of the accelerator replicas, as Vertex AI names it."""
    validation_job: pulumi.Output[str]
    """A Vertex AI custom job spec (--config) that runs the benchmark on one accelerator replica (training: on the persistent resource)."""

    cluster_path = ClusterPath.VERTEX
    mode = VertexMode.TRAINING  # each subclass builds one mode

    def prepare_args(self, args: dict) -> dict:
        """The component's mode is the cluster's: a `vertex.mode` given must agree with it."""
        options = dict(args.get("vertex") or {})
        given = options.get("mode")
        if given is not None and VertexMode(given) != self.mode:
            raise SpecError([Problem("vertex.mode", f"this component builds {self.mode.value} clusters, not {VertexMode(given).value}")])
        return {**args, "vertex": {**options, "mode": self.mode}}

    def check_wiring(self, resolved: ResolvedCluster, args: dict, add) -> None:
        plan: Optional[VertexPlan] = resolved.plan
        if plan is not None and plan.mode != self.mode:
            add("vertex.mode", f"{type(self).__name__} builds {self.mode.value} clusters; this cluster is a {plan.mode.value} cluster")
            return
        _wiring_problems(args, resolved.options or VertexOptions(), self.mode, add)

    def build(self, name: str, resolved: ResolvedCluster, args: dict) -> None:
        self.args, self.plan = args, resolved.plan
        self.machine_type = pulumi.Output.from_input(self.plan.machine.machine_type)
        self.accelerator_type = pulumi.Output.from_input(self.plan.machine.accelerator or "")
        self.build_mode(name, resolved, self.plan, args)

    def build_mode(self, name: str, resolved: ResolvedCluster, plan: VertexPlan, args: dict) -> None:
        """Create the persistent resource (training) or the endpoint (serving)."""
        raise NotImplementedError

    def validation(self, account: pulumi.Input[str], persistent_resource_id: Optional[str] = None, network=None, attachment=None) -> pulumi.Output[str]:
        """The benchmark as a custom job on this cluster's accelerator machine spec."""
        m = self.plan.machine
        spec: dict = {"machineType": m.machine_type}
        if m.accelerator:
            spec.update(acceleratorType=m.accelerator, acceleratorCount=m.count)
        resolved = self.resolved
        return pulumi.Output.all(self.project, account, network, attachment).apply(
            lambda v: validation.vertex_custom_job(
                resolved,
                machine_spec=spec,
                service_account=v[1],
                persistent_resource_id=persistent_resource_id,
                region=resolved.region,
                project=v[0],
                network=v[2],
                network_attachment=v[3],
            )
        )


def vertex_labels(resolved: ResolvedCluster, plan: VertexPlan) -> dict[str, str]:
    """The contract labels, at the cluster's full scale."""
    return cluster_labels(resolved, min_replicas=plan.min_nodes, nodes=plan.max_nodes)


def network_path(network: pulumi.Input[str], project_number: pulumi.Input[str]) -> pulumi.Output[str]:
    """projects/NUMBER/global/networks/NAME: Vertex AI names the peered VPC by project number."""
    return pulumi.Output.all(network, project_number).apply(lambda v: f"projects/{v[1]}/global/networks/{last_segment(v[0])}")


@dataclass
class ServiceAgent:
    """Vertex AI's own service agent: made to exist, then granted only what a feature needs."""

    name: str
    project: pulumi.Input[str]
    parent: pulumi.Resource
    project_number: pulumi.Output[str]
    member: pulumi.Output[str]
    identity: gcp.projects.ServiceIdentity

    @classmethod
    def of(cls, name: str, project: pulumi.Input[str], parent: pulumi.Resource) -> "ServiceAgent":
        identity = gcp.projects.ServiceIdentity(
            f"{name}-vertex-agent", service="aiplatform.googleapis.com", project=project, opts=pulumi.ResourceOptions(parent=parent)
        )
        number = gcp.organizations.get_project_output(project_id=project).number
        member = number.apply(lambda n: f"serviceAccount:service-{n}@gcp-sa-aiplatform.iam.gserviceaccount.com")
        return cls(name, project, parent, number, member, identity)

    def _opts(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self.parent, depends_on=[self.identity])

    def use_key(self, kms_key: str) -> pulumi.Resource:
        """CMEK: encrypt and decrypt with the key."""
        return gcp.kms.CryptoKeyIAMMember(f"{self.name}-vertex-kms", crypto_key_id=kms_key, role=KMS_ROLE, member=self.member, opts=self._opts())

    def manage_attachments(self) -> pulumi.Resource:
        """PSC interface: manage the network attachment in the project."""
        return gcp.projects.IAMMember(f"{self.name}-vertex-psc", project=self.project, role=PSC_INTERFACE_ROLE, member=self.member, opts=self._opts())

    def act_as(self, identity: NodeIdentity) -> pulumi.Resource:
        """Serving as a custom account: the agent needs Service Account Admin on that account only."""
        return gcp.serviceaccount.IAMMember(
            f"{self.name}-vertex-act-as",
            service_account_id=identity.account.name,
            role="roles/iam.serviceAccountAdmin",
            member=self.member,
            opts=self._opts(),
        )


def workload_identity(
    name: str,
    resolved: ResolvedCluster,
    project: pulumi.Input[str],
    parent: pulumi.Resource,
    what: str,
    roles: Sequence[str],
    bucket: Optional[pulumi.Input[str]],
    bucket_role: str,
) -> NodeIdentity:
    """The dedicated account the cluster's workloads run as, with `bucket_role` on the cluster's bucket only."""
    identity = node_service_account(
        name, display=f"ai-clusters {resolved.environment}/{name} Vertex AI {what}", project=project, parent=parent, roles=roles
    )
    if bucket:
        gcp.storage.BucketIAMMember(
            f"{name}-bucket", bucket=bucket, role=bucket_role, member=identity.member, opts=pulumi.ResourceOptions(parent=parent)
        )
    return identity


def resource_id(resolved: ResolvedCluster, suffix: str = "") -> str:
    """An id Vertex AI accepts (lowercase, digits, hyphens, at most 63) that is unique per environment."""
    return f"{resolved.environment}-{resolved.name}{suffix}"[:63].rstrip("-")


__all__ = [
    "ServiceAgent",
    "VertexArgs",
    "VertexCluster",
    "VertexOptionsArgs",
    "VertexPoolArgs",
    "network_path",
    "resource_id",
    "vertex_labels",
    "workload_identity",
]
