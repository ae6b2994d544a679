"""Plain data between the sandbox and the grading process.

The sandbox writes each probe's observations as JSON, ``.npy`` arrays (read back
with ``allow_pickle=False``) and ``.keras`` model files (read back with
``safe_mode=True``). Nothing executable crosses from student code to the grader.

Those files are written by the process that runs student code, so the grading process
treats them as hostile: sizes are capped before anything is read or unpacked, a
``.keras`` archive must hold exactly what ``keras.Model.save`` writes and a config that
names only Keras's own modules, classes and functions, and an array's header is checked
before its data is read. Whatever is refused raises :class:`UnsafeArtifact`, a
:class:`CheckFailed`: the student's check fails, the grader carries on.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import re
import shutil
import site
import stat
import struct
import sys
import sysconfig
import tempfile
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from autograder.core.keras_init import initialization_wrapped, random_draws_skipped
from autograder.core.i18n import Text, tr
from autograder.core.spec import CheckFailed
from autograder.core.wire import RESULT_FILE, describe


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


# ---------------------------------------------------------------- trusted side
# Everything below reads files that student code wrote (the sandbox worker runs it), so every
# byte is hostile: sizes are checked before anything is read or unpacked, a file is opened only
# when it is a plain file (never a link, a FIFO or a device), and whatever does not look exactly
# like what the kit's own sandbox writes is refused as the student's failure (UnsafeArtifact).

MiB = 2**20
ALLOWED_ARCHIVE_ENTRIES = ("config.json", "metadata.json", "model.weights.h5")  # what keras.Model.save writes
MAX_ARCHIVE_ENTRIES = 64                 # refused from the zip's end record, before its directory is parsed
MAX_CENTRAL_DIRECTORY_BYTES = 64 * 2**10
MAX_CONFIG_BYTES = 2 * MiB               # config.json (VGG16 in a functional model: about 22 KB)
MAX_METADATA_BYTES = 64 * 2**10          # metadata.json (about 64 bytes)
MAX_WEIGHTS_BYTES = 256 * MiB            # model.weights.h5: VGG16 without top is 59 MB; the sandbox ships
                                         # models up to 60M parameters (graders.common.contract.MAX_SHIPPED_PARAMETERS, 229 MiB)
MAX_ARCHIVE_BYTES = MAX_CONFIG_BYTES + MAX_METADATA_BYTES + MAX_WEIGHTS_BYTES  # all entries, unpacked
MAX_MODEL_FILE_BYTES = MAX_ARCHIVE_BYTES + 1 * MiB                              # the .keras file itself
MAX_COMPRESSION_RATIO = 100              # unpacked / packed size of one entry (Keras stores entries unpacked)
COMPRESSION_RATIO_FLOOR = 1 * MiB        # entries that unpack to less than this are never a bomb
MAX_CONFIG_DEPTH = 100                   # nesting of config.json (VGG16 in a functional model: 13)
MAX_WEIGHT_OBJECTS = 100_000             # groups and datasets in model.weights.h5 (VGG16: about 100)
VARIABLE_BYTES_FACTOR = 6                # a load may create this many times the stored weights (optimizer slots)...
VARIABLE_BYTES_ALLOWANCE = 64 * MiB      # ...plus this, before the layers the config declares are refused,
MAX_VARIABLE_BYTES = 1024 * MiB          # and never more than this (60M parameters with Adam: 720 MB)
MAX_ARRAY_BYTES = 256 * MiB              # one .npy observation, file and declared data
MAX_RESULT_BYTES = 8 * MiB               # one result.json
_CHUNK = 1 * MiB

# Keras modules (``keras.X`` or ``keras.src.X...``) whose classes a course model may name.
ALLOWED_CLASS_FAMILIES = frozenset({
    "layers", "models", "initializers", "regularizers", "constraints", "activations", "optimizers", "losses",
    "metrics", "dtype_policies", "mixed_precision", "random"})
# Where a saved function may come from: Keras's activations, losses, metrics and the like.
ALLOWED_FUNCTION_FAMILIES = ("activations", "losses", "metrics", "initializers", "regularizers", "constraints")
# Classes that read files named in their config, or run a saved TensorFlow graph: never in a course model.
FORBIDDEN_CLASSES = frozenset({"TFSMLayer"})
FILE_VOCABULARY_CLASSES = frozenset({"StringLookup", "IntegerLookup", "TextVectorization", "IndexLookup"})
_MODULE_NAME = re.compile(r"keras(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
_NOT_FUNCTIONS = frozenset({"get", "serialize", "deserialize"})


class UnsafeArtifact(CheckFailed):
    """A file student code wrote was refused before (or while) the grader read it; the message is for the student."""


class ProbeResultError(UnsafeArtifact):
    """A probe's result.json is missing, not a plain file, oversized, or not a JSON object."""


