"""Helpers the notebooks call from inside the student's Jupyter (or Colab) kernel.

* :func:`self_check` runs the public tests of one function on the notebook's own
  definitions and prints one friendly line per test.
* :func:`check_score` is what an nbgrader test cell runs: the cell's result is the points
  the kit gives for that check, which nbgrader awards as partial credit.
* :func:`grade_here` prints the notebook's grade on the visible checks, as the instructor
  will see it, when the instructor's kit is installed; from the student package it runs
  every public self-check instead.

This module ships in both installs. The student package (``python -m autograder
student-package``) holds it with the public self-checks and the demos' data, and never the
graders: :func:`self_check` and :func:`grade_here` work from it alone, and everything that
needs the instructor's kit imports it only inside ``try: ... except ImportError`` (the
modules listed in :data:`INSTRUCTOR_IMPORTS`, which the package build checks).

Grading never happens in the kernel: the code cells executed so far (IPython's ``In``)
are written out as a notebook and graded in a fresh process (:func:`autograder.host.child.grade_in_child`,
as ``grade-all`` grades each student), which extracts the definitions exactly as it does for a
handed-in ``.ipynb``. The settings are those of every other route
(:func:`autograder.course.config.resolve_settings`: the defaults, the course.toml that
``TF2_KIT_CONFIG`` names, which an nbgrader course sets, and the environment), for the notebook's
assignment. The kernel still runs the student's code (that is how notebooks work), so a
student who tampers with this module inside their own kernel can fool nbgrader's
cells; ``python -m autograder grade`` on the collected notebooks is the tamper-proof
grade (see README, "Trust").
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import types
import warnings
from pathlib import Path

from autograder.student import public_tests

# The instructor's modules this one uses when they are installed: imported only inside
# `try: ... except ImportError`, so the student package, which leaves them out, still works.
INSTRUCTOR_IMPORTS = ("autograder.graders", "autograder.course.config", "autograder.host.isolation",
                      "autograder.host.child", "autograder.publish.results_json")
# Each assignment's functions in the order students write them (autograder.graders' student_names,
# which tests/test_student_package.py keeps this equal to): a public test belongs to the last one it uses.
STUDENT_NAMES: dict[str, tuple[str, ...]] = {
    "fashion_mnist": ("normalize", "build_dense_classifier", "AccuracyCallback"),
    "cnn": ("normalize", "make_batches", "build_cnn"),
    "gap": ("pre_process_image", "build_head", "build_standard_classifier", "add_gap"),
    "pretrained": ("load_image_batch", "preprocess", "top_predictions", "build_feature_extractor",
                   "extract_features"),
    "transfer": ("load_vgg_base", "freeze_vgg", "build_transfer_model", "unfreeze_from", "compile_for_fine_tuning"),
}
KIT_CELL_MARK = "from autograder.kernel import"
HIDDEN_BY_INSTRUCTOR = ("লুকানো পরীক্ষা {count}টা: সেগুলো তোমার শিক্ষক গ্রেড করবেন, তাই এখানে দেখানো হলো না; "
                        "নিচের মোটে সেগুলোর নম্বরও আছে। / {count} hidden check(s) are graded by your instructor and "
                        "not shown here; the total below includes their points.")
GRADED_BY_INSTRUCTOR = ("তুমি এখানে শুধু পাবলিক স্ব-পরীক্ষার ফল দেখছ; গ্রেডের পরীক্ষাগুলো, দৃশ্যমান আর লুকানো "
                        "দুটোই, তোমার শিক্ষক চালাবেন। / These are the public self-checks only; the graded checks, "
                        "visible and hidden, are run by your instructor.")
_NO_INSTRUCTOR_KIT = ("grading needs the instructor's kit (autograder.graders), which the student package leaves "
                      "out: install tf2-exercise-kit itself to grade here")
_MARKS = {"passed": "✓", "failed": "✗", "not_attempted": "·", "error": "!", "timeout": "⏱"}
_graded: dict[tuple[str, str], dict] = {}  # (assignment, code digest) -> results; one kernel's cache


def _autograding() -> bool:
    return bool(os.environ.get("NBGRADER_EXECUTION"))


def _instructor_kit() -> bool:
    """Whether the instructor's kit (graders, runner, sandbox) is installed, not only the student package."""
    return importlib.util.find_spec("autograder.graders") is not None


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
    tests = _public_tests(assignment_id).get(name, [])
    if not tests:  # pytest with no test ids would collect whatever lies in the current folder
        print(f"`{name}` has no public self-check; the final grade still checks it.")
        return True
    results = _run_public_tests(assignment_id, tests, namespace)
    passed = all(outcome != "failed" for _, outcome, _ in results)
    if not results:
        print("কোনো পরীক্ষা চলেনি / no test ran")
    elif passed:
        print(f"`{name}`: সব ঠিক আছে / all self-checks passed. The final grade checks more.")
    return passed


