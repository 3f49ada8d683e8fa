"""The cost estimate prices storage and boot disks, and never shows what it does not know as $0."""

import json

import pytest
from typer.testing import CliRunner

from ai_clusters.core.catalog import catalog
from ai_clusters.core.cost import HOURS_PER_MONTH, resource_cost, stack_cost
from ai_clusters.core.enums import ProvisioningModel
from ai_clusters.tooling.cli import app
from ai_clusters.tooling.plan import make_plan
from ai_clusters.tooling.plan import render
from ai_clusters.tooling.plan.sarif import sarif

from .conftest import ROOT

INSTANCE = "gcp:compute/instance:Instance"
TEMPLATE = "gcp:compute/instanceTemplate:InstanceTemplate"
NODE_POOL = "gcp:container/nodePool:NodePool"
DISK = "gcp:compute/disk:Disk"
FILESTORE = "gcp:filestore/instance:Instance"
PARALLELSTORE = "gcp:parallelstore/instance:Instance"
BUCKET = "gcp:storage/bucket:Bucket"


def labels(cluster: str = "c", nodes: int = 1) -> dict:
    return {"ai-cluster": cluster, "ai-nodes": str(nodes), "ai-environment": "test"}


def vm(machine: str, size=200, disk_type="pd-balanced", cluster="c", zone="us-central1-b") -> dict:
    return {"machineType": machine, "zone": zone, "labels": labels(cluster), "bootDisk": {"initializeParams": {"size": size, "type": disk_type}}}


def price(machine: str, region: str = "us-central1") -> float:
    cat = catalog()
    usd, _ = cat.node_price(cat.shape(machine), region, ProvisioningModel.ON_DEMAND)
    return usd


def per_gib_hour(disk_type: str, region: str = "us-central1") -> float:
    return catalog().data.storage.disk(disk_type).prices[region] / HOURS_PER_MONTH


# ---- the core estimate ---------------------------------------------------------------------------

def test_boot_disks_of_every_vm_of_a_template_are_priced():
    template = {
        "machineType": "g2-standard-8",
        "region": "us-central1",
        "labels": labels(nodes=3),
        "disks": [{"boot": True, "diskSizeGb": 200, "diskType": "pd-ssd"}, {"diskSizeGb": 500, "diskType": "pd-balanced"}],
    }
    cost = resource_cost("t", TEMPLATE, template, "us-central1")
    assert cost.compute_usd == pytest.approx(3 * price("g2-standard-8"))
    assert cost.storage_usd == pytest.approx(3 * (200 * per_gib_hour("pd-ssd") + 500 * per_gib_hour("pd-balanced")))
    assert cost.unpriced == []


def test_a_machine_without_a_list_price_is_unpriced_not_free():
    cost = resource_cost("u", INSTANCE, vm("a3-ultragpu-8g", disk_type="hyperdisk-balanced"), "us-central1")
    assert cost.hourly_usd == 0
    assert "no list price for a3-ultragpu-8g (on-demand) in us-central1" in cost.unpriced
    assert "no list price for 200 GiB hyperdisk-balanced boot disk in us-central1" in cost.unpriced


def test_a3_mega_in_us_central1_is_unpriced_and_priced_where_a_source_gives_one():
    central = resource_cost("m", INSTANCE, vm("a3-megagpu-8g"), "us-central1")
    assert central.compute_usd == 0 and any("a3-megagpu-8g" in u for u in central.unpriced)
    east = resource_cost("m", INSTANCE, vm("a3-megagpu-8g", zone="us-east4-a"), "us-east4")
    assert east.compute_usd == pytest.approx(price("a3-megagpu-8g", "us-east4")) and east.unpriced == []