class _BudgetExceeded(Exception):
    """Raised inside Keras when a load would create more weights than allowed (reported as UnsafeArtifact)."""


def _open_regular(path: Path, limit: int, too_large: Text):
    """``path`` opened for binary reading if it is a plain file (not a link, FIFO or device) of at most ``limit`` bytes.

    The checks are made on the open descriptor, so the file cannot be swapped between check and read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a symbolic link: O_NOFOLLOW refuses it
            raise UnsafeArtifact(tr("{name} is not a plain file.", name=Path(path).name)) from exc
        raise UnsafeArtifact(tr("the file {name} could not be opened ({error}).", name=Path(path).name,
                                error=type(exc).__name__)) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeArtifact(tr("{name} is not a plain file.", name=Path(path).name))
        if info.st_size > limit:
            raise UnsafeArtifact(too_large)
        return os.fdopen(fd, "rb"), info.st_size
    except BaseException:
        os.close(fd)
        raise


def _too_large(name: str, limit: int) -> Text:
    return tr("the saved model is too large: {name} is over {limit} MiB.", name=name, limit=limit // MiB)


def _not_an_archive(problem: Any) -> UnsafeArtifact:
    return UnsafeArtifact(tr("the saved model file is not a plain Keras archive ({problem}).", problem=problem))


def _check_end_record(handle, size: int) -> None:
    """Refuse a zip whose directory is too large or unusual, from its end record alone (as zipfile finds it)."""
    record = struct.Struct("<4s4H2LH")
    tail_size = min(size, record.size + 65536)  # the longest comment, as zipfile searches
    handle.seek(size - tail_size)
    tail = handle.read(tail_size)
    at = tail_size - record.size
    if at < 0 or tail[at:at + 4] != b"PK\x05\x06" or tail[-2:] != b"\x00\x00":
        at = tail.rfind(b"PK\x05\x06")  # zipfile's own search: the last end record, before a comment
    if at < 0 or len(tail) - at < record.size:
        raise _not_an_archive(tr("no zip directory"))
    _, disk, cd_disk, here, entries, cd_size, _, _ = record.unpack_from(tail, at)
    zip64 = at >= 20 and tail[at - 20:at - 16] == b"PK\x06\x07"
    if zip64 or disk or cd_disk or 0xFFFF in (here, entries) or cd_size == 0xFFFFFFFF:
        raise _not_an_archive(tr("a zip64 or multi-part archive"))
    if entries > MAX_ARCHIVE_ENTRIES or here > MAX_ARCHIVE_ENTRIES or cd_size > MAX_CENTRAL_DIRECTORY_BYTES:
        raise _not_an_archive(tr("{count} entries", count=max(entries, here)))
    handle.seek(0)


def _entry_caps() -> dict[str, int]:
    return {"config.json": MAX_CONFIG_BYTES, "metadata.json": MAX_METADATA_BYTES, "model.weights.h5": MAX_WEIGHTS_BYTES}


def _check_entries(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """The archive's entries by name, after checking names, count, sizes and compression without unpacking."""
    infos = archive.infolist()
    if len(infos) > MAX_ARCHIVE_ENTRIES:
        raise _not_an_archive(tr("{count} entries", count=len(infos)))
    entries: dict[str, zipfile.ZipInfo] = {}
    caps = _entry_caps()
    for info in infos:
        name = info.filename
        if name not in ALLOWED_ARCHIVE_ENTRIES or info.orig_filename != name or name in entries:
            raise UnsafeArtifact(tr("the saved model file holds an unexpected entry (`{name}`); a Keras model "
                                    "file holds only config.json, metadata.json and model.weights.h5.",
                                    name=repr(info.orig_filename)[:100]))
        if info.flag_bits & 0x1:
            raise _not_an_archive(tr("an encrypted entry"))
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _not_an_archive(tr("an unusual compression method"))
        if info.file_size > caps[name]:
            raise UnsafeArtifact(_too_large(name, caps[name]))
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise _not_an_archive(tr("sizes that do not match"))
        if info.file_size > max(COMPRESSION_RATIO_FLOOR, MAX_COMPRESSION_RATIO * info.compress_size):
            raise _zip_bomb(name)
        entries[name] = info
    if sum(info.file_size for info in entries.values()) > MAX_ARCHIVE_BYTES:
        raise UnsafeArtifact(_too_large("the archive", MAX_ARCHIVE_BYTES))
    if "config.json" not in entries:
        raise _not_an_archive(tr("no config.json"))
    return entries


