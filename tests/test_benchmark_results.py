"""Benchmark results, the report and the advisor's measured ranking: none of this needs JAX.

The checked-in CPU results (benchmarks/results/*.json) are real runs; results for GPU and TPU
machines below are derived from them inside the tests, never written to that folder.
"""

import io
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from ai_clusters.tooling import cli
from ai_clusters.tooling.benchmark import report, system
from ai_clusters.tooling.benchmark.results import (
    BenchmarkResult,
    Devices,
    Machine,
    MachineSource,
    load_result,
    load_results,
    seconds_per_epoch_by_tier,
    tier_keys,
)
from ai_clusters.core.catalog import catalog
from ai_clusters.core.enums import ProvisioningModel
from ai_clusters.core.spec import SpecError
from ai_clusters.tooling.benchmark.config import ModelKind

from .conftest import ROOT

RESULTS = ROOT / "benchmarks" / "results"
runner = CliRunner()


def flat(text: str) -> str:
    """Command output with rich's line wrapping undone."""
    return " ".join(text.split())


def checked_in(model: str) -> BenchmarkResult:
    hits = [r for r in load_results([RESULTS]) if r.workload.model.value == model]
    assert len(hits) == 1, f"expected one checked-in {model} result"
    return hits[0]


def derived(base: BenchmarkResult, seconds: float, *, machine: Machine, platform: str, kind: str, count: int) -> BenchmarkResult:
    """`base` as if measured on another machine in `seconds` per epoch."""
    timing = base.timing.model_copy(
        update={"seconds_per_epoch": seconds, "samples_per_second": base.workload.steps_per_epoch * base.workload.global_batch / seconds}
    )
    devices = Devices(platform=platform, kind=kind, count=count, process_count=1)
    return base.model_copy(update={"machine": machine, "devices": devices, "timing": timing})


def tpu(base: BenchmarkResult, tpu_type: str, seconds: float) -> BenchmarkResult:
    chips = catalog().tpu_slice(tpu_type).chips
    return derived(base, seconds, machine=Machine(tpu_type=tpu_type, source=MachineSource.FLAG), platform="tpu", kind="TPU", count=chips)


def gpu(base: BenchmarkResult, machine: Machine, seconds: float, count: int = 1) -> BenchmarkResult:
    return derived(base, seconds, machine=machine, platform="gpu", kind="NVIDIA GPU", count=count)


def write(folder: Path, **results: BenchmarkResult) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, result in results.items():
        (folder / f"{name}.json").write_text(result.to_json())
    return folder


# --- the checked-in results ---------------------------------------------------------------------
@pytest.mark.parametrize("model", ["cnn", "transformer"])
def test_checked_in_cpu_results_are_real_default_runs(model):
    r = checked_in(model)
    assert r.devices.platform == "cpu" and r.machine.machine_type == "local"
    assert r.workload.train_samples == {"cnn": 60_000, "transformer": 16_384}[model]
    assert r.workload.dataset == {"cnn": "synthetic-mnist", "transformer": "synthetic-tokens"}[model]
    assert len(r.epochs) == 3 and r.timing.compile_seconds > 0
    assert r.timing.seconds_per_epoch == sorted(e.seconds for e in r.epochs)[1]  # the median of three
    # accuracy is a real check: the runs learnt the task
    assert r.accuracy > 0.9 and r.epochs[-1].train_loss < r.epochs[0].train_loss
    assert r.memory.peak_bytes is None and "no memory statistics" in r.memory.reason
    assert r.utilisation.accelerator_percent_mean is None and r.utilisation.reason


def test_a_file_that_is_not_a_result_is_named(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"hello": 1}')
    with pytest.raises(SpecError, match="x.json: not an ai-clusters benchmark result"):
        load_result(bad)
    broken = checked_in("cnn").model_dump(mode="json")
    broken["timing"]["seconds_per_epoch"] = -1
    bad.write_text(json.dumps(broken))
    with pytest.raises(SpecError) as exc:
        load_result(bad)
    assert "timing.seconds_per_epoch" in str(exc.value)


