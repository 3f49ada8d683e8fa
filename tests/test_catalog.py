"""The catalog: one data file, validated on load, every entry sourced, the facts the paths rely on."""

import copy
import datetime

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
        assert cat.data.read_on <= src.read_on <= datetime.date.today(), sid  # read when the catalog was made, or since
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
        ("a4x", {"a4x-highgpu-4g"}),
        ("a4", {"a4-highgpu-8g"}),
        ("a3-ultra", {"a3-ultragpu-8g"}),
        ("a3-mega", {"a3-megagpu-8g"}),
        ("a3-high", {"a3-highgpu-1g", "a3-highgpu-2g", "a3-highgpu-4g", "a3-highgpu-8g"}),
        ("a3-edge", {"a3-edgegpu-8g"}),
        ("a2-high", {"a2-highgpu-1g", "a2-highgpu-2g", "a2-highgpu-4g", "a2-highgpu-8g", "a2-megagpu-16g"}),
        ("a2-ultra", {"a2-ultragpu-1g", "a2-ultragpu-2g", "a2-ultragpu-4g", "a2-ultragpu-8g"}),
        ("g2", {f"g2-standard-{n}" for n in (4, 8, 12, 16, 24, 32, 48, 96)}),
        ("g4", {f"g4-standard-{n}" for n in (48, 96, 192, 384)}),
    ],
)
def test_every_family_has_its_machine_types_and_us_eu_zones(family, machines):
    fam = catalog().family(family)
    assert {m.name for m in fam.machine_types} == machines
    assert any(z.startswith("us-") for z in fam.zones), f"{family} has no US zone"
    if family != "a4x":  # A4X: us-central1 only in the source read
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
    assert (s.chips, s.hosts, s.type.topology) == (16, 4, "4x4")
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
    _, rows = _catalog_cli("--family", "a3-mega", "--json")
    [row] = rows
    assert row["machine_type"] == "a3-megagpu-8g" and row["vcpus"] == 208
    assert row["network"].startswith("tcpxo: 1 gVNIC + 8 GVNIC")
    assert row["price_region"] == "us-central1" and row["on_demand_usd"] > row["spot_usd"] > 0
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
