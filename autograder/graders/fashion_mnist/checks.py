"""fashion_mnist checks (grading process): normalize, a dense classifier and an accuracy callback."""
from __future__ import annotations

import numpy as np

from autograder.core.i18n import Text, tr
from autograder.core.spec import Assignment, CheckFailed
from autograder.graders.common.checks import add_classifier_checks, add_normalize_checks
from autograder.graders.fashion_mnist.contract import (DEFAULT_THRESHOLD, FIT_THRESHOLD, NO_ACCURACY_LOGS,
                                                       threshold_or_none)

ASSIGNMENT = Assignment(
    id="fashion_mnist",
    title=tr("Fashion-MNIST: a dense classifier and an accuracy callback"),
    student_names=("normalize", "build_dense_classifier", "AccuracyCallback"),
)

add_normalize_checks(ASSIGNMENT, image_shape=(28, 28))
add_classifier_checks(
    ASSIGNMENT, builder="build_dense_classifier", input_shape=(28, 28),
    layers=["Flatten", "Dense(128)", "ReLU", "Dense(10)", "Softmax"], parameters=101_770,
    # Calibrated on 20 seeds (benchmarks/calibrate_thresholds.py): the reference scores 0.922-0.966,
    # an output layer without softmax reaches up to 0.860 on one seed.
    min_accuracy=0.89, train_size=2000, test_size=500, epochs=2, prefix="dense",
)

FIT_EPOCHS = 6


def _number(value: float) -> str:
    """A drawn value as students read it (every drawn value has at most 4 decimals)."""
    return f"{float(value):g}"


# ----------------------------------------------------------------- scripted epochs
def make_scripted_inputs(seed: int) -> dict[str, np.ndarray]:
    """Shuffled (threshold, accuracy) cases: NaN thresholds mean AccuracyCallback() with its default.

    For the default and for two drawn custom thresholds: well below, just below, exactly equal,
    just above (by 1e-4 to 5e-3) and well above. A custom threshold is at least 0.02 from the
    default, so a fixed 0.9 in place of self.threshold decides one of its cases wrongly.
    """
    rng = np.random.default_rng(seed + 303)
    customs: list[float] = []
    while len(customs) < 2:
        candidate = round(float(rng.uniform(0.3, 0.95)), 2)
        if abs(candidate - DEFAULT_THRESHOLD) >= 0.02 and all(abs(candidate - c) >= 0.05 for c in customs):
            customs.append(candidate)
    cases = []
    for given, threshold in [(np.nan, DEFAULT_THRESHOLD), *((c, c) for c in customs)]:
        cases += [
            (given, round(threshold - float(rng.uniform(0.01, 0.2)), 3)),
            (given, round(threshold - int(rng.integers(1, 51)) / 10_000, 4)),
            (given, threshold),
            (given, round(threshold + int(rng.integers(1, 51)) / 10_000, 4)),
            (given, round(float(rng.uniform(threshold + 0.01, min(1.0, threshold + 0.1))), 3)),
        ]
    order = rng.permutation(len(cases))
    return {"thresholds": np.array([cases[i][0] for i in order], dtype=np.float64),
            "accuracies": np.array([cases[i][1] for i in order], dtype=np.float64)}


ASSIGNMENT.probe("callback_scripted", uses="AccuracyCallback", inputs=make_scripted_inputs)


def _clipped(value) -> str:
    return repr(value)[:120]


def _cases(evidence) -> list[tuple[float | None, float]]:
    """The scripted cases the probe was given: (threshold, or None for the default; accuracy)."""
    return [(threshold_or_none(t), float(a))
            for t, a in zip(evidence.inputs["thresholds"], evidence.inputs["accuracies"])]


