"""Node start-up scripts run for real in a sandbox (tests/sandbox.py): the commands each family and storage kind
runs, with the catalog's images, tags and flags; a failing step reported while the others still run.

The scripts come from the components under mocks (the `startup-script` metadata a VM receives), so what runs
here is exactly what a node would run.
"""

import re
import subprocess
from pathlib import Path

import pytest

from ai_clusters.blocks.network import ClusterNetwork
from ai_clusters.blocks.scripts import NodeScript, startup_script
from ai_clusters.compute_engine.component import GpuVmCluster
from ai_clusters.core.catalog import catalog
from ai_clusters.core.enums import GpuDirect

from .conftest import mocked
from .sandbox import available, run_script

pytestmark = pytest.mark.skipif(available() is not None, reason=f"no sandbox: {available()}")

INSTANCE = "gcp:compute/instance:Instance"
LUSTRE = {"kind": "lustre", "mount_point": "/lustre", "source": "10.0.0.2@tcp:/lustrefs", "options": "defaults,_netdev"}
FILESTORE = {"kind": "filestore", "mount_point": "/home", "source": "10.0.0.3:/share", "options": "defaults"}
BUCKET = {"kind": "gcsfuse", "mount_point": "/gcs/data", "source": "data-bucket", "options": "implicit_dirs"}
PARALLELSTORE = {"kind": "parallelstore", "mount_point": "/parallelstore", "source": "10.0.0.4,10.0.0.5", "options": "dfuse"}
HYPERDISK = {"kind": "hyperdisk-ml", "mount_point": "/models", "source": "projects/p/zones/z/disks/w", "options": "ro,noload"}


def node_script(machine: str, zone: str, mounts: list[dict], nodes: int = 2, **extra) -> str:
    """The start-up script GpuVmCluster gives its first VM, for `machine` with these mounts."""
    cat = catalog()
    fam = cat.family_of_machine(machine)
    gpus = cat.shape(machine).gpus

    def program():
        accel = [{"family": fam.id, "zone": zone}] if fam.gpudirect != GpuDirect.NONE else []
        net = ClusterNetwork("env", {"region": zone[:-2], "accelerator_networks": accel})
        GpuVmCluster(
            "train",
            {
                "environment": "test",
                "region": zone[:-2],
                "zone": zone,
                "workload": {"kind": "pretraining" if fam.gpudirect != GpuDirect.NONE else "inference", "accelerators": nodes * gpus},
                "machine_type": machine,
                "nodes": nodes,
                "provisioning": {"model": "reservation", "reservation": "res"} if fam.gpudirect != GpuDirect.NONE else {"model": "on-demand"},
                "network": net.attachment(fam.id, zone, gpus),
                "mounts": mounts,
                **extra,
            },
        )

    reg = mocked(program)
    return reg.of_type(INSTANCE)[0].inputs["metadata"]["startup-script"]


def host(flavor: GpuDirect, os: str):
    return catalog().data.node_setup.host(flavor, os)


def test_every_generated_start_up_script_is_valid_bash(tmp_path):
    for machine, zone in [("a3-highgpu-8g", "us-central1-a"), ("a3-megagpu-8g", "us-central1-a"), ("a3-ultragpu-8g", "us-central1-b"), ("g2-standard-8", "us-central1-a")]:
        script = node_script(machine, zone, [FILESTORE])
        path = tmp_path / f"{machine}.sh"
        path.write_text(script)
        assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0, machine


