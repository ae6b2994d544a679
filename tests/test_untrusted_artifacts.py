"""Files the sandbox worker writes are hostile: the grading process refuses them before they can hurt it.

Each attack here worked (or would work) against a plain ``keras.models.load_model(safe_mode=True)``
/ ``np.load`` / ``json.load`` in the trusted process: a module planted in the working directory
that Keras imports while reloading a model, zip bombs, layers declaring gigabytes of weights,
pickled or oversized arrays, oversized result files, and manifests that lie. Each must become a
failed check (:class:`CheckFailed`) for the student, never code running in the grader, minutes of
work, gigabytes of memory, or an internal grader error.
"""
from __future__ import annotations

import errno
import importlib
import importlib.util
import json
import os
import struct
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import psutil
import pytest

from autograder.host import evidence as artifacts
from autograder.host.evidence import (
    ALLOWED_ARCHIVE_ENTRIES,
    MAX_RESULT_BYTES,
    Evidence,
    ProbeResultError,
    UnsafeArtifact,
    load_model_safely,
    read_probe_result,
)
from autograder.core.spec import CheckFailed
from autograder.core.wire import RESULT_FILE
from autograder.worker.encode import encode_values, save_model

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402

MiB = 2**20


# ----------------------------------------------------------------- helpers
def small_model():
    model = keras.Sequential([keras.Input((4,)), layers.Dense(3, activation="relu"),
                              layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def saved(model, path: Path) -> Path:
    model.save(path)
    return path


def with_config(source: Path, target: Path, mutate) -> Path:
    """A copy of the .keras file ``source`` whose config.json is ``mutate(config)`` (mutated in place or returned)."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for info in original.infolist():
            data = original.read(info.filename)
            if info.filename == "config.json":
                config = json.loads(data)
                config = mutate(config) or config
                data = json.dumps(config).encode()
            copy.writestr(info.filename, data)
    return target


def dense_layers(config: dict) -> list[dict]:
    return [layer for layer in config["config"]["layers"] if layer["class_name"] == "Dense"]


class PeakRSS:
    """The largest resident memory this process reaches while inside the block (sampled every 5 ms)."""

    def __enter__(self):
        self.process = psutil.Process()
        self.start = self.peak = self.process.memory_info().rss
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.005)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.start) / MiB


def refused(call, *args, **kwargs) -> UnsafeArtifact:
    with pytest.raises(UnsafeArtifact) as caught:
        call(*args, **kwargs)
    assert isinstance(caught.value, CheckFailed)  # so a check that meets it fails the student, not the grader
    assert caught.value.message.render("bn")  # and its message is translated
    return caught.value


# ----------------------------------------------------------------- planted modules
PLANTED = """
from pathlib import Path
Path({marker!r}).write_text("code ran in the grading process")

class Evil:
    pass
"""


@pytest.fixture
def planted_cwd(tmp_path, monkeypatch):
    """A working directory with modules that write a marker file when imported, on sys.path as `python -m` puts it."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    marker = tmp_path / "marker"
    for name in ("evil_module", "keras_hub"):  # keras_hub: a package Keras itself imports by name (not installed)
        assert name == "evil_module" or importlib.util.find_spec(name) is None
        (cwd / f"{name}.py").write_text(PLANTED.format(marker=str(marker)), encoding="utf-8")
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "path", ["", str(cwd), *sys.path])
    importlib.invalidate_caches()
    yield marker
    for name in ("evil_module", "keras_hub"):
        sys.modules.pop(name, None)


def test_the_planted_module_would_run_if_imported(planted_cwd):
    """The control: the plant is live, so the refusals below are real."""
    importlib.import_module("keras_hub")
    assert planted_cwd.exists()


def evil_layer(module: str):
    def mutate(config):
        config["config"]["layers"][1] = {"module": module, "class_name": "Evil", "config": {}, "registered_name": None}
    return mutate


@pytest.mark.parametrize("module", ["evil_module", "keras_hub", "keras_hub.layers", "os", "builtins"])
def test_a_model_naming_a_module_outside_keras_is_refused_and_never_imported(planted_cwd, tmp_path, module):
    path = with_config(saved(small_model(), tmp_path / "ok.keras"), tmp_path / "evil.keras", evil_layer(module))
    error = refused(load_model_safely, path)
    assert module in str(error) and "outside the standard Keras API" in str(error)
    assert not planted_cwd.exists()
    assert "keras_hub" not in sys.modules and "evil_module" not in sys.modules


def test_the_load_itself_cannot_import_from_the_working_directory(planted_cwd, tmp_path, monkeypatch):
    """Defence in depth: with the config check switched off, sys.path still holds only installed packages."""
    seen_paths = []
    original = keras.models.load_model

    def spy(*args, **kwargs):
        seen_paths.append(list(sys.path))
        return original(*args, **kwargs)

    monkeypatch.setattr(artifacts, "check_model_config", lambda config: None)
    monkeypatch.setattr(keras.models, "load_model", spy)
    path = with_config(saved(small_model(), tmp_path / "ok.keras"), tmp_path / "evil.keras", evil_layer("keras_hub"))
    with pytest.raises(Exception):  # noqa: B017 - Keras's own "could not locate" error; what matters is below
        load_model_safely(path)
    assert not planted_cwd.exists()
    assert seen_paths and "" not in seen_paths[0] and str(planted_cwd.parent / "cwd") not in seen_paths[0]
    assert "" in sys.path  # restored afterwards


def test_evidence_turns_a_planted_module_into_a_failed_check(planted_cwd, tmp_path):
    path = with_config(saved(small_model(), tmp_path / "ok.keras"), tmp_path / "model.keras", evil_layer("keras_hub"))
    evidence = Evidence({"model": {"kind": "model", "file": path.name}}, tmp_path, {})
    with pytest.raises(CheckFailed, match="the returned model: the model names a module outside"):
        evidence.model("model", "the returned model")
    assert not planted_cwd.exists()


@pytest.mark.parametrize("mutate, expected", [
    (lambda c: dense_layers(c)[0].update(registered_name="my_package>MyDense"), "custom registered object"),
    (lambda c: dense_layers(c)[0].update(registered_name="Dense2"), "custom registered object"),
    (lambda c: dense_layers(c)[0].update(class_name="Dense; import os"), "not a standard Keras class name"),
    (lambda c: dense_layers(c)[0].update(module="keras.src.backend.jax"), "outside the standard Keras API"),
    (lambda c: dense_layers(c)[0].update(module="keras.utils"), "outside the standard Keras API"),
    (lambda c: dense_layers(c)[0].update(module="keras..layers"), "outside the standard Keras API"),
    (lambda c: dense_layers(c)[0].update(module=["keras"]), "outside the standard Keras API"),
    (lambda c: dense_layers(c)[0].update(module=None), "a class defined outside Keras"),
    (lambda c: dense_layers(c)[0].update(class_name="TFSMLayer"), "read files or run a saved graph"),
    (lambda c: dense_layers(c)[0]["config"].update(activation={
        "module": "keras.config", "class_name": "function", "config": "enable_unsafe_deserialization",
        "registered_name": "function"}), "enable_unsafe_deserialization"),
    (lambda c: dense_layers(c)[0]["config"].update(activation={
        "module": "builtins", "class_name": "function", "config": "exec", "registered_name": "function"}), "`exec`"),
    (lambda c: dense_layers(c)[0]["config"].update(activation={
        "module": "builtins", "class_name": "function", "config": "get", "registered_name": "function"}), "`get`"),
    (lambda c: c["compile_config"].update(loss={
        "module": "keras.utils", "class_name": "function", "config": "get_file", "registered_name": "function"}),
     "keras.utils.get_file"),
])
def test_configs_outside_the_allow_list_are_refused(tmp_path, mutate, expected):
    path = with_config(saved(small_model(), tmp_path / "ok.keras"), tmp_path / "bad.keras", mutate)
    assert expected in str(refused(load_model_safely, path))


def test_a_config_nested_too_deep_is_refused(tmp_path):
    def mutate(config):
        deep: list = []
        for _ in range(artifacts.MAX_CONFIG_DEPTH + 5):
            deep = [deep]
        config["config"]["deep"] = deep
    path = with_config(saved(small_model(), tmp_path / "ok.keras"), tmp_path / "deep.keras", mutate)
    assert "nested" in str(refused(load_model_safely, path))


def test_a_students_own_layer_class_is_refused_by_name(tmp_path):
    class Twice(layers.Layer):
        def call(self, x):
            return x * 2

    saved(keras.Sequential([keras.Input((4,)), Twice(), layers.Dense(2)]), tmp_path / "own.keras")
    evidence = Evidence({"m": {"kind": "model", "file": "own.keras"}}, tmp_path, {})
    with pytest.raises(CheckFailed, match=r"outside the standard Keras API \(`test_untrusted_artifacts`\)"):
        evidence.model("m")


# ----------------------------------------------------------------- Lambda layers
def test_a_lambda_layer_is_still_refused(tmp_path):
    model = keras.Sequential([keras.Input((4,)), layers.Lambda(lambda x: x * 2), layers.Dense(2)])
    error = refused(load_model_safely, saved(model, tmp_path / "lambda.keras"))
    assert "Lambda" in str(error)
    evidence = Evidence({"m": {"kind": "model", "file": "lambda.keras"}}, tmp_path, {})
    with pytest.raises(CheckFailed, match="Lambda"):
        evidence.model("m")


def test_a_lambda_hidden_from_the_allow_list_is_still_refused_by_keras(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "check_model_config", lambda config: None)
    model = keras.Sequential([keras.Input((4,)), layers.Lambda(lambda x: x * 2), layers.Dense(2)])
    saved(model, tmp_path / "lambda.keras")
    evidence = Evidence({"m": {"kind": "model", "file": "lambda.keras"}}, tmp_path, {})
    with pytest.raises(CheckFailed, match="safe_mode=True"):
        evidence.model("m")


# ----------------------------------------------------------------- zip bombs and archive shape
@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory) -> Path:
    """A .keras whose config.json inflates to 1 GiB of spaces: about 1 MB on disk, built without 1 GiB in memory."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.keras"
    chunk = b" " * MiB
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("config.json", "w") as config:
            for _ in range(1024):
                config.write(chunk)
        archive.writestr("metadata.json", "{}")
    assert path.stat().st_size < 4 * MiB
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo("config.json").file_size == 1024 * MiB
    return path


def lie_about_size(source: Path, target: Path, name: str, size: int) -> Path:
    """A copy of ``source`` whose central directory declares ``size`` unpacked bytes for entry ``name``."""
    data = bytearray(source.read_bytes())
    at = 0
    while (at := data.find(b"PK\x01\x02", at)) >= 0:
        name_length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46:at + 46 + name_length] == name.encode():
            struct.pack_into("<I", data, at + 24, size)
            target.write_bytes(bytes(data))
            return target
        at += 4
    raise AssertionError(f"{name} not found")


def test_a_zip_bomb_is_refused_quickly_without_inflating_it(zip_bomb):
    started = time.monotonic()
    with PeakRSS() as memory:
        error = refused(load_model_safely, zip_bomb)
    assert time.monotonic() - started < 3.0
    assert memory.growth_mib < 100, f"grew by {memory.growth_mib:.0f} MiB"
    assert "config.json" in str(error)


def test_a_zip_bomb_that_lies_about_its_size_is_read_no_further_than_declared(zip_bomb, tmp_path):
    liar = lie_about_size(zip_bomb, tmp_path / "liar.keras", "config.json", 1000)
    started = time.monotonic()
    with PeakRSS() as memory:
        error = refused(load_model_safely, liar)
    assert time.monotonic() - started < 3.0
    assert memory.growth_mib < 100, f"grew by {memory.growth_mib:.0f} MiB"
    assert "not a plain Keras archive" in str(error)


def test_a_highly_compressed_entry_under_the_size_cap_is_refused_by_its_ratio(tmp_path):
    path = tmp_path / "ratio.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", b" " * (artifacts.MAX_CONFIG_BYTES - 1024))  # under the cap, about 1000:1
    assert "zip bomb" in str(refused(load_model_safely, path))


def test_the_zip_bomb_becomes_a_failed_check(zip_bomb, tmp_path):
    (tmp_path / "model.keras").symlink_to(zip_bomb)  # and a link is not followed either
    evidence = Evidence({"m": {"kind": "model", "file": "model.keras"}}, tmp_path, {})
    with pytest.raises(CheckFailed, match="not a plain file"):
        evidence.model("m")
    (tmp_path / "model.keras").unlink()
    (tmp_path / "model.keras").write_bytes(zip_bomb.read_bytes())
    with pytest.raises(CheckFailed, match="too large"):
        evidence.model("m")


@pytest.mark.parametrize("entries, expected", [
    ({"config.json": "{}", "../config.json": "{}"}, "unexpected entry"),
    ({"config.json": "{}", "assets/evil.py": "print(1)"}, "unexpected entry"),
    ({"config.json": "{}", "/etc/passwd": ""}, "unexpected entry"),
    ({"metadata.json": "{}"}, "no config.json"),
    ({"config.json": "[1, 2]"}, "no JSON object"),
    ({"config.json": "{not json"}, "not valid JSON"),
])
def test_archives_with_other_entries_are_refused(tmp_path, entries, expected):
    path = tmp_path / "odd.keras"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in entries.items():
            archive.writestr(name, text)
    assert expected in str(refused(load_model_safely, path))


def test_an_archive_with_thousands_of_entries_is_refused_from_its_end_record(tmp_path):
    path = tmp_path / "many.keras"
    with zipfile.ZipFile(path, "w") as archive:
        for k in range(5000):
            archive.writestr(f"config.json.{k}", "")
    assert "5000 entries" in str(refused(load_model_safely, path))


def test_duplicate_entries_are_refused(tmp_path):
    source = saved(small_model(), tmp_path / "ok.keras")
    path = tmp_path / "dup.keras"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(path, "w") as copy:
        for info in original.infolist():
            copy.writestr(info.filename, original.read(info.filename))
        with pytest.warns(UserWarning, match="Duplicate name"):
            copy.writestr("config.json", original.read("config.json"))
    assert "unexpected entry" in str(refused(load_model_safely, path))


def test_a_file_that_is_not_a_zip_is_refused(tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes(b"not a zip at all" * 100)
    assert "not a plain Keras archive" in str(refused(load_model_safely, path))


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "model.keras"
    os.mkfifo(fifo)
    outcome: list = []
    reader = threading.Thread(target=lambda: outcome.append(pytest.raises(UnsafeArtifact, load_model_safely, fifo)),
                              daemon=True)
    reader.start()
    reader.join(timeout=5)
    assert outcome, "opening a FIFO blocked the grader"


# ----------------------------------------------------------------- weights
def test_weights_declaring_more_than_the_cap_are_refused(tmp_path, monkeypatch):
    import h5py

    monkeypatch.setattr(artifacts, "MAX_WEIGHTS_BYTES", 4 * MiB)
    path = tmp_path / "w.h5"
    with h5py.File(path, "w") as weights:  # a chunked dataset with no chunks written: 16 MiB declared, ~nothing stored
        weights.create_dataset("layers/dense/vars/0", shape=(4 * MiB,), dtype="float32", chunks=(1024,))
    assert path.stat().st_size < MiB
    assert "too large" in str(refused(artifacts.check_weights_file, path))


def test_weights_linking_to_other_files_are_refused(tmp_path):
    import h5py

    source = saved(small_model(), tmp_path / "ok.keras")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as secret:
        secret.create_dataset("data", data=np.arange(6, dtype=np.float32))
    with zipfile.ZipFile(source) as archive:
        (tmp_path / "model.weights.h5").write_bytes(archive.read("model.weights.h5"))
    with h5py.File(tmp_path / "model.weights.h5", "a") as weights:
        weights["leak"] = h5py.ExternalLink(str(other), "/data")
    assert "links to other files" in str(refused(artifacts.check_weights_file, tmp_path / "model.weights.h5"))
    path = tmp_path / "linked.keras"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(path, "w") as copy:
        for info in original.infolist():
            if info.filename == "model.weights.h5":
                copy.write(tmp_path / "model.weights.h5", info.filename)
            else:
                copy.writestr(info.filename, original.read(info.filename))
    assert "links to other files" in str(refused(load_model_safely, path))


def test_layers_declaring_gigabytes_of_weights_are_refused_before_allocating_them(tmp_path):
    model = keras.Sequential([keras.Input((784,)), layers.Dense(10)])
    source = saved(model, tmp_path / "ok.keras")
    path = with_config(source, tmp_path / "huge.keras",
                       lambda c: dense_layers(c)[0]["config"].update(units=2_000_000))  # 1.57e9 weights: 6 GB
    started = time.monotonic()
    with PeakRSS() as memory:
        error = refused(load_model_safely, path)
    assert time.monotonic() - started < 10.0
    assert memory.growth_mib < 200, f"grew by {memory.growth_mib:.0f} MiB"
    assert "more than" in str(error) and "MiB of weights" in str(error)
    assert "_initialize_with_initializer" not in vars(keras.Variable)  # the guard is gone after the load
    assert load_model_safely(source).count_params() == model.count_params()


def test_the_checked_files_are_loaded_from_their_folder_or_else_from_an_archive_with_the_same_result(
        tmp_path, monkeypatch):
    """Keras loads the unpacked, checked files from their folder (no second copy of the weights); a Keras that
    refuses a folder gets them repacked as an archive, and the model is the same either way."""
    source = saved(small_model(), tmp_path / "ok.keras")
    real_load, loaded_from = keras.models.load_model, []

    def recording(path, **kwargs):
        loaded_from.append("folder" if Path(path).is_dir() else Path(path).suffix)
        return real_load(path, **kwargs)

    monkeypatch.setattr(keras.models, "load_model", recording)
    from_folder = load_model_safely(source)
    assert loaded_from == ["folder"]

    def archives_only(path, **kwargs):
        if Path(path).is_dir():
            raise ValueError(f"File format not supported: filepath={path}")
        return recording(path, **kwargs)

    monkeypatch.setattr(keras.models, "load_model", archives_only)
    loaded_from.clear()
    from_archive = load_model_safely(source)
    assert loaded_from == [".keras"]
    expected = real_load(source, safe_mode=True)
    for model in (from_folder, from_archive):
        assert model.get_config() == expected.get_config()
        assert model.get_compile_config() == expected.get_compile_config()
        assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), expected.get_weights(), strict=True))


# ----------------------------------------------------------------- valid models keep loading
def _sequential(optimizer, loss, activation="softmax", units=10):
    import tensorflow as tf

    model = keras.Sequential([
        keras.Input((32, 32, 3)), layers.Rescaling(1 / 255), layers.Conv2D(8, 3, activation="relu"),
        layers.MaxPooling2D(), layers.Dropout(0.2), layers.Conv2D(8, 3, activation=tf.nn.relu),
        layers.GlobalAveragePooling2D(), layers.Flatten(), layers.Dense(units, activation=activation)])
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return model


def _vgg_transfer():
    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    base.trainable = False
    inputs = keras.Input((32, 32, 3))
    outputs = layers.Dense(1)(layers.GlobalAveragePooling2D()(base(inputs, training=False)))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def _valid_models():
    import tensorflow as tf

    trained = _sequential("adam", "sparse_categorical_crossentropy")
    trained.fit(np.random.rand(8, 32, 32, 3), np.random.randint(0, 10, 8), epochs=1, verbose=0)
    return {
        "adam": _sequential("adam", "sparse_categorical_crossentropy"),
        "rmsprop": _sequential(keras.optimizers.RMSprop(1e-4), keras.losses.BinaryCrossentropy(from_logits=True),
                               activation=None, units=1),
        "sgd_tf_softmax": _sequential(keras.optimizers.SGD(0.01, momentum=0.9),
                                      keras.losses.SparseCategoricalCrossentropy(), activation=tf.nn.softmax),
        "loss_function": _sequential("sgd", keras.losses.sparse_categorical_crossentropy,
                                     activation=tf.nn.log_softmax),
        "trained": trained,
        "uncompiled": keras.Sequential([keras.Input((28, 28)), layers.Flatten(), layers.Dense(128, activation="relu"),
                                        layers.Dense(10, activation="softmax")]),
        "vgg_transfer": _vgg_transfer(),
        "vgg_base": keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3)),
    }


def test_valid_models_of_every_kind_still_load_with_their_weights(tmp_path):
    models = _valid_models()
    manifest = encode_values(models, tmp_path)  # as the sandbox writes them
    evidence = Evidence(manifest, tmp_path, {})
    for key, original in models.items():
        loaded = evidence.model(key, key)
        assert type(loaded).__name__ == type(original).__name__, key
        assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in original.layers]
        assert loaded.count_params() == original.count_params(), key
        for before, after in zip(original.weights, loaded.weights):
            np.testing.assert_array_equal(before.numpy(), after.numpy(), err_msg=key)
        expected_optimizer = getattr(getattr(original, "optimizer", None), "__class__", type(None)).__name__
        assert getattr(getattr(loaded, "optimizer", None), "__class__", type(None)).__name__ == expected_optimizer
    assert models["vgg_transfer"].count_params() == 14_714_688 + 513


def test_the_worker_saves_the_archive_keras_itself_would_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    """The worker's save (unzipped, then stored in a zip: several times faster for VGG16-sized models) holds the
    entries Keras's own save holds, unpacked, and cleans its temporary folder."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    model = _valid_models()["adam"]
    save_model(model, tmp_path / "ours.keras")
    model.save(tmp_path / "keras.keras")
    with zipfile.ZipFile(tmp_path / "ours.keras") as ours, zipfile.ZipFile(tmp_path / "keras.keras") as theirs:
        assert sorted(ours.namelist()) == sorted(theirs.namelist()) == sorted(ALLOWED_ARCHIVE_ENTRIES)
        assert {info.compress_type for info in ours.infolist()} == {zipfile.ZIP_STORED}
    assert list(scratch.iterdir()) == []


