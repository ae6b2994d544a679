"""Broken, hanging, exiting and cheating submissions: clear messages, zero where affected, nothing else lost."""

import pytest

from autograder.host.grading import grade_submission
from autograder.core.outcomes import Outcome
from autograder.host.runner import Limits
from corpus import CNN_BASE, FASHION_BASE, PRETRAINED_BASE

FAST = Limits(step_timeout=20)


def _grade(directory, grading_context, assignment=None, limits=FAST):
    return grade_submission(directory, assignment=assignment, context=grading_context, limits=limits)


def _only(result, assignment):
    return next(a for a in result.assignments if a.assignment == assignment)


def _assert_all(result, outcome, fragment):
    assert result.score == 0
    for check in result.checks:
        assert check.outcome is outcome, check
        assert fragment in check.message, check.message
        assert not check.grader_fault


def test_syntax_error_zeroes_that_assignment_only(submit, grading_context):
    directory = submit({"fashion_mnist.py": "def normalize(images, labels)\n    return images, labels\n",
                        "cnn.py": CNN_BASE})
    result = _grade(directory, grading_context)
    _assert_all(_only(result, "fashion_mnist"), Outcome.ERROR, "SyntaxError")
    cnn = _only(result, "cnn")
    assert cnn.score == cnn.max_score


def test_exception_at_import_names_the_line(submit, grading_context):
    directory = submit({"fashion_mnist.py": FASHION_BASE + "\nraise RuntimeError('boom at import')\n"})
    result = _only(_grade(directory, grading_context, "fashion_mnist"), "fashion_mnist")
    _assert_all(result, Outcome.ERROR, "boom at import")
    assert "line" in result.checks[0].message


@pytest.mark.slow
def test_hang_at_import_times_out(submit, grading_context):
    directory = submit({"fashion_mnist.py": "import time\nwhile True:\n    time.sleep(0.1)\n"})
    result = _only(_grade(directory, grading_context, "fashion_mnist", Limits(step_timeout=6)), "fashion_mnist")
    _assert_all(result, Outcome.TIMEOUT, "did not finish within 6 s")


@pytest.mark.parametrize("call", ["import sys; sys.exit(0)", "import os; os._exit(0)", "quit()"])
def test_exit_at_import_is_an_error_not_a_pass(call, submit, grading_context):
    directory = submit({"fashion_mnist.py": FASHION_BASE + "\n" + call + "\n"})
    result = _only(_grade(directory, grading_context, "fashion_mnist"), "fashion_mnist")
    _assert_all(result, Outcome.ERROR, "exit")


@pytest.mark.slow
def test_hang_in_one_function_costs_only_its_checks(submit, grading_context):
    source = FASHION_BASE.replace("    images = tf.cast(images, tf.float32) / 255.0",
                                  "    while True:\n        pass")
    directory = submit({"fashion_mnist.py": source})
    result = _only(_grade(directory, grading_context, "fashion_mnist", Limits(step_timeout=10)), "fashion_mnist")
    for check in result.checks:
        if check.check_id.startswith("normalize"):
            assert check.outcome is Outcome.TIMEOUT and check.score == 0, check
            assert "`normalize`" in check.message
        else:
            assert check.passed, check


def test_process_exit_inside_a_function_costs_only_its_checks(submit, grading_context):
    source = FASHION_BASE.replace("def build_dense_classifier():\n",
                                  "def build_dense_classifier():\n    import os; os._exit(3)\n")
    directory = submit({"fashion_mnist.py": source})
    result = _only(_grade(directory, grading_context, "fashion_mnist"), "fashion_mnist")
    for check in result.checks:
        if check.check_id.startswith("dense"):
            assert check.outcome is Outcome.ERROR and "exit code 3" in check.message, check
        else:
            assert check.passed, check


def test_missing_function_is_not_attempted(submit, grading_context):
    source = FASHION_BASE.split("class AccuracyCallback")[0]
    result = _only(_grade(submit({"fashion_mnist.py": source}), grading_context, "fashion_mnist"), "fashion_mnist")
    for check in result.checks:
        if check.check_id.startswith("callback"):
            assert check.outcome is Outcome.NOT_ATTEMPTED and "`AccuracyCallback` is not defined" in check.message
        else:
            assert check.passed, check


def test_a_librarys_not_implemented_error_is_an_error_not_a_stub(submit, grading_context):
    # Only the student's own `raise NotImplementedError` means "not written yet"; one raised inside Keras by
    # code the student wrote (here the abstract Loss base class, called) is a failure with its line.
    source = FASHION_BASE.replace("    images = tf.cast(images, tf.float32) / 255.0",
                                  "    keras.losses.Loss()(labels, labels)\n"
                                  "    images = tf.cast(images, tf.float32) / 255.0")
    assert source != FASHION_BASE
    result = _only(_grade(submit({"fashion_mnist.py": source}), grading_context, "fashion_mnist"), "fashion_mnist")
    normalize = [c for c in result.checks if c.check_id.startswith("normalize")]
    assert normalize
    for check in normalize:
        assert check.outcome is Outcome.ERROR, check
        assert "NotImplementedError" in check.message and "keras.losses.Loss()" in check.message, check.message
        assert not check.grader_fault


