"""The catalog: one data file, validated on load, every entry sourced, the facts the paths rely on."""

import copy
import datetime
from importlib import resources

import pytest
import yaml
from pydantic import ValidationError

from ai_clusters.core.catalog import CatalogError, catalog
from ai_clusters.core.catalog.models import CatalogData
from ai_clusters.core.enums import GpuDirect, NicType, ProvisioningModel

from .conftest import ROOT

DATA = ROOT / "components" / "core" / "catalog" / "data" / "catalog.yaml"
US_EU = ("us-", "europe-")


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(DATA.read_text())


def test_every_entry_cites_sources_that_exist_with_a_date(raw):
    cat = catalog()
    assert cat.data.sources, "the catalog lists its sources"
    for sid, src in cat.data.sources.items():
        assert src.url.startswith("https://"), sid
        assert datetime.date(2026, 11, 23) <= src.read_on <= cat.data.read_on, sid
    assert cat.data.read_on == max(src.read_on for src in cat.data.sources.values()), "the file is dated by its newest reading"
    for fam in cat.data.gpu_families:
        assert fam.sources and all(s in cat.data.sources for s in fam.sources)
    for gen in cat.data.tpu_generations:
        assert gen.sources and all(s in cat.data.sources for s in gen.sources)


def test_a_citation_of_an_unknown_source_fails_validation(raw):
    bad = copy.deepcopy(raw)
    bad["gpu_families"][0]["sources"].append("no-such-source")
    with pytest.raises(ValidationError, match="no-such-source"):
        CatalogData.model_validate(bad)


def test_a_machine_type_listed_twice_fails_validation(raw):
    bad = copy.deepcopy(raw)
    bad["gpu_families"][1]["machine_types"].append(dict(bad["gpu_families"][0]["machine_types"][0]))
    with pytest.raises(ValidationError, match="listed twice"):
        CatalogData.model_validate(bad)


def test_a_tpu_type_whose_topology_does_not_match_its_chips_fails(raw):
    bad = copy.deepcopy(raw)
    gen = next(g for g in bad["tpu_generations"] if g["id"] == "v5e")
    gen["accelerator_types"][3]["topology"] = "4x8"  # v5litepod-16 is 4x4
    with pytest.raises(ValidationError, match="topology 4x8 has 32 chips"):
        CatalogData.model_validate(bad)


@pytest.mark.parametrize(
    "family, machines",
    [
        ("a4x-max", {"a4x-maxgpu-4g-metal"}),
        ("a4x", {"a4x-highgpu-4g", "a4x-highgpu-4g-nolssd"}),
        ("a4", {"a4-highgpu-8g"}),
        ("a3-ultra", {"a3-ultragpu-8g", "a3-ultragpu-8g-nolssd"}),
        ("a3-mega", {"a3-megagpu-8g"}),
        ("a3-high", {"a3-highgpu-1g", "a3-highgpu-2g", "a3-highgpu-4g", "a3-highgpu-8g"}),
        ("a3-edge", {"a3-edgegpu-8g", "a3-edgegpu-8g-nolssd"}),
        ("a2-high", {"a2-highgpu-1g", "a2-highgpu-2g", "a2-highgpu-4g", "a2-highgpu-8g", "a2-megagpu-16g"}),
        ("a2-ultra", {"a2-ultragpu-1g", "a2-ultragpu-2g", "a2-ultragpu-4g", "a2-ultragpu-8g"}),
        ("g2", {f"g2-standard-{n}" for n in (4, 8, 12, 16, 24, 32, 48, 96)}),
        ("g4", {f"g4-standard-{n}" for n in (6, 12, 24, 48, 96, 192, 384)}),
    ],
)
def test_every_family_has_its_machine_types_and_us_eu_zones(family, machines):
    fam = catalog().family(family)
    assert {m.name for m in fam.machine_types} == machines
    assert any(z.startswith("us-") for z in fam.zones), f"{family} has no US zone"
    if family not in ("a4x", "a4x-max"):  # no European zone named by a source read (A4X: europe-west4 region listed)
        assert any(z.startswith("europe-") for z in fam.zones), f"{family} has no EU zone"


@pytest.mark.parametrize(
    "family, gpudirect, gvnics, gpu_nics, nic_type, mtu, roce",
    [
        ("a4x", GpuDirect.RDMA, 2, 4, NicType.MRDMA, 8896, True),
        ("a4", GpuDirect.RDMA, 2, 8, NicType.MRDMA, 8896, True),
        ("a3-ultra", GpuDirect.RDMA, 2, 8, NicType.MRDMA, 8896, True),
        ("a3-mega", GpuDirect.TCPXO, 1, 8, NicType.GVNIC, 8244, False),
        ("a3-high", GpuDirect.TCPX, 1, 4, NicType.GVNIC, 8244, False),
        ("g2", GpuDirect.NONE, 1, 0, None, None, False),
        ("a2-ultra", GpuDirect.NONE, 1, 0, None, None, False),
    ],
)
def test_nic_layouts_match_googles_documented_ones(family, gpudirect, gvnics, gpu_nics, nic_type, mtu, roce):
    fam = catalog().family(family)
    assert fam.gpudirect == gpudirect
    assert (fam.network.gvnics, fam.network.gpu_nics, fam.network.gpu_nic_type) == (gvnics, gpu_nics, nic_type)
    assert fam.network.gpu_mtu == mtu
    assert fam.network.rdma_network_profile is roce


