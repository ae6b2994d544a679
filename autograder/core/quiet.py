"""Keep TensorFlow's start-up chatter off the user's terminal, and nothing else.

Two sources of noise, two remedies:

* TensorFlow's own C++ logging (e.g. the ``cpu_feature_guard`` "binary is optimized..." lines, runtime
  INFO/WARNING lines) obeys ``TF_CPP_MIN_LOG_LEVEL``, read when the library loads: ``TF_ENVIRONMENT``
  is set before anything imports TensorFlow (``autograder/__main__.py``, ``cli.main``), only where the
  user has not set it already, so ``TF_CPP_MIN_LOG_LEVEL=0`` still shows everything when debugging.
* XLA/TSL code logs through Abseil, and Abseil writes every message logged before
  ``absl::InitializeLog()`` straight to file descriptor 2, whatever the level; TensorFlow never calls it,
  and no environment variable changes it. So ``import tensorflow`` prints the ``absl::InitializeLog``
  warning, the oneDNN notice and "Could not find cuda drivers" (twice: two libraries each carry Abseil).
  ``startup_noise_filtered`` catches fd 2 around that import only and replays every line that is not in
  the explicit ``NOISE`` list below, so real warnings and errors still reach the user.

(Turning oneDNN off with ``TF_ENABLE_ONEDNN_OPTS=0`` would silence its notice too, but changes numerics
and speed; only the message is unwanted.)
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from typing import Iterator

# Set before TensorFlow loads; setdefault, so a user's own value wins. 3 = C++ INFO/WARNING/ERROR hidden,
# as the Makefile has always set it (the sandbox workers inherit it, their stderr goes to a log file).
TF_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3"}

# Known start-up lines, nothing broader: "] " anchors the C++ ones after Abseil's "I0000 ... file.cc:N" prefix.
NOISE = tuple(re.compile(p) for p in (
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$",
    r"\] oneDNN custom operations are on\. ",
    r"\] Could not find cuda drivers on your machine, GPU will not be used\.$",
    r"\] This TensorFlow binary is optimized to use available CPU instructions in performance-critical",
    r"^To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags\.$",
    # CUDA builds on a GPU machine: each CUDA library's factory is registered by two copies of XLA.
    r"\] Unable to register cu(DNN|FFT|BLAS) factory: Attempting to register factory for plugin ",
    r"\] computation placer already registered\. ",
))


def is_noise(line: str) -> bool:
    return any(pattern.search(line.rstrip("\r\n")) for pattern in NOISE)


def set_tensorflow_environment() -> None:
    """Apply ``TF_ENVIRONMENT`` where unset; only effective before TensorFlow is imported."""
    for name, value in TF_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


@contextlib.contextmanager
def startup_noise_filtered() -> Iterator[None]:
    """Inside: fd 2 goes to a temporary file (a file, not a pipe: nothing can block on a full buffer).
    After: every captured line that is not ``NOISE`` is written to the real fd 2, in order."""
    sys.stderr.flush()
    real_stderr = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()  # Python-level writes made inside belong to the capture too
            os.dup2(real_stderr, 2)
            os.close(real_stderr)
            captured.seek(0)
            kept = [line for line in captured.read().splitlines(keepends=True)
                    if not is_noise(line.decode("utf-8", "replace"))]
            data = b"".join(kept)
            while data:  # os.write may write less than asked
                data = data[os.write(2, data):]


def import_tensorflow_quietly() -> None:
    """The first ``import tensorflow`` (and ``keras``, which loads it), minus the start-up noise."""
    if "tensorflow" in sys.modules:
        return
    set_tensorflow_environment()
    with startup_noise_filtered():
        import keras  # noqa: F401  (imports tensorflow, its backend)
        import tensorflow  # noqa: F401
