"""Helpers the notebooks call from inside the student's Jupyter (or Colab) kernel.

* :func:`self_check` runs the public tests of one function on the notebook's own
  definitions and prints one friendly line per test.
* :func:`check_score` is what an nbgrader test cell runs: the cell's result is the points
  the kit gives for that check, which nbgrader awards as partial credit.
* :func:`grade_here` prints the whole grade of the notebook, as the instructor will see it.

Grading never happens in the kernel: the code cells executed so far (IPython's ``In``)
are written out as a notebook and graded by ``python -m autograder grade`` in a fresh
process, which extracts the definitions exactly as it does for a handed-in
``.ipynb``. The kernel still runs the student's code (that is how notebooks work), so a
student who tampers with this module inside their own kernel can fool nbgrader's
cells; ``python -m autograder grade`` on the collected notebooks is the tamper-proof
grade (see README, "Trust").
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import types
import warnings
from pathlib import Path

from autograder import public_tests

GRADING_TIMEOUT_SECONDS = 840  # below nbgrader_course.CELL_TIMEOUT_SECONDS, so the cell reports why
KIT_CELL_MARK = "from autograder.kernel import"
_MARKS = {"passed": "✓", "failed": "✗", "not_attempted": "·", "error": "!", "timeout": "⏱"}
_graded: dict[tuple[str, str], dict] = {}  # (assignment, code digest) -> results.json; one kernel's cache


def _autograding() -> bool:
    return bool(os.environ.get("NBGRADER_EXECUTION"))


# ----------------------------------------------------------------------- self-checks
class _Collector:
    """A pytest plugin that keeps each test's outcome and its shortest useful message."""

    def __init__(self):
        self.results: list[tuple[str, str, str]] = []

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or report.outcome != "passed":
            message = ""
            crash = getattr(report.longrepr, "reprcrash", None)
            if crash is not None:
                message = crash.message
            elif isinstance(report.longrepr, tuple):  # skips: (file, line, reason)
                message = str(report.longrepr[2])
            elif report.longrepr is not None:
                message = str(report.longrepr).strip().splitlines()[-1]
            message = message.splitlines()[0] if message else ""  # not pytest's assertion rewriting
            for prefix in ("Failed: ", "AssertionError: "):
                message = message.removeprefix(prefix)
            self.results.append((report.nodeid.split("::")[-1], report.outcome, message))


def self_check(assignment_id: str, name: str, namespace: dict) -> bool:
    """Run the public tests of ``name`` against the functions in ``namespace`` (the notebook's globals())."""
    if _autograding():
        print(f"(self-check of {name} skipped while nbgrader grades)")
        return True
    import pytest

    test_file = public_tests.path(assignment_id)
    student_names = _student_names(assignment_id)
    tests = public_tests.tests_by_function(test_file.read_text(encoding="utf-8"), student_names).get(name, [])
    if not tests:  # pytest with no test ids would collect whatever lies in the current folder
        print(f"`{name}` has no public self-check; the final grade still checks it.")
        return True
    module = types.ModuleType(assignment_id)
    # Functions further down the notebook may not exist yet; the test file imports them all.
    module.__dict__.update({n: _not_defined_yet(n) for n in student_names})
    module.__dict__.update({k: v for k, v in namespace.items() if not k.startswith("_")})
    sys.modules[assignment_id] = module  # the test file does `from <assignment> import ...`
    for key in [k for k, m in sys.modules.items() if getattr(m, "__file__", None) == str(test_file)]:
        del sys.modules[key]  # re-import the tests, so they see the functions as they are now
    collector = _Collector()
    with open(os.devnull, "w", encoding="utf-8") as quiet:
        stdout, sys.stdout = sys.stdout, quiet
        try:
            pytest.main([f"{test_file}::{test}" for test in tests] +
                        ["-q", "-p", "no:cacheprovider", "--import-mode=importlib", "--no-header",
                         "-c", os.devnull,  # not the settings of whatever project the notebook sits in
                         f"--rootdir={test_file.parent}"], plugins=[collector])
        finally:
            sys.stdout = stdout
    passed = True
    for test, outcome, message in collector.results:
        label = test.removeprefix("test_").replace("_", " ")
        if outcome == "passed":
            print(f"✓ {label}")
        elif outcome == "skipped":
            print(f"– {label}: skipped ({message})")
        else:
            passed = False
            print(f"✗ {label}: {message}")
    if not collector.results:
        print("কোনো পরীক্ষা চলেনি / no test ran")
    elif passed:
        print(f"`{name}`: সব ঠিক আছে / all self-checks passed. The final grade checks more.")
    return passed