# --- results -> advisor keys --------------------------------------------------------------------
def test_each_result_counts_for_its_machine_and_its_family():
    base = checked_in("cnn")
    assert tier_keys(base) == []  # a local CPU run prices nothing
    assert tier_keys(gpu(base, Machine(machine_type="g2-standard-4"), 5.0)) == ["g2-standard-4", "g2"]
    assert tier_keys(tpu(base, "v6e-8", 2.0)) == ["v6e-8", "v6e"]
    # N1 machine types carry any of several GPUs: the result counts for its GPU's family only
    n1 = gpu(base, Machine(machine_type="n1-standard-8", accelerator="nvidia-tesla-t4"), 9.0)
    assert tier_keys(n1) == ["n1-t4"]


def test_seconds_per_epoch_by_tier_keeps_the_fastest(tmp_path):
    base = checked_in("cnn")
    folder = write(
        tmp_path / "r",
        cpu=base,
        g2a=gpu(base, Machine(machine_type="g2-standard-4"), 6.0),
        g2b=gpu(base, Machine(machine_type="g2-standard-8"), 5.0),
        v6e=tpu(base, "v6e-8", 2.0),
    )
    measured = seconds_per_epoch_by_tier(folder)
    assert measured == {"g2-standard-4": 6.0, "g2-standard-8": 5.0, "g2": 5.0, "v6e-8": 2.0, "v6e": 2.0}
    assert seconds_per_epoch_by_tier(folder / "v6e.json") == {"v6e-8": 2.0, "v6e": 2.0}


def test_results_of_different_workloads_are_not_mixed(tmp_path):
    folder = write(tmp_path / "r", cnn=checked_in("cnn"), transformer=checked_in("transformer"))
    with pytest.raises(SpecError, match="2 different workloads"):
        seconds_per_epoch_by_tier(folder)


def test_a_folder_of_both_models_ranks_by_the_model_asked_for(tmp_path):
    cnn, transformer = checked_in("cnn"), checked_in("transformer")
    folder = write(
        tmp_path / "r",
        cnn_cpu=cnn,
        cnn_g2=gpu(cnn, Machine(machine_type="g2-standard-4"), 6.0),
        transformer_cpu=transformer,
        transformer_g2=gpu(transformer, Machine(machine_type="g2-standard-4"), 3.0),
        transformer_v6e=tpu(transformer, "v6e-8", 1.0),
    )
    assert seconds_per_epoch_by_tier(folder, ModelKind.TRANSFORMER) == {"g2-standard-4": 3.0, "g2": 3.0, "v6e-8": 1.0, "v6e": 1.0}
    assert seconds_per_epoch_by_tier(folder, ModelKind.CNN) == {"g2-standard-4": 6.0, "g2": 6.0}


def test_recommend_uses_the_shipped_results_of_its_workload(monkeypatch):
    """The shipped folder holds both models: pretraining ranks by the transformer's results instead of refusing."""
    result = CliRunner().invoke(cli.app, ["recommend", "-w", "pretraining", "-a", "8", "--benchmarks", str(ROOT / "benchmarks" / "results")])
    assert result.exit_code == 0, result.output
    assert "ranking by the measured transformer results" in result.output or "no transformer result" in result.output
    assert "different workloads" not in result.output
    bad = CliRunner().invoke(cli.app, ["recommend", "-w", "hpc", "--benchmarks", str(ROOT / "benchmarks" / "results"), "--benchmark-model", "rnn"])
    assert bad.exit_code == 2 and "--benchmark-model: 'rnn' is not one of cnn, transformer" in bad.output


# --- the advisor, through the command line ------------------------------------------------------
def recommend(monkeypatch, *args: str):
    buf = io.StringIO()
    monkeypatch.setattr(cli, "out", Console(file=buf, width=400, color_system=None))
    result = runner.invoke(cli.app, ["recommend", "-w", "finetuning", "-a", "8", "--no-rejected", *args])
    return result, [line for line in buf.getvalue().splitlines() if line.startswith("│")]


