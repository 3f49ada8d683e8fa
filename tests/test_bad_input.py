"""Bad input never slips through: every broken stack file, option and output path ends in exit 2 with
one line naming what is wrong (the stack's key path, the file, the option) and never a traceback."""

import copy
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Union

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ai_clusters.tooling.cli import app

from .conftest import ROOT

runner = CliRunner()

GOOD: dict[str, Any] = {
    "config": {
        "gcp:project": "acme-ml-test",
        "gcp:region": "us-central1",
        "ai-clusters:environment": "test",
        "ai-clusters:zones": ["us-central1-a", "us-central1-b", "us-central1-c"],
        "ai-clusters:clusters": [
            {"name": "serve", "path": "compute-engine", "workload": {"kind": "inference", "accelerators": 1}, "machineType": "g2-standard-8"}
        ],
    }
}
# The component classes a stack's problem must never be reported by: a stack file names stack keys.
COMPONENT_SUBJECTS = ("GpuVmCluster '", "GkeCluster '", "SlurmCluster '", "TpuVmCluster '", "VertexTraining '", "VertexServing '", "ClusterNetwork '", "ClusterStorage '")


def env(**config: Any) -> dict:
    """The good stack with some environment keys replaced."""
    doc = copy.deepcopy(GOOD)
    doc["config"].update(config)
    return doc


def cluster(**keys: Any) -> dict:
    """The good stack with some keys of its one cluster replaced (None removes a key)."""
    doc = copy.deepcopy(GOOD)
    cl = doc["config"]["ai-clusters:clusters"][0]
    cl.update(keys)
    doc["config"]["ai-clusters:clusters"][0] = {k: v for k, v in cl.items() if v is not None}
    return doc


def gpudirect(name: str, machine: str, zone: str, **extra: Any) -> dict:
    return {"name": name, "path": "compute-engine", "workload": {"kind": "pretraining", "accelerators": 16}, "machineType": machine, "zone": zone, **extra}


