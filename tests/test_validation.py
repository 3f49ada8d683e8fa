"""Validation jobs: every reference stack's clusters output one, and each is structurally right for its path."""

import dataclasses
import functools
import re

import pydantic
import pytest
import yaml
from kubernetes import client as k8s
from typer.testing import CliRunner

from ai_clusters.core.catalog import catalog
from ai_clusters.tooling.cli import app
from ai_clusters import __version__
from ai_clusters.blocks import validation
from ai_clusters.gke import validation as gke_validation
from ai_clusters.tooling.plan.engine import find_project, read_stack_config, run_program
from ai_clusters.core.spec import load_environment

from .conftest import REFERENCE_STACKS, ROOT

PROJECT = find_project(ROOT)
STACKS = REFERENCE_STACKS


@functools.lru_cache(maxsize=None)
def exports(stack: str) -> dict:
    run = run_program(PROJECT, stack, read_stack_config(PROJECT, stack))
    return {k: v for k, v in run.exports.items() if k != "network"}


def job(stack: str, cluster: str) -> str:
    return exports(stack)[cluster]["validation_job"]


# ---- the Kubernetes schema, from the official client's OpenAPI models ---------------------------

def check_k8s(data: dict, model: str, where: str = "") -> None:
    """`data` fits the Kubernetes OpenAPI model (the client's pydantic models: unknown fields and missing required ones fail)."""
    try:
        getattr(k8s, model).model_validate(data)
    except pydantic.ValidationError as exc:
        raise AssertionError(f"{where or model}: {exc}") from None


def check_jobset(doc: dict) -> None:
    """JobSet is a CRD: its own fields as jobset.x-k8s.io/v1alpha2 defines them, each template a JobTemplateSpec."""
    assert doc["apiVersion"] == "jobset.x-k8s.io/v1alpha2" and doc["kind"] == "JobSet"
    check_k8s(doc["metadata"], "V1ObjectMeta", "metadata")
    assert set(doc["spec"]) <= {"network", "replicatedJobs", "ttlSecondsAfterFinished", "successPolicy", "failurePolicy", "startupPolicy", "suspend"}
    assert set(doc["spec"]["network"]) <= {"enableDNSHostnames", "subdomain", "publishNotReadyAddresses"}
    for rj in doc["spec"]["replicatedJobs"]:
        assert set(rj) <= {"name", "replicas", "template", "dependsOn"} and rj["name"] and rj["replicas"] >= 1
        check_k8s(rj["template"], "V1JobTemplateSpec", f"replicatedJobs.{rj['name']}")


def k8s_doc(stack: str, cluster: str) -> dict:
    doc = yaml.safe_load(job(stack, cluster))
    if doc["kind"] == "Job":
        check_k8s(doc, "V1Job", "job")
    else:
        check_jobset(doc)
    return doc


def pods(doc: dict) -> dict[str, dict]:
    """Pod templates by replicated job name ('job' for a plain Job)."""
    if doc["kind"] == "Job":
        return {"job": doc["spec"]["template"]}
    return {rj["name"]: rj["template"]["spec"]["template"] for rj in doc["spec"]["replicatedJobs"]}