def _zip_bomb(name: str) -> UnsafeArtifact:
    return UnsafeArtifact(tr("the saved model file is a zip bomb: {name} unpacks to more than {ratio} times its "
                             "packed size.", name=name, ratio=MAX_COMPRESSION_RATIO))


def _extract(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, limit: int) -> None:
    """Unpack one entry with bounded reads: at most ``limit`` bytes, and never a ratio past the cap."""
    allowed = min(limit, info.file_size, max(COMPRESSION_RATIO_FLOOR, MAX_COMPRESSION_RATIO * info.compress_size))
    written = 0
    with archive.open(info) as source, open(target, "wb") as sink:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > allowed:
                raise _zip_bomb(info.filename)  # zipfile stops at the declared size; this is the backstop
            sink.write(chunk)
    if written != info.file_size:
        raise _not_an_archive(tr("sizes that do not match"))


def _outside_keras(module: Any) -> UnsafeArtifact:
    return UnsafeArtifact(tr("the model names a module outside the standard Keras API (`{module}`); build it from "
                             "standard Keras layers only.", module=_clip(module)))


def _not_a_keras_function(name: Any) -> UnsafeArtifact:
    return UnsafeArtifact(tr("the model uses the function `{name}`, which is not a standard Keras activation, loss "
                             "or metric; build it from standard Keras layers only.", name=_clip(name)))


def _clip(value: Any) -> str:
    return str(value)[:120]


def _keras_module_family(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) >= 3 and parts[1] == "src":
        return parts[2]
    return parts[1] if len(parts) >= 2 else ""


def _builtin_keras_function(name: str) -> bool:
    """Whether Keras resolves the saved function ``name`` (module "builtins") to one of its own functions."""
    import keras

    if name in _TF_ACTIVATION_ALIASES:
        return True
    if not name.isidentifier() or name.startswith("_") or name in _NOT_FUNCTIONS:
        return False
    for family in ALLOWED_FUNCTION_FAMILIES:
        found = getattr(getattr(keras, family, None), name, None)
        if callable(found) and not isinstance(found, type):
            return True
    return False


