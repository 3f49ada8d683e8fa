"""The benchmark itself, run on CPU with tiny configurations (skipped where JAX is not installed)."""

import gzip
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("jax")

from typer.testing import CliRunner  # noqa: E402

from ai_clusters import __version__
from ai_clusters.tooling import cli
from ai_clusters.tooling.benchmark import data
from ai_clusters.tooling.benchmark.config import BenchmarkConfig, ModelKind
from ai_clusters.tooling.benchmark.results import FORMAT, Machine, MachineSource, load_result
from ai_clusters.tooling.benchmark.run import Progress, expected_platform, run_benchmark
from ai_clusters.core.spec import SpecError


def flat(text: str) -> str:
    """Command output with rich's line wrapping undone."""
    return " ".join(text.split())

TINY_CNN = BenchmarkConfig(epochs=2, train_samples=512, test_samples=200, global_batch=64)
TINY_TRANSFORMER = BenchmarkConfig(
    model=ModelKind.TRANSFORMER,
    epochs=2,
    train_samples=256,
    test_samples=64,
    global_batch=32,
    shape={"vocab": 16, "seq_len": 16, "d_model": 32, "heads": 2, "layers": 1, "mlp": 64, "min_period": 4, "max_period": 4},
)


@pytest.fixture(scope="module")
def cnn_result():
    events: list[str] = []
    progress = Progress(stage=events.append, step=lambda: events.append("step"), epoch=lambda r: events.append(f"epoch {r.epoch}"))
    machine = Machine(machine_type="n2-standard-4", zone="us-central1-a", source=MachineSource.FLAG)  # a CPU machine: JAX's CPU is its device
    return run_benchmark(TINY_CNN, machine, progress), events


def test_tiny_cnn_run_reports_every_field(cnn_result):
    import jax
    import jaxlib

    r, events = cnn_result
    assert r.format == FORMAT and r.created.tzinfo is not None
    assert r.machine.machine_type == "n2-standard-4" and r.machine.zone == "us-central1-a"
    assert r.host.cpu_count == os.cpu_count() and r.host.cpu_model and r.host.os
    assert (r.devices.platform, r.devices.kind, r.devices.count, r.devices.process_count) == ("cpu", "cpu", 1, 1)
    sw = r.software
    assert (sw.jax, sw.jaxlib, sw.numpy, sw.ai_clusters) == (jax.__version__, jaxlib.__version__, np.__version__, __version__)
    assert sw.python == sys.version.split()[0] and sw.nvidia_driver is None
    w = r.workload
    assert (w.model, w.dataset, w.train_samples, w.test_samples, w.global_batch, w.steps_per_epoch) == (
        ModelKind.CNN, "synthetic-mnist", 512, 200, 64, 8
    )
    assert (w.dtype, w.optimizer, w.learning_rate) == ("float32", "adam", 1e-3)
    assert w.parameters == 421_642 and w.shape == {"conv1": 32, "conv2": 64, "dense": 128}
    assert [e.epoch for e in r.epochs] == [1, 2] and all(e.seconds > 0 for e in r.epochs)
    assert r.timing.seconds_per_epoch == pytest.approx(sum(e.seconds for e in r.epochs) / 2)  # median of two
    assert r.timing.samples_per_second == pytest.approx(512 / r.timing.seconds_per_epoch)
    assert r.timing.compile_seconds > 0
    assert r.accuracy == r.epochs[-1].test_accuracy and 0.0 <= r.accuracy <= 1.0
    # the test set is 200 images: accuracy is a whole number of them (padding does not count)
    assert round(r.accuracy * 200, 3) == pytest.approx(round(r.accuracy * 200))
    assert r.memory.peak_bytes is None and r.memory.reason == "JAX's cpu devices report no memory statistics"
    assert r.memory.host_peak_rss_bytes > 0
    u = r.utilisation
    assert u.accelerator_percent_mean is None and u.reason == "no accelerator: the run was on the host CPU"
    assert 0 < u.host_cpu_percent <= 100
    assert events.count("step") == 16 and events.index("epoch 1") < events.index("epoch 2")
    assert events[0].startswith("preparing synthetic-mnist") and events[1] == "compiling for 1 x cpu"