def rank_of(rows: list[str], text: str) -> int:
    return next(int(row.split("│")[1]) for row in rows if text in row)


def test_measured_results_reorder_the_recommendation(monkeypatch, tmp_path):
    result, rows = recommend(monkeypatch)
    assert result.exit_code == 0, result.output
    # by list price, TPU v5e ($1.20 per chip-hour) ranks above TPU v6e ($2.70)
    assert rank_of(rows, "v5litepod-8") < rank_of(rows, "v6e-8")

    base = checked_in("transformer")  # finetuning ranks by the transformer's results
    # v6e is 2.25x dearer per hour but measured 4x faster: cheaper per epoch
    folder = write(tmp_path / "results", cpu=base, v5e=tpu(base, "v5litepod-8", 100.0), v6e=tpu(base, "v6e-8", 25.0))
    result, rows = recommend(monkeypatch, "--benchmarks", str(folder))
    assert result.exit_code == 0, result.output
    assert rank_of(rows, "v6e-8") == 1 and rank_of(rows, "v5litepod-8") == 2
    v6e = next(r for r in rows if "v6e-8" in r)
    v5e = next(r for r in rows if "v5litepod-8" in r)
    assert "$0.1500 (25.0 s)" in v6e and "measured" in v6e  # 8 chips x $2.70 x 25 s / 3600
    assert "$0.2667 (100.0 s)" in v5e and "measured" in v5e
    # tiers without a measurement keep their list-price rank below the measured ones
    others = [r for r in rows if "v6e-8" not in r and "v5litepod-8" not in r]
    assert others and all(("list price" in r) for r in others)


def test_a_family_measurement_says_which_tier_it_came_from(monkeypatch, tmp_path):
    base = checked_in("transformer")
    folder = write(tmp_path / "results", v6e=tpu(base, "v6e-4", 30.0))
    result, rows = recommend(monkeypatch, "--benchmarks", str(folder))
    assert result.exit_code == 0, result.output
    v6e = next(r for r in rows if "v6e-8" in r)  # the advisor picks v6e-8; the measurement was on v6e-4
    assert "measured (v6e)" in v6e and rank_of(rows, "v6e-8") == 1


def test_recommend_rejects_two_configurations_of_its_model(tmp_path):
    """Two transformer runs of different batch sizes do not measure comparable epochs: refused, naming both."""
    base = checked_in("transformer")
    other = base.model_copy(update={"workload": base.workload.model_copy(update={"global_batch": base.workload.global_batch * 2})})
    folder = write(tmp_path / "r", a=base, b=other, cnn=checked_in("cnn"))
    result = runner.invoke(cli.app, ["recommend", "-w", "finetuning", "-a", "8", "--benchmarks", str(folder)])
    assert result.exit_code == 2
    assert "2 different workloads; keep one workload per folder" in flat(result.output)


# --- the report ---------------------------------------------------------------------------------
def n1_standard_2_hourly(model: str = "on_demand") -> float:
    return getattr(catalog().n1_machines["n1-standard-2"].prices["us-central1"], model)


