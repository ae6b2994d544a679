"""Helpers for checks on Keras models (grading process): weight counts, predictions, training steps, compile settings.

Every model here was shipped by the sandbox worker and loaded with ``safe_mode=True``
(:mod:`autograder.host.evidence`); student code never runs in this process.
"""
from __future__ import annotations

import hashlib

import numpy as np

from autograder.core.i18n import Text, tr
from autograder.core.spec import CheckFailed
from autograder.core.wire import describe
from autograder.host import modelspec
from autograder.host.context import error_summary


def raise_failed_call(evidence, key: str) -> None:
    """CheckFailed with the student's own error when the probe's call for ``key`` failed (``probes.failure_kept``)."""
    error = evidence.get(f"{key}_error")
    if error is not None:
        raise CheckFailed(Text.from_json(error))


def model(evidence, key: str, what: str, *, fresh: bool = False):
    """The model a probe shipped, or CheckFailed saying what came back instead."""
    raise_failed_call(evidence, key)
    value = evidence.get(key)
    if isinstance(value, dict) and "too_large" in value:
        raise CheckFailed(tr("{what} has {found:,} parameters, far more than expected (its layers: {layers}). "
                             "Did you keep the classifier top (include_top=True)?",
                             what=what, found=value["too_large"], layers=", ".join(value["layers"][-4:])))
    return evidence.model(key, what, fresh=fresh)


def weight_counts(m) -> tuple[int, int, int]:
    """(total, trainable, non-trainable) parameters, counted from the weights Keras would train."""
    def size(weights):
        return int(sum(int(np.prod(w.shape)) for w in weights))
    trainable, frozen = size(m.trainable_weights), size(m.non_trainable_weights)
    return trainable + frozen, trainable, frozen


def expect_parameter_count(m, expected: int, what: Text | None = None) -> None:
    total, _, _ = weight_counts(m)
    if total != expected:
        raise CheckFailed(tr("{what} has {found:,} parameters; expected {expected:,}.",
                             what=what or tr("The model"), found=total, expected=expected))


def expect_two_class_accuracy(ctx, m, *, image_size: int, n_train: int, n_test: int, epochs: int, batch_size: int,
                              max_params: int, inputs, min_accuracy: float) -> dict:
    """Train ``m`` on the kit's two-class images and require ``min_accuracy`` on the test images.

    Returns the run's details (the training curve) for feedback, on success and in the failure.
    """
    train, test = ctx.two_class_images(n_train, n_test, image_size)
    run = ctx.train_and_evaluate(m, train, test, epochs=epochs, batch_size=batch_size,
                                 max_params=max_params, inputs=inputs)
    return require_accuracy(run, min_accuracy, epochs=epochs, n_train=n_train)


def require_accuracy(run, min_accuracy: float, *, epochs: int, n_train: int) -> dict:
    """CheckFailed unless the run reached ``min_accuracy``; either way the details a feedback page
    draws (the per-epoch curves and the test accuracy)."""
    details = {"training": {"history": run.history, "test_accuracy": run.accuracy, "min_accuracy": min_accuracy}}
    if not run.accuracy >= min_accuracy:
        raise CheckFailed(tr("After {epochs} epochs on {n:,} images the test accuracy is {accuracy:.1%}; "
                             "at least {min_accuracy:.0%} is expected.", epochs=epochs, n=n_train,
                             accuracy=run.accuracy, min_accuracy=min_accuracy), details)
    return details


def real_numbers(array: np.ndarray) -> bool:
    """Whether an array holds real numbers (integers, floats or booleans), so arithmetic on it means something."""
    return bool(np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
                or array.dtype == np.bool_)


EAGER_BATCH = 64  # a check's few images: called eagerly, as tracing Keras's predict function costs 0.05-0.1 s a model


