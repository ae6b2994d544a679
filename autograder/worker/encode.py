"""Writing a probe's observations as plain data (runs inside the sandbox worker).

JSON values stay in the manifest, arrays become ``.npy`` files (read back without pickle),
Keras models ``.keras`` archives (read back by :mod:`autograder.host.evidence` with
``safe_mode=True``, after every byte has been checked); anything else is recorded as unsupported.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
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


def save_model(model, path: Path) -> None:
    """``model`` as a ``.keras`` archive at ``path``: the files of Keras's own unzipped save (config.json,
    metadata.json, model.weights.h5, and any assets) stored in a zip, as ``keras.Model.save`` stores them.

    Keras's zipped save writes the weights through h5py into an in-memory file object, one Python call per chunk:
    2 to 6 s of CPU for the six VGG16-sized models a transfer submission ships, against under 1 s this way (the
    unzipped save writes the HDF5 file natively, in the worker's temporary folder). Where that cannot be done (a
    Keras without unzipped saving, a temporary folder with no room left) Keras's own zipped save is used.
    """
    try:
        with tempfile.TemporaryDirectory(prefix="ag-save-") as scratch:
            folder = Path(scratch) / "model"
            model.save(folder, zipped=False)
            with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
                for root, folders, files in os.walk(folder):
                    folders.sort()
                    for name in sorted(files):
                        file = Path(root) / name
                        archive.write(file, file.relative_to(folder).as_posix())
    except (TypeError, OSError):  # no `zipped` in this Keras; no room in the temporary folder
        model.save(path)


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
            save_model(value, path)
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
