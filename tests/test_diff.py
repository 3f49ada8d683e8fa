"""`ai-clusters diff`: both sides planned from a temporary git repository, compared by URN."""

import copy
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from ai_clusters.tooling.cli import app
from ai_clusters.tooling.diff.compare import compare, signed_money, summary_line
from ai_clusters.tooling.diff.render import _cost_lines
from ai_clusters.tooling.diff.sides import SideResult

from .conftest import ROOT

runner = CliRunner()


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def stack_doc(name: str) -> dict:
    return yaml.safe_load((ROOT / "stacks" / f"Pulumi.{name}.yaml").read_text())


def write_stack(repo: Path, name: str, doc: dict) -> None:
    (repo / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def clusters(doc: dict) -> list:
    return doc["config"]["ai-clusters:clusters"]


def make_repo(path: Path, with_code: bool = False) -> Path:
    """A git repository with the project's program and policy pack (and, optionally, its own code)."""
    path.mkdir()
    for item in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / item, path / item)
    shutil.copytree(ROOT / "policies", path / "policies", ignore=shutil.ignore_patterns("venv", "__pycache__"))
    if with_code:
        shutil.copytree(ROOT / "components", path / "components", ignore=shutil.ignore_patterns("__pycache__"))
    (path / "stacks").mkdir()
    git(path, "init", "--quiet", "--initial-branch=main")
    git(path, "config", "user.email", "test@example.com")
    git(path, "config", "user.name", "test")
    return path


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", message)


def invoke(repo: Path, *args: str):
    result = runner.invoke(app, ["diff", "--project-dir", str(repo), *args])
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture(scope="module")
def change(tmp_path_factory) -> Path:
    """main: five stacks. The work tree: a node count raised past the budget (a new mandatory verdict), a TPU
    type changed, a machine type changed and a cluster added, a bucket removed, a stack added."""
    repo = make_repo(tmp_path_factory.mktemp("diff") / "repo")
    nodes = stack_doc("gke-l4-serve")
    nodes["config"]["ai-clusters:hourlyBudgetUsd"] = 5
    tpu, ce, data = stack_doc("tpu-serve"), stack_doc("ce-g2-serve"), stack_doc("ce-g2-serve")
    data["config"]["ai-clusters:protectData"] = False
    for name, doc in (("nodes", nodes), ("tpu", tpu), ("ce", ce), ("data", data)):
        write_stack(repo, name, doc)
    commit(repo, "base")

    clusters(nodes)[0]["workload"]["accelerators"] = 8
    write_stack(repo, "nodes", nodes)
    clusters(tpu)[0]["workload"]["accelerators"] = 4
    clusters(tpu)[0]["tpu"]["type"] = "v5litepod-4"
    write_stack(repo, "tpu", tpu)
    clusters(ce)[0]["machineType"] = "g2-standard-12"
    second = copy.deepcopy(clusters(ce)[0])
    second.update(name="chat2", machineType="g2-standard-8")
    second["storage"] = {"bucket": {"enabled": False}}
    clusters(ce).append(second)
    write_stack(repo, "ce", ce)
    clusters(data)[0]["storage"]["bucket"] = {"enabled": False}
    write_stack(repo, "data", data)
    write_stack(repo, "fresh", stack_doc("ce-g2-serve"))
    return repo


@pytest.fixture(scope="module")
def report(change) -> tuple[int, dict]:
    result = invoke(change, "--base", "main", "--format", "json")
    return result.exit_code, json.loads(result.stdout)


def by_stack(report: tuple[int, dict]) -> dict[str, dict]:
    return {s["stack"]: s for s in report[1]["stacks"]}


