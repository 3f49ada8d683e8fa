"""Pre-flight on every path (Vertex AI, GKE TPU node pools, TPU VMs of every generation, Slurm node sets):
Google's real clients against the fake Google Cloud on 127.0.0.1, in every mode (plenty, none, flaky,
forbidden)."""

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ai_clusters.core.catalog import catalog
from ai_clusters.core.spec import load_environment
from ai_clusters.tooling.cli import app
from ai_clusters.tooling.plan.engine import find_project, read_stack_config
from ai_clusters.tooling.preflight.demand import stack_demand

from .conftest import ROOT
from .fake_gcloud import FakeGoogleCloud, catalog_metrics, offer_capacity, offer_everything
from .test_preflight import PROJECT, STORAGE, write_stack

# The reference stacks whose accelerators pre-flight did not hold against any quota before.
PATH_STACKS = ["vertex-finetune", "vertex-serve", "gke-tpu-v6e", "tpu-train", "tpu-serve", "tpu-multislice", "dev"]


def run(fake: FakeGoogleCloud, root: Path, stack: str, *args: str, fmt: str = "json") -> tuple[int, Any, str]:
    result = CliRunner().invoke(app, ["preflight", "--stack", stack, "--project-dir", str(root), "--format", fmt, *args], env={**fake.env(), "COLUMNS": "200"})
    assert "Traceback" not in result.output
    body = json.loads(result.stdout) if fmt == "json" else result.stdout
    return result.exit_code, body, result.stderr


def environment(root: Path, stack: str):
    return load_environment(read_stack_config(find_project(root), stack))


def quota_checks(body: dict, cluster: str) -> list[dict]:
    return [c for c in body["checks"] if c["cluster"] == cluster and c["check"] in ("quota", "tpu-quota")]


# --- every accelerator of every path is held against a quota, in every mode ---------------------

@pytest.mark.parametrize("limit", [100_000, 0], ids=["plenty", "none"])
@pytest.mark.parametrize("stack", PATH_STACKS)
def test_every_accelerator_cluster_is_held_against_a_quota(stack, limit):
    """Plenty of quota everywhere: every cluster has quota checks and they pass; none anywhere: each fails one, exit 1."""
    env = environment(ROOT, stack)
    with FakeGoogleCloud(env.spec.project) as fake:
        offer_capacity(fake, stack_demand(env, catalog()))
        fake.quota_everywhere(limit, catalog_metrics(catalog()))
        code, body, _ = run(fake, ROOT, stack)
    assert code == (0 if limit else 1), body
    for cl in env.clusters:
        checks = quota_checks(body, cl.name)
        assert checks, (cl.name, body)
        if limit:
            assert all(c["status"] == "ok" and c["available"] == limit for c in checks), (cl.name, body)
        else:
            failing = [c for c in checks if c["status"] == "fail"]
            assert failing and all(c["available"] == 0 and c["needed"] > 0 and "request " in c["message"] for c in failing), (cl.name, body)


@pytest.mark.parametrize("stack", PATH_STACKS)
def test_flaky_answers_are_retried_and_the_stack_passes(stack):
    env = environment(ROOT, stack)
    with FakeGoogleCloud(env.spec.project) as fake:
        offer_everything(fake, stack_demand(env, catalog()), catalog())
        fake.flaky = (503, 429)
        code, body, _ = run(fake, ROOT, stack)
        assert set(Counter(fake.requests).values()) == {3}  # 503, 429, then the answer, for every distinct request
    assert code == 0, body


@pytest.mark.parametrize("stack", PATH_STACKS)
def test_forbidden_everywhere_exits_3_naming_the_permission(stack):
    env = environment(ROOT, stack)
    with FakeGoogleCloud(env.spec.project) as fake:
        fake.forbidden = True
        code, body, stderr = run(fake, ROOT, stack)
        assert len(fake.requests) == len(set(fake.requests))  # 403 is not retried
    assert code == 3, body
    assert {c["status"] for c in body["checks"]} == {"unknown"}
    for c in body["checks"]:
        assert c["message"].startswith("permission denied: ") and f"on project {env.spec.project} (grant roles/" in c["message"]
    vertex = [cl.name for cl in env.clusters if cl.spec.path.value == "vertex"]
    for name in vertex:
        assert all("cloudquotas.quotas.get" in c["message"] for c in quota_checks(body, name))
    assert "permission denied" in stderr


# --- which quota each path reads ------------------------------------------------------------------

