"""The advisor ranks feasible tiers per workload kind, cheapest first, and says why it rules others out."""

import pytest

from ai_clusters.core.advisor import HPC_FAMILIES, memory_needed_gb, recommend, recommended_tiers
from ai_clusters.core.catalog import catalog
from ai_clusters.core.enums import HpcOffload, ProvisioningModel, WorkloadKind
from ai_clusters.core.spec import WorkloadSpec


def w(kind: str, accelerators: int = 1, **kw) -> WorkloadSpec:
    return WorkloadSpec(kind=WorkloadKind(kind), accelerators=accelerators, **kw)


def tiers(ranking) -> list[str]:
    return [c.tier for c in ranking.feasible]


def rejected(ranking) -> dict[str, str]:
    return {r.tier: r.reason for r in ranking.rejected}


def test_large_pretraining_needs_gpudirect_and_memory():
    r = recommend(w("pretraining", 64, model_params_b=70), region="us-central1")
    assert r.feasible, r.rejected
    for c in r.feasible:
        if not c.is_tpu:
            assert c.gpus_per_node == 8, c
    gpu_tiers = [c.tier for c in r.feasible if not c.is_tpu]
    assert set(gpu_tiers) <= {"a4x", "a4", "a3-ultra", "a3-mega", "a3-high"}
    # A2 has no GPUDirect networking: 64 GPUs of training over 8 nodes are ruled out with that reason
    assert "GPUDirect" in rejected(r)["a2-ultra"]
    assert "not a tier Google Cloud recommends for pretraining" in rejected(r)["g2"]


def test_graphics_picks_g_series_or_t4_and_never_training_tiers():
    r = recommend(w("graphics", 1), region="us-central1", include_tpus=False)
    assert set(tiers(r)) <= {"g2", "g4", "n1-t4"}
    assert "not a tier Google Cloud recommends for graphics" in rejected(r)["a3-ultra"]


def test_inference_ranking_is_cheapest_first():
    r = recommend(w("inference", 1, model_params_b=7), region="us-central1", include_tpus=False)
    prices = [c.hourly_usd for c in r.feasible if c.hourly_usd is not None]
    assert prices == sorted(prices)
    assert r.best is not None


def test_latency_bound_serving_rejects_spot_outright():
    r = recommend(w("inference", 1, latency_ms=100), provisioning=ProvisioningModel.SPOT)
    assert not r.feasible
    assert all("latency-bound serving cannot run on spot" in x.reason for x in r.rejected)


def test_a_served_model_must_fit_one_node():
    need = memory_needed_gb(w("inference", 8, model_params_b=400))
    assert need == pytest.approx(960)
    r = recommend(w("inference", 8, model_params_b=400), include_tpus=False)
    for c in r.feasible:
        assert c.shape.gpu.memory_gb * c.gpus_per_node >= need
    assert "one node give" in rejected(r)["a3-high"]


def test_hpc_follows_the_gpu_offload():
    heavy = recommend(w("hpc", 8, hpc_offload="high"), include_tpus=False)
    light = recommend(w("hpc", 1, hpc_offload="low"), include_tpus=False)
    assert set(tiers(heavy)) <= {"a4", "a3-ultra", "a3-mega", "a3-high", "a2-ultra", "a2-high"}
    assert set(tiers(light)) <= {"g2", "n1-t4", "n1-v100", "n1-p100", "n1-p4"}


def test_every_hpc_offload_names_catalog_families_only():
    # the advisor keeps only ids the catalog knows: a misspelt id would silently drop a tier
    for offload, families in HPC_FAMILIES.items():
        assert set(families) <= set(catalog().families), offload
        assert recommended_tiers(w("hpc", 8, hpc_offload=offload.value))[0] == families
    assert "a2-high" in HPC_FAMILIES[HpcOffload.HIGH], "A2 Standard (a2-highgpu-*) for heavy offload"


def test_finetuning_on_tpus_is_offered():
    r = recommend(w("finetuning", 16, model_params_b=8), region="us-central1")
    assert any(c.is_tpu for c in r.feasible)


def test_measured_cost_per_epoch_reorders_the_ranking():
    base = recommend(w("inference", 1, model_params_b=7), include_tpus=False)
    cheapest, pricier = base.feasible[0], next(c for c in base.feasible[1:] if c.hourly_usd and c.hourly_usd > (base.feasible[0].hourly_usd or 0))
    # the pricier tier runs an epoch 20x faster: per epoch it is cheaper, and it moves ahead
    measured = {cheapest.machine_type: 2000.0, pricier.machine_type: 100.0}
    r = recommend(w("inference", 1, model_params_b=7), include_tpus=False, seconds_per_epoch=measured)
    assert r.feasible[0].machine_type == pricier.machine_type
    assert r.feasible[0].cost_per_epoch_usd < r.feasible[1].cost_per_epoch_usd


def test_machine_types_no_path_builds_are_ruled_out_with_the_reason():
    r = recommend(w("pretraining", 8), region="us-central1", provisioning=ProvisioningModel.RESERVATION, include_tpus=False)
    assert "a4x-max" not in tiers(r)
    assert "no path builds it yet" in rejected(r)["a4x-max"] and "vpc-roce-metal" in rejected(r)["a4x-max"]
    serve = recommend(w("inference", 1, model_params_b=1), region="us-central1", include_tpus=False)
    assert all(c.machine_type not in ("g4-standard-6", "g4-standard-12", "g4-standard-24") for c in serve.feasible)