def _scripted_report(evidence) -> tuple[list[tuple[float | None, float]], list[bool | None], list[str]]:
    """The cases the probe was given and the decisions it reported (None where the callback failed: see
    :func:`_raise_failures`), or CheckFailed for a malformed report."""
    if evidence.get("is_class") is not True:
        raise CheckFailed(tr("AccuracyCallback should be a class."))
    if evidence.get("is_callback") is not True:
        raise CheckFailed(tr("AccuracyCallback does not inherit from keras.callbacks.Callback."))
    cases = _cases(evidence)
    stops, errors = evidence.value("stops", tr("the callback's stop decisions")), _errors(evidence, len(cases))
    if not (isinstance(stops, list) and len(stops) == len(cases) and all(
            isinstance(s, bool) or (s is None and e is not None) for s, e in zip(stops, errors))):
        raise CheckFailed(tr("{what}: expected {expected}, got {found}.", what=tr("the callback's stop decisions"),
                             expected=tr("a list of {count} True/False values", count=len(cases)),
                             found=_clipped(stops)))
    printed = evidence.value("printed", tr("the text the callback printed"))
    if not (isinstance(printed, list) and len(printed) == len(cases) and all(isinstance(p, str) for p in printed)):
        raise CheckFailed(tr("{what}: expected {expected}, got {found}.", what=tr("the text the callback printed"),
                             expected=tr("a list of {count} strings", count=len(cases)), found=_clipped(printed)))
    return cases, stops, printed


def _errors(evidence, count: int) -> list:
    """Each case's failure (None where the callback ran), as the probe kept it; CheckFailed for a malformed list."""
    errors = evidence.value("errors", tr("the callback's errors"))
    if not (isinstance(errors, list) and len(errors) == count and all(e is None or isinstance(e, dict)
                                                                       for e in errors)):
        raise CheckFailed(tr("{what}: expected {expected}, got {found}.", what=tr("the callback's errors"),
                             expected=tr("a list of {count} results", count=count), found=_clipped(errors)))
    return errors


def _raise_failures(evidence, selected) -> None:
    """CheckFailed with the callback's own error where it failed on a case ``selected(threshold, accuracy)``
    (built, given the model or called): only the checks of such cases are lost, as when AccuracyCallback() needs a
    threshold (no default) and every case with an explicit threshold still runs."""
    cases = _cases(evidence)
    for case, error in zip(cases, _errors(evidence, len(cases))):
        if error is not None and selected(*case):
            raise CheckFailed(Text.from_json(error))


def _should_stop(threshold: float | None, accuracy: float) -> bool:
    return accuracy > (DEFAULT_THRESHOLD if threshold is None else threshold)


def _case_message(threshold: float | None, accuracy: float, stopped: bool) -> Text:
    values = {"accuracy": _number(accuracy),
              "threshold": _number(DEFAULT_THRESHOLD if threshold is None else threshold)}
    if threshold is None and stopped:
        return tr("With accuracy {accuracy} and the default threshold {threshold} the callback stopped training.",
                  **values)
    if threshold is None:
        return tr("With accuracy {accuracy} and the default threshold {threshold} the callback did not stop "
                  "training.", **values)
    if stopped:
        return tr("With accuracy {accuracy} and threshold={threshold} the callback stopped training.", **values)
    return tr("With accuracy {accuracy} and threshold={threshold} the callback did not stop training.", **values)


def _judge(evidence, selected) -> None:
    """Fail, naming the cases decided wrongly, unless every case ``selected(threshold, accuracy)`` is right."""
    cases, stops, _ = _scripted_report(evidence)
    _raise_failures(evidence, selected)
    judged = [(case, stopped) for case, stopped in zip(cases, stops) if selected(*case)]
    wrong = [(case, stopped) for case, stopped in judged if stopped != _should_stop(*case)]
    if not wrong:
        return
    (threshold, accuracy), stopped = wrong[0]
    first = _case_message(threshold, accuracy, stopped)
    if len(wrong) == 1:
        raise CheckFailed(first)
    listed = ", ".join(f"({_number(a)}, {_number(DEFAULT_THRESHOLD if t is None else t)})" for (t, a), _ in wrong)
    raise CheckFailed(tr("{first} Your callback decided {wrong} of {total} such cases wrongly (accuracy, "
                         "threshold): {cases}.", first=first, wrong=len(wrong), total=len(judged), cases=listed))