def test_vertex_serving_reads_the_serving_quota_for_the_maximum_replicas(fake_project):
    fake, root = fake_project
    env = environment(ROOT, "vertex-serve")
    offer_everything(fake, stack_demand(env, catalog()), catalog())
    code, body, _ = run(fake, ROOT, "vertex-serve")
    assert code == 0
    l4 = quota_checks(body, "l4-chat")[0]
    assert (l4["zone_or_region"], l4["needed"]) == ("us-central1", 4)  # 1 x L4 per replica, maxReplicas 4
    assert "CustomModelServingL4GPUsPerProjectPerRegion" in l4["message"]
    h100 = quota_checks(body, "h100-llm")[0]
    assert h100["needed"] == 16 and "CustomModelServingH100GPUsPerProjectPerRegion" in h100["message"]  # 8 x 2 replicas
    assert fake.count("/services/aiplatform.googleapis.com/quotaInfos/") == 2
    assert fake.count("/compute/") == 0  # Vertex AI GPUs are not Compute Engine quota


def test_vertex_training_quota_fails_in_the_region_without_room():
    env = environment(ROOT, "vertex-finetune")
    with FakeGoogleCloud(env.spec.project) as fake:
        fake.set_quota_value("aiplatform.googleapis.com", "CustomModelTrainingH100GPUsPerProjectPerRegion", {"region": "us-east4"}, 64)
        fake.set_quota_value("aiplatform.googleapis.com", "CustomModelTrainingH100GPUsPerProjectPerRegion", {"region": "us-central1"}, 0)
        code, body, _ = run(fake, ROOT, "vertex-finetune")
    assert code == 1
    (q,) = quota_checks(body, "llama-ft")
    assert (q["status"], q["needed"], q["available"]) == ("fail", 8, 0)
    assert "Vertex AI training NVIDIA_H100_80GB quota in us-central1" in q["message"]
    assert "request CustomModelTrainingH100GPUsPerProjectPerRegion of at least 8 in us-central1" in q["message"]
    assert any("CPU pools (n2-highcpu-16)" in n for n in body["not_checked"])


def test_gke_tpu_pools_read_compute_engine_quota_by_provisioning_model(tmp_path):
    def gke_tpu(name: str, provisioning: Any) -> dict:
        return {
            "name": name, "path": "gke", "workload": {"kind": "pretraining", "accelerators": 16}, "framework": "jax",
            "tpu": {"generation": "v6e", "topology": "4x4"}, "zone": "us-central1-b", "provisioning": provisioning, "storage": STORAGE,
        }

    root = write_stack(tmp_path, "gke", [gke_tpu("od", "on-demand"), gke_tpu("spot", "spot"), gke_tpu("flex", "flex-start"), gke_tpu("res", {"model": "reservation", "reservation": "v6e-res"})])
    env = environment(root, "gke")
    with FakeGoogleCloud(PROJECT) as fake:
        offer_capacity(fake, stack_demand(env, catalog()))
        fake.set_quota_value("compute.googleapis.com", "TPUS-PER-TPU-FAMILY-per-project-region", {"region": "us-central1", "tpu_family": "CT6E"}, 16)
        fake.set_quota_value("compute.googleapis.com", "TPUS-PER-TPU-FAMILY-per-project-region", {"region": "us-central1", "tpu_family": "TPU7X"}, 999)
        fake.set_quota_value("compute.googleapis.com", "PREEMPTIBLE-TPU-V6E-per-project-region", {"region": "us-central1"}, 24)
        code, body, _ = run(fake, root, "gke")
        assert fake.count("/quotaInfos/") == 2 and fake.count("/regions/") == 0
    assert code == 1
    (od,) = quota_checks(body, "od")
    assert (od["status"], od["needed"], od["available"]) == ("ok", 16, 16) and "tpu_family=CT6E" in od["message"]
    spot, flex = quota_checks(body, "spot")[0], quota_checks(body, "flex")[0]
    assert spot == {**flex, "cluster": "spot"}  # flex-start and Spot share the preemptible pool: 32 chips against 24
    assert (spot["status"], spot["needed"], spot["available"]) == ("fail", 32, 24)
    assert "PREEMPTIBLE-TPU-V6E-per-project-region" in spot["message"] and "(spot 16 + flex 16)" in spot["message"]
    assert quota_checks(body, "res") == []  # a reservation holds its own quota
    assert [c["check"] for c in body["checks"] if c["cluster"] == "res"] == ["machine-type", "reservation"]


