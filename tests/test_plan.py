"""The offline plan: the real program under mocks, its JSON shape, markdown, SARIF and exit codes."""

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from ai_clusters.tooling.cli import app
from ai_clusters.tooling.plan import make_plan
from ai_clusters.tooling.plan.policy import run_policy_pack

from .conftest import ROOT

runner = CliRunner()

RESOURCE_KEYS = {"urn", "type", "name", "parent", "inputs", "protect", "retainOnDelete", "ignoreChanges"}


def plan_json(stack: str, project_dir: Path = ROOT) -> tuple[int, dict]:
    result = runner.invoke(app, ["plan", "--stack", stack, "--format", "json", "--project-dir", str(project_dir)])
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture(scope="module")
def dev() -> tuple[int, dict]:
    return plan_json("dev")


def test_dev_plan_json_has_exactly_the_documented_shape(dev):
    code, doc = dev
    assert code == 0
    assert list(doc) == ["stack", "project", "resources", "cost", "policy", "warnings", "policy_not_checked"]
    assert doc["stack"] == "dev" and doc["project"] == "acme-ml-dev"
    assert doc["resources"], "the dev stack creates resources"
    urns = {r["urn"] for r in doc["resources"]}
    for r in doc["resources"]:
        assert set(r) == RESOURCE_KEYS
        assert isinstance(r["inputs"], dict) and isinstance(r["protect"], bool) and isinstance(r["retainOnDelete"], bool)
        assert r["parent"] is None or r["parent"] in urns, "parents are urns of the plan"
        assert r["urn"].startswith("urn:pulumi:dev::ai-clusters::")
    assert set(doc["cost"]) == {"hourly_usd", "monthly_usd", "complete", "budget_hourly_usd", "by_cluster", "unpriced", "billed_by_use"}
    assert doc["cost"]["budget_hourly_usd"] == 25
    for v in doc["policy"]:
        assert set(v) == {"policy", "level", "message", "urn"}
    # policies/config/dev.json gives dev a budget and its allowed families: everything was checked
    assert doc["policy_not_checked"] == []


def test_dev_plan_shows_the_real_inputs_the_engine_receives(dev):
    _, doc = dev
    instances = [r for r in doc["resources"] if r["type"] == "gcp:compute/instance:Instance"]
    assert instances, "the dev stack's Compute Engine cluster"
    vm = instances[0]["inputs"]
    assert vm["machineType"] == "g2-standard-8"  # camelCase, as the engine receives them
    assert vm["labels"]["ai-workload"] == "inference"
    buckets = [r for r in doc["resources"] if r["type"] == "gcp:storage/bucket:Bucket"]
    assert buckets and all(b["protect"] and b["retainOnDelete"] for b in buckets)
    components = [r for r in doc["resources"] if r["type"].startswith("ai-clusters:index:")]
    component_urns = {c["urn"] for c in components}
    for r in doc["resources"]:
        if r in components:
            assert r["parent"] is None or r["parent"] in component_urns  # SlurmCluster nests its /home storage
        else:
            assert r["parent"] in component_urns, f"{r['urn']} is not a component's child"


def test_markdown_is_a_pull_request_comment_with_a_mermaid_topology():
    result = runner.invoke(app, ["plan", "--stack", "dev", "--format", "markdown"])
    assert result.exit_code == 0
    md = result.stdout
    assert md.startswith("## ai-clusters plan · stack `dev`")
    assert "```mermaid\ngraph LR" in md
    assert "| cluster | hours/month | $/hour | $/month |" in md
    assert "no mandatory policy violations" in md


def test_text_output_is_a_resource_tree():
    result = runner.invoke(app, ["plan", "--stack", "dev"])
    assert result.exit_code == 0
    assert "GpuVmCluster l4-serve" in result.stdout and "compute.Instance l4-serve-0" in result.stdout


SARIF_MIN_SCHEMA = {
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "version": {"const": "2.1.0"},
        "runs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["tool", "results"],
                "properties": {
                    "tool": {"type": "object", "required": ["driver"], "properties": {"driver": {"type": "object", "required": ["name", "rules"]}}},
                    "results": {
                        "type": "array",
                        "items": {"type": "object", "required": ["ruleId", "level", "message", "locations"], "properties": {"level": {"enum": ["error", "warning", "note"]}}},
                    },
                },
            },
        },
    },
}


@pytest.fixture
def mismatch(tmp_path: Path) -> Path:
    """A copy of the project whose only stack puts a graphics workload on A3 Ultra."""
    for item in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / item, tmp_path / item)
    shutil.copytree(ROOT / "policies", tmp_path / "policies", ignore=shutil.ignore_patterns("venv", "__pycache__"))
    (tmp_path / "stacks").mkdir()
    doc = {
        "config": {
            "gcp:project": "acme-ml-test",
            "gcp:region": "us-central1",
            "ai-clusters:environment": "mismatch",
            "ai-clusters:zones": ["us-central1-b"],
            "ai-clusters:clusters": [
                {
                    "name": "render",
                    "path": "compute-engine",
                    "workload": {"kind": "graphics", "accelerators": 8},
                    "machineType": "a3-ultragpu-8g",
                    "provisioning": {"model": "reservation", "reservation": "ultra-res"},
                    "storage": {"bucket": {"enabled": True}},
                }
            ],
        }
    }
    (tmp_path / "stacks" / "Pulumi.mismatch.yaml").write_text(yaml.safe_dump(doc))
    return tmp_path


