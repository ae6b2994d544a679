"""Small units: outcome mapping, declarations, layer-stack canonicalisation, activation aliases."""
import numpy as np
import keras
import pytest
import tensorflow as tf
from keras import layers

from autograder.host import modelspec
from autograder.core.outcomes import Outcome, ProbeStatus, judge
from autograder.core.spec import Assignment, CheckFailed, ProbeSet


def _assignment(verify):
    assignment = Assignment("demo", "Demo", ("f",))
    assignment.probe("run_f", uses="f")
    assignment.check("run_f", points=2, title="f works", hint="Fix f.")(verify)
    return assignment


def _judge(verify, status=ProbeStatus("ok")):
    assignment = _assignment(verify)
    return judge("demo", assignment.checks[0], status, evidence=None, context=None)


def test_pass_fail_and_probe_states_map_to_outcomes():
    def passes(evidence, ctx):
        return None

    def fails(evidence, ctx):
        raise CheckFailed("wrong answer.")

    assert _judge(passes).outcome is Outcome.PASSED and _judge(passes).score == 2
    failed = _judge(fails)
    assert failed.outcome is Outcome.FAILED and failed.score == 0 and failed.message == "wrong answer. Hint: Fix f."
    for state, outcome in [("not_attempted", Outcome.NOT_ATTEMPTED), ("error", Outcome.ERROR),
                           ("timeout", Outcome.TIMEOUT)]:
        result = _judge(passes, ProbeStatus(state, "why"))
        assert (result.outcome, result.score, result.message, result.grader_fault) == (outcome, 0, "why", False)


def test_a_bug_in_check_code_is_a_grader_fault_not_student_feedback():
    def buggy(evidence, ctx):
        return {}["missing"]

    result = _judge(buggy)
    assert result.outcome is Outcome.ERROR and result.grader_fault and result.score == 0
    assert "not your fault" in result.message


def test_declarations_are_validated():
    assignment = Assignment("demo", "Demo", ("f",))
    with pytest.raises(ValueError, match="Received"):
        assignment.probe("run_g", uses="g")
    assignment.probe("run_f", uses="f")
    with pytest.raises(ValueError, match="duplicate probe name"):
        assignment.probe("run_f", uses="f")
    probes = ProbeSet()
    probes.add("run_f", lambda student, inputs, ctx: {})
    with pytest.raises(ValueError, match="duplicate probe name"):
        probes.add("run_f", lambda student, inputs, ctx: {})
    with pytest.raises(ValueError, match="undeclared probe"):
        assignment.check("nope", points=1, title="t")


def _stack(*model_layers, shape=(28, 28)):
    return modelspec.layer_stack(keras.Sequential([keras.Input(shape), *model_layers]))


