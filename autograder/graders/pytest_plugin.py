"""The hidden checks as pytest items: ``pytest --pyargs autograder.graders --submission PATH``.

Registered through the ``pytest11`` entry point (named ``autograder``; ``-p no:autograder`` turns it off).
Every check of every assignment becomes one item, ``test_hidden_checks.py::<assignment>::<check id>``,
marked with ``assignment``, ``points`` and (for hidden checks) ``hidden``, and carrying them as
properties for ``--junitxml``. The submission is graded the way ``python -m autograder grade PATH``
grades it (same sandbox, same isolation check, same points), once per session, and only the assignments
with a selected item (``-k dense`` grades fashion_mnist alone), all in one sandbox worker as ``grade`` does.

A check that passes is a passing item; ``failed``, ``error``, ``timeout`` and ``not_attempted`` are
failures (a check the student has not attempted scores 0, so it must read red, not as a skip, and the
run must exit non-zero). A grader fault (a bug in the kit, never the student's) is a pytest *error*.

Without ``--submission`` the plugin only registers its options and markers: it collects nothing
outside ``test_hidden_checks.py`` and imports none of the kit's grading; the hidden checks themselves are
collected and skipped, with a reason that says to pass ``--submission PATH``.
"""
from __future__ import annotations

import os
import sys
import traceback
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

COLLECTOR_FILE = Path(__file__).with_name("test_hidden_checks.py")
NO_SUBMISSION = "the hidden checks grade a submission: pass --submission PATH (a folder, or one <assignment>.py/.ipynb)"
MARKERS = (
    "assignment(id): the assignment a hidden check of autograder.graders belongs to",
    "points(value): the points a hidden check of autograder.graders is worth",
    "hidden: a hidden check of autograder.graders (students see only its score until revealed)",
)
SCORE_LINE = "autograder score:"
FAILURE_PREFIX = {"failed": "", "error": "error: ", "timeout": "timeout: ", "not_attempted": "not attempted: "}
OPTIONS_KEY = pytest.StashKey["GradingOptions"]()
GRADING_KEY = pytest.StashKey["SessionGrading"]()


@dataclass(frozen=True)
class GradingOptions:
    """What this session grades, and how: the submission and the settings ``grade`` would resolve."""

    submission: Path
    settings: Any  # autograder.core.settings.Settings
    graded: tuple[str, ...]  # the assignments grading the submission covers (a single file: one)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autograder", "hidden checks of tf2-exercise-kit (pytest --pyargs autograder.graders)")
    group.addoption("--submission", default=None, metavar="PATH",
                    help="grade this submission with the hidden checks: a folder, or one <assignment>.py/.ipynb "
                         "(what `python -m autograder grade PATH` accepts)")
    group.addoption("--isolation", default=None, metavar="LEVEL",
                    help="how student code is walled off, as for `grade`: bwrap (default), uid, or none "
                         "(debugging only)")
    group.addoption("--grading-config", default=None, metavar="TOML",
                    help="course configuration whose settings (points, thresholds, limits) apply, as `grade "
                         "--config`")
    group.addoption("--grading-seed", default=None, metavar="N",
                    help="seed for data, weights and training, as `grade --seed` (default: the settings')")


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    if config.getoption("submission") is None:
        return
    from autograder.core.quiet import set_tensorflow_environment

    set_tensorflow_environment()  # before anything loads TensorFlow, as `grade` does
    try:
        config.stash[OPTIONS_KEY] = _options(config)
    except (FileNotFoundError, ValueError) as exc:  # what `grade` reports as a usage error
        raise pytest.UsageError(f"autograder: {exc}") from None


def _options(config: pytest.Config) -> GradingOptions:
    """The submission and its settings, checked now: a typo stops the run before anything is collected."""
    from autograder.host.grading import assignments_for

    submission = Path(config.getoption("submission"))
    if not submission.exists():
        raise FileNotFoundError(f"submission not found. Received: {str(submission)!r}")
    settings = resolve_grading_settings(config)
    return GradingOptions(submission, settings, tuple(assignments_for(submission, settings.assignments)))


# The kit's grading API is called from the next three functions only (adapt them when its signatures change).
def resolve_grading_settings(config: pytest.Config):
    """The settings, resolved by the kit's one chain (defaults, course.toml, TF2_KIT_* environment, options)."""
    from autograder.course.config import resolve_settings

    return resolve_settings(config=config.getoption("grading_config"),
                            command_line={"isolation": ("--isolation", config.getoption("isolation")),
                                          "seed": ("--grading-seed", config.getoption("grading_seed"))})


