"""Training checks judged elsewhere (grade-all on Dask with [cluster] gpu = true): what a grading process exports,
judged in another process from those files alone, gives the verdict judging in place gives; the wire format takes
plain names and bytes only; grade-all puts back only results that a placeholder waits for."""
import json

import pytest

from autograder import graders
from autograder.core.outcomes import CheckResult, Outcome, result_to_json
from autograder.core.settings import Settings
from autograder.host import deferred, grading
from autograder.host.child import judge_in_child
from corpus import BASES

ASSIGNMENT = "fashion_mnist"
NO_SOFTMAX = BASES[ASSIGNMENT].replace('Dense(10, activation="softmax")', "Dense(10)")
TRAINING = {c.id for c in graders.load(ASSIGNMENT).checks if c.threshold is not None}


def _comparable(result) -> dict:
    data = result_to_json(result)
    return {key: data[key] for key in ("check_id", "score", "max_score", "outcome", "message", "hidden", "details")}


@pytest.mark.slow
@pytest.mark.parametrize("source", [BASES[ASSIGNMENT], NO_SOFTMAX], ids=["reference", "no-softmax"])
def test_a_deferred_training_check_judged_in_a_child_gets_the_verdict_judged_here(source, tmp_path,
                                                                                   grading_context):
    submission = tmp_path / f"{ASSIGNMENT}.py"
    submission.write_text(source, encoding="utf-8")
    settings = Settings(assignments=(ASSIGNMENT,))
    here = grading.grade_submission(submission, settings, context=grading_context)
    folder = tmp_path / "deferred"
    exported = grading.grade_submission(submission, settings, context=grading_context,
                                        deferral=deferred.Deferral(folder))
    waiting = [c for c in exported.assignments[0].checks if deferred.is_placeholder(c)]
    assert {c.check_id for c in waiting} == TRAINING and all(c.score == 0 for c in waiting)
    assert exported.score == here.score - sum(c.score for c in here.assignments[0].checks if c.check_id in TRAINING)

    # The judging process sees only the packed bytes, unpacked elsewhere, as on another machine.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    deferred.unpack(deferred.pack(folder), elsewhere / "in")
    end = judge_in_child(elsewhere / "in", settings, workdir=elsewhere, log=elsewhere / "judging.log")
    assert end.record is not None, end.log_tail
    assert deferred.merge(exported, end.record) == len(TRAINING)
    assert [_comparable(c) for c in exported.assignments[0].checks] == \
        [_comparable(c) for c in here.assignments[0].checks]
    assert exported.score == here.score
    if source == NO_SOFTMAX:
        assert any(c.check_id in TRAINING and c.outcome is Outcome.FAILED for c in here.assignments[0].checks)


def test_unpacking_takes_plain_names_and_bytes_only(tmp_path):
    good = {"name": "fashion_mnist.dense_trains", "files": {"check.json": b"{}"}, "inputs": {"x.npy": b""}}
    assert deferred.unpack([good], tmp_path / "ok") == [tmp_path / "ok" / "fashion_mnist.dense_trains"]
    for bad in ({**good, "name": ".."}, {**good, "name": "../../escaped"}, {**good, "files": {"../up": b""}},
                {**good, "files": {"/etc/passwd": b""}}, {**good, "inputs": {"a/b.npy": b""}},
                {**good, "files": {"check.json": "text, not bytes"}}, {**good, "files": None},
                {**good, "files": {f"f{k}": b"" for k in range(deferred.MAX_PACKED_FILES + 1)}}):
        with pytest.raises(ValueError):
            deferred.unpack([good, bad], tmp_path / "refused" / "folder")
        assert not (tmp_path / "refused").exists()  # nothing written, not even the good one
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "up").exists()
    with pytest.raises(ValueError):
        deferred.unpack({"not": "a list"}, tmp_path / "refused")


def test_only_a_waiting_placeholder_is_replaced(tmp_path):
    """A judging that returns more than was sent (a check judged here, other points) changes nothing."""
    assignment = graders.load(ASSIGNMENT)
    training = next(c for c in assignment.checks if c.threshold is not None)
    other = next(c for c in assignment.checks if c.threshold is None)
    failed_other = CheckResult(ASSIGNMENT, other.id, other.title, other.points, 0.0, Outcome.FAILED, "no")
    result = grading.SubmissionResult("s", [grading.AssignmentResult(
        ASSIGNMENT, assignment.title, "f.py", [failed_other, deferred.placeholder(ASSIGNMENT, training)], 0.0)])

    def passed(check, points):
        return result_to_json(CheckResult(ASSIGNMENT, check.id, check.title, points, points, Outcome.PASSED, ""))

    forged = {ASSIGNMENT: [passed(other, other.points), passed(training, training.points + 5)],
              "cnn": [passed(training, training.points)]}
    assert deferred.merge(result, forged) == 0
    assert result.score == 0 and deferred.is_placeholder(result.assignments[0].checks[1])
    assert deferred.merge(result, json.loads(json.dumps({ASSIGNMENT: [passed(training, training.points)]}))) == 1
    assert result.score == training.points and result.assignments[0].checks[0] == failed_other


