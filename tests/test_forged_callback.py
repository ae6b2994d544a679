"""A submission that forges what the worker reports earns nothing (the callback probes, the kit's own head's count).

The stub below never implements AccuracyCallback; at import time, inside the sandbox worker,
it replaces what the worker reports for the callback probes with the answers a correct
callback gave when the scenarios were fixed constants of the grader. The scenarios are now
drawn from the grader's secret probe key, so a replayed report fails every callback check,
as the student's failure (never an internal grader error).
"""
from __future__ import annotations

import json

import pytest

from autograder import graders

from conftest import run_cli

pytestmark = pytest.mark.slow

STUB = '''
import sys

import keras


class AccuracyCallback(keras.callbacks.Callback):
    def __init__(self, threshold=0.9):
        super().__init__()
        self.threshold = threshold

    def on_epoch_end(self, epoch, logs=None):
        raise NotImplementedError


# What a correct callback reported when the scenarios were the grader's fixed constants.
OLD_ANSWERS = {
    "callback_scripted": {
        "is_class": True, "is_callback": True,
        "below": {"stops": [False], "printed": ""},
        "at": {"stops": [False], "printed": ""},
        "above": {"stops": [True], "printed": "Accuracy above 0.9: stopping."},
        "custom_below": {"stops": [False], "printed": ""},
        "custom_at": {"stops": [False], "printed": ""},
        "custom_above": {"stops": [True], "printed": "Accuracy above 0.6: stopping."},
        # the same decisions, under the names the probe reports now
        "stops": [False, False, True, False, False, True],
        "printed": ["", "", "Stopping.", "", "", "Stopping."],
    },
    "callback_in_fit": {"scripted_epochs": 3, "never_epochs": 3,
                        "scripted_accuracies": [0.5, 0.7, 0.93], "never_accuracies": [0.5, 0.6, 0.7]},
}
'''

# Replace the probes' code in the worker's registry, which the worker looks up after importing us.
REPLACE_PROBES = STUB + '''
_probes = sys.modules["autograder.graders.fashion_mnist.probes"].PROBES
for _name, _answer in OLD_ANSWERS.items():
    _probes[_name] = lambda student, inputs, ctx, _answer=_answer: dict(_answer)
'''

# Wrap the worker's run_probe, so it reports the old answers for the callback probes. The worker module
# is autograder.worker.main (run as __main__ when started with python -m): patch whichever holds it.
WRAP_RUN_PROBE = STUB + '''
def _forge(worker):
    original = worker.run_probe

    def forged_run_probe(name, probe, *args, **kwargs):
        if name in OLD_ANSWERS:
            answer = OLD_ANSWERS[name]
            probe = lambda student, inputs, ctx: dict(answer)  # noqa: E731
        return original(name, probe, *args, **kwargs)

    worker.run_probe = forged_run_probe


for _worker in {id(m): m for m in (sys.modules.get("autograder.worker.main"), sys.modules.get("__main__"))
                if m is not None and hasattr(m, "run_probe")}.values():
    _forge(_worker)
'''


@pytest.mark.parametrize("source", [REPLACE_PROBES, WRAP_RUN_PROBE], ids=["replace-probes", "wrap-run-probe"])
def test_replayed_callback_reports_earn_nothing(source, tmp_path):
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "fashion_mnist.py").write_text(source, encoding="utf-8")
    out = tmp_path / "results.json"
    completed = run_cli("grade", str(submission), "--assignment", "fashion_mnist", "--json", str(out),
                        "--timeout", "120")
    assert completed.returncode == 0, completed.stderr
    results = json.loads(out.read_text(encoding="utf-8"))
    callback = [test for test in results["tests"] if test["extra_data"]["check_id"].startswith("callback")]
    expected = [c.id for c in graders.load("fashion_mnist").checks if c.id.startswith("callback")]
    assert [test["extra_data"]["check_id"] for test in callback] == expected and len(expected) >= 7
    for test in callback:
        assert test["score"] == 0, test
        assert not test["extra_data"]["grader_fault"], test
        # the forged report reached the checks and failed there (the stub's NotImplementedError never
        # ran, which would make the checks "not_attempted"; a forgery that broke the import, "error")
        assert test["extra_data"]["outcome"] == "failed", test
    assert results["score"] == 0


# A count the worker reported for the kit's own head (gap's gap_model probe) was trusted: this submission's add_gap
# uses Flatten (257 parameters on the head, not 65) and makes Layer.count_params lie to the probe alone.
FORGED_HEAD_COUNT = '''
import sys as _sys

from keras.src.layers.layer import Layer as _Layer

_count_params = _Layer.count_params


def _lying_count_params(self):
    frame = _sys._getframe(1)
    told = _count_params(self)
    return told + 192 if frame.f_code.co_name == "gap_model" else told


_Layer.count_params = _lying_count_params
'''


def test_a_forged_parameter_count_of_the_kits_own_head_earns_nothing(tmp_path):
    from corpus import MISTAKES

    flatten = next(m for m in MISTAKES if m.assignment == "gap" and m.name.startswith("Flatten instead"))
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "gap.py").write_text(flatten.source() + FORGED_HEAD_COUNT, encoding="utf-8")
    out = tmp_path / "results.json"
    completed = run_cli("grade", str(submission), "--assignment", "gap", "--json", str(out), "--timeout", "300")
    assert completed.returncode == 0, completed.stderr
    checks = {t["extra_data"]["check_id"]: t for t in json.loads(out.read_text(encoding="utf-8"))["tests"]}
    assert checks["gap_parameters"]["score"] == 0, checks["gap_parameters"]
    assert "adds 257 parameters" in checks["gap_parameters"]["output"], checks["gap_parameters"]["output"]
    assert checks["gap_returns_model"]["score"] == checks["gap_returns_model"]["max_score"]  # the forgery ran
