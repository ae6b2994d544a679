"""The hidden checks under pytest (``pytest --pyargs autograder.graders --submission PATH``) grade as ``grade`` does.

Each run is a real pytest in a subprocess, from the project root, as an instructor types it. A full grading of
solutions/ takes minutes here, so it happens once (module fixture), shared by the tests that read it.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

import pytest

from autograder import graders
from conftest import ROOT, SHARES_GRADED_SOLUTIONS, run_cli
from corpus import MISTAKES

SCORE = re.compile(r"^autograder score: (\S+) ([0-9.]+)/([0-9.]+)$", re.MULTILINE)
MISTAKE = next(variant for variant in MISTAKES if variant.name == "64 hidden units")  # loses 2 fashion_mnist checks


def run_pytest(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m pytest ARGS`` in a fresh process, without this run's own pytest settings."""
    clean = {name: value for name, value in os.environ.items() if not name.startswith("PYTEST_")}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=1800,
                          env={**clean, "TF_CPP_MIN_LOG_LEVEL": "3", "COLUMNS": "200", **(env or {})})


@dataclass(frozen=True)
class Case:
    """One ``<testcase>`` of a JUnit XML report."""

    assignment: str
    check: str
    status: str  # passed, failed, error, skipped
    text: str  # the failure, error or skip message
    properties: dict[str, str]


def junit_cases(path: Path) -> list[Case]:
    cases = []
    for testcase in ElementTree.parse(path).getroot().iter("testcase"):
        status, text = "passed", ""
        for kind in ("failure", "error", "skipped"):
            element = testcase.find(kind)
            if element is not None:
                status = {"failure": "failed", "error": "error", "skipped": "skipped"}[kind]
                text = (element.get("message") or "") + "\n" + (element.text or "")
        properties = {p.get("name"): p.get("value") for p in testcase.iter("property")}
        assignment = testcase.get("classname").rsplit(".", 1)[-1]
        cases.append(Case(assignment, testcase.get("name"), status, text, properties))
    return cases


def scores(output: str) -> dict[str, tuple[float, float]]:
    """The ``autograder score:`` lines: {assignment or "total": (score, max_score)}."""
    return {name: (float(score), float(max_score)) for name, score, max_score in SCORE.findall(output)}


def declared_checks() -> dict[tuple[str, str], object]:
    return {(assignment_id, check.id): check for assignment_id in graders.ASSIGNMENT_IDS
            for check in graders.load(assignment_id).checks}


def kit_results(path: Path) -> tuple[dict, dict[tuple[str, str], dict]]:
    """``grade --json``: the whole file, and its tests by (assignment, check id)."""
    results = json.loads(path.read_text(encoding="utf-8"))
    return results, {tuple(test["tags"][:2]): test for test in results["tests"]}


def kit_scores_by_assignment(tests: dict[tuple[str, str], dict]) -> dict[str, tuple[float, float]]:
    totals: dict[str, tuple[float, float]] = {}
    for (assignment_id, _), test in tests.items():
        score, max_score = totals.get(assignment_id, (0.0, 0.0))
        totals[assignment_id] = (score + test["score"], max_score + test["max_score"])
    return totals


def failure_report(completed: subprocess.CompletedProcess) -> str:
    return completed.stdout[-6000:] + completed.stderr[-3000:]


# ------------------------------------------------------------------------------ the reference solutions
@pytest.fixture(scope="module")
def solutions(tmp_path_factory, graded_solutions):
    """One pytest grading of solutions/ (JUnit XML and score) and the `grade --json` of it, to compare."""
    out = tmp_path_factory.mktemp("solutions")
    completed = run_pytest("--pyargs", "autograder.graders", "--submission", "solutions", "--strict-markers",
                           "--junitxml", str(out / "out.xml"))
    graded, results = graded_solutions
    assert graded.returncode == 0, graded.stderr[-3000:]
    return completed, junit_cases(out / "out.xml"), kit_results(results)


@pytest.mark.slow
@SHARES_GRADED_SOLUTIONS
def test_solutions_pass_with_one_testcase_per_check_carrying_its_points(solutions):
    completed, cases, _ = solutions
    assert completed.returncode == 0, failure_report(completed)
    declared = declared_checks()
    assert len(declared) >= 100
    assert len(cases) == len(declared)
    assert {(case.assignment, case.check) for case in cases} == set(declared)
    assert [case for case in cases if case.status != "passed"] == []
    for case in cases:
        check = declared[case.assignment, case.check]
        assert float(case.properties["points"]) == check.points, case
        assert case.properties["hidden"] == str(check.hidden), case
        assert float(case.properties["score"]) == check.points, case