def _not_defined_yet(name: str):
    def stand_in(*args, **kwargs):
        raise NotImplementedError(f"{name} is not defined yet: run its cell first")
    stand_in.__name__ = name
    return stand_in


def _student_names(assignment_id: str) -> tuple[str, ...]:
    from autograder import graders

    return graders.load(assignment_id).student_names


# ----------------------------------------------------------------------- grading
def _executed_cells() -> list[str]:
    try:
        from IPython import get_ipython
    except ImportError:
        get_ipython = None
    shell = get_ipython() if get_ipython else None
    if shell is None:
        raise RuntimeError("this helper runs inside a Jupyter notebook. Outside one, grade the file with "
                           "`python -m autograder grade <file>`.")
    # The kit's own cells (self-checks, grading) are left out: they define nothing to grade,
    # and leaving them out keeps one grading run for all of a notebook's test cells.
    return [cell for cell in shell.user_ns.get("In", [])[1:]
            if cell.strip() and KIT_CELL_MARK not in cell]


def _grade_cells(assignment_id: str, cells: list[str]) -> dict:
    import nbformat

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    with tempfile.TemporaryDirectory(prefix="ag-kernel-") as tmp:
        submission = Path(tmp) / f"{assignment_id}.ipynb"
        submission.write_text(nbformat.writes(notebook), encoding="utf-8")
        results = Path(tmp) / "results.json"
        process = subprocess.run(
            [sys.executable, "-m", "autograder", "grade", str(submission), "--json", str(results)],
            capture_output=True, text=True, timeout=GRADING_TIMEOUT_SECONDS, check=False)
        if not results.is_file():
            raise RuntimeError(f"grading did not finish (exit code {process.returncode}):\n{process.stderr[-2000:]}")
        return json.loads(results.read_text(encoding="utf-8"))


def _results(assignment_id: str) -> dict:
    cells = _executed_cells()
    key = (assignment_id, hashlib.sha256("\0".join(cells).encode()).hexdigest())
    if key not in _graded:
        _graded[key] = _grade_cells(assignment_id, cells)
    return _graded[key]


def check_score(assignment_id: str, check_id: str) -> float:
    """The points this notebook's code earns on one check; prints the check's feedback line.

    An nbgrader test cell ends with this call, so the cell's result is the score and nbgrader
    awards exactly it (its partial-credit rule). Returning rather than raising keeps tracebacks,
    and with them the hidden cell's code, out of the students' feedback. Anything that goes
    wrong while grading raises, which nbgrader scores as zero.
    """
    with warnings.catch_warnings():  # nbgrader gives zero to a cell that writes to stderr
        warnings.simplefilter("ignore")
        tests = [t for t in _results(assignment_id)["tests"] if t["tags"] == [assignment_id, check_id]]
    if len(tests) != 1:
        raise RuntimeError(f"the kit has no check {check_id!r} in {assignment_id!r}; is the kit up to date?")
    test = tests[0]
    outcome = test["extra_data"]["outcome"]
    line = f"{_MARKS.get(outcome, '?')} {test['score']:g}/{test['max_score']:g}  {test['name']}"
    print(line if outcome == "passed" else f"{line}\n      {outcome}: {test['output']}")
    return float(test["score"])


def grade_here(assignment_id: str) -> float:
    """Print this notebook's grade, one line per check, and return the score."""
    results = _results(assignment_id)
    for test in results["tests"]:
        outcome = test["extra_data"]["outcome"]
        line = f"{_MARKS.get(outcome, '?')} {test['score']:g}/{test['max_score']:g}  {test['name']}"
        print(line if outcome == "passed" else f"{line}\n      {outcome}: {test['output']}")
    print(f"মোট / Total: {results['score']:g}/{results['max_score']:g}")
    return results["score"]