def test_result_file_round_trips(cnn_result, tmp_path):
    r, _ = cnn_result
    path = tmp_path / "r.json"
    path.write_text(r.to_json())
    assert load_result(path) == r
    raw = json.loads(path.read_text())
    assert set(raw) == {
        "format", "created", "machine", "host", "devices", "software", "workload", "seed", "timing", "epochs",
        "accuracy", "memory", "utilisation",
    }


def test_the_cnn_learns_the_synthetic_digits():
    r = run_benchmark(BenchmarkConfig(epochs=2, train_samples=2048, test_samples=500, global_batch=64))
    assert r.epochs[1].test_accuracy > 0.5  # chance is 10 %
    assert r.epochs[1].train_loss < r.epochs[0].train_loss


def test_tiny_transformer_run_learns_the_copy_task():
    r = run_benchmark(replace(TINY_TRANSFORMER, epochs=3, train_samples=1024))
    assert r.workload.dataset == "synthetic-tokens" and r.workload.shape["seq_len"] == 16
    assert r.accuracy > 0.5  # chance is 1/16 on the predictable positions


def test_data_parallel_over_several_devices():
    """Two XLA host devices stand in for two accelerators: the batch is split over both."""
    script = (
        "from ai_clusters.tooling.benchmark.run import run_benchmark, BenchmarkError\n"
        "from ai_clusters.tooling.benchmark.config import BenchmarkConfig\n"
        "r = run_benchmark(BenchmarkConfig(epochs=1, train_samples=256, test_samples=64, global_batch=64))\n"
        "print(r.devices.count, r.workload.global_batch)\n"
        "try:\n    run_benchmark(BenchmarkConfig(epochs=1, train_samples=256, test_samples=64, global_batch=63))\n"
        "except BenchmarkError as e:\n    print(e)\n"
    )
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "2 64"
    assert lines[1] == "the global batch of 63 does not split over 2 devices; pass a multiple of 2"


def test_bad_configuration_names_every_problem(tmp_path):
    with pytest.raises(SpecError) as exc:
        BenchmarkConfig(
            model=ModelKind.TRANSFORMER, epochs=0, train_samples=10, global_batch=64, mnist_path=tmp_path / "none",
            shape={"heads": 3, "depth": 2},
        ).resolved()
    text = str(exc.value)
    for expected in (
        "epochs: must be at least 1, got 0",
        "train_samples: 10 is fewer than one batch of 64",
        "mnist: a local MNIST copy is only for --model cnn",
        "shape.depth: unknown key",
    ):
        assert expected in text
    with pytest.raises(SpecError, match="shape.d_model: 128 is not divisible by 3 heads"):
        BenchmarkConfig(model=ModelKind.TRANSFORMER, shape={"heads": 3}).resolved()


# --- data ---------------------------------------------------------------------------------------
def test_synthetic_images_are_mnist_shaped_and_deterministic():
    a = data.synthetic_images(300, 100, seed=7)
    b = data.synthetic_images(300, 100, seed=7)
    assert a.train.x.shape == (300, 28, 28) and a.train.x.dtype == np.uint8
    assert a.test.y.shape == (100,) and set(np.unique(a.train.y)) == set(range(10))
    assert np.array_equal(a.train.x, b.train.x) and np.array_equal(a.test.y, b.test.y)
    assert not np.array_equal(a.train.x, data.synthetic_images(300, 100, seed=8).train.x)


def test_synthetic_tokens_mark_the_predictable_positions():
    shape = {"seq_len": 12, "vocab": 50, "min_period": 3, "max_period": 5}
    ds = data.synthetic_tokens(20, 5, shape, seed=0)
    x, y, mask = ds.train.x, ds.train.y, ds.train.mask
    assert x.shape == y.shape == mask.shape == (20, 12)
    assert np.array_equal(x[:, 1:], y[:, :-1])  # targets are the next tokens
    for seq, tgt, m in zip(x, y, mask):
        period = 12 - int(m.sum()) + 1  # targets 0..period-2 are unpredictable
        assert 3 <= period <= 5
        full = np.concatenate([seq, tgt[-1:]])
        assert all(full[t] == full[t - period] for t in range(period, 13))