def test_provisioning_limits_of_the_families_sold_without_plain_on_demand():
    cat = catalog()
    assert cat.family("a4x").provisioning == [ProvisioningModel.RESERVATION]
    for fid in ("a4", "a3-ultra"):
        assert ProvisioningModel.ON_DEMAND not in cat.family(fid).provisioning
    for small in ("a3-highgpu-1g", "a3-highgpu-2g", "a3-highgpu-4g"):
        assert set(cat.shape(small).provisioning) == {ProvisioningModel.SPOT, ProvisioningModel.FLEX_START}
    assert ProvisioningModel.ON_DEMAND in cat.shape("a3-highgpu-8g").provisioning


def test_gpu_names_per_api():
    cat = catalog()
    assert cat.family("a3-mega").gpu.vertex == "NVIDIA_H100_MEGA_80GB"
    assert cat.family("a3-ultra").gpu.compute_engine == "nvidia-h200-141gb"
    assert cat.family_of_gpu("NVIDIA_L4").id == "g2"
    assert cat.family_of_gpu("nvidia-tesla-t4").id == "n1-t4"


def test_n1_shapes_enforce_counts_and_vcpu_limits():
    cat = catalog()
    with pytest.raises(CatalogError, match="counts of 1, 2, 4 per VM, not 3"):
        cat.n1_shape("n1-standard-8", "nvidia-tesla-t4", 3)
    shape = cat.n1_shape("n1-standard-8", "nvidia-tesla-t4", 2)
    assert shape.attached and shape.gpus == 2 and shape.family.id == "n1-t4"


def test_unknown_machine_type_names_close_matches():
    with pytest.raises(CatalogError, match="did you mean a3-megagpu-8g"):
        catalog().shape("a3-megagpu-4g")


@pytest.mark.parametrize("gen, prefix, counts", [("v5e", "v5litepod", "chips"), ("v5p", "v5p", "tensorcores"), ("v6e", "v6e", "chips"), ("v4", "v4", "tensorcores")])
def test_tpu_generations(gen, prefix, counts):
    g = catalog().tpu_generation(gen)
    assert g.accelerator_type_prefix == prefix and g.accelerator_type_counts == counts
    assert g.runtime_versions["jax"], "a JAX runtime"
    assert g.gke and g.gke.machine_types
    assert any(z.startswith("us-") for z in g.zones)


def test_tpu_slices_by_type_and_topology():
    cat = catalog()
    s = cat.tpu_slice("v5litepod-16")
    assert (s.chips, s.vms, s.type.topology) == (16, 4, "4x4")
    assert cat.tpu_slice_for("v5p", "2x2x2").type.name == "v5p-16"
    with pytest.raises(CatalogError, match="topology '3x3' does not exist for TPU v5e"):
        cat.tpu_slice_for("v5e", "3x3")


# ---- `ai-clusters catalog` -----------------------------------------------------------------------

def _catalog_cli(*args: str):
    import json

    from typer.testing import CliRunner

    from ai_clusters.tooling.cli import app

    result = CliRunner().invoke(app, ["catalog", *args])
    return result, (json.loads(result.output) if result.exit_code == 0 and "--json" in args else None)


def test_catalog_command_prints_a_family_with_its_facts_prices_and_sources():
    _, rows = _catalog_cli("--family", "a3-mega", "--region", "us-east4", "--json")
    [row] = rows
    assert row["machine_type"] == "a3-megagpu-8g" and row["vcpus"] == 208
    assert row["network"].startswith("tcpxo: 1 gVNIC + 8 GVNIC")
    assert row["price_region"] == "us-east4" and row["on_demand_usd"] > row["spot_usd"] > 0
    assert row["zones_as_of"] == "2026-02-12"
    assert row["sources"] and all(s.startswith("https://") for s in row["sources"])
    text, _ = _catalog_cli("--family", "a3-mega")
    assert text.exit_code == 0 and "a3-megagpu-8g" in text.output and f"read {catalog().data.read_on}" in text.output