def _require_some_stop(evidence) -> None:
    """Points for not stopping (or for the class itself) count only once the callback ever stops rightly.

    A callback that never stops passes "continue below" and "no stop at equality" without doing
    anything, and so would a stub whose report was forged to say so; neither earns these points.
    """
    cases, stops, _ = _scripted_report(evidence)
    if not any(stopped and _should_stop(*case) for case, stopped in zip(cases, stops)):
        raise CheckFailed(tr("Your callback never stopped training, not even when the accuracy was above the "
                             "threshold, so this behaviour cannot be credited yet."))


@ASSIGNMENT.check("callback_scripted", points=1, title=tr("AccuracyCallback is a keras.callbacks.Callback"),
                  hint=tr("Declare it as class AccuracyCallback(keras.callbacks.Callback)."))
def callback_is_keras_callback(evidence, ctx):
    _require_some_stop(evidence)  # which first checks the class and its base


@ASSIGNMENT.check("callback_scripted", points=1, title=tr("training continues while accuracy is below the threshold"),
                  hint=tr("Only set self.model.stop_training = True when logs['accuracy'] > self.threshold."))
def callback_continues_below(evidence, ctx):
    _require_some_stop(evidence)
    _judge(evidence, lambda threshold, accuracy: threshold is None and accuracy < DEFAULT_THRESHOLD)


@ASSIGNMENT.check("callback_scripted", points=1, title=tr("accuracy equal to the threshold does not stop training"),
                  hint=tr("The accuracy must be strictly greater than the threshold: use >, not >=."))
def callback_strictly_greater(evidence, ctx):
    _require_some_stop(evidence)
    _judge(evidence, lambda threshold, accuracy: threshold is None and accuracy == DEFAULT_THRESHOLD)


@ASSIGNMENT.check("callback_scripted", points=1, title=tr("accuracy above the threshold stops training"),
                  hint=tr("Read logs['accuracy'] (Keras 3 names the metric 'accuracy', not 'acc') and set "
                          "self.model.stop_training = True."))
def callback_stops_above(evidence, ctx):
    _judge(evidence, lambda threshold, accuracy: threshold is None and accuracy > DEFAULT_THRESHOLD)


@ASSIGNMENT.check("callback_scripted", points=1, title=tr("the threshold argument is honoured"),
                  hint=tr("Compare with self.threshold, stored in __init__, instead of a fixed 0.9."))
def callback_custom_threshold(evidence, ctx):
    _judge(evidence, lambda threshold, accuracy: threshold is not None)


@ASSIGNMENT.check("callback_scripted", points=1, title=tr("a message is printed when training stops"),
                  hint=tr("print(...) a short message when you stop training."))
def callback_prints_message(evidence, ctx):
    cases, stops, printed = _scripted_report(evidence)
    stopped_rightly = [(case, text) for case, stopped, text in zip(cases, stops, printed)
                       if stopped and _should_stop(*case)]
    if not stopped_rightly:
        raise CheckFailed(tr("The callback did not stop training, so no stop message could be seen."))
    for (threshold, accuracy), text in stopped_rightly:
        if not text.strip():
            raise CheckFailed(tr("With accuracy {accuracy} and threshold {threshold} the callback stopped training "
                                 "but printed nothing.", accuracy=_number(accuracy),
                                 threshold=_number(DEFAULT_THRESHOLD if threshold is None else threshold)))


@ASSIGNMENT.check("callback_scripted", points=1,
                  title=tr("logs without an accuracy (None, empty, only the loss) neither stop training nor raise"),
                  hint=tr("Read the value with logs.get('accuracy') and return when logs is None or the value is "
                          "missing."))