# id -> (the stack file: a document, or raw text/bytes), what the message must name, a fragment of it
CASES: dict[str, tuple[Union[dict, str, bytes], str, str]] = {
    # the file itself
    "yaml-list": ("- just\n- a list\n", "stacks/Pulumi.yaml-list.yaml", "not a list"),
    "yaml-scalar": ("42\n", "stacks/Pulumi.yaml-scalar.yaml", "not a number"),
    "yaml-syntax": ("config:\n  gcp:project: [unclosed\n", "stacks/Pulumi.yaml-syntax.yaml:3:1", "not valid YAML"),
    "key-twice": ("config:\n  gcp:project: a\n  gcp:project: b\n", "stacks/Pulumi.key-twice.yaml:3:3", "'gcp:project' is given twice (first at line 2)"),
    "not-utf8": (b"\xff\xfe\x00config", "stacks/Pulumi.not-utf8.yaml", "not UTF-8"),
    "config-a-list": ("config: [1, 2]\n", "stacks/Pulumi.config-a-list.yaml", "`config` must be a mapping"),
    "config-key-a-number": ("config:\n  1: x\n", "stacks/Pulumi.config-key-a-number.yaml", "config key 1 is not a name"),
    "empty-file": ("", "gcp:project", "is required"),
    "secret": ({"config": {"gcp:project": {"secure": "AAAB"}}}, "stacks/Pulumi.secret.yaml", "gcp:project is a secret"),
    # the environment's keys, named as the stack file writes them
    "environment-left-empty": ("config:\n  ai-clusters:environment:\n", "ai-clusters:environment", "is required"),
    "environment-name": (env(**{"ai-clusters:environment": "Prod_1"}), "ai-clusters:environment", "does not match the pattern ^[a-z]([a-z0-9-]{0,18}[a-z0-9])?$"),
    "region-unknown": (env(**{"gcp:region": "mars-central1", "ai-clusters:zones": ["mars-central1-a"]}), "gcp:region", "did you mean us-central1"),
    "zone-of-another-region": (env(**{"ai-clusters:zones": ["europe-west4-a"]}), "ai-clusters:zones", "europe-west4-a is not in region us-central1"),
    "zones-empty": (env(**{"ai-clusters:zones": []}), "ai-clusters:zones", "at least 1 item"),
    "budget-negative": (env(**{"ai-clusters:hourlyBudgetUsd": -1}), "ai-clusters:hourlyBudgetUsd", "greater than or equal to 0"),
    "label-key": (env(**{"ai-clusters:labels": {"Team": "x"}}), "ai-clusters:labels", "label key 'Team'"),
    "protect-data-word": (env(**{"ai-clusters:protectData": "maybe"}), "ai-clusters:protectData", "a valid boolean expected, got 'maybe'"),
    "unknown-config-key": (env(**{"ai-clusters:zone": "us-central1-a"}), "ai-clusters:zone", "unknown configuration key"),
    "public-host-cidr": (env(**{"ai-clusters:network": {"hostCidr": "8.8.8.0/24"}}), "ai-clusters:network.hostCidr", "not a private range"),
    "host-mtu-below-gpudirect": (
        env(**{"ai-clusters:network": {"hostMtu": 1300}, "ai-clusters:clusters": [gpudirect("a", "a3-megagpu-8g", "us-central1-a")]}),
        "ai-clusters:network.hostMtu",
        "1300 is below the 8244 that A3 Mega (clusters[0]) needs",
    ),
    "gpu-cidr-too-small": (
        env(**{
            "ai-clusters:network": {"gpuCidr": "192.168.0.0/18"},
            "ai-clusters:clusters": [gpudirect("a", "a3-megagpu-8g", "us-central1-a"), gpudirect("b", "a3-ultragpu-8g", "us-central1-b", provisioning="spot")],
        }),
        "ai-clusters:network.gpuCidr",
        "has 16 /22 subnets; these accelerator networks need 17",
    ),
    "clusters-a-word": (env(**{"ai-clusters:clusters": "nope"}), "ai-clusters:clusters", "a valid list expected"),
    "clusters-of-numbers": (env(**{"ai-clusters:clusters": [1]}), "clusters[0]", "a mapping of keys expected, got 1"),
    # a cluster's keys
    "name-pattern": (cluster(name="L4_serve"), "clusters[0].name", "'L4_serve' does not match the pattern ^[a-z]([a-z0-9-]{0,18}[a-z0-9])?$"),
    "unknown-cluster-key": (cluster(machinType="g2-standard-8"), "clusters[0].machinType", "unknown key; allowed: name, path, workload"),
    "workload-kind": (cluster(workload={"kind": "pretrain", "accelerators": 1}), "clusters[0].workload.kind", "'pretrain' is not one of pretraining"),
    "workload-a-word": (cluster(workload="inference"), "clusters[0].workload", "a mapping of keys expected, got 'inference'"),
    "accelerators-zero": (cluster(workload={"kind": "inference", "accelerators": 0}), "clusters[0].workload.accelerators", "greater than or equal to 1"),
    "accelerators-fraction": (cluster(workload={"kind": "inference", "accelerators": 1.5}), "clusters[0].workload.accelerators", "a whole number expected, got 1.5"),
    "accelerators-beyond-any-cluster": (cluster(workload={"kind": "inference", "accelerators": 10**9}), "clusters[0].workload.accelerators", "less than or equal to 100000"),
    "machine-type-typo": (cluster(machineType="g2-standard-7"), "clusters[0].machineType", "did you mean g2-standard-8"),
    "zone-typo": (cluster(zone="us-central1-q"), "clusters[0].zone", "not offered in us-central1-q"),
    "reservation-without-name": (cluster(provisioning={"model": "reservation"}), "clusters[0].provisioning", "needs the reservation's name"),
    "tpu-on-compute-engine": (cluster(tpu={"type": "v5litepod-8"}), "clusters[0]", "`tpu` is for paths 'tpu' and 'gke'"),
    "gke-options-on-compute-engine": (cluster(gke={}), "clusters[0]", "`gke` options apply to path 'gke'"),
    "storage-a-list": (cluster(storage=[1]), "clusters[0].storage", "a mapping of keys expected"),
    "two-file-systems-at-home": (
        cluster(path="slurm", workload={"kind": "hpc", "accelerators": 1}, storage={"filestore": {"mountPoint": "/home"}, "lustre": {"mountPoint": "/home"}}),
        "clusters[0].storage.lustre.mountPoint",
        "/home is already the mount point of storage.filestore",
    ),
    # workload.accelerators drives the plan or is refused, on every path
    "accelerators-vs-nodes": (cluster(workload={"kind": "inference", "accelerators": 100000}, nodes=2), "clusters[0].workload.accelerators", "100000 asked for, but the cluster has 2: 2 nodes x 1 NVIDIA L4"),
    "accelerators-need-too-many-nodes": (
        cluster(path="gke", workload={"kind": "inference", "accelerators": 100000}),
        "clusters[0].workload.accelerators",
        "100,000 accelerators need 100,000 nodes of g2-standard-8 (1 each); a cluster has at most 10,000 nodes",
    ),
    "accelerators-vs-gke-autoscaling": (
        cluster(path="gke", workload={"kind": "inference", "accelerators": 100000}, gke={"autoscaling": {"minNodes": 1, "maxNodes": 2}}),
        "clusters[0].workload.accelerators",
        "the cluster has 2: 2 nodes x 1 NVIDIA L4 (g2-standard-8); set workload.accelerators to 2 (gke.autoscaling.maxNodes goes up to 10,000",
    ),
    "accelerators-vs-gke-tpu-slice": (
        cluster(path="gke", machineType=None, workload={"kind": "pretraining", "accelerators": 100000}, tpu={"type": "v6e-16"}),
        "clusters[0].workload.accelerators",
        "the cluster has 16: 1 slice of v6e-16 (16 chips each)",
    ),
    "accelerators-vs-tpu-vm-slice": (
        cluster(path="tpu", machineType=None, workload={"kind": "inference", "accelerators": 100000}, tpu={"type": "v5litepod-8"}),
        "clusters[0].workload.accelerators",
        "the cluster has 8: 1 slice of v5litepod-8 (8 chips each); set workload.accelerators to 8 (tpu.slices goes up to 64: 512 accelerators)",
    ),
    "accelerators-vs-tpu-slices": (
        cluster(path="tpu", machineType=None, workload={"kind": "pretraining", "accelerators": 16}, tpu={"type": "v5litepod-16", "slices": 2}),
        "clusters[0].workload.accelerators",
        "16 asked for, but the cluster has 32: 2 slices of v5litepod-16 (16 chips each); set workload.accelerators to 32, or tpu.slices to 1",
    ),
    "accelerators-vs-slurm-node-set": (
        cluster(path="slurm", workload={"kind": "hpc", "accelerators": 1}, slurm={"nodeSets": [{"name": "g2", "staticNodes": 5}]}),
        "clusters[0].workload.accelerators",
        "set workload.accelerators to 5, or slurm.nodeSets[0].staticNodes to 1",
    ),
    "accelerators-vs-vertex-replicas": (
        cluster(path="vertex", vertex={"maxReplicas": 3}),
        "clusters[0].workload.accelerators",
        "1 asked for, but the cluster has 3: 3 replicas x 1 NVIDIA L4 (g2-standard-8); set workload.accelerators to 3, or vertex.maxReplicas to 1",
    ),
}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A project of its own (the real program), whose stacks/ the cases write into."""
    root = tmp_path_factory.mktemp("project")
    (root / "Pulumi.yaml").write_text("name: ai-clusters\nruntime: python\nstackConfigDir: stacks\n")
    (root / "__main__.py").write_text((ROOT / "__main__.py").read_text())
    (root / "stacks").mkdir()
    return root


def write_stack(project: Path, name: str, content: Union[dict, str, bytes]) -> None:
    path = project / "stacks" / f"Pulumi.{name}.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))


def plan(project: Path, stack: str):
    return runner.invoke(app, ["plan", "--stack", stack, "--project-dir", str(project), "--no-policy"])


def assert_clean_exit_2(result) -> None:
    """Exit 2 from the CLI's own handling: no exception escaped, no traceback printed."""
    assert isinstance(result.exception, SystemExit) and result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output and "Exception ignored" not in result.output