def grade_in_sandbox(options: GradingOptions, assignment_ids: tuple[str, ...], context) -> dict[str, Any]:
    """Assignments of the submission graded in the sandbox, as ``python -m autograder grade`` grades them (one
    worker for all): ``{assignment id: AssignmentResult}``."""
    from autograder.host.child import DEFAULT_THREADS
    from autograder.host.grading import TensorflowStart, grade_submission

    # As `grade` does: TensorFlow (quietly, `grade --threads`' default) starts here while the worker boots.
    result = grade_submission(options.submission, options.settings, assignment=assignment_ids, context=context,
                              tensorflow=TensorflowStart(DEFAULT_THREADS))
    return {graded.assignment: graded for graded in result.assignments}


def _grading_context(options: GradingOptions):
    """One context for the whole session, as one `grade` run shares it between assignments (data cache)."""
    from autograder.host.grading import grading_context

    return grading_context(options.settings)


@contextmanager
def _working_directory_off_path() -> Iterator[None]:
    """As `grade` does: no module in the working directory may be imported by the grading (Keras imports
    modules a model's config names); restored afterwards for the rest of the pytest session."""
    saved = list(sys.path)
    here = os.path.realpath(os.getcwd())
    sys.path[:] = [entry for entry in sys.path if entry and os.path.realpath(entry) != here]
    try:
        yield
    finally:
        sys.path[:] = saved


class SessionGrading:
    """The submission's grading in this session: when the first item runs, every assignment with a selected item
    is graded, once."""

    def __init__(self, options: GradingOptions, selected: tuple[str, ...]):
        self.options = options
        self.selected = selected  # the assignments with a selected item, in grading order
        self.results: dict[str, Any] = {}  # assignment id -> AssignmentResult
        self.failures: dict[str, str] = {}  # assignment id -> why it could not be graded
        self._context = None

    def assignment(self, assignment_id: str):
        """The AssignmentResult; raises :class:`GradingFailed` when the assignment could not be graded."""
        if assignment_id not in self.results and assignment_id not in self.failures:
            self._grade(assignment_id)
        if assignment_id in self.failures:
            raise GradingFailed(f"{assignment_id} could not be graded: {self.failures[assignment_id]}")
        return self.results[assignment_id]

    def _grade(self, assignment_id: str) -> None:
        waiting = tuple(a for a in self.selected if a not in self.results and a not in self.failures)
        chosen = waiting if assignment_id in waiting else (assignment_id,)
        try:
            with _working_directory_off_path():
                if self._context is None:
                    self._context = _grading_context(self.options)
                graded = grade_in_sandbox(self.options, chosen, self._context)
                self.results.update((a, graded[a]) for a in chosen)
        except (FileNotFoundError, ValueError) as exc:  # what `grade` reports as a usage error
            self.failures.update((a, str(exc)) for a in chosen)
        except Exception:  # noqa: BLE001 - a bug in the kit: kept (with its traceback) for every item it stops
            self.failures.update((a, traceback.format_exc()) for a in chosen)

    def summary_lines(self) -> list[str]:
        """``autograder score:`` per graded assignment and in total, in the kit's points."""
        lines = [f"{SCORE_LINE} {assignment_id} {_points(result.score)}/{_points(result.max_score)}"
                 for assignment_id, result in self.results.items()]
        lines += [f"{SCORE_LINE} {assignment_id} not graded (see the errors above)" for assignment_id in self.failures]
        if not self.results and not self.failures:
            return []  # nothing selected ran (--collect-only, -k matching nothing)
        score = sum(result.score for result in self.results.values())
        max_score = sum(result.max_score for result in self.results.values())
        return lines + [f"{SCORE_LINE} total {_points(score)}/{_points(max_score)}"]


class GradingFailed(Exception):
    """The submission could not be graded for an assignment (reported as an error of each of its items)."""


def _points(value: float) -> str:
    return f"{value:g}"  # as the kit's report writes points


# ---------------------------------------------------------------------------------------------- collection
@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """``test_hidden_checks.py`` holds no tests of its own: its items are the graders' checks."""
    if module_path.name != COLLECTOR_FILE.name or not _same_file(module_path, COLLECTOR_FILE):
        return None
    return HiddenChecksModule.from_parent(parent, path=module_path)


def _same_file(first: Path, second: Path) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


class HiddenChecksModule(pytest.Module):
    """One collector per assignment, in the order ``grade`` grades them."""

    def collect(self) -> list[pytest.Collector]:
        from autograder import graders

        return [AssignmentChecks.from_parent(self, name=assignment_id) for assignment_id in graders.ASSIGNMENT_IDS]


class AssignmentChecks(pytest.Collector):
    """The checks of one assignment, with the points a --grading-config gives them."""

    def collect(self) -> list[pytest.Item]:
        from autograder import graders

        options = self.config.stash.get(OPTIONS_KEY, None)
        settings = options.settings if options else None
        assignment = graders.load_configured(self.name, settings.points if settings else None,
                                             settings.thresholds if settings else None)
        skip = _skip_reason(options, self.name)
        return [HiddenCheckItem.from_parent(self, name=check.id, callobj=hidden_check, assignment_id=self.name,
                                            check=check, skip=skip) for check in assignment.checks]


