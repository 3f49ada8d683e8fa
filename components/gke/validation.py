"""The validation job of a GkeCluster: a Job (one node) or a JobSet (several) with the benchmark, and NCCL all-reduce across GPUDirect nodes."""

from typing import Any, Optional

from ai_clusters.blocks.validation import (
    IMAGE,
    JOBSET_API,
    JOBSET_NOTE,
    NVIDIA_LIB,
    nccl_exports,
    job_yaml,
    benchmark_script,
    nccl_flavor,
    report_busbw,
)
from ai_clusters.core.catalog import catalog
from ai_clusters.core.catalog.models import NcclFlavor
from ai_clusters.core.enums import GpuDirect
from ai_clusters.core.spec import ResolvedCluster


def _pod_spec(cl: ResolvedCluster, containers: list[dict], node_selector: dict, service_account: str, **extra: Any) -> dict:
    facts = catalog().data.gke
    assert facts is not None
    taint = facts.tpu_taint if cl.tpu is not None else facts.gpu_taint
    spec: dict = {
        "restartPolicy": "Never",
        "nodeSelector": dict(node_selector),
        "tolerations": [{"key": taint.key, "operator": "Exists", "effect": "NoSchedule"}],
        "containers": containers,
        **extra,
    }
    if service_account:
        spec["serviceAccountName"] = service_account
    return spec


def _benchmark_container(cl: ResolvedCluster) -> dict:
    if cl.tpu is not None:
        resources = {"google.com/tpu": str(cl.tpu.chips_per_vm)}
        env: list[dict] = []
    else:
        assert cl.shape is not None
        resources = {"nvidia.com/gpu": str(cl.shape.gpus)}
        env = [{"name": "LD_LIBRARY_PATH", "value": NVIDIA_LIB}]
    return {
        "name": "benchmark",
        "image": IMAGE,
        "command": ["bash", "-c", benchmark_script(cl)],
        "env": env,
        "resources": {"limits": resources, "requests": resources},
    }


def _job_template(pod: dict, count: int, annotations: Optional[dict] = None) -> dict:
    meta: dict = {"labels": {"app.kubernetes.io/managed-by": "ai-clusters"}}
    if annotations:
        meta["annotations"] = annotations
    return {
        "spec": {
            "parallelism": count,
            "completions": count,
            "completionMode": "Indexed",
            "backoffLimit": 0,
            "template": {"metadata": meta, "spec": pod},
        }
    }