def test_with_no_room_in_its_temporary_folder_the_worker_saves_as_keras_does(tmp_path, monkeypatch):
    """A full temporary folder (student code may fill the sandbox's) costs nothing: Keras's own zipped save."""
    model = _valid_models()["adam"]
    keras_save = model.save

    def save(filepath, *args, zipped=None, **kwargs):
        if zipped is False:
            raise OSError(errno.ENOSPC, "No space left on device")
        return keras_save(filepath, *args, **kwargs)

    monkeypatch.setattr(model, "save", save)
    save_model(model, tmp_path / "saved.keras")
    loaded = load_model_safely(tmp_path / "saved.keras")
    for before, after in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(before.numpy(), after.numpy())


def test_a_load_draws_no_random_weights_yet_every_weight_is_the_saved_one(tmp_path, monkeypatch):
    """Where a layer's initializer would draw random weights the load makes zeros (the saved weights replace them:
    a fifth of a VGG16 load was spent on draws thrown away); what comes out is exactly what was saved, and a layer
    built after the load draws its random weights again."""
    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    source = saved(base, tmp_path / "vgg.keras")
    draws = []
    real_draw = keras.initializers.VarianceScaling.__call__  # Glorot, He and LeCun are VarianceScaling
    monkeypatch.setattr(keras.initializers.VarianceScaling, "__call__",
                        lambda self, *args, **kwargs: draws.append(type(self).__name__) or real_draw(self, *args,
                                                                                                      **kwargs))
    loaded = load_model_safely(source)
    assert draws == []
    assert len(loaded.weights) == len(base.weights) == 26
    for before, after in zip(base.weights, loaded.weights):
        np.testing.assert_array_equal(before.numpy(), after.numpy())
    later = layers.Dense(4)
    later.build((None, 3))
    assert draws == ["GlorotUniform"] and np.count_nonzero(later.kernel.numpy()) == 12


