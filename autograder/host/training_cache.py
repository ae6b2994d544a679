"""A training check's run, computed once per grading run and read by every student whose model, data and settings
are the same.

In ``grade-all`` most students of a course hand in the book's model: the same layers, built under the run's one
seed, so the same initial weights, compiled alike. Each training check (``dense_trains``, ``cnn_trains``,
``gap_trains``, ``transfer_trains``) then trains the same numbers on the same data, about 6 s of a core per
student. A run's grading processes share the outcome through the run's shared folder, beside the frozen-base
features (:mod:`autograder.host.shared_folder`: the run's own temporary folder, mode 0700, never bound into a
sandbox, not used under isolation none), one small JSON file per run: the test accuracy and the per-epoch curves.

A file is named after a SHA-256 digest of everything the run depends on: the Keras and TensorFlow versions and
thread settings, the model's architecture (every layer's settings and how they connect, trainable flags
included) and compile configuration (optimizer, loss, metrics and their settings), without the names that
training cannot see (:func:`_described`: a notebook's models are numbered on), every variable's value in the
model's order (weights, the random seeds of layers such as Dropout, the optimizer's slots where the student
trained before returning), the inputs and labels the run trains and is tested on, the epochs, the batch size and
the run's seed. Training in the grading process is deterministic given those (tests/test_training_cache.py), so
another student reads a file only when computing would give them exactly what it holds. A compile configuration
that is not plain JSON has no digest: such a run is computed, never shared. A file that does not hold a run of
the expected form is computed again, never trusted, and JSON is all that is ever read. Two gradings that need
one run at once (two workers starting a class) train it once: the second waits, at most two minutes, for the
first's file.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Callable

import numpy as np

from autograder.host.shared_folder import architecture_without_names, hash_array, hash_part, hash_values, keep_whole

FORMAT = b"tf2-exercise-kit/training-run/2"
SUFFIX = ".training.json"
# Entries a run keeps (about 1 KB each): one per distinct (model, check). A class whose models all differ would
# otherwise write without end; past it, runs are computed and not kept.
MAX_ENTRIES = 4096
MAX_FILE_BYTES = 64 * 2**10
# How long a grading waits for another that is computing the same run (a transfer run takes about 1 s, a cnn run
# about 3 s of a core) before computing it itself.
MAX_WAIT_SECONDS = 120.0
WAIT_POLL_SECONDS = 0.05
# A curve keeps its metric's name where Keras could have made it; any other name (a student's compile config chose
# it: markup, newlines, a matplotlib formula) becomes "metric <k>" (autograder.host.context._curve_name) before it
# reaches a page, a figure or a file here.
CURVE_NAME = re.compile(r"[A-Za-z0-9_.\- ]{1,40}")


def digest(model, arrays: tuple[np.ndarray, ...], *, epochs: int, batch_size: int, seed: int) -> str | None:
    """SHA-256 of what training ``model`` on ``arrays`` (inputs and labels, training then test) depends on (see
    the module's docstring); None where the compile configuration is not plain JSON."""
    import keras
    import tensorflow as tf

    try:
        described = _described(model)
    except (TypeError, ValueError):  # an object JSON cannot state exactly: no digest rather than a loose one
        return None
    threads = (tf.config.threading.get_intra_op_parallelism_threads(),
               tf.config.threading.get_inter_op_parallelism_threads())
    hasher = hashlib.sha256(FORMAT)
    for part in (keras.__version__, tf.__version__, f"{threads}|{epochs}|{batch_size}|{seed}", *described):
        hash_part(hasher, part.encode("utf-8"))
    optimizer = getattr(model, "optimizer", None)
    variables = [*model.variables, *(getattr(optimizer, "variables", None) or [])]
    hash_part(hasher, str(len(variables)).encode("utf-8"))
    hash_values(hasher, variables)  # by order: a variable's path holds a process-wide counter
    for array in arrays:
        hash_array(hasher, array)
    return hasher.hexdigest()


def _described(model) -> tuple[str, str]:
    """The model's architecture and compile settings, as JSON, without names where training cannot see them.

    The optimizer's name (``adam_1`` where the process made an Adam before) never reaches a run. A layer's name
    does only through the outputs: a loss or metric given per output is keyed by its name, and several outputs
    name their curves after them (``a_loss``). So a model of one output whose compile settings name none of its
    layers is described without names; any other keeps them.
    """
    settings = model.get_compile_config()
    nameless = settings
    optimizer = settings.get("optimizer") if isinstance(settings, dict) else None
    if isinstance(optimizer, dict) and isinstance(optimizer.get("config"), dict):
        nameless = {**settings, "optimizer": {**optimizer, "config": {**optimizer["config"], "name": None}}}
    compiled = json.dumps(nameless, sort_keys=True, allow_nan=False)
    architecture, names = architecture_without_names(model)
    try:
        outputs = len(model.outputs)
    except (AttributeError, ValueError):
        outputs = None
    if outputs != 1 or any(json.dumps(name) in compiled for name in names):
        return model.to_json(sort_keys=True), json.dumps(settings, sort_keys=True, allow_nan=False)
    return architecture, compiled


def training_run(folder: Path | None, key: str | None, compute: Callable[[], tuple[float, dict]]
                 ) -> tuple[float, dict[str, list[float]]]:
    """``compute()`` (a run's test accuracy and curves), read from ``folder`` when a grading of this run computed
    it already, else computed and kept there. ``folder`` or ``key`` None: computed, nothing kept."""
    if folder is None or key is None:
        return compute()
    path = Path(folder) / f"{key}{SUFFIX}"
    kept = _read(path)
    if kept is not None:
        return kept
    with _claimed(Path(folder) / f"{key}.lock"):  # another grading computing this run: wait for it, then read
        kept = _read(path)
        if kept is not None:
            return kept
        accuracy, curves = compute()
        _write(path, accuracy, curves)
    return accuracy, curves


@contextlib.contextmanager
def _claimed(lock: Path):
    """Hold ``lock`` (an exclusive ``flock``, which the kernel releases when its holder ends, killed or not) while
    computing a run, so that two students graded at once do not train the same numbers twice. Waits at most
    :data:`MAX_WAIT_SECONDS`, then goes on unclaimed: a slow holder costs a waiter no more than that."""
    try:
        handle = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError:  # the folder is gone (the run ended) or full: compute unclaimed
        yield
        return
    try:
        deadline = time.monotonic() + MAX_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(WAIT_POLL_SECONDS)
        yield
    finally:
        os.close(handle)  # releases the lock where it was taken


def _read(path: Path) -> tuple[float, dict[str, list[float]]] | None:
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read(MAX_FILE_BYTES + 1) or b"-")
    except (OSError, ValueError, RecursionError):  # absent, being replaced, too long, not JSON or nested past
        return None                                    # what the parser takes: compute instead
    return _valid(data)


def _valid(data) -> tuple[float, dict[str, list[float]]] | None:
    """The run ``data`` holds, or None unless it has exactly the form :func:`_write` gives it."""
    if not isinstance(data, dict) or set(data) != {"accuracy", "history"}:
        return None
    accuracy, history = data["accuracy"], data["history"]
    if type(accuracy) is not float or not 0.0 <= accuracy <= 1.0 or not isinstance(history, dict):
        return None
    for name, values in history.items():
        if not (CURVE_NAME.fullmatch(name) and isinstance(values, list)
                and all(type(v) is float for v in values)):
            return None
    return accuracy, history


def _write(path: Path, accuracy: float, curves: dict[str, list[float]]) -> None:
    """Kept whole (:func:`autograder.host.shared_folder.keep_whole`), and nothing :func:`_valid` would refuse."""
    data = {"accuracy": float(accuracy),
            "history": {name: [float(v) for v in values] for name, values in curves.items()}}
    if _valid(data) is not None:
        keep_whole(path, f"*{SUFFIX}", MAX_ENTRIES, lambda out: out.write(json.dumps(data).encode("utf-8")))