def test_gke_v5e_reads_the_regional_podslice_metric():
    cl = {
        "name": "v5e", "path": "gke", "workload": {"kind": "finetuning", "accelerators": 16}, "framework": "jax",
        "tpu": {"generation": "v5e", "topology": "4x4"}, "zone": "us-central1-a", "provisioning": "spot", "storage": STORAGE,
    }
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = write_stack(Path(tmp), "v5e", [cl])
        env = environment(root, "v5e")
        with FakeGoogleCloud(PROJECT) as fake:
            offer_capacity(fake, stack_demand(env, catalog()))
            fake.set_region_quota("us-central1", "PREEMPTIBLE_TPU_LITE_PODSLICE_V5", limit=32, usage=20)
            code, body, _ = run(fake, root, "v5e")
    (q,) = quota_checks(body, "v5e")
    assert code == 1 and (q["needed"], q["available"]) == (16, 12)
    assert "PREEMPTIBLE_TPU_LITE_PODSLICE_V5: 12 free (limit 32, in use 20)" in q["message"]


def test_tpu_vm_v5p_counts_tensorcores_and_reads_zone_and_region(tmp_path):
    cl = {
        "name": "v5p", "path": "tpu", "workload": {"kind": "pretraining", "accelerators": 16}, "framework": "jax",
        "tpu": {"generation": "v5p", "topology": "2x2x4"}, "zone": "us-east5-a", "provisioning": "on-demand", "storage": STORAGE,
    }
    root = write_stack(tmp_path, "v5p", [cl], region="us-east5", zones=["us-east5-a"])
    env = environment(root, "v5p")
    with FakeGoogleCloud(PROJECT) as fake:
        offer_capacity(fake, stack_demand(env, catalog()))
        fake.set_quota_value("tpu.googleapis.com", "TPUV5PPerProjectPerZoneForTPUAPI", {"zone": "us-east5-a"}, 64)
        fake.set_quota_value("tpu.googleapis.com", "TPUV5PPerProjectPerRegionForTPUAPI", {"region": "us-east5"}, 16)
        code, body, _ = run(fake, root, "v5p")
    zone, region = (next(c for c in quota_checks(body, "v5p") if c["zone_or_region"] == w) for w in ("us-east5-a", "us-east5"))
    assert code == 1
    assert (zone["status"], zone["needed"], zone["available"]) == ("ok", 32, 64)  # v5p-32: 16 chips, 32 TensorCores
    assert (region["status"], region["needed"], region["available"]) == ("fail", 32, 16)
    assert "32 TensorCores" in region["message"] and "TPUV5PPerProjectPerRegionForTPUAPI of at least 32 in us-east5" in region["message"]


def test_single_host_v5e_draws_on_the_serving_quota_and_says_what_is_not_checked():
    env = environment(ROOT, "tpu-serve")
    with FakeGoogleCloud(env.spec.project) as fake:
        offer_capacity(fake, stack_demand(env, catalog()))
        fake.set_quota_value("tpu.googleapis.com", "TPUV5sLitepodServingPerProjectPerZoneForTPUAPI", {"zone": "us-central1-a"}, 4)
        fake.set_quota_value("tpu.googleapis.com", "TPUV5sLitepodPerProjectPerZoneForTPUAPI", {"zone": "us-central1-a"}, 512)
        code, body, _ = run(fake, ROOT, "tpu-serve")
        assert fake.count("TPUV5sLitepodPerProjectPerZoneForTPUAPI") == 0  # the training quota is not what v5litepod-8 spends
    (q,) = quota_checks(body, "v5e-serve")
    assert code == 1 and (q["needed"], q["available"]) == (8, 4) and "TPU v5e serving" in q["message"]
    assert any("per-region twin of the v5e serving quota" in n for n in body["not_checked"])


def test_tpu_v4_on_demand_is_not_checked_and_says_why(tmp_path):
    cl = {
        "name": "v4", "path": "tpu", "workload": {"kind": "pretraining", "accelerators": 4}, "framework": "jax",
        "tpu": {"type": "v4-8"}, "zone": "us-central2-b", "provisioning": "on-demand", "storage": STORAGE,
    }
    root = write_stack(tmp_path, "v4", [cl], region="us-central2", zones=["us-central2-b"])
    env = environment(root, "v4")
    with FakeGoogleCloud(PROJECT) as fake:
        offer_capacity(fake, stack_demand(env, catalog()))
        code, body, _ = run(fake, root, "v4", fmt="json")
        text = run(fake, root, "v4", fmt="text")[1]
    assert code == 0 and quota_checks(body, "v4") == []
    assert len(body["not_checked"]) == 2 and all("on-demand v4 quota" in n for n in body["not_checked"])
    assert "everything checked fits; 2 not checked" in text and "everything fits" not in text


