"""The instructor's table in a terminal: every check, its points, outcome and message (hidden ones included)."""
from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from autograder.core.i18n import SOURCE_LANGUAGE, render, tr
from autograder.core.outcomes import Outcome
from autograder.host.grading import SubmissionResult
from autograder.publish.wording import OUTCOME_NAMES, points

_STYLE = {Outcome.PASSED: "green", Outcome.FAILED: "red", Outcome.NOT_ATTEMPTED: "yellow",
          Outcome.ERROR: "magenta", Outcome.TIMEOUT: "magenta"}

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