def test_report_table_prices_each_tier_and_says_when_there_is_no_price():
    base = checked_in("cnn")
    results = [
        base,
        tpu(base, "v6e-8", 4.0),
        gpu(base, Machine(machine_type="n2-standard-8"), 60.0),  # not in the catalog
    ]
    (rep,) = report.build(results, "us-central1", ProvisioningModel.ON_DEMAND)
    assert rep.baseline is base and rep.chart_name == "cnn.png"
    assert [row.result.machine.name for row in rep.rows] == ["v6e-8", "n2-standard-8", "local"]  # fastest first
    v6e, n2, cpu = rep.rows
    assert v6e.speedup == pytest.approx(base.timing.seconds_per_epoch / 4.0)
    assert v6e.price.tier == "TPU v6e (Trillium)" and v6e.price.hourly_usd == pytest.approx(8 * 2.7)
    assert v6e.cost_per_epoch_usd == pytest.approx(8 * 2.7 * 4.0 / 3600)
    # the 2-core local CPU run is priced as the N1 machine with its 2 vCPUs, the machine a user would rent for it
    assert cpu.speedup == 1.0 and cpu.price.machine == "n1-standard-2" and cpu.price.provisioning == ProvisioningModel.ON_DEMAND
    assert cpu.cost_per_epoch_usd == pytest.approx(n1_standard_2_hourly() * base.timing.seconds_per_epoch / 3600)
    md = report.markdown([rep], "us-central1", ProvisioningModel.ON_DEMAND)
    lines = {line.split(" | ")[0].lstrip("| "): line for line in md.splitlines() if line.startswith("| ")}
    assert "| $21.60 | $0.0240 |" in lines["v6e-8"]
    assert lines["n2-standard-8"].endswith("| no list price | no list price |")
    assert lines["local"].endswith(
        f"| 1.0x | {base.accuracy:.1%} | — | — | ${n1_standard_2_hourly():.4f} | ${cpu.cost_per_epoch_usd:.4f} |"
    )
    assert "| local | CPU | n1-standard-2 |" in md
    assert "![cnn: speed-up and cost per epoch](cnn.png)" in md


def test_each_workload_opens_with_cpu_and_gpu_side_by_side():
    base = checked_in("transformer")
    g2 = gpu(base, Machine(machine_type="g2-standard-8", source=MachineSource.FLAG), 6.0)
    (rep,) = report.build([base, g2], "us-central1", ProvisioningModel.ON_DEMAND)
    rows = {r[0]: r[1:] for r in report.side_by_side(rep, ProvisioningModel.ON_DEMAND)}
    g2_hourly = catalog().machines["g2-standard-8"][1].prices["us-central1"].on_demand
    assert rows["seconds per epoch"] == [f"{base.timing.seconds_per_epoch:.2f} s", "6.00 s"]
    assert rows["samples per second"][1] == f"{base.workload.steps_per_epoch * base.workload.global_batch / 6.0:,.0f}"
    assert rows["test accuracy"] == [f"{base.accuracy:.1%}"] * 2
    assert rows["priced as"] == [
        f"n1-standard-2, on-demand, us-central1, ${n1_standard_2_hourly():.4f}/h",
        f"g2-standard-8, on-demand, us-central1, ${g2_hourly:.4f}/h",
    ]
    assert rows["$ / epoch"][1] == f"${g2_hourly * 6.0 / 3600:.4f}"
    assert rows["GPU speed-up over CPU"][0] == f"{base.timing.seconds_per_epoch / 6.0:,.1f}x"
    # the checked-in folder holds CPU results only: the GPU side says so instead of borrowing a figure
    (alone,) = report.build([base], "us-central1", ProvisioningModel.ON_DEMAND)
    rows = {r[0]: r[1:] for r in report.side_by_side(alone, ProvisioningModel.ON_DEMAND)}
    assert rows["seconds per epoch"][1] == "not measured" and rows["GPU speed-up over CPU"][0] == "needs a CPU and a GPU result"


def test_a_price_that_is_not_on_demand_is_marked_and_a_stand_in_says_so():
    base = checked_in("cnn")
    (rep,) = report.build([base], "us-central1", ProvisioningModel.SPOT)
    (cpu,) = rep.rows
    assert cpu.price.provisioning == ProvisioningModel.SPOT and cpu.price.hourly_usd == pytest.approx(n1_standard_2_hourly("spot"))
    assert cpu.price.hourly_text(ProvisioningModel.SPOT) == f"${n1_standard_2_hourly('spot'):.4f} (spot)"
    # a machine with an on-demand price only: asked for Spot, the on-demand price stands in and says so
    from ai_clusters.core.catalog import Catalog
    from ai_clusters.core.catalog.models import Price as ListPrice

    assert Catalog.quote({"us-central1": ListPrice(on_demand=1.5)}, "us-central1", ProvisioningModel.SPOT) == (1.5, "us-central1", ProvisioningModel.ON_DEMAND)
    stand_in = report.Price("X", 1.5, "us-central1", machine="x", provisioning=ProvisioningModel.ON_DEMAND)
    assert stand_in.hourly_text(ProvisioningModel.SPOT) == "$1.50 (on-demand: no spot price)"


