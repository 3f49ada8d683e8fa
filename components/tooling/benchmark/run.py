"""Run the benchmark on every local JAX device and measure it.

This module and `nets` import JAX; the command line imports them only when a benchmark runs. On a
multi-host TPU slice each host measures its own chips (`jax.local_devices()`).

How it measures:
- The data set is placed on the devices once (uint8 images or int32 tokens; tens of MB), so the
  timing is the accelerator's and not an input pipeline's.
- One jitted step trains one batch, picked on the device from the epoch's shuffled order. The
  batch is split over the devices of a one-axis mesh (`data`) and the replicated parameters get
  their gradients all-reduced by XLA: plain data parallelism, the same code on CPU, GPU and TPU.
  (Steps are dispatched from Python, asynchronously; a `lax.scan` over the epoch would save the
  dispatches but runs convolutions several times slower on XLA's CPU backend.)
- The shuffle, training and evaluation steps are compiled ahead of time
  (`jit(...).lower(...).compile()`), reported as `compile_seconds`. Each epoch is then timed from
  its shuffle to `block_until_ready` on its last step; `seconds_per_epoch` is the median epoch.
  Test accuracy is evaluated after every epoch, outside the timed window.
- Peak accelerator memory comes from `Device.memory_stats()` where the platform reports it;
  GPU utilisation from `nvidia-smi` sampled during the timed epochs.
"""

import contextlib
import datetime
import os
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ai_clusters import __version__
from ai_clusters.tooling.benchmark import data as datasets
from ai_clusters.tooling.benchmark import nets
from ai_clusters.tooling.benchmark.config import BenchmarkConfig, ComputeDtype, ModelKind
from ai_clusters.tooling.benchmark.results import (
    BenchmarkResult,
    Devices,
    EpochRecord,
    Machine,
    Memory,
    Software,
    Timing,
    Utilisation,
    Workload,
)
from ai_clusters.core.catalog import catalog
from ai_clusters.tooling.benchmark.system import UtilisationSampler, host_info, nvidia_driver, nvidia_smi


class BenchmarkError(RuntimeError):
    """The benchmark cannot run as configured on the devices found."""


def expected_platform(machine: Optional[Machine]) -> Optional[str]:
    """The JAX platform the named machine's accelerators show up as (None: a CPU machine, or none named)."""
    if machine is None:
        return None
    if machine.tpu_type:
        return "tpu"
    if machine.accelerator or machine.machine_type in catalog().machines:
        return "gpu"
    return None


@dataclass
class Progress:
    """Callbacks for a front end: a stage starts, a training step is dispatched, an epoch ends."""

    stage: Callable[[str], None] = lambda text: None
    step: Callable[[], None] = lambda: None
    epoch: Callable[[EpochRecord], None] = lambda record: None


def load_data(cfg: BenchmarkConfig) -> datasets.Dataset:
    assert cfg.train_samples is not None and cfg.test_samples is not None
    if cfg.model == ModelKind.TRANSFORMER:
        return datasets.synthetic_tokens(cfg.train_samples, cfg.test_samples, cfg.shape, cfg.seed)
    if cfg.mnist_path is not None:
        return datasets.load_mnist(cfg.mnist_path, cfg.train_samples, cfg.test_samples)
    return datasets.synthetic_images(cfg.train_samples, cfg.test_samples, cfg.seed)