def callback_without_accuracy(evidence, ctx):
    _require_some_stop(evidence)
    results = evidence.value("without_accuracy", tr("the callback's behaviour on logs without an accuracy"))
    expected = len(NO_ACCURACY_LOGS) * 2
    if not (isinstance(results, list) and len(results) == expected and all(
            isinstance(r, dict) and isinstance(r.get("logs"), str) and isinstance(r.get("stopped"), bool)
            for r in results)):
        raise CheckFailed(tr("{what}: expected {expected}, got {found}.",
                             what=tr("the callback's behaviour on logs without an accuracy"),
                             expected=tr("a list of {count} results", count=expected), found=_clipped(results)))
    for result in results:
        if result.get("error") is not None:
            raise CheckFailed(tr("Given the logs {logs}, the callback raised an error: {error}", logs=result["logs"],
                                 error=Text.from_json(result["error"])))
        if result["stopped"]:
            raise CheckFailed(tr("on_epoch_end(0, {logs}) stopped training, though the logs hold no accuracy.",
                                 logs=result["logs"]))


# ----------------------------------------------------------------- a real model.fit
def make_fit_inputs(seed: int) -> dict[str, np.ndarray]:
    """Epoch accuracies for two fits: the first above 0.9 at a drawn epoch 2..5 of 6, and 2..4 epochs below 0.9.

    The first run uses threshold 0.9 and must stop after that epoch; the second uses threshold
    1.0, which no accuracy exceeds, and must run all its epochs. Accuracies are strictly
    increasing in the first run and never exactly 0.9, so ``>=`` costs nothing here.
    """
    rng = np.random.default_rng(seed + 404)
    stop_epoch = int(rng.integers(2, 6))  # 1-based
    below = np.sort(rng.choice(np.arange(300, 900), size=stop_epoch - 1, replace=False)) / 1000
    above = np.sort(rng.choice(np.arange(9001, 10_000), size=FIT_EPOCHS - stop_epoch + 1, replace=False)) / 10_000
    never = rng.choice(np.arange(300, 900), size=int(rng.integers(2, 5)), replace=False) / 1000
    return {"fit_accuracies": np.concatenate([below, above]), "never_accuracies": never}


ASSIGNMENT.probe("callback_in_fit", uses="AccuracyCallback", inputs=make_fit_inputs)


def _epochs_run(evidence, name: str, drawn: np.ndarray) -> int:
    """How many epochs a fit ran, checked against the accuracies the probe reports it scripted."""
    epochs = evidence.value(f"{name}_epochs", tr("the number of epochs run"))
    if not isinstance(epochs, int) or isinstance(epochs, bool) or not 0 <= epochs <= len(drawn):
        raise CheckFailed(tr("{what}: expected {expected}, got {found}.", what=tr("the number of epochs run"),
                             expected=tr("a whole number from 0 to {count}", count=len(drawn)),
                             found=_clipped(epochs)))
    given = evidence.value(f"{name}_accuracies", tr("the accuracies the scripted epochs reported"))
    if given != [float(a) for a in drawn[:epochs]]:
        raise CheckFailed(tr("{what}: expected {expected}, got {found}.",
                             what=tr("the accuracies the scripted epochs reported"),
                             expected=", ".join(_number(a) for a in drawn[:epochs]) or "[]", found=_clipped(given)))
    return epochs


@ASSIGNMENT.check("callback_in_fit", points=2, title=tr("inside model.fit, training stops after the right epoch"),
                  hint=tr("Set self.model.stop_training in on_epoch_end (not on_batch_end), and do not raise "
                          "exceptions to stop."), hidden=True)
def callback_stops_real_fit(evidence, ctx):
    accuracies = evidence.inputs["fit_accuracies"]
    never_accuracies = evidence.inputs["never_accuracies"]
    scripted = _epochs_run(evidence, "scripted", accuracies)
    never = _epochs_run(evidence, "never", never_accuracies)
    expected = int(np.argmax(accuracies > FIT_THRESHOLD)) + 1
    if scripted != expected:
        raise CheckFailed(tr("With epoch accuracies {accuracies} and threshold 0.9, fit should stop after "
                             "epoch {expected}; it ran {found} epoch(s).",
                             accuracies=", ".join(_number(a) for a in accuracies), expected=expected, found=scripted))
    if never != len(never_accuracies):
        raise CheckFailed(tr("With threshold=1.0 no accuracy is greater, so all {expected} epochs should run; "
                             "{found} ran.", expected=len(never_accuracies), found=never))