def test_there_are_at_least_thirty_broken_stacks():
    assert len(CASES) >= 30


@pytest.mark.parametrize("name", CASES)
def test_a_broken_stack_is_one_clear_error_naming_its_key(project, name):
    content, key, fragment = CASES[name]
    write_stack(project, name, content)
    result = plan(project, name)
    assert_clean_exit_2(result)
    lines = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert any(line.startswith(f"error: {key}") and fragment in line for line in lines), result.output
    assert not any(subject in result.output for subject in COMPONENT_SUBJECTS), "stack problems are named by stack keys"
    assert "<unicode string>" not in result.output


@pytest.mark.parametrize("name", ["yaml-list", "two-file-systems-at-home", "accelerators-vs-gke-autoscaling", "region-unknown"])
@pytest.mark.parametrize("command", [["validate-job", "--cluster", "serve"], ["blueprint", "--cluster", "serve", "--output", "-"], ["preflight"]])
def test_every_command_that_reads_a_stack_reports_it_the_same_way(project, name, command):
    content, key, fragment = CASES[name]
    write_stack(project, name, content)
    result = runner.invoke(app, [command[0], "--stack", name, "--project-dir", str(project), *command[1:]])
    assert_clean_exit_2(result)
    assert any(line.startswith(f"error: {key}") and fragment in line for line in result.output.splitlines()), result.output


