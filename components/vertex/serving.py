"""VertexServing: a private Vertex AI endpoint and the deployment resource pool it serves from.

The pool holds the accelerators (machine type and accelerator enum from the catalog, minimum and
maximum replicas, an autoscaling target on GPU duty cycle or CPU utilization); the endpoint is
private: dedicated over Private Service Connect (a forwarding rule in the cluster's VPC, the default)
or peered with the VPC through private services access. Latency-bound serving keeps at least one
replica and on-demand capacity (deployment resource pools take no Spot VMs anyway).

The pool's API has no labels field, so the endpoint carries the workload labels and names the pool
in `ai-deployment-pool`; the policy pack links them. Models deploy into the pool with DeployModel's
`shared_resources` (Vertex AI's prebuilt TensorFlow and PyTorch serving containers only: pools take
no custom containers).
"""

from typing import Optional

import pulumi
import pulumi_gcp as gcp

from ai_clusters.core import labels as contract
from ai_clusters.vertex.options import VertexEndpoint, VertexMode
from ai_clusters.vertex.plan import VertexPlan
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

ARTIFACTS_ROLE = "roles/storage.objectViewer"  # read model artifacts from the cluster's bucket only


class VertexServingArgs(VertexArgs):
    """Args of VertexServing (workload.kind inference; workload.latencyMs makes it latency-bound)."""


class VertexServing(VertexCluster):
    """A private or dedicated Vertex AI endpoint and its deployment resource pool on accelerators."""

    endpoint_id: pulumi.Output[str]
    """The endpoint's id."""
    endpoint_name: pulumi.Output[str]
    """Full resource name of the endpoint."""
    endpoint_address: pulumi.Output[str]
    """Where clients in the VPC send requests: the PSC forwarding rule's IP, or http://ENDPOINT_ID.aiplatform.googleapis.com when peered."""
    resource_pool_id: pulumi.Output[str]
    """The deployment resource pool's id."""
    resource_pool_name: pulumi.Output[str]
    """Full resource name of the pool: DeployModel's shared_resources."""
    min_replicas: pulumi.Output[int]
    """Replicas always kept."""
    max_replicas: pulumi.Output[int]
    """Most replicas autoscaling adds."""

    mode = VertexMode.SERVING

    def __init__(
        self, name: str, args: VertexServingArgs, opts: Optional[pulumi.ResourceOptions] = None, *, resolved: Optional[ResolvedCluster] = None
    ):
        super().__init__(name, args, opts, resolved=resolved)

    def build_mode(self, name: str, resolved: ResolvedCluster, plan: VertexPlan, args: dict) -> None:
        project = self.project
        region = resolved.region
        m = plan.machine

        identity = workload_identity(name, resolved, project, self, "serving", WORKLOAD_ROLES, args.get("bucket"), ARTIFACTS_ROLE)
        agent = ServiceAgent.of(name, project, self)
        grants = [agent.act_as(identity)]
        if plan.kms_key:
            grants.append(agent.use_key(plan.kms_key))

        pool_id = resource_id(resolved, "-pool")
        pool = gcp.vertex.AiDeploymentResourcePool(
            f"{name}-pool",
            name=pool_id,
            region=region,
            project=project,
            dedicated_resources=gcp.vertex.AiDeploymentResourcePoolDedicatedResourcesArgs(
                machine_spec=gcp.vertex.AiDeploymentResourcePoolDedicatedResourcesMachineSpecArgs(
                    machine_type=m.machine_type, accelerator_type=m.accelerator, accelerator_count=m.count
                ),
                min_replica_count=plan.min_nodes,
                max_replica_count=plan.max_nodes,
                autoscaling_metric_specs=[
                    gcp.vertex.AiDeploymentResourcePoolDedicatedResourcesAutoscalingMetricSpecArgs(
                        metric_name=plan.autoscaling_metric, target=plan.autoscaling_target
                    )
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

        dedicated = plan.endpoint == VertexEndpoint.DEDICATED
        if dedicated:
            reach = {
                "private_service_connect_config": gcp.vertex.AiEndpointPrivateServiceConnectConfigArgs(
                    enable_private_service_connect=True,
                    project_allowlists=[project],
                    psc_automation_configs=[
                        gcp.vertex.AiEndpointPrivateServiceConnectConfigPscAutomationConfigArgs(project_id=project, network=args["network"])
                    ],
                )
            }
        else:
            reach = {"network": network_path(args["network"], agent.project_number)}
        endpoint = gcp.vertex.AiEndpoint(
            f"{name}-endpoint",
            display_name=f"{name} ({resolved.environment})",
            description=f"ai-clusters {plan.endpoint.value if plan.endpoint else ''} endpoint of {name}, serving from {pool_id}",
            location=region,
            region=region,
            project=project,
            labels={**vertex_labels(resolved, plan), contract.DEPLOYMENT_POOL: pool_id},
            encryption_spec=gcp.vertex.AiEndpointEncryptionSpecArgs(kms_key_name=plan.kms_key) if plan.kms_key else None,
            **reach,
            opts=pulumi.ResourceOptions(parent=self, depends_on=grants),
        )

        self.endpoint_id = endpoint.name
        self.endpoint_name = endpoint.id
        if dedicated:
            self.endpoint_address = endpoint.private_service_connect_config.apply(_psc_address)
        else:
            self.endpoint_address = endpoint.name.apply(lambda n: f"http://{n}.aiplatform.googleapis.com")
        self.resource_pool_id = pulumi.Output.from_input(pool_id)
        self.resource_pool_name = pool.id
        self.service_account = identity.email
        self.min_replicas = pulumi.Output.from_input(plan.min_nodes)
        self.max_replicas = pulumi.Output.from_input(plan.max_nodes)
        self.endpoint, self.pool = endpoint, pool
        # A deployment resource pool runs models, not jobs: the benchmark runs as a serverless custom job
        # on the same machine spec.
        self.validation_job = self.validation(identity.email)


def _psc_address(config) -> str:
    """The IP of the forwarding rule PSC automation creates in the VPC (known once it exists)."""
    for automation in (config.psc_automation_configs if config else None) or []:
        if automation.ip_address:
            return automation.ip_address
    return ""


__all__ = ["VertexServing", "VertexServingArgs"]