def test_catalog_command_filters_by_workload_and_zone():
    _, graphics = _catalog_cli("--workload", "graphics", "--zone", "europe-west4-a", "--json")
    assert {r["family"] for r in graphics} == {"g2", "g4", "n1-t4"}
    _, pretraining = _catalog_cli("--workload", "pretraining", "--json")
    families = {r["family"] for r in pretraining}
    assert {"a3-mega", "a3-ultra", "v5p", "v6e"} <= families and not families & {"g2", "n1-t4"}


def test_catalog_command_refuses_an_unknown_family_naming_the_allowed_ones():
    result, _ = _catalog_cli("--family", "h100")
    assert result.exit_code == 2
    assert "'h100' is not a family in the catalog" in result.output and "a3-mega" in result.output


# ---- corrections of the catalog audit (issue 19), each with the source the catalog cites ----------

def test_flex_start_is_offered_only_where_google_offers_it():
    """Flex-start supports accelerator-optimized types except A4X and G4 (and H4D): not G4, not N1 GPUs."""
    cat = catalog()
    cites = "flex-start-supported-types"
    for fid in ("g4", "a4x", "a4x-max", "n1-t4", "n1-v100", "n1-p100", "n1-p4"):
        fam = cat.family(fid)
        assert ProvisioningModel.FLEX_START not in fam.provisioning, fid
        assert cites in fam.sources, f"{fid} cites the flex-start page"
    for shape in (cat.shape(mt.name) for mt in cat.family("g4").machine_types):
        assert ProvisioningModel.FLEX_START not in shape.provisioning
    assert ProvisioningModel.FLEX_START in cat.family("a3-mega").provisioning


def test_a3_mega_has_no_invented_us_central1_price():
    cat = catalog()
    shape = cat.shape("a3-megagpu-8g")
    assert cat.node_price(shape, "us-central1", ProvisioningModel.ON_DEMAND) == (None, None)
    price, where = cat.node_price(shape, "us-east4", ProvisioningModel.ON_DEMAND)
    assert where == "us-east4" and price == pytest.approx(92.93759)


def test_no_spot_quota_id_for_the_reservation_only_gb200():
    gb200 = next(g for g in catalog().data.quotas.gpus if g.gpu == "nvidia-gb200")
    assert gb200.preemptible_quota_id is None and gb200.preemptible_metric is None
    assert "PREEMPTIBLE-NVIDIA-GB200" not in DATA.read_text()


def test_a4x_zones_say_how_old_they_are_and_which_regions_google_lists():
    a4x = catalog().family("a4x")
    assert a4x.zones_as_of == datetime.date(2026, 2, 12)
    assert set(a4x.listed_regions) == {"europe-west4", "us-central1", "us-east1", "us-east4"}
    assert "cyclenerd-machinetype-regions" in a4x.sources


def test_v4_reaches_its_4096_chip_pod_and_tpu_slices_count_vms():
    cat = catalog()
    pod = cat.tpu_slice("v4-8192")
    assert (pod.chips, pod.type.topology, pod.vms) == (4096, "16x16x16", 1024)
    assert max(t.chips for t in cat.tpu_generation("v4").accelerator_types) == 4096
    # v5e: a multi-host slice runs on 4-chip VMs (Google's table counts 8-chip hosts: 16 chips = 2 hosts)
    assert [cat.tpu_slice(n).vms for n in ("v5litepod-8", "v5litepod-16", "v5litepod-256")] == [1, 4, 64]
    assert cat.tpu_slice("v5litepod-16").chips_per_vm == 4


def test_tpu_host_shapes_where_a_listing_gives_them():
    gke = {m.name: m for g in catalog().data.tpu_generations if g.gke for m in g.gke.machine_types}
    assert (gke["tpu7x-standard-4t"].vcpus, gke["tpu7x-standard-4t"].memory_gb) == (224, 960)
    assert (gke["ct6e-standard-8t"].vcpus, gke["ct6e-standard-8t"].memory_gb) == (360, 1440)
    assert gke["ct4p-hightpu-4t"].vcpus is None, "no public listing gives the v4 host shape"


def test_p100_x4_is_smaller_in_three_zones():
    p100 = catalog().n1_gpus["nvidia-tesla-p100"]
    for zone in ("us-east1-c", "europe-west1-d", "europe-west1-b"):
        assert not p100.allows(4, 96, 360, zone)
        assert p100.allows(4, 64, 208, zone)
    assert p100.allows(4, 96, 624, "us-central1-c")
    assert not p100.allows(4, 96, 625, "us-central1-c")


def test_a_machine_type_with_its_own_zones_counts_in_the_familys_zones():
    g4 = catalog().family("g4")
    assert "us-central1-b" in g4.zones and set(g4.zones) <= set(g4.all_zones)
    assert set(g4.all_zones) == set(g4.zones).union(*(mt.zones or [] for mt in g4.machine_types))


