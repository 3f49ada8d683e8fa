"""The validation job of a GpuVmCluster: commands that reach every node over IAP and run the benchmark, and NCCL all-reduce across GPUDirect nodes.

NCCL runs over the flavour's plugin with the environment each node's start-up wrote (catalog `node_setup`):
natively with MPI on Ubuntu nodes; on Container-Optimized OS nodes (GPUDirect-TCPX), where nothing can be
installed, inside the flavour's NCCL test image (the one Google's GKE test runs) with the host's network, so
NCCL uses the host's GPU NICs and the receive-datapath manager's sockets.
"""

from typing import Optional

from ai_clusters.blocks.validation import (
    IMAGE,
    NVIDIA_LIB,
    benchmark_script,
    heredoc,
    nccl_build,
    nccl_env_check,
    nccl_flavor,
    report_busbw,
)
from ai_clusters.compute_engine.plan import VmPlan
from ai_clusters.core.catalog import catalog
from ai_clusters.core.spec import ResolvedCluster

TEST_CONTAINER = "ai-clusters-nccl"
CONTAINER_SSH_PORT = 2222  # the container shares the host's network; the host's own sshd keeps port 22


def vm_commands(cl: ResolvedCluster, instances: list[str], group: str, project: str, plan: Optional[VmPlan] = None) -> str:
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
    on_cos = plan is not None and plan.os == "cos"
    lines = [
        "#!/bin/bash",
        f"# Validation of {cl.name}: run from a workstation with gcloud (IAP SSH to the nodes).",
        "set -o pipefail",
        listing,
    ]
    gpus_on_node = cl.shape.gpus if cl.shape else 0
    lines += [
        heredoc("BENCHMARK", benchmark_script(cl, from_metadata=True)),
        *(_in_python_container(gpus_on_node) if on_cos else []),
        'for node in "${NODES[@]}"; do',
        f'  {ssh} "$node" --command "$BENCHMARK" > "benchmark-$node.log" 2>&1 &',
        "done",
        "wait",
        'for node in "${NODES[@]}"; do echo "== $node"; tail -n 20 "benchmark-$node.log"; done',
    ]
    flavor = nccl_flavor(cl.shape, cl.nodes)
    if flavor is None or facts is None or cl.shape is None:
        return "\n".join(lines) + "\n"
    gpus = cl.shape.gpus
    hosts_file = [
        ': > hosts',
        'for node in "${NODES[@]}"; do',
        f'  echo "$(gcloud compute instances describe "$node" --zone {cl.zone} --project {project} '
        "--format='value(networkInterfaces[0].networkIP)') slots=" + str(gpus) + '" >> hosts',
        "done",
    ]
    header = [
        "",
        f"# NCCL all-reduce over every node with GPUDirect-{flavor.flavor.value.upper()} and the environment each node's start-up",
        "# wrote (catalog node_setup), launched by MPI from the first node.",
    ]
    if on_cos:
        lines += header + _container_nccl(cl, ssh, gpus, flavor.gke.image, hosts_file, facts.all_reduce_args)
        return "\n".join(lines) + "\n"
    build = "\n".join(
        [
            *nccl_env_check(),
            "sudo apt-get update -qq && sudo apt-get install -y -qq openmpi-bin libopenmpi-dev git build-essential > /dev/null",
            nccl_build(),
        ]
    )
    nccl = "\n".join(
        [
            *nccl_env_check(),
            f"mpirun --hostfile $HOME/hosts -npernode {gpus} --bind-to none "
            "--mca plm_rsh_agent 'ssh -o StrictHostKeyChecking=no' "
            f"-x LD_LIBRARY_PATH $(echo ${{!NCCL*}} | sed 's/^/-x /; s/ / -x /g') "
            f"$HOME/nccl-tests/build/all_reduce_perf {facts.all_reduce_args} | tee $HOME/nccl.log",
            report_busbw(cl.shape, "$HOME/nccl.log", cl.nodes),
        ]
    )
    lines += header + [
        "# The first node gets an SSH key the other nodes accept, and the hosts file.",
        f'{ssh} "${{NODES[0]}}" --command \'test -f ~/.ssh/id_ed25519 || ssh-keygen -q -t ed25519 -N "" -f ~/.ssh/id_ed25519\'',
        f'KEY=$({ssh} "${{NODES[0]}}" --command "cat ~/.ssh/id_ed25519.pub")',
        'for node in "${NODES[@]}"; do',
        f'  {ssh} "$node" --command "mkdir -p ~/.ssh && echo \'$KEY\' >> ~/.ssh/authorized_keys"',
        "done",
        *hosts_file,
        f'{ssh} "${{NODES[0]}}" --command "cat > ~/hosts" < hosts',
        "# Every node needs MPI and the nccl-tests binary (home folders are not shared).",
        heredoc("BUILD", build),
        'for node in "${NODES[@]}"; do',
        f'  {ssh} "$node" --command "$BUILD" > "nccl-build-$node.log" 2>&1 &',
        "done",
        "wait",
        heredoc("NCCL", nccl),
        f'{ssh} "${{NODES[0]}}" --command "$NCCL"',
    ]
    return "\n".join(lines) + "\n"