def test_the_good_stack_the_cases_break_plans(project):
    write_stack(project, "good", GOOD)
    result = plan(project, "good")
    assert result.exit_code == 0, result.output


# --- fuzzing: documents of any shape are exit 2, never a traceback -----------------------------------

junk = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=10,
)
config_keys = st.sampled_from(
    ["gcp:project", "gcp:region", "ai-clusters:environment", "ai-clusters:zones", "ai-clusters:clusters", "ai-clusters:network",
     "ai-clusters:labels", "ai-clusters:protectData", "ai-clusters:hourlyBudgetUsd", "ai-clusters:bogus", "environment", "zones"]
)
documents = st.one_of(
    junk,
    st.dictionaries(st.sampled_from(["config", "other"]), junk, max_size=2),
    st.builds(lambda config: {"config": config}, st.dictionaries(config_keys, junk, max_size=6)),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(document=documents)
def test_stack_documents_of_any_shape_are_bad_input_without_a_traceback(project, document):
    write_stack(project, "fuzzed", yaml.safe_dump(document))
    assert_clean_exit_2(plan(project, "fuzzed"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=80))
def test_stack_files_of_any_text_are_bad_input_without_a_traceback(project, text):
    write_stack(project, "text", text)
    assert_clean_exit_2(plan(project, "text"))


# --- every --output: a missing folder or a folder given as the file is exit 2 naming the path ----------

OUTPUT_COMMANDS = {
    "plan": ["plan", "--stack", "dev", "--no-policy", "--project-dir", str(ROOT)],
    "validate-job": ["validate-job", "--stack", "tpu-serve", "--cluster", "v5e-serve", "--project-dir", str(ROOT)],
    "blueprint": ["blueprint", "--stack", "slurm-a3mega", "--cluster", "llm", "--project-dir", str(ROOT)],
    "schema": ["schema", "--project-dir", str(ROOT)],
    "preflight": ["preflight", "--stack", "dev", "--project-dir", str(ROOT)],
    "benchmark": ["benchmark", "--epochs", "1"],
    "diff": ["diff", "--base", "HEAD", "--stack", "dev", "--project-dir", str(ROOT)],
    "catalog refresh": ["catalog", "refresh", "--project", "acme-ml"],
}


@pytest.mark.parametrize("command", OUTPUT_COMMANDS)
def test_an_output_in_a_missing_folder_is_refused_before_any_work(command, tmp_path):
    target = tmp_path / "missing" / "out.txt"
    result = runner.invoke(app, [*OUTPUT_COMMANDS[command], "--output", str(target)])
    assert_clean_exit_2(result)
    assert f"error: --output {target}: the folder {target.parent} does not exist" in result.output
    assert not target.parent.exists(), "nothing is created"


@pytest.mark.parametrize("command", OUTPUT_COMMANDS)
def test_an_output_that_is_a_folder_is_refused(command, tmp_path):
    result = runner.invoke(app, [*OUTPUT_COMMANDS[command], "--output", str(tmp_path)])
    assert_clean_exit_2(result)
    assert f"error: --output {tmp_path}: is a folder" in result.output


def test_the_diff_full_report_file_follows_the_output_rule(tmp_path):
    target = tmp_path / "missing" / "full.md"
    result = runner.invoke(app, ["diff", "--base", "HEAD", "--stack", "dev", "--format", "markdown", "--project-dir", str(ROOT), "--full-output", str(target)])
    assert_clean_exit_2(result)
    assert f"error: --full-output {target}: the folder {target.parent} does not exist" in result.output


def test_the_benchmark_report_folder_needs_its_parent(tmp_path):
    target = tmp_path / "missing" / "report"
    result = runner.invoke(app, ["benchmark", "report", str(ROOT / "benchmarks" / "results"), "--output", str(target)])
    assert_clean_exit_2(result)
    assert f"error: --output {target}: the folder {target.parent} does not exist" in result.output
    file = tmp_path / "a-file"
    file.write_text("")
    result = runner.invoke(app, ["benchmark", "report", str(ROOT / "benchmarks" / "results"), "--output", str(file)])
    assert_clean_exit_2(result)
    assert f"error: --output {file}: is a file; give a folder" in result.output


def test_an_output_that_cannot_be_written_is_bad_input(tmp_path):
    target = tmp_path / "read-only.sh"
    target.write_text("")
    target.chmod(0o400)
    result = runner.invoke(app, [*OUTPUT_COMMANDS["validate-job"], "--output", str(target)])
    if result.exit_code == 0:  # root writes anyway: nothing to refuse
        pytest.skip("running as root: read-only files are writable")
    assert_clean_exit_2(result)
    assert f"error: --output {target}: cannot be written" in result.output


def test_the_text_plan_written_to_a_file_is_plain_text(tmp_path):
    target = tmp_path / "plan.txt"
    result = runner.invoke(app, ["plan", "--stack", "ce-g2-serve", "--no-policy", "--project-dir", str(ROOT), "--output", str(target)])
    assert result.exit_code == 0, result.output
    text = target.read_text()
    assert "GpuVmCluster chat" in text and "\x1b[" not in text, "no terminal escapes in a file"


# --- places: unknown regions and zones are errors with the nearest names ----------------------------

@pytest.mark.parametrize(
    "args, message",
    [
        (["recommend", "-w", "inference", "--region", "mars-central1"], "error: --region 'mars-central1' is not a region where the catalog offers accelerators; did you mean us-central1"),
        (["catalog", "--region", "mars"], "error: --region 'mars' is not a region where the catalog offers accelerators; regions: asia-east1"),
        (["catalog", "--zone", "mars-1a"], "error: --zone 'mars-1a' is not a zone where the catalog offers accelerators; zones are in the regions: asia-east1"),
        (["catalog", "--zone", "us-central1-q"], "did you mean us-central1-f, us-central1-c, us-central1-b? zones of us-central1: us-central1-a"),
        (["catalog", "--zone", "europe-west4-a", "--region", "us-central1"], "error: --zone europe-west4-a is in europe-west4, not in --region us-central1"),
        (["benchmark", "report", str(ROOT / "benchmarks" / "results"), "--region", "mars-central1"], "error: --region 'mars-central1' is not a region"),
    ],
)
def test_unknown_places_are_bad_input_with_the_nearest_names(args, message):
    result = runner.invoke(app, args)
    assert_clean_exit_2(result)
    assert message in result.output
    assert "┏" not in result.output, "no table of another region's prices, no empty table"


def test_prices_from_another_region_say_where_they_are_from():
    from ai_clusters.core.catalog import catalog
    from ai_clusters.core.enums import ProvisioningModel
    from ai_clusters.core.places import known_regions

    cat = catalog()
    family, region, where = next(
        (fam.id, region, where)
        for fam in cat.families.values()
        if not fam.attached_accelerators
        for region in known_regions(cat)
        for where in [cat.node_price(cat.shape(fam.machine_types[0].name), region, ProvisioningModel.ON_DEMAND)[1]]
        if where not in (None, region)
    )
    result = runner.invoke(app, ["catalog", "--region", region, "--family", family], terminal_width=300)
    assert result.exit_code == 0
    assert f"({where})" in result.stdout, f"{family} in {region} is priced from {where}"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--hpc-offload", "extreme", "-w", "hpc"], "error: --hpc-offload: 'extreme' is not one of low, medium, high"),
        (["-a", "100001"], "error: --accelerators: Input should be less than or equal to 100000"),
        (["-w", "pretraining", "--latency-ms", "5"], "error: recommend: latencyMs applies to inference only, not pretraining"),
    ],
)
def test_recommend_names_the_options_typed(args, message):
    result = runner.invoke(app, ["recommend", *(["-w", "inference"] if "-w" not in args else []), *args])
    assert_clean_exit_2(result)
    assert message in result.output