@pytest.mark.slow
@SHARES_GRADED_SOLUTIONS
def test_solutions_score_is_the_kits(solutions):
    completed, cases, (results, tests) = solutions
    reported = scores(completed.stdout)
    assert reported.pop("total") == (results["score"], results["max_score"])
    assert results["max_score"] == sum(check.points for check in declared_checks().values())
    assert reported == kit_scores_by_assignment(tests)
    assert {(c.assignment, c.check): c.status == "passed" for c in cases} == \
        {key: test["extra_data"]["outcome"] == "passed" for key, test in tests.items()}


# ------------------------------------------------------------------------------ a realistic mistake
@pytest.mark.slow
def test_a_mistake_fails_exactly_the_checks_the_kit_fails(tmp_path):
    submission = tmp_path / f"{MISTAKE.assignment}.py"
    submission.write_text(MISTAKE.source(), encoding="utf-8")
    completed = run_pytest("--pyargs", "autograder.graders", "--submission", str(submission),
                           "--junitxml", str(tmp_path / "out.xml"))
    graded = run_cli("grade", str(submission), "--json", str(tmp_path / "results.json"), "--reveal-hidden",
                     timeout=1800)
    assert graded.returncode == 0, graded.stderr[-3000:]
    results, tests = kit_results(tmp_path / "results.json")
    cases = junit_cases(tmp_path / "out.xml")

    assert completed.returncode == 1, failure_report(completed)
    assert scores(completed.stdout) == {MISTAKE.assignment: (results["score"], results["max_score"]),
                                        "total": (results["score"], results["max_score"])}
    kit_failed = {check for (_, check), test in tests.items() if test["extra_data"]["outcome"] != "passed"}
    assert MISTAKE.breaks <= kit_failed
    graded_cases = [case for case in cases if case.assignment == MISTAKE.assignment]
    assert {case.check for case in graded_cases if case.status == "failed"} == kit_failed
    assert {case.status for case in graded_cases if case.check not in kit_failed} == {"passed"}
    for case in graded_cases:
        if case.check in kit_failed:  # the failure text is the kit's message for the check
            assert tests[MISTAKE.assignment, case.check]["output"] in case.text, case
    others = [case for case in cases if case.assignment != MISTAKE.assignment]
    assert others and all(case.status == "skipped" and "single file" in case.text for case in others)


# ------------------------------------------------------------------------------ the stubs, -k, no --submission
@pytest.mark.slow
def test_no_check_of_the_exercise_stubs_passes(tmp_path):
    completed = run_pytest("--pyargs", "autograder.graders", "--submission", "exercises",
                           "--junitxml", str(tmp_path / "out.xml"))
    cases = junit_cases(tmp_path / "out.xml")
    assert completed.returncode == 1, failure_report(completed)
    assert len(cases) == len(declared_checks())
    assert [case for case in cases if case.status != "failed"] == []
    total = sum(check.points for check in declared_checks().values())
    assert scores(completed.stdout)["total"] == (0.0, total)


@pytest.mark.slow
def test_k_selects_and_grades_only_the_matching_assignment(tmp_path):
    completed = run_pytest("--pyargs", "autograder.graders", "--submission", "solutions", "-k", "dense",
                           "--junitxml", str(tmp_path / "out.xml"))
    assert completed.returncode == 0, failure_report(completed)
    dense = {check.id for check in graders.load("fashion_mnist").checks if "dense" in check.id}
    cases = junit_cases(tmp_path / "out.xml")
    assert dense and {(case.assignment, case.check) for case in cases} == {("fashion_mnist", c) for c in dense}
    fashion_points = graders.load("fashion_mnist").max_score
    assert scores(completed.stdout) == {"fashion_mnist": (fashion_points, fashion_points),
                                        "total": (fashion_points, fashion_points)}


def test_without_a_submission_every_check_is_skipped_with_the_reason(tmp_path):
    completed = run_pytest("--pyargs", "autograder.graders", "--strict-markers", "--junitxml",
                           str(tmp_path / "out.xml"))
    cases = junit_cases(tmp_path / "out.xml")
    assert completed.returncode == 0, failure_report(completed)
    assert len(cases) == len(declared_checks())
    assert all(case.status == "skipped" and "--submission PATH" in case.text for case in cases)
    assert "autograder score" not in completed.stdout


def test_markers_select_the_hidden_checks():
    completed = run_pytest("--pyargs", "autograder.graders", "--strict-markers", "--collect-only", "-q",
                           "-m", "hidden")
    assert completed.returncode == 0, failure_report(completed)
    selected = set(re.findall(r"test_hidden_checks\.py::(\w+)::(\w+)", completed.stdout))
    hidden = {key for key, check in declared_checks().items() if check.hidden}
    assert hidden and selected == hidden


