"""`ai-clusters catalog refresh`: Google's real clients against the fake on 127.0.0.1 find planted drift."""

import copy
import datetime
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from ai_clusters.core.catalog import parse_catalog
from ai_clusters.tooling.catalog_refresh import REFRESH_APIS, refresh
from ai_clusters.tooling.catalog_refresh.prices import COMPUTE_SERVICE
from ai_clusters.tooling.cli import app
from ai_clusters.tooling.preflight import Connection

from .fake_gcloud import FakeGoogleCloud, mirror_catalog, permission_denied, service_disabled
from .test_catalog import DATA

PROJECT = "acme-catalog"
KEYS = {"kind", "family", "machine_type", "zone", "catalog", "google", "source"}


@pytest.fixture(scope="module")
def known_text() -> str:
    """The catalog, with the one host shape no public listing gives filled in (so that a mirror matches it)."""
    text = DATA.read_text()
    return text.replace("    - name: ct4p-hightpu-4t\n      chips: 4\n", "    - name: ct4p-hightpu-4t\n      chips: 4\n      vcpus: 240\n      memory_gb: 407\n")


@pytest.fixture()
def known(known_text):
    return parse_catalog(known_text)


@pytest.fixture()
def fake(known):
    with FakeGoogleCloud(PROJECT, page_size=40) as f:
        mirror_catalog(f, known)
        yield f


def run(fake: FakeGoogleCloud, cat, **kw):
    return refresh(PROJECT, Connection.from_env(fake.env(), apis=REFRESH_APIS), cat=cat, **kw)


def kinds(report) -> dict[str, list]:
    out: dict[str, list] = {}
    for d in report.differences:
        out.setdefault(d.kind, []).append(d)
    return out


def test_a_catalog_google_agrees_with_has_no_difference(fake, known):
    report = run(fake, known)
    assert report.could_not_ask == []
    assert report.differences == [] and report.exit_code == 0
    # every page of the aggregated lists was read, with the catalog's name stems as the filter
    pages = [q for q in fake.queries if q["path"].endswith("/aggregated/machineTypes")]
    assert len(pages) > 5 and all('"(a2-highgpu|' in q["filter"] for q in pages)
    assert sum(1 for q in fake.queries if q["path"].endswith("/skus")) > 1, "SKUs are paged too"


