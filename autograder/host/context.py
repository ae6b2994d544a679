"""What trusted checks may use: seeded data and a trusted training loop, cached per grading run."""
from __future__ import annotations

import functools
import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autograder.student import datasets
from autograder.host import feature_cache, frozen_base, training_cache
from autograder.host import imagenet
from autograder.host import modelspec
from autograder.host.nursery import Nursery
from autograder.core.i18n import tr
from autograder.core.spec import CheckFailed


def configure_tensorflow(threads: int) -> None:
    """Import TensorFlow (without its start-up noise) and limit its thread pools in the grading process (call
    before any TF work)."""
    _import_and_freeze()
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        pass  # already initialised in this process: keep the first setting


@functools.lru_cache(maxsize=1)  # once per process
def _import_and_freeze() -> None:
    """Import TensorFlow and Keras, then put what is alive, their own objects (about 300,000), out of the
    cyclic garbage collector's reach (:func:`autograder.core.collector.imports_then_frozen`). Judging collects
    after each probe's models are released (Keras models hold reference cycles); each of those collections
    then scans only what grading created: about 0.1 s instead of 1 s, some 10 s of a full submission on 2 busy
    cores. What is collected is unchanged."""
    from autograder.core.collector import imports_then_frozen
    from autograder.core.lazy_imports import loaded_on_first_use
    from autograder.core.quiet import import_tensorflow_quietly

    with imports_then_frozen(), loaded_on_first_use():  # pyplot, which Keras imports, loads when a plot is drawn
        import_tensorflow_quietly()
        importlib.import_module("keras")  # its objects too


_CAUSE = re.compile(r"shape|dimension|must|expected|incompatible|cannot|could not|invalid", re.IGNORECASE)
# Keras 3 ends a layer's error with the call's arguments ("• inputs=tf.Tensor(shape=...)"), which name a shape
# but state no cause, and marks the cause in bold with terminal escapes.
_NOISE = re.compile(r"^(\[\[|File |Detected at node|Traceback|Graph execution error|Arguments received by|•)")
_TERMINAL_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def error_summary(exc: BaseException, limit: int = 240) -> str:
    """The line of a (TensorFlow) error that states its cause, without graph-node dumps or file paths."""
    text = _TERMINAL_ESCAPE.sub("", str(exc))
    lines = [line.strip() for line in text.splitlines() if line.strip() and not _NOISE.match(line.strip())]
    lines = [line for line in lines if "site-packages" not in line and "/autograder/" not in line]
    causes = [line for line in lines if _CAUSE.search(line)]
    chosen = (causes or lines or [type(exc).__name__])[-1]
    chosen = re.sub(r" for '\{\{node [^']*'", "", chosen)
    return f"{type(exc).__name__}: {chosen[:limit]}"


def _curve_name(name: Any, index: int) -> str:
    return name if isinstance(name, str) and training_cache.CURVE_NAME.fullmatch(name) else f"metric {index}"


@dataclass(frozen=True)
class TrainingRun:
    accuracy: float
    history: dict[str, list[float]]


