"""A frozen base's features, computed once per grading run and read by every student whose base is the same.

In ``grade-all`` every student of ``transfer`` trains a head on the kit's frozen VGG16: the features of the
same images through the same base, about 2 s of a core per student (:mod:`autograder.host.frozen_base`
already computes them once per student instead of once per epoch). A run's grading processes share them
through a folder that only the grading side can reach (the run's own temporary folder, mode 0700, never bound
into a sandbox), one ``.npy`` file per (base, images).

A file is named after a SHA-256 digest of everything the features depend on: the Keras and TensorFlow versions, the
base's architecture (every layer's settings and how they connect), every weight's shape, type and bytes in the
base's order, and the images' shape, type and bytes. Another student reads a file only when their base (but for its
names) and images are those bytes too, so reads give exactly what computing would (the same ops on the same
numbers; checked: bitwise equal with 1 and 2 threads). A file that cannot be read back as the float32 array of the
expected shape is computed again, never trusted.

The names in the architecture do not count (:func:`autograder.host.shared_folder.architecture_without_names`):
a base whose layers Keras named otherwise (``input_layer_6`` for ``input_layer``: the student's notebook built
six models first) computes the same features, and reads them. Used by ``grade-all`` under isolation bwrap or
uid (not none, where student code could write into the folder): one folder per run on this machine, one per
Dask worker and run on a cluster.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import numpy as np

from autograder.host.shared_folder import architecture_without_names, hash_array, hash_part, hash_values, keep_whole

FORMAT = b"tf2-exercise-kit/frozen-features/2"
# Entries a run keeps (two per base: the training and the test images; about 0.8 MB for transfer's). A class
# whose bases all differ (re-initialised weights) would otherwise fill the disk; past it, features are computed.
MAX_ENTRIES = 64


def digest(base, images: np.ndarray) -> str:
    """SHA-256 of what ``base``'s output for ``images`` depends on (see the module's docstring)."""
    import keras
    import tensorflow as tf

    hasher = hashlib.sha256(FORMAT)
    for part in (keras.__version__, tf.__version__, architecture_without_names(base)[0]):
        hash_part(hasher, part.encode("utf-8"))
    hash_values(hasher, base.weights)
    hash_array(hasher, images)
    return hasher.hexdigest()


def features(folder: Path | None, base, images: np.ndarray, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """``compute()`` (``base``'s features of ``images``), read from ``folder`` when a grading of this run
    computed them already, else computed and kept there. ``folder`` None: computed, nothing kept."""
    if folder is None:
        return compute()
    expected = (len(images), *(int(d) for d in base.outputs[0].shape[1:]))
    path = Path(folder) / f"{digest(base, images)}.npy"
    kept = _read(path, expected)
    if kept is not None:
        return kept
    computed = compute()
    if isinstance(computed, np.ndarray) and computed.dtype == np.float32 and computed.shape == expected:
        _write(path, computed)  # another dtype (a float16 policy) is used as computed, and not kept
    return computed


def _read(path: Path, expected: tuple[int, ...]) -> np.ndarray | None:
    try:
        value = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):  # absent, being replaced, or not an array file: compute instead
        return None
    return value if value.dtype == np.float32 and value.shape == expected else None


def _write(path: Path, value: np.ndarray) -> None:
    keep_whole(path, "*.npy", MAX_ENTRIES, lambda out: np.save(out, value, allow_pickle=False))