def test_a3_mega_lights_tcpxo_on_ubuntu_with_the_catalogs_images_tags_and_flags(tmp_path):
    facts = host(GpuDirect.TCPXO, "ubuntu")
    script = node_script("a3-megagpu-8g", "us-central1-a", [LUSTRE, BUCKET])
    run = run_script(script, tmp_path, system="ubuntu-2404", env={"SANDBOX_NEW_KERNEL": "1", "SANDBOX_NO_MODULE": "1"})
    assert run.returncode == 0, run.output
    assert run.reports["status"] == "ok"
    # the apt repositories: the Artifact Registry transport first, then Google's gpudirect-tcpxo repository
    sources = sorted(p.name for p in (run.root / "etc/apt/sources.list.d").iterdir())
    assert {"artifact-registry.list", "gpudirect-tcpxo.list", "nvidia-container-toolkit.list", "lustre-client.list", "gcsfuse.list"} <= set(sources)
    assert "ar+https://us-apt.pkg.dev/projects/gce-ai-infra gpudirect-tcpxo-apt main" in run.file("/etc/apt/sources.list.d/gpudirect-tcpxo.list")
    assert run.calls.index("apt-get install -y -q apt-transport-artifact-registry") < run.calls.index("apt-get install -y -q dkms")
    # the DKMS module: built unpatched first, then with the kernel fix, installed, loaded
    builds = run.called("dkms build -m dmabuf-import-helper -v 1.1")
    assert len(builds) == 2 and run.called("dkms install -m dmabuf-import-helper -v 1.1")
    assert 'MODULE_IMPORT_NS("DMA_BUF")' in (tmp_path / "usr-src/dmabuf-import-helper-1.1/import-helper.c").read_text()
    assert run.called("modprobe import-helper")
    # the aperture devices bound under /dev/aperture_devices
    assert any(c.startswith("mount --bind /sys/devices/pci0000:00/0000:94:00.0 /dev/aperture_devices/0000:94:00.0") for c in run.calls)
    # the plugin installer, then RxDM with exactly the catalog's flags (no retired --num_nics), waited on until ready
    plugin = run.called("docker run --rm --name=nccl-plugin-installer")
    assert plugin and facts.plugin.image in plugin[0] and plugin[0].endswith("install --install-nccl")
    rxdm = run.called("docker run --detach --restart=unless-stopped --name=receive-datapath-manager")
    assert rxdm and rxdm[0].endswith(f"{facts.rxdm.image} --num_hops=2") and "--num_nics" not in rxdm[0]
    assert "--volume=/dev/dmabuf_import_helper:/dev/dmabuf_import_helper" in rxdm[0] and "--gpus=all" in rxdm[0]
    assert run.called("docker logs receive-datapath-manager")
    # the NCCL environment jobs source
    env = run.file("/etc/ai-clusters/nccl-env.sh")
    assert "NCCL_LIB_DIR=/var/lib/tcpxo/lib64 source /var/lib/tcpxo/lib64/nccl-env-profile.sh" in env
    assert "export NCCL_FASTRAK_IFNAME=enp6s0,enp7s0,enp13s0,enp14s0,enp134s0,enp135s0,enp141s0,enp142s0" in env
    # storage: the Lustre client for the running kernel from Google's repository, then the mounts
    kernel = subprocess.run(["uname", "-r"], capture_output=True, text=True).stdout.strip()
    assert f"apt-get install -y -q lustre-client-modules-{kernel} lustre-client-utils" in run.calls
    assert "lustre-client-ubuntu-noble main" in run.file("/etc/apt/sources.list.d/lustre-client.list")
    assert "mount -t lustre -o defaults,_netdev 10.0.0.2@tcp:/lustrefs /lustre" in run.calls
    assert "gcsfuse-noble main" in run.file("/etc/apt/sources.list.d/gcsfuse.list")
    assert any(c.startswith("gcsfuse -o allow_other") and c.endswith("data-bucket /gcs/data") for c in run.calls)


def test_a3_high_lights_tcpx_on_container_optimized_os(tmp_path):
    facts = host(GpuDirect.TCPX, "cos")
    script = node_script("a3-highgpu-8g", "us-central1-a", [FILESTORE])
    run = run_script(script, tmp_path, system="cos", fail=("iptables -C",))  # the rule is not there yet
    assert run.returncode == 0, run.output
    assert run.called("cos-extensions install gpu -- --version=latest")
    assert "mount -o remount,exec /var/lib/nvidia" in run.calls and "mount -o remount,exec /var/lib/tcpx" in run.calls
    assert not run.called("apt-get"), "Container-Optimized OS installs nothing with apt"
    rxdm = run.called("docker run --detach --restart=unless-stopped --name=receive-datapath-manager")[0]
    assert all(f"--device=/dev/nvidia{i}" in rxdm for i in range(8)) and "--device=/dev/nvidia8" not in rxdm
    assert rxdm.endswith(f"{facts.rxdm.image} --gpu_nic_preset a3vm --gpu_shmem_type fd --uds_path /run/tcpx --setup_param --verbose 128 2 0")
    assert run.called(f"docker run --rm --name=nccl-plugin-installer --volume=/var/lib:/var/lib {facts.plugin.image} install --install-nccl")
    assert "iptables -I INPUT -p tcp -m tcp -j ACCEPT" in run.calls
    env = run.file("/etc/ai-clusters/nccl-env.sh")
    assert "export NCCL_GPUDIRECTTCPX_SOCKET_IFNAME=eth1,eth2,eth3,eth4" in env and "export LD_LIBRARY_PATH=/var/lib/tcpx/lib64" in env
    # Filestore: the NFS client is built in; mounted without installing anything
    assert "mount -t nfs -o defaults 10.0.0.3:/share /home" in run.calls


def test_a3_ultra_installs_the_gib_plugin_with_apt_and_runs_no_containers(tmp_path):
    script = node_script("a3-ultragpu-8g", "us-central1-b", [FILESTORE])
    run = run_script(script, tmp_path, system="ubuntu-2404")
    assert run.returncode == 0, run.output
    assert "apt-get install -y -q nccl-gib=1.1.0" in run.calls
    assert "gpudirect-gib-apt main" in run.file("/etc/apt/sources.list.d/gpudirect-gib.list")
    assert not run.called("docker run")
    env = run.file("/etc/ai-clusters/nccl-env.sh")
    assert "source /usr/local/gib/scripts/set_nccl_env.sh" in env and "export NCCL_NET=gIB" in env
    assert "apt-get install -y -q nfs-common" in run.calls and "mount -t nfs -o defaults 10.0.0.3:/share /home" in run.calls