def test_the_change_diffs_exactly_the_stacks_it_touches_and_fails_on_the_new_mandatory_verdict(report):
    code, doc = report
    assert [s["stack"] for s in doc["stacks"]] == ["ce", "data", "fresh", "nodes", "tpu"]
    assert doc["base"] == "main" and len(doc["base_sha"]) == 40
    assert code == doc["exit_code"] == 1
    assert [s["stack"] for s in doc["stacks"] if s["exit_code"] == 1] == ["data", "nodes"]
    data = by_stack(report)["data"]
    # protectData: false already fails data-survives on main: failing, but not new.
    assert data["policy"]["new"] == [] and {v["policy"] for v in data["policy"]["failing"]} == {"data-survives"}


def test_a_raised_node_count_changes_the_node_pool_in_place_and_adds_cost(report):
    nodes = by_stack(report)["nodes"]
    assert nodes["added"] == [] and nodes["removed"] == []
    pools = [c for c in nodes["changed"] if c["type"] == "gcp:container/nodePool:NodePool" and "autoscaling.totalMaxNodeCount" in c["keys"]]
    assert len(pools) == 1
    pool = pools[0]
    assert pool["keys"]["autoscaling.totalMaxNodeCount"] == {"old": 4, "new": 8}
    assert pool["replace"] is False and pool["because"] == []
    assert nodes["accelerators"] == {"g2-standard-8": {"base": 4, "head": 8, "delta": 4}}
    cost = nodes["cost"]
    assert cost["head_hourly_usd"] > cost["base_hourly_usd"] > 0
    assert cost["delta_hourly_usd"] == round(cost["head_hourly_usd"] - cost["base_hourly_usd"], 4)
    assert cost["by_cluster"]["l4-serve"]["delta_hourly_usd"] == cost["delta_hourly_usd"]
    assert cost["delta_monthly_usd"] == round(cost["head_monthly_usd"] - cost["base_monthly_usd"], 2)


def test_a_verdict_the_change_introduces_is_new_and_mandatory(report):
    nodes = by_stack(report)["nodes"]
    new = nodes["policy"]["new"]
    assert [(v["policy"], v["level"]) for v in new] == [("budget-and-environment", "mandatory")]
    assert nodes["policy"]["cleared"] == []
    assert nodes["policy"]["failing"] == new
    assert nodes["summary"].endswith("1 new violation, 1 mandatory failing")


def test_a_changed_tpu_type_replaces_the_tpu_vm(report):
    tpu = by_stack(report)["tpu"]
    vms = [c for c in tpu["changed"] if c["type"] == "gcp:tpu/v2Vm:V2Vm"]
    assert len(vms) == 1
    vm = vms[0]
    assert vm["keys"]["acceleratorType"] == {"old": "v5litepod-8", "new": "v5litepod-4"}
    assert vm["replace"] is True and "acceleratorType" in vm["because"]
    assert tpu["accelerators"] == {"v5litepod-4 slice": {"base": 0, "head": 1, "delta": 1}, "v5litepod-8 slice": {"base": 1, "head": 0, "delta": -1}}
    assert tpu["cost"]["delta_hourly_usd"] < 0
    assert tpu["exit_code"] == 0


def test_a_changed_machine_type_is_updated_in_place_with_the_vm_stopped_and_an_added_cluster_is_added(report):
    ce = by_stack(report)["ce"]
    vm = next(c for c in ce["changed"] if c["urn"].endswith("::chat-0"))
    assert vm["keys"]["machineType"] == {"old": "g2-standard-8", "new": "g2-standard-12"}
    # Compute Engine resizes a stopped VM: machine_type is not ForceNew in the provider.
    assert vm["replace"] is False and vm["stops"] == ["machineType"]
    added = {(a["type"], a["urn"].rsplit("::", 1)[-1]) for a in ce["added"]}
    assert ("ai-clusters:index:GpuVmCluster", "chat2") in added
    assert ("gcp:compute/instance:Instance", "chat2-0") in added
    assert all(set(a) == {"urn", "type"} for a in ce["added"])
    assert ce["removed"] == []
    assert set(ce["cost"]["by_cluster"]) == {"chat", "chat2"}
    assert ce["cost"]["by_cluster"]["chat2"]["base_hourly_usd"] == 0
    assert ce["cost"]["by_cluster"]["chat2"]["head_hourly_usd"] > 0
    assert ce["accelerators"]["g2-standard-12"]["delta"] == 1


