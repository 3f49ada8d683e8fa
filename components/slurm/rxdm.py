"""The receive-datapath manager (RxDM) of GPUDirect-TCPX/TCPXO Slurm nodes: started per job by a prolog, stopped by an epilog.

NCCL over GPUDirect-TCPX (A3 High/Edge) and -TCPXO (A3 Mega) needs RxDM running on every node of a multi-node job.
slurm-gcp runs it for the length of a job with its `receive-data-path-manager` and `-mega` scripts
(tools/prologs-epilogs), which Cluster Toolkit's A3 examples fetch from slurm-gcp's master branch at controller boot.
These scripts do the same from the catalog's facts instead (the RxDM and NCCL plugin images with their pinned tags and
flags, the per-job socket folder of TCPX, the line TCPXO's RxDM logs when ready), so they change only with the catalog:

- they act on multi-node jobs only (single-node jobs talk over NVLink), and only on the machine types whose node sets
  light GPUDirect (the metadata server says which machine the node is), like slurm-gcp's scripts;
- the prolog signs docker in to Artifact Registry, installs the NCCL plugin if the node's start-up has not, removes RxDM
  containers left by earlier jobs (one RxDM per node), starts this job's and waits until it is ready; a prolog that
  fails drains the node and requeues the job (Slurm's behaviour), rather than letting NCCL run without it;
- the epilog stops the job's RxDM and removes its socket folder, and never fails (a failed epilog drains the node).

SlurmCluster and the blueprint deliver them with slurm-gcp's own mechanism: config.yaml `prolog_scripts` and
`epilog_scripts` (bucket objects slurm-prolog-script-* / slurm-epilog-script-*, installed by setup.py on compute nodes,
run through Prolog=/slurm/custom_scripts/prolog.d/*). Pure text: no Pulumi here.
"""

import shlex
from typing import Mapping

from ai_clusters.blocks.scripts import DOCKER_SIGNIN, docker_run
from ai_clusters.core.catalog.models import GpuDirectHost
from ai_clusters.core.enums import GpuDirect

SCRIPT = "ai-clusters-rxdm.sh"
CONTAINER = "receive-datapath-manager"
MACHINE_TYPE_URL = "http://metadata.google.internal/computeMetadata/v1/instance/machine-type"
READY_TRIES, READY_EVERY_S = 60, 2  # slurm-gcp's -mega script: every 2 s, at most 60 tries

HEAD = f"""#!/bin/bash
# Written by ai-clusters ({{what}}). The receive-datapath manager (RxDM) of GPUDirect-TCPX/TCPXO for the length of a job.
set -uo pipefail
export HOME=/var/lib/ai-clusters  # where the node's start-up signed docker in
mkdir -p "$HOME"
log() {{ echo "ai-clusters rxdm: $*" >&2; logger -t ai-clusters -- "rxdm: $*" 2>/dev/null || true; }}
have() {{ command -v "$1" >/dev/null 2>&1; }}
# Single-node jobs talk over NVLink, not the GPU NICs.
[ "${{SLURM_JOB_NUM_NODES:-1}}" -gt 1 ] || exit 0
machine_type() {{ curl -sSf -m 5 -H Metadata-Flavor:Google {MACHINE_TYPE_URL} | sed 's#.*/##'; }}
JOB_CONTAINER="{CONTAINER}-${{SLURM_JOB_ID}}"
"""


def _q(text: str) -> str:
    return shlex.quote(text)


def _job_uds(host: GpuDirectHost) -> str:
    """`UDS_PATH=...`: the job's socket folder (catalog job_uds_path, expanded when the script runs)."""
    return f'  UDS_PATH="{host.job_uds_path or host.uds_path}"'


