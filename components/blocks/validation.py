"""Validation jobs: run the benchmark on a cluster, and NCCL all-reduce across its nodes.

Pure functions from what a component knows (its resolved cluster and a few names) to a ready job
as text: a Kubernetes Job or JobSet (GKE), an sbatch script (Slurm), the commands to run on every
node (Compute Engine and TPU VMs) and a Vertex AI custom job. Every job installs
`ai-clusters[validate]` with the JAX build for the accelerator and runs `ai-clusters benchmark`.
Multi-node GPU clusters whose family has GPUDirect also run nccl-tests' `all_reduce_perf` with
the settings of the family's flavour (catalog `nccl`), and print the measured bus bandwidth next
to the expected one from the catalog ("not published" where no source gives one).
"""

import json
import os
import shlex
from typing import Any, Optional

import yaml

from ai_clusters import __version__
from ai_clusters.core.catalog import NodeShape, catalog
from ai_clusters.core.catalog.models import NcclFlavor, NcclHost
from ai_clusters.core.enums import GpuDirect
from ai_clusters.core.nics import family_uses_gpu_nics
from ai_clusters.core.spec import ResolvedCluster

FAST_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when present: the same YAML, faster

PACKAGE_VARIABLE = "AI_CLUSTERS_VALIDATION_PACKAGE"


def package_spec() -> str:
    """What the jobs pip-install: `$AI_CLUSTERS_VALIDATION_PACKAGE` (a requirement such as
    `ai-clusters[validate] @ git+https://github.com/ORG/ai-clusters@v0.1.0`, or a wheel's URL), else
    this very version by name, so a job never takes whatever release an index holds under that name."""
    return os.environ.get(PACKAGE_VARIABLE) or f"ai-clusters[validate]=={__version__}"

JAX = {"gpu": "jax[cuda12]", "tpu": "jax[tpu]"}
IMAGE = "docker.io/library/python:3.11-slim"  # the jobs pip-install the rest; GKE and Vertex AI mount the NVIDIA driver
RESULT = "/tmp/ai-clusters-validation.json"
USER_BASE = "/tmp/ai-clusters-validate"
NVIDIA_LIB = "/usr/local/nvidia/lib64"  # where GKE puts the driver's libraries in GPU containers
JOBSET_API = "jobset.x-k8s.io/v1alpha2"
JOBSET_NOTE = (
    "# A JobSet: the cluster needs the JobSet controller (GKE does not install it), see\n"
    "# https://jobset.sigs.k8s.io/docs/installation/ (kubectl apply --server-side -f <release>/manifests.yaml)\n"
)


# ---- shared pieces -----------------------------------------------------------------------------

def kind_of(cl: ResolvedCluster) -> str:
    return "tpu" if cl.tpu is not None else "gpu"


def nccl_flavor(shape: Optional[NodeShape], nodes: int) -> Optional[NcclFlavor]:
    """The NCCL settings an all-reduce test over `nodes` such nodes runs with; None when there is no such test.

    Only several GPU nodes whose shape uses the family's GPU NICs (GPUDirect-TCPX, -TCPXO or RDMA).
    """
    if shape is None or nodes < 2:
        return None
    if shape.gpudirect == GpuDirect.NONE or not family_uses_gpu_nics(shape.family, shape.gpus):
        return None
    facts = catalog().data.nccl
    return facts.flavor(shape.gpudirect) if facts else None


def expected_busbw(family_id: str) -> str:
    """The expected all-reduce bus bandwidth as the jobs print it."""
    facts = catalog().data.nccl
    expected = facts.expected_busbw.get(family_id) if facts else None
    if expected is None or expected.gbps is None:
        return "not published"
    return f"{expected.gbps:g} GB/s ({', '.join(catalog().data.sources[s].url for s in expected.sources)})"


def benchmark_script(cl: ResolvedCluster, from_metadata: bool = False, shape: Optional[NodeShape] = None) -> str:
    """Install the benchmark with the accelerator's JAX (in a node-local user base) and run it; print the result.

    VMs read their machine type, zone and TPU type from the metadata server; containers are told them.
    """
    kind = kind_of(cl)
    shape = shape or cl.shape
    if from_metadata:
        args = "--from-metadata"
    else:
        args = f"--tpu-type {cl.tpu.type.name}" if cl.tpu is not None else f"--machine-type {shape.machine_type}" if shape else ""
    return "\n".join(
        [
            f"# Benchmark: ai-clusters benchmark on {kind.upper()} ({cl.name})",
            # Node-local: nodes that share /home do not install into one another's packages.
            f"export PYTHONUSERBASE={USER_BASE} PATH={USER_BASE}/bin:$PATH PIP_BREAK_SYSTEM_PACKAGES=1",
            f"python3 -m pip install --quiet --user --upgrade {shlex.quote(package_spec())} {shlex.quote(JAX[kind])}",
            f"ai-clusters benchmark {args} --output {RESULT}",
            f"cat {RESULT}",
        ]
    )