def _student_names(assignment_id: str) -> tuple[str, ...]:
    if assignment_id not in STUDENT_NAMES:
        raise ValueError(f"unknown assignment; expected one of {tuple(STUDENT_NAMES)}. Received: {assignment_id!r}")
    return STUDENT_NAMES[assignment_id]


def _public_tests(assignment_id: str) -> dict[str, list[str]]:
    """``{student function: [public test names]}`` of the assignment's self-check file."""
    text = public_tests.path(assignment_id).read_text(encoding="utf-8")
    return public_tests.tests_by_function(text, _student_names(assignment_id))


def _run_public_tests(assignment_id: str, tests: list[str], namespace: dict) -> list[tuple[str, str, str]]:
    """Run ``tests`` of the public file on the functions in ``namespace``; print one line per test."""
    import pytest

    test_file = public_tests.path(assignment_id)
    student_names = _student_names(assignment_id)
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
                         "-p", "no:autograder",  # the full kit's hidden-checks plugin: not for self-checks
                         "-c", os.devnull,  # not the settings of whatever project the notebook sits in
                         f"--rootdir={test_file.parent}"], plugins=[collector])
        finally:
            sys.stdout = stdout
    for test, outcome, message in collector.results:
        label = test.removeprefix("test_").replace("_", " ")
        if outcome == "passed":
            print(f"✓ {label}")
        elif outcome == "skipped":
            print(f"– {label}: skipped ({message})")
        else:
            print(f"✗ {label}: {message}")
    return collector.results


def _not_defined_yet(name: str):
    def stand_in(*args, **kwargs):
        raise NotImplementedError(f"{name} is not defined yet: run its cell first")
    stand_in.__name__ = name
    return stand_in


def _public_checks_here(assignment_id: str, namespace: dict | None) -> None:
    """The student package's grade_here: every public self-check of the assignment, then who grades."""
    if _autograding():
        print(f"(public self-checks of {assignment_id} skipped while nbgrader grades)")
        return
    if namespace is None:
        namespace = _notebook_shell("outside one, run `pytest` on the exercise's test file").user_ns
    by_function = _public_tests(assignment_id)
    tests = [test for name in _student_names(assignment_id) for test in by_function.get(name, [])]
    results = _run_public_tests(assignment_id, tests, namespace) if tests else []
    passed = sum(outcome == "passed" for _, outcome, _ in results)
    print(f"পাবলিক স্ব-পরীক্ষা / Public self-checks: {passed}/{len(results)} passed")
    print(GRADED_BY_INSTRUCTOR)


# ----------------------------------------------------------------------- grading
def _notebook_shell(outside: str):
    try:
        from IPython import get_ipython
    except ImportError:
        get_ipython = None
    shell = get_ipython() if get_ipython else None
    if shell is None:
        raise RuntimeError(f"this helper runs inside a Jupyter notebook; {outside}.")
    return shell


def _executed_cells() -> list[str]:
    shell = _notebook_shell("outside one, grade the file with `python -m autograder grade <file>`")
    # The kit's own cells (self-checks, grading) are left out: they define nothing to grade,
    # and leaving them out keeps one grading run for all of a notebook's test cells.
    return [cell for cell in shell.user_ns.get("In", [])[1:]
            if cell.strip() and KIT_CELL_MARK not in cell]


def _kernel_settings(assignment_id: str):
    """The settings this notebook is graded with: resolved as everywhere, for its assignment. Isolation: the
    settings' where it can be made; else, for a student checking their own work in their own kernel (Colab,
    where user namespaces are blocked), a plain process: it only runs code the kernel already runs. Under
    nbgrader the grade counts, so there it stays as set and fails closed."""
    try:
        from autograder.course.config import resolve_settings
        from autograder.host.isolation import Isolation, IsolationUnavailable
    except ImportError as error:  # the student package: grading needs the instructor's kit
        raise RuntimeError(_NO_INSTRUCTOR_KIT) from error

    settings = resolve_settings(command_line={"assignments": ("the notebook's assignment", [assignment_id])})
    if _autograding() or settings.isolation == "none":
        return settings
    try:
        Isolation(settings.isolation).verify()
    except IsolationUnavailable:
        return settings.overridden("the notebook kernel: no sandbox here", isolation="none")
    return settings


