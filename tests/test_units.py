"""Small units: outcome mapping, declarations, layer-stack canonicalisation, activation aliases."""
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
