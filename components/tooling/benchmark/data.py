"""The benchmark's data, made deterministically from a seed (numpy only, nothing is downloaded).

- `synthetic_images`: MNIST-shaped (28 x 28 grey images, 10 classes). Each class is a fixed
  glyph of a few thick strokes; every sample shifts its glyph by up to 4 pixels, varies its
  contrast, overlays a faint glyph of another class and adds noise. A CNN learns it to high
  accuracy within a few epochs, a broken run does not: the accuracy is a real check.
- `load_mnist`: a local copy of MNIST, either the four IDX files (optionally gzipped, as
  published by LeCun et al.) in one folder or a Keras-style `mnist.npz`.
- `synthetic_tokens`: sequences that repeat a random pattern whose period varies per sequence.
  Once a period has been seen the next token is predictable by looking back (what induction heads
  learn); accuracy is measured on those predictable positions only.
"""

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

IMAGE_SIZE = 28
CLASSES = 10
_SHIFT = 4  # pixels a glyph may move in each direction
_CHUNK = 8192  # images generated at a time, to keep memory flat


class DataError(ValueError):
    """A local data set that is not what the benchmark expects."""


@dataclass(frozen=True)
class Split:
    """Inputs, targets and (for tokens) which target positions count towards accuracy."""

    x: np.ndarray
    y: np.ndarray
    mask: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.x)


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Split
    test: Split


def _glyphs(rng: np.random.Generator) -> np.ndarray:
    """Ten class glyphs of 3-4 thick line strokes each, on a canvas padded for the shifts."""
    size = IMAGE_SIZE + 2 * _SHIFT
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    glyphs = np.zeros((CLASSES, size, size), np.float32)
    lo, hi = _SHIFT + 5, _SHIFT + IMAGE_SIZE - 5  # strokes stay in MNIST's central 20 x 20 box
    for c in range(CLASSES):
        for _ in range(rng.integers(3, 5)):
            (y0, x0), (y1, x1) = rng.uniform(lo, hi, size=(2, 2))
            dy, dx = y1 - y0, x1 - x0
            t = np.clip(((yy - y0) * dy + (xx - x0) * dx) / max(dy * dy + dx * dx, 1e-6), 0.0, 1.0)
            dist = np.hypot(yy - (y0 + t * dy), xx - (x0 + t * dx))
            glyphs[c] = np.maximum(glyphs[c], np.clip(1.6 - dist / 1.1, 0.0, 1.0))
    return glyphs


def _render(glyphs: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(labels)
    span = np.arange(IMAGE_SIZE)

    def shifted(which: np.ndarray) -> np.ndarray:
        dy = rng.integers(0, 2 * _SHIFT + 1, n)
        dx = rng.integers(0, 2 * _SHIFT + 1, n)
        rows = (dy[:, None] + span)[:, :, None]
        cols = (dx[:, None] + span)[:, None, :]
        return glyphs[which[:, None, None], rows, cols]

    other = (labels + rng.integers(1, CLASSES, n)) % CLASSES
    img = shifted(labels) * rng.uniform(0.55, 1.0, (n, 1, 1)).astype(np.float32)
    img = np.maximum(img, 0.35 * shifted(other))
    img += rng.normal(0.0, 0.25, img.shape).astype(np.float32)
    return (np.clip(img, 0.0, 1.0) * 255).astype(np.uint8)


def synthetic_images(train: int, test: int, seed: int = 0) -> Dataset:
    """MNIST-shaped images (uint8, N x 28 x 28) and labels (int32), the same for the same seed."""
    rng = np.random.default_rng(seed)
    glyphs = _glyphs(rng)
    total = train + test
    labels = rng.integers(0, CLASSES, total).astype(np.int32)
    images = np.empty((total, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    for start in range(0, total, _CHUNK):
        stop = min(start + _CHUNK, total)
        images[start:stop] = _render(glyphs, labels[start:stop], rng)
    return Dataset(
        "synthetic-mnist",
        Split(images[:train], labels[:train]),
        Split(images[train:], labels[train:]),
    )


# --- MNIST from a local copy --------------------------------------------------------------------
_IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}


def _read_idx(path: Path) -> np.ndarray:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0:2] != b"\x00\x00" or raw[2] != 0x08:
        raise DataError(f"{path} is not an IDX file of unsigned bytes")
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    body = np.frombuffer(raw, np.uint8, offset=4 + 4 * dims)
    if body.size != int(np.prod(shape)):
        raise DataError(f"{path}: header says {shape}, the file holds {body.size} bytes")
    return body.reshape(shape)


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, f"{stem}.gz", stem.replace("-idx", ".idx")):
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{folder} has no {stem}[.gz]")


def load_mnist(path: Path, train: int, test: int) -> Dataset:
    """The first `train` / `test` images of a local MNIST copy (IDX folder or mnist.npz)."""
    path = Path(path)
    if path.is_dir():
        arrays = {key: _read_idx(_find(path, stem)) for key, stem in _IDX_FILES.items()}
    else:
        try:
            with np.load(path) as npz:
                arrays = {key: npz[name] for key, name in zip(_IDX_FILES, ("x_train", "y_train", "x_test", "y_test"))}
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"{path} is neither an MNIST folder nor an mnist.npz ({exc})") from None
    for key in ("train", "test"):
        x, y = arrays[f"{key}_x"], arrays[f"{key}_y"]
        if x.ndim != 3 or x.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or len(x) != len(y):
            raise DataError(f"{path}: {key} images have shape {x.shape}, labels {y.shape}; expected N x 28 x 28 and N")
        if y.size and (y.min() < 0 or y.max() >= CLASSES):
            raise DataError(f"{path}: {key} labels are not 0-9")
    return Dataset(
        "mnist",
        Split(arrays["train_x"][:train].astype(np.uint8), arrays["train_y"][:train].astype(np.int32)),
        Split(arrays["test_x"][:test].astype(np.uint8), arrays["test_y"][:test].astype(np.int32)),
    )


# --- synthetic tokens ---------------------------------------------------------------------------
def _sequences(n: int, seq_len: int, vocab: int, min_period: int, max_period: int, rng: np.random.Generator) -> Split:
    periods = rng.integers(min_period, max_period + 1, n)
    patterns = rng.integers(0, vocab, (n, max_period))
    pos = np.arange(seq_len + 1)
    seqs = np.take_along_axis(patterns, pos[None, :] % periods[:, None], axis=1).astype(np.int32)
    # target t is token t+1; it repeats token t+1-period, so it is predictable once t+1 >= period.
    mask = (pos[None, 1:] >= periods[:, None])
    return Split(seqs[:, :-1], seqs[:, 1:], mask)


def synthetic_tokens(train: int, test: int, shape: dict[str, int], seed: int = 0) -> Dataset:
    """Token sequences (int32, N x seq_len) with next-token targets and the predictable positions."""
    rng = np.random.default_rng(seed)
    args = (shape["seq_len"], shape["vocab"], shape["min_period"], shape["max_period"])
    return Dataset("synthetic-tokens", _sequences(train, *args, rng), _sequences(test, *args, rng))