def test_equivalent_spellings_give_the_same_stack():
    expected = ["Flatten", "Dense(128)", "ReLU", "Dense(10)", "Softmax"]
    assert _stack(layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")) == expected
    assert _stack(layers.Flatten(), layers.Dense(128), layers.ReLU(), layers.Dense(10), layers.Softmax()) == expected
    assert _stack(layers.Flatten(), layers.Dense(128), layers.Activation("relu"), layers.Dense(10),
                  layers.Activation("softmax")) == expected
    assert _stack(layers.MaxPool2D(2), shape=(28, 28, 1)) == _stack(layers.MaxPooling2D((2, 2), strides=2),
                                                                  shape=(28, 28, 1))


def test_stack_difference_names_the_first_mismatch():
    message = modelspec.describe_stack_difference(["Flatten", "Dense(128)"], ["Flatten", "Dense(64)"])
    assert "step 2: expected Dense(128), found Dense(64)" in message


def test_tf_nn_activations_reload_under_safe_mode(tmp_path):
    from autograder.host.evidence import load_model_safely

    model = keras.Sequential([keras.Input((4,)), layers.Dense(3, activation=tf.nn.softmax)])
    model.save(tmp_path / "m.keras")
    with pytest.raises(Exception):
        keras.models.load_model(tmp_path / "m.keras", safe_mode=True)  # why the alias map exists
    assert modelspec.layer_stack(load_model_safely(tmp_path / "m.keras")) == ["Dense(3)", "Softmax"]


COLLECTOR_PAUSED = """
import gc, weakref
from autograder.core.collector import imports_then_frozen

class Node:
    pass

def garbage_cycle():
    node = Node()
    node.itself = node
    return weakref.ref(node)

started = []
gc.callbacks.append(lambda phase, info: phase == "start" and started.append(info["generation"]))
frozen_before = gc.get_freeze_count()
with imports_then_frozen():
    assert not gc.isenabled()
    dead = garbage_cycle()
    kept = [Node() for _ in range(50_000)]  # far past the threshold that starts a collection
    collections_inside = len(started)
assert collections_inside == 0, started
assert dead() is None, "the cycle made inside was not collected after the block"
assert len(started) == 1 and gc.isenabled()
assert gc.get_freeze_count() >= frozen_before + 50_000, "what lived on was not frozen"

gc.disable()
with imports_then_frozen():
    pass
assert not gc.isenabled(), "a collector that was off before was turned on"
gc.enable()
try:
    with imports_then_frozen():
        raise KeyError("an import failed")
except KeyError:
    pass
assert gc.isenabled(), "an error left the collector off"
print("ok")
"""


def test_the_collector_is_paused_for_the_kits_imports_then_collects_once_and_freezes():
    """In a fresh interpreter: gc.freeze is for good, and the suite's own process has frozen TensorFlow."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", COLLECTOR_PAUSED], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_a_model_built_for_its_shapes_alone_draws_no_weights_and_leaves_the_next_build_as_a_plain_one():
    """The probes' shape-only calls of student code (another input size, the default one, the ImageNet request)
    skip the random draws of the weights nobody reads; what is built after them is built as without them."""
    from autograder.graders.common.probes import built_for_shapes

    def dense():
        layer = layers.Dense(4)
        layer.build((None, 3))
        return layer

    keras.utils.set_random_seed(3)
    dense()
    plain_second = dense().kernel.numpy()
    keras.utils.set_random_seed(3)
    shaped = built_for_shapes(dense)
    after = dense().kernel.numpy()
    assert shaped.kernel.shape == (3, 4) and not np.any(shaped.kernel.numpy())
    assert np.any(after) and np.array_equal(after, plain_second)


def test_a_keras_layer_error_is_summarised_by_its_cause_not_by_the_calls_arguments():
    from autograder.host.context import error_summary

    model = keras.Sequential([keras.Input((4,)), layers.Dense(2)])
    with pytest.raises(ValueError) as caught:
        model(np.zeros((2, 5), np.float32))
    assert "\x1b[" in str(caught.value) and "• inputs=" in str(caught.value)  # what Keras 3 says around the cause
    summary = error_summary(caught.value)
    assert summary.startswith("ValueError: Input 0") and "is incompatible with the layer" in summary
    assert "\x1b" not in summary and "•" not in summary


def test_a_checks_prediction_on_a_few_images_is_what_model_predict_gives():
    """models.predict calls a model eagerly on a small batch (no predict function to trace) and on a large one
    through model.predict; either way the output is model.predict's, in inference mode (dropout off, the
    batch-norm statistics used)."""
    from autograder.graders.common import models

    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(4, 3), layers.BatchNormalization(),
                              layers.Dropout(0.5), layers.GlobalAveragePooling2D(), layers.Dense(3, "softmax")])
    model.layers[1].moving_mean.assign(np.full(4, 0.3, np.float32))
    for n in (5, models.EAGER_BATCH, models.EAGER_BATCH + 1):
        batch = np.random.default_rng(n).normal(size=(n, 8, 8, 3)).astype(np.float32)
        found = models.predict(model, batch, "m")
        assert isinstance(found, np.ndarray) and found.shape == (n, 3)
        np.testing.assert_allclose(found, model.predict(batch, verbose=0), rtol=1e-5, atol=1e-6)
    inputs = keras.Input((4,))
    two = keras.Model(inputs, [layers.Dense(1)(inputs), layers.Dense(2)(inputs)])
    with pytest.raises(CheckFailed, match="returned 2 outputs"):
        models.predict(two, np.zeros((3, 4), np.float32), "m")
    with pytest.raises(CheckFailed, match="could not predict.*incompatible"):
        models.predict(model, np.zeros((2, 4), np.float32), "m")


def test_a_trusted_training_step_reports_exactly_the_weights_it_moved():
    """Frozen weights stay, trainable ones and the batch-norm statistics the step updates move: the values
    before the step are kept as they were, not changed along with the weights."""
    from autograder.graders.common import models

    keras.utils.set_random_seed(4)
    inputs = keras.Input((4,))
    frozen, norm, head = layers.Dense(3, name="frozen"), layers.BatchNormalization(name="norm"), layers.Dense(1)
    frozen.trainable = False
    model = keras.Model(inputs, head(norm(frozen(inputs))))
    x = np.random.default_rng(4).normal(size=(8, 4)).astype(np.float32)
    moved = models.changed_after_training_step(model, x, np.ones((8, 1), np.float32))
    assert {w.path: moved[id(w)] for w in model.weights} == {
        "frozen/kernel": False, "frozen/bias": False, "norm/gamma": True, "norm/beta": True,
        "norm/moving_mean": True, "norm/moving_variance": True, f"{head.name}/kernel": True, f"{head.name}/bias": True}


PYPLOT_DEFERRED = r"""
import sys
from autograder.host.context import configure_tensorflow
configure_tensorflow(1)  # the grading process's start (the worker's uses the same context manager)
import keras
from keras.src.visualization import plot_image_gallery
waiting = sys.modules["matplotlib.pyplot"]
assert type(waiting).__name__ == "_WaitingModule", "pyplot ran at Keras's import"
ran = [name for name in ("matplotlib", "matplotlib.patches", "IPython")
       if type(sys.modules[name]).__name__ != "_WaitingModule"]