def test_a_removed_bucket_is_data_at_risk_and_says_nothing_stops_the_deletion(report):
    data = by_stack(report)["data"]
    removed = {r["type"] for r in data["removed"]}
    assert "gcp:storage/bucket:Bucket" in removed
    (risk,) = data["data_at_risk"]
    assert risk["type"] == "gcp:storage/bucket:Bucket" and risk["change"] == "removed"
    assert risk["protect"] is False and risk["retainOnDelete"] is False and risk["outcome"] == "deleted"
    assert "DELETED" in risk["message"]
    assert "⚠ 1 data resource removed or replaced (1 loses its data)" in data["summary"]


def test_a_stack_on_the_head_only_is_all_added(report):
    fresh = by_stack(report)["fresh"]
    assert fresh["exists"] == {"base": False, "head": True}
    assert fresh["removed"] == [] and fresh["changed"] == []
    assert fresh["resources"] == {"base": 0, "head": len(fresh["added"])} and fresh["added"]
    assert fresh["cost"]["base_hourly_usd"] == 0 and fresh["cost"]["delta_hourly_usd"] == fresh["cost"]["head_hourly_usd"] > 0
    assert fresh["summary"].startswith("new stack, +1 g2-standard-8, +$")


def test_one_stack_as_json_is_the_documented_object(change):
    result = invoke(change, "--base", "main", "--stack", "tpu", "--format", "json", "--no-policy")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert {"stack", "base", "added", "removed", "changed", "cost", "policy"} <= set(doc)
    assert doc["stack"] == "tpu" and doc["base"] == "main"
    assert {"base_hourly_usd", "head_hourly_usd", "delta_hourly_usd", "by_cluster"} <= set(doc["cost"])
    assert {"new", "cleared"} <= set(doc["policy"])
    for c in doc["changed"]:
        assert {"urn", "type", "keys", "replace"} <= set(c) and c["replace"] in (True, False, None)


def test_the_markdown_starts_with_the_summary_line(change, report):
    result = invoke(change, "--base", "main", "--stack", "nodes", "--format", "markdown")
    assert result.exit_code == 1
    nodes = by_stack(report)["nodes"]
    first = result.stdout.splitlines()[0]
    sha = report[1]["base_sha"][:10]
    assert first == f"**ai-clusters diff** · 1 stack against `main` (`{sha}`): {nodes['summary']}"
    assert nodes["summary"] == f"+4 g2-standard-8, {signed_money(nodes['cost']['delta_hourly_usd'])}/h, 1 new violation, 1 mandatory failing"
    assert "```mermaid" in result.stdout and "container.NodePool<br/>l4-serve-gpu" in result.stdout
    assert "<details><summary>Changed inputs" in result.stdout


def test_an_unknown_revision_is_bad_input(change):
    result = invoke(change, "--base", "no-such-branch", "--stack", "tpu")
    assert result.exit_code == 2
    assert "unknown revision 'no-such-branch'" in result.output


def test_a_stack_on_neither_side_is_bad_input(change):
    result = invoke(change, "--base", "main", "--stack", "nowhere")
    assert result.exit_code == 2
    assert "'nowhere' is in neither the work tree nor main" in result.output
    assert not git(change, "worktree", "list").count("\n") > 1, "the base worktree is removed"


def test_a_side_that_cannot_be_planned_says_why_and_exits_3(tmp_path):
    repo = make_repo(tmp_path / "repo")
    broken = stack_doc("ce-g2-serve")
    clusters(broken)[0]["machineType"] = "g2-standard-7"
    write_stack(repo, "ce", broken)
    commit(repo, "a stack that does not resolve")
    write_stack(repo, "ce", stack_doc("ce-g2-serve"))
    result = invoke(repo, "--base", "main", "--stack", "ce", "--format", "json", "--no-policy")
    assert result.exit_code == 3
    doc = json.loads(result.stdout)
    assert "g2-standard-7" in doc["errors"]["base"] and doc["errors"]["head"] is None
    assert doc["summary"] == "base could not be planned" and doc["added"] == [] and doc["changed"] == []