def test_planted_drift_is_found_kind_by_kind(fake, known):
    fake.offer_machine("us-east4-b", "a4x-highgpu-4g", cpus=140, memory_gb=884, gpus=("nvidia-gb200", 4))  # a zone added
    del fake.machine_types[("us-west1-b", "a3-megagpu-8g")]  # a zone gone
    for (zone, name), body in fake.machine_types.items():
        if name == "a3-highgpu-8g":
            body["memoryMb"] = 1900 * 1024  # a shape changed
    fake.offer_machine("us-central1-b", "a4-highgpu-8g-lowmem", cpus=224, memory_gb=1488, gpus=("nvidia-b200", 8))  # a type the catalog lacks
    fake.offer_machine("us-central1-b", "n2-standard-8", cpus=8)  # not a family the catalog knows: filtered out
    fake.offer_accelerator("us-central1-a", "nvidia-h300-141gb", 8)  # an accelerator nobody knows
    fake.offer_accelerator("us-central1-a", "nvidia-tesla-t4-vws", 4)  # a workstation licence of a known GPU: ignored
    fake.offer_tpu("us-east5-a", "v6e-512", "16x32")  # a TPU type added
    for zone in list(fake.tpu_runtimes):
        if "v2-alpha-tpuv6e" in fake.tpu_runtimes[zone]:
            fake.tpu_runtimes[zone].remove("v2-alpha-tpuv6e")  # a runtime gone
    t4 = next(s for s in fake.skus[COMPUTE_SERVICE] if s["description"] == "Nvidia Tesla T4 GPU running in us-central1")
    t4["pricingInfo"][0]["pricingExpression"]["tieredRates"][0]["unitPrice"]["nanos"] = 390_000_000  # 0.35 -> 0.39: +11 %

    report = run(fake, known)
    found = kinds(report)
    assert report.exit_code == 1 and report.could_not_ask == []
    [added] = [d for d in found["zone-added"] if d.machine_type == "a4x-highgpu-4g"]
    assert (added.family, added.zone, added.catalog, added.google) == ("a4x", "us-east4-b", None, "us-east4-b")
    assert [(d.machine_type, d.zone) for d in found["zone-gone"]] == [("a3-megagpu-8g", "us-west1-b")]
    [shape] = found["shape"]
    assert (shape.machine_type, shape.catalog, shape.google) == ("a3-highgpu-8g", "208 vCPU, 1872 GB, 8 GPU", "208 vCPU, 1900 GB, 8 GPU")
    [new_type] = found["machine-type-added"]
    assert new_type.family == "a4" and new_type.machine_type == "a4-highgpu-8g-lowmem" and "224 vCPU, 1488 GB, 8 GPU" in new_type.google
    assert [d.machine_type for d in found["accelerator-added"]] == ["nvidia-h300-141gb"]
    assert [(d.family, d.machine_type) for d in found["tpu-type-added"]] == [("v6e", "v6e-512")]
    assert [(d.family, d.machine_type) for d in found["runtime-gone"]] == [("v6e", "v2-alpha-tpuv6e")]
    [price] = found["price"]
    assert (price.family, price.machine_type, price.zone, price.catalog, price.google) == (
        "n1-t4", "nvidia-tesla-t4", "us-central1", {"on-demand": 0.35}, {"on-demand": 0.39}
    )
    assert all(set(d.to_json()) == KEYS for d in report.differences)


def test_a_price_google_now_has_where_the_catalog_has_none_is_reported(fake, known):
    """A3 Mega in us-central1: unpriced in the catalog; once the Billing Catalog has all its SKUs, the refresh says so."""
    fam = known.family("a3-mega")
    mt = fam.machine_types[0]
    parts = {"A3 Instance Core running in Americas": ("CPU", 0.03, "h"), "A3 Instance Ram running in Americas": ("RAM", 0.002, "GiBy.h"),
             "Nvidia H100 80GB Mega GPU running in Americas": ("GPU", 10.0, "h"), "SSD backed Local Storage in Americas": ("LocalSSD", 0.08, "GiBy.mo")}
    for description, (group, usd, unit) in parts.items():
        fake.add_sku(COMPUTE_SERVICE, description, group, ["us-central1", "us-east5"], usd, unit=unit)
    report = run(fake, known)
    [added] = [d for d in report.differences if d.kind == "price-added" and d.machine_type == mt.name]
    expected = mt.vcpus * 0.03 + mt.memory_gb * 0.002 + mt.gpus * 10.0 + mt.local_ssd_gb * 0.08 / 730
    assert added.zone == "us-central1" and added.google == {"on-demand": pytest.approx(expected, abs=1e-4)}
    assert not [d for d in report.differences if d.kind == "price-added" and d.zone == "us-east5"], "us-east5 is priced for no A3 Mega type"


def test_an_unreachable_zone_is_not_taken_for_a_gone_one(fake, known):
    fake.unreachable.add("us-west1-b")
    for key in [k for k in fake.machine_types if k[0] == "us-west1-b"]:
        del fake.machine_types[key]
    report = run(fake, known)
    assert report.exit_code == 3
    assert report.could_not_ask == ["the Compute Engine API could not reach zone us-west1-b: its machine types were not compared"]
    assert not [d for d in report.differences if d.zone == "us-west1-b"]
    from ai_clusters.tooling.catalog_refresh.render import markdown

    assert "incomplete: 1 part(s) could not be asked" in markdown(report) or "not compared: 1 part(s)" in markdown(report)