assert not ran, f"ran at Keras's import: {ran}"
# TensorFlow's autograph reads __file__ of every loaded module each time it converts a function:
files = [getattr(module, "__file__", None) for module in list(sys.modules.values())]
assert waiting.__file__ == waiting.__spec__.origin and waiting.__name__ == "matplotlib.pyplot"
assert type(waiting).__name__ == "_WaitingModule", "reading pyplot's __file__ ran it"
assert not any(type(f).__name__ == "_DeferringFinder" for f in sys.meta_path), "the finder outlived the import"
import json.tool  # other modules are imported as usual
assert type(sys.modules["json.tool"]).__name__ == "module"
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
figure = plt.figure()
plt.plot([0, 1], [1, 0])
assert len(figure.axes[0].lines) == 1 and plot_image_gallery.plt is plt
assert type(sys.modules["matplotlib.pyplot"]).__name__ == "module"
from keras.src.visualization import plot_bounding_box_gallery
from matplotlib import patches  # Keras's waiting submodule, now run
assert plot_bounding_box_gallery.patches is patches and patches.Rectangle((0, 0), 1, 1).get_width() == 1
from keras.src.saving import file_editor
assert file_editor.is_ipython_notebook() is False and type(sys.modules["IPython"]).__name__ == "module"
print("ok")
"""


def test_matplotlib_and_ipython_imported_by_keras_run_only_when_first_used():
    """In a fresh interpreter: Keras's imports of matplotlib, pyplot, patches and IPython (0.17 s of each start)
    wait for their first use, where they work as plain imports."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", PYPLOT_DEFERRED], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_the_kits_vgg16_base_is_built_without_random_draws_and_leaves_the_random_streams_as_a_plain_build(
        monkeypatch):
    """reference_base sets every weight of the VGG16 it builds, so its layers' initializers draw nothing
    (autograder.core.keras_init); the base, and every random value drawn after it (a head's initial weights,
    Python's and Keras's generators), are what they are when the initializers do draw."""
    import contextlib
    import random

    from autograder.graders.transfer import contract

    def build_then_draw():
        keras.utils.set_random_seed(11)
        base = contract.reference_base(32)
        head = layers.Dense(3)
        head.build((None, 512))
        return ([w.numpy() for w in base.weights], head.kernel.numpy(), random.random(),
                keras.ops.convert_to_numpy(keras.random.normal((4,))))

    draws = []
    real_draw = keras.initializers.VarianceScaling.__call__
    monkeypatch.setattr(keras.initializers.VarianceScaling, "__call__",
                        lambda self, *args, **kwargs: draws.append(type(self).__name__) or real_draw(self, *args,
                                                                                                      **kwargs))
    skipped = build_then_draw()
    assert draws == ["GlorotUniform"]  # the head's alone
    assert "_initialize_with_initializer" not in vars(keras.Variable)  # the block is over
    monkeypatch.setattr(contract, "random_draws_skipped", contextlib.nullcontext)
    drawn = build_then_draw()
    assert len(draws) == 1 + 13 + 1  # the plain build draws each convolution's kernel
    assert len(skipped[0]) == len(drawn[0]) == 26
    for mine, plain in zip(skipped[0], drawn[0]):
        np.testing.assert_array_equal(mine, plain)
    np.testing.assert_array_equal(skipped[1], drawn[1])
    assert skipped[2] == drawn[2]
    np.testing.assert_array_equal(skipped[3], drawn[3])


