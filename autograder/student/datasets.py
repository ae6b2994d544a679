"""Fashion-MNIST-shaped data for grading: a synthetic set the kit generates, or the real one.

The synthetic set is the default: deterministic for a seed, offline, and
learnable. Each of the 10 classes has a fixed prototype made of a few soft
strokes and blobs (the same for every seed, so the task does not change);
samples are the prototype shifted by up to two pixels, with random contrast,
a distractor blob and pixel noise. The seed only changes which samples are drawn.

The two-class RGB set (``synthetic_two_class``) stands in for cats_vs_dogs: each
image is a soft-edged object on a noisy background tinted by the object; the
class decides the colour family (warm or cool, each sample's shade jittered).
Colour is chosen as the cue because it survives a frozen, randomly initialised
VGG16, which is what the transfer checks train on when no ImageNet weights are
available offline.

The real Fashion-MNIST and cats_vs_dogs come from ``tensorflow_datasets`` with
the current split API; they are used when present locally (or when downloading
is allowed) and the instructor asks for them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IMAGE_SIZE = 28
NUM_CLASSES = 10
_PROTOTYPE_SEED = 20191105
_CLASS_COLOURS = np.array([[0.8, 0.45, 0.2], [0.2, 0.45, 0.8]])  # warm "cats", cool "dogs"
_COLOUR_JITTER, _SCENE_TINT = 0.05, 0.85
SOURCES = ("synthetic", "tfds")
# cats_vs_dogs has only a "train" split; the kit holds out its last 20% for testing.
CATS_VS_DOGS_SPLITS = ("train[:80%]", "train[80%:]")


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


def synthetic_two_class(n: int, image_size: int, seed: int) -> Split:
    """``n`` deterministic ``image_size`` x ``image_size`` x 3 uint8 images in 2 classes (labels 0/1)."""
    if n < 1 or image_size < 8:
        raise ValueError(f"n must be at least 1 and image_size at least 8. Received: n={n!r}, "
                         f"image_size={image_size!r}")
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n)
    y, x = np.mgrid[0:image_size, 0:image_size].astype(np.float32) / image_size
    images = np.empty((n, image_size, image_size, 3), np.float32)
    for i, label in enumerate(labels):
        colour = np.clip(_CLASS_COLOURS[label] + rng.normal(0.0, _COLOUR_JITTER, size=3), 0.0, 1.0)
        scenery = rng.uniform(0.3, 0.7, size=3)
        cy, cx = rng.uniform(0.3, 0.7, size=2)
        ry, rx = rng.uniform(0.2, 0.4, size=2)
        inside = np.exp(-(((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2) ** 2)[..., None]
        background = (1 - _SCENE_TINT) * scenery + _SCENE_TINT * colour  # the class colour tints the scene
        images[i] = background * (1.0 - inside) + colour * inside
    images += rng.normal(0.0, 0.06, size=images.shape)
    images *= rng.uniform(0.8, 1.1, size=(n, 1, 1, 1))  # exposure
    pixels = np.clip(images * 255.0, 0, 255).round().astype(np.uint8)
    return Split(pixels, labels.astype(np.int64))


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


def tfds_cats_vs_dogs(split: str, n: int, image_size: int, *, data_dir: str | None = None,
                      download: bool = False) -> Split:
    """``n`` images of the real cats_vs_dogs ``split``, resized to ``image_size`` (uint8, labels 0 cat / 1 dog)."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    dataset = tfds.load("cats_vs_dogs", split=split, as_supervised=True, data_dir=data_dir,
                        download=download, shuffle_files=False).take(n)
    images, labels = [], []
    for image, label in dataset:
        resized = tf.image.resize(image, (image_size, image_size))
        images.append(np.clip(np.rint(resized.numpy()), 0, 255).astype(np.uint8))
        labels.append(int(label))
    if not images:
        raise ValueError(f"cats_vs_dogs split {split!r} is empty. Received: n={n!r}")
    return Split(np.stack(images), np.asarray(labels, np.int64))


def two_class(source: str, *, n_train: int, n_test: int, image_size: int, seed: int,
              data_dir: str | None = None) -> tuple[Split, Split]:
    """Training and test images for the binary (cats vs dogs) assignments from ``source``."""
    if source == "synthetic":
        return (synthetic_two_class(n_train, image_size, seed),
                synthetic_two_class(n_test, image_size, seed + 10_000))
    if source == "tfds":
        train_split, test_split = CATS_VS_DOGS_SPLITS
        return (tfds_cats_vs_dogs(train_split, n_train, image_size, data_dir=data_dir),
                tfds_cats_vs_dogs(test_split, n_test, image_size, data_dir=data_dir))
    raise ValueError(f"source must be one of {SOURCES}. Received: {source!r}")
