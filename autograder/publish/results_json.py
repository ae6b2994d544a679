"""Gradescope's ``results.json``: one test per check, in either language (keep this contract stable)."""
from __future__ import annotations

import json
from pathlib import Path

from autograder.core.files import write_text_atomically
from autograder.core.i18n import SOURCE_LANGUAGE, render, tr
from autograder.core.outcomes import Outcome
from autograder.host.grading import SubmissionResult
from autograder.publish.wording import points, visible_message

SCHEMA_PATH = Path(__file__).with_name("schemas") / "results.schema.json"


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
