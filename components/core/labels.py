"""The label contract between the components and the policy pack.

Every resource that carries accelerators or data gets these labels; the policies read them back
from resource inputs, so a GPU resource written by hand in another stack is checked the same way
(and one without them is itself a violation). Google Cloud label values allow only lowercase
letters, digits, `_` and `-`, at most 63 characters.
"""

import math
import re
from typing import Any, Mapping, Optional

from ai_clusters.core.enums import ProvisioningModel, WorkloadKind

WORKLOAD = "ai-workload"
ENVIRONMENT = "ai-environment"
CLUSTER = "ai-cluster"
PATH = "ai-path"
ACCELERATORS = "ai-accelerators"  # accelerators in the whole cluster (GPUs or TPU chips)
NODES = "ai-nodes"  # nodes (VMs, hosts) the resource stands for
LATENCY_MS = "ai-latency-ms"  # inference latency target
MODEL_PARAMS_B = "ai-model-params-b"  # model size, billions of parameters, rounded up
PROVISIONING = "ai-provisioning"
MIN_REPLICAS = "ai-min-replicas"  # serving: the fewest replicas kept
MANAGED_BY = "managed-by"
# On a Vertex AI endpoint: the deployment resource pool it serves from. The pool's API has no labels,
# so the policies read its workload labels from the endpoint that names it here.
DEPLOYMENT_POOL = "ai-deployment-pool"
# On a VM or template whose nodes compile kernel modules at boot (the GPUDirect-TCPXO import helper on Ubuntu): Secure
# Boot is off for that reason; the policies accept it there, for a machine type whose GPUDirect set-up needs it.
SECURE_BOOT = "ai-secure-boot"
SECURE_BOOT_OFF_DKMS = "off-dkms"

REQUIRED = (WORKLOAD, ENVIRONMENT, CLUSTER, ACCELERATORS)
WORKLOAD_VALUES = tuple(k.value for k in WorkloadKind)

_VALUE_RE = re.compile(r"[^a-z0-9_-]+")


def label_value(value: Any) -> str:
    """A value Google Cloud accepts as a label value."""
    return _VALUE_RE.sub("-", str(value).lower())[:63]


def contract_labels(
    *,
    workload: WorkloadKind,
    environment: str,
    cluster: str,
    path: str,
    accelerators: int,
    nodes: int,
    provisioning: ProvisioningModel,
    latency_ms: Optional[int] = None,
    model_params_b: Optional[float] = None,
    min_replicas: Optional[int] = None,
    extra: Optional[Mapping[str, str]] = None,
) -> dict[str, str]:
    """The labels of the contract for one cluster's resources (user labels first, ours win)."""
    labels = {k: label_value(v) for k, v in (extra or {}).items()}
    labels.update(
        {
            WORKLOAD: workload.value,
            ENVIRONMENT: label_value(environment),
            CLUSTER: label_value(cluster),
            PATH: label_value(path),
            ACCELERATORS: str(int(accelerators)),
            NODES: str(int(nodes)),
            PROVISIONING: provisioning.value,
            MANAGED_BY: "ai-clusters",
        }
    )
    if latency_ms is not None:
        labels[LATENCY_MS] = str(int(latency_ms))
    if model_params_b is not None:
        labels[MODEL_PARAMS_B] = str(math.ceil(model_params_b))
    if min_replicas is not None:
        labels[MIN_REPLICAS] = str(int(min_replicas))
    return labels


def data_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """Labels for data resources (buckets, file systems, disks): the contract without scale facts."""
    keep = (WORKLOAD, ENVIRONMENT, CLUSTER, PATH, MANAGED_BY)
    return {k: v for k, v in labels.items() if k in keep or not k.startswith("ai-")}


def read_int(labels: Mapping[str, Any], key: str) -> Optional[int]:
    """An integer label, or None when absent or not a number."""
    value = labels.get(key)
    try:
        return int(str(value)) if value is not None else None
    except ValueError:
        return None


def missing(labels: Optional[Mapping[str, Any]]) -> list[str]:
    """Contract labels that are absent or invalid (for the 'workload declared' policy)."""
    labels = labels or {}
    out = [k for k in REQUIRED if not labels.get(k)]
    if labels.get(WORKLOAD) and labels[WORKLOAD] not in WORKLOAD_VALUES:
        out.append(f"{WORKLOAD} (must be one of {', '.join(WORKLOAD_VALUES)})")
    if labels.get(ACCELERATORS) and read_int(labels, ACCELERATORS) is None:
        out.append(f"{ACCELERATORS} (must be a number)")
    return out


def cluster_labels(resolved: Any, min_replicas: Optional[int] = None, nodes: Optional[int] = None) -> dict[str, str]:
    """The contract labels of a resolved cluster's accelerator resources (`nodes`: the most it scales to, if not its node count)."""
    w = resolved.spec.workload
    scaled = nodes is not None and resolved.shape is not None
    return contract_labels(
        workload=w.kind,
        environment=resolved.environment,
        cluster=resolved.name,
        path=resolved.spec.path.value,
        accelerators=resolved.shape.gpus * nodes if scaled else resolved.accelerators,
        nodes=nodes if scaled else resolved.nodes,
        provisioning=resolved.provisioning,
        latency_ms=w.latency_ms,
        model_params_b=w.model_params_b,
        min_replicas=min_replicas,
        extra=resolved.labels,
    )
