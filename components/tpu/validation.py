"""The validation job of a TpuVmCluster: commands that run the benchmark on every worker of every slice (--worker=all)."""


from ai_clusters.blocks.validation import heredoc, benchmark_script
from ai_clusters.core.spec import ResolvedCluster


def tpu_commands(cl: ResolvedCluster, nodes: list[str], project: str) -> str:
    """Commands that run the benchmark on every worker of every slice (`--worker=all`), slices at once."""
    lines = [
        "#!/bin/bash",
        f"# Validation of {cl.name}: run from a workstation with gcloud (IAP SSH to the TPU workers).",
        "set -o pipefail",
        heredoc("BENCHMARK", benchmark_script(cl, from_metadata=True)),
    ]
    for node in nodes:
        lines.append(
            f'gcloud compute tpus tpu-vm ssh {node} --zone {cl.zone} --project {project} --worker=all --tunnel-through-iap '
            f'--command "$BENCHMARK" > benchmark-{node}.log 2>&1 &'
        )
    lines += ["wait", *[f"echo '== {n}'; tail -n 20 benchmark-{n}.log" for n in nodes]]
    return "\n".join(lines) + "\n"