def _exports(host: NcclHost) -> list[str]:
    lines = list(host.setup)
    lines += [f"export {k}={shlex.quote(v)}" for k, v in host.env.items()]
    if host.library_dir:
        lines.append(f'export LD_LIBRARY_PATH={host.library_dir}:"${{LD_LIBRARY_PATH:-}}"')
    return lines


def report_busbw(shape: NodeShape, log: str, nodes: int) -> str:
    """Shell lines that print the measured bus bandwidth (from nccl-tests' summary) beside the expected one."""
    what = f"NCCL all-reduce bus bandwidth, {nodes} nodes x {shape.gpus} GPUs ({shape.family.name}, {shape.gpudirect.value})"
    return "\n".join(
        [
            f"MEASURED=$(grep '# Avg bus bandwidth' {log} | tail -1 | awk '{{print $NF}}')",
            f'echo "{what}: measured ${{MEASURED:-none}} GB/s; expected: {expected_busbw(shape.family.id)}"',
        ]
    )


def _heredoc(var: str, body: str) -> str:
    return f"read -r -d '' {var} <<'AI_CLUSTERS_EOF' || true\n{body}\nAI_CLUSTERS_EOF"


def _nccl_build(prefix: str = "$HOME") -> str:
    """Build nccl-tests (MPI) in `prefix`, once."""
    facts = catalog().data.nccl
    assert facts is not None
    return (
        f"[ -x {prefix}/nccl-tests/build/all_reduce_perf ] || (git clone --depth 1 {facts.tests_repo} {prefix}/nccl-tests && "
        f"make -C {prefix}/nccl-tests -j MPI=1 MPI_HOME=${{MPI_HOME:-/usr/lib/x86_64-linux-gnu/openmpi}} CUDA_HOME=${{CUDA_HOME:-/usr/local/cuda}})"
    )


def _plugin_check(flavor: NcclFlavor) -> str:
    lib = flavor.vm.library_dir
    return (
        f'[ -d {lib} ] || {{ echo "the GPUDirect-{flavor.flavor.value.upper()} NCCL plugin is not installed at {lib}; '
        f'see {catalog().data.sources[flavor.sources[0]].url}"; exit 1; }}'
        if lib
        else ""
    )


# ---- Slurm -------------------------------------------------------------------------------------

def sbatch_script(cl: ResolvedCluster, partition: str, nodes: int, shape: NodeShape) -> str:
    """An sbatch script for a GPU partition of `nodes` nodes of `shape`: the benchmark on every node, then NCCL all-reduce."""
    flavor = nccl_flavor(shape, nodes)
    gpus_per_node = shape.gpus
    facts = catalog().data.nccl
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={cl.name}-validate",
        f"#SBATCH --partition={partition}",
        f"#SBATCH --nodes={nodes}",
        f"#SBATCH --gpus-per-node={gpus_per_node}",
        "#SBATCH --exclusive",
        "#SBATCH --output=%x-%j.out",
        f"# Submit from a login node: sbatch {cl.name}-validate.sh",
        "set -o pipefail",
        "",
        _heredoc("BENCHMARK", benchmark_script(cl, from_metadata=True, shape=shape)),
        'srun --ntasks-per-node=1 bash -c "$BENCHMARK"',
    ]
    if flavor is not None and facts is not None:
        lines += [
            "",
            f"# NCCL all-reduce over every node with GPUDirect-{flavor.flavor.value.upper()} (catalog nccl.{flavor.flavor.value})",
            _plugin_check(flavor),
            *_exports(flavor.vm),
            "srun --nodes=1 --ntasks=1 bash -c " + shlex.quote(_nccl_build()),
            f"srun --mpi=pmi2 --ntasks-per-node={gpus_per_node} $HOME/nccl-tests/build/all_reduce_perf {facts.all_reduce_args} | tee nccl-$SLURM_JOB_ID.log",
            report_busbw(shape, "nccl-$SLURM_JOB_ID.log", nodes),
        ]
    return "\n".join(lines) + "\n"


# ---- Compute Engine and TPU VMs ----------------------------------------------------------------