@dataclass
class GradingContext:
    seed: int = 0
    data_source: str = "synthetic"
    data_dir: str | None = None
    # where a run's gradings share frozen-base features and training runs (autograder.host.feature_cache,
    # autograder.host.training_cache); None: not shared
    shared_folder: Path | None = None
    # where the run's sandbox workers are forked from (autograder.host.nursery); None: a fresh sandbox each
    nursery: Nursery | None = None
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.data_source not in datasets.SOURCES:
            raise ValueError(f"data_source must be one of {datasets.SOURCES}. Received: {self.data_source!r}")

    def fashion_mnist(self, n_train: int, n_test: int) -> tuple[datasets.Split, datasets.Split]:
        key = ("fashion_mnist", n_train, n_test)
        if key not in self._cache:
            self._cache[key] = datasets.fashion_mnist(self.data_source, n_train=n_train, n_test=n_test,
                                                      seed=self.seed, data_dir=self.data_dir)
        return self._cache[key]

    def two_class_images(self, n_train: int, n_test: int, image_size: int) -> tuple[datasets.Split, datasets.Split]:
        """Two-class RGB images (cats_vs_dogs or its synthetic stand-in) at ``image_size``."""
        key = ("two_class", n_train, n_test, image_size)
        if key not in self._cache:
            self._cache[key] = datasets.two_class(self.data_source, n_train=n_train, n_test=n_test,
                                                  image_size=image_size, seed=self.seed, data_dir=self.data_dir)
        return self._cache[key]

    def imagenet_class_index(self) -> dict[str, list[str]]:
        """The class index the worker's ``decode_predictions`` used: the kit's own (see :mod:`autograder.host.imagenet`)."""
        return imagenet.grading_class_index()

    def train_and_evaluate(self, model, train: datasets.Split, test: datasets.Split, *, epochs: int,
                           batch_size: int, max_params: int, inputs=None) -> TrainingRun:
        """Fit the student's compiled model with its own compile settings on trusted data.

        ``inputs`` turns uint8 images into what the model is fed (default: scale to
        [0, 1] and match the model's input rank). Accuracy is computed here, not
        read from the student's metrics: argmax for several outputs; for one output,
        a logit above 0 when the loss says ``from_logits`` and a probability above
        0.5 otherwise. Where the context has a run's shared folder, a run that a grading of this run computed
        for the same model, data and settings is read instead (:mod:`autograder.host.training_cache`).
        """
        if getattr(model, "optimizer", None) is None or not model.get_compile_config():
            raise CheckFailed(tr("The model is not compiled, so it cannot be trained. Call model.compile(...) "
                                 "before returning it."))
        prepare = inputs or (lambda images: self.fit_to_input(model, images))
        x_train, x_test = prepare(train.images), prepare(test.images)
        if model.built and model.count_params() > max_params:
            raise CheckFailed(tr("The model has {found:,} parameters, too many to train here (limit {limit:,}).",
                                 found=model.count_params(), limit=max_params))
        key = None
        if self.shared_folder is not None:
            key = training_cache.digest(model, (x_train, train.labels, x_test, test.labels), epochs=epochs,
                                        batch_size=batch_size, seed=self.seed)
        accuracy, curves = training_cache.training_run(
            self.shared_folder, key,
            lambda: self._fit_and_test(model, x_train, train.labels, x_test, test.labels, epochs=epochs,
                                       batch_size=batch_size))
        return TrainingRun(accuracy, curves)

    def _fit_and_test(self, model, x_train, y_train, x_test, y_test, *, epochs: int, batch_size: int
                      ) -> tuple[float, dict[str, list[float]]]:
        """The run itself: the test accuracy and the per-epoch curves."""
        import keras

        # A head on a frozen VGG16 base: the base's features computed once, not once per epoch.
        split = frozen_base.split(model, images=len(x_train) + len(x_test))
        keras.utils.set_random_seed(self.seed)
        model.run_eagerly = False  # traced: many steps (and the same, whatever the student compiled with)
        try:
            if split is not None:
                base, model = split
                model.run_eagerly = False
                x_train, x_test = (feature_cache.features(self.shared_folder, base, x,
                                                          lambda x=x: base.predict(x, verbose=0, batch_size=64))
                                   for x in (x_train, x_test))
            built_before_fit(model, x_train[:batch_size], y_train[:batch_size])
            history = model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=True)
            predictions = np.asarray(model.predict(x_test, verbose=0, batch_size=64))
        except Exception as exc:  # noqa: BLE001 - a student model/compile combination that cannot train
            raise CheckFailed(tr("Training the model failed: {error}", error=error_summary(exc))) from exc
        if predictions.ndim != 2 or predictions.shape[0] != len(y_test):
            raise CheckFailed(tr("The model's predictions have shape {shape}; expected one row of scores per image.",
                                 shape=predictions.shape))
        if predictions.shape[1] == 1:
            threshold = 0.0 if modelspec.compiled_loss(model)[1] else 0.5
            predicted = (predictions[:, 0] > threshold).astype(np.int64)
        else:
            predicted = np.argmax(predictions, axis=1)
        accuracy = float(np.mean(predicted == y_test))
        curves = {_curve_name(name, k): [float(v) for v in values]
                  for k, (name, values) in enumerate(history.history.items())}
        return accuracy, curves

    @staticmethod
    def fit_to_input(model, images: np.ndarray) -> np.ndarray:
        """Scale to [0, 1] and match the model's input rank, so accuracy is judged on its own."""
        x = images.astype(np.float32) / 255.0
        try:
            rank = len(model.inputs[0].shape)
        except (AttributeError, IndexError, TypeError, ValueError):
            return x
        return x.reshape(x.shape[:rank - 1] + (-1,)) if rank == 2 else (x[..., 0] if rank == 3 else x)


def built_before_fit(model, x: np.ndarray, y: np.ndarray) -> None:
    """Create the state ``fit`` would create while tracing its train step (the model's layers, the compiled loss
    and metrics, the optimizer's slots) from one batch's shapes beforehand, as Keras itself does under a
    distribution strategy. A ``tf.function`` that creates variables is traced twice (once making them, once
    not); built beforehand, the train step is traced once: about 0.4 s less for each training run, with the same
    weights and history to the bit (tests/test_units.py).

    Best effort: where Keras has no such step, or it fails on the student's model, ``fit`` builds as it always
    did and reports its own error; nothing it made here changes what ``fit`` computes.
    """
    build = getattr(model, "_symbolic_build", None)  # keras.src.trainers.Trainer; private, so looked up
    if build is None:
        return
    try:
        build(data_batch=(x, y, None))
    except Exception:  # noqa: BLE001 - fit then builds in its trace and fails there, with the student's error
        pass
