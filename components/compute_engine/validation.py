"""The validation job of a GpuVmCluster: commands that reach every node over IAP and run the benchmark, and NCCL all-reduce across GPUDirect nodes."""


from ai_clusters.blocks.validation import (
    nccl_exports,
    heredoc,
    nccl_build,
    plugin_check,
    benchmark_script,
    nccl_flavor,
    report_busbw,
)
from ai_clusters.core.catalog import catalog
from ai_clusters.core.spec import ResolvedCluster


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
        heredoc("BENCHMARK", benchmark_script(cl, from_metadata=True)),
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
                plugin_check(flavor),
                "sudo apt-get update -qq && sudo apt-get install -y -qq openmpi-bin libopenmpi-dev git build-essential > /dev/null",
                nccl_build(),
            ]
        )
        nccl = "\n".join(
            [
                *nccl_exports(flavor.vm),
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
            heredoc("BUILD", build),
            'for node in "${NODES[@]}"; do',
            f'  {ssh} "$node" --command "$BUILD" > "nccl-build-$node.log" 2>&1 &',
            "done",
            "wait",
            heredoc("NCCL", nccl),
            f'{ssh} "${{NODES[0]}}" --command "$NCCL"',
        ]
    return "\n".join(lines) + "\n"