def _padded(split: datasets.Split, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The test set padded to whole batches, with a weight per target (0 for padding)."""
    n = len(split)
    pad = -n % batch
    weight = np.ones(split.y.shape, np.float32) if split.mask is None else split.mask.astype(np.float32)
    x = np.concatenate([split.x, np.zeros((pad, *split.x.shape[1:]), split.x.dtype)])
    y = np.concatenate([split.y, np.zeros((pad, *split.y.shape[1:]), split.y.dtype)])
    w = np.concatenate([weight, np.zeros((pad, *weight.shape[1:]), np.float32)])
    shape = lambda a: a.reshape(-1, batch, *a.shape[1:])  # noqa: E731
    return shape(x), shape(y), shape(w)


def _software(devices: list[Any]) -> Software:
    import jaxlib

    backend = getattr(getattr(devices[0], "client", None), "platform_version", None)
    return Software(
        python=sys.version.split()[0],
        jax=jax.__version__,
        jaxlib=getattr(jaxlib, "__version__", "unknown"),
        numpy=np.__version__,
        ai_clusters=__version__,
        backend=str(backend).strip() if backend else None,
        nvidia_driver=nvidia_driver() if devices[0].platform == "gpu" else None,
    )


def _memory(devices: list[Any]) -> Memory:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
    stats = [d.memory_stats() for d in devices]
    if any(not s or "peak_bytes_in_use" not in s for s in stats):
        return Memory(host_peak_rss_bytes=rss, reason=f"JAX's {devices[0].platform} devices report no memory statistics")
    peaks = [int(s["peak_bytes_in_use"]) for s in stats]
    limit = stats[0].get("bytes_limit")
    return Memory(peak_bytes=max(peaks), peak_bytes_per_device=peaks, bytes_limit=int(limit) if limit else None, host_peak_rss_bytes=rss)


def _utilisation(platform: str, sampler: Optional[UtilisationSampler], cpu_seconds: float, wall: float) -> Utilisation:
    host = round(100.0 * cpu_seconds / (wall * (os.cpu_count() or 1)), 1) if wall > 0 else None
    if sampler is not None:
        values = sampler.in_windows()
        if values:
            return Utilisation(
                accelerator_percent_mean=round(statistics.fmean(values), 1),
                accelerator_percent_max=max(values),
                samples=len(values),
                source="nvidia-smi utilization.gpu",
                host_cpu_percent=host,
            )
        reason = "nvidia-smi returned no samples during the timed epochs"
    elif platform == "gpu":
        reason = "nvidia-smi is not on PATH"
    elif platform == "tpu":
        reason = "JAX does not report TPU utilisation; read the duty cycle from the tpu-info tool or Cloud Monitoring"
    else:
        reason = "no accelerator: the run was on the host CPU"
    return Utilisation(reason=reason, host_cpu_percent=host)


class _Session:
    """The workload placed on the devices, its steps compiled, its parameters trained in place."""

    def __init__(self, cfg: BenchmarkConfig, devices: list[Any], progress: Progress):
        assert cfg.global_batch is not None and cfg.learning_rate is not None
        self.cfg, self.devices, self.progress = cfg, devices, progress
        dtype = jnp.bfloat16 if cfg.dtype == ComputeDtype.BFLOAT16 else jnp.float32
        mesh = Mesh(np.array(devices), ("data",))
        self.replicated = NamedSharding(mesh, PartitionSpec())
        self.by_batch = NamedSharding(mesh, PartitionSpec("data"))

        progress.stage(f"preparing {cfg.dataset} ({cfg.train_samples:,} training samples)")
        self.data = load_data(cfg)
        self.model = nets.build(cfg.model, cfg.shape, dtype)
        put = lambda a: jax.device_put(a, self.replicated)  # noqa: E731
        self.params = put(self.model.init(jax.random.PRNGKey(cfg.seed)))
        self.opt_state = put(nets.adam_init(self.params))
        self.train = (put(self.data.train.x), put(self.data.train.y))
        self.test = tuple(put(a) for a in _padded(self.data.test, cfg.global_batch))
        self.key = jax.random.PRNGKey(cfg.seed + 1)

    # --- the three jitted functions ---------------------------------------------------------
    def _shuffle(self, key: jax.Array) -> jax.Array:
        steps, batch = self.cfg.steps_per_epoch, self.cfg.global_batch
        assert batch is not None
        return jax.random.permutation(key, self.train[0].shape[0])[: steps * batch].reshape(steps, batch)

    def _train_step(self, p, opt, loss_sum, xs, ys, order, i):  # type: ignore[no-untyped-def]
        idx = jax.lax.with_sharding_constraint(order[i], self.by_batch)
        loss, grads = jax.value_and_grad(lambda p: nets.cross_entropy(self.model.apply(p, xs[idx]), ys[idx]))(p)
        p, opt = nets.adam_update(p, grads, opt, self.cfg.learning_rate)
        return p, opt, loss_sum + loss

    def _eval_step(self, p, total, xs, ys, ws, i):  # type: ignore[no-untyped-def]
        x, y, w = (jax.lax.with_sharding_constraint(a[i], self.by_batch) for a in (xs, ys, ws))
        hits = (jnp.argmax(self.model.apply(p, x), axis=-1) == y).astype(jnp.float32)
        return total + jnp.stack([(hits * w).sum(), w.sum()])

    def compile(self) -> float:
        """Compile the three steps ahead of time; the seconds it took."""
        self.progress.stage(f"compiling for {len(self.devices)} x {self.devices[0].device_kind}")
        rep = self.replicated
        zero = jax.device_put(jnp.zeros((), jnp.float32), rep)
        t0 = time.perf_counter()
        self.shuffle_c = jax.jit(self._shuffle, out_shardings=rep).lower(self.key).compile()
        order = jax.ShapeDtypeStruct((self.cfg.steps_per_epoch, self.cfg.global_batch), jnp.int32, sharding=rep)
        self.train_c = (
            jax.jit(self._train_step, out_shardings=(rep, rep, rep), donate_argnums=(0, 1, 2))
            .lower(self.params, self.opt_state, zero, *self.train, order, 0)
            .compile()
        )
        totals = jax.device_put(jnp.zeros(2, jnp.float32), rep)
        self.eval_c = jax.jit(self._eval_step, out_shardings=rep).lower(self.params, totals, *self.test, 0).compile()
        return time.perf_counter() - t0

    def epoch(self, epoch: int) -> float:
        """Train one epoch; the mean training loss (the caller times it)."""
        order = self.shuffle_c(jax.random.fold_in(self.key, epoch))
        loss_sum = jax.device_put(jnp.zeros((), jnp.float32), self.replicated)
        for i in range(self.cfg.steps_per_epoch):
            self.params, self.opt_state, loss_sum = self.train_c(self.params, self.opt_state, loss_sum, *self.train, order, i)
            self.progress.step()
        return float(jax.block_until_ready(loss_sum)) / self.cfg.steps_per_epoch

    def accuracy(self) -> float:
        totals = jax.device_put(jnp.zeros(2, jnp.float32), self.replicated)
        for i in range(self.test[0].shape[0]):
            totals = self.eval_c(self.params, totals, *self.test, i)
        hits, weight = np.asarray(totals)
        return float(hits / weight)


def run_benchmark(cfg: BenchmarkConfig, machine: Optional[Machine] = None, progress: Optional[Progress] = None) -> BenchmarkResult:
    """Train the configured workload on all local devices and return the measured result."""
    cfg = cfg.resolved()
    assert cfg.global_batch is not None and cfg.learning_rate is not None and cfg.test_samples is not None
    progress = progress or Progress()
    devices = jax.local_devices()
    want = expected_platform(machine)
    if want is not None and devices[0].platform != want:
        # a CPU run filed under a GPU or TPU machine would be priced and ranked as that machine's
        raise BenchmarkError(
            f"{machine.name} has {want.upper()}s, but JAX sees only {devices[0].platform} devices: install JAX for the accelerator "
            '(pip install -U "jax[cuda13]" on NVIDIA GPUs, "jax[tpu]" on TPU VMs), or name no machine to measure the CPU'
        )
    if cfg.global_batch % len(devices):
        raise BenchmarkError(
            f"the global batch of {cfg.global_batch} does not split over {len(devices)} devices; pass a multiple of {len(devices)}"
        )
    session = _Session(cfg, devices, progress)
    compile_seconds = session.compile()

    platform = devices[0].platform
    binary = nvidia_smi() if platform == "gpu" else None
    sampler = UtilisationSampler(binary) if binary else None
    records: list[EpochRecord] = []
    cpu_seconds = wall = 0.0
    with sampler or contextlib.nullcontext():
        for epoch in range(1, cfg.epochs + 1):
            progress.stage(f"epoch {epoch} of {cfg.epochs}")
            c0, t0 = time.process_time(), time.perf_counter()
            loss = session.epoch(epoch)
            t1 = time.perf_counter()
            cpu_seconds += time.process_time() - c0
            wall += t1 - t0
            if sampler:
                sampler.windows.append((t0, t1))
            record = EpochRecord(epoch=epoch, seconds=t1 - t0, train_loss=loss, test_accuracy=session.accuracy())
            records.append(record)
            progress.epoch(record)

    seconds = statistics.median(r.seconds for r in records)
    samples = cfg.steps_per_epoch * cfg.global_batch
    return BenchmarkResult(
        created=datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0),
        machine=machine or Machine(),
        host=host_info(),
        devices=Devices(platform=platform, kind=devices[0].device_kind, count=len(devices), process_count=jax.process_count()),
        software=_software(devices),
        workload=Workload(
            model=cfg.model,
            dataset=session.data.name,
            train_samples=cfg.train_samples,
            test_samples=cfg.test_samples,
            global_batch=cfg.global_batch,
            steps_per_epoch=cfg.steps_per_epoch,
            dtype=cfg.dtype.value,
            optimizer="adam",
            learning_rate=cfg.learning_rate,
            parameters=nets.parameter_count(session.params),
            shape=cfg.shape,
        ),
        seed=cfg.seed,
        timing=Timing(compile_seconds=round(compile_seconds, 3), seconds_per_epoch=seconds, samples_per_second=samples / seconds),
        epochs=records,
        accuracy=records[-1].test_accuracy,
        memory=_memory(devices),
        utilisation=_utilisation(platform, sampler, cpu_seconds, wall),
    )