def test_cpu_vms_are_priced_from_the_catalog_and_gke_default_boot_disks_are_listed_as_unpriced():
    cost = resource_cost("ctl", INSTANCE, vm("n2-standard-8", 100, "pd-ssd"), "us-central1")
    listed = catalog().data.cpu_machine_prices.machines["n2-standard-8"]["us-central1"].on_demand
    assert cost.unpriced == [] and cost.compute_usd == pytest.approx(listed)
    assert cost.storage_usd == pytest.approx(100 * per_gib_hour("pd-ssd"))
    spot = resource_cost("s", INSTANCE, vm("e2-standard-4") | {"scheduling": {"provisioningModel": "SPOT", "preemptible": True}}, "us-central1")
    assert spot.compute_usd == pytest.approx(catalog().data.cpu_machine_prices.machines["e2-standard-4"]["us-central1"].spot)
    unknown = resource_cost("m", INSTANCE, vm("m3-ultramem-32"), "us-central1")
    assert unknown.unpriced == ["no list price for m3-ultramem-32 in the catalog"]
    n1 = resource_cost("n1", INSTANCE, vm("n1-standard-8"), "us-central1")
    n1_usd, _ = catalog().cpu_machine_price("n1-standard-8", "us-central1", ProvisioningModel.ON_DEMAND)
    assert n1.compute_usd == pytest.approx(n1_usd) and n1.unpriced == []
    pool = {"nodeConfig": {"machineType": "g2-standard-8", "resourceLabels": labels()}, "autoscaling": {"maxNodeCount": 2}, "nodeLocations": ["us-central1-b"]}
    cost = resource_cost("p", NODE_POOL, pool, "us-central1")
    assert cost.compute_usd == pytest.approx(2 * price("g2-standard-8"))
    assert cost.unpriced == ["boot disk: size and type not set (the service's default), not priced"]


def test_file_systems_are_priced_where_the_catalog_has_a_price_and_unpriced_where_not():
    filestore = {"tier": "ZONAL", "location": "us-central1-b", "fileShares": {"capacityGb": 2560}, "labels": labels()}
    cost = resource_cost("f", FILESTORE, filestore, "us-central1")
    assert cost.storage_usd == 0 and cost.unpriced == ["no list price for Filestore ZONAL 2,560 GiB in us-central1"]
    ps = {"capacityGib": 12000, "location": "us-central1-a", "labels": labels()}
    cost = resource_cost("p", PARALLELSTORE, ps, "us-central1")
    per_month = catalog().data.storage.parallelstore.prices["us-central1"]
    assert cost.storage_usd == pytest.approx(12000 * per_month / HOURS_PER_MONTH) and cost.unpriced == []


def test_data_disks_are_priced_by_type():
    cost = resource_cost("d", DISK, {"type": "pd-balanced", "size": 200, "zone": "europe-west4-a", "labels": labels()}, "europe-west4")
    assert cost.storage_usd == pytest.approx(200 * per_gib_hour("pd-balanced", "europe-west4"))
    ml = resource_cost("d", DISK, {"type": "hyperdisk-ml", "size": 100, "zone": "us-central1-a", "labels": labels()}, "us-central1")
    assert ml.storage_usd == 0 and ml.unpriced == ["no list price for Hyperdisk ML 100 GiB in us-central1"]


def test_buckets_are_billed_by_use_and_do_not_make_the_total_a_lower_bound():
    cost = stack_cost(
        [("vm", INSTANCE, vm("g2-standard-8")), ("b", BUCKET, {"location": "US-CENTRAL1", "labels": labels()})], "us-central1"
    )
    assert cost.complete and cost.unpriced == []
    [note] = cost.billed_by_use
    assert note.cluster == "c" and note.reason == "Cloud Storage bucket (Standard storage 0.02 $/GiB-month in us-central1)"
    assert cost.by_cluster["c"].billed_by_use == [note.reason]
    assert cost.hourly_usd == pytest.approx(price("g2-standard-8") + 200 * per_gib_hour("pd-balanced"))


