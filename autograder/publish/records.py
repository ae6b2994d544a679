"""A graded submission as plain JSON, with every message in every language, and the settings it applied.

The grading child (:mod:`autograder.host.child`) writes one for its parent: ``grade-all`` reads
it back to write the student's feedback pages and ``results.json`` in the course's language and
the class summary, the notebook kernel to show the grade; ``grade --record FILE`` writes one too.
The record is written by the trusted grading process, never by the sandbox worker, so reading it
back is safe; it is plain data (no pickle), so reading it runs nothing.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autograder.host.grading import AssignmentResult, SubmissionResult
from autograder.core.i18n import Rendered, translations
from autograder.core.outcomes import result_from_json, result_to_json
from autograder.core.files import write_text_atomically

FORMAT = "tf2-exercise-kit/record/1"


def to_record(result: SubmissionResult, **extra: Any) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "submission": result.submission,
        "seconds": round(result.seconds, 3),
        "score": result.score,
        "max_score": result.max_score,
        "isolation": result.isolation,
        "settings": result.settings,
        **extra,
        "assignments": [{
            "assignment": a.assignment, "title": translations(a.title), "file": a.file,
            "seconds": round(a.seconds, 3), "note": translations(a.note),
            "checks": [result_to_json(c) for c in a.checks],
        } for a in result.assignments],
    }


def from_record(record: dict[str, Any]) -> SubmissionResult:
    if record.get("format") != FORMAT:
        raise ValueError(f"not a grading record of this kit. Received format: {record.get('format')!r}")
    result = SubmissionResult(record["submission"], seconds=float(record["seconds"]),
                              isolation=str(record.get("isolation", "")), settings=dict(record.get("settings", {})))
    for a in record["assignments"]:
        checks = [result_from_json(a["assignment"], c) for c in a["checks"]]
        result.assignments.append(AssignmentResult(a["assignment"], Rendered(a["title"]), a["file"], checks,
                                                   float(a["seconds"]), Rendered(a["note"])))
    return result


def write_record(result: SubmissionResult, path: Path, **extra: Any) -> None:
    write_text_atomically(Path(path), json.dumps(to_record(result, **extra), indent=1, ensure_ascii=False))


def read_record(path: Path) -> tuple[SubmissionResult, dict[str, Any]]:
    """The result and the whole record (for keys added by ``grade-all``, such as its status)."""
    record = json.loads(Path(path).read_text(encoding="utf-8"))
    return from_record(record), record
