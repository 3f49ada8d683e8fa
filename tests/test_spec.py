"""The stack configuration: good stacks resolve, bad ones end in one message per problem, by key path."""

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ai_clusters.tooling.cli import app
from ai_clusters.core.enums import ClusterPath, ProvisioningModel, WorkloadKind
from ai_clusters.core.spec import SpecError, load_environment

BASE: dict[str, Any] = {
    "gcp:project": "acme-ml-test",
    "gcp:region": "us-central1",
    "ai-clusters:environment": "test",
    "ai-clusters:zones": json.dumps(["us-central1-a", "us-central1-b", "us-central1-c"]),
}


def config(*clusters: dict, **extra: Any) -> dict[str, Any]:
    cfg = dict(BASE)
    cfg["ai-clusters:clusters"] = json.dumps(list(clusters))
    for key, value in extra.items():
        cfg[f"ai-clusters:{key}"] = value if isinstance(value, str) else json.dumps(value)
    return cfg


def cluster(**over: Any) -> dict:
    base = {"name": "c1", "path": "compute-engine", "workload": {"kind": "inference", "accelerators": 1}, "machineType": "g2-standard-8"}
    base.update(over)
    return base


def problems(cfg: dict) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_environment(cfg)
    return [str(p) for p in info.value.problems]


def test_a_good_stack_resolves_every_default():
    env = load_environment(config(cluster(workload={"kind": "pretraining", "accelerators": 64}, machineType="a3-megagpu-8g")))
    cl = env.clusters[0]
    assert cl.nodes == 8 and cl.zone == "us-central1-a" and cl.shape.family.id == "a3-mega"
    assert cl.provisioning == ProvisioningModel.ON_DEMAND
    assert cl.storage.lustre is not None, "pre-training gets Lustre by default"


def test_wrong_workload_kind_names_the_key_and_the_allowed_values():
    msgs = problems(config(cluster(), cluster(name="c2", workload={"kind": "pretrain", "accelerators": 1})))
    assert msgs == ["clusters[1].workload.kind: 'pretrain' is not one of pretraining, finetuning, inference, graphics, hpc"]


def test_unknown_machine_type_is_one_clear_error():
    (msg,) = problems(config(cluster(machineType="a3-megagpu-4g")))
    assert msg.startswith("clusters[0].machineType: 'a3-megagpu-4g' is not a GPU machine type in the catalog (did you mean a3-megagpu-8g")


def test_t4_count_of_three_is_rejected_with_the_allowed_counts():
    (msg,) = problems(config(cluster(machineType="n1-standard-8", gpu="nvidia-tesla-t4", gpusPerNode=3, workload={"kind": "graphics", "accelerators": 3})))
    assert msg == "clusters[0].gpusPerNode: nvidia-tesla-t4 attaches in counts of 1, 2, 4 per VM, not 3"


def test_impossible_tpu_topology_is_rejected():
    (msg,) = problems(config(cluster(path="tpu", machineType=None, tpu={"generation": "v5e", "topology": "3x3"})))
    assert msg.startswith("clusters[0].tpu.topology: topology '3x3' does not exist for TPU v5e; allowed: 1x1, 2x2, 2x4")


def test_negative_nodes_and_unknown_keys_are_all_reported_together():
    msgs = problems(config(cluster(nodes=-2, machinType="g2-standard-8")))
    assert "clusters[0].nodes: Input should be greater than or equal to 1 (got -2)" in msgs
    assert any(m.startswith("clusters[0].machinType: unknown key; allowed: name, path, workload, machineType") for m in msgs)
    assert len(msgs) == 2


def test_unknown_configuration_key_is_rejected():
    cfg = config(cluster())
    cfg["ai-clusters:cluster"] = "[]"
    (msg,) = problems(cfg)
    assert msg.startswith("ai-clusters:cluster: unknown configuration key; allowed: ai-clusters:environment")


def test_machine_type_not_offered_in_the_zone():
    (msg,) = problems(config(cluster(machineType="a3-ultragpu-8g", zone="us-central1-a", provisioning="spot", workload={"kind": "pretraining", "accelerators": 8})))
    assert msg.startswith("clusters[0].zone: a3-ultragpu-8g (A3 Ultra) is not offered in us-central1-a; offered in: us-central1-b")