def test_a_gpu_worker_with_another_kit_judges_nothing():
    from autograder.classroom import cluster

    returned = cluster.judge_deferred({"kit": "0" * 64, "checks": []}, Settings().plain())
    assert returned["refused"] == "kit" and set(returned) == {"refused", "reason"}


def test_files_over_the_cap_are_not_sent_and_the_check_is_judged_where_graded(tmp_path, grading_context,
                                                                              monkeypatch):
    """What travels through grade-all's memory is capped: past it, a training check is judged as without a GPU."""
    monkeypatch.setattr(deferred, "MAX_DEFERRED_BYTES", 1)
    submission = tmp_path / f"{ASSIGNMENT}.py"
    submission.write_text(BASES[ASSIGNMENT], encoding="utf-8")
    folder = tmp_path / "deferred"
    result = grading.grade_submission(submission, Settings(assignments=(ASSIGNMENT,)), context=grading_context,
                                      deferral=deferred.Deferral(folder))
    assert result.score == result.max_score and not any(map(deferred.is_placeholder, result.assignments[0].checks))
    assert deferred.pack(folder) == [] and list(folder.iterdir()) == []


def _graded_with_placeholder():
    assignment = graders.load(ASSIGNMENT)
    training = next(c for c in assignment.checks if c.threshold is not None)
    others = [CheckResult(ASSIGNMENT, c.id, c.title, c.points, c.points, Outcome.PASSED, "")
              for c in assignment.checks if c is not training]
    result = grading.SubmissionResult("s", [grading.AssignmentResult(
        ASSIGNMENT, assignment.title, "f.py", [*others, deferred.placeholder(ASSIGNMENT, training)], 0.0)])
    return training, result


@pytest.mark.parametrize("judging", ["judged", "timeout", "lost"])
def test_grade_all_puts_the_gpu_workers_verdict_in_the_students_outputs(judging, tmp_path):
    """Judged: full marks and the worker named. Stopped at the time limit: the submission is (as in one process).
    Lost: the placeholder stays, zero, the kit's error."""
    from autograder.classroom import cluster
    from autograder.classroom.grade_all import Student
    from autograder.publish.records import to_record

    training, result = _graded_with_placeholder()
    returned = {"record": json.dumps(to_record(result)), "returncode": 0, "stopped": None, "peak_mb": 10.0,
                "seconds": 30.0, "log": "graded", "worker": "tcp://cpu:1"}
    passed = result_to_json(CheckResult(ASSIGNMENT, training.id, training.title, training.points, training.points,
                                        Outcome.PASSED, ""))
    judged = {"judged": {"judged": {ASSIGNMENT: [passed]}, "stopped": None, "worker": "tcp://gpu:1", "log": "ok"},
              "timeout": {"judged": None, "stopped": "timeout", "worker": "tcp://gpu:1", "log": ""},
              "lost": cluster.tr("The grading task failed on its cluster worker ({error}).", error="lost")}[judging]
    options = Settings(assignments=(ASSIGNMENT,), language="en")
    summary = cluster._finish(Student("s", tmp_path), options, tmp_path / "out", returned, 0.0, judged)
    record = json.loads((tmp_path / "out" / "s" / "record.json").read_text(encoding="utf-8"))
    maximum = graders.load(ASSIGNMENT).max_score
    if judging == "judged":
        assert (summary.status, summary.score) == ("graded", maximum)
        assert record["batch"]["gpu_worker"] == "tcp://gpu:1"
    elif judging == "timeout":
        assert (summary.status, summary.score) == ("timeout", 0)
    else:
        assert (summary.status, summary.score) == ("graded", maximum - training.points)
        checks = {c["check_id"]: c for a in record["assignments"] for c in a["checks"]}
        assert checks[training.id]["grader_fault"] and checks[training.id]["score"] == 0
    assert cluster._time_left({"submission_timeout": 100.0}, returned)["submission_timeout"] == 70.0
    assert cluster._time_left({"submission_timeout": 10.0}, returned)["submission_timeout"] == 1.0
