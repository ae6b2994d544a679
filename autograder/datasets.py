"""Fashion-MNIST-shaped data for grading: a synthetic set the kit generates, or the real one.

The synthetic set is the default: deterministic for a seed, offline, and
learnable. Each of the 10 classes has a fixed prototype made of a few soft
strokes and blobs (the same for every seed, so the task does not change);
samples are the prototype shifted by up to two pixels, with random contrast,
a distractor blob and pixel noise. The seed only changes which samples are drawn.

The real Fashion-MNIST comes from ``tensorflow_datasets`` with the current
split API; it is used when it is present locally (or when downloading is
allowed) and the instructor asks for it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IMAGE_SIZE = 28
NUM_CLASSES = 10
_PROTOTYPE_SEED = 20191105
SOURCES = ("synthetic", "tfds")


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # uint8, (n, 28, 28, 1)
    labels: np.ndarray  # int64, (n,)


def _blob(cy: float, cx: float, sy: float, sx: float) -> np.ndarray:
    y, x = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float32)
    return np.exp(-(((y - cy) / sy) ** 2 + ((x - cx) / sx) ** 2) / 2.0)


def _prototypes() -> np.ndarray:
    rng = np.random.default_rng(_PROTOTYPE_SEED)
    prototypes = np.zeros((NUM_CLASSES, IMAGE_SIZE, IMAGE_SIZE), np.float32)
    for c in range(NUM_CLASSES):
        for _ in range(3):
            cy, cx = rng.uniform(6, 22, size=2)
            sy, sx = rng.uniform(1.5, 6.0, size=2)
            prototypes[c] += _blob(cy, cx, sy, sx)
        prototypes[c] /= prototypes[c].max()
    return prototypes


def synthetic_fashion_mnist(n: int, seed: int) -> Split:
    """``n`` deterministic 28x28x1 uint8 images in 10 learnable classes, for ``seed``."""
    if n < 1:
        raise ValueError(f"n must be at least 1. Received: {n!r}")
    rng = np.random.default_rng(seed)
    prototypes = _prototypes()
    labels = rng.integers(0, NUM_CLASSES, size=n)
    shifts = rng.integers(-2, 3, size=(n, 2))
    contrast = rng.uniform(0.55, 1.0, size=(n, 1, 1)).astype(np.float32)
    images = np.empty((n, IMAGE_SIZE, IMAGE_SIZE), np.float32)
    for i in range(n):
        images[i] = np.roll(prototypes[labels[i]], tuple(shifts[i]), axis=(0, 1))
    distractors = np.stack([_blob(*rng.uniform(4, 24, size=2), *rng.uniform(1.5, 4.0, size=2)) for _ in range(n)])
    images = images * contrast + 0.45 * rng.uniform(0, 1, size=(n, 1, 1)) * distractors
    images += rng.normal(0.0, 0.18, size=images.shape)
    pixels = np.clip(images * 255.0, 0, 255).round().astype(np.uint8)
    return Split(pixels[..., None], labels.astype(np.int64))


def tfds_fashion_mnist(split: str, n: int | None = None, *, data_dir: str | None = None,
                       download: bool = False) -> Split:
    """The real Fashion-MNIST ``split`` (e.g. ``"train"``, ``"test[:20%]"``) as NumPy arrays."""
    import tensorflow_datasets as tfds

    dataset = tfds.load("fashion_mnist", split=split, as_supervised=True, data_dir=data_dir,
                        download=download, shuffle_files=False)
    if n is not None:
        dataset = dataset.take(n)
    images, labels = [], []
    for image, label in tfds.as_numpy(dataset):
        images.append(image)
        labels.append(label)
    return Split(np.stack(images).astype(np.uint8), np.asarray(labels, np.int64))


def fashion_mnist(source: str, *, n_train: int, n_test: int, seed: int,
                  data_dir: str | None = None) -> tuple[Split, Split]:
    """Training and test splits from ``source`` (``"synthetic"`` or ``"tfds"``)."""
    if source == "synthetic":
        return synthetic_fashion_mnist(n_train, seed), synthetic_fashion_mnist(n_test, seed + 10_000)
    if source == "tfds":
        return (tfds_fashion_mnist(f"train[:{n_train}]", n_train, data_dir=data_dir),
                tfds_fashion_mnist(f"test[:{n_test}]", n_test, data_dir=data_dir))
    raise ValueError(f"source must be one of {SOURCES}. Received: {source!r}")