def test_each_side_is_planned_by_its_own_code(tmp_path):
    """The head's catalog prices G2 higher: only the head's cost moves, so the base ran the base's code."""
    repo = make_repo(tmp_path / "repo", with_code=True)
    write_stack(repo, "ce", stack_doc("ce-g2-serve"))
    commit(repo, "base")
    catalog = repo / "components" / "core" / "catalog" / "data" / "catalog.yaml"
    text = catalog.read_text()
    assert text.count("on_demand: 0.8972\n") == 1, "the G2 price in europe-west4 is where this test expects it"
    catalog.write_text(text.replace("on_demand: 0.8972\n", "on_demand: 1.8972\n"))
    result = invoke(repo, "--base", "main", "--format", "json", "--no-policy")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [s["stack"] for s in doc["stacks"]] == ["ce"], "a change to the code touches every stack"
    (ce,) = doc["stacks"]
    assert ce["cost"]["delta_hourly_usd"] == 1.0
    assert ce["changed"] == [] and ce["added"] == [] and ce["removed"] == []
    assert doc["code"]["head"] == str(repo / "components") or doc["code"]["head"].endswith("head-code/ai_clusters")
    assert "base-code" in doc["code"]["base"]
    assert git(repo, "worktree", "list").count("\n") == 1


# -- the comparison itself, on the checked-in plans (no planning) ----------------------------------------------

PLANS = ROOT / "tests" / "data" / "plans"


def plan(name: str) -> dict:
    return json.loads((PLANS / f"{name}.json").read_text())


def test_a_new_slurm_a3_mega_stack_reads_as_its_nodes_and_cost():
    slurm = plan("slurm-a3mega")
    d = compare("slurm-a3mega", SideResult(absent=True), SideResult(snapshot=slurm), base_ref="main")
    nodes = sum(int(r["inputs"]["labels"]["ai-nodes"]) for r in slurm["resources"] if r["type"] == "gcp:compute/instanceTemplate:InstanceTemplate" and r["inputs"]["machineType"] == "a3-megagpu-8g")
    unpriced = len(slurm["cost"]["unpriced"])
    assert unpriced, "A3 Mega has no us-central1 list price: the nodes are unpriced"
    warned = len(slurm["warnings"])
    assert warned, "Secure Boot is off on its A3 Mega node set"
    assert summary_line(d) == (
        f"new stack, +{nodes} a3-megagpu-8g, {signed_money(slurm['cost']['hourly_usd'])}/h (+{unpriced} unpriced), 0 new violations, "
        f"{warned} new plan warning{'' if warned == 1 else 's'}"
    )
    md = "\n".join(_cost_lines(d))
    assert "lower bounds" in md and "slurm-a3mega-" not in md.split("Unpriced in the head", 1)[0]
    assert len(d.added) == len(slurm["resources"]) and d.exit_code == 0


def test_the_same_plan_on_both_sides_is_no_change():
    prod = plan("prod")
    d = compare("prod", SideResult(snapshot=prod), SideResult(snapshot=copy.deepcopy(prod)), base_ref="main")
    assert d.unchanged and not d.added and not d.removed and not d.changed and d.accelerators == {}