def vm_commands(cl: ResolvedCluster, instances: list[str], group: str, project: str) -> str:
    """Commands to run from a workstation: the benchmark on every VM (over IAP), then NCCL from the first."""
    facts = catalog().data.nccl
    ssh = f"gcloud compute ssh --zone {cl.zone} --project {project} --tunnel-through-iap"
    if instances:
        listing = f"NODES=({' '.join(instances)})"
    else:
        listing = (
            f"NODES=($(gcloud compute instance-groups managed list-instances {group} --zone {cl.zone} "
            f"--project {project} --format='value(name)'))"
        )
    lines = [
        "#!/bin/bash",
        f"# Validation of {cl.name}: run from a workstation with gcloud (IAP SSH to the nodes).",
        "set -o pipefail",
        listing,
        _heredoc("BENCHMARK", benchmark_script(cl, from_metadata=True)),
        'for node in "${NODES[@]}"; do',
        f'  {ssh} "$node" --command "$BENCHMARK" > "benchmark-$node.log" 2>&1 &',
        "done",
        "wait",
        'for node in "${NODES[@]}"; do echo "== $node"; tail -n 20 "benchmark-$node.log"; done',
    ]
    flavor = nccl_flavor(cl.shape, cl.nodes)
    if flavor is not None and facts is not None and cl.shape is not None:
        gpus = cl.shape.gpus
        build = "\n".join(
            [
                _plugin_check(flavor),
                "sudo apt-get update -qq && sudo apt-get install -y -qq openmpi-bin libopenmpi-dev git build-essential > /dev/null",
                _nccl_build(),
            ]
        )
        nccl = "\n".join(
            [
                *_exports(flavor.vm),
                f"mpirun --hostfile $HOME/hosts -npernode {gpus} --bind-to none "
                "--mca plm_rsh_agent 'ssh -o StrictHostKeyChecking=no' "
                f"-x LD_LIBRARY_PATH $(echo ${{!NCCL*}} | sed 's/^/-x /; s/ / -x /g') "
                f"$HOME/nccl-tests/build/all_reduce_perf {facts.all_reduce_args} | tee $HOME/nccl.log",
                report_busbw(cl.shape, "$HOME/nccl.log", cl.nodes),
            ]
        )
        lines += [
            "",
            f"# NCCL all-reduce over every node with GPUDirect-{flavor.flavor.value.upper()} (catalog nccl.{flavor.flavor.value}),",
            "# launched by MPI from the first node: it gets an SSH key the other nodes accept, and the hosts file.",
            f'{ssh} "${{NODES[0]}}" --command \'test -f ~/.ssh/id_ed25519 || ssh-keygen -q -t ed25519 -N "" -f ~/.ssh/id_ed25519\'',
            f'KEY=$({ssh} "${{NODES[0]}}" --command "cat ~/.ssh/id_ed25519.pub")',
            ': > hosts',
            'for node in "${NODES[@]}"; do',
            f'  {ssh} "$node" --command "mkdir -p ~/.ssh && echo \'$KEY\' >> ~/.ssh/authorized_keys"',
            f'  echo "$(gcloud compute instances describe "$node" --zone {cl.zone} --project {project} '
            "--format='value(networkInterfaces[0].networkIP)') slots=" + str(gpus) + '" >> hosts',
            "done",
            f'{ssh} "${{NODES[0]}}" --command "cat > ~/hosts" < hosts',
            "# Every node needs MPI, the plugin and the nccl-tests binary (home folders are not shared).",
            _heredoc("BUILD", build),
            'for node in "${NODES[@]}"; do',
            f'  {ssh} "$node" --command "$BUILD" > "nccl-build-$node.log" 2>&1 &',
            "done",
            "wait",
            _heredoc("NCCL", nccl),
            f'{ssh} "${{NODES[0]}}" --command "$NCCL"',
        ]
    return "\n".join(lines) + "\n"


def tpu_commands(cl: ResolvedCluster, nodes: list[str], project: str) -> str:
    """Commands that run the benchmark on every worker of every slice (`--worker=all`), slices at once."""
    lines = [
        "#!/bin/bash",
        f"# Validation of {cl.name}: run from a workstation with gcloud (IAP SSH to the TPU workers).",
        "set -o pipefail",
        _heredoc("BENCHMARK", benchmark_script(cl, from_metadata=True)),
    ]
    for node in nodes:
        lines.append(
            f'gcloud compute tpus tpu-vm ssh {node} --zone {cl.zone} --project {project} --worker=all --tunnel-through-iap '
            f'--command "$BENCHMARK" > benchmark-{node}.log 2>&1 &'
        )
    lines += ["wait", *[f"echo '== {n}'; tail -n 20 benchmark-{n}.log" for n in nodes]]
    return "\n".join(lines) + "\n"


# ---- GKE -----------------------------------------------------------------------------------------

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
        resources = {"google.com/tpu": str(cl.tpu.chips_per_host)}
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
            *_exports(gke),
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
    volumes.append({"name": "shared-memory", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}})
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
        return _yaml(job)
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
    return JOBSET_NOTE + _yaml(jobset)


# ---- Vertex AI -----------------------------------------------------------------------------------

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
    return head + _yaml(spec)


def _yaml(doc: dict) -> str:
    return yaml.dump(json.loads(json.dumps(doc)), Dumper=FAST_DUMPER, sort_keys=False, width=1000)


__all__ = [
    "benchmark_script",
    "expected_busbw",
    "kubernetes_job",
    "nccl_flavor",
    "sbatch_script",
    "tpu_commands",
    "vertex_custom_job",
    "vm_commands",
]
