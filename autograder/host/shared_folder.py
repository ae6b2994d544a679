"""The run's shared folder: what a grading run's grading processes keep there for each other, and how.

Two kinds of entry live there: a frozen base's features (:mod:`autograder.host.feature_cache`) and a training
check's run (:mod:`autograder.host.training_cache`). The folder is the run's own temporary folder, mode 0700,
never bound into a sandbox: one per ``grade-all`` run on this machine, one per Dask worker and run on a cluster.
Each entry is named after a SHA-256 digest of everything it depends on, built from length-prefixed parts, and
written whole or not at all.
"""
from __future__ import annotations

import json
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


def architecture_without_names(model) -> tuple[str, set[str]]:
    """What ``model`` computes, as JSON: ``model.to_json(sort_keys=True)`` with every layer's and model's name
    replaced by a number (the order in which the walk first meets it) and without compile settings; and the
    names it replaced.

    Nothing a model computes depends on its names, yet Keras numbers a name after how many of its kind the
    process built before (``input_layer_6`` where a notebook built six models first), so two students' same base
    or model would otherwise be two entries. Only where Keras 3's configuration holds a name are strings
    replaced: the ``name`` of each entry in a ``layers`` list and of its ``config`` (and the root's), the layer
    that a tensor's ``keras_history`` comes from, and ``input_layers`` and ``output_layers``. The same name is
    always the same number, so which layer feeds which is kept; every other value (a dtype policy's ``name``,
    an activation) is kept as it was. Compile settings (``compile_config``, at any depth) change no output; a
    training run's digest states the model's own apart.
    """
    numbers: dict[str, str] = {}

    def number(name):
        return numbers.setdefault(name, f"#{len(numbers)}") if isinstance(name, str) else walk(name)

    def walk(node):
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        return {key: field(key, value) for key, value in sorted(node.items())}

    def field(key: str, value):
        if key == "keras_history" and isinstance(value, list) and value:
            return [number(value[0]), *walk(value[1:])]
        if key in ("input_layers", "output_layers"):
            return every_name(value)
        if key == "layers" and isinstance(value, list):
            return [named(layer) for layer in value]
        return walk(value)

    def every_name(value):
        return [every_name(item) for item in value] if isinstance(value, list) else number(value)

    def named(entry):  # a layer, or the model itself: its name, and its config's
        if not isinstance(entry, dict):
            return walk(entry)
        out = {}
        for key, value in sorted(entry.items()):
            if key == "name":
                out[key] = number(value)
            elif key == "config" and isinstance(value, dict):
                out[key] = {k: number(v) if k == "name" else field(k, v) for k, v in sorted(value.items())}
            elif key != "compile_config":
                out[key] = field(key, value)
        return out

    return json.dumps(named(json.loads(model.to_json())), sort_keys=True), set(numbers)


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