def _grade_cells(assignment_id: str, cells: list[str]):
    """Grade the cells as a notebook in a grading child; its end (with the record) and the settings."""
    import nbformat

    try:
        from autograder.host.child import DEFAULT_THREADS, GradingRun, grade_in_child
    except ImportError as error:
        raise RuntimeError(_NO_INSTRUCTOR_KIT) from error
    settings = _kernel_settings(assignment_id)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    with tempfile.TemporaryDirectory(prefix="ag-kernel-") as tmp:
        submission = Path(tmp) / f"{assignment_id}.ipynb"
        submission.write_text(nbformat.writes(notebook), encoding="utf-8")
        end = grade_in_child(submission, settings, GradingRun(threads=DEFAULT_THREADS), workdir=Path(tmp))
    if end.stopped is not None:  # "timeout" or "memory": past the limits every route applies
        raise RuntimeError(f"grading was stopped ({end.stopped}): the course allows {settings.submission_timeout:g} s "
                           f"per submission and {settings.memory_mb} MiB per sandbox worker")
    if end.record is None:
        raise RuntimeError(f"grading did not finish (exit code {end.returncode}):\n{end.log_tail}")
    return end, settings


def _as_tests(end, settings) -> dict:
    """What the student may see of the result, check by check (hidden failures concealed), in the course's
    language: the same view as the kit's results.json, built from the record, not read from a file."""
    try:
        from autograder.publish.results_json import to_gradescope
    except ImportError as error:
        raise RuntimeError(_NO_INSTRUCTOR_KIT) from error
    return to_gradescope(end.result, settings.language, reveal_hidden=settings.reveal_hidden)


def _results(assignment_id: str) -> dict:
    if not _instructor_kit():
        raise RuntimeError(_NO_INSTRUCTOR_KIT)
    cells = _executed_cells()
    key = (assignment_id, hashlib.sha256("\0".join(cells).encode()).hexdigest())
    if key not in _graded:
        _graded[key] = _as_tests(*_grade_cells(assignment_id, cells))
    return _graded[key]


def _print_test(test: dict) -> None:
    outcome = test["extra_data"]["outcome"]
    line = f"{_MARKS.get(outcome, '?')} {test['score']:g}/{test['max_score']:g}  {test['name']}"
    print(line if outcome == "passed" else f"{line}\n      {outcome}: {test['output']}")


def check_score(assignment_id: str, check_id: str) -> float:
    """The points this notebook's code earns on one check; prints the check's feedback line.

    An nbgrader test cell ends with this call, so the cell's result is the score and nbgrader
    awards exactly it (its partial-credit rule). Returning rather than raising keeps tracebacks,
    and with them the hidden cell's code, out of the students' feedback. Anything that goes
    wrong while grading raises, which nbgrader scores as zero. It grades with the instructor's
    kit: nbgrader's test cells run on the instructor's machine, never from the student package.
    """
    with warnings.catch_warnings():  # nbgrader gives zero to a cell that writes to stderr
        warnings.simplefilter("ignore")
        tests = [t for t in _results(assignment_id)["tests"] if t["tags"] == [assignment_id, check_id]]
    if len(tests) != 1:
        raise RuntimeError(f"the kit has no check {check_id!r} in {assignment_id!r}; is the kit up to date?")
    _print_test(tests[0])
    return float(tests[0]["score"])


def grade_here(assignment_id: str, namespace: dict | None = None) -> float | None:
    """Print what this notebook can learn of its grade here.

    With the instructor's kit installed: grade the executed cells as the instructor will, print one line
    per visible check, one line saying how many hidden checks the instructor grades, and the total; return
    the score. With only the student package: run every public self-check of the assignment on the
    notebook's functions (``namespace``, default the notebook's globals), say that the graded checks,
    visible and hidden, are run by the instructor, and return ``None``.
    """
    if not _instructor_kit():
        _public_checks_here(assignment_id, namespace)
        return None
    results = _results(assignment_id)
    hidden = 0
    for test in results["tests"]:
        if test["extra_data"].get("hidden"):
            hidden += 1
        else:
            _print_test(test)
    if hidden:
        print(HIDDEN_BY_INSTRUCTOR.format(count=hidden))
    print(f"মোট / Total: {results['score']:g}/{results['max_score']:g}")
    return results["score"]
