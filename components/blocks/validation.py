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


def nccl_exports(host: NcclHost) -> list[str]:
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


def heredoc(var: str, body: str) -> str:
    return f"read -r -d '' {var} <<'AI_CLUSTERS_EOF' || true\n{body}\nAI_CLUSTERS_EOF"


def nccl_build(prefix: str = "$HOME") -> str:
    """Build nccl-tests (MPI) in `prefix`, once."""
    facts = catalog().data.nccl
    assert facts is not None
    return (
        f"[ -x {prefix}/nccl-tests/build/all_reduce_perf ] || (git clone --depth 1 {facts.tests_repo} {prefix}/nccl-tests && "
        f"make -C {prefix}/nccl-tests -j MPI=1 MPI_HOME=${{MPI_HOME:-/usr/lib/x86_64-linux-gnu/openmpi}} CUDA_HOME=${{CUDA_HOME:-/usr/local/cuda}})"
    )


def nccl_env_check() -> list[str]:
    """Lines that load the NCCL environment the node's start-up wrote (catalog node_setup), or stop saying why."""
    env_file = catalog().data.node_setup.env_file  # type: ignore[union-attr]
    return [
        f'[ -r {env_file} ] || {{ echo "no NCCL environment at {env_file}: this node has not finished its GPUDirect set-up '
        f'(gcloud compute instances get-guest-attributes NODE --query-path=ai-clusters/)"; exit 1; }}',
        f". {env_file}",
    ]


def job_yaml(doc: dict) -> str:
    return yaml.dump(json.loads(json.dumps(doc)), Dumper=FAST_DUMPER, sort_keys=False, width=1000)


__all__ = [
    "benchmark_script",
    "expected_busbw",
    "heredoc",
    "job_yaml",
    "kind_of",
    "nccl_build",
    "nccl_env_check",
    "nccl_exports",
    "nccl_flavor",
    "package_spec",
    "report_busbw",
]