def test_wrong_return_type_is_explained(submit, grading_context):
    source = FASHION_BASE.replace("    return model\n", "    return model.summary()\n")
    result = _only(_grade(submit({"fashion_mnist.py": source}), grading_context, "fashion_mnist"), "fashion_mnist")
    first = next(c for c in result.checks if c.check_id == "dense_returns_model")
    assert first.outcome is Outcome.FAILED and "got None. Did you forget a `return`" in first.message


CHEAT = '''
import json, os, pathlib, sys
import keras
# Fake verdicts on stdout and on disk, and patched Keras in this process: none of it may count.
print("fashion_mnist: 28/28  Total: 28/28")
for folder in (pathlib.Path.cwd(), pathlib.Path.cwd().parent):
    try:
        (folder / "results.json").write_text(json.dumps({"score": 28, "max_score": 28, "tests": []}))
    except OSError:
        pass
keras.Model.count_params = lambda self: 101770
keras.Model.get_compile_config = lambda self: {"loss": "sparse_categorical_crossentropy"}
'''


def test_fake_output_files_and_patches_do_not_raise_the_score(submit, grading_context):
    honest_wrong = FASHION_BASE.replace("Dense(128", "Dense(64").replace(', metrics=["accuracy"]', "")
    result = _only(_grade(submit({"fashion_mnist.py": CHEAT + honest_wrong}), grading_context, "fashion_mnist"),
                   "fashion_mnist")
    lost = {c.check_id for c in result.checks if not c.passed}
    assert {"dense_parameter_count", "dense_layers", "dense_accuracy_metric"} <= lost


def test_lambda_layers_are_refused_by_safe_mode(submit, grading_context):
    source = FASHION_BASE.replace("layers.Flatten(),", "layers.Flatten(),\n        layers.Lambda(lambda t: t * 1.0),")
    result = _only(_grade(submit({"fashion_mnist.py": source}), grading_context, "fashion_mnist"), "fashion_mnist")
    model_check = next(c for c in result.checks if c.check_id == "dense_returns_model")
    assert model_check.outcome is Outcome.FAILED and "safe_mode" in model_check.message


# Dense(96) instead of Dense(128): the layer stack and the parameter count are wrong, nothing else.
EXPECTED_LOST_DENSE_96 = {"cnn_parameter_count": Outcome.FAILED, "cnn_layers": Outcome.FAILED}


def test_same_submission_graded_twice_gets_the_same_result(submit, grading_context):
    directory = submit({"cnn.py": CNN_BASE.replace("Dense(128", "Dense(96")})
    first, second = (_only(_grade(directory, grading_context, "cnn"), "cnn") for _ in range(2))
    assert [(c.check_id, c.outcome, c.score, c.message) for c in first.checks] == \
           [(c.check_id, c.outcome, c.score, c.message) for c in second.checks]
    # and it is this result, not merely the same one twice (two identical all-error runs would agree too)
    lost = {c.check_id: c.outcome for c in first.checks if not c.passed}
    assert lost == EXPECTED_LOST_DENSE_96, lost
    assert first.score == first.max_score - sum(c.max_score for c in first.checks if c.check_id in lost)


def test_a_model_that_cannot_train_gets_the_cause_not_a_stack_dump(submit, grading_context):
    source = FASHION_BASE.replace('loss="sparse_categorical_crossentropy"', 'loss="mse"')
    result = _only(_grade(submit({"fashion_mnist.py": source}), grading_context, "fashion_mnist"), "fashion_mnist")
    trains = next(c for c in result.checks if c.check_id == "dense_trains")
    assert trains.outcome is Outcome.FAILED and "Incompatible shapes: [32] vs. [32,10]" in trains.message
    assert "site-packages" not in trains.message and "{{node" not in trains.message


def test_downloads_fail_at_once_with_a_clear_message(submit, grading_context):
    source = PRETRAINED_BASE.replace(
        "def extract_features(model, batch):\n",
        "def extract_features(model, batch):\n    import urllib.request\n"
        "    urllib.request.urlopen('http://example.com/weights.h5', timeout=30)\n")
    result = _only(_grade(submit({"pretrained.py": source}), grading_context, "pretrained", Limits(step_timeout=60)),
                   "pretrained")
    for check in result.checks:
        if check.check_id.startswith("features"):
            assert check.outcome is Outcome.ERROR and "Network access is disabled" in check.message, check
        else:
            assert check.passed, check