def test_the_schema_check_rejects_what_kubernetes_would():
    good = {"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "b"}]}}}}
    check_k8s(good, "V1Job")
    with pytest.raises(AssertionError, match="paralelism"):
        check_k8s({**good, "spec": {**good["spec"], "paralelism": 2}}, "V1Job")
    with pytest.raises(AssertionError, match="name"):
        check_k8s({"spec": {"template": {"spec": {"containers": [{"image": "b"}]}}}}, "V1Job")
    with pytest.raises(AssertionError, match="template"):
        check_k8s({"spec": {}}, "V1Job")
    with pytest.raises(AssertionError, match="restartPolicy|restart_policy"):
        check_k8s({"spec": {"template": {"spec": {"restartPolicy": 3, "containers": [{"name": "a"}]}}}}, "V1Job")


# ---- every stack, every cluster ------------------------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_every_cluster_of_every_stack_outputs_a_validation_job(stack):
    clusters = exports(stack)
    assert clusters
    for name, outputs in clusters.items():
        text = outputs.get("validation_job")
        assert isinstance(text, str) and "ai-clusters benchmark" in text, (stack, name)
        # This very version by name, never whatever an index holds under the name.
        assert f"'ai-clusters[validate]=={__version__}'" in text


def test_the_package_the_jobs_install_can_be_named(monkeypatch):
    source = "ai-clusters[validate] @ git+https://github.com/acme/ai-clusters@v0.1.0"
    monkeypatch.setenv(validation.PACKAGE_VARIABLE, source)
    script = validation.benchmark_script(resolved("dev", "l4-serve"))
    assert f"pip install --quiet --user --upgrade '{source}' " in script
    assert "ai-clusters[validate]==" not in script


# ---- GKE -----------------------------------------------------------------------------------------

def resolved(stack: str, cluster: str, **changes):
    env = load_environment(read_stack_config(PROJECT, stack))
    return dataclasses.replace(next(c for c in env.clusters if c.name == cluster), **changes)


def test_gke_single_gpu_node_is_a_job_with_gpus_selector_and_toleration():
    cl = resolved("gke-l4-serve", "l4-serve", nodes=1)
    selector = {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    doc = yaml.safe_load(gke_validation.kubernetes_job(cl, nodes=1, slices=1, node_selector=selector, pod_annotations={}, namespace="serving"))
    check_k8s(doc, "V1Job")
    assert doc["kind"] == "Job" and doc["metadata"]["namespace"] == "serving"
    pod = doc["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == str(cl.shape.gpus)
    assert pod["nodeSelector"] == selector
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert "jax[cuda12]" in c["command"][-1] and "all_reduce_perf" not in c["command"][-1]


def test_gke_multi_node_without_gpudirect_benchmarks_every_node_without_nccl():
    doc = k8s_doc("gke-l4-serve", "l4-serve")
    assert doc["kind"] == "JobSet"
    assert [rj["name"] for rj in doc["spec"]["replicatedJobs"]] == ["benchmark"]
    rj = doc["spec"]["replicatedJobs"][0]["template"]["spec"]
    assert rj["parallelism"] == rj["completions"] >= 2
    pod = rj["template"]["spec"]
    assert pod["nodeSelector"] == exports("gke-l4-serve")["l4-serve"]["node_selector"]
    assert "all_reduce_perf" not in job("gke-l4-serve", "l4-serve")


def test_gke_a3_mega_multi_node_is_a_jobset_with_nccl_over_every_gpu_network():
    doc = k8s_doc("gke-a3mega-train", "mega-train")
    assert doc["kind"] == "JobSet"
    assert "needs the JobSet controller" in job("gke-a3mega-train", "mega-train").split("apiVersion:")[0]
    by_name = pods(doc)
    assert set(by_name) == {"benchmark", "nccl"}
    nodes = next(rj for rj in doc["spec"]["replicatedJobs"] if rj["name"] == "nccl")["template"]["spec"]["parallelism"]
    assert nodes >= 2
    nccl = by_name["nccl"]
    interfaces = yaml.safe_load(nccl["metadata"]["annotations"]["networking.gke.io/interfaces"])
    assert [i["network"] for i in interfaces] == ["default"] + [f"vpc{i}" for i in range(1, 9)]
    assert "/dev/dmabuf_import_helper" in nccl["metadata"]["annotations"]["devices.gke.io/container.gpudirect-rxdm"]
    spec = nccl["spec"]
    assert spec["initContainers"][0]["restartPolicy"] == "Always"  # the rxdm sidecar ends with the test
    assert "tcpgpudmarxd" in spec["initContainers"][0]["image"]
    script = spec["containers"][0]["command"][-1]
    assert "BENCHMARK=all_reduce_perf" in script and f"NHOSTS={nodes}" in script
    assert "expected: not published" in script
    assert spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "8"
    assert by_name["benchmark"]["spec"]["nodeSelector"] == spec["nodeSelector"]


def test_gke_tpu_uses_tpu_resources_and_topology_selectors():
    doc = k8s_doc("gke-tpu-v6e", "v6e-train")
    for pod in pods(doc).values():
        spec = pod["spec"]
        sel = spec["nodeSelector"]
        assert sel["cloud.google.com/gke-tpu-accelerator"].startswith("tpu-v6e")
        assert re.fullmatch(r"\d+x\d+", sel["cloud.google.com/gke-tpu-topology"])
        limits = spec["containers"][0]["resources"]["limits"]
        assert "google.com/tpu" in limits and "nvidia.com/gpu" not in limits
        assert any(t["key"] == "google.com/tpu" for t in spec["tolerations"])
        assert "jax[tpu]" in spec["containers"][0]["command"][-1]
    assert "all_reduce_perf" not in job("gke-tpu-v6e", "v6e-train")
    if doc["kind"] == "JobSet":  # multi-host: one slice per node pool
        assert doc["metadata"]["annotations"]["alpha.jobset.sigs.k8s.io/exclusive-topology"] == "cloud.google.com/gke-nodepool"
        rj = doc["spec"]["replicatedJobs"][0]
        assert rj["replicas"] == len(exports("gke-tpu-v6e")["v6e-train"]["node_pools"])  # one job per slice
        assert rj["template"]["spec"]["parallelism"] == rj["template"]["spec"]["completions"] >= 2


@pytest.mark.parametrize("stack", STACKS)
def test_every_gke_job_fits_the_kubernetes_schema(stack):
    for name, outputs in exports(stack).items():
        if "cluster_name" in outputs and "kubeconfig" in outputs:
            k8s_doc(stack, name)


# ---- Slurm ---------------------------------------------------------------------------------------

def test_sbatch_names_the_training_partition_and_its_nodes_and_sources_tcpxo():
    text = job("slurm-a3mega", "llm")
    assert text.startswith("#!/bin/bash\n")
    assert "#SBATCH --partition=a3mega\n" in text
    assert "#SBATCH --nodes=8\n" in text and "#SBATCH --gpus-per-node=8\n" in text
    # The job loads the environment every node's start-up wrote from the catalog (nccl-env-profile.sh and the Ubuntu NIC names).
    assert ". /etc/ai-clusters/nccl-env.sh" in text and "[ -r /etc/ai-clusters/nccl-env.sh ] ||" in text
    assert "srun --mpi=pmi2 --ntasks-per-node=8 $HOME/nccl-tests/build/all_reduce_perf" in text
    assert "expected: not published" in text
    assert "#SBATCH --partition=debug" not in text


# ---- Compute Engine and TPU VMs ------------------------------------------------------------------

def test_compute_engine_loops_over_every_node_and_sources_gib_for_rdma():
    text = job("ce-a3ultra-rdma", "ultra")
    nodes = exports("ce-a3ultra-rdma")["ultra"]
    names = nodes["instance_names"] or []
    listing = re.search(r"^NODES=\((.*)\)$", text, re.M).group(1)
    if names:
        assert listing.split() == names
    else:
        assert nodes["instance_group"] in listing
    assert 'for node in "${NODES[@]}"' in text and "--tunnel-through-iap" in text
    assert text.count(". /etc/ai-clusters/nccl-env.sh") == 2, "the build and the test both load the node's NCCL environment"
    assert "all_reduce_perf" in text and "expected: not published" in text
    run = run_program(PROJECT, "ce-a3ultra-rdma", read_stack_config(PROJECT, "ce-a3ultra-rdma"))
    script = next(r.inputs["metadata"]["startup-script"] for r in run.registrations if r.type == "gcp:compute/instance:Instance")
    env = script.split("cat > /etc/ai-clusters/nccl-env.sh <<'AI_CLUSTERS_ENV'\n", 1)[1].split("AI_CLUSTERS_ENV", 1)[0]
    assert "source /usr/local/gib/scripts/set_nccl_env.sh" in env and "export NCCL_NET=gIB" in env
    assert "apt_install nccl-gib=1.1.0" in script


def test_single_node_compute_engine_runs_no_nccl():
    text = job("ce-g2-serve", "chat")
    assert "ai-clusters benchmark" in text and "all_reduce_perf" not in text


@pytest.mark.parametrize("stack,cluster", [("tpu-multislice", "mslice"), ("tpu-train", "v5p-train")])
def test_tpu_vm_commands_run_on_every_worker_of_every_slice(stack, cluster):
    text = job(stack, cluster)
    nodes = exports(stack)[cluster]["node_names"]
    for node in nodes:
        assert re.search(rf"tpu-vm ssh {re.escape(node)} .*--worker=all", text)
    assert "jax[tpu]" in text and "all_reduce_perf" not in text


# ---- Vertex AI -----------------------------------------------------------------------------------

def test_vertex_training_job_uses_the_persistent_resource():
    outputs = exports("vertex-finetune")["llama-ft"]
    spec = yaml.safe_load(outputs["validation_job"])
    assert spec["persistentResourceId"] == outputs["persistent_resource_id"]
    assert spec["serviceAccount"] == outputs["service_account"]
    pool = spec["workerPoolSpecs"][0]
    assert pool["machineSpec"]["machineType"] == outputs["machine_type"]
    assert pool["machineSpec"]["acceleratorType"] == outputs["accelerator_type"]
    assert "ai-clusters benchmark" in pool["containerSpec"]["args"][0]


def test_vertex_serving_job_is_serverless_on_the_pool_machine():
    outputs = exports("vertex-serve")["l4-chat"]
    spec = yaml.safe_load(outputs["validation_job"])
    assert "persistentResourceId" not in spec
    assert spec["workerPoolSpecs"][0]["machineSpec"]["machineType"] == outputs["machine_type"]


# ---- catalog facts and the CLI -----------------------------------------------------------------

def test_every_gpudirect_flavour_has_nccl_settings_and_no_invented_figure():
    nccl = catalog().data.nccl
    assert {f.flavor.value for f in nccl.flavors} == {"tcpx", "tcpxo", "rdma"}
    for fam in catalog().data.gpu_families:
        if fam.gpudirect.value != "none" and not fam.unsupported:
            assert fam.id in nccl.expected_busbw
            expected = nccl.expected_busbw[fam.id]
            assert expected.gbps is None or expected.sources


def test_cli_writes_the_validation_job(tmp_path):
    target = tmp_path / "job.sh"
    result = CliRunner().invoke(app, ["validate-job", "--stack", "slurm-a3mega", "--cluster", "llm", "--project-dir", str(ROOT), "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text() == job("slurm-a3mega", "llm")
    bad = CliRunner().invoke(app, ["validate-job", "--stack", "slurm-a3mega", "--cluster", "nope", "--project-dir", str(ROOT)])
    assert bad.exit_code == 2 and "llm" in bad.output


def test_every_cluster_component_declares_validation_job_in_the_package_schema():
    # In this process: conftest shares google.rpc.Status between pulumi.provider and Google's clients.
    from ai_clusters.tooling.provider import COMPONENTS, PACKAGE, InheritingAnalyzer

    definitions = InheritingAnalyzer(PACKAGE).analyze(COMPONENTS)["component_definitions"]
    found = {name: d.outputs.get("validationJob") for name, d in definitions.items()}
    clusters = {name: prop for name, prop in found.items() if name not in ("ClusterNetwork", "ClusterStorage")}
    assert len(clusters) == 6
    for name, prop in clusters.items():
        assert prop is not None and prop.type.value == "string" and prop.description, name


def scripts_in(text: str) -> list[str]:
    """The shell scripts a job holds: itself (sbatch, node commands) or the commands of its containers."""
    if text.startswith("#!/bin/bash"):
        return [text]
    doc = yaml.safe_load(text)
    if "workerPoolSpecs" in doc:
        return [p["containerSpec"]["args"][0] for p in doc["workerPoolSpecs"]]
    found = []
    for pod in pods(doc).values():
        for c in [*pod["spec"]["containers"], *pod["spec"].get("initContainers", [])]:
            if c["command"][:2] == ["bash", "-c"]:
                found.append(c["command"][2])
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_every_generated_script_is_valid_bash(stack, tmp_path):
    import subprocess

    for name, outputs in exports(stack).items():
        scripts = scripts_in(outputs["validation_job"])
        assert scripts, (stack, name)
        for i, script in enumerate(scripts):
            path = tmp_path / f"{name}-{i}.sh"
            path.write_text(script)
            check = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
            assert check.returncode == 0, f"{stack}/{name}: {check.stderr}"


@pytest.mark.parametrize("stack", STACKS)
def test_every_benchmark_line_uses_the_benchmark_commands_own_options(stack):
    import typer.main

    command = typer.main.get_command(app).commands["benchmark"]
    known = {opt for p in command.params for opt in p.opts}
    for name, outputs in exports(stack).items():
        for script in scripts_in(outputs["validation_job"]):
            for line in re.findall(r"^ai-clusters benchmark (.*)$", script, re.M):
                flags = [w for w in line.split() if w.startswith("--")]
                assert set(flags) <= known, (stack, name, flags)
                # The command refuses --from-metadata together with a machine named by hand.
                assert not ("--from-metadata" in flags and {"--machine-type", "--tpu-type"} & set(flags)), (stack, name)