def test_a_cluster_with_nothing_priced_still_has_its_row_and_says_what_is_missing():
    cost = stack_cost(
        [("ultra", INSTANCE, vm("a3-ultragpu-8g", disk_type="hyperdisk-balanced", cluster="ultra")), ("g2", INSTANCE, vm("g2-standard-8", cluster="serve"))], "us-central1"
    )
    assert set(cost.by_cluster) == {"ultra", "serve"}
    ultra = cost.by_cluster["ultra"]
    assert ultra.hourly_usd == 0 and not ultra.complete and ultra.unpriced
    assert cost.by_cluster["serve"].complete and not cost.complete
    assert {u.cluster for u in cost.unpriced} == {"ultra"}


# ---- every format of the plan says what is unpriced ----------------------------------------------

@pytest.fixture(scope="module")
def prod():
    return make_plan("prod", ROOT)


def test_markdown_lists_the_unpriced_cluster_and_says_at_least(prod):
    md = render.markdown(prod)
    cost = prod.cost
    ultra = cost.by_cluster["train-ultra"]
    assert not ultra.complete
    assert f"| train-ultra | {ultra.hours_per_month:g} | at least $0.00 | at least $0.00 | {len(ultra.unpriced)} |" in md
    assert f"| **total** | | **at least ${cost.hourly_usd:,.2f}** |" in md
    assert "**Not priced**" in md
    assert "- train-ultra: no list price for a3-ultragpu-8g (reservation) in us-central1 (16 resources)" in md
    assert "Billed by use, not estimated" in md and "Cloud Storage bucket" in md


def test_json_has_the_unpriced_parts_per_resource_and_per_cluster(prod):
    doc = prod.to_json()["cost"]
    assert doc["complete"] is False
    assert doc["by_cluster"]["train-ultra"]["complete"] is False
    assert "no list price for a3-ultragpu-8g (reservation) in us-central1" in doc["by_cluster"]["train-ultra"]["unpriced"]
    urns = {u["urn"] for u in doc["unpriced"] if u["cluster"] == "train-ultra"}
    assert any(urn.endswith("::train-ultra-0") for urn in urns)
    assert all(set(u) == {"urn", "cluster", "reason"} for u in doc["unpriced"] + doc["billed_by_use"])
    json.dumps(doc)


def test_sarif_notes_each_unpriced_part(prod):
    notes = [r for r in sarif(prod)["runs"][0]["results"] if r["ruleId"] == "unpriced-cost"]
    assert any("train-ultra: no list price for a3-ultragpu-8g" in r["message"]["text"] for r in notes)


def test_text_output_of_a_stack_with_only_unpriced_accelerators():
    result = CliRunner().invoke(app, ["plan", "--stack", "ce-a3ultra-rdma", "--no-policy", "--project-dir", str(ROOT)])
    assert result.exit_code == 0, result.output
    assert "at least $0.00" in result.output and "Not priced (the totals above are lower bounds):" in result.output
    assert "ultra: no list price for a3-ultragpu-8g (reservation) in us-central1 (8 resources)" in result.output
    md = CliRunner().invoke(app, ["plan", "--stack", "ce-a3ultra-rdma", "--no-policy", "--format", "markdown", "--project-dir", str(ROOT)])
    assert "**at least $0.00**" in md.output


def test_a_gke_cluster_costs_its_management_fee_and_says_when_the_free_tier_may_cover_it():
    fee = catalog().data.gke.management_fee
    regional = resource_cost("c", "gcp:container/cluster:Cluster", {"location": "us-central1", "resourceLabels": labels()}, "us-central1")
    assert regional.compute_usd == pytest.approx(fee.usd_per_hour) == pytest.approx(0.10) and regional.unpriced == []
    assert "free tier" not in regional.detail, "the credit never covers a regional cluster"
    zonal = resource_cost("c", "gcp:container/cluster:Cluster", {"location": "us-central1-a"}, "us-central1")
    assert zonal.compute_usd == pytest.approx(0.10) and "free tier" in zonal.detail