def predict(m, batch: np.ndarray, what: Text) -> np.ndarray:
    """The model's output for ``batch`` as one array of numbers, or CheckFailed saying what came instead.

    What ``model.predict(batch)`` gives, from one eager call in inference mode where the batch is small."""
    import keras

    try:
        if len(batch) <= EAGER_BATCH:
            raw = m(batch, training=False)
            raw = keras.tree.map_structure(keras.ops.convert_to_numpy, raw)
        else:
            raw = m.predict(batch, verbose=0)
    except Exception as exc:  # noqa: BLE001 - a student model that cannot run on the contract's input
        raise CheckFailed(tr("{what} could not predict on a batch of shape {shape}: {error}", what=what,
                             shape=batch.shape, error=error_summary(exc))) from exc
    if isinstance(raw, (list, tuple, dict)):
        raise CheckFailed(tr("{what} returned {count} outputs for a batch of shape {shape}; expected one.",
                             what=what, count=len(raw), shape=batch.shape))
    output = np.asarray(raw)
    if not real_numbers(output):
        raise CheckFailed(tr("{what} returned {found} for a batch of shape {shape}; expected numbers.",
                             what=what, found=describe(raw), shape=batch.shape))
    return output


def expect_one_output_per_image(m, batch: np.ndarray) -> None:
    output = predict(m, batch, tr("The model"))
    if output.shape != (len(batch), 1):
        raise CheckFailed(tr("For {n} images the model returned shape {shape}; expected ({n}, 1).",
                             n=len(batch), shape=output.shape))


def input_shape(m) -> tuple:
    if not getattr(m, "inputs", None):
        raise CheckFailed(tr("The model has no input shape yet, so Keras has not built it."))
    return tuple(m.inputs[0].shape)


def changed_after_training_step(m, x: np.ndarray, y: np.ndarray) -> dict[int, bool]:
    """Train the model one step with a trusted optimizer; which weights moved (keyed by ``id(weight)``)?

    Only trainability is judged here, so the student's own optimizer and loss
    do not matter: a fresh Adam and mean squared error move every trainable weight.
    """
    import keras

    before = {id(w): _fingerprint(w) for w in m.weights}
    try:
        m.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2), loss="mse", run_eagerly=True)  # one step
        m.train_on_batch(x, y)
    except Exception as exc:  # noqa: BLE001
        raise CheckFailed(tr("One training step on the model failed: {error}", error=error_summary(exc))) from exc
    # A weight made during the step (the model was built by it) counts as changed when it is trainable.
    return {id(w): before[id(w)] != _fingerprint(w) if id(w) in before else bool(w.trainable) for w in m.weights}


def _fingerprint(weight) -> bytes:
    """SHA-256 of a weight's value, and its dtype and shape: comparing copies of a VGG16 base's took 0.4-0.7 s."""
    kind, value = modelspec.weight_bytes(weight)
    return hashlib.sha256(value).digest() + kind.encode()


def holds_weights(m, array: np.ndarray) -> bool:
    """Whether some weight of the model equals ``array`` (it was built on the given layers)."""
    return any(tuple(w.shape) == array.shape and np.allclose(w.numpy(), array) for w in m.weights)


def require_optimizer(m, expected: str) -> None:
    name = modelspec.optimizer_name(m)
    if name is None:
        raise CheckFailed(tr("The model is not compiled."))
    if name != expected:
        raise CheckFailed(tr("The model is compiled with {found}, not {expected}.", found=name, expected=expected))


def require_binary_loss(m, *, from_logits: bool) -> None:
    name, logits = modelspec.compiled_loss(m)
    if name is None:
        raise CheckFailed(tr("The model is not compiled with a loss."))
    if name != "binary_crossentropy":
        raise CheckFailed(tr("The loss is {found}; two classes with one output unit need binary cross-entropy.",
                             found=name))
    if logits != from_logits:
        if from_logits and modelspec.layer_stack(m)[-1:] == ["Sigmoid"]:
            raise CheckFailed(tr("The loss treats the output as a probability (from_logits=False), as the model's "
                                 "sigmoid makes it; this model should output a logit (Dense(1) without activation) "
                                 "for BinaryCrossentropy(from_logits=True)."))
        if from_logits:
            raise CheckFailed(tr("The loss treats the output as a probability (from_logits=False), but the model "
                                 "outputs a logit (no activation)."))
        raise CheckFailed(tr("The loss has from_logits=True, but the model's sigmoid already outputs a probability."))


