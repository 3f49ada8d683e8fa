"""GPUDirect on Slurm, under mocks and for real in the sandbox (tests/sandbox.py): the node set start-up scripts, the RxDM
prolog and epilog, the long-prolog slurm.conf, Slurm's own auth, images by name, the plan warning of a TCPX partition
without its image, and ids within Google's limits for long names on every path."""

import json
import re
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ai_clusters.core.catalog import catalog
from ai_clusters.core.enums import GpuDirect
from ai_clusters.core.naming import SERVICE_ACCOUNT_ID_RE, service_account_id
from ai_clusters.core.spec import load_environment
from ai_clusters.program import build
from ai_clusters.slurm.blueprint import blueprint
from ai_clusters.slurm.config import SLURM_CONF_TPL, slurm_conf_tpl
from ai_clusters.slurm.plan import default_node_set_name
from ai_clusters.tooling.plan import make_plan
from ai_clusters.tooling.plan.engine import find_project, read_stack_config

from .conftest import ROOT, mocked
from .sandbox import available, run_script
from .test_slurm import FACTS, TEMPLATE, doc, objects, run_stack, slurm_cluster, stack

sandbox = pytest.mark.skipif(available() is not None, reason=f"no sandbox: {available()}")
ACCOUNT = "gcp:serviceaccount/account:Account"
MEGA = catalog().data.node_setup.host(GpuDirect.TCPXO, "ubuntu")
HIGH = catalog().data.node_setup.host(GpuDirect.TCPX, "ubuntu")
METADATA_LINE = re.compile(r"^machine_type\(\) \{.*\}$", re.M)


def a3high(**slurm) -> dict:
    return slurm_cluster(
        machineType="a3-highgpu-8g",
        workload={"kind": "pretraining", "accelerators": 16},
        storage={"filestore": {"mountPoint": "/home"}},
        slurm={"nodeSets": [{"name": "a3high", "staticNodes": 2, **slurm}], "partitions": [{"name": "tcpx", "nodeSets": ["a3high"]}]},
    )


@pytest.fixture(scope="module")
def mega():
    """Two A3 Mega nodes and a CPU node set: what SlurmCluster stores for them."""
    cl = slurm_cluster(
        nodes=2,
        slurm={
            "nodeSets": [{"name": "a3mega"}, {"name": "cpu", "machineType": "n2-standard-8", "dynamicNodes": 2}],
            "partitions": [{"name": "gpu", "nodeSets": ["a3mega"]}, {"name": "cpu", "nodeSets": ["cpu"]}],
        },
    )
    return run_stack(stack(cl))


@pytest.fixture(scope="module")
def high():
    """Two A3 High nodes booting an image built with the TCPX kernel (by name)."""
    return run_stack(stack(a3high(imageName="tcpx-slurm-20261204")))


def on_machine(script: str, machine_type: str) -> str:
    """A prolog/epilog whose metadata server says the node is `machine_type`."""
    assert METADATA_LINE.search(script), "the script asks the metadata server"
    return METADATA_LINE.sub(f"machine_type() {{ echo {machine_type}; }}", script)


def job(nodes: int, job_id: int = 42) -> dict:
    return {"SLURM_JOB_NUM_NODES": str(nodes), "SLURM_JOB_ID": str(job_id)}


# ---- what the node sets run at boot --------------------------------------------------------------

def test_every_stored_script_is_valid_bash(mega, high, tmp_path):
    for reg in (mega, high):
        for name, text in objects(reg).items():
            if name.startswith("slurm-") and "-script-" in name:
                path = tmp_path / name
                path.write_text(text)
                done = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
                assert done.returncode == 0, (name, done.stderr)


def test_a3_mega_nodes_set_up_tcpxo_at_boot_and_leave_rxdm_to_the_prolog(mega):
    script = objects(mega)["slurm-nodeset-a3mega-script-ai-clusters_sh"]
    assert "dkms build -m dmabuf-import-helper" in script and "step aperture-devices" in script
    assert f"docker pull {MEGA.rxdm.image}" in script, "RxDM's image is pulled at boot so jobs start quickly"
    assert MEGA.plugin.image in script and "--restart=unless-stopped" not in script, "no RxDM until a job needs it"
    cpu = objects(mega)["slurm-nodeset-cpu-script-ai-clusters_sh"]
    assert "docker run" not in cpu and "docker pull" not in cpu and "dmabuf" not in cpu