def cli(fake, *args: str):
    result = CliRunner().invoke(app, ["catalog", "refresh", "--project", PROJECT, "--timeout", "5", *args], env=fake.env())
    assert "Traceback" not in result.output
    return result


def test_cli_json_contract_and_exit_codes(fake, known_text, tmp_path):
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(known_text)
    clean = cli(fake, "--format", "json", "--catalog", str(catalog))
    assert clean.exit_code == 0, clean.output
    doc = json.loads(clean.stdout)
    assert doc["read_on"] == datetime.date.today().isoformat() and doc["differences"] == []
    del fake.machine_types[("us-west1-b", "a3-megagpu-8g")]
    drift = cli(fake, "--format", "json", "--catalog", str(catalog))
    assert drift.exit_code == 1
    [d] = json.loads(drift.stdout)["differences"]
    assert d == {"kind": "zone-gone", "family": "a3-mega", "machine_type": "a3-megagpu-8g", "zone": "us-west1-b",
                 "catalog": "us-west1-b", "google": None, "source": "compute.googleapis.com machineTypes.aggregatedList"}
    md = cli(fake, "--format", "markdown", "--catalog", str(catalog))
    assert md.exit_code == 1 and "| zone-gone | a3-mega | a3-megagpu-8g | us-west1-b |" in md.stdout


@pytest.mark.parametrize(
    "path, body, line",
    [
        (r"/aggregated/machineTypes$", permission_denied("compute.machineTypes.list", f"projects/{PROJECT}"),
         f"permission denied: compute.machineTypes.list on project {PROJECT} (grant roles/compute.viewer"),
        (r"/v1/services/.*/skus$", service_disabled("cloudbilling.googleapis.com", PROJECT),
         f"the Cloud Billing API is not enabled in project {PROJECT}: gcloud services enable cloudbilling.googleapis.com --project {PROJECT}"),
    ],
)
def test_what_cannot_be_asked_is_one_line_and_exit_3(fake, known_text, tmp_path, path, body, line):
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(known_text)
    fake.fail(path, 403, body)
    result = cli(fake, "--catalog", str(catalog), "--write")
    assert result.exit_code == 3
    assert line in result.stderr
    assert "nothing written" in result.stderr and catalog.read_text() == known_text


def test_no_prices_does_not_ask_the_billing_api(fake, known_text, tmp_path):
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(known_text)
    fake.fail(r"/skus$", 403, service_disabled("cloudbilling.googleapis.com", PROJECT))
    assert cli(fake, "--catalog", str(catalog), "--no-prices").exit_code == 0
    assert fake.count("/skus") == 0


def test_anonymous_mode_needs_the_billing_endpoint_too(fake):
    env = {k: v for k, v in fake.env().items() if k != "AI_CLUSTERS_BILLING_ENDPOINT"}
    result = CliRunner().invoke(app, ["catalog", "refresh", "--project", PROJECT], env=env)
    assert result.exit_code == 2 and "AI_CLUSTERS_BILLING_ENDPOINT" in result.output