def require_accuracy_metric(m, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """The model's ``evaluate`` scores, which must include one named ``accuracy``."""
    if not m.get_compile_config():
        raise CheckFailed(tr("The model is not compiled."))
    traced = m.run_eagerly
    m.run_eagerly = True  # a few images: the same scores without a test function to trace (0.1 s a model)
    try:
        if modelspec.compiled_loss(m)[0] is None and not m.losses:
            scores = _scores_without_loss(m, x, y)  # the missing loss is the loss check's business, not this one's
        else:
            scores = m.evaluate(x, y, verbose=0, return_dict=True)
    except Exception as exc:  # noqa: BLE001
        raise CheckFailed(tr("Evaluating the model failed: {error}", error=error_summary(exc))) from exc
    finally:
        m.run_eagerly = traced
    if "accuracy" not in scores:
        names = ", ".join(sorted(k for k in scores if k != "loss")) or tr("none")
        raise CheckFailed(tr("model.evaluate reports no 'accuracy' (metrics found: {names}).", names=names))
    reported = scores["accuracy"]
    if not isinstance(reported, (int, float)) or not np.isfinite(reported):
        raise CheckFailed(tr("The metric named 'accuracy' reported {found}, not a number.", found=describe(reported)))
    share = _share_classified_right(predict(m, x, tr("The model")), y)
    # A name alone is not enough: keras.metrics.Accuracy() (exact equality of output and label) or a
    # renamed other metric reports something else. One borderline image may round differently.
    if share is None or abs(float(reported) - share) > 1.01 / len(y):
        raise CheckFailed(tr("The metric named 'accuracy' reports {reported:.3f}, but metrics=['accuracy'] gives "
                             "{share} on these images; use metrics=['accuracy'].", reported=float(reported),
                             share="?" if share is None else f"{share:.3f}"))
    return scores


def _scores_without_loss(m, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """What ``evaluate`` reports of a model's compiled metrics, for a model compiled without a loss (``evaluate``
    refuses one: "No loss to compute"): its metrics updated once on the whole batch, as ``test_step`` does."""
    import keras

    m.reset_metrics()
    results = m.compute_metrics(x, y, m(x, training=False))
    return {name: float(keras.ops.convert_to_numpy(value)) for name, value in results.items() if name != "loss"}


def _share_classified_right(output: np.ndarray, labels: np.ndarray) -> float | None:
    """What Keras's "accuracy" measures: argmax over classes, or one output above 0.5; None for other shapes."""
    labels = np.asarray(labels).reshape(len(labels))
    if output.ndim == 2 and output.shape[0] == len(labels) and output.shape[1] > 1:
        return float(np.mean(np.argmax(output, axis=1) == labels))
    if output.shape in ((len(labels),), (len(labels), 1)):
        return float(np.mean((output.reshape(-1) > 0.5) == (labels > 0.5)))
    return None


def classifier_top(m) -> list[str]:
    """The layers of a model that belong to a classifier top rather than a convolutional base."""
    return [op for op in modelspec.layer_stack(m) if op.startswith(("Dense", "Flatten", "Global"))]


def expect_stack(found: list[str], expected: list[str]) -> None:
    if found != expected:
        raise CheckFailed(modelspec.describe_stack_difference(expected, found), stack_details(expected, found))


def stack_details(expected: list[str], found: list[str]) -> dict:
    """What a feedback page needs to draw the expected and the found layer stacks side by side."""
    return {"layers": {"expected": list(expected), "found": list(found)}}