def test_provisioning_the_family_cannot_be_bought_with():
    (msg,) = problems(config(cluster(machineType="a4-highgpu-8g", zone="us-central1-b", workload={"kind": "pretraining", "accelerators": 8})))
    assert msg == "clusters[0].provisioning.model: a4-highgpu-8g cannot be had on-demand; allowed: spot, flex-start, reservation"


def test_reservation_needs_its_name():
    (msg,) = problems(config(cluster(provisioning={"model": "reservation"})))
    assert msg == "clusters[0].provisioning: model 'reservation' needs the reservation's name in `reservation`"


def test_tpu_runtime_of_another_generation_is_rejected():
    (msg,) = problems(config(cluster(path="tpu", machineType=None, tpu={"type": "v5litepod-8", "runtimeVersion": "v2-alpha-tpuv6e"})))
    assert msg.startswith("clusters[0].tpu.runtimeVersion: 'v2-alpha-tpuv6e' is a runtime of TPU v6e (Trillium), not of TPU v5e")


def test_filestore_below_its_tier_minimum():
    (msg,) = problems(config(cluster(storage={"filestore": {"tier": "BASIC_SSD", "capacityGb": 1024}})))
    assert msg.startswith("clusters[0].storage.filestore.capacityGb: BASIC_SSD takes 2560-")


def test_duplicate_cluster_names():
    msgs = problems(config(cluster(), cluster()))
    assert "clusters[1].name: 'c1' is already the name of clusters[0]" in msgs


def test_latency_target_is_for_inference_only():
    (msg,) = problems(config(cluster(workload={"kind": "pretraining", "accelerators": 8, "latencyMs": 50})))
    assert msg == "clusters[0].workload: latencyMs applies to inference only, not pretraining"


def test_a_cluster_without_machine_type_gets_the_advisors_top_choice():
    env = load_environment(config(cluster(machineType=None, workload={"kind": "graphics", "accelerators": 1})))
    assert env.clusters[0].chosen_by_advisor
    assert env.clusters[0].shape.family.id in ("g2", "g4", "n1-t4")


# --- fuzzing: whatever garbage a stack holds, the loader answers with SpecError, never a traceback ---

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
keys = st.sampled_from(["name", "path", "workload", "machineType", "gpu", "gpusPerNode", "tpu", "zone", "nodes", "provisioning", "storage", "labels", "bogus"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(overrides=st.dictionaries(keys, json_values, min_size=1, max_size=4))
def test_fuzzed_clusters_fail_cleanly_or_resolve(overrides):
    cl = cluster(**overrides)
    try:
        load_environment(config(cl))
    except SpecError as exc:
        assert exc.problems, "a SpecError lists its problems"
        for p in exc.problems:
            assert p.path.startswith(("clusters", "ai-clusters:")), p
            assert p.message


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from([k.value for k in WorkloadKind] + ["x", "", "Pretraining"]), accel=st.integers(-5, 5000), path=st.sampled_from([p.value for p in ClusterPath] + ["k8s"]))
def test_fuzzed_workloads(kind, accel, path):
    try:
        load_environment(config(cluster(path=path, workload={"kind": kind, "accelerators": accel}, machineType=None)))
    except SpecError as exc:
        assert all(p.path.startswith("clusters[0]") for p in exc.problems)


def test_plan_exits_2_with_one_line_per_problem_and_no_traceback(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: ai-clusters\nruntime: python\nstackConfigDir: stacks\n")
    (tmp_path / "stacks").mkdir()
    (tmp_path / "__main__.py").write_text("from ai_clusters.program import run, stack_config\nrun(stack_config())\n")
    bad = {
        "config": {
            "gcp:project": "acme-ml-test",
            "gcp:region": "us-central1",
            "ai-clusters:environment": "bad",
            "ai-clusters:zones": ["us-central1-a"],
            "ai-clusters:clusters": [cluster(workload={"kind": "pretrain", "accelerators": 1}), cluster(name="c2", nodes=-1)],
        }
    }
    import yaml

    (tmp_path / "stacks" / "Pulumi.bad.yaml").write_text(yaml.safe_dump(bad))
    result = CliRunner().invoke(app, ["plan", "--stack", "bad", "--project-dir", str(tmp_path), "--no-policy"])
    assert result.exit_code == 2
    text = result.output
    assert "Traceback" not in text
    assert "clusters[0].workload.kind: 'pretrain' is not one of pretraining" in text
    assert "clusters[1].nodes: Input should be greater than or equal to 1" in text