def test_parallelstore_and_hyperdisk_ml_on_ubuntu_2204(tmp_path):
    script = startup_script(NodeScript(mounts=(PARALLELSTORE, HYPERDISK), os="ubuntu-2204"))
    run = run_script(script, tmp_path, system="ubuntu-2204")
    assert run.returncode == 0, run.output
    assert "apt-get install -y -q daos-client" in run.calls
    assert "parallelstore-packages v2-6-deb main" in run.file("/etc/apt/sources.list.d/parallelstore.list")
    assert "access_points: [10.0.0.4,10.0.0.5]" in run.file("/etc/daos/daos_agent.yml")
    assert "dfuse -m /parallelstore --pool default-pool --container default-container --multi-user" in run.calls
    assert "mount -o ro,noload /dev/disk/by-id/google-models /models" in run.calls


def test_g2_installs_its_driver_with_googles_installer(tmp_path):
    script = node_script("g2-standard-8", "us-central1-a", [], nodes=1)
    run = run_script(script, tmp_path, system="ubuntu-2404", fail=("nvidia-smi",))
    assert run.returncode == 0, run.output
    assert "python3 cuda_installer.pyz install_driver" in run.calls
    assert not run.called("docker"), "no GPUDirect on G2"


def test_a_failing_step_is_reported_and_the_others_still_run(tmp_path):
    script = node_script("a3-megagpu-8g", "us-central1-a", [LUSTRE, BUCKET])
    run = run_script(script, tmp_path, system="ubuntu-2404", fail=("apt-get install -y -q gcsfuse", "docker run --detach"))
    assert run.returncode == 1
    assert run.reports["gcsfuse-client"].startswith("failed") and run.reports["mount-gcsfuse-1"].startswith("failed")
    assert run.reports["rxdm"].startswith("failed")
    assert run.reports["mount-lustre-0"] == "ok" and run.reports["nccl-env"] == "ok", "steps after a failure still run"
    status = run.reports["status"]
    assert status.startswith("failed:") and set(status.removeprefix("failed:").split()) == {"rxdm", "gcsfuse-client", "mount-gcsfuse-1"}
    assert re.search(r"ai-clusters: step rxdm: FAILED \(exit \d+\)", run.output), "the serial console names the step"
    assert "start-up finished; failed steps: rxdm gcsfuse-client mount-gcsfuse-1" in run.output


def test_rxdm_that_never_reports_ready_fails_its_step(tmp_path):
    script = node_script("a3-megagpu-8g", "us-central1-a", [])
    run = run_script(script, tmp_path, system="ubuntu-2404", env={"SANDBOX_RXDM_LOG": "still starting"})
    assert run.reports["rxdm"].startswith("failed") and len(run.called("docker logs receive-datapath-manager")) == 60


def test_a_second_run_skips_what_is_there(tmp_path):
    """Idempotent: with the module loaded and the clients installed, nothing is built or installed again."""
    script = startup_script(NodeScript(mounts=(FILESTORE,), os="ubuntu-2404", gpudirect=host(GpuDirect.TCPXO, "ubuntu"), gpus=8))
    run = run_script(script, tmp_path, system="ubuntu-2404")
    assert not run.called("dkms build"), "modprobe import-helper worked: no rebuild"


# ---- the plan refuses what the image cannot mount -------------------------------------------------

def test_a3_high_on_compute_engine_refuses_lustre_with_the_stack_key_path():
    from ai_clusters.core.spec import SpecError, load_environment

    config = {
        "gcp:project": "acme-ml-train",
        "gcp:region": "us-central1",
        "ai-clusters:environment": "ce-train",
        "ai-clusters:zones": '["us-central1-a"]',
        "ai-clusters:clusters": '[{"name": "high", "path": "compute-engine", "machineType": "a3-highgpu-8g",'
        ' "workload": {"kind": "pretraining", "accelerators": 16}}]',
    }
    with pytest.raises(SpecError) as err:
        load_environment(config)
    text = str(err.value)
    assert text.startswith("clusters[0].storage.lustre: a3-highgpu-8g nodes on GPUDirect-TCPX boot cos-105-lts (cos), which has no lustre client")
    assert "computeEngine.imageFamily" in text


def test_a3_high_reference_stack_plans_cos_nodes_and_warns_that_the_bucket_is_not_mounted():
    from ai_clusters.tooling.plan import make_plan

    from .conftest import ROOT

    plan = make_plan("ce-a3high-train", ROOT)
    vms = [r for r in plan.resources if r.type == INSTANCE]
    assert vms and all(r.inputs["bootDisk"]["initializeParams"]["image"] == "projects/cos-cloud/global/images/family/cos-105-lts" for r in vms)
    assert all(r.inputs["metadata"]["enable-guest-attributes"] == "TRUE" for r in vms)
    assert "install-nvidia-driver" not in vms[0].inputs["metadata"], "the DLVM flag belongs to the family's own image only"
    assert any("no Cloud Storage FUSE client: the bucket is not mounted" in w for w in plan.run.warnings)
    script = vms[0].inputs["metadata"]["startup-script"]
    assert "gcsfuse" not in script and "mount -t nfs" in script
