"""The result file one benchmark run writes, and measured times per epoch for the advisor.

A result is JSON validated by `BenchmarkResult` on load, so the report and the advisor never work
from a file that is not one. No JAX here: results are read on machines without the validate
extra.

`seconds_per_epoch_by_tier` turns results into the mapping `ai_clusters.core.advisor.recommend` ranks
by: each result counts for its machine type (or TPU accelerator type) and for its catalog family
(or TPU generation); a family takes the fastest of its machines. A CPU-only machine, or one
named `local`, counts for nothing.
"""

import datetime
import json
from enum import Enum
from pathlib import Path
from typing import Iterable, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ai_clusters.core.catalog import Catalog, CatalogError, catalog
from ai_clusters.core.enums import WorkloadKind
from ai_clusters.core.spec.errors import Problem, SpecError, key_path
from ai_clusters.tooling.benchmark.config import ModelKind

FORMAT = "ai-clusters-benchmark/1"
LOCAL = "local"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MachineSource(str, Enum):
    """How the benchmark learnt which machine it ran on."""

    DEFAULT = "default"
    FLAG = "flag"
    METADATA = "metadata"


class Machine(_Model):
    """The machine as Google Cloud names it (what the catalog prices)."""

    machine_type: str = LOCAL
    accelerator: Optional[str] = None
    """Compute Engine accelerator type attached to an N1 machine type (nvidia-tesla-t4 …)."""
    tpu_type: Optional[str] = None
    """Cloud TPU accelerator type (v5litepod-8, v6e-8 …) when the run was on a TPU VM."""
    zone: Optional[str] = None
    source: MachineSource = MachineSource.DEFAULT

    @property
    def name(self) -> str:
        if self.tpu_type:
            return self.tpu_type
        if self.accelerator:
            return f"{self.machine_type} + {self.accelerator}"
        return self.machine_type


class Host(_Model):
    cpu_model: str
    cpu_count: int
    memory_gb: Optional[float] = None
    os: str


class Devices(_Model):
    """The JAX devices the run used (all local devices, data-parallel)."""

    platform: str
    """cpu, gpu or tpu."""
    kind: str
    """JAX's device_kind, e.g. `cpu`, `NVIDIA H100 80GB HBM3`, `TPU v5 lite`."""
    count: int = Field(ge=1)
    process_count: int = Field(ge=1)


class Software(_Model):
    python: str
    jax: str
    jaxlib: str
    numpy: str
    ai_clusters: str
    backend: Optional[str] = None
    """The XLA backend's platform version (CUDA, libtpu or the CPU client)."""
    nvidia_driver: Optional[str] = None


class Workload(_Model):
    """The work one epoch does; results are compared only when this matches."""

    model: ModelKind
    dataset: str
    train_samples: int
    test_samples: int
    global_batch: int
    steps_per_epoch: int
    dtype: str
    optimizer: str
    learning_rate: float
    parameters: int
    shape: dict[str, int]

    @property
    def signature(self) -> str:
        """What makes two epochs the same work (test-set size does not: evaluation is not timed)."""
        return json.dumps(self.model_dump(mode="json", exclude={"test_samples"}), sort_keys=True)

    def describe(self) -> str:
        samples = self.steps_per_epoch * self.global_batch
        return (
            f"{self.model.value} on {self.dataset}: {samples:,} samples per epoch, "
            f"global batch {self.global_batch}, {self.dtype}, {self.parameters:,} parameters"
        )


class EpochRecord(_Model):
    epoch: int = Field(ge=1)
    seconds: float = Field(gt=0)
    train_loss: float
    test_accuracy: float = Field(ge=0, le=1)


class Timing(_Model):
    compile_seconds: float = Field(ge=0)
    """Tracing and XLA compilation of the training and evaluation steps, before the first epoch."""
    seconds_per_epoch: float = Field(gt=0)
    """The median of the timed epochs (compilation excluded, evaluation excluded)."""
    samples_per_second: float = Field(gt=0)


class Memory(_Model):
    peak_bytes: Optional[int] = None
    """The most accelerator memory any one device held (JAX's peak_bytes_in_use)."""
    peak_bytes_per_device: Optional[list[int]] = None
    bytes_limit: Optional[int] = None
    host_peak_rss_bytes: Optional[int] = None
    reason: Optional[str] = None
    """Why there is no accelerator figure, when there is none."""


class Utilisation(_Model):
    accelerator_percent_mean: Optional[float] = None
    accelerator_percent_max: Optional[float] = None
    samples: int = 0
    source: Optional[str] = None
    reason: Optional[str] = None
    """Why there is no accelerator figure, when there is none."""
    host_cpu_percent: Optional[float] = None
    """CPU time of this process over the timed epochs, as a share of all host cores."""