def test_protect_and_retain_on_delete_decide_what_happens_to_a_removed_bucket():
    base = plan("ce-g2-serve")
    bucket = next(r for r in base["resources"] if r["type"] == "gcp:storage/bucket:Bucket")
    head = copy.deepcopy(base)
    head["resources"] = [r for r in head["resources"] if r["urn"] != bucket["urn"]]
    outcomes = {}
    for protect, retain in ((True, True), (False, True), (False, False)):
        bucket.update(protect=protect, retainOnDelete=retain)
        (risk,) = compare("s", SideResult(snapshot=base), SideResult(snapshot=head), base_ref="main").data_at_risk
        outcomes[(protect, retain)] = risk.outcome
    assert outcomes == {(True, True): "blocked", (False, True): "kept", (False, False): "deleted"}


def test_a_replaced_disk_is_data_at_risk_unless_protected_on_both_sides():
    base = plan("ce-g2-serve")
    head = copy.deepcopy(base)
    disk = next(r for r in head["resources"] if r["type"] == "gcp:compute/disk:Disk")
    disk["inputs"]["size"] = int(disk["inputs"]["size"]) - 10  # a smaller disk cannot be resized down
    d = compare("s", SideResult(snapshot=base), SideResult(snapshot=head), base_ref="main")
    (change,) = d.changed
    assert change.replace is True and change.because == ["size"]
    (risk,) = d.data_at_risk
    assert risk.change == "replaced" and risk.outcome == "blocked"
    disk["protect"] = False
    (risk,) = compare("s", SideResult(snapshot=base), SideResult(snapshot=head), base_ref="main").data_at_risk
    assert risk.outcome == "kept", "retainOnDelete keeps the old disk"


def test_secret_inputs_are_compared_but_never_shown():
    base = plan("slurm-a3mega")
    head = copy.deepcopy(base)
    obj = next(r for r in head["resources"] if r["type"] == "gcp:storage/bucketObject:BucketObject" and isinstance(r["inputs"].get("content"), dict))
    secret_text = obj["inputs"]["content"]["value"]
    obj["inputs"]["content"]["value"] = secret_text + "# changed\n"
    d = compare("s", SideResult(snapshot=base), SideResult(snapshot=head), base_ref="main")
    (change,) = d.changed
    assert change.keys["content"].to_json() == {"old": "[secret]", "new": "[secret]", "secret": True}
    assert secret_text[:40] not in json.dumps(d.to_json())


def test_plan_warnings_the_change_brings_or_clears_are_shown_at_every_level_of_detail():
    from ai_clusters.tooling.diff.render import BRIEF, FULL, MINIMAL, stack_markdown, text

    base = plan("ce-a3mega-train")
    (secure_boot,) = [w for w in base["warnings"] if "Secure Boot is off" in w]
    head = copy.deepcopy(base)
    head["warnings"] = [w for w in head["warnings"] if w != secure_boot] + ["mega: a [bracketed] new warning"]
    d = compare("s", SideResult(snapshot=base), SideResult(snapshot=head), base_ref="main")
    assert d.warnings == {"new": ["mega: a [bracketed] new warning"], "cleared": [secure_boot]}
    assert not d.unchanged, "a warning alone is a change a reviewer must see"
    assert summary_line(d).endswith("0 new violations, 1 new plan warning")
    assert d.to_json()["warnings"]["cleared"] == [secure_boot]
    for level in (FULL, BRIEF, MINIMAL):
        md = stack_markdown(d, level)
        assert "- ⚠ new: mega: a [bracketed] new warning" in md and "- cleared: mega: Secure Boot is off" in md
    console = Console(record=True, width=400)
    text([d], "main", None, console)
    assert "new plan warning: mega: a [bracketed] new warning" in console.export_text(), "printed as written, no markup"
    same = compare("s", SideResult(snapshot=base), SideResult(snapshot=copy.deepcopy(base)), base_ref="main")
    assert same.warnings == {"new": [], "cleared": []} and same.unchanged