def test_a_deliberate_mismatch_fails_the_offline_plan_with_exit_code_1(mismatch):
    code, doc = plan_json("mismatch", mismatch)
    assert code == 1
    tiers = [v for v in doc["policy"] if v["policy"] == "tier-fits-workload"]
    assert tiers and tiers[0]["level"] == "mandatory"
    assert "A3 Ultra (a3-ultragpu-8g) is not a tier Google Cloud recommends for graphics" in tiers[0]["message"]
    assert tiers[0]["urn"].endswith("::render-0")


def test_sarif_has_one_result_per_violation_with_policy_names_as_rule_ids(mismatch):
    result = runner.invoke(app, ["plan", "--stack", "mismatch", "--format", "sarif", "--project-dir", str(mismatch)])
    assert result.exit_code == 1
    log = json.loads(result.stdout)
    jsonschema.validate(log, SARIF_MIN_SCHEMA)
    run = log["runs"][0]
    rule_ids = {r["id"] for r in run["tool"]["driver"]["rules"]}
    assert "tier-fits-workload" in rule_ids
    assert any(r["ruleId"] == "tier-fits-workload" and r["level"] == "error" for r in run["results"])
    plan = make_plan("mismatch", mismatch, policy_runner=run_policy_pack)
    verdicts = [r for r in run["results"] if r["ruleId"] != "unpriced-cost"]
    assert len(verdicts) == len(plan.policy)
    notes = [r for r in run["results"] if r["ruleId"] == "unpriced-cost"]
    assert notes and all(r["level"] == "note" for r in notes), "what the cost leaves out is a note, not a violation"
    assert len(notes) == len({(u.cluster, u.reason) for u in plan.cost.unpriced})


def test_unknown_stack_is_bad_input():
    result = runner.invoke(app, ["plan", "--stack", "nope"])
    assert result.exit_code == 2
    assert "stack 'nope' has no file stacks/Pulumi.nope.yaml" in result.output


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_environment_stacks_plan_cleanly_and_together_exercise_every_path(stack):
    plan = make_plan(stack, ROOT, policy_runner=run_policy_pack)
    assert plan.exit_code == 0, plan.mandatory_failures
    # Named as the CLI names the pack: the version of PulumiPolicy.yaml, not the SDK's "0.0.1".
    declared = yaml.safe_load((ROOT / "policies" / "PulumiPolicy.yaml").read_text())["version"]
    assert plan.policy_pack == f"ai-clusters@{declared}" and declared != "0.0.1"
    assert plan.budget_hourly_usd is not None and plan.cost.hourly_usd <= plan.budget_hourly_usd
    types = {r.type.rsplit(":", 1)[-1] for r in plan.resources}
    assert {"GpuVmCluster", "GkeCluster", "SlurmCluster", "TpuVmCluster"} <= types
    assert types & {"VertexTraining", "VertexServing"}


def test_the_plan_reads_the_same_in_every_run():
    """Auto-named buckets and mock ids do not follow Python's per-process string hashing: a
    pull-request comment only changes when the program does."""
    import os
    import subprocess
    import sys

    def plan_json(seed: str) -> str:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-m", "ai_clusters.tooling.cli", "plan", "--stack", "slurm-a3mega", "--format", "json", "--project-dir", str(ROOT)],
            capture_output=True, text=True, env=env, check=True,
        )
        return done.stdout

    first, second = plan_json("1"), plan_json("2")
    assert "gs://llm-config-" in first  # an auto-named bucket, as other resources' inputs see it
    assert first == second


def test_assets_are_shown_as_the_engine_receives_them():
    """A RemoteAsset (the Slurm scripts staged in the config bucket) in Pulumi's wire form: its signature and uri,
    which the providers' schemas accept as an Asset, never a memory address."""
    import pulumi
    from pulumi.runtime import rpc

    from ai_clusters.tooling.plan import json_safe

    shown = json_safe({"source": pulumi.RemoteAsset("https://example.com/a.tar.gz"), "other": pulumi.StringAsset("x")})
    assert shown["source"] == {rpc._special_sig_key: rpc._special_asset_sig, "uri": "https://example.com/a.tar.gz"}
    assert shown["other"] == {rpc._special_sig_key: rpc._special_asset_sig, "text": "x"}
    archive = json_safe(pulumi.AssetArchive({"a": pulumi.StringAsset("y")}))
    assert archive[rpc._special_sig_key] == rpc._special_archive_sig and archive["assets"]["a"]["text"] == "y"