class BenchmarkResult(_Model):
    """One run of `ai-clusters benchmark` on one machine."""

    format: str = FORMAT
    created: datetime.datetime
    machine: Machine
    host: Host
    devices: Devices
    software: Software
    workload: Workload
    seed: int
    timing: Timing
    epochs: list[EpochRecord] = Field(min_length=1)
    accuracy: float = Field(ge=0, le=1)
    """Test accuracy after the last epoch."""
    memory: Memory
    utilisation: Utilisation

    @property
    def is_cpu(self) -> bool:
        return self.devices.platform == "cpu"

    @property
    def label(self) -> str:
        devices = f"{self.devices.count} x {self.devices.kind}" if self.devices.platform != "cpu" else f"CPU, {self.host.cpu_count} cores"
        return f"{self.machine.name} ({devices})"

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"


def result_files(paths: Iterable[Path]) -> list[Path]:
    """Files as given, and the *.json files of folders (sorted)."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(sorted(path.glob("*.json")))
        else:
            files.append(path)
    return files


def load_result(path: Path) -> BenchmarkResult:
    """Read and validate one result file; a bad one ends in a SpecError naming the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError([], subject=f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpecError([], subject=f"{path}: not a JSON benchmark result ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SpecError([], subject=f"{path}: not an ai-clusters benchmark result (format is not {FORMAT})")
    try:
        return BenchmarkResult.model_validate(data)
    except ValidationError as exc:
        problems = [Problem(key_path(e["loc"]), e["msg"]) for e in exc.errors(include_url=False)]
        raise SpecError(problems, subject=str(path)) from None


def load_results(paths: Iterable[Path]) -> list[BenchmarkResult]:
    files = result_files(paths)
    if not files:
        raise SpecError([], subject=f"no benchmark results (*.json) in {', '.join(map(str, paths))}")
    return [load_result(f) for f in files]


def tier_keys(result: BenchmarkResult, cat: Optional[Catalog] = None) -> list[str]:
    """The advisor keys a result measures: machine or TPU type first, then family or generation.

    N1 machine types carry different GPUs, so an N1 result counts for its GPU's family only.
    """
    cat = cat or catalog()
    m = result.machine
    if result.is_cpu:
        return []
    if m.tpu_type:
        try:
            return [m.tpu_type, cat.tpu_slice(m.tpu_type).generation.id]
        except CatalogError:
            return [m.tpu_type]
    if m.accelerator:
        fam = cat.family_of_gpu(m.accelerator)
        return [fam.id] if fam else []
    fam = cat.family_of_machine(m.machine_type)
    if fam is not None:
        return [m.machine_type, fam.id]
    return [] if m.machine_type == LOCAL else [m.machine_type]


def one_workload(results: list[BenchmarkResult], where: str) -> list[BenchmarkResult]:
    """The results, provided they all measured the same workload (else epochs are not comparable)."""
    signatures = {r.workload.signature: r.workload for r in results}
    if len(signatures) > 1:
        problems = [Problem(w.model.value, w.describe()) for w in signatures.values()]
        raise SpecError(
            problems,
            subject=f"{where} holds results of {len(signatures)} different workloads; keep one workload per folder",
        )
    return results


BENCHMARK_MODEL = {
    # Which of the benchmark's two models stands for an advisor workload kind: transformer training and serving for
    # the language-model kinds, the convolutional network for graphics and HPC-style dense compute.
    WorkloadKind.PRETRAINING: ModelKind.TRANSFORMER,
    WorkloadKind.FINETUNING: ModelKind.TRANSFORMER,
    WorkloadKind.INFERENCE: ModelKind.TRANSFORMER,
    WorkloadKind.GRAPHICS: ModelKind.CNN,
    WorkloadKind.HPC: ModelKind.CNN,
}


def of_model(results: list[BenchmarkResult], model: ModelKind) -> list[BenchmarkResult]:
    """The results that measured `model` (the others measured another workload and are left out)."""
    return [r for r in results if r.workload.model == model]


def seconds_per_epoch_by_tier(path: Path, model: Optional[ModelKind] = None, cat: Optional[Catalog] = None) -> dict[str, float]:
    """Measured seconds per epoch keyed by machine type, TPU type, family and generation id.

    `path` is a result file or a folder of them; with `model`, only that model's results count (a folder may hold
    both models); several results for one key keep the fastest.
    """
    results = load_results([Path(path)])
    if model is not None:
        results = of_model(results, model)
    results = one_workload(results, str(path))
    measured: dict[str, float] = {}
    for result in results:
        for key in tier_keys(result, cat):
            seconds = result.timing.seconds_per_epoch
            measured[key] = min(seconds, measured.get(key, seconds))
    return measured
