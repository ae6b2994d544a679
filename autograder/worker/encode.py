"""Writing a probe's observations as plain data (runs inside the sandbox worker).

JSON values stay in the manifest, arrays become ``.npy`` files (read back without pickle),
Keras models ``.keras`` archives (read back by :mod:`autograder.host.evidence` with
``safe_mode=True``, after every byte has been checked); anything else is recorded as unsupported.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from autograder.core.wire import describe


def _to_array(value: Any) -> np.ndarray | None:
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, np.generic):
        return np.asarray(value)
    if hasattr(value, "numpy") and hasattr(value, "dtype") and hasattr(value, "shape"):
        return np.asarray(value.numpy())
    return None


def _is_json_value(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def encode_values(values: dict[str, Any], directory: Path) -> dict[str, dict]:
    """Write a probe's observations under ``directory``; return the manifest."""
    import keras  # the sandbox always has it loaded by now

    manifest: dict[str, dict] = {}
    for key, value in values.items():
        if not key.isidentifier():
            raise ValueError(f"observation keys must be identifiers. Received: {key!r}")
        array = _to_array(value)
        if isinstance(value, keras.Model):
            path = directory / f"{key}.keras"
            value.save(path)
            manifest[key] = {"kind": "model", "file": path.name}
        elif array is not None and array.dtype != object:
            path = directory / f"{key}.npy"
            np.save(path, array, allow_pickle=False)
            manifest[key] = {"kind": "array", "file": path.name}
        elif _is_json_value(value):
            manifest[key] = {"kind": "json", "value": value}
        else:
            manifest[key] = {"kind": "unsupported", "type": describe(value)}
    return manifest
