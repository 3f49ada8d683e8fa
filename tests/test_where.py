"""`ai-clusters where` against the fake Google Cloud on 127.0.0.1: quota in some regions and not others,
the ranking by list price, the reasons, the requests per region, and the stack edit it ends with."""

import json
from collections import Counter
from pathlib import Path
from typing import Any, Optional

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from ai_clusters.core.catalog import catalog, region_of
from ai_clusters.core.spec import load_environment
from ai_clusters.tooling.cli import app
from ai_clusters.tooling.plan.engine import find_project, read_stack_config

from .conftest import ROOT
from .fake_gcloud import FakeGoogleCloud, catalog_metrics
from .test_preflight import l4_cluster, mega_cluster, write_stack

COMPUTE = "compute.googleapis.com"
FAMILY = "GPUS-PER-GPU-FAMILY-per-project-region"
MEGA_SPOT = "PREEMPTIBLE-NVIDIA-H100-MEGA-GPUS-per-project-region"

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["stack", "cluster", "needed", "options"],
    "properties": {
        "stack": {"type": "string"},
        "cluster": {"type": "string"},
        "needed": {"type": "object"},
        "options": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["zone", "region", "provisioning", "fits", "hourly_usd", "reasons"],
                "properties": {
                    "zone": {"type": "string"},
                    "region": {"type": "string"},
                    "provisioning": {"enum": ["on-demand", "spot", "flex-start", "reservation"]},
                    "fits": {"type": "boolean"},
                    "hourly_usd": {"type": ["number", "null"]},
                    "reasons": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}


def where(fake: FakeGoogleCloud, stack: str, cluster: str, *args: str, root: Path = ROOT, fmt: str = "json") -> tuple[int, Any, str]:
    result = CliRunner().invoke(app, ["where", "-s", stack, "-c", cluster, "--project-dir", str(root), "-f", fmt, *args], env={**fake.env(), "COLUMNS": "200"})
    assert "Traceback" not in result.output
    if fmt == "json" and result.exit_code != 2:
        body = json.loads(result.stdout)
        jsonschema.validate(body, SCHEMA)
        return result.exit_code, body, result.stderr
    return result.exit_code, result.stdout, result.stderr


def offer_a3_mega(fake: FakeGoogleCloud) -> None:
    """A3 Mega offered in every zone the catalog lists; quota: on-demand in us-east4, Spot in europe-west4 and 16 GPUs in us-central1."""
    for zone in catalog().families["a3-mega"].zones:
        fake.offer_machine(zone, "a3-megagpu-8g", cpus=208, gpus=("nvidia-h100-mega-80gb", 8))
    fake.set_quota_value(COMPUTE, FAMILY, {}, 0, locations=[])  # Google's default row: 0 wherever nothing else is said
    fake.set_quota_value(COMPUTE, FAMILY, {"region": "us-east4", "gpu_family": "NVIDIA_H100_MEGA"}, 64)
    fake.set_quota_value(COMPUTE, FAMILY, {"region": "us-east4", "gpu_family": "NVIDIA_L4"}, 1000)
    fake.set_quota_value(COMPUTE, MEGA_SPOT, {}, 0, locations=[])
    fake.set_quota_value(COMPUTE, MEGA_SPOT, {"region": "europe-west4"}, 64)
    fake.set_quota_value(COMPUTE, MEGA_SPOT, {"region": "us-central1"}, 16)
    fake.set_project_quota("GPUS_ALL_REGIONS", 1000, usage=8)


def price(machine: str, region: str, model: str) -> float:
    p = catalog().machines[machine][1].prices[region]
    return {"on-demand": p.on_demand, "spot": p.spot}[model]


@pytest.fixture
def fake():
    with FakeGoogleCloud("acme-ml-train") as cloud:
        yield cloud


def test_a3_mega_ranks_the_zones_that_fit_by_price_and_says_why_the_others_do_not(fake):
    offer_a3_mega(fake)
    code, body, _ = where(fake, "ce-a3mega-train", "mega")
    assert code == 0
    assert body["needed"] == {"path": "compute-engine", "machine_type": "a3-megagpu-8g", "accelerator": "nvidia-h100-mega-80gb", "nodes": 4, "unit": "GPUs", "accelerators": 32}
    options = body["options"]
    zones = catalog().families["a3-mega"].zones
    assert len(options) == 3 * len(zones)  # every zone, on-demand, Spot and flex-start
    fitting = [o for o in options if o["fits"]]
    assert options[: len(fitting)] == fitting  # the ones that fit come first
    priced = [(o["zone"], o["provisioning"], o["hourly_usd"]) for o in fitting if o["hourly_usd"] is not None]
    assert priced == sorted(priced, key=lambda p: p[2])
    assert priced[0] == ("europe-west4-b", "spot", pytest.approx(4 * price("a3-megagpu-8g", "europe-west4", "spot"), abs=1e-3))
    assert {(o["region"], o["provisioning"]) for o in fitting} == {("europe-west4", "spot"), ("europe-west4", "flex-start"), ("us-east4", "on-demand")}
    flex = [o for o in fitting if o["provisioning"] == "flex-start"]
    assert all(o["hourly_usd"] is None and "no flex-start list price" in o["reasons"][0] for o in flex)  # unpriced: after the priced ones
    central_spot = next(o for o in options if (o["zone"], o["provisioning"]) == ("us-central1-a", "spot"))
    assert "us-central1" not in catalog().machines["a3-megagpu-8g"][1].prices, "the catalog has no A3 Mega price in us-central1"
    assert not central_spot["fits"] and central_spot["hourly_usd"] is None, "where uses the region's own price only, never another region's"
    assert central_spot["reasons"] == [f"preemptible nvidia-h100-mega-80gb quota in us-central1: 16 GPUs short of 32 ({MEGA_SPOT}: limit 16)"]
    od = next(o for o in options if (o["zone"], o["provisioning"]) == ("us-central1-a", "on-demand"))
    assert od["reasons"] == [f"on-demand nvidia-h100-mega-80gb quota in us-central1: 32 GPUs short of 32 ({FAMILY} gpu_family=NVIDIA_H100_MEGA: limit 0)"]


def test_requests_are_flat_in_the_zones(fake):
    """One aggregatedList for the machine type in every zone, one read per quota id for every region."""
    offer_a3_mega(fake)
    where(fake, "ce-a3mega-train", "mega")
    assert Counter(fake.requests) == Counter(
        {
            "/compute/v1/projects/acme-ml-train/aggregated/machineTypes": 1,
            "/compute/v1/projects/acme-ml-train": 1,
            f"/v1/projects/acme-ml-train/locations/global/services/{COMPUTE}/quotaInfos/{FAMILY}": 1,
            f"/v1/projects/acme-ml-train/locations/global/services/{COMPUTE}/quotaInfos/{MEGA_SPOT}": 1,
        }
    )


def test_one_regions_get_per_region_however_many_zones_it_has(tmp_path):
    """L4 quotas come from regions.get: asked once per region, whatever the number of zones in it."""
    batch = {**l4_cluster("serve", 2), "workload": {"kind": "inference", "accelerators": 2}}  # no latency target: Spot is allowed
    write_stack(tmp_path, "l4", [batch], zones=["us-central1-a"])
    zones = catalog().families["g2"].zones
    regions = sorted({region_of(z) for z in zones})
    with FakeGoogleCloud("acme-ml-test") as fake:
        for z in zones:
            fake.offer_machine(z, "g2-standard-8", gpus=("nvidia-l4", 1))
        fake.set_region_quota("us-east1", "NVIDIA_L4_GPUS", 8)
        fake.set_project_quota("GPUS_ALL_REGIONS", 100)
        code, body, _ = where(fake, "l4", "serve", "--provisioning", "on-demand,spot", root=tmp_path)
        counts = Counter(fake.requests)
    assert code == 0
    assert len(zones) > len(regions)  # several zones share a region
    assert sorted(p.rsplit("/", 1)[1] for p in counts if "/regions/" in p) == regions and all(counts[p] == 1 for p in counts)
    # + the aggregatedList, projects.get, and one Cloud Quotas read per pool for the regions regions.get left it out of
    assert len(fake.requests) == len(regions) + 2 + 2
    assert counts[f"/v1/projects/acme-ml-test/locations/global/services/{COMPUTE}/quotaInfos/{FAMILY}"] == 1
    fitting = {(o["region"], o["provisioning"]) for o in body["options"] if o["fits"]}
    assert fitting == {("us-east1", "on-demand")}  # spot: regions.get lists no preemptible L4 quota anywhere
    spot = next(o for o in body["options"] if o["provisioning"] == "spot")
    assert spot["reasons"][0].startswith("unknown: preemptible nvidia-l4 quota in ")


def test_text_ends_with_the_stack_edit_and_the_edit_passes_preflight(fake, tmp_path):
    offer_a3_mega(fake)
    code, text, _ = where(fake, "ce-a3mega-train", "mega", fmt="text")
    assert code == 0
    head, edit = text.split("Stack edit (stacks/Pulumi.ce-a3mega-train.yaml):\n")
    assert "best: europe-west4-b, spot, $" in head and "(now)" in head
    change = yaml.safe_load(edit)["config"]
    assert change == {
        "gcp:region": "europe-west4",
        "ai-clusters:zones": ["europe-west4-b"],
        "ai-clusters:clusters": [{"name": "mega", "zone": "europe-west4-b", "provisioning": "spot"}],
    }
    # Apply it to a copy of the stack: it resolves, and pre-flight against the same Google Cloud says it fits.
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.ce-a3mega-train.yaml").read_text())
    doc["config"]["gcp:region"], doc["config"]["ai-clusters:zones"] = change["gcp:region"], change["ai-clusters:zones"]
    doc["config"]["ai-clusters:clusters"][0].update(change["ai-clusters:clusters"][0])
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text("name: ai-clusters\nruntime: python\nstackConfigDir: stacks\n")
    (tmp_path / "stacks" / "Pulumi.moved.yaml").write_text(yaml.safe_dump(doc))
    moved = CliRunner().invoke(app, ["preflight", "-s", "moved", "--project-dir", str(tmp_path), "-f", "json"], env=fake.env())
    assert moved.exit_code == 0, moved.stdout
    assert {c["zone_or_region"] for c in json.loads(moved.stdout)["checks"]} >= {"europe-west4-b", "europe-west4"}


def test_already_at_the_best_option_needs_no_edit(fake):
    offer_a3_mega(fake)
    code, text, _ = where(fake, "ce-a3mega-train", "mega", "--regions", "us-east4", "--provisioning", "on-demand", fmt="text")
    assert code == 0 and "best:" in text  # the stack runs in us-central1: moving to us-east4 is the edit
    fake.set_quota_value(COMPUTE, FAMILY, {"region": "us-central1", "gpu_family": "NVIDIA_H100_MEGA"}, 32)
    code, text, _ = where(fake, "ce-a3mega-train", "mega", "--regions", "us-central1", "--provisioning", "on-demand", fmt="text")
    assert code == 0 and "mega is already at the best option: us-central1-a, on-demand" in text and "Stack edit" not in text


def test_no_quota_anywhere_exits_1_and_forbidden_exits_3(fake):
    for zone in catalog().families["a3-mega"].zones:
        fake.offer_machine(zone, "a3-megagpu-8g", cpus=208, gpus=("nvidia-h100-mega-80gb", 8))
    fake.quota_everywhere(0, catalog_metrics(catalog()))
    code, body, _ = where(fake, "ce-a3mega-train", "mega")
    assert code == 1 and not any(o["fits"] for o in body["options"])
    assert all(o["reasons"] for o in body["options"])
    fake.forbidden = True
    code, body, _ = where(fake, "ce-a3mega-train", "mega")
    assert code == 3
    reasons = {r for o in body["options"] for r in o["reasons"]}
    assert any("permission denied: compute.machineTypes.list on project acme-ml-train" in r for r in reasons)
    assert any("permission denied: cloudquotas.quotas.get" in r for r in reasons)
    # the text says a shared reason once, under the table, and never "nothing fits" when nothing could be asked
    code, out, err = where(fake, "ce-a3mega-train", "mega", fmt="text")
    flat = " ".join((out + err).split())
    assert code == 3 and "unknown: see [1] below" in flat and "nothing fits now" not in flat
    assert flat.count("permission denied: compute.machineTypes.list") == 1
    assert "nothing confirmed to fit: some answers could not be had" in flat


def test_an_unreachable_zone_is_unknown_not_missing(fake):
    offer_a3_mega(fake)
    fake.unreachable = {"us-east4-b"}
    code, body, _ = where(fake, "ce-a3mega-train", "mega", "--regions", "us-east4", "--provisioning", "on-demand")
    by_zone = {o["zone"]: o for o in body["options"]}
    assert code == 0 and by_zone["us-east4-a"]["fits"]
    assert not by_zone["us-east4-b"]["fits"] and by_zone["us-east4-b"]["reasons"] == ["unknown: the Compute Engine API could not reach us-east4-b for a3-megagpu-8g; try again later"]


def test_a_zone_without_the_machine_type_does_not_fit(fake):
    offer_a3_mega(fake)
    del fake.machine_types[("us-east4-c", "a3-megagpu-8g")]
    code, body, _ = where(fake, "ce-a3mega-train", "mega", "--regions", "us-east4", "--provisioning", "on-demand")
    by_zone = {o["zone"]: o for o in body["options"]}
    assert by_zone["us-east4-a"]["fits"] and not by_zone["us-east4-c"]["fits"]
    assert by_zone["us-east4-c"]["reasons"][0].startswith("a3-megagpu-8g is not offered in us-east4-c")


# --- the other paths ------------------------------------------------------------------------------

def test_tpu_vm_path_reads_each_zone_and_drops_what_the_path_cannot_do():
    env = load_environment(read_stack_config(find_project(ROOT), "tpu-train"))
    cl = env.clusters[0]
    zones = cl.tpu.generation.zones
    with FakeGoogleCloud(env.spec.project) as fake:
        for z in zones:
            fake.offer_tpu(z, "v5p-32", "2x2x4")
            fake.offer_runtime(z, cl.plan.runtime_version)
        fake.set_quota_value("tpu.googleapis.com", "TPUV5PPreemptiblePerProjectPerZoneForTPUAPI", {"zone": zones[-1]}, 64)
        fake.set_quota_value("tpu.googleapis.com", "TPUV5PPreemptiblePerProjectPerZoneForTPUAPI", {}, 0, locations=[])
        fake.quota_everywhere(0, [])
        code, text, _ = where(fake, "tpu-train", "v5p-train", "--provisioning", "spot,flex-start", fmt="text")
        code_json, body, _ = where(fake, "tpu-train", "v5p-train", "--provisioning", "spot,flex-start")
    assert code == code_json == 0
    assert "note: flex-start: not possible for this cluster: provisioning.model: Google offers no flex-start TPU v5p through Cloud TPU queued resources" in text
    assert body["needed"]["accelerator_type"] == "v5p-32" and body["needed"]["accelerators"] == 16
    assert [o["zone"] for o in body["options"] if o["fits"]] == [zones[-1]]
    assert {o["provisioning"] for o in body["options"]} == {"spot"}
    fit = body["options"][0]
    assert any("per-region preemptible v5p quota" in r for r in fit["reasons"])  # said, not silently passed
    per_chip = catalog().tpu_generation("v5p").prices.get(region_of(zones[-1]))
    assert fit["hourly_usd"] == (pytest.approx(per_chip.spot * 16, abs=1e-3) if per_chip and per_chip.spot else None)


def test_vertex_cluster_is_placed_by_region_on_vertex_quota():
    env = load_environment(read_stack_config(find_project(ROOT), "vertex-serve"))
    with FakeGoogleCloud(env.spec.project) as fake:
        fake.set_quota_value("aiplatform.googleapis.com", "CustomModelServingL4GPUsPerProjectPerRegion", {}, 0, locations=[])
        fake.set_quota_value("aiplatform.googleapis.com", "CustomModelServingL4GPUsPerProjectPerRegion", {"region": "europe-west4"}, 8)
        code, body, _ = where(fake, "vertex-serve", "l4-chat", "--regions", "us-central1,europe-west4,us-east4")
        code_text, text, _ = where(fake, "vertex-serve", "l4-chat", "--regions", "us-central1,europe-west4,us-east4", fmt="text")
        assert Counter(fake.requests) == Counter({"/v1/projects/acme-ml-vertex/locations/global/services/aiplatform.googleapis.com/quotaInfos/CustomModelServingL4GPUsPerProjectPerRegion": 2})
    assert code == code_text == 0
    assert {o["provisioning"] for o in body["options"]} == {"on-demand"}  # deployment resource pools take no Spot or flex-start
    assert "note: spot: a 200 ms latency target keeps on-demand or reserved capacity (policy latency-bound-serving)" in text
    assert {o["region"] for o in body["options"] if o["fits"]} == {"europe-west4"}
    assert body["needed"]["accelerators"] == 4
    no = next(o for o in body["options"] if o["region"] == "us-central1")
    assert no["reasons"] == ["Vertex AI serving NVIDIA_L4 quota in us-central1: 4 GPUs short of 4 (CustomModelServingL4GPUsPerProjectPerRegion: limit 0)"]


def test_gke_tpu_pool_on_compute_engine_quota_per_region():
    env = load_environment(read_stack_config(find_project(ROOT), "gke-tpu-v6e"))
    zones = env.clusters[0].tpu.generation.zones
    with FakeGoogleCloud(env.spec.project) as fake:
        for z in zones:
            fake.offer_machine(z, "ct6e-standard-4t", cpus=180)
        fake.set_quota_value(COMPUTE, "PREEMPTIBLE-TPU-V6E-per-project-region", {}, 0, locations=[])
        fake.set_quota_value(COMPUTE, "PREEMPTIBLE-TPU-V6E-per-project-region", {"region": region_of(zones[0])}, 64)
        fake.set_quota_value(COMPUTE, "TPUS-PER-TPU-FAMILY-per-project-region", {}, 0, locations=[])
        code, body, _ = where(fake, "gke-tpu-v6e", "v6e-train")
    assert code == 0
    assert {(o["region"], o["provisioning"]) for o in body["options"] if o["fits"]} == {(region_of(zones[0]), "spot"), (region_of(zones[0]), "flex-start")}
    od = next(o for o in body["options"] if o["provisioning"] == "on-demand")
    assert "TPUS-PER-TPU-FAMILY-per-project-region tpu_family=CT6E: limit 0" in od["reasons"][0] and "32 chips short of 32" in od["reasons"][0]


def test_a_named_reservation_is_looked_for_in_every_zone_at_once(tmp_path):
    write_stack(tmp_path, "res", [mega_cluster("train", 2, provisioning={"model": "reservation", "reservation": "mega-res"})], project="acme-ml-train")
    with FakeGoogleCloud("acme-ml-train") as fake:
        offer_a3_mega(fake)
        fake.add_reservation("us-east4-b", "mega-res", "a3-megagpu-8g", count=4)
        code, body, _ = where(fake, "res", "train", "--provisioning", "reservation", root=tmp_path)
        assert fake.count("/aggregated/reservations") == 1 and fake.count("/reservations/") == 0
    assert code == 0
    fits = [o["zone"] for o in body["options"] if o["fits"]]
    assert fits == ["us-east4-b"]
    other = next(o for o in body["options"] if o["zone"] == "us-central1-a")
    assert other["reasons"][0].startswith("no reservation mega-res in us-central1-a")


# --- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "args, message",
    [
        (["-c", "nope"], "stack ce-a3mega-train has no cluster 'nope'; its clusters: mega"),
        (["-c", "mega", "--regions", "mars-north1"], "--regions: the catalog lists A3 Mega in no zone of mars-north1; it lists"),
        (["-c", "mega", "--provisioning", "cheap"], "--provisioning: cheap is not a provisioning model; use on-demand, spot, flex-start, reservation"),
        (["-c", "mega", "--provisioning", "reservation"], "cluster mega names no reservation"),
    ],
)
def test_bad_input_exits_2_naming_what_is_allowed(fake, args, message):
    result = CliRunner().invoke(app, ["where", "-s", "ce-a3mega-train", "--project-dir", str(ROOT), *args], env=fake.env())
    assert result.exit_code == 2 and message in " ".join(result.stderr.split()) and "Traceback" not in result.output
    assert fake.requests == []