def check_model_config(config: Any) -> None:
    """Refuse a model configuration that names anything but Keras's own classes and functions.

    Keras imports the module a config names (for ``keras*`` packages) before it checks the class,
    and a later Keras may widen that; so only modules the grading process has already imported,
    under Keras's modelling packages, pass, and nothing new is ever imported by a load.
    """
    if not isinstance(config, dict):
        raise _not_an_archive(tr("config.json holds no JSON object"))
    stack: list[tuple[Any, int]] = [(config, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_CONFIG_DEPTH:
            raise _not_an_archive(tr("config.json is nested more than {limit} levels deep", limit=MAX_CONFIG_DEPTH))
        if isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)
            continue
        if not isinstance(node, dict):
            continue
        _check_config_object(node)
        stack.extend((value, depth + 1) for value in node.values())


def _check_config_object(node: dict) -> None:
    class_name = node.get("class_name")
    if "class_name" in node:
        if class_name == "__lambda__":
            raise UnsafeArtifact(tr("the model contains Python code (a Lambda layer with a lambda function), which "
                                    "safe_mode=True does not load; build it from standard Keras layers only."))
        if not (isinstance(class_name, str) and class_name.isidentifier()):
            raise UnsafeArtifact(tr("the model names `{name}`, which is not a standard Keras class name; build it "
                                    "from standard Keras layers only.", name=_clip(class_name)))
        if class_name in FORBIDDEN_CLASSES or (class_name in FILE_VOCABULARY_CLASSES and isinstance(
                node.get("config"), dict) and isinstance(node["config"].get("vocabulary"), str)):
            raise UnsafeArtifact(tr("the model uses `{name}` to read files or run a saved graph; build it from "
                                    "standard Keras layers only.", name=class_name))
    registered = node.get("registered_name")
    if registered is not None and registered != class_name:
        raise UnsafeArtifact(tr("the model uses a custom registered object (`{name}`); build it from standard "
                                "Keras layers only.", name=_clip(registered)))
    if "module" not in node:
        return
    module = node["module"]
    if module is None:  # what Keras writes for a class defined outside any module it can name
        raise UnsafeArtifact(tr("the model uses `{name}`, a class defined outside Keras; build it from standard "
                                "Keras layers only.", name=_clip(class_name)))
    if class_name == "function":
        name = node.get("config")
        if module == "builtins":
            if not (isinstance(name, str) and _builtin_keras_function(name)):
                raise _not_a_keras_function(name)
            return
        if not (isinstance(name, str) and name.isidentifier() and not name.startswith("_")):
            raise _not_a_keras_function(name)
        if isinstance(module, str) and _MODULE_NAME.match(module) \
                and _keras_module_family(module) not in ALLOWED_FUNCTION_FAMILIES:
            raise _not_a_keras_function(f"{module}.{name}")
    if not (isinstance(module, str) and _MODULE_NAME.match(module) and module in sys.modules
            and (module == "keras" or _keras_module_family(module) in ALLOWED_CLASS_FAMILIES)):
        raise _outside_keras(module)


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


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise _not_an_archive(tr("{name} is not valid JSON", name=what)) from exc


def check_weights_file(path: Path) -> int:
    """Refuse a weights file that is not plain HDF5 data as Keras writes it; return its declared data bytes.

    Only hard links (no links to other files or to paths), only numeric datasets stored in this
    file (no external or virtual storage), and no more data declared than MAX_WEIGHTS_BYTES,
    which also bounds chunked datasets whose unwritten chunks read as fill values.
    """
    import h5py

    declared, seen = 0, 0
    try:
        with h5py.File(path, "r") as weights:
            stack = [weights]
            while stack:
                group = stack.pop()
                for name in group:
                    seen += 1
                    if seen > MAX_WEIGHT_OBJECTS:
                        raise _not_an_archive(tr("model.weights.h5 holds more than {count} objects",
                                                 count=MAX_WEIGHT_OBJECTS))
                    link = group.get(name, getlink=True)
                    if not isinstance(link, h5py.HardLink):
                        raise _not_an_archive(tr("model.weights.h5 links to other files or paths"))
                    item = group[name]
                    if isinstance(item, h5py.Group):
                        stack.append(item)
                    elif isinstance(item, h5py.Dataset):
                        if item.dtype.kind not in "biufc" or item.external or item.is_virtual:
                            raise _not_an_archive(tr("model.weights.h5 holds data Keras does not write"))
                        declared += int(np.prod(item.shape, dtype=object)) * item.dtype.itemsize
                        if declared > MAX_WEIGHTS_BYTES:
                            raise UnsafeArtifact(_too_large("model.weights.h5", MAX_WEIGHTS_BYTES))
                    else:
                        raise _not_an_archive(tr("model.weights.h5 holds data Keras does not write"))
    except UnsafeArtifact:
        raise
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as exc:  # h5py's errors for broken files
        raise _not_an_archive(tr("model.weights.h5 is not a readable HDF5 file")) from exc
    return declared


def installed_path_entries(path: list[str]) -> list[str]:
    """The entries of ``path`` inside the interpreter's own library or its installed packages.

    Dropped: the working directory ('' or its path), the script's folder, PYTHONPATH additions,
    path hooks' pseudo-entries; anything a student's process could have written a module into.
    """
    try:
        cwd = os.path.realpath(os.getcwd())
    except OSError:
        cwd = None
    roots = {sysconfig.get_path(key) for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots.update(site.getsitepackages() if hasattr(site, "getsitepackages") else ())
    roots = {os.path.realpath(root) for root in roots if root}
    stdlib = sysconfig.get_path("stdlib")
    zipped = os.path.realpath(os.path.join(os.path.dirname(stdlib), f"python{sys.version_info[0]}"
                                           f"{sys.version_info[1]}.zip")) if stdlib else None
    kept = []
    for entry in path:
        if not (isinstance(entry, str) and entry):
            continue
        real = os.path.realpath(entry)
        if real != cwd and (real == zipped or any(real == root or real.startswith(root + os.sep) for root in roots)):
            kept.append(entry)
    return kept


@contextlib.contextmanager
def _installed_packages_only():
    """sys.path without the working directory or anything outside the installed packages, while Keras loads.

    Defence in depth: the config check already refuses any module the process has not imported.
    """
    saved = list(sys.path)
    sys.path[:] = installed_path_entries(saved)
    try:
        yield
    finally:
        sys.path[:] = saved


@contextlib.contextmanager
def _variable_budget(limit: int):
    """Refuse, before allocating, weights beyond ``limit`` bytes that the layers of a loading model create.

    A config can declare a Dense layer of billions of weights in a few bytes; Keras would allocate
    (and initialise) them before it ever compares them with the saved weights. Yields a list that
    holds the refused size when the budget was exceeded (Keras may wrap the exception).
    """
    refused: list[int] = []
    used = [0]

    def budgeted(original):
        def guarded(variable, initializer):
            try:
                count = int(np.prod([int(d) for d in variable._shape], dtype=object))
            except (TypeError, ValueError, AttributeError):  # Keras validated the shape already; leave it to Keras
                count = 0
            try:
                itemsize = np.dtype(variable._dtype).itemsize
            except (TypeError, ValueError, AttributeError):  # a dtype numpy lacks (bfloat16): count 4 bytes
                itemsize = 4
            used[0] += count * itemsize
            if used[0] > limit:
                refused.append(used[0])
                raise _BudgetExceeded(f"the model's weights would exceed {limit} bytes")
            return original(variable, initializer)
        return guarded

    with initialization_wrapped(budgeted):  # another Keras: no guard, the archive caps still hold
        yield refused


def load_model_safely(path: Path):
    """Load a student's ``.keras`` file in the trusted process, refusing anything a plain Keras save does not hold.

    The archive is checked and unpacked with bounded reads, its config is checked against the
    allow-list (check_model_config) and its weights file (check_weights_file), TF activation
    aliases are mapped, and the load itself runs with ``safe_mode=True``, sys.path limited to the
    installed packages and a budget for the weights the layers create. Raises
    :class:`UnsafeArtifact` (a :class:`CheckFailed`) for a refused file; Keras's own errors pass through.
    """
    import keras  # noqa: F401 - imported before the config is checked: only modules already imported may be named

    handle, size = _open_regular(path, MAX_MODEL_FILE_BYTES, _too_large(Path(path).name, MAX_MODEL_FILE_BYTES))
    with handle, tempfile.TemporaryDirectory(prefix="ag-model-") as tmp:
        unpacked = Path(tmp) / "unpacked"
        unpacked.mkdir()
        caps = _entry_caps()
        try:
            _check_end_record(handle, size)
            with zipfile.ZipFile(handle) as archive:
                entries = _check_entries(archive)
                for name, info in entries.items():
                    _extract(archive, info, unpacked / name, caps[name])
        except UnsafeArtifact:
            raise
        except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError,
                ValueError, struct.error) as exc:
            raise _not_an_archive(tr("a broken zip file")) from exc
        config = _read_json(unpacked / "config.json", "config.json")
        check_model_config(config)
        if "metadata.json" in entries and not isinstance(_read_json(unpacked / "metadata.json", "metadata.json"),
                                                         dict):
            raise _not_an_archive(tr("metadata.json holds no JSON object"))
        declared = check_weights_file(unpacked / "model.weights.h5") if "model.weights.h5" in entries else 0
        (unpacked / "config.json").write_text(json.dumps(_patch_activation_aliases(config)), encoding="utf-8")
        budget = min(VARIABLE_BYTES_FACTOR * declared + VARIABLE_BYTES_ALLOWANCE, MAX_VARIABLE_BYTES)
        try:
            # The checked folder itself (Keras 3 loads a folder holding config.json and model.weights.h5 as it
            # loads the archive): no second copy of the weights into an archive and out of it again, a third of
            # a VGG16 load.
            model = _keras_load(unpacked, budget)
        except Exception:  # noqa: BLE001 - a Keras that loads archives only, or a model that fails either way:
            model = _keras_load(_repacked(unpacked, entries, Path(tmp) / "model.keras"), budget)  # the archive decides
        if model is None:
            raise UnsafeArtifact(tr("the model's layers would create more than {limit} MiB of weights, far more "
                                    "than its saved weights file holds.", limit=budget // MiB))
        return model


def _repacked(unpacked: Path, entries: dict, target: Path) -> Path:
    """The checked files of ``unpacked`` as a ``.keras`` archive at ``target``."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
        for name in ALLOWED_ARCHIVE_ENTRIES:
            if name in entries:
                archive.write(unpacked / name, name)
    return target


DEFAULT_SEEDS_STATE = 1337


@contextlib.contextmanager
def _default_seeds_fixed():
    """Within the block, Python's global random numbers start from one fixed state, restored afterwards.

    A layer built with ``seed=None`` (Dropout, GaussianNoise) draws its seed there as it is made, and a saved
    model does not keep it: without this a loaded model's dropout masks, and so its training run, depended on
    what the process had drawn before; with it, every load of one file trains alike
    (tests/test_training_cache.py), and gradings can share the run (autograder.host.training_cache).
    """
    saved = random.getstate()
    random.seed(DEFAULT_SEEDS_STATE)
    try:
        yield
    finally:
        random.setstate(saved)


def _keras_load(source: Path, budget: int):
    """``keras.models.load_model`` of checked files with ``safe_mode=True``, sys.path limited to the installed
    packages, the layers' default seeds fixed and ``budget`` bytes for the weights the layers create; None when
    the budget refused them."""
    import keras

    model = None
    # No random draws for the weights the layers make: the load replaces all of them, and refuses a weights file
    # that lacks any (tests/test_untrusted_artifacts.py); a fifth of a VGG16 load went on those draws.
    with warnings.catch_warnings(), _installed_packages_only(), random_draws_skipped(), _default_seeds_fixed(), \
            _variable_budget(budget) as refused:
        warnings.simplefilter("ignore")  # optimizer-variable notices are irrelevant here
        try:
            model = keras.models.load_model(source, safe_mode=True, compile=True)
        except Exception:
            if not refused:
                raise
    return None if refused else model


def _read_npy(path: Path) -> np.ndarray:
    """A ``.npy`` array written by student code: header checked (no objects, declared size capped) before reading."""
    name = Path(path).name
    handle, size = _open_regular(path, MAX_ARRAY_BYTES + 64 * 2**10,
                                 tr("the array file {name} is larger than {limit} MiB.", name=name,
                                    limit=MAX_ARRAY_BYTES // MiB))
    with handle:
        try:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(handle)
            elif version == (2, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(handle)
            else:
                raise ValueError(f"unsupported .npy version {version}")
        except (ValueError, TypeError, SyntaxError, EOFError, OverflowError, struct.error) as exc:
            raise UnsafeArtifact(tr("the array file {name} is not a plain .npy array.", name=name)) from exc
        if dtype.hasobject:
            raise UnsafeArtifact(tr("the array file {name} holds Python objects (dtype {dtype}), which the grader "
                                    "does not load.", name=name, dtype=str(dtype)[:60]))
        declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if declared > MAX_ARRAY_BYTES or declared > size - handle.tell():
            raise UnsafeArtifact(tr("the array file {name} declares {size:,} bytes of data; it holds {found:,} "
                                    "(limit {limit} MiB).", name=name, size=declared,
                                    found=max(size - handle.tell(), 0), limit=MAX_ARRAY_BYTES // MiB))
        handle.seek(0)
        try:
            return np.lib.format.read_array(handle, allow_pickle=False)
        except (ValueError, TypeError, EOFError, OSError) as exc:
            raise UnsafeArtifact(tr("the array file {name} is not a plain .npy array.", name=name)) from exc


_MANIFEST_FILES = {"model": ".keras", "array": ".npy"}


class Evidence:
    """What one probe observed, with typed accessors that fail as the student's fault.

    The manifest and its files come from the sandbox worker, so a malformed entry, a file that
    is a link or not where it is said to be, or an object that lies about its kind or size
    raises :class:`CheckFailed`, never anything else.
    """

    def __init__(self, manifest: dict[str, dict], directory: Path | None, inputs: dict[str, Any]):
        self._manifest = manifest if isinstance(manifest, dict) else {}
        self._directory = directory
        self.inputs = inputs
        self._models: dict[str, Any] = {}
        self._run_eagerly_as_loaded: dict[str, Any] = {}  # of the cached models that may be handed over
        self._loaded = False  # a model was loaded since the last release (cached, handed over or fresh)

    def release(self) -> bool:
        """Forget the models loaded so far (the probe's checks are done), so their memory can be reused;
        whether any was loaded since the last release."""
        had, self._loaded = self._loaded, False
        self._models.clear()
        self._run_eagerly_as_loaded.clear()
        return had

    def export(self, folder: Path) -> dict | None:
        """Copy the files the manifest names into ``folder`` (plain files within their limits, as they would be
        read here) and return the manifest, so that ``Evidence(manifest, folder, inputs)`` judges alike
        elsewhere (:mod:`autograder.host.deferred`); None when a file would not be read here (a link, too
        large): judged here, that check fails at once, so it is not worth sending."""
        limits = {"model": MAX_MODEL_FILE_BYTES, "array": MAX_ARRAY_BYTES + 64 * 2**10}
        for entry in self._manifest.values():
            if not isinstance(entry, dict) or entry.get("kind") not in limits:
                continue
            try:
                source = self._file(entry, "")
                limit = limits[entry["kind"]]
                handle, _ = _open_regular(source, limit, _too_large(source.name, limit))
            except UnsafeArtifact:
                return None
            with handle, open(folder / source.name, "wb") as copy:
                shutil.copyfileobj(handle, copy, 2**20)
        return self._manifest

    def value(self, key: str, what: Text | None = None) -> Any:
        entry = self._require(key, what)
        if entry["kind"] != "json":
            raise CheckFailed(tr("{what}: expected a plain value, got a {kind}.", what=what or key,
                                 kind=_clip(entry["kind"])))
        return entry["value"]

    def get(self, key: str, default: Any = None) -> Any:
        entry = self._manifest.get(key)
        if isinstance(entry, dict) and entry.get("kind") == "json" and "value" in entry:
            return entry["value"]
        return default

    def array(self, key: str, what: Text | None = None) -> np.ndarray:
        entry = self._require(key, what)
        if entry["kind"] != "array":
            raise CheckFailed(tr("{what}: expected an array or tensor, got {kind}.", what=what or key,
                                 kind=self._kind_text(entry)))
        try:
            return _read_npy(self._file(entry, what or key))
        except UnsafeArtifact as exc:
            raise UnsafeArtifact(tr("{what}: {problem}", what=what or key, problem=exc.message)) from exc

    def model(self, key: str, what: Text | None = None, *, fresh: bool = False):
        """The returned model, loaded safely. ``fresh=True``: a model for the caller alone, to train: the one the
        probe's earlier checks read, handed over (a later check that asks for the model loads its own), or a new
        load. Those checks only read it (predict, evaluate: inference, nothing a training run starts from); the
        functions Keras traced for them are dropped, so the training run makes its own, as on a new load. A model
        loaded unbuilt is never handed over: the first prediction built it, with weights the run would draw after
        its own seed. Handing over spares a second load of the same file: 0.1-0.3 s for each VGG16-sized model."""
        if fresh and key in self._run_eagerly_as_loaded:
            model = self._models.pop(key)
            model.run_eagerly = self._run_eagerly_as_loaded.pop(key)
            model.train_function = model.test_function = model.predict_function = None
            return model
        if fresh or key not in self._models:
            entry = self._require(key, what)
            if entry["kind"] != "model":
                raise CheckFailed(tr("{what}: expected a keras.Model, got {kind}.", what=what or key,
                                     kind=self._kind_text(entry)))
            try:
                model = load_model_safely(self._file(entry, what or key))
            except UnsafeArtifact as exc:
                raise UnsafeArtifact(tr("{what}: {problem}", what=what or key, problem=exc.message)) from exc
            except Exception as exc:  # noqa: BLE001 - any load failure is a property of the submitted model
                raise CheckFailed(tr(
                    "{what}: the model could not be reloaded with safe_mode=True ({error}). Build it from standard "
                    "Keras layers only (no Lambda layers or custom classes).", what=what or key,
                    error=f"{type(exc).__name__}: {str(exc)[:300]}")) from exc
            self._loaded = True
            if fresh:
                return model  # to train: the training run decides how it runs
            # Checks call predict and evaluate on a few images: tracing a tf.function for that costs several
            # times what running it eagerly does (same numbers).
            if model.built:  # else a check's prediction builds it, drawing weights a training run would draw itself
                self._run_eagerly_as_loaded[key] = model.run_eagerly
            model.run_eagerly = True
            self._models[key] = model
        return self._models[key]

    def _require(self, key: str, what: Text | None) -> dict:
        entry = self._manifest.get(key)
        if entry is None:
            raise CheckFailed(tr("{what}: nothing was returned.", what=what or key))
        kind = entry.get("kind") if isinstance(entry, dict) else None
        well_formed = (
            (kind == "json" and "value" in entry)
            or (kind in _MANIFEST_FILES and isinstance(entry.get("file"), str))
            or (kind == "unsupported" and isinstance(entry.get("type"), str)))
        if not well_formed:
            raise UnsafeArtifact(tr("{what}: what your code returned could not be read back for grading.",
                                    what=what or key))
        if kind == "json" and entry["value"] is None:
            raise CheckFailed(tr("{what}: got None. Did you forget a `return` statement?", what=what or key))
        return entry

    def _file(self, entry: dict, what: Text | str) -> Path:
        """The entry's file: a plain name of the right kind inside the probe's folder (opened later without links)."""
        name = entry["file"]
        if (self._directory is None or not name or name in (".", "..") or any(c in name for c in "/\\\0")
                or not name.endswith(_MANIFEST_FILES[entry["kind"]])):
            raise UnsafeArtifact(tr("{what}: what your code returned could not be read back for grading.",
                                    what=what))
        return self._directory / name

    @staticmethod
    def _kind_text(entry: dict) -> str:
        if entry["kind"] == "unsupported":
            return _clip(entry["type"])
        if entry["kind"] == "json":
            return describe(entry["value"])
        return tr("a {kind}", kind=entry["kind"])


def read_probe_result(directory: Path) -> dict:
    """A probe's result.json, read with a size cap.

    Raises :class:`ProbeResultError` (its ``message`` is a ``tr`` message) when the file is missing,
    a link or not a plain file, larger than MAX_RESULT_BYTES, not valid JSON, or not a JSON object.
    """
    path = Path(directory) / RESULT_FILE
    try:
        handle, _ = _open_regular(path, MAX_RESULT_BYTES, tr("the result file is larger than {limit} MiB.",
                                                             limit=MAX_RESULT_BYTES // MiB))
    except UnsafeArtifact as exc:
        raise ProbeResultError(exc.message) from exc
    with handle:
        data = handle.read(MAX_RESULT_BYTES + 1)
    if len(data) > MAX_RESULT_BYTES:  # it grew after it was measured
        raise ProbeResultError(tr("the result file is larger than {limit} MiB.", limit=MAX_RESULT_BYTES // MiB))
    try:
        payload = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ProbeResultError(tr("the result file is not valid JSON.")) from exc
    if not isinstance(payload, dict):
        raise ProbeResultError(tr("the result file holds no JSON object."))
    return payload
