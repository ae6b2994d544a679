"""The run's shared folder: what a grading run's grading processes keep there for each other, and how.

Two kinds of entry live there: a frozen base's features (:mod:`autograder.host.feature_cache`) and a training
check's run (:mod:`autograder.host.training_cache`). The folder is the run's own temporary folder, mode 0700,
never bound into a sandbox: one per ``grade-all`` run on this machine, one per Dask worker and run on a cluster.
Each entry is named after a SHA-256 digest of everything it depends on, built from length-prefixed parts, and
written whole or not at all.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from autograder.host import modelspec


def may_share(isolation: str) -> bool:
    """Whether gradings under ``isolation`` may share a folder: not under level none, where student code runs
    unconfined and could write into it."""
    return isolation != "none"


def hash_part(hasher, data) -> None:
    """Add ``data`` (bytes, or a uint8 array) to ``hasher``, length-prefixed: no two sequences of parts hash alike."""
    hasher.update(len(data).to_bytes(8, "little"))
    hasher.update(data)


def hash_values(hasher, variables) -> None:
    """Add each variable's type, shape and bytes, in their order (which says whose each is)."""
    for variable in variables:
        kind, value = modelspec.weight_bytes(variable)  # the bytes a copy would hold, hashed in place
        hash_part(hasher, kind.encode("utf-8"))
        hash_part(hasher, value)


def hash_array(hasher, array: np.ndarray) -> None:
    array = np.ascontiguousarray(array)
    hash_part(hasher, f"{array.dtype.str}|{array.shape}".encode("utf-8"))
    hash_part(hasher, array.reshape(-1).view(np.uint8))


def keep_whole(path: Path, kind: str, max_entries: int, write: Callable) -> None:
    """``write(binary file)`` into ``path``, whole or not at all: a concurrent reader finds the old file, the new
    one, or none. Nothing once the folder holds ``max_entries`` files matching ``kind`` (concurrent writers may
    pass it by a few), and nothing where the folder is gone (the run ended) or full: the entry is just not kept."""
    try:
        if sum(1 for _ in path.parent.glob(kind)) >= max_entries and not path.exists():
            return
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".entry-", suffix=path.suffix)
    except OSError:
        return
    try:
        with os.fdopen(handle, "wb") as out:
            write(out)
        os.replace(temporary, path)
    except (OSError, ValueError):
        Path(temporary).unlink(missing_ok=True)