def _nccl_pod(cl: ResolvedCluster, flavor: NcclFlavor, name: str, nodes: int, node_selector: dict, annotations: dict, service_account: str) -> tuple[dict, dict]:
    """The NCCL test pod (Google's image and launch for the flavour) and its annotations."""
    assert cl.shape is not None
    facts = catalog().data.nccl
    assert facts is not None
    gke, gpus = flavor.gke, cl.shape.gpus
    hosts = " ".join(f"{name}-nccl-0-{i}.{name}" for i in range(nodes))
    env_flags = " ".join(f"-x {k}" for k in gke.env)
    run = gke.run.format(hosts=hosts, nhosts=nodes, gpus=gpus, np=nodes * gpus, args=facts.all_reduce_args, env_flags=env_flags)
    first = f"{name}-nccl-0-0.{name}"
    script = "\n".join(
        [
            "set -x",
            gke.ssh_start,
            *nccl_exports(gke),
            'if [ "$JOB_COMPLETION_INDEX" = "0" ]; then',
            f"  ( {run} ) 2>&1 | tee /tmp/nccl.log",
            "  " + report_busbw(cl.shape, "/tmp/nccl.log", nodes).replace("\n", "\n  "),
            "else",
            f"  sleep 60; while getent hosts {first} > /dev/null; do sleep 10; done",
            "fi",
        ]
    )
    volumes: list[dict] = []
    mounts: list[dict] = []
    sidecar_mounts: list[dict] = []

    def volume(path: str) -> str:
        vname = "host" + path.replace("/", "-").replace("_", "-").lower()
        if all(v["name"] != vname for v in volumes):
            volumes.append({"name": vname, "hostPath": {"path": path}})
        return vname

    for host, inside in gke.mounts.items():
        mounts.append({"name": volume(host), "mountPath": inside})
    for host, inside in gke.sidecar_mounts.items():
        sidecar_mounts.append({"name": volume(host), "mountPath": inside})
    volumes.append({"name": "shared-memory", "emptyDir": {"medium": "Memory", "sizeLimit": gke.shm_size}})
    mounts.append({"name": "shared-memory", "mountPath": "/dev/shm"})
    if gke.socket_dir:
        volumes.append({"name": "gpudirect-socket", "emptyDir": {}})
        sidecar_mounts.append({"name": "gpudirect-socket", "mountPath": gke.socket_dir[0]})
        mounts.append({"name": "gpudirect-socket", "mountPath": gke.socket_dir[1]})
    limits = {"nvidia.com/gpu": str(gpus)}
    nccl: dict = {
        "name": "nccl",
        "image": gke.image,
        "command": ["bash", "-c", script],
        "env": [{"name": "LD_LIBRARY_PATH", "value": gke.library_dir or NVIDIA_LIB}],
        "resources": {"limits": limits, "requests": limits},
        "volumeMounts": mounts,
        "securityContext": {"privileged": True} if flavor.flavor == GpuDirect.RDMA else {"capabilities": {"add": ["IPC_LOCK"]}},
    }
    extra: dict = {"volumes": volumes}
    pod_annotations = dict(annotations)
    direct = catalog().data.gke.gpudirect_for(flavor.flavor) if catalog().data.gke else None
    if gke.sidecar_command and direct is not None and direct.workload_sidecar_image:
        # The receive-datapath manager runs beside NCCL as a native sidecar (stops when the test ends).
        extra["initContainers"] = [
            {
                "name": "gpudirect-rxdm",
                "image": direct.workload_sidecar_image,
                "restartPolicy": "Always",
                "command": list(gke.sidecar_command),
                "env": [{"name": "LD_LIBRARY_PATH", "value": NVIDIA_LIB}],
                "securityContext": {"capabilities": {"add": ["NET_ADMIN", "NET_BIND_SERVICE"]}},
                "volumeMounts": sidecar_mounts,
            }
        ]
        devices = [f"/dev/nvidia{i}" for i in range(gpus)] + list(gke.sidecar_devices)
        pod_annotations["devices.gke.io/container.gpudirect-rxdm"] = "".join(f"- path: {d}\n" for d in devices)
    return _pod_spec(cl, [nccl], node_selector, service_account, **extra), pod_annotations


def kubernetes_job(
    cl: ResolvedCluster,
    *,
    nodes: int,
    slices: int,
    node_selector: dict,
    pod_annotations: dict,
    namespace: str,
    service_account: str = "",
) -> str:
    """A Job (one node) or a JobSet (several): the benchmark on every node, NCCL all-reduce where it applies.

    `nodes`: accelerator nodes per slice (GPU nodes, or TPU hosts); `pod_annotations`: the multi-network
    annotations of the node pool, so pods get an interface on every GPU/RDMA network.
    """
    name = f"{cl.name}-validate"[:40].rstrip("-")
    meta = {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/managed-by": "ai-clusters", "ai-cluster": cl.name}}
    pod = _pod_spec(cl, [_benchmark_container(cl)], node_selector, service_account)
    if nodes * slices == 1:
        job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, **_job_template(pod, 1)}
        job["spec"]["ttlSecondsAfterFinished"] = 86400
        return job_yaml(job)
    replicated = [{"name": "benchmark", "replicas": slices, "template": _job_template(pod, nodes)}]
    flavor = nccl_flavor(cl.shape, nodes)
    if flavor is not None:
        nccl_pod, annotations = _nccl_pod(cl, flavor, name, nodes, node_selector, pod_annotations, service_account)
        replicated.append({"name": "nccl", "replicas": 1, "template": _job_template(nccl_pod, nodes, annotations)})
    if cl.tpu is not None:
        # One slice per node pool, each slice's pods on one pool (JobSet's exclusive placement, as GKE's TPU guides use).
        meta["annotations"] = {"alpha.jobset.sigs.k8s.io/exclusive-topology": "cloud.google.com/gke-nodepool"}
    jobset = {
        "apiVersion": JOBSET_API,
        "kind": "JobSet",
        "metadata": meta,
        "spec": {
            "network": {"enableDNSHostnames": True, "subdomain": name},
            # One replicated job at a time would need the GPUs twice: NCCL pods wait for the benchmark's nodes.
            "replicatedJobs": replicated,
            "ttlSecondsAfterFinished": 86400,
        },
    }
    return JOBSET_NOTE + job_yaml(jobset)