def _skip_reason(options: GradingOptions | None, assignment_id: str) -> str | None:
    if options is None:
        return NO_SUBMISSION
    if assignment_id not in options.graded:
        held = f"is a single file, graded as {', '.join(options.graded)} only" if options.submission.is_file() \
            else f"is graded for the settings' assignments only: {', '.join(options.graded)}"
        return f"not graded: the submission {options.submission.name} {held}"
    return None


class HiddenCheckItem(pytest.Function):
    """One check, passing when the kit's outcome for it is ``passed``."""

    def __init__(self, *, assignment_id: str, check, skip: str | None, **kwargs):
        super().__init__(**kwargs)
        from autograder.core.i18n import render

        self.assignment_id = assignment_id
        self.check_id = check.id
        self.add_marker(pytest.mark.assignment(assignment_id))
        self.add_marker(pytest.mark.points(check.points))
        if check.hidden:
            self.add_marker(pytest.mark.hidden)
        if skip is not None:
            self.add_marker(pytest.mark.skip(reason=skip))
        self.user_properties += [("assignment", assignment_id), ("check", check.id),
                                 ("title", render(check.title, "en")), ("points", check.points),
                                 ("hidden", check.hidden)]

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"{self.assignment_id}::{self.check_id}"  # the check, not the plugin's function


@pytest.fixture(scope="session")
def autograder_grading(request: pytest.FixtureRequest) -> SessionGrading:
    """The sandboxed grading of ``--submission`` (lazy: an assignment is graded when its first item runs)."""
    options = request.config.stash.get(OPTIONS_KEY, None)
    if options is None:
        pytest.skip(NO_SUBMISSION)
    _require_sandbox(options.settings.isolation)
    selected = (item.assignment_id for item in request.session.items if isinstance(item, HiddenCheckItem))
    grading = SessionGrading(options, tuple(a for a in dict.fromkeys(selected) if a in options.graded))
    request.config.stash[GRADING_KEY] = grading
    return grading


def _require_sandbox(level: str) -> None:
    """Fail closed, as `grade` does: without the requested isolation nothing of the submission runs."""
    from autograder.cli import EXIT_NO_SANDBOX
    from autograder.host.isolation import Isolation, IsolationUnavailable

    try:
        Isolation(level).verify()
    except IsolationUnavailable as exc:
        pytest.exit(f"error: {exc}", returncode=EXIT_NO_SANDBOX)
    if level == "none":
        warnings.warn("--isolation none: student code runs as a plain process with your user's rights, files and "
                      "network. Use it only to debug the kit, never for grades.", UserWarning, stacklevel=1)


@pytest.fixture
def autograder_check_result(request: pytest.FixtureRequest, autograder_grading: SessionGrading):
    """The kit's CheckResult for this item; a grader fault or an ungradable submission is an error here."""
    from autograder.core.i18n import render

    item = request.node
    try:
        graded = autograder_grading.assignment(item.assignment_id)
    except GradingFailed as exc:
        pytest.fail(str(exc), pytrace=False)
    result = next((check for check in graded.checks if check.check_id == item.check_id), None)
    if result is None:
        pytest.fail(f"grader fault: the kit graded no check {item.check_id!r} in {item.assignment_id}", pytrace=False)
    item.user_properties += [("outcome", result.outcome.value), ("score", result.score)]
    if result.grader_fault:
        pytest.fail(f"grader fault (a bug in the kit, not the student's): {render(result.message, 'en')}",
                    pytrace=False)
    return result


def hidden_check(autograder_check_result) -> None:
    """Every item's test: the check's outcome, with its English message as the failure text."""
    failure = failure_text(autograder_check_result)
    if failure is not None:
        pytest.fail(failure, pytrace=False)


def failure_text(result) -> str | None:
    """None for a passed check; else its English message, prefixed by the outcome unless a plain failure."""
    from autograder.core.i18n import render

    if result.outcome.value == "passed":
        return None
    return FAILURE_PREFIX[result.outcome.value] + (render(result.message, "en") or "(no message)")


# ---------------------------------------------------------------------------------------------- reporting
def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if OPTIONS_KEY not in config.stash or hasattr(config, "workerinput"):
        return  # no --submission; or a pytest-xdist worker, whose summary nobody sees
    grading = config.stash.get(GRADING_KEY, None)
    lines = grading.summary_lines() if grading is not None else []
    if grading is None and _distributed(config):
        lines = [f"{SCORE_LINE} unavailable: the pytest-xdist workers graded; run with -n 0"]
    if lines:
        terminalreporter.section("autograder")
        for line in lines:
            terminalreporter.write_line(line)


def _distributed(config: pytest.Config) -> bool:
    return bool(getattr(config.option, "numprocesses", None)) and getattr(config.option, "dist", "no") != "no"