def test_report_from_the_checked_in_results_writes_table_and_charts(tmp_path):
    pytest.importorskip("matplotlib")
    result = runner.invoke(cli.app, ["benchmark", "report", str(RESULTS), "--output", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    md = (tmp_path / "out" / "report.md").read_text()
    for model in ("cnn", "transformer"):
        r = checked_in(model)
        assert f"## {r.workload.describe()}" in md
        png = (tmp_path / "out" / f"{model}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000
    assert md.count("| local | CPU | n1-standard-2 | CPU (2 cores) |") == 2
    assert md.count("| GPU speed-up over CPU | needs a CPU and a GPU result |  |") == 2


def test_chart_shows_speed_up_and_cost_per_epoch():
    pytest.importorskip("matplotlib")
    base = checked_in("cnn")
    (rep,) = report.build([base, tpu(base, "v6e-8", 4.0)], "us-central1", ProvisioningModel.ON_DEMAND)
    fig = report.chart(rep)
    time_ax, speed_ax, cost_ax = fig.axes
    assert [t.get_text() for t in time_ax.get_yticklabels()] == [row.result.label for row in rep.rows]
    assert [p.get_width() for p in time_ax.patches] == pytest.approx([4.0, base.timing.seconds_per_epoch])
    assert [p.get_width() for p in speed_ax.patches] == pytest.approx([base.timing.seconds_per_epoch / 4.0, 1.0])
    cpu_cost = n1_standard_2_hourly() * base.timing.seconds_per_epoch / 3600
    assert [p.get_width() for p in cost_ax.patches] == pytest.approx([8 * 2.7 * 4.0 / 3600, cpu_cost])
    assert [t.get_text() for t in cost_ax.texts] == ["$0.0240", f"${cpu_cost:.4f}"]


def test_report_of_a_bad_file_exits_2(tmp_path):
    (tmp_path / "bad.json").write_text("[]")
    result = runner.invoke(cli.app, ["benchmark", "report", str(tmp_path / "bad.json"), "--output", str(tmp_path)])
    assert result.exit_code == 2 and "bad.json: not an ai-clusters benchmark result" in flat(result.output)


# --- the machine a result names -----------------------------------------------------------------
def test_machine_flags_are_checked_against_the_catalog():
    assert system.machine_from_flags(None, None, None).source == MachineSource.DEFAULT
    m = system.machine_from_flags("n1-standard-8", "nvidia-tesla-t4", None)
    assert (m.machine_type, m.accelerator, m.source) == ("n1-standard-8", "nvidia-tesla-t4", MachineSource.FLAG)
    with pytest.raises(SpecError) as exc:
        system.machine_from_flags("G2 Standard", "nvidia-l4", "v9-8")
    text = str(exc.value)
    assert "machine-type: 'G2 Standard' is not a Compute Engine machine type name" in text
    assert "accelerator: 'nvidia-l4' does not attach to N1" in text
    assert "accelerator: GPUs are attached to N1 machine types only" in text
    assert "tpu-type: 'v9-8' is not a TPU accelerator type" in text


def test_machine_from_the_metadata_server(httpserver, monkeypatch):
    flavor = {"Metadata-Flavor": "Google"}
    base = "/computeMetadata/v1/instance"
    httpserver.expect_request(f"{base}/machine-type", headers=flavor).respond_with_data("projects/123/machineTypes/ct6e-standard-4t")
    httpserver.expect_request(f"{base}/zone", headers=flavor).respond_with_data("projects/123/zones/us-east5-b")
    httpserver.expect_request(f"{base}/attributes/accelerator-type", headers=flavor).respond_with_data("v6e-4")
    monkeypatch.setenv("GCE_METADATA_HOST", f"127.0.0.1:{httpserver.port}")
    m = system.machine_from_metadata()
    assert (m.machine_type, m.zone, m.tpu_type, m.source) == ("ct6e-standard-4t", "us-east5-b", "v6e-4", MachineSource.METADATA)


def test_a_vm_without_a_tpu_has_no_accelerator_type(httpserver, monkeypatch):
    base = "/computeMetadata/v1/instance"
    httpserver.expect_request(f"{base}/machine-type").respond_with_data("projects/1/machineTypes/g2-standard-8")
    httpserver.expect_request(f"{base}/zone").respond_with_data("projects/1/zones/us-central1-a")
    httpserver.expect_request(f"{base}/attributes/accelerator-type").respond_with_data("", status=404)
    monkeypatch.setenv("GCE_METADATA_HOST", f"127.0.0.1:{httpserver.port}")
    m = system.machine_from_metadata()
    assert (m.machine_type, m.tpu_type) == ("g2-standard-8", None)


def test_no_metadata_server_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(system.MetadataError, match="did not answer"):
        system.machine_from_metadata(timeout=0.5)


def test_gpu_utilisation_is_sampled_inside_the_timed_windows(tmp_path):
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\nif [ \"$1\" = --query-gpu=driver_version ]; then echo 580.65.06; else printf '80\\n100\\n'; fi\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    assert system.nvidia_driver(str(fake)) == "580.65.06"
    with system.UtilisationSampler(str(fake), interval=0.02) as sampler:
        time.sleep(0.3)
        start = time.perf_counter()
        time.sleep(0.3)
        sampler.windows.append((start, time.perf_counter()))
    inside = sampler.in_windows()
    assert inside and set(inside) == {90.0} and len(inside) < len(sampler.samples)


# --- without JAX --------------------------------------------------------------------------------
BLOCK_JAX = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('jax', 'jaxlib'):
            raise ImportError('No module named ' + repr(name))
sys.meta_path.insert(0, Block())
sys.argv = ['ai-clusters', *sys.argv[1:]]
import ai_clusters.tooling.benchmark, ai_clusters.tooling.benchmark.results, ai_clusters.tooling.benchmark.report, ai_clusters.tooling.benchmark.system
from ai_clusters.tooling.cli import main
main()
"""


def test_without_jax_the_package_imports_and_the_benchmark_says_what_to_install(tmp_path):
    env = {**os.environ, "COLUMNS": "200"}
    run = subprocess.run([sys.executable, "-c", BLOCK_JAX, "benchmark", "--epochs", "1"], capture_output=True, text=True, env=env)
    assert run.returncode == 3, run.stderr
    assert "pip install 'ai-clusters[validate]'" in run.stderr
    run = subprocess.run(
        [sys.executable, "-c", BLOCK_JAX, "recommend", "-w", "inference", "--benchmarks", str(RESULTS / "local-cpu-2core-cnn.json")],
        capture_output=True, text=True, env=env,
    )
    assert run.returncode == 0, run.stderr
    assert "ranking by list price" in run.stderr


def test_without_matplotlib_the_report_is_the_table_alone(tmp_path):
    run = subprocess.run(
        [sys.executable, "-c", BLOCK_JAX.replace("('jax', 'jaxlib')", "('jax', 'jaxlib', 'matplotlib')"),
         "benchmark", "report", str(RESULTS), "--output", str(tmp_path)],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"},
    )
    assert run.returncode == 0, run.stderr
    assert "no charts without matplotlib" in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]
    md = (tmp_path / "report.md").read_text()
    assert "| local | CPU | n1-standard-2 | CPU (2 cores) |" in md and ".png" not in md