def _in_python_container(gpus: int) -> list[str]:
    """Container-Optimized OS has no Python to install into: the benchmark runs in the validation image, with the
    host's driver libraries and GPUs (as the GKE job runs it)."""
    devices = " ".join(["--device=/dev/nvidia-uvm", "--device=/dev/nvidiactl", *(f"--device=/dev/nvidia{i}" for i in range(gpus))])
    return [
        "# Container-Optimized OS: the benchmark runs in the validation image with the host's driver and GPUs.",
        f'BENCHMARK="sudo docker run --rm --network=host {devices} --volume=/var/lib/nvidia/lib64:{NVIDIA_LIB} '
        f'--env=LD_LIBRARY_PATH={NVIDIA_LIB} {IMAGE} bash -c $(printf %q "$BENCHMARK")"',
    ]


def _container_nccl(cl: ResolvedCluster, ssh: str, gpus: int, image: str, hosts_file: list[str], args: str) -> list[str]:
    """NCCL in the flavour's test image on every node, with the host's network, driver, plugin and RxDM sockets."""
    env_file = catalog().data.node_setup.env_file  # type: ignore[union-attr]
    start = " ".join(
        [
            f"sudo docker rm -f {TEST_CONTAINER} >/dev/null 2>&1; sudo docker run --detach --name={TEST_CONTAINER}",
            "--network=host --privileged --shm-size=1g --ulimit memlock=-1",
            "--volume=/var/lib/nvidia/lib64:/usr/local/nvidia/lib64 --volume=/var/lib/tcpx/lib64:/usr/local/tcpx/lib64",
            f"--volume=/run/tcpx:/run/tcpx --volume={env_file}:{env_file}:ro",
            "--device=/dev/nvidia-uvm --device=/dev/nvidiactl " + " ".join(f"--device=/dev/nvidia{i}" for i in range(gpus)),
            f"{image} sleep infinity &&",
            f"sudo docker exec {TEST_CONTAINER} bash -c 'mkdir -p /run/sshd && /usr/sbin/sshd -p {CONTAINER_SSH_PORT}'",
        ]
    )
    run = "\n".join(
        [
            *nccl_env_check(),
            "export LD_LIBRARY_PATH=/usr/local/tcpx/lib64:/usr/local/nvidia/lib64",
            f"mpirun --allow-run-as-root --hostfile /root/hosts -npernode {gpus} --bind-to none --mca btl tcp,self "
            f"--mca btl_tcp_if_include eth0 --mca plm_rsh_agent 'ssh -p {CONTAINER_SSH_PORT} -o StrictHostKeyChecking=no' "
            f"-x LD_LIBRARY_PATH $(echo ${{!NCCL*}} | sed 's/^/-x /; s/ / -x /g') "
            f"/third_party/nccl-tests-mpi/build/all_reduce_perf {args} | tee /root/nccl.log",
            report_busbw(cl.shape, "/root/nccl.log", cl.nodes) if cl.shape else "",
        ]
    )
    return [
        f"# Container-Optimized OS: NCCL runs in {image} (Google's TCPX NCCL test image), its sshd on port {CONTAINER_SSH_PORT}.",
        heredoc("START", start),
        'for node in "${NODES[@]}"; do',
        f'  {ssh} "$node" --command "$START" > "nccl-start-$node.log" 2>&1 &',
        "done",
        "wait",
        "# Commands reach the containers on their standard input (docker exec -i … bash -s): no quoting through SSH.",
        f'KEYGEN=\'test -f /root/.ssh/id_ed25519 || ssh-keygen -q -t ed25519 -N "" -f /root/.ssh/id_ed25519; cat /root/.ssh/id_ed25519.pub\'',
        f'KEY=$(echo "$KEYGEN" | {ssh} "${{NODES[0]}}" --command "sudo docker exec -i {TEST_CONTAINER} bash -s")',
        'for node in "${NODES[@]}"; do',
        f'  echo "mkdir -p /root/.ssh && echo \'$KEY\' >> /root/.ssh/authorized_keys" | {ssh} "$node" --command "sudo docker exec -i {TEST_CONTAINER} bash -s"',
        "done",
        *hosts_file,
        f'{{ echo "cat > /root/hosts <<\'HOSTS\'"; cat hosts; echo HOSTS; }} | {ssh} "${{NODES[0]}}" --command "sudo docker exec -i {TEST_CONTAINER} bash -s"',
        heredoc("NCCL", run),
        f'echo "$NCCL" | {ssh} "${{NODES[0]}}" --command "sudo docker exec -i {TEST_CONTAINER} bash -s"',
    ]


__all__ = ["vm_commands"]