# --- absurd scale: refused with the largest shape that fits -----------------------------------------

def test_a_hundred_thousand_inference_gpus_name_the_largest_shape_of_each_family():
    result = runner.invoke(app, ["recommend", "-w", "inference", "-a", "100000"], terminal_width=300)
    ranked = [line for line in result.stdout.splitlines() if re.match(r"^│\s*\d+\s*│", line)]
    assert not any("g2-standard" in line for line in ranked), "100,000 G2 VMs are not a recommendation"
    assert "100,000 GPUs need 12,500 nodes even of g2-standard-96, over the 10,000 nodes of one cluster (at most 80,000 GPUs of G2)" in result.stdout
    assert "the largest slice, v5litepod-256, has 256 chips" in result.stdout


def test_when_no_tier_fits_there_is_no_empty_table_but_one_error_line():
    result = runner.invoke(app, ["recommend", "-w", "pretraining", "-a", "100000", "--no-rejected"])
    assert result.exit_code == 1
    assert "┏" not in result.stdout
    assert "error: no tier fits 100,000 accelerator(s) for pretraining in us-central1; --rejected says why" in result.output


# --- the command line itself ------------------------------------------------------------------------

def test_version_and_the_exit_codes_in_help():
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"ai-clusters {version('ai-clusters')}"
    helped = runner.invoke(app, ["plan", "--help"], terminal_width=200)
    assert "Exit codes: 0 fine, 1 a mandatory policy failed, 2 bad input" in " ".join(helped.stdout.split())


