"""Human-readable tables and the Gradescope-compatible ``results.json``, in either language."""
from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from autograder.core.files import write_text_atomically
from autograder.host.grading import SubmissionResult
from autograder.core.i18n import SOURCE_LANGUAGE, render, tr
from autograder.core.outcomes import CheckResult, Outcome

SCHEMA_PATH = Path(__file__).with_name("schemas") / "results.schema.json"
_STYLE = {Outcome.PASSED: "green", Outcome.FAILED: "red", Outcome.NOT_ATTEMPTED: "yellow",
          Outcome.ERROR: "magenta", Outcome.TIMEOUT: "magenta"}
OUTCOME_NAMES = {Outcome.PASSED: tr("passed"), Outcome.FAILED: tr("failed"), Outcome.NOT_ATTEMPTED: tr("not attempted"),
                 Outcome.ERROR: tr("error"), Outcome.TIMEOUT: tr("timeout")}
HIDDEN_MESSAGE = tr("This is a hidden check: only its score is shown until your instructor reveals the details.")


def points(value: float) -> str:
    return f"{value:g}"


def visible_message(check: CheckResult, language: str, reveal_hidden: bool) -> str:
    """What a student may read about a check: nothing of a hidden check's expectation until revealed.

    Only a failure states an expectation; errors, timeouts and "not attempted" describe the
    student's own code (a traceback line, a missing function) and stay readable.
    """
    concealed = check.hidden and not reveal_hidden and check.outcome is Outcome.FAILED
    return render(HIDDEN_MESSAGE if concealed else check.message, language)


def print_report(result: SubmissionResult, console: Console | None = None, language: str = SOURCE_LANGUAGE) -> None:
    """The instructor's view: every message, hidden checks included."""
    console = console or Console()
    for assignment in result.assignments:
        table = Table(title=escape(f"{assignment.assignment}: {render(assignment.title, language)}"),
                      title_justify="left", show_lines=False, expand=False)
        for header, options in ((tr("check"), {"overflow": "fold"}), (tr("points"), {"justify": "right", "no_wrap": True}),
                                (tr("outcome"), {"no_wrap": True}), (tr("message"), {"overflow": "fold"})):
            table.add_column(render(header, language), **options)
        for check in assignment.checks:
            style = _STYLE[check.outcome]
            table.add_row(escape(render(check.title, language)), f"{points(check.score)}/{points(check.max_score)}",
                          f"[{style}]{render(OUTCOME_NAMES[check.outcome], language)}[/{style}]",
                          escape(render(check.message, language)))
        console.print(table)
        where = render(assignment.note, language) or assignment.file or render(tr("no file"), language)
        console.print(f"[bold]{assignment.assignment}: {points(assignment.score)}/{points(assignment.max_score)}"
                      f"[/bold]  ({escape(where)}, {assignment.seconds:.1f} s)\n")
    total = tr("Total: {score}/{max_score} in {seconds:.1f} s", score=points(result.score),
               max_score=points(result.max_score), seconds=result.seconds)
    console.print(f"[bold]{escape(render(total, language))}[/bold]")
    if result.isolation:
        console.print(escape(render(tr("Student code isolated with: {level}", level=result.isolation), language)))


def to_gradescope(result: SubmissionResult, language: str = SOURCE_LANGUAGE, reveal_hidden: bool = False) -> dict:
    """Gradescope's results.json: one test per check, tagged with its assignment id first."""
    tests = []
    for assignment in result.assignments:
        for check in assignment.checks:
            tests.append({
                "name": f"{assignment.assignment}: {render(check.title, language)}",
                "score": check.score,
                "max_score": check.max_score,
                "status": "passed" if check.outcome is Outcome.PASSED else "failed",
                "output": visible_message(check, language, reveal_hidden),
                "tags": [assignment.assignment, check.check_id],
                "visibility": "visible",
                "extra_data": {"outcome": check.outcome.value, "check_id": check.check_id,
                               "grader_fault": check.grader_fault, "hidden": check.hidden},
            })
    summary = "; ".join(f"{a.assignment} {points(a.score)}/{points(a.max_score)}" for a in result.assignments)
    if result.isolation:
        summary += render(tr(" (student code isolated with: {level})", level=result.isolation), language)
    return {"score": result.score, "max_score": result.max_score,
            "execution_time": round(result.seconds, 3), "output": summary, "tests": tests,
            "extra_data": {"isolation": result.isolation or "not run"}}


def write_gradescope(result: SubmissionResult, path: Path, language: str = SOURCE_LANGUAGE,
                     reveal_hidden: bool = False) -> None:
    write_text_atomically(Path(path), json.dumps(to_gradescope(result, language, reveal_hidden), indent=2,
                                                 ensure_ascii=False))