def _start(host: GpuDirectHost, gpus: int) -> str:
    flavor = host.flavor.value
    rxdm, plugin = host.rxdm, host.plugin
    assert rxdm is not None
    uds = host.job_uds_path or host.uds_path
    body = [_job_uds(host), '  mkdir -p "$UDS_PATH"'] if uds else []
    body.append(DOCKER_SIGNIN)
    body += [f"  modprobe {_q(m)}" for m in host.kernel_modules]
    body.append(f"  docker ps -aq --filter name={CONTAINER}- | xargs -r docker rm -f >/dev/null  # one RxDM per node")
    if plugin is not None and host.nccl.library_dir:
        run = docker_run("nccl-plugin-installer-$SLURM_JOB_ID", plugin, gpus=gpus, uds_var="UDS_PATH" if uds else None)
        body.append(f"  [ -d {_q(host.nccl.library_dir)} ] || {run} || return 1")
    body.append("  " + docker_run('"$JOB_CONTAINER"', rxdm, gpus=gpus, mode=("--detach", "--rm"), uds_var="UDS_PATH" if uds else None) + " || return 1")
    if rxdm.ready_log:
        body += [
            f"  for _ in $(seq {READY_TRIES}); do",
            f'    docker logs "$JOB_CONTAINER" 2>&1 | grep -q {_q(rxdm.ready_log)} && return 0',
            f"    sleep {READY_EVERY_S}",
            "  done",
            f"  log 'RxDM did not log its ready line within {READY_TRIES * READY_EVERY_S} s'; return 1",
        ]
    elif rxdm.settle_seconds:
        body.append(f"  sleep {rxdm.settle_seconds}  # RxDM logs no ready line: its source waits this long")
    return f"start_{flavor}() {{\n" + "\n".join(body) + "\n}\n"


def _stop(host: GpuDirectHost) -> str:
    flavor = host.flavor.value
    body = ['  docker rm -f "$JOB_CONTAINER" >/dev/null 2>&1 || true']
    if host.job_uds_path or host.uds_path:
        body = [_job_uds(host), *body, '  rm -rf "$UDS_PATH"']
    return f"stop_{flavor}() {{\n" + "\n".join(body) + "\n}\n"


def _dispatch(hosts: Mapping[str, GpuDirectHost], verb: str) -> str:
    lines = ['case "$(machine_type)" in']
    for flavor in dict.fromkeys(h.flavor for h in hosts.values()):
        types = "|".join(sorted(mt for mt, h in hosts.items() if h.flavor == flavor))
        lines.append(f"  {types}) {verb}_{flavor.value} ;;")
    lines.append("  *) exit 0 ;;  # no GPUDirect RxDM on this machine type")
    lines.append("esac")
    return "\n".join(lines) + "\n"


def _flavors(hosts: Mapping[str, GpuDirectHost]) -> dict[GpuDirect, GpuDirectHost]:
    return {h.flavor: h for h in hosts.values()}


def prolog(hosts: Mapping[str, GpuDirectHost], gpus: Mapping[str, int]) -> str:
    """The prolog: start RxDM for the job on the machine types in `hosts` (machine type -> the catalog's host set-up)."""
    parts = [HEAD.replace("{what}", "Slurm prolog: starts this job's RxDM")]
    for flavor, host in _flavors(hosts).items():
        mt = next(m for m, h in hosts.items() if h.flavor == flavor)
        parts.append(_start(host, gpus.get(mt, 8)))
    parts.append(_dispatch(hosts, "start"))
    parts.append('rc=$?\n[ "$rc" -eq 0 ] || log "RxDM did not start for job ${SLURM_JOB_ID} (exit $rc): Slurm drains this node"\nexit "$rc"\n')
    return "".join(parts)


def epilog(hosts: Mapping[str, GpuDirectHost]) -> str:
    """The epilog: stop the job's RxDM and remove its socket folder; always succeeds."""
    parts = [HEAD.replace("{what}", "Slurm epilog: stops this job's RxDM")]
    parts += [_stop(host) for host in _flavors(hosts).values()]
    parts.append(_dispatch(hosts, "stop"))
    parts.append("exit 0\n")
    return "".join(parts)


__all__ = ["CONTAINER", "SCRIPT", "epilog", "prolog"]