def _idx(path: Path, array: np.ndarray, gz: bool) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


def test_a_local_mnist_copy_is_read_from_idx_files_or_npz(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (30, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, 30),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (10, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, 10),
    }
    for i, (name, arr) in enumerate(arrays.items()):
        _idx(tmp_path / (name + (".gz" if i % 2 else "")), arr, gz=bool(i % 2))
    ds = data.load_mnist(tmp_path, 20, 10)
    assert ds.name == "mnist" and ds.train.x.shape == (20, 28, 28)
    assert np.array_equal(ds.train.y, arrays["train-labels-idx1-ubyte"][:20])
    npz = tmp_path / "mnist.npz"
    np.savez(npz, x_train=arrays["train-images-idx3-ubyte"], y_train=arrays["train-labels-idx1-ubyte"],
             x_test=arrays["t10k-images-idx3-ubyte"], y_test=arrays["t10k-labels-idx1-ubyte"])
    assert np.array_equal(data.load_mnist(npz, 30, 10).test.x, arrays["t10k-images-idx3-ubyte"].astype(np.uint8))
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(data.DataError, match="neither an MNIST folder nor an mnist.npz"):
        data.load_mnist(tmp_path / "junk.npz", 1, 1)


# --- the command --------------------------------------------------------------------------------
def test_benchmark_command_writes_the_result(tmp_path):
    out = tmp_path / "tiny.json"  # an --output folder must exist (tests/test_bad_input.py)
    tiny = ["benchmark", "--epochs", "1", "--train-samples", "256", "--test-samples", "64", "--batch-size", "64"]
    result = CliRunner().invoke(cli.app, [*tiny, "--machine-type", "n1-standard-8", "-o", str(out)])
    assert result.exit_code == 0, result.output
    r = load_result(out)
    assert (r.machine.machine_type, r.machine.accelerator, r.machine.source) == ("n1-standard-8", None, MachineSource.FLAG)
    assert r.workload.steps_per_epoch == 4 and len(r.epochs) == 1
    assert "epoch 1:" in result.output and f"result written to {out}" in flat(result.output)


def test_a_gpu_or_tpu_machine_whose_accelerators_jax_does_not_see_is_refused_before_training(tmp_path):
    # JAX here has only its CPU: a result filed under a GPU or TPU machine would be priced and ranked as one
    tiny = ["benchmark", "--epochs", "1", "--train-samples", "256", "--test-samples", "64", "--batch-size", "64"]
    for flags, what in (
        (["--machine-type", "n1-standard-8", "--accelerator", "nvidia-tesla-t4"], "n1-standard-8 + nvidia-tesla-t4 has GPUs"),
        (["--machine-type", "a3-highgpu-1g"], "a3-highgpu-1g has GPUs"),
        (["--tpu-type", "v5litepod-8"], "v5litepod-8 has TPUs"),
    ):
        out = tmp_path / "x.json"
        result = CliRunner().invoke(cli.app, [*tiny, *flags, "-o", str(out)])
        assert result.exit_code == 2, result.output
        assert f"{what}, but JAX sees only cpu devices" in flat(result.output) and "epoch 1:" not in result.output
        assert not out.exists()
    assert expected_platform(Machine(machine_type="n2-standard-4")) is None and expected_platform(None) is None


def test_benchmark_command_rejects_bad_flags_before_running(tmp_path):
    result = CliRunner().invoke(cli.app, ["benchmark", "--epochs", "0", "--tpu-type", "v9-8"])
    assert result.exit_code == 2
    text = flat(result.output)
    assert "benchmark: epochs: must be at least 1, got 0" in text and "tpu-type: 'v9-8' is not a TPU accelerator type" in text
    result = CliRunner().invoke(cli.app, ["benchmark", "--from-metadata", "--machine-type", "g2-standard-4"])
    assert result.exit_code == 2 and "--from-metadata reads the machine" in flat(result.output)
