"""Human-readable tables and the Gradescope-compatible ``results.json``."""
from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from autograder.grading import SubmissionResult
from autograder.outcomes import Outcome

SCHEMA_PATH = Path(__file__).with_name("schemas") / "results.schema.json"
_STYLE = {Outcome.PASSED: "green", Outcome.FAILED: "red", Outcome.NOT_ATTEMPTED: "yellow",
          Outcome.ERROR: "magenta", Outcome.TIMEOUT: "magenta"}


def _points(value: float) -> str:
    return f"{value:g}"


def print_report(result: SubmissionResult, console: Console | None = None) -> None:
    console = console or Console()
    for assignment in result.assignments:
        table = Table(title=f"{assignment.assignment}: {assignment.title}", title_justify="left",
                      show_lines=False, expand=False)
        table.add_column("check", overflow="fold")
        table.add_column("points", justify="right", no_wrap=True)
        table.add_column("outcome", no_wrap=True)
        table.add_column("message", overflow="fold")
        for check in assignment.checks:
            style = _STYLE[check.outcome]
            table.add_row(check.title, f"{_points(check.score)}/{_points(check.max_score)}",
                          f"[{style}]{check.outcome.value}[/{style}]", check.message)
        console.print(table)
        console.print(f"[bold]{assignment.assignment}: {_points(assignment.score)}/{_points(assignment.max_score)}"
                      f"[/bold]  ({assignment.note or assignment.file or 'no file'}, {assignment.seconds:.1f} s)\n")
    console.print(f"[bold]Total: {_points(result.score)}/{_points(result.max_score)}[/bold] "
                  f"in {result.seconds:.1f} s")


def to_gradescope(result: SubmissionResult) -> dict:
    """Gradescope's results.json: one test per check, tagged with its assignment id first."""
    tests = []
    for assignment in result.assignments:
        for check in assignment.checks:
            tests.append({
                "name": f"{assignment.assignment}: {check.title}",
                "score": check.score,
                "max_score": check.max_score,
                "status": "passed" if check.outcome is Outcome.PASSED else "failed",
                "output": check.message,
                "tags": [assignment.assignment, check.check_id],
                "visibility": "visible",
                "extra_data": {"outcome": check.outcome.value, "check_id": check.check_id,
                               "grader_fault": check.grader_fault},
            })
    summary = "; ".join(f"{a.assignment} {_points(a.score)}/{_points(a.max_score)}" for a in result.assignments)
    return {"score": result.score, "max_score": result.max_score,
            "execution_time": round(result.seconds, 3), "output": summary, "tests": tests}


def write_gradescope(result: SubmissionResult, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(to_gradescope(result), indent=2, ensure_ascii=False), encoding="utf-8")
    temporary.replace(path)