@pytest.mark.parametrize("missing", ["layers/dense_1/vars/0", "layers/dense_1"])
def test_a_weights_file_missing_a_layers_weights_is_not_loaded(tmp_path, missing):
    """The load refuses a weights file without some layer's weights, so no weight can keep the zeros it starts
    with (see the test above)."""
    import h5py

    source = saved(small_model(), tmp_path / "ok.keras")
    weights = tmp_path / "model.weights.h5"
    with zipfile.ZipFile(source) as archive:
        weights.write_bytes(archive.read("model.weights.h5"))
    with h5py.File(weights, "r+") as store:
        del store[missing]
    target = tmp_path / "missing.keras"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for name in original.namelist():
            copy.writestr(name, weights.read_bytes() if name == "model.weights.h5" else original.read(name))
    with pytest.raises(ValueError, match="could not be loaded"):
        load_model_safely(target)


def test_the_loader_cleans_up_after_itself(tmp_path):
    before = list(sys.path)
    load_model_safely(saved(small_model(), tmp_path / "ok.keras"))
    assert sys.path == before
    assert "_initialize_with_initializer" not in vars(keras.Variable)


# ----------------------------------------------------------------- arrays
def npy_with_header(path: Path, header: dict, data: bytes = b"") -> Path:
    text = repr(header).encode("latin1")
    text += b" " * (64 - (len(text) + 10 + 1) % 64) + b"\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + data)
    return path


