"""`ai-clusters preflight` against a fake Google Cloud on 127.0.0.1, through Google's real clients."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from ai_clusters.core.catalog import catalog
from ai_clusters.tooling.cli import app
from ai_clusters.tooling.plan.engine import find_project, read_stack_config
from ai_clusters.core.spec import load_environment
from ai_clusters.tooling.preflight.demand import stack_demand

from .conftest import REFERENCE_STACKS, ROOT
from .fake_gcloud import FakeGoogleCloud, offer_everything, permission_denied, service_disabled

PROJECT = "acme-ml-test"
STORAGE = {"bucket": {"softDeleteDays": 7}}

# The JSON the issue fixes, exactly: no other keys, these kinds and statuses.
SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["stack", "project", "checks", "not_checked"],
    "properties": {
        "stack": {"type": "string"},
        "project": {"type": "string"},
        "not_checked": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "checks": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["cluster", "check", "zone_or_region", "status", "needed", "available", "message"],
                "properties": {
                    "cluster": {"type": "string"},
                    "check": {"enum": ["machine-type", "accelerator-type", "quota", "project-quota", "reservation", "tpu-accelerator-type", "tpu-runtime", "tpu-quota"]},
                    "zone_or_region": {"type": "string"},
                    "status": {"enum": ["ok", "fail", "unknown"]},
                    "needed": {"type": ["number", "null"]},
                    "available": {"type": ["number", "null"]},
                    "message": {"type": "string", "minLength": 1},
                },
            },
        },
    },
}


def l4_cluster(name: str, nodes: int, zone: str = "us-central1-a", provisioning: Any = "on-demand") -> dict:
    return {
        "name": name,
        "path": "compute-engine",
        "workload": {"kind": "inference", "accelerators": nodes, "latencyMs": 200},
        "machineType": "g2-standard-8",
        "nodes": nodes,
        "zone": zone,
        "provisioning": provisioning,
        "storage": STORAGE,
    }


def mega_cluster(name: str, nodes: int, provisioning: Any = "spot", path: str = "compute-engine") -> dict:
    return {
        "name": name,
        "path": path,
        "workload": {"kind": "pretraining", "accelerators": nodes * 8},
        "machineType": "a3-megagpu-8g",
        "nodes": nodes,
        "zone": "us-central1-a",
        "provisioning": provisioning,
        "storage": STORAGE,
    }


def tpu_cluster(name: str, tpu_type: str = "v6e-16", slices: int = 1, zone: str = "us-central1-b", runtime: Optional[str] = None) -> dict:
    tpu: dict[str, Any] = {"type": tpu_type, "slices": slices}
    if runtime:
        tpu["runtimeVersion"] = runtime
    return {
        "name": name,
        "path": "tpu",
        "workload": {"kind": "pretraining", "accelerators": 16 * slices},
        "framework": "jax",
        "tpu": tpu,
        "zone": zone,
        "provisioning": "on-demand",
        "storage": STORAGE,
    }


def write_stack(root: Path, name: str, clusters: list[dict], region: str = "us-central1", zones: Optional[list[str]] = None, project: str = PROJECT) -> Path:
    """A project folder with stacks/Pulumi.<name>.yaml holding these clusters."""
    (root / "Pulumi.yaml").write_text("name: ai-clusters\nruntime: python\nstackConfigDir: stacks\n")
    (root / "stacks").mkdir(exist_ok=True)
    config = {
        "gcp:project": project,
        "gcp:region": region,
        "ai-clusters:environment": "test",
        "ai-clusters:zones": zones or [f"{region}-a", f"{region}-b", f"{region}-c"],
        "ai-clusters:clusters": clusters,
    }
    (root / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return root


def demand_of(root: Path, stack: str):
    env = load_environment(read_stack_config(find_project(root), stack))
    return stack_demand(env, catalog())


@pytest.fixture
def fake():
    with FakeGoogleCloud(PROJECT) as cloud:
        yield cloud


def preflight(fake: FakeGoogleCloud, root: Path, stack: str, *args: str, env: Optional[dict] = None) -> tuple[int, dict, str]:
    """Run the command with --format json; (exit code, parsed JSON or {}, stderr)."""
    result = CliRunner().invoke(
        app, ["preflight", "--stack", stack, "--project-dir", str(root), "--format", "json", *args], env=env if env is not None else fake.env()
    )
    body = json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}
    if body:
        jsonschema.validate(body, SCHEMA)
    assert "Traceback" not in result.output
    return result.exit_code, body, result.stderr


def by(body: dict, cluster: str, check: str, where: Optional[str] = None) -> list[dict]:
    return [c for c in body["checks"] if c["cluster"] == cluster and c["check"] == check and where in (None, c["zone_or_region"])]


def one(body: dict, cluster: str, check: str, where: Optional[str] = None) -> dict:
    hits = by(body, cluster, check, where)
    assert len(hits) == 1, hits
    return hits[0]


# --- everything fits ----------------------------------------------------------------------------

MIXED = [
    l4_cluster("serve", 4),
    mega_cluster("train", 2, provisioning="spot"),
    mega_cluster("reserved", 2, provisioning={"model": "reservation", "reservation": "mega-res"}),
    tpu_cluster("tpu"),
]


def test_everything_fits(tmp_path, fake):
    root = write_stack(tmp_path, "mixed", MIXED)
    offer_everything(fake, demand_of(root, "mixed"), catalog(), spare=64)
    code, body, _ = preflight(fake, root, "mixed")
    assert code == 0, body
    assert body["stack"] == "mixed" and body["project"] == PROJECT
    assert {c["status"] for c in body["checks"]} == {"ok"}
    assert {c["check"] for c in body["checks"]} == {"machine-type", "quota", "project-quota", "reservation", "tpu-accelerator-type", "tpu-runtime", "tpu-quota"}
    # L4 quota comes from regions.get (limit and usage); the spot A3 Mega pool from Cloud Quotas.
    assert one(body, "serve", "quota")["available"] == 64 and "NVIDIA_L4_GPUS" in one(body, "serve", "quota")["message"]
    spot = one(body, "train", "quota")
    assert spot["needed"] == 16 and "PREEMPTIBLE-NVIDIA-H100-MEGA-GPUS-per-project-region" in spot["message"]
    # The reservation cluster takes no quota of its own; the project-wide count has the others only.
    assert not by(body, "reserved", "quota") and not by(body, "reserved", "project-quota")
    assert one(body, "serve", "project-quota")["needed"] == 4 + 16
    assert one(body, "reserved", "reservation")["needed"] == 2
    assert one(body, "tpu", "tpu-quota", "us-central1-b")["needed"] == 16  # v6e-16 is 16 chips, per zone and per region
    assert one(body, "tpu", "tpu-quota", "us-central1")["needed"] == 16
    assert "v6e-16 (topology 4x4)" in one(body, "tpu", "tpu-accelerator-type")["message"]


def test_text_and_markdown_formats(tmp_path, fake):
    root = write_stack(tmp_path, "mixed", MIXED)
    offer_everything(fake, demand_of(root, "mixed"), catalog())
    runner = CliRunner()
    text = runner.invoke(app, ["preflight", "-s", "mixed", "--project-dir", str(root)], env={**fake.env(), "COLUMNS": "220"})
    assert text.exit_code == 0 and "everything fits" in text.stdout and "reservation" in text.stdout
    md = runner.invoke(app, ["preflight", "-s", "mixed", "--project-dir", str(root), "-f", "markdown"], env=fake.env())
    assert md.exit_code == 0
    assert md.stdout.startswith("## ai-clusters preflight · stack `mixed`") and "| cluster | check |" in md.stdout


# --- what does not fit --------------------------------------------------------------------------

def test_quota_fails_only_when_two_clusters_are_added_up(tmp_path, fake):
    root = write_stack(tmp_path, "pair", [l4_cluster("a", 16, "us-central1-a"), l4_cluster("b", 8, "us-central1-b")])
    offer_everything(fake, demand_of(root, "pair"), catalog())
    fake.set_region_quota("us-central1", "NVIDIA_L4_GPUS", limit=24, usage=4)  # 20 free: 16 fits, 8 fits, 24 does not
    code, body, _ = preflight(fake, root, "pair")
    assert code == 1
    for name in ("a", "b"):
        q = one(body, name, "quota")
        assert (q["status"], q["needed"], q["available"], q["zone_or_region"]) == ("fail", 24, 20, "us-central1")
        assert "(a 16 + b 8)" in q["message"] and "NVIDIA_L4_GPUS of at least 28" in q["message"]
        assert "flex-start" in q["message"]
    assert one(body, "a", "project-quota")["status"] == "ok"


def test_on_demand_family_quota_from_cloud_quotas_counts_the_family(tmp_path, fake):
    """A3 Mega on-demand: regions.get lists no H100 Mega metric, GPUS-PER-GPU-FAMILY does (limit only)."""
    root = write_stack(tmp_path, "mega", [mega_cluster("train", 4, provisioning="on-demand")])
    offer_everything(fake, demand_of(root, "mega"), catalog())
    fake.set_quota_info(
        "compute.googleapis.com",
        "GPUS-PER-GPU-FAMILY-per-project-region",
        "compute.googleapis.com/gpus_per_gpu_family",
        ["gpu_family", "region"],
        [({}, 1000, []), ({"region": "us-central1"}, 500, ["us-central1"]), ({"region": "us-central1", "gpu_family": "NVIDIA_H100_MEGA"}, 16, ["us-central1"])],
    )
    code, body, _ = preflight(fake, root, "mega")
    assert code == 1
    q = one(body, "train", "quota")
    assert (q["status"], q["needed"], q["available"]) == ("fail", 32, 16)
    assert "GPUS-PER-GPU-FAMILY-per-project-region gpu_family=NVIDIA_H100_MEGA" in q["message"]
    assert fake.count("/quotaInfos/GPUS-PER-GPU-FAMILY-per-project-region") == 1


def test_reservation_with_too_little_free_capacity(tmp_path, fake):
    root = write_stack(tmp_path, "res", [mega_cluster("train", 4, provisioning={"model": "reservation", "reservation": "mega-res"})])
    offer_everything(fake, demand_of(root, "res"), catalog())
    fake.add_reservation("us-central1-a", "mega-res", "a3-megagpu-8g", count=8, in_use=6)
    code, body, _ = preflight(fake, root, "res")
    assert code == 1
    r = one(body, "train", "reservation")
    assert (r["status"], r["needed"], r["available"]) == ("fail", 4, 2)
    assert "2 of 8 VMs free (6 in use)" in r["message"]


def test_reservation_missing_or_for_another_machine_type(tmp_path, fake):
    root = write_stack(tmp_path, "res", [mega_cluster("a", 1, provisioning={"model": "reservation", "reservation": "gone"}), mega_cluster("b", 1, provisioning={"model": "reservation", "reservation": "other"})])
    offer_everything(fake, demand_of(root, "res"), catalog())
    del fake.reservations[("us-central1-a", "gone")]
    fake.add_reservation("us-central1-a", "other", "a3-highgpu-8g", count=4)
    code, body, _ = preflight(fake, root, "res")
    assert code == 1
    assert one(body, "a", "reservation")["status"] == "fail" and "no reservation gone in us-central1-a" in one(body, "a", "reservation")["message"]
    assert "reserves a3-highgpu-8g, the cluster uses a3-megagpu-8g" in one(body, "b", "reservation")["message"]


def test_machine_type_missing_from_the_zone(tmp_path, fake):
    root = write_stack(tmp_path, "gone", [l4_cluster("serve", 2, "us-central1-c")])
    offer_everything(fake, demand_of(root, "gone"), catalog())
    del fake.machine_types[("us-central1-c", "g2-standard-8")]
    code, body, _ = preflight(fake, root, "gone")
    assert code == 1
    m = one(body, "serve", "machine-type")
    assert m["status"] == "fail" and m["zone_or_region"] == "us-central1-c"
    assert "g2-standard-8 is not offered in us-central1-c" in m["message"] and "us-central1-a" in m["message"]


def test_tpu_runtime_not_offered(tmp_path, fake):
    root = write_stack(tmp_path, "tpu", [tpu_cluster("tpu")])
    offer_everything(fake, demand_of(root, "tpu"), catalog())
    fake.tpu_runtimes["us-central1-b"] = ["v2-alpha-tpuv5-lite", "v2-alpha-tpuv6e-next", "tpu-ubuntu2204-base"]
    code, body, _ = preflight(fake, root, "tpu")
    assert code == 1
    r = one(body, "tpu", "tpu-runtime")
    assert r["status"] == "fail" and "runtime v2-alpha-tpuv6e is not offered in us-central1-b" in r["message"]
    assert "v2-alpha-tpuv6e-next" in r["message"]
    assert one(body, "tpu", "tpu-accelerator-type")["status"] == "ok"


def test_tpu_type_and_topology_not_offered(tmp_path, fake):
    root = write_stack(tmp_path, "tpu", [tpu_cluster("tpu")])
    offer_everything(fake, demand_of(root, "tpu"), catalog())
    fake.tpu_types["us-central1-b"] = [t for t in fake.tpu_types["us-central1-b"] if t["type"] != "v6e-16"]
    fake.offer_tpu("us-central1-b", "v6e-8", "2x4")
    code, body, _ = preflight(fake, root, "tpu")
    assert code == 1
    msg = one(body, "tpu", "tpu-accelerator-type")["message"]
    assert "v6e-16 is not offered in us-central1-b (offered here: v6e-8)" in msg and "us-east1-d" in msg


def test_tpu_quota_too_small(tmp_path, fake):
    root = write_stack(tmp_path, "tpu", [tpu_cluster("tpu", slices=2)])
    offer_everything(fake, demand_of(root, "tpu"), catalog())
    fake.set_quota_info("tpu.googleapis.com", "TPUV6EPerProjectPerZoneForTPUAPI", "tpu.googleapis.com/tpus", ["zone"], [({"zone": "us-central1-b"}, 16, ["us-central1-b"])])
    code, body, _ = preflight(fake, root, "tpu")
    assert code == 1
    q = one(body, "tpu", "tpu-quota", "us-central1-b")
    assert (q["status"], q["needed"], q["available"]) == ("fail", 32, 16) and "TPUV6EPerProjectPerZoneForTPUAPI" in q["message"]
    assert one(body, "tpu", "tpu-quota", "us-central1")["status"] == "ok"  # the region's quota has room


# --- when Google Cloud does not answer ----------------------------------------------------------

def test_429_is_retried_and_then_passes(tmp_path, fake):
    root = write_stack(tmp_path, "dev", [l4_cluster("serve", 2)])
    offer_everything(fake, demand_of(root, "dev"), catalog())
    fake.fail(r"/regions/us-central1$", 429, times=2)
    code, body, _ = preflight(fake, root, "dev")
    assert code == 0, body
    assert fake.count("/regions/us-central1") == 3  # two 429s, then the answer


def test_503_forever_gives_a_clear_line_and_exit_3(tmp_path, fake):
    root = write_stack(tmp_path, "dev", [l4_cluster("serve", 2)])
    offer_everything(fake, demand_of(root, "dev"), catalog())
    fake.fail(r"/regions/", 503)
    started = time.monotonic()
    code, body, stderr = preflight(fake, root, "dev", "--timeout", "1.5")
    assert time.monotonic() - started < 10
    assert code == 3
    q = one(body, "serve", "quota")
    assert q["status"] == "unknown" and "kept answering 503" in q["message"]
    assert one(body, "serve", "machine-type")["status"] == "ok"
    assert fake.count("/regions/us-central1") >= 2  # it did retry
    assert stderr.count("kept answering 503") == 1  # one line per problem


def test_permission_denied_names_the_permission(tmp_path, fake):
    root = write_stack(tmp_path, "dev", [l4_cluster("serve", 2)])
    offer_everything(fake, demand_of(root, "dev"), catalog())
    fake.fail(r"/regions/", 403, permission_denied("compute.regions.get", f"projects/{PROJECT}/regions/us-central1"))
    code, body, stderr = preflight(fake, root, "dev")
    assert code == 3
    q = one(body, "serve", "quota")
    assert q["status"] == "unknown"
    assert q["message"] == f"permission denied: compute.regions.get on project {PROJECT} (grant roles/compute.viewer, or a role that holds compute.regions.get)"
    assert "compute.regions.get" in stderr
    assert fake.count("/regions/") == 1  # 403 is not retried


def test_api_not_enabled_names_the_api(tmp_path, fake):
    root = write_stack(tmp_path, "tpu", [tpu_cluster("tpu")])
    offer_everything(fake, demand_of(root, "tpu"), catalog())
    fake.fail(r"^/v2/", 403, service_disabled("tpu.googleapis.com", PROJECT))
    code, body, _ = preflight(fake, root, "tpu")
    assert code == 3
    for kind in ("tpu-accelerator-type", "tpu-runtime"):
        assert one(body, "tpu", kind)["message"] == f"the Cloud TPU API is not enabled in project {PROJECT}: gcloud services enable tpu.googleapis.com --project {PROJECT}"


def test_a_404_of_a_disabled_api_is_not_a_missing_quota(tmp_path, fake):
    root = write_stack(tmp_path, "spot", [mega_cluster("train", 1, provisioning="spot")])
    offer_everything(fake, demand_of(root, "spot"), catalog())
    fake.fail(r"/quotaInfos/", 404, service_disabled("cloudquotas.googleapis.com", PROJECT, code=404))
    code, body, _ = preflight(fake, root, "spot")
    assert code == 3
    assert one(body, "train", "quota")["message"] == (
        f"the Cloud Quotas API is not enabled in project {PROJECT}: gcloud services enable cloudquotas.googleapis.com --project {PROJECT}"
    )


def test_no_credentials_exit_3_without_traceback(tmp_path, fake):
    """A real process with no Application Default Credentials anywhere (and no metadata server)."""
    root = write_stack(tmp_path, "dev", [l4_cluster("serve", 2)])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "CLOUDSDK_", "AI_CLUSTERS_", "GCE_"))}
    env.update(fake.env(anonymous=False))
    env.update(
        HOME=str(tmp_path / "home"),
        CLOUDSDK_CONFIG=str(tmp_path / "gcloud"),
        NO_GCE_CHECK="true",  # never look for a metadata server
        GCE_METADATA_HOST="127.0.0.1:9",
        GCE_METADATA_IP="127.0.0.1:9",
    )
    cli = Path(sys.executable).with_name("ai-clusters")
    done = subprocess.run([str(cli), "preflight", "-s", "dev", "--project-dir", str(root), "-f", "json"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    body = json.loads(done.stdout)
    assert {c["status"] for c in body["checks"]} == {"unknown"}
    assert "no credentials: Application Default Credentials are not set up" in body["checks"][0]["message"]
    assert done.stderr.count("could not check:") == 1
    assert fake.requests == []


# --- scale --------------------------------------------------------------------------------------

def big_stack(nodes_per_cluster: int) -> list[dict]:
    return [
        l4_cluster("serve-a", nodes_per_cluster, "us-central1-a"),
        l4_cluster("serve-b", nodes_per_cluster, "us-central1-b"),
        l4_cluster("serve-spot", nodes_per_cluster, "us-central1-a", provisioning="spot"),
        mega_cluster("train", nodes_per_cluster, provisioning="spot"),
    ]


def test_requests_do_not_grow_with_the_node_count(tmp_path, fake):
    counts = {}
    for nodes in (1, 250):  # 4 and 1,000 nodes
        root = write_stack(tmp_path / str(nodes), "big", big_stack(nodes)) if (tmp_path / str(nodes)).mkdir() is None else None
        offer_everything(fake, demand_of(root, "big"), catalog())
        before = len(fake.requests)
        code, body, _ = preflight(fake, root, "big")
        assert code == 0, body
        counts[nodes] = len(fake.requests) - before
        assert one(body, "serve-a", "project-quota")["needed"] == 3 * nodes + 8 * nodes
    assert counts[1] == counts[250]
    # machine types: (a, g2), (b, g2), (a, a3-mega); regions.get once; projects.get once;
    # one Cloud Quotas read for the spot A3 Mega pool
    assert counts[250] == 6


def test_same_question_is_asked_once_however_many_clusters_ask_it(tmp_path, fake):
    clusters = [l4_cluster(f"c{i}", 3, "us-central1-a") for i in range(12)]
    root = write_stack(tmp_path, "many", clusters)
    offer_everything(fake, demand_of(root, "many"), catalog())
    code, body, _ = preflight(fake, root, "many")
    assert code == 0
    assert fake.count("/machineTypes/g2-standard-8") == 1 and fake.count("/regions/") == 1 and len(fake.requests) == 3
    assert len(by(body, "c0", "quota")) == 1 and one(body, "c11", "quota")["needed"] == 36


# --- bad input ----------------------------------------------------------------------------------

def test_bad_input_exits_2_with_the_plan_messages(tmp_path, fake):
    root = write_stack(tmp_path, "dev", [l4_cluster("serve", 2)])
    runner = CliRunner()
    missing = runner.invoke(app, ["preflight", "-s", "nope", "--project-dir", str(root)], env=fake.env())
    plan_missing = runner.invoke(app, ["plan", "-s", "nope", "--project-dir", str(root)])
    assert missing.exit_code == plan_missing.exit_code == 2
    assert missing.stderr == plan_missing.stderr and "stack 'nope' has no file" in missing.stderr
    write_stack(tmp_path, "bad", [{**l4_cluster("serve", 2), "machineType": "g2-standard-7"}])
    bad = runner.invoke(app, ["preflight", "-s", "bad", "--project-dir", str(root)], env=fake.env())
    assert bad.exit_code == 2 and "clusters[0].machineType" in bad.stderr and "Traceback" not in bad.output
    assert fake.requests == []


def test_anonymous_credentials_only_with_every_endpoint_overridden(tmp_path, fake):
    root = write_stack(tmp_path, "dev", [l4_cluster("serve", 2)])
    env = {**fake.env(), "AI_CLUSTERS_TPU_ENDPOINT": ""}
    result = CliRunner().invoke(app, ["preflight", "-s", "dev", "--project-dir", str(root)], env=env)
    assert result.exit_code == 2
    assert "AI_CLUSTERS_ANONYMOUS_CREDENTIALS=1 sends no credentials" in result.stderr and "AI_CLUSTERS_TPU_ENDPOINT" in result.stderr
    bad_url = CliRunner().invoke(app, ["preflight", "-s", "dev", "--project-dir", str(root)], env={**fake.env(), "AI_CLUSTERS_QUOTAS_ENDPOINT": "127.0.0.1:8123/v1"})
    assert bad_url.exit_code == 2 and "AI_CLUSTERS_QUOTAS_ENDPOINT" in bad_url.stderr
    assert fake.requests == []


# --- the repository's stacks --------------------------------------------------------------------

@pytest.mark.parametrize("stack", REFERENCE_STACKS)
def test_every_repository_stack_passes_against_a_fake_that_has_room(stack, fake):
    env = load_environment(read_stack_config(find_project(ROOT), stack))
    with FakeGoogleCloud(env.spec.project) as cloud:
        offer_everything(cloud, stack_demand(env, catalog()), catalog())
        code, body, _ = preflight(cloud, ROOT, stack)
        assert code == 0, body
        assert body["project"] == env.spec.project
        # every cluster of every path is checked against something (Vertex AI clusters against their Vertex AI quota)
        assert {c["cluster"] for c in body["checks"]} == {cl.name for cl in env.clusters}


# --- the catalog's quota names ------------------------------------------------------------------

def test_every_catalog_gpu_has_quota_names():
    from ai_clusters.core.enums import ProvisioningModel

    cat = catalog()
    named = {g.gpu for g in cat.data.quotas.gpus}
    assert {f.gpu.compute_engine for f in cat.families.values() if not f.unsupported} <= named
    for g in cat.data.quotas.gpus:
        fam = cat.family_of_gpu(g.gpu)
        if fam is not None and ProvisioningModel.SPOT not in fam.provisioning and ProvisioningModel.FLEX_START not in fam.provisioning:
            assert g.preemptible_quota_id is None, f"{g.gpu} has no preemptible capacity, so no preemptible quota id"
            continue
        assert g.preemptible_quota_id.endswith("-GPUS-per-project-region") and g.preemptible_quota_id.startswith("PREEMPTIBLE-NVIDIA-")
        if g.metric:
            assert g.preemptible_metric == f"PREEMPTIBLE_{g.metric}"
            assert g.preemptible_quota_id == g.preemptible_metric.replace("_", "-") + "-per-project-region"


# --- N1 with attached GPUs (built by hand: the catalog of this branch has no N1 machine types yet) --

def n1_demand(gpus_per_node: int, reservation: Optional[str] = None):
    from ai_clusters.core.catalog import NodeShape
    from ai_clusters.core.enums import ProvisioningModel
    from ai_clusters.tooling.preflight.demand import MachineDemand, Pool, StackDemand, gpu_needs

    fam = catalog().families["n1-t4"]
    shape = NodeShape(
        machine_type="n1-standard-16", family=fam, gpu=fam.gpu, gpus=gpus_per_node, vcpus=16, memory_gb=60,
        local_ssd_gb=0, provisioning=tuple(fam.provisioning), zones=tuple(fam.zones), attached=True,
    )
    model = ProvisioningModel.RESERVATION if reservation else ProvisioningModel.ON_DEMAND
    pool = Pool.RESERVED if reservation else Pool.STANDARD
    machine = MachineDemand("t4", "us-central1-a", "n1-standard-16", 3, model, pool, tuple(fam.zones), shape, reservation)
    return StackDemand(project=PROJECT, machines=[machine], quotas=gpu_needs(machine, catalog(), catalog().data.quotas))


def check_n1(fake: FakeGoogleCloud, demand) -> dict:
    from ai_clusters.tooling.preflight import Connection
    from ai_clusters.tooling.preflight.runner import check_demand

    report = check_demand(demand, Connection.from_env(fake.env()), stack="n1", cluster_order=["t4"])
    body = report.to_json()
    jsonschema.validate(body, SCHEMA)
    return body


def test_n1_gpu_offered_with_the_count_asked(fake):
    demand = n1_demand(4)
    offer_everything(fake, demand, catalog())
    fake.offer_accelerator("us-central1-a", "nvidia-tesla-t4", max_cards=4)
    body = check_n1(fake, demand)
    acc = one(body, "t4", "accelerator-type")
    assert (acc["status"], acc["needed"], acc["available"]) == ("ok", 4, 4)
    assert one(body, "t4", "quota")["needed"] == 12 and "NVIDIA_T4_GPUS" in one(body, "t4", "quota")["message"]
    assert fake.count("/acceleratorTypes/nvidia-tesla-t4") == 1


def test_n1_gpu_count_above_what_the_zone_attaches(fake):
    demand = n1_demand(4)
    offer_everything(fake, demand, catalog())
    fake.offer_accelerator("us-central1-a", "nvidia-tesla-t4", max_cards=2)
    acc = one(check_n1(fake, demand), "t4", "accelerator-type")
    assert (acc["status"], acc["needed"], acc["available"]) == ("fail", 4, 2)
    assert "attaches at most 2 x nvidia-tesla-t4 per VM" in acc["message"]


def test_n1_gpu_not_offered_in_the_zone(fake):
    demand = n1_demand(1)
    offer_everything(fake, demand, catalog())
    del fake.accelerator_types[("us-central1-a", "nvidia-tesla-t4")]
    acc = one(check_n1(fake, demand), "t4", "accelerator-type")
    assert acc["status"] == "fail" and "nvidia-tesla-t4 is not offered in us-central1-a" in acc["message"]


def test_n1_reservation_must_hold_the_same_gpus(fake):
    demand = n1_demand(2, reservation="t4-res")
    offer_everything(fake, demand, catalog())
    fake.add_reservation("us-central1-a", "t4-res", "n1-standard-16", count=10, gpus=("nvidia-tesla-t4", 1))
    res = one(check_n1(fake, demand), "t4", "reservation")
    assert res["status"] == "fail" and "reserves 1 x nvidia-tesla-t4, the cluster attaches 2 x nvidia-tesla-t4" in res["message"]


# --- pieces -------------------------------------------------------------------------------------

def test_cloud_quota_takes_the_most_specific_matching_value():
    from google.cloud import cloudquotas_v1

    from ai_clusters.tooling.preflight.quotas import cloud_quota

    info = cloudquotas_v1.QuotaInfo(
        quota_id="GPUS-PER-GPU-FAMILY-per-project-region",
        dimensions_infos=[
            {"dimensions": {}, "details": {"value": 50}, "applicable_locations": ["us-central1", "us-east1"]},
            {"dimensions": {"region": "us-central1"}, "details": {"value": 100}, "applicable_locations": ["us-central1"]},
            {"dimensions": {"gpu_family": "NVIDIA_H200"}, "details": {"value": 10}, "applicable_locations": ["us-east1"]},
            {"dimensions": {"region": "us-central1", "gpu_family": "NVIDIA_H200"}, "details": {"value": 30}, "applicable_locations": ["us-central1"]},
            {"dimensions": {"region": "us-central1", "gpu_family": "NVIDIA_B200"}, "details": {"value": -1}, "applicable_locations": ["us-central1"]},
        ],
    )
    assert cloud_quota(info, {"region": "us-central1", "gpu_family": "NVIDIA_H200"}, "us-central1").limit == 30
    assert cloud_quota(info, {"region": "us-east1", "gpu_family": "NVIDIA_H200"}, "us-east1").limit == 10
    assert cloud_quota(info, {"region": "us-east1", "gpu_family": "NVIDIA_L4"}, "us-east1").limit == 50
    assert cloud_quota(info, {"region": "us-central1", "gpu_family": "NVIDIA_B200"}, "us-central1").limit is None  # -1: unlimited
    assert cloud_quota(info, {"region": "europe-west4", "gpu_family": "NVIDIA_L4"}, "europe-west4") is None


def test_connection_settings():
    from ai_clusters.tooling.preflight import Api, Connection, SettingsError

    assert Connection.from_env({}).endpoint(Api.COMPUTE) is None and not Connection.from_env({}).anonymous
    conn = Connection.from_env({"AI_CLUSTERS_COMPUTE_ENDPOINT": "http://127.0.0.1:8123/", "AI_CLUSTERS_TPU_ENDPOINT": "https://tpu.p.googleapis.com"})
    assert conn.endpoint(Api.COMPUTE) == "http://127.0.0.1:8123" and conn.endpoint(Api.TPU) == "https://tpu.p.googleapis.com"
    assert conn.describe(Api.QUOTAS) == "https://cloudquotas.googleapis.com"
    with pytest.raises(SettingsError, match="AI_CLUSTERS_COMPUTE_ENDPOINT, AI_CLUSTERS_TPU_ENDPOINT, AI_CLUSTERS_QUOTAS_ENDPOINT"):
        Connection.from_env({"AI_CLUSTERS_ANONYMOUS_CREDENTIALS": "1"})
    with pytest.raises(SettingsError, match="must be 1 or 0"):
        Connection.from_env({"AI_CLUSTERS_ANONYMOUS_CREDENTIALS": "yes"})


def test_a_request_that_times_out_gives_one_line(tmp_path, fake):
    root = write_stack(tmp_path, "dev", [l4_cluster("serve", 2)])
    offer_everything(fake, demand_of(root, "dev"), catalog())
    fake.delay = 1.0
    code, body, stderr = preflight(fake, root, "dev", "--timeout", "0.3")
    assert code == 3
    assert {c["message"] for c in body["checks"]} == {f"Compute Engine API did not answer in time at {fake.url} (deadline 0.3s)"}
    assert stderr.count("could not check:") == 1