def test_a_stack_with_nothing_checked_never_says_everything_fits(tmp_path):
    cl = {"name": "b200", "path": "vertex", "workload": {"kind": "finetuning", "accelerators": 8}, "machineType": "a4-highgpu-8g", "storage": STORAGE}
    root = write_stack(tmp_path, "b200", [cl])
    with FakeGoogleCloud(PROJECT) as fake:
        code, body, _ = run(fake, root, "b200")
        text_code, text, _ = run(fake, root, "b200", fmt="text")
        assert fake.requests == []
    assert code == text_code == 3
    assert body["checks"] == [] and body["not_checked"] == [
        "b200: Vertex AI training NVIDIA_B200 quota in us-central1: not checked: no source names the Vertex AI training quota id of NVIDIA_B200"
    ]
    assert "nothing checked: 1 not checked" in text and "everything fits" not in text


def test_slurm_node_sets_draw_on_their_own_pools(tmp_path):
    cl = {
        "name": "hpc", "path": "slurm", "workload": {"kind": "hpc", "accelerators": 4, "hpcOffload": "low"}, "machineType": "g2-standard-8",
        "zone": "us-central1-a", "storage": STORAGE, "slurm": {
            "home": {"tier": "BASIC_HDD", "capacityGb": 1024},
            "nodeSets": [{"name": "od", "staticNodes": 1}, {"name": "spot", "dynamicNodes": 3, "provisioning": "spot"}],
            "partitions": [{"name": "all", "nodeSets": ["od", "spot"], "default": True}],
        },
    }
    root = write_stack(tmp_path, "hpc", [cl])
    env = environment(root, "hpc")
    with FakeGoogleCloud(PROJECT) as fake:
        offer_everything(fake, stack_demand(env, catalog()), catalog())
        code, body, _ = run(fake, root, "hpc")
    assert code == 0
    regional = {c["message"].split(" quota")[0]: c["needed"] for c in body["checks"] if c["check"] == "quota"}
    assert regional == {"on-demand nvidia-l4": 1, "preemptible nvidia-l4": 3}
    assert [c["needed"] for c in body["checks"] if c["check"] == "project-quota"] == [4]


# --- without credentials: the reason is said once (issue 17) --------------------------------------

def test_without_credentials_the_text_says_the_reason_once(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "CLOUDSDK_", "AI_CLUSTERS_", "GCE_"))}
    with FakeGoogleCloud("acme-ml-dev") as fake:
        env.update(fake.env(anonymous=False))
        env.update(HOME=str(tmp_path / "home"), CLOUDSDK_CONFIG=str(tmp_path / "gcloud"), NO_GCE_CHECK="true", GCE_METADATA_HOST="127.0.0.1:9", GCE_METADATA_IP="127.0.0.1:9", COLUMNS="200")
        cli = Path(sys.executable).with_name("ai-clusters")
        done = subprocess.run([str(cli), "preflight", "-s", "dev", "--project-dir", str(ROOT)], env=env, capture_output=True, text=True, timeout=120)
        assert fake.requests == []
    assert done.returncode == 3, done.stderr
    out = done.stdout
    assert out.count("Application Default Credentials are not set up") == 1
    rows = [line for line in out.splitlines() if "could not ask: see [1] below" in line]
    assert len(rows) >= 13  # every row of every cluster points to the one reason
    assert "[1] no credentials: Application Default Credentials are not set up" in out
    assert "could not check:" not in done.stderr  # the text report already says it


@pytest.fixture
def fake_project(tmp_path):
    with FakeGoogleCloud("acme-ml-vertex") as fake:
        yield fake, tmp_path


def test_a_pool_the_catalog_names_no_quota_for_is_not_checked_rather_than_asked_with_an_empty_id():
    """GB200 has no preemptible quota in the catalog (A4X is sold by reservation only): a preemptible
    demand for it is said as not checked, never read from Cloud Quotas under an empty id."""
    from ai_clusters.core.catalog import catalog
    from ai_clusters.core.enums import ProvisioningModel
    from ai_clusters.tooling.preflight.demand import MachineDemand, Pool, gpu_needs

    cat = catalog()
    shape = cat.shape("a4x-highgpu-4g")
    demand = MachineDemand("gb", "us-central1-a", "a4x-highgpu-4g", 2, ProvisioningModel.SPOT, Pool.PREEMPTIBLE, ("us-central1-a",), shape=shape)
    regional, project = gpu_needs(demand, cat, cat.data.quotas)
    assert regional.sources == () and "names no preemptible quota for nvidia-gb200" in regional.unchecked
    assert project.sources, "the project's GPUs in all regions are still read"
