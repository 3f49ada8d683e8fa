"""What one benchmark run does: the workload's fixed shape and the knobs a user may turn.

The defaults are the documented workload (see the package docstring). Everything that changes the
work done in an epoch (model and its shape, data set, samples per epoch, global batch, precision,
optimizer) is part of the workload's signature: results are only compared when it matches.
"""

from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Optional

from ai_clusters.core.spec.errors import Problem, SpecError


class ModelKind(str, Enum):
    """The benchmark's two models."""

    CNN = "cnn"
    TRANSFORMER = "transformer"


class ComputeDtype(str, Enum):
    """The precision of activations and matmuls (weights and optimizer state stay float32)."""

    FLOAT32 = "float32"
    BFLOAT16 = "bfloat16"


# MNIST's own sizes: 60,000 training and 10,000 test images of 28 x 28 pixels, 10 classes.
MNIST_TRAIN_SAMPLES = 60_000
MNIST_TEST_SAMPLES = 10_000

CNN_SHAPE = {"conv1": 32, "conv2": 64, "dense": 128}
TRANSFORMER_SHAPE = {
    "vocab": 64,
    "seq_len": 64,
    "d_model": 128,
    "heads": 4,
    "layers": 2,
    "mlp": 512,
    # Each synthetic sequence repeats a random pattern whose period is drawn from this range. One
    # fixed period is a copy task a working model masters within an epoch; a range of periods
    # needs induction heads and many more steps.
    "min_period": 16,
    "max_period": 16,
}

DEFAULTS = {
    ModelKind.CNN: {
        "train_samples": MNIST_TRAIN_SAMPLES,
        "test_samples": MNIST_TEST_SAMPLES,
        "global_batch": 256,
        "learning_rate": 1e-3,
        "shape": CNN_SHAPE,
    },
    ModelKind.TRANSFORMER: {
        "train_samples": 16_384,
        "test_samples": 2_048,
        "global_batch": 128,
        "learning_rate": 3e-3,
        "shape": TRANSFORMER_SHAPE,
    },
}


@dataclass(frozen=True)
class BenchmarkConfig:
    """One run of the benchmark. Leave a field None for the workload's default."""

    model: ModelKind = ModelKind.CNN
    epochs: int = 3
    train_samples: Optional[int] = None
    test_samples: Optional[int] = None
    global_batch: Optional[int] = None
    learning_rate: Optional[float] = None
    dtype: ComputeDtype = ComputeDtype.FLOAT32
    seed: int = 0
    mnist_path: Optional[Path] = None
    shape: dict[str, int] = field(default_factory=dict)

    def resolved(self) -> "BenchmarkConfig":
        """Defaults filled in and every field checked; one SpecError names every bad one."""
        base = DEFAULTS[ModelKind(self.model)]
        cfg = replace(
            self,
            model=ModelKind(self.model),
            dtype=ComputeDtype(self.dtype),
            train_samples=self.train_samples if self.train_samples is not None else base["train_samples"],
            test_samples=self.test_samples if self.test_samples is not None else base["test_samples"],
            global_batch=self.global_batch if self.global_batch is not None else base["global_batch"],
            learning_rate=self.learning_rate if self.learning_rate is not None else base["learning_rate"],
            shape={**base["shape"], **self.shape},
        )
        problems = cfg._problems(set(self.shape) - set(base["shape"]))
        if problems:
            raise SpecError(problems, subject="benchmark")
        return cfg

    def _problems(self, unknown_shape_keys: set[str]) -> list[Problem]:
        assert self.train_samples is not None and self.test_samples is not None and self.global_batch is not None
        problems = []
        if self.epochs < 1:
            problems.append(Problem("epochs", f"must be at least 1, got {self.epochs}"))
        if self.global_batch < 1:
            problems.append(Problem("global_batch", f"must be at least 1, got {self.global_batch}"))
        elif self.train_samples < self.global_batch:
            problems.append(Problem("train_samples", f"{self.train_samples} is fewer than one batch of {self.global_batch}"))
        if self.test_samples < 1:
            problems.append(Problem("test_samples", f"must be at least 1, got {self.test_samples}"))
        if self.learning_rate is not None and self.learning_rate <= 0:
            problems.append(Problem("learning_rate", f"must be positive, got {self.learning_rate}"))
        if self.mnist_path is not None:
            if self.model != ModelKind.CNN:
                problems.append(Problem("mnist", "a local MNIST copy is only for --model cnn"))
            elif not Path(self.mnist_path).exists():
                problems.append(Problem("mnist", f"{self.mnist_path} does not exist"))
            if self.train_samples > MNIST_TRAIN_SAMPLES or self.test_samples > MNIST_TEST_SAMPLES:
                problems.append(
                    Problem("mnist", f"MNIST has {MNIST_TRAIN_SAMPLES} training and {MNIST_TEST_SAMPLES} test images")
                )
        for key in sorted(unknown_shape_keys):
            problems.append(Problem(f"shape.{key}", f"unknown key; allowed: {', '.join(DEFAULTS[self.model]['shape'])}"))
        for key, value in self.shape.items():
            if value < 1:
                problems.append(Problem(f"shape.{key}", f"must be at least 1, got {value}"))
        if self.model == ModelKind.TRANSFORMER and not unknown_shape_keys:
            s = self.shape
            if s["d_model"] % s["heads"]:
                problems.append(Problem("shape.d_model", f"{s['d_model']} is not divisible by {s['heads']} heads"))
            if not 1 <= s["min_period"] <= s["max_period"] < s["seq_len"]:
                problems.append(Problem("shape.max_period", "periods must satisfy 1 <= min_period <= max_period < seq_len"))
        return problems

    @property
    def steps_per_epoch(self) -> int:
        """Full batches per epoch; the remainder of the training set is left out (drop-remainder)."""
        assert self.train_samples is not None and self.global_batch is not None
        return self.train_samples // self.global_batch

    @property
    def dataset(self) -> str:
        if self.model == ModelKind.TRANSFORMER:
            return "synthetic-tokens"
        return "mnist" if self.mnist_path is not None else "synthetic-mnist"