def test_every_reference_stack_cluster_gets_an_answer():
    """`where` answers for every cluster of every reference stack (plenty of quota everywhere: something fits)."""
    project = find_project(ROOT)
    for stack in project.stacks():
        env = load_environment(read_stack_config(project, stack))
        for cl in env.clusters:
            with FakeGoogleCloud(env.spec.project) as fake:
                _offer_everywhere(fake, cl)
                fake.quota_everywhere(100_000, catalog_metrics(catalog()))
                code, body, _ = where(fake, stack, cl.name, "--provisioning", cl.provisioning.value)
            assert body["options"], (stack, cl.name)
            assert code == 0 and body["options"][0]["fits"], (stack, cl.name, body["options"][:2])


def _offer_everywhere(fake: FakeGoogleCloud, cl: Any, reservation: Optional[str] = None) -> None:
    if cl.tpu is not None:
        for z in cl.tpu.generation.zones:
            fake.offer_tpu(z, cl.tpu.type.name, cl.tpu.type.topology)
            if cl.spec.path.value == "tpu":
                fake.offer_runtime(z, cl.plan.runtime_version)
            elif cl.tpu.generation.gke:
                for m in cl.tpu.generation.gke.machine_types:
                    fake.offer_machine(z, m.name)
        return
    for shape in cl.node_shapes or [cl.shape]:
        for z in shape.zones:
            fake.offer_machine(z, shape.machine_type, gpus=None if shape.attached else (shape.gpu.compute_engine, shape.gpus))
            if cl.spec.provisioning.reservation:
                fake.add_reservation(z, cl.spec.provisioning.reservation, shape.machine_type, count=1000)