def test_an_input_under_ignore_changes_is_no_change():
    base = plan("gke-l4-serve")
    cluster = next(r for r in base["resources"] if r["type"] == "gcp:container/cluster:Cluster")
    assert cluster["ignoreChanges"] == ["nodeConfig", "initialNodeCount"], "the plan records the option"
    head = copy.deepcopy(base)
    moved = next(r for r in head["resources"] if r["urn"] == cluster["urn"])
    moved["inputs"]["initialNodeCount"] = 3
    moved["inputs"].setdefault("nodeConfig", {})["machineType"] = "e2-standard-8"
    d = compare("s", SideResult(snapshot=base), SideResult(snapshot=head), base_ref="main")
    assert d.changed == [] and d.unchanged, "Pulumi leaves ignored inputs as they are"
    moved["inputs"]["minMasterVersion"] = "1.99"
    (change,) = compare("s", SideResult(snapshot=base), SideResult(snapshot=head), base_ref="main").changed
    assert list(change.keys) == ["minMasterVersion"]


def test_a_reworded_verdict_is_neither_new_nor_cleared():
    base = plan("dev")
    assert base["policy"], "dev has an advisory verdict"
    head = copy.deepcopy(base)
    head["policy"][0]["message"] += " (reworded)"
    head["policy"].append({"policy": "tier-fits-workload", "level": "mandatory", "message": "x", "urn": None})
    d = compare("dev", SideResult(snapshot=base), SideResult(snapshot=head), base_ref="main")
    assert [v["policy"] for v in d.policy["new"]] == ["tier-fits-workload"]
    assert d.policy["cleared"] == []
    assert [v["old_message"] for v in d.policy["changed"]] == [base["policy"][0]["message"]]
    assert d.exit_code == 1


def test_the_comment_for_a_change_touching_every_stack_fits_a_github_comment():
    """Every reference stack new, and every stack with every resource changed: the comment still fits."""
    from ai_clusters.tooling.diff.render import COMMENT_LIMIT, GITHUB_COMMENT_LIMIT, comment, full_report

    names = sorted(p.stem for p in PLANS.glob("*.json"))
    assert len(names) >= 15
    url = "https://github.com/acme/ai-clusters/actions/runs/1"
    for scenario in ("new", "changed"):
        diffs = []
        for name in names:
            base = plan(name)
            head = copy.deepcopy(base)
            for r in head["resources"]:
                r["inputs"]["description"] = f"changed by a code change to every {r['type']}"
            if scenario == "new":
                diffs.append(compare(name, SideResult(absent=True), SideResult(snapshot=base), base_ref="main"))
            else:
                diffs.append(compare(name, SideResult(snapshot=base), SideResult(snapshot=head), base_ref="main"))
        full = full_report(diffs, "main", "0" * 40)
        text = comment(diffs, "main", "0" * 40, details_url=url)
        assert len(full) > GITHUB_COMMENT_LIMIT, f"{scenario}: the uncut report would not fit ({len(full)} characters)"
        assert len(text) <= COMMENT_LIMIT < GITHUB_COMMENT_LIMIT, f"{scenario}: {len(text)} characters"
        assert text.startswith(f"**ai-clusters diff** · {len(names)} stacks against `main`")
        assert f"Shortened to fit GitHub's 65,536-character limit. The full report: {url}" in text
        for d in diffs:
            assert f"| `{d.stack}` | {summary_line(d)} |" in text, f"{scenario}: {d.stack}'s summary line is in the table"
            assert f"### `{d.stack}` · " in text, f"{scenario}: {d.stack} keeps at least its heading"


def test_a_small_change_is_not_shortened():
    from ai_clusters.tooling.diff.render import comment, full_report

    base = plan("ce-g2-serve")
    head = copy.deepcopy(base)
    next(r for r in head["resources"] if r["type"] == "gcp:compute/instance:Instance")["inputs"]["machineType"] = "g2-standard-12"
    diffs = [compare("ce-g2-serve", SideResult(snapshot=base), SideResult(snapshot=head), base_ref="main")]
    text = comment(diffs, "main", None)
    assert text == full_report(diffs, "main", None)
    assert "Shortened" not in text and "| `machineType` | `g2-standard-8` | `g2-standard-12` |" in text
