"""Per-student feedback pages (self-contained HTML, and Markdown) from a graded submission.

What a page may show is decided here, once, by :func:`view`: a hidden check that failed
keeps its title and score, never its message, hint or figures, unless the instructor
reveals hidden checks after the deadline. Templates only lay out what ``view`` returns.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import jinja2

from autograder.publish import plots
from autograder.host.grading import SubmissionResult
from autograder.core.i18n import SOURCE_LANGUAGE, check_language, render, tr
from autograder.core.outcomes import CheckResult, Outcome
from autograder.publish.wording import OUTCOME_NAMES, points, visible_message

LABELS = {
    "feedback": tr("Feedback"),
    "student": tr("Student"),
    "total": tr("Total"),
    "check": tr("Check"),
    "points": tr("Points"),
    "outcome": tr("Outcome"),
    "what_happened": tr("What the grader found"),
    "training_curve": tr("Your model's training run on the grading data: loss and accuracy per epoch, the required "
                         "test accuracy (dashed line) and the test accuracy your model reached (star)."),
    "expected_layers": tr("Expected layers"),
    "your_layers": tr("Your layers"),
    "graded_file": tr("Graded file"),
    "no_file": tr("no file"),
    "hidden": tr("hidden check"),
    "epoch": tr("epoch"),
    "test_accuracy": tr("test accuracy"),
    "required": tr("required"),
}
ICONS = {Outcome.PASSED: "✓", Outcome.FAILED: "✗", Outcome.NOT_ATTEMPTED: "…", Outcome.ERROR: "!", Outcome.TIMEOUT: "⏱"}


@dataclass
class CheckView:
    title: str
    score: str
    outcome: str
    outcome_name: str
    icon: str
    message: str
    hidden: bool
    layers: dict[str, Any] | None = None
    training: dict[str, Any] | None = None
    training_svg: str = ""


@dataclass
class AssignmentView:
    id: str
    title: str
    score: str
    max_score: str
    percent: float
    file: str
    checks: list[CheckView] = field(default_factory=list)


def _layers_rows(layers: dict[str, Any]) -> list[tuple[str, str, bool]]:
    expected, found = list(layers.get("expected", [])), list(layers.get("found", []))
    length = max(len(expected), len(found))
    expected += [""] * (length - len(expected))
    found += [""] * (length - len(found))
    return [(want, got, want != got) for want, got in zip(expected, found)]


def check_view(check: CheckResult, language: str, reveal_hidden: bool, figures: bool) -> CheckView:
    view = CheckView(render(check.title, language), f"{points(check.score)}/{points(check.max_score)}",
                     check.outcome.value, render(OUTCOME_NAMES[check.outcome], language), ICONS[check.outcome],
                     visible_message(check, language, reveal_hidden), check.hidden)
    if check.hidden and not reveal_hidden:
        return view  # no figures for hidden checks, passed or not: they show expected values
    if "layers" in check.details:
        view.layers = {"rows": _layers_rows(check.details["layers"])}
    if "training" in check.details:
        view.training = check.details["training"]
        if figures:
            view.training_svg = plots.training_curve_svg(check.details["training"])
    return view


def view(result: SubmissionResult, language: str = SOURCE_LANGUAGE, reveal_hidden: bool = False,
         figures: bool = True) -> list[AssignmentView]:
    check_language(language)
    views = []
    for assignment in result.assignments:
        percent = 100.0 * assignment.score / assignment.max_score if assignment.max_score else 0.0
        file = render(assignment.note, language) or assignment.file or render(LABELS["no_file"], language)
        views.append(AssignmentView(assignment.assignment, render(assignment.title, language),
                                    points(assignment.score), points(assignment.max_score), percent, file,
                                    [check_view(c, language, reveal_hidden, figures) for c in assignment.checks]))
    return views


def _markdown_cell(text: str) -> str:
    """Text safe inside a Markdown table cell (pipes and newlines would break the row; no raw HTML)."""
    return html.escape(str(text), quote=False).replace("|", "\\|").replace("\n", " ")


# The kit's page templates; HTML ones are autoescaped, Markdown ones escape through the `cell` filter.
TEMPLATES = jinja2.Environment(loader=jinja2.PackageLoader("autograder.publish", "templates"),
                               autoescape=lambda name: bool(name) and name.endswith(".html.j2"),
                               undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
TEMPLATES.filters["cell"] = _markdown_cell


def _context(result: SubmissionResult, student: str, course: str, language: str, reveal_hidden: bool,
             figures: bool) -> dict[str, Any]:
    return {"student": student, "course": course, "language": language,
            "labels": {key: render(text, language) for key, text in LABELS.items()},
            "total": points(result.score), "max_total": points(result.max_score),
            "assignments": view(result, language, reveal_hidden, figures)}


def feedback_html(result: SubmissionResult, *, student: str, course: str = "", language: str = SOURCE_LANGUAGE,
                  reveal_hidden: bool = False) -> str:
    context = _context(result, student, course, language, reveal_hidden, figures=True)
    return TEMPLATES.get_template("feedback.html.j2").render(context)


def feedback_markdown(result: SubmissionResult, *, student: str, course: str = "", language: str = SOURCE_LANGUAGE,
                      reveal_hidden: bool = False) -> str:
    context = _context(result, student, course, language, reveal_hidden, figures=False)
    return TEMPLATES.get_template("feedback.md.j2").render(context)