def test_an_array_with_object_dtype_is_refused_before_loading(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    evidence = Evidence({"x": {"kind": "array", "file": "objects.npy"}}, tmp_path, {})
    with pytest.raises(UnsafeArtifact, match="Python objects"):
        evidence.array("x", "the images")


def test_an_array_declaring_a_huge_shape_is_refused(tmp_path):
    npy_with_header(tmp_path / "huge.npy", {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)},
                    b"\x00" * 64)
    evidence = Evidence({"x": {"kind": "array", "file": "huge.npy"}}, tmp_path, {})
    with PeakRSS() as memory:
        with pytest.raises(UnsafeArtifact, match="declares 8,000,000,000,000 bytes"):
            evidence.array("x")
    assert memory.growth_mib < 50


def test_an_array_declaring_more_than_it_holds_is_refused(tmp_path):
    npy_with_header(tmp_path / "short.npy", {"descr": "<f4", "fortran_order": False, "shape": (1000,)}, b"\x00" * 8)
    with pytest.raises(UnsafeArtifact, match="declares 4,000 bytes"):
        Evidence({"x": {"kind": "array", "file": "short.npy"}}, tmp_path, {}).array("x")


def test_an_oversized_array_file_is_refused_from_its_size(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "MAX_ARRAY_BYTES", MiB)
    np.save(tmp_path / "big.npy", np.zeros(2 * MiB, np.uint8))
    with pytest.raises(UnsafeArtifact, match="larger than 1 MiB"):
        Evidence({"x": {"kind": "array", "file": "big.npy"}}, tmp_path, {}).array("x")