def test_the_plugin_is_inert_without_a_submission(tmp_path):
    """Loaded in every pytest run of this environment, it must neither collect nor import the kit's grading."""
    (tmp_path / "test_probe.py").write_text(textwrap.dedent("""
        import sys

        def test_loaded_but_idle(request):
            assert request.config.pluginmanager.hasplugin("autograder")
            heavy = [name for name in sys.modules if name.startswith(("autograder.host", "autograder.course",
                                                                       "tensorflow", "keras", "numpy"))]
            assert heavy == []
            assert [item.name for item in request.session.items] == ["test_loaded_but_idle"]
    """), encoding="utf-8")
    completed = run_pytest("--rootdir", str(tmp_path), "test_probe.py", cwd=tmp_path)
    assert completed.returncode == 0, failure_report(completed)
    assert "1 passed" in completed.stdout and "autograder score" not in completed.stdout


# ------------------------------------------------------------------------------ outcomes, with a stand-in grading
FAKE_GRADING = '''
"""Stands in for the sandboxed grading: fashion_mnist's first six checks get one outcome each."""
from pathlib import Path

from autograder import graders
from autograder.core.outcomes import CheckResult, Outcome
from autograder.graders import pytest_plugin
from autograder.host.grading import AssignmentResult

OUTCOMES = [("passed", ""), ("failed", "FAKE wrong value"), ("not_attempted", "FAKE not written"),
            ("timeout", "FAKE too slow"), ("error", "FAKE student raised"), ("fault", "FAKE kit bug")]


def fake_grade(options, assignment_ids, context):
    with open(Path(__file__).with_name("graded.log"), "a") as log:
        log.write(" ".join(assignment_ids) + "\\n")
    graded = {}
    for assignment_id in assignment_ids:
        checks = []
        for position, check in enumerate(graders.load(assignment_id).checks):
            outcome, message = OUTCOMES[position] if position < len(OUTCOMES) else ("passed", "")
            fault = outcome == "fault"
            checks.append(CheckResult(assignment_id, check.id, check.title, check.points,
                                      check.points if outcome == "passed" else 0.0,
                                      Outcome("error" if fault else outcome), message, check.hidden, fault))
        graded[assignment_id] = AssignmentResult(assignment_id, assignment_id, "x.py", checks, 0.0)
    return graded


def pytest_configure(config):
    pytest_plugin.grade_in_sandbox = fake_grade
    pytest_plugin._grading_context = lambda options: None
'''


def test_outcomes_map_to_pass_fail_and_error(tmp_path):
    (tmp_path / "fake_grading.py").write_text(FAKE_GRADING, encoding="utf-8")
    completed = run_pytest("--pyargs", "autograder.graders", "--submission", "solutions", "--isolation", "none",
                           "-p", "fake_grading", "-k", "fashion_mnist", "--junitxml", str(tmp_path / "out.xml"),
                           env={"PYTHONPATH": str(tmp_path)})
    cases = junit_cases(tmp_path / "out.xml")
    checks = graders.load("fashion_mnist").checks
    assert completed.returncode == 1, failure_report(completed)
    assert (tmp_path / "graded.log").read_text().splitlines() == ["fashion_mnist"]  # once, only what was selected
    assert [case.check for case in cases] == [check.id for check in checks]
    first = cases[:6]
    assert [case.status for case in first] == ["passed", "failed", "failed", "failed", "failed", "error"]
    for case, expected in zip(first[1:], ["FAKE wrong value", "not attempted: FAKE not written",
                                          "timeout: FAKE too slow", "error: FAKE student raised",
                                          "grader fault (a bug in the kit, not the student's): FAKE kit bug"]):
        assert expected in case.text, case
    assert {case.status for case in cases[6:]} == {"passed"}
    lost = sum(check.points for check in checks[1:6])
    total = sum(check.points for check in checks)
    assert scores(completed.stdout) == {"fashion_mnist": (total - lost, total), "total": (total - lost, total)}


def test_the_selected_assignments_are_graded_together_once(tmp_path):
    """As `grade` does: one sandboxed grading (one worker) for every assignment with a selected item."""
    (tmp_path / "fake_grading.py").write_text(FAKE_GRADING, encoding="utf-8")
    completed = run_pytest("--pyargs", "autograder.graders", "--submission", "solutions", "--isolation", "none",
                           "-p", "fake_grading", "-k", "cnn or transfer", env={"PYTHONPATH": str(tmp_path)})
    assert completed.returncode == 1, failure_report(completed)  # the fake fails some checks
    assert (tmp_path / "graded.log").read_text().splitlines() == ["cnn transfer"]
    assert set(scores(completed.stdout)) == {"cnn", "transfer", "total"}