def test_an_environment_without_policy_settings_says_what_was_not_checked(project):
    import shutil

    shutil.copytree(ROOT / "policies", project / "policies", dirs_exist_ok=True, ignore=shutil.ignore_patterns(".venv", "venv", "__pycache__"))
    write_stack(project, "nosuchenv", env(**{"ai-clusters:environment": "nosuchenv"}))
    result = runner.invoke(app, ["plan", "--stack", "nosuchenv", "--project-dir", str(project), "--format", "json"])
    assert result.exit_code == 0, result.output
    import json

    gaps = json.loads(result.stdout)["policy_not_checked"]
    assert len(gaps) == 2
    assert "environment 'nosuchenv' has no hourly budget (policies/config/nosuchenv.json does not exist)" in gaps[0]
    assert "environment 'nosuchenv' lists no allowed families" in gaps[1]
    text = runner.invoke(app, ["plan", "--stack", "nosuchenv", "--project-dir", str(project)], terminal_width=400)
    assert "not checked: budget-and-environment: environment 'nosuchenv' has no hourly budget" in text.stdout


# --- at exit: nothing on standard error, run after run ------------------------------------------------

def test_a_cli_run_repeated_leaves_standard_error_empty_at_exit():
    """`-W always::ResourceWarning` shows an event loop left open (finalised at exit, where it once printed
    `Exception ignored in BaseEventLoop.__del__ … Invalid file descriptor: -1` about one run in eight)."""
    command = [sys.executable, "-W", "always::ResourceWarning", "-m", "ai_clusters.tooling.cli"]
    runs = [["validate-job", "--stack", "tpu-serve", "--cluster", "v5e-serve"]] * 3 + [["plan", "--stack", "tpu-serve"]]
    for args in runs:
        done = subprocess.run([*command, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert done.stdout
        assert done.stderr == "", f"{args}: {done.stderr[-2000:]}"
