"""Plain data between the sandbox and the grading process.

The sandbox writes each probe's observations as JSON, ``.npy`` arrays (read back
with ``allow_pickle=False``) and ``.keras`` model files (read back with
``safe_mode=True``). Nothing executable crosses from student code to the grader.
"""
from __future__ import annotations

import json
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from autograder.i18n import Text, tr
from autograder.spec import CheckFailed

RESULT_FILE = "result.json"

# TensorFlow functions passed as ``activation=tf.nn.softmax`` are saved under their
# TF names; Keras cannot look these up again. Map them to the Keras activation.
_TF_ACTIVATION_ALIASES = {
    "softmax_v2": "softmax",
    "log_softmax_v2": "log_softmax",
    "relu": "relu",
    "relu6": "relu6",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "elu": "elu",
    "selu": "selu",
    "softplus": "softplus",
    "softsign": "softsign",
    "swish": "silu",
    "silu": "silu",
    "gelu": "gelu",
    "leaky_relu": "leaky_relu",
}


def describe(obj: Any) -> str:
    """A short, student-readable description of a value's type and shape."""
    if obj is None:
        return "None"
    shape = getattr(obj, "shape", None)
    dtype = getattr(obj, "dtype", None)
    kind = f"{type(obj).__module__.split('.')[0]}.{type(obj).__name__}"
    if type(obj).__module__ == "builtins":
        kind = type(obj).__name__
    if shape is not None and dtype is not None:
        try:
            shape_text = tuple(None if d is None else int(d) for d in shape)
        except TypeError:
            shape_text = shape
        return f"{kind} of dtype {getattr(dtype, 'name', dtype)} and shape {shape_text}"
    if isinstance(obj, (tuple, list)):
        return f"{kind} of length {len(obj)}"
    return kind


# ---------------------------------------------------------------- sandbox side
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


# ---------------------------------------------------------------- trusted side
def _patch_activation_aliases(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get("module") == "builtins" and node.get("class_name") == "function":
            alias = _TF_ACTIVATION_ALIASES.get(str(node.get("config")))
            if alias is not None:
                return alias
        return {key: _patch_activation_aliases(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_patch_activation_aliases(item) for item in node]
    return node


def load_model_safely(path: Path):
    """Load a ``.keras`` file with ``safe_mode=True`` after mapping TF activation aliases."""
    import keras

    with tempfile.TemporaryDirectory(prefix="ag-model-") as tmp:
        patched = Path(tmp) / "model.keras"
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(patched, "w") as target:
            for item in source.infolist():
                data = source.read(item.filename)
                if item.filename == "config.json":
                    data = json.dumps(_patch_activation_aliases(json.loads(data))).encode()
                target.writestr(item, data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # optimizer-variable notices are irrelevant here
            return keras.models.load_model(patched, safe_mode=True, compile=True)


class Evidence:
    """What one probe observed, with typed accessors that fail as the student's fault."""

    def __init__(self, manifest: dict[str, dict], directory: Path | None, inputs: dict[str, Any]):
        self._manifest = manifest
        self._directory = directory
        self.inputs = inputs
        self._models: dict[str, Any] = {}

    def value(self, key: str, what: Text | None = None) -> Any:
        entry = self._require(key, what)
        if entry["kind"] != "json":
            raise CheckFailed(tr("{what}: expected a plain value, got a {kind}.", what=what or key, kind=entry["kind"]))
        return entry["value"]

    def get(self, key: str, default: Any = None) -> Any:
        entry = self._manifest.get(key)
        return entry["value"] if entry is not None and entry["kind"] == "json" else default

    def array(self, key: str, what: Text | None = None) -> np.ndarray:
        entry = self._require(key, what)
        if entry["kind"] != "array":
            raise CheckFailed(tr("{what}: expected an array or tensor, got {kind}.", what=what or key,
                                 kind=self._kind_text(entry)))
        return np.load(self._directory / entry["file"], allow_pickle=False)

    def model(self, key: str, what: Text | None = None, *, fresh: bool = False):
        """The returned model, loaded safely; ``fresh=True`` gives an uncached copy to train."""
        if fresh or key not in self._models:
            entry = self._require(key, what)
            if entry["kind"] != "model":
                raise CheckFailed(tr("{what}: expected a keras.Model, got {kind}.", what=what or key,
                                     kind=self._kind_text(entry)))
            try:
                model = load_model_safely(self._directory / entry["file"])
            except Exception as exc:  # noqa: BLE001 - any load failure is a property of the submitted model
                raise CheckFailed(tr(
                    "{what}: the model could not be reloaded with safe_mode=True ({error}). Build it from standard "
                    "Keras layers only (no Lambda layers or custom classes).", what=what or key,
                    error=f"{type(exc).__name__}: {str(exc)[:300]}")) from exc
            if fresh:
                return model
            self._models[key] = model
        return self._models[key]

    def _require(self, key: str, what: Text | None) -> dict:
        entry = self._manifest.get(key)
        if entry is None:
            raise CheckFailed(tr("{what}: nothing was returned.", what=what or key))
        if entry["kind"] == "json" and entry["value"] is None:
            raise CheckFailed(tr("{what}: got None. Did you forget a `return` statement?", what=what or key))
        return entry

    @staticmethod
    def _kind_text(entry: dict) -> str:
        if entry["kind"] == "unsupported":
            return entry["type"]
        if entry["kind"] == "json":
            return describe(entry["value"])
        return tr("a {kind}", kind=entry["kind"])


def read_probe_result(directory: Path) -> dict:
    with open(directory / RESULT_FILE, encoding="utf-8") as handle:
        return json.load(handle)
