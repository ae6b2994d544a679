"""One sandbox worker serves every assignment of a student's submission: what one file does stays with its checks.

A file that changes Keras' global settings, hangs or kills the worker costs only its own checks;
the other assignments of the same submission, graded by the same (or a restarted) worker, keep
their full marks.
"""
from __future__ import annotations

import shutil

import pytest

from autograder.core.settings import Settings
from autograder.host.grading import grade_submission
from conftest import ROOT

SOLUTIONS = ROOT / "solutions"

LEFTOVERS = '''
import keras as _keras
import tensorflow as _tf
_keras.config.set_image_data_format("channels_first")
_keras.config.set_floatx("float16")
_keras.config.set_epsilon(0.5)
_keras.config.set_dtype_policy("mixed_bfloat16")
_tf.random.set_seed(12345)


@_keras.saving.register_keras_serializable(package="leftover")
class Dense(_keras.layers.Layer):
    pass
'''


def _folder(tmp_path, files: dict[str, str]):
    for assignment, text in files.items():
        (tmp_path / f"{assignment}.py").write_text(text, encoding="utf-8")
    return tmp_path


def _solution(assignment: str) -> str:
    return (SOLUTIONS / f"{assignment}.py").read_text(encoding="utf-8")


# The worker pauses the garbage collector for its own imports: a student's code runs with it on, as in a Python
# of its own (a file that does not import gets zero).
COLLECTOR_ON = 'import gc as _gc\nif not _gc.isenabled():\n    raise RuntimeError("the garbage collector is off")\n'
# Keras's own import of pyplot waits for its first use (autograder.core.lazy_imports): a student's plot still draws.
PLOTS = ('import matplotlib\nmatplotlib.use("Agg")\nimport matplotlib.pyplot as _plt\n_figure = _plt.figure()\n'
         '_plt.plot([0, 1], [1, 0])\nassert len(_figure.axes[0].lines) == 1\n_plt.close("all")\n')


def test_global_keras_state_left_by_one_file_does_not_reach_the_next(tmp_path, grading_context):
    folder = _folder(tmp_path, {"fashion_mnist": _solution("fashion_mnist") + LEFTOVERS,
                                "cnn": COLLECTOR_ON + _solution("cnn")})
    result = grade_submission(folder, Settings(assignments=("fashion_mnist", "cnn")), context=grading_context)
    cnn = next(a for a in result.assignments if a.assignment == "cnn")
    assert cnn.score == cnn.max_score, [(c.check_id, c.message) for c in cnn.checks if c.score < c.max_score]


@pytest.mark.slow
def test_a_hang_and_a_crash_cost_only_their_own_checks(tmp_path, grading_context):
    # waits rather than spins (the limit is wall time; tests/test_bad_submissions.py has a spinning hang)
    hang = _solution("fashion_mnist").replace("def normalize(", "def normalize(*_a, **_k):\n    import time\n"
                                              "    time.sleep(3600)\n\n\ndef _replaced_normalize(", 1)
    crash = "import os\nos._exit(3)\n" + _solution("cnn")
    folder = _folder(tmp_path, {"fashion_mnist": hang, "cnn": crash, "gap": PLOTS + _solution("gap")})
    settings = Settings(assignments=("fashion_mnist", "cnn", "gap"), step_timeout=8)
    result = grade_submission(folder, settings, context=grading_context)
    by_id = {a.assignment: a for a in result.assignments}
    fashion = {c.check_id: c for c in by_id["fashion_mnist"].checks}
    assert fashion["normalize_values"].outcome == "timeout"
    assert fashion["dense_parameter_count"].outcome == "passed"  # the worker was restarted for what was left
    assert {c.outcome for c in by_id["cnn"].checks} == {"error"}
    assert "exit code 3" in str(by_id["cnn"].checks[0].message)
    assert by_id["gap"].score == by_id["gap"].max_score


def test_a_missing_file_leaves_the_others_graded(tmp_path, grading_context):
    shutil.copy(SOLUTIONS / "gap.py", tmp_path / "gap.py")
    result = grade_submission(tmp_path, Settings(assignments=("cnn", "gap")), context=grading_context)
    by_id = {a.assignment: a for a in result.assignments}
    assert [a.assignment for a in result.assignments] == ["cnn", "gap"]
    assert {c.outcome for c in by_id["cnn"].checks} == {"not_attempted"}
    assert by_id["gap"].score == by_id["gap"].max_score


ON_DEMAND = """
import json, sys
from autograder.core.settings import Settings
from autograder.host.grading import TensorflowStart, grade_submission
result = grade_submission(sys.argv[1], Settings(assignments=("fashion_mnist",)),
                          tensorflow=TensorflowStart(threads=1, on_demand=True))
print(json.dumps({"score": result.score, "max": result.max_score, "tensorflow": "tensorflow" in sys.modules}))
"""


@pytest.mark.slow
def test_judging_on_demand_starts_tensorflow_only_when_a_probe_ran(tmp_path):
    """grade-all's grading processes: a stub's (nothing ran) never imports TensorFlow; a solution's does."""
    import json
    import subprocess
    import sys

    seen = {}
    for name, folder in (("stub", ROOT / "exercises"), ("solution", SOLUTIONS)):
        done = subprocess.run([sys.executable, "-c", ON_DEMAND, str(folder)], capture_output=True, text=True,
                              timeout=600, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        seen[name] = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["stub"]["score"] == 0 and seen["stub"]["tensorflow"] is False, seen
    assert seen["solution"]["score"] == seen["solution"]["max"] > 0 and seen["solution"]["tensorflow"] is True, seen