@pytest.mark.parametrize("content", [b"PK\x03\x04 an npz", b"\x80\x04 a pickle", b"\x93NUMPY\x09\x00broken"])
def test_files_that_are_not_npy_arrays_are_refused(tmp_path, content):
    (tmp_path / "x.npy").write_bytes(content)
    with pytest.raises(UnsafeArtifact, match="not a plain .npy array"):
        Evidence({"x": {"kind": "array", "file": "x.npy"}}, tmp_path, {}).array("x")


def test_plain_arrays_still_load(tmp_path):
    values = {"images": np.random.rand(4, 8, 8, 3).astype(np.float32), "labels": np.arange(4),
              "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)), "scalar": np.float64(2.5)}
    evidence = Evidence(encode_values(values, tmp_path), tmp_path, {})
    for key, value in values.items():
        np.testing.assert_array_equal(evidence.array(key), value)


# ----------------------------------------------------------------- lying manifests
@pytest.mark.parametrize("entry", [
    "just a string",
    {"kind": "array"},
    {"kind": "array", "file": 7},
    {"kind": "array", "file": "../../etc/passwd.npy"},
    {"kind": "array", "file": "/etc/passwd"},
    {"kind": "array", "file": "x.keras"},
    {"kind": "array", "file": "missing.npy"},
    {"kind": "array", "file": "link.npy"},
    {"kind": "model", "file": "x.npy"},
    {"kind": "model", "file": "garbage.keras"},
    {"kind": "json"},
    {"kind": "mystery", "value": 1},
    {"kind": "unsupported"},
])
def test_manifest_entries_that_lie_fail_the_check_not_the_grader(tmp_path, entry):
    (tmp_path / "link.npy").symlink_to("/etc/passwd")
    (tmp_path / "garbage.keras").write_bytes(b"garbage")
    evidence = Evidence({"x": entry}, tmp_path, {})
    for read in (evidence.array, evidence.model, evidence.value):
        with pytest.raises(CheckFailed):
            read("x", "what you returned")
    assert evidence.get("x", "default") == "default"


def test_a_manifest_that_is_not_a_dict_reads_as_nothing_returned(tmp_path):
    evidence = Evidence(["not", "a", "dict"], tmp_path, {})
    with pytest.raises(CheckFailed, match="nothing was returned"):
        evidence.value("x")


# ----------------------------------------------------------------- result.json
def test_an_oversized_result_file_is_refused(tmp_path):
    with open(tmp_path / RESULT_FILE, "wb") as handle:
        handle.write(b'{"state": "ok", "values": {}, "padding": "')
        handle.truncate(MAX_RESULT_BYTES + 10)
    with pytest.raises(ProbeResultError, match="larger than 8 MiB"):
        read_probe_result(tmp_path)


@pytest.mark.parametrize("content, expected", [
    (b"{not json", "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    (b"[1, 2, 3]", "no JSON object"),
    (b"\xff\xfe garbage", "not valid JSON"),
])
def test_a_result_file_that_is_not_a_json_object_is_refused(tmp_path, content, expected):
    (tmp_path / RESULT_FILE).write_bytes(content)
    with pytest.raises(ProbeResultError, match=expected):
        read_probe_result(tmp_path)


def test_a_result_file_that_is_a_link_or_missing_is_refused(tmp_path):
    with pytest.raises(ProbeResultError):
        read_probe_result(tmp_path)
    (tmp_path / RESULT_FILE).symlink_to("/dev/zero")
    with pytest.raises(ProbeResultError, match="not a plain file"):
        read_probe_result(tmp_path)


def test_a_valid_result_file_is_read(tmp_path):
    payload = {"state": "ok", "values": {"x": {"kind": "json", "value": [1, 2]}}}
    (tmp_path / RESULT_FILE).write_text(json.dumps(payload), encoding="utf-8")
    assert read_probe_result(tmp_path) == payload


def _compiled_dense(built: bool = True):
    model = keras.Sequential(([keras.Input((6,))] if built else []) + [layers.Dense(8, activation="relu"),
                                                                        layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _trained_weights(model, x, y):
    keras.utils.set_random_seed(5)
    model.run_eagerly = False
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=True)
    return [w.numpy() for w in model.weights] + [model.predict(x, verbose=0)]


def test_a_training_check_takes_over_the_model_the_reading_checks_loaded_and_trains_it_as_a_new_load(tmp_path):
    """Evidence.model(fresh=True) hands over the cached model (a second load of a VGG16-sized file costs 0.1-0.3 s);
    the checks after it load their own, and training it gives what training a new load gives, to the bit."""
    save_model(_compiled_dense(), tmp_path / "model.keras")
    manifest = {"model": {"kind": "model", "file": "model.keras"}}
    rng = np.random.default_rng(0)
    x, y = rng.random((32, 6), dtype=np.float32), rng.integers(0, 3, 32)

    read = Evidence(manifest, tmp_path, {})
    cached = read.model("model")
    cached.predict(x[:4], verbose=0)
    cached.evaluate(x[:8], y[:8], verbose=0)  # what the reading checks do: inference and metric state only
    handed = read.model("model", fresh=True)
    assert handed is cached and handed.predict_function is None and not handed.run_eagerly
    later = read.model("model")
    assert later is not cached and later.run_eagerly  # a later check loads its own
    assert read.release() and not read.release()

    taken = _trained_weights(handed, x, y)
    loaded = _trained_weights(Evidence(manifest, tmp_path, {}).model("model", fresh=True), x, y)
    assert all(np.array_equal(a, b) for a, b in zip(taken, loaded, strict=True))

    fresh_only = Evidence(manifest, tmp_path, {})
    fresh_only.model("model", fresh=True)
    assert fresh_only.release(), "a model loaded only to train was not reported, so its cycles would wait"


def test_a_model_loaded_unbuilt_is_not_handed_over_once_a_reading_check_has_built_it(tmp_path):
    """Its weights were drawn by the first prediction, not after the training run's own seed: training gets a new
    load instead."""
    save_model(_compiled_dense(built=False), tmp_path / "model.keras")
    read = Evidence({"model": {"kind": "model", "file": "model.keras"}}, tmp_path, {})
    cached = read.model("model")
    assert not cached.built
    cached.predict(np.zeros((2, 6), dtype=np.float32), verbose=0)
    assert read.model("model", fresh=True) is not cached