class _CountsTrainingCalls(layers.Layer):
    """Identity that counts its calls in training mode: one per trace of the train step (fit runs it traced)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.training_calls = 0

    def call(self, x, training=None):
        self.training_calls += bool(training)
        return x


def _fit_twice(make_model, x, y, monkeypatch):
    """Train a fresh model through GradingContext.train_and_evaluate with and without the state built before fit."""
    from autograder.host import context
    from autograder.student.datasets import Split

    grading = context.GradingContext(seed=5)
    runs = []
    for prebuilt in (True, False):
        with monkeypatch.context() as patch:
            if not prebuilt:
                patch.setattr(context, "built_before_fit", lambda *args: None)
            keras.utils.set_random_seed(9)  # the same initial weights for both
            model = make_model()
            try:
                run = grading.train_and_evaluate(model, Split(x, y), Split(x[:20], y[:20]), epochs=2, batch_size=16,
                                                 max_params=10**6,
                                                 inputs=lambda images: images.astype(np.float32) / 255)
            except CheckFailed as failure:
                runs.append((failure.message.render(), None, None))
                continue
        counter = next(layer for layer in model.layers if isinstance(layer, _CountsTrainingCalls))
        runs.append(((run.accuracy, run.history), [w.numpy() for w in model.weights], counter.training_calls))
    return runs


def test_fit_traces_its_train_step_once_with_the_same_weights_and_history_to_the_bit(monkeypatch):
    """context.built_before_fit creates the loss's, metrics' and optimizer's state before fit, so fit traces
    its train step once instead of twice; the training run is the same, bit for bit, built (as the model
    came) or not, with batch normalisation and dropout, whatever the optimizer."""
    rng = np.random.default_rng(4)
    x = rng.integers(0, 256, (96, 8, 8, 3), dtype=np.uint8)
    y = rng.integers(0, 3, 96)

    def built():
        model = keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(4, 3), layers.BatchNormalization(),
                                  layers.ReLU(), layers.Dropout(0.3), _CountsTrainingCalls(),
                                  layers.GlobalAveragePooling2D(), layers.Dense(3, "softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    def unbuilt():  # no Input: its weights are made by the first call
        model = keras.Sequential([layers.Flatten(), layers.Dense(8, "relu"), _CountsTrainingCalls(),
                                  layers.Dense(3)])
        model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        return model

    for make_model in (built, unbuilt):
        (prebuilt, prebuilt_weights, once), (plain, plain_weights, twice) = _fit_twice(make_model, x, y, monkeypatch)
        assert (once, twice) == (1, 2), make_model.__name__
        assert prebuilt == plain
        assert len(prebuilt_weights) == len(plain_weights) > 0
        for mine, theirs in zip(prebuilt_weights, plain_weights):
            np.testing.assert_array_equal(mine, theirs)


def test_a_model_that_cannot_be_built_before_fit_fails_in_fit_with_fits_own_error(monkeypatch):
    """Where building beforehand fails (here: 8x8x3 images into a model for 4 numbers), fit reports the error
    it reports without that step (but for the number in the name Keras gave a symbolic tensor: the failed step
    made some)."""
    import re

    x = np.zeros((32, 8, 8, 3), np.uint8)
    y = np.zeros(32, np.int64)

    def wrong_input():
        model = keras.Sequential([keras.Input((4,)), _CountsTrainingCalls(), layers.Dense(2, "softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    (prebuilt, _, _), (plain, _, _) = _fit_twice(wrong_input, x, y, monkeypatch)
    def unnumbered(message):
        return re.sub(r"keras_tensor_\d+", "keras_tensor", message)

    assert unnumbered(prebuilt) == unnumbered(plain), (prebuilt, plain)
    assert prebuilt.startswith("Training the model failed: ValueError: Invalid input shape"), prebuilt
