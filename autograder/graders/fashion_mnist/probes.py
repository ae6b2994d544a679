"""fashion_mnist probes (sandbox worker side): AccuracyCallback on scripted epochs and inside model.fit."""
from __future__ import annotations

import numpy as np

from autograder.core.i18n import message_of
from autograder.core.spec import ProbeSet, StudentError
from autograder.graders.common.probes import NORMALIZE_PROBES, classifier_build
from autograder.graders.fashion_mnist.contract import (FIT_THRESHOLD, MAX_PRINTED_CHARS, NO_ACCURACY_LOGS,
                                                       threshold_or_none)

PROBES = ProbeSet(NORMALIZE_PROBES)
PROBES.add("dense_build", classifier_build("build_dense_classifier"))


def _tiny_model():
    """The kit's model for fitting with the student's callback: a few steps, run eagerly (tracing costs more)."""
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], run_eagerly=True)
    return model


def _new_callback(student, threshold):
    factory = student.get("AccuracyCallback")
    if threshold is None:
        return student.run("AccuracyCallback()", factory)
    return student.run(f"AccuracyCallback(threshold={threshold})", factory, threshold=threshold)



@PROBES.register
def callback_scripted(student, inputs, ctx):
    import keras

    factory = student.get("AccuracyCallback")
    observed = {"is_class": isinstance(factory, type),
                "is_callback": isinstance(factory, type) and issubclass(factory, keras.callbacks.Callback)}
    if not observed["is_callback"]:
        return observed  # Keras would not call it either: nothing to run (no set_model, no on_epoch_end)
    model = _tiny_model()
    stops, printed, errors = [], [], []
    for threshold, accuracy in zip(inputs["thresholds"], inputs["accuracies"]):
        try:  # a failure costs only the checks of this case's kind (no default threshold: those with none)
            callback = _new_callback(student, threshold_or_none(threshold))
            model.stop_training = False
            student.run("callback.set_model", callback.set_model, model)
            with ctx.capture_output() as output:  # what on_epoch_end prints, and nothing else
                student.run("AccuracyCallback.on_epoch_end", callback.on_epoch_end, 0,
                            {"loss": 0.5, "accuracy": float(accuracy)})
            stopped, error = student.run("bool(model.stop_training)", bool, model.stop_training), None
            text = output.getvalue()[:MAX_PRINTED_CHARS]
        except StudentError as failure:
            stopped, error, text = None, message_of(failure).to_json(), ""
        stops.append(stopped)
        errors.append(error)
        printed.append(text)
    observed.update(stops=stops, printed=printed, errors=errors,
                    without_accuracy=_without_accuracy(student, model, inputs))
    return observed



def _without_accuracy(student, model, inputs) -> list[dict]:
    """For each log in NO_ACCURACY_LOGS (with the default and a drawn threshold): stopped, or the error raised."""
    threshold = threshold_or_none(float(np.nanmin(inputs["thresholds"])))
    results = []
    for label, logs in NO_ACCURACY_LOGS:
        for given in (None, threshold):
            try:
                callback = _new_callback(student, given)
                model.stop_training = False
                student.run("callback.set_model", callback.set_model, model)
                student.run(f"AccuracyCallback.on_epoch_end(0, {label})", callback.on_epoch_end, 0,
                            None if logs is None else dict(logs))
            except StudentError as error:
                results.append({"logs": label, "error": message_of(error).to_json(), "stopped": False})
                continue
            results.append({"logs": label, "error": None,
                            "stopped": student.run("bool(model.stop_training)", bool, model.stop_training)})
    return results



@PROBES.register
def callback_in_fit(student, inputs, ctx):
    import keras

    class ScriptedAccuracy(keras.callbacks.Callback):
        """Runs before the student's callback and sets each epoch's accuracy to a drawn value."""

        def __init__(self, accuracies):
            super().__init__()
            self.accuracies = [float(a) for a in accuracies]
            self.given: list[float] = []

        def on_epoch_end(self, epoch, logs=None):
            logs["accuracy"] = self.accuracies[epoch]
            self.given.append(self.accuracies[epoch])

    rng = np.random.default_rng(ctx.seed)
    x, y = rng.normal(size=(64, 4)).astype("float32"), rng.integers(0, 2, size=64)
    runs = {}
    with ctx.capture_output():
        for name, accuracies, threshold in (("scripted", inputs["fit_accuracies"], FIT_THRESHOLD),
                                            ("never", inputs["never_accuracies"], 1.0)):
            scripted = ScriptedAccuracy(accuracies)
            history = student.run("model.fit with your callback", _tiny_model().fit, x, y,
                                  epochs=len(scripted.accuracies), batch_size=16, verbose=0,
                                  callbacks=[scripted, _new_callback(student, threshold)])
            runs[f"{name}_epochs"] = len(history.history.get("loss", []))
            runs[f"{name}_accuracies"] = scripted.given
    return runs