@sandbox
def test_a3_mega_node_set_script_runs_on_the_public_ubuntu_image(mega, tmp_path):
    script = objects(mega)["slurm-nodeset-a3mega-script-ai-clusters_sh"]
    run = run_script(script, tmp_path, system="ubuntu-2204")
    assert run.returncode == 0, run.output
    assert run.called(f"docker run --rm --name=nccl-plugin-installer --network=host --volume=/var/lib:/var/lib {MEGA.plugin.image} install --install-nccl")
    assert run.called(f"docker pull {MEGA.rxdm.image}") and not run.called("docker run --detach")
    env = run.file("/etc/ai-clusters/nccl-env.sh")
    assert "NCCL_FASTRAK_LLCM_DEVICE_DIRECTORY=/dev/aperture_devices" in env


@sandbox
def test_a3_high_nodes_on_a_tcpx_image_name_each_jobs_socket_folder(high, tmp_path):
    script = objects(high)["slurm-nodeset-a3high-script-ai-clusters_sh"]
    run = run_script(script, tmp_path, system="ubuntu-2204")
    assert run.returncode == 0, run.output
    assert "gpu_rxq_configs" in run.file("/opt/tcpdirect_benchmark/gpu_rxq_configuration.textproto")
    assert run.called(f"docker pull {HIGH.rxdm.image}") and not run.called("docker run --detach")
    env = tmp_path / "root/etc/ai-clusters/nccl-env.sh"
    sourced = subprocess.run(
        ["bash", "-c", f". {env} >/dev/null 2>&1; echo $NCCL_GPUDIRECTTCPX_UNIX_CLIENT_PREFIX"], env={"SLURM_JOB_ID": "7", "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True,
    )
    assert sourced.stdout.strip() == "/run/tcpx-7", "NCCL finds the socket folder of its job's RxDM"


# ---- the prolog and the epilog -------------------------------------------------------------------

@sandbox
def test_the_prolog_starts_the_jobs_rxdm_with_the_catalogs_image_and_flags_and_waits_until_ready(mega, tmp_path):
    prolog = on_machine(objects(mega)["slurm-prolog-script-ai-clusters-rxdm_sh"], "a3-megagpu-8g")
    run = run_script(prolog, tmp_path, system="ubuntu-2204", env=job(2))
    assert run.returncode == 0, run.output
    rxdm = run.called("docker run --detach --rm --name=receive-datapath-manager-42")
    assert len(rxdm) == 1 and rxdm[0].endswith(f"{MEGA.rxdm.image} {' '.join(MEGA.rxdm.args)}")
    assert all(flag in rxdm[0].split() for flag in MEGA.rxdm.docker_flags)
    assert run.called("docker logs receive-datapath-manager-42") and run.called("modprobe import-helper")
    assert run.calls.index(next(c for c in run.calls if c.startswith("docker ps"))) < run.calls.index(rxdm[0]), "leftovers go first"


@sandbox
def test_the_prolog_skips_single_node_jobs_and_machines_without_gpudirect(mega, tmp_path):
    prolog = objects(mega)["slurm-prolog-script-ai-clusters-rxdm_sh"]
    single = run_script(on_machine(prolog, "a3-megagpu-8g"), tmp_path / "single", system="ubuntu-2204", env=job(1))
    assert single.returncode == 0 and not single.called("docker")
    cpu = run_script(on_machine(prolog, "n2-standard-8"), tmp_path / "cpu", system="ubuntu-2204", env=job(4))
    assert cpu.returncode == 0 and not cpu.called("docker")


@sandbox
def test_a_prolog_whose_rxdm_never_gets_ready_fails_so_slurm_drains_the_node(mega, tmp_path):
    prolog = on_machine(objects(mega)["slurm-prolog-script-ai-clusters-rxdm_sh"], "a3-megagpu-8g")
    run = run_script(prolog, tmp_path, system="ubuntu-2204", env={**job(2), "SANDBOX_RXDM_LOG": "still starting"})
    assert run.returncode == 1 and len(run.called("docker logs receive-datapath-manager-42")) == 60
    assert "Slurm drains this node" in run.output


@sandbox
def test_tcpx_prolog_and_epilog_use_the_jobs_socket_folder(high, tmp_path):
    stored = objects(high)
    prolog = on_machine(stored["slurm-prolog-script-ai-clusters-rxdm_sh"], "a3-highgpu-8g")
    run = run_script(prolog, tmp_path / "prolog", system="ubuntu-2204", env=job(2, 9))
    assert run.returncode == 0, run.output
    (rxdm,) = run.called("docker run --detach --rm --name=receive-datapath-manager-9")
    assert "--volume=/run/tcpx-9:/run/tcpx-9" in rxdm and rxdm.endswith("--gpu_shmem_type fd --uds_path /run/tcpx-9")
    assert (tmp_path / "prolog/root/run/tcpx-9").is_dir()
    assert run.called(f"sleep {HIGH.rxdm.settle_seconds}"), "TCPX's RxDM logs no ready line: the source's wait"
    epilog = on_machine(stored["slurm-epilog-script-ai-clusters-rxdm_sh"], "a3-highgpu-8g")
    done = run_script(epilog, tmp_path / "epilog", system="ubuntu-2204", env=job(2, 9), fail=("docker rm",))
    assert done.returncode == 0, "an epilog never fails (that would drain the node)"
    assert done.called("docker rm -f receive-datapath-manager-9")


def test_the_long_prolog_settings_come_with_rxdm(mega):
    lp = catalog().data.slurm.long_prolog
    conf = doc(mega, "config.yaml")["slurm_conf_tpl"]
    for line in (f"MessageTimeout={lp.message_timeout}", f"BatchStartTimeout={lp.batch_start_timeout}",
                 f"PrologEpilogTimeout={lp.prolog_epilog_timeout}", f"PrologFlags={lp.prolog_flags}", f"AuthInfo=cred_expire={lp.cred_expire}"):
        assert f"\n{line}\n" in conf
    assert "MessageTimeout=60\n" not in conf
    import string

    assert {f for _, f, _, _ in string.Formatter().parse(conf) if f} <= set(FACTS["slurm_conf_placeholders"])
    ultra = run_stack(stack(slurm_cluster(machineType="a3-ultragpu-8g", zone="us-central1-b", provisioning={"model": "reservation", "reservation": "r"}, nodes=2)))
    core = doc(ultra, "config.yaml")
    assert core["slurm_conf_tpl"] == SLURM_CONF_TPL and core["prolog_scripts"] == [], "RDMA needs no RxDM"
    assert "nccl-gib=1.1.0" in objects(ultra)["slurm-nodeset-a3ultra-script-ai-clusters_sh"], "gIB is set up at boot"


# ---- images, node lines, auth ----------------------------------------------------------------------

def test_a_tcpx_partition_without_its_image_is_warned_about_and_gets_no_rxdm():
    plan = make_plan("slurm-a3high", ROOT)
    (warning,) = [w for w in plan.run.warnings if "GPUDirect-TCPX image" in w]
    assert warning.startswith("partition a3high (node set a3high, a3-highgpu-8g) needs a GPUDirect-TCPX image")
    assert "linux-gcp-tcpx" in warning and "image-a3high" in warning and "imageName" in warning
    stored = {r.inputs["name"].split("/", 1)[1]: r for r in plan.resources if r.type == "gcp:storage/bucketObject:BucketObject"}
    assert not [n for n in stored if "prolog" in n or "epilog" in n], "no RxDM prolog on nodes that cannot run it"


def test_an_image_by_name_is_booted_and_lights_tcpx(high):
    t = high.named("hpc-a3high").inputs
    assert t["disks"][0]["sourceImage"] == "projects/acme-ml-test/global/images/tcpx-slurm-20261204", "the cluster's project by default"
    assert doc(high, "config.yaml")["slurm_conf_tpl"] == slurm_conf_tpl(catalog().data.slurm.long_prolog)
    assert HIGH.plugin.image in objects(high)["slurm-nodeset-a3high-script-ai-clusters_sh"]


def test_nodes_that_compile_kernel_modules_boot_with_secure_boot_off_and_say_why(mega, high):
    for reg, name in ((mega, "hpc-a3mega"), (high, "hpc-a3high")):  # the TCPXO import helper; the TCPX image's NVIDIA driver
        t = reg.named(name).inputs
        assert t["shieldedInstanceConfig"] == {"enableSecureBoot": False, "enableVtpm": True, "enableIntegrityMonitoring": True}
        assert t["labels"]["ai-secure-boot"] == "off-dkms"
    cpu = mega.named("hpc-cpu").inputs
    assert cpu["shieldedInstanceConfig"]["enableSecureBoot"] is True and "ai-secure-boot" not in cpu["labels"]
    for vm in ("hpc-controller", "hpc-login-1"):
        assert mega.named(vm).inputs["shieldedInstanceConfig"]["enableSecureBoot"] is True
    plan = make_plan("slurm-a3mega", ROOT)
    why = catalog().data.node_setup.dkms_secure_boot
    assert any(w.startswith("node set a3mega (a3-megagpu-8g): Secure Boot is off") and why in w for w in plan.run.warnings)
    assert not [v for v in plan.policy if "secure boot" in v.message.lower()], "the policies accept it, labelled"


def test_templates_keep_smt_where_the_node_line_says_two_threads_per_core():
    facts = catalog().data.slurm
    for machine, zone, res in (("a3-megagpu-8g", "us-central1-a", None), ("a3-ultragpu-8g", "us-central1-b", "r"), ("a4-highgpu-8g", "us-central1-b", "r")):
        shape = catalog().shape(machine)
        if zone not in shape.family.zones:
            zone = shape.family.zones[0]
        prov = {"model": "reservation", "reservation": res} if res else {"model": "on-demand"}
        reg = run_stack(stack(slurm_cluster(machineType=machine, zone=zone, provisioning=prov, nodes=2), zones=(zone,)))
        (template,) = [t for t in reg.of_type(TEMPLATE)]
        line = doc(reg, f"nodeset_configs/{default_node_set_name(shape)}.yaml")["node_conf"]
        assert line == facts.node_conf_of(machine).conf
        assert "advancedMachineFeatures" not in template.inputs, "the platform default: SMT on"
        assert facts.node_conf_of(machine).vcpus == shape.vcpus
    own = run_stack(stack(slurm_cluster(nodes=2, slurm={"nodeSets": [{"name": "a3mega", "nodeConf": {"ThreadsPerCore": 1, "CoresPerSocket": 52}}]})))
    assert own.named("hpc-a3mega").inputs["advancedMachineFeatures"] == {"threadsPerCore": 1}, "SMT off when the node line says so"


def test_munge_is_still_there_for_clusters_that_run_it():
    reg = run_stack(stack(slurm_cluster(nodes=2, slurm={"auth": "munge"})))
    assert doc(reg, "config.yaml")["enable_slurm_auth"] is False


# ---- ids within Google's limits for long names, on every path ---------------------------------------

LONG_ENV = "research-platform-ml"  # 20 characters, the longest environment name
LONG = {"train-ultra": "pretraining-ultra-xl", "gke-serve": "serving-gke-l4-fleet", "slurm-llm": "slurm-llm-pretrainin",
        "vx-h100": "vertex-h100-endpoint", "tpu-mslice": "tpu-multislice-v6e-x"}  # 20 characters each, the longest names


def long_named_prod() -> dict:
    cfg = read_stack_config(find_project(ROOT), "prod")
    clusters = json.loads(cfg["ai-clusters:clusters"])
    for cl in clusters:
        cl["name"] = LONG[cl["name"]]
    cfg["ai-clusters:clusters"] = json.dumps(clusters)
    cfg["ai-clusters:environment"] = LONG_ENV
    return cfg


def test_long_stack_environment_and_cluster_names_keep_every_id_within_its_limit():
    cfg = long_named_prod()
    env = load_environment(cfg)
    assert {len(cl.name) for cl in env.clusters} == {20} and len(env.spec.name) == 20
    reg = mocked(lambda: build(env, "a-very-long-stack-name-for-production-2026"))
    ids = [r.inputs["accountId"] for r in reg.of_type(ACCOUNT)]
    assert len(ids) >= 8 and len(set(ids)) == len(ids), ids
    for account_id in ids:
        assert 6 <= len(account_id) <= 30 and SERVICE_ACCOUNT_ID_RE.match(account_id), account_id
    for t in reg.of_type(TEMPLATE):
        prefix = t.inputs.get("namePrefix")
        assert prefix is None or len(prefix) <= 37, prefix  # longer prefixes get a shortened, collision-prone suffix
    for secret in reg.of_type("gcp:secretmanager/secret:Secret"):
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,255}", secret.inputs["secretId"])
    slurm = next(cl for cl in env.clusters if cl.spec.path.value == "slurm")
    assert re.fullmatch(r"[a-z][-a-z0-9]{0,19}", slurm.plan.cluster_name)
    bp = blueprint(slurm, slurm.plan, env.spec.network).doc
    name = bp["vars"]["deployment_name"]
    for m in (m for g in bp["deployment_groups"] for m in g["modules"] if m["source"] == "modules/project/service-account"):
        account_id = f"{name}-{m['settings']['name']}"
        assert 6 <= len(account_id) <= 30 and SERVICE_ACCOUNT_ID_RE.match(account_id), account_id


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=80))
def test_any_base_gives_a_valid_service_account_id(base):
    account_id = service_account_id(base)
    assert 6 <= len(account_id) <= 30 and SERVICE_ACCOUNT_ID_RE.match(account_id), account_id


def test_long_ids_cut_to_thirty_characters_stay_apart():
    base = "research-platform-ml-slurm-llm-pretraining"
    ids = {service_account_id(f"{base}-{role}") for role in ("controller", "compute", "login")}
    assert len(ids) == 3 and all(len(i) == 30 for i in ids)