def test_write_updates_zones_and_shapes_keeps_everything_else_and_a_second_run_is_clean(fake, known_text, tmp_path):
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(known_text)
    fake.offer_machine("us-east4-b", "a4x-highgpu-4g", cpus=140, memory_gb=884, gpus=("nvidia-gb200", 4))
    fake.offer_machine("us-east4-b", "a4x-highgpu-4g-nolssd", cpus=140, memory_gb=884, gpus=("nvidia-gb200", 4))
    fake.offer_machine("europe-west4-c", "a4x-highgpu-4g", cpus=140, memory_gb=884, gpus=("nvidia-gb200", 4))  # only the base type
    for (zone, name), body in fake.machine_types.items():
        if name == "g2-standard-4":
            body["memoryMb"] = 17 * 1024
    fake.offer_accelerator("us-east1-d", "nvidia-tesla-v100", 8)
    fake.offer_tpu("us-east1-c", "v5litepod-8", "2x4")
    fake.tpu_zones.append("us-east1-c")

    first = cli(fake, "--write", "--catalog", str(catalog), "--format", "json")
    assert first.exit_code == 1, first.output
    written = json.loads(first.stdout)["written"]
    assert written == str(catalog)
    new_text = catalog.read_text()
    old, new = yaml.safe_load(known_text), yaml.safe_load(new_text)
    a4x = next(f for f in new["gpu_families"] if f["id"] == "a4x")
    assert a4x["zones"] == ["europe-west4-c", "us-central1-a", "us-east4-b"]
    assert a4x["zones_as_of"] == datetime.date.today() and a4x["listed_regions"] == ["europe-west4", "us-central1", "us-east4"]
    nolssd = next(m for m in a4x["machine_types"] if m["name"] == "a4x-highgpu-4g-nolssd")
    assert nolssd["zones"] == ["us-central1-a", "us-east4-b"], "a type offered in fewer zones than its family lists its own"
    g2 = next(f for f in new["gpu_families"] if f["id"] == "g2")
    assert next(m for m in g2["machine_types"] if m["name"] == "g2-standard-4")["memory_gb"] == 17
    v100 = next(g for g in new["n1_attachable_gpus"] if g["gpu"]["compute_engine"] == "nvidia-tesla-v100")
    assert "us-east1-d" in v100["zones"]
    assert "us-east1-c" in next(g for g in new["tpu_generations"] if g["id"] == "v5e")["zones"]
    sid = f"google-apis-{PROJECT}-{datetime.date.today().isoformat()}"
    assert PROJECT in new["sources"][sid]["title"] and new["sources"][sid]["read_on"] == datetime.date.today()
    assert sid in a4x["sources"] and sid in g2["sources"] and sid in v100["sources"]
    assert new["read_on"] == datetime.date.today().isoformat()
    # nothing else moved: comments, notes and every untouched entry are as they were
    assert [line for line in known_text.splitlines() if line.lstrip().startswith("#")] == [line for line in new_text.splitlines() if line.lstrip().startswith("#")]
    for fam_old, fam_new in zip(old["gpu_families"], new["gpu_families"]):
        assert fam_old.get("notes") == fam_new.get("notes")
        if fam_old["id"] not in ("a4x", "g2"):
            assert fam_old == fam_new
    assert old["quotas"] == new["quotas"] and old["nccl"] == new["nccl"] and old["storage"] == new["storage"]
    parse_catalog(new_text)

    second = cli(fake, "--catalog", str(catalog), "--format", "json")
    assert second.exit_code == 0, second.stdout
    assert json.loads(second.stdout)["differences"] == []


def test_without_credentials_it_says_so_in_one_line_and_asks_nothing(fake, tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "CLOUDSDK_", "AI_CLUSTERS_", "GCE_"))}
    env.update(fake.env(anonymous=False))
    env.update(HOME=str(tmp_path / "home"), CLOUDSDK_CONFIG=str(tmp_path / "gcloud"), NO_GCE_CHECK="true",
               GCE_METADATA_HOST="127.0.0.1:9", GCE_METADATA_IP="127.0.0.1:9")
    cli_path = Path(sys.executable).with_name("ai-clusters")
    done = subprocess.run([str(cli_path), "catalog", "refresh", "--project", PROJECT, "-f", "json"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if line.startswith("could not ask:")]
    assert len(lines) == 1 and "no credentials: Application Default Credentials are not set up" in lines[0]
    assert json.loads(done.stdout)["differences"] == [] and fake.requests == []
    text = subprocess.run([str(cli_path), "catalog", "refresh", "--project", PROJECT], env=env, capture_output=True, text=True, timeout=120)
    assert text.returncode == 3 and "no difference" not in text.stdout, "nothing was compared"
    assert "not compared: 1 part(s) of Google could not be asked" in " ".join(text.stdout.split())
