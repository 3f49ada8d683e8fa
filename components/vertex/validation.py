"""The validation job of a Vertex AI cluster: a custom job spec that runs the benchmark on one accelerator replica."""

from typing import Optional

from ai_clusters.blocks.validation import IMAGE, job_yaml, benchmark_script
from ai_clusters.core.spec import ResolvedCluster


def vertex_custom_job(
    cl: ResolvedCluster,
    *,
    machine_spec: dict,
    service_account: str,
    persistent_resource_id: Optional[str],
    region: str,
    project: str,
    network: Optional[str] = None,
    network_attachment: Optional[str] = None,
) -> str:
    """A CustomJob spec (gcloud ai custom-jobs create --config) that runs the benchmark on one replica."""
    spec: dict = {}
    if persistent_resource_id:
        spec["persistentResourceId"] = persistent_resource_id
    spec["serviceAccount"] = service_account
    spec["workerPoolSpecs"] = [
        {
            "machineSpec": dict(machine_spec),
            "replicaCount": 1,
            "containerSpec": {"imageUri": IMAGE, "command": ["bash", "-c"], "args": [benchmark_script(cl)]},
        }
    ]
    if network:
        spec["network"] = network
    if network_attachment:
        spec["pscInterfaceConfig"] = {"networkAttachment": network_attachment}
    where = f"on persistent resource {persistent_resource_id}" if persistent_resource_id else "as a serverless job on the same machine spec"
    head = (
        f"# Validation of {cl.name}: the benchmark {where}.\n"
        f"# gcloud ai custom-jobs create --project={project} --region={region} --display-name={cl.name}-validate --config=THIS_FILE\n"
    )
    return head + job_yaml(spec)