def test_a4x_max_is_modelled_as_google_documents_it_and_refused_by_the_paths():
    cat = catalog()
    fam = cat.family("a4x-max")
    net = fam.network
    assert fam.bare_metal and fam.gpu.compute_engine == "nvidia-gb300" and fam.provisioning == [ProvisioningModel.RESERVATION]
    assert (net.gvnics, net.host_nic_type, net.gpu_nics, net.gpu_nic_type, net.gpu_stack_type) == (2, "IDPF", 8, NicType.MRDMA, "IPV6_ONLY")
    assert net.rdma_profile_suffix == "vpc-roce-metal" and net.gpu_mtu == 8896
    shape = cat.shape("a4x-maxgpu-4g-metal")
    assert (shape.vcpus, shape.memory_gb, shape.local_ssd_gb, shape.gpus) == (144, 960, 12000, 4)
    assert shape.refusal and "no path builds it yet" in shape.refusal


def test_g4_fractional_types_carry_a_share_of_one_gpu():
    cat = catalog()
    shares = {name: cat.shape(name).gpu_share for name in ("g4-standard-6", "g4-standard-12", "g4-standard-24")}
    assert shares == {"g4-standard-6": 0.125, "g4-standard-12": 0.25, "g4-standard-24": 0.5}
    assert cat.shape("g4-standard-6").zones == ("us-central1-b",)
    assert cat.shape("g4-standard-48").gpu_share is None and len(cat.shape("g4-standard-48").zones) > 1
    assert all(cat.shape(n).unsupported for n in shares)


def test_nolssd_variants_are_the_same_machine_without_local_ssd():
    cat = catalog()
    for base in ("a3-ultragpu-8g", "a3-edgegpu-8g", "a4x-highgpu-4g"):
        full, bare = cat.shape(base), cat.shape(f"{base}-nolssd")
        assert (bare.vcpus, bare.memory_gb, bare.gpus, bare.family.id) == (full.vcpus, full.memory_gb, full.gpus, full.family.id)
        assert full.local_ssd_gb > 0 and bare.local_ssd_gb == 0


def test_disk_prices_are_sourced_and_hyperdisk_balanced_is_unpriced():
    cat = catalog()
    storage = cat.data.storage
    assert storage.disk("pd-balanced").prices["us-central1"] == 0.1
    assert storage.disk("pd-ssd").prices["europe-west4"] == 0.187
    assert storage.disk("hyperdisk-balanced").prices == {}
    for disk in storage.disks:
        assert disk.sources and all(s in cat.data.sources for s in disk.sources)
    for unpriced in (*storage.filestore_tiers, *storage.lustre.throughput_tiers):
        assert unpriced.prices == {}, "no list price was found for Filestore or Managed Lustre: they stay unpriced"


def test_a_catalog_that_gives_a_key_twice_is_refused_naming_it():
    """PyYAML would keep the second of two equal keys in silence: a source slipped in twice would change the catalog unseen."""
    import yaml

    from ai_clusters.core.catalog import parse_catalog

    text = (resources.files("ai_clusters.core.catalog") / "data" / "catalog.yaml").read_text(encoding="utf-8")
    first = next(iter(catalog().data.sources))
    again = f"sources:\n  {first}:\n    url: https://example.invalid/\n    title: x\n    read_on: 2026-12-04\n"
    with pytest.raises(yaml.YAMLError, match=f"'{first}' is given twice"):
        parse_catalog(text.replace("sources:\n", again, 1))


def test_every_cpu_machine_the_paths_run_has_a_sourced_list_price(raw):
    cat = catalog()
    listed = cat.data.cpu_machine_prices
    assert listed.sources and all(s in cat.data.sources for s in listed.sources)
    for name in [m.name for m in cat.data.slurm.cpu_machine_types] + [cat.data.gke.system_pool.machine_type]:
        price = listed.machines[name]["us-central1"]
        assert price.on_demand and price.spot and price.spot < price.on_demand, name
    # Google bills N2 per vCPU and per GB: every n2-standard size in a region is the same rate times its shape
    n2 = {m.name: m for m in cat.data.slurm.cpu_machine_types if m.name.startswith("n2-standard-")}
    per_vcpu = {n: listed.machines[n]["us-central1"].on_demand / m.vcpus for n, m in n2.items()}
    assert len(n2) >= 5 and max(per_vcpu.values()) == pytest.approx(min(per_vcpu.values()), rel=1e-4)
    assert listed.machines["n2-standard-8"]["us-central1"].on_demand == pytest.approx(8 * 0.031611 + 32 * 0.004237)
    bad = copy.deepcopy(raw)
    bad["cpu_machine_prices"]["machines"]["n1-standard-8"] = {"us-central1": {"on_demand": 1.0}}
    with pytest.raises(ValidationError, match="priced under n1_machine_types"):
        CatalogData.model_validate(bad)
