"""The validation job of a SlurmCluster: an sbatch script for its training partition (benchmark on every node, NCCL all-reduce across GPUDirect nodes)."""

import shlex

from ai_clusters.blocks.validation import (
    heredoc,
    nccl_build,
    nccl_env_check,
    benchmark_script,
    nccl_flavor,
    report_busbw,
)
from ai_clusters.core.catalog import NodeShape, catalog
from ai_clusters.core.spec import ResolvedCluster


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
        heredoc("BENCHMARK", benchmark_script(cl, from_metadata=True, shape=shape)),
        'srun --ntasks-per-node=1 bash -c "$BENCHMARK"',
    ]
    if flavor is not None and facts is not None:
        lines += [
            "",
            f"# NCCL all-reduce over every node with GPUDirect-{flavor.flavor.value.upper()} (catalog nccl.{flavor.flavor.value})",
            *nccl_env_check(),
            "srun --nodes=1 --ntasks=1 bash -c " + shlex.quote(nccl_build()),
            f"srun --mpi=pmi2 --ntasks-per-node={gpus_per_node} $HOME/nccl-tests/build/all_reduce_perf {facts.all_reduce_args} | tee nccl-$SLURM_JOB_ID.log",
            report_busbw(shape, "nccl-$SLURM_JOB_ID.log", nodes),
        ]
    return "\n".join(lines) + "\n"
