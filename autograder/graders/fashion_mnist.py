"""Hidden grader for ``fashion_mnist``: normalize, a dense classifier and an accuracy callback."""
from __future__ import annotations

import numpy as np

from autograder.graders._common import add_classifier_checks, add_normalize_checks
from autograder.i18n import Text, tr
from autograder.spec import Assignment, CheckFailed

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

# Scripted epochs: (threshold passed to the constructor or None for the default, accuracies).
SCRIPTS = {
    "below": (None, [0.85]),
    "at": (None, [0.9]),
    "above": (None, [0.9001]),
    "custom_below": (0.6, [0.55]),
    "custom_at": (0.6, [0.6]),
    "custom_above": (0.6, [0.65]),
}
FIT_ACCURACIES = [0.5, 0.7, 0.93, 0.95, 0.97, 0.99]  # a threshold of 0.9 stops after epoch 3
FIT_EPOCHS_EXPECTED = 3


def _tiny_model():
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _new_callback(student, threshold):
    factory = student.get("AccuracyCallback")
    if threshold is None:
        return student.run("AccuracyCallback()", factory)
    return student.run(f"AccuracyCallback(threshold={threshold})", factory, threshold=threshold)


@ASSIGNMENT.probe(uses="AccuracyCallback")
def callback_scripted(student, inputs, ctx):
    import keras

    factory = student.get("AccuracyCallback")
    observed = {"is_class": isinstance(factory, type),
                "is_callback": isinstance(factory, type) and issubclass(factory, keras.callbacks.Callback)}
    model = _tiny_model()
    for name, (threshold, accuracies) in SCRIPTS.items():
        callback = _new_callback(student, threshold)
        model.stop_training = False
        student.run("callback.set_model", callback.set_model, model)
        stops = []
        with ctx.capture_stdout() as printed:
            for epoch, accuracy in enumerate(accuracies):
                student.run("AccuracyCallback.on_epoch_end", callback.on_epoch_end, epoch,
                            {"loss": 0.5, "accuracy": accuracy})
                stops.append(bool(model.stop_training))
        observed[name] = {"stops": stops, "printed": printed.getvalue()[:500]}
    return observed


@ASSIGNMENT.probe(uses="AccuracyCallback")
def callback_in_fit(student, inputs, ctx):
    import keras

    class ScriptedAccuracy(keras.callbacks.Callback):
        """Runs before the student's callback and sets the epoch's accuracy to a known value."""

        def on_epoch_end(self, epoch, logs=None):
            logs["accuracy"] = FIT_ACCURACIES[epoch]

    rng = np.random.default_rng(ctx.seed)
    x, y = rng.normal(size=(64, 4)).astype("float32"), rng.integers(0, 2, size=64)
    scripted = _tiny_model()
    with ctx.capture_stdout():
        history = student.run("model.fit with your callback", scripted.fit, x, y, epochs=len(FIT_ACCURACIES),
                              batch_size=16, verbose=0,
                              callbacks=[ScriptedAccuracy(), _new_callback(student, 0.9)])
        unscripted = _tiny_model()
        never = student.run("model.fit with your callback", unscripted.fit, x, y, epochs=3, batch_size=16,
                            verbose=0, callbacks=[_new_callback(student, 1.0)])
    return {"scripted_epochs": len(history.history.get("loss", [])),
            "never_epochs": len(never.history.get("loss", []))}


def _stops(evidence, scenario: str) -> list[bool]:
    if not evidence.get("is_class"):
        raise CheckFailed(tr("AccuracyCallback should be a class."))
    return evidence.value(scenario, tr("the {scenario} scenario", scenario=scenario))["stops"]


def _decision(stops: list[bool]) -> Text:
    return tr("stop") if stops[0] else tr("continue")


@ASSIGNMENT.check("callback_scripted", points=1, title=tr("AccuracyCallback is a keras.callbacks.Callback"),
                  hint=tr("Declare it as class AccuracyCallback(keras.callbacks.Callback)."))
def callback_is_keras_callback(evidence, ctx):
    if not evidence.get("is_callback"):
        raise CheckFailed(tr("AccuracyCallback does not inherit from keras.callbacks.Callback."))


@ASSIGNMENT.check("callback_scripted", points=1, title=tr("training continues while accuracy is below the threshold"),
                  hint=tr("Only set self.model.stop_training = True when logs['accuracy'] > self.threshold."))
def callback_continues_below(evidence, ctx):
    if _stops(evidence, "below") != [False]:
        raise CheckFailed(tr("With accuracy 0.85 and threshold 0.9 the callback stopped training."))


@ASSIGNMENT.check("callback_scripted", points=1, title=tr("accuracy equal to the threshold does not stop training"),
                  hint=tr("The accuracy must be strictly greater than the threshold: use >, not >=."))
def callback_strictly_greater(evidence, ctx):
    if _stops(evidence, "at") != [False]:
        raise CheckFailed(tr("With accuracy exactly 0.9 and threshold 0.9 the callback stopped training."))


@ASSIGNMENT.check("callback_scripted", points=1, title=tr("accuracy above the threshold stops training"),
                  hint=tr("Read logs['accuracy'] (Keras 3 names the metric 'accuracy', not 'acc') and set "
                          "self.model.stop_training = True."))
def callback_stops_above(evidence, ctx):
    if _stops(evidence, "above") != [True]:
        raise CheckFailed(tr("With accuracy 0.9001 and the default threshold 0.9 the callback did not stop training."))


@ASSIGNMENT.check("callback_scripted", points=1, title=tr("the threshold argument is honoured"),
                  hint=tr("Compare with self.threshold, stored in __init__, instead of a fixed 0.9."))
def callback_custom_threshold(evidence, ctx):
    found = (_stops(evidence, "custom_below"), _stops(evidence, "custom_at"), _stops(evidence, "custom_above"))
    if found != ([False], [False], [True]):
        first, second, third = (_decision(stops) for stops in found)
        raise CheckFailed(tr("With threshold=0.6, accuracies 0.55, 0.6 and 0.65 should give continue, continue, "
                             "stop; your callback gave {first}, {second}, {third}.",
                             first=first, second=second, third=third))


@ASSIGNMENT.check("callback_scripted", points=1, title=tr("a message is printed when training stops"),
                  hint=tr("print(...) a short message when you stop training."))
def callback_prints_message(evidence, ctx):
    above = evidence.value("above", tr("the above-threshold scenario"))
    if not above["stops"] == [True]:
        raise CheckFailed(tr("The callback did not stop training, so no stop message could be seen."))
    if not above["printed"].strip():
        raise CheckFailed(tr("Nothing was printed when the callback stopped training."))


@ASSIGNMENT.check("callback_in_fit", points=2, title=tr("inside model.fit, training stops after the right epoch"),
                  hint=tr("Set self.model.stop_training in on_epoch_end (not on_batch_end), and do not raise "
                          "exceptions to stop."), hidden=True)
def callback_stops_real_fit(evidence, ctx):
    scripted = evidence.value("scripted_epochs", tr("the number of epochs run"))
    never = evidence.value("never_epochs", tr("the number of epochs run"))
    if scripted != FIT_EPOCHS_EXPECTED:
        raise CheckFailed(tr("With epoch accuracies {accuracies} and threshold 0.9, fit should stop after "
                             "epoch {expected}; it ran {found} epoch(s).",
                             accuracies=FIT_ACCURACIES, expected=FIT_EPOCHS_EXPECTED, found=scripted))
    if never != 3:
        raise CheckFailed(tr("With threshold=1.0 no accuracy is greater, so all 3 epochs should run; {found} ran.",
                             found=never))
