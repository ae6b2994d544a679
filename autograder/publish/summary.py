"""The instructor's class summary (``OUT/summary.html``): distributions, common mistakes, time, errors."""
from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from autograder.publish import plots
from autograder.publish.feedback import TEMPLATES
from autograder.host.grading import SubmissionResult
from autograder.core.i18n import SOURCE_LANGUAGE, render, tr
from autograder.core.outcomes import Outcome
from autograder.publish.wording import OUTCOME_NAMES, points

MOST_FAILED = 15
STATUS_NAMES = {"graded": tr("graded"), "timeout": tr("timeout"), "memory": tr("memory limit"), "failed": tr("failed")}
LABELS = {
    "summary": tr("Class summary"),
    "students": tr("Students"),
    "isolation": tr("Student code isolated with"),
    "graded": tr("graded"),
    "stopped": tr("stopped or failed"),
    "distribution": tr("Score distribution per assignment"),
    "mean": tr("mean"),
    "median": tr("median"),
    "highest": tr("highest"),
    "common_mistakes": tr("Checks most students failed"),
    "assignment": tr("Assignment"),
    "check": tr("Check"),
    "failed": tr("failed"),
    "not_attempted": tr("not attempted"),
    "time": tr("Grading time per submission"),
    "student": tr("Student"),
    "status": tr("Status"),
    "seconds": tr("seconds"),
    "peak_memory": tr("peak memory (MiB)"),
    "errors": tr("Errors and timeouts"),
    "outcome": tr("Outcome"),
    "checks": tr("checks"),
    "message": tr("Message"),
    "none": tr("None."),
}


@dataclass(frozen=True)
class GradedStudent:
    id: str
    result: SubmissionResult
    status: str = "graded"      # from grade-all: graded, timeout, memory, failed
    seconds: float = 0.0
    peak_mb: float = 0.0


def _distributions(students: list[GradedStudent], language: str) -> list[dict[str, Any]]:
    scores: dict[str, list[float]] = defaultdict(list)
    maxima: dict[str, float] = {}
    for student in students:
        for assignment in student.result.assignments:
            scores[assignment.assignment].append(assignment.score)
            maxima[assignment.assignment] = assignment.max_score
    return [{"id": assignment_id, "svg": plots.histogram_svg(values, maxima[assignment_id], assignment_id),
             "mean": f"{statistics.fmean(values):.1f}", "median": f"{statistics.median(values):g}",
             "highest": points(max(values)), "max": points(maxima[assignment_id]), "n": len(values)}
            for assignment_id, values in scores.items()]


def _most_failed(students: list[GradedStudent], language: str) -> list[dict[str, Any]]:
    failed, not_attempted, titles = Counter(), Counter(), {}
    for student in students:
        for assignment in student.result.assignments:
            for check in assignment.checks:
                key = (assignment.assignment, check.check_id)
                titles[key] = render(check.title, language)
                failed[key] += check.outcome is Outcome.FAILED
                not_attempted[key] += check.outcome is Outcome.NOT_ATTEMPTED
    ranked = sorted((key for key in failed if failed[key]), key=lambda key: (-failed[key], key))[:MOST_FAILED]
    total = len(students)
    return [{"assignment": key[0], "check": titles[key], "check_id": key[1], "failed": failed[key],
             "percent": f"{100 * failed[key] / total:.0f}", "not_attempted": not_attempted[key]} for key in ranked]


def _errors(students: list[GradedStudent], language: str) -> list[dict[str, Any]]:
    """Errors and timeouts, one row per student, assignment and message (a crash costs many checks)."""
    grouped: Counter = Counter()
    for student in students:
        for assignment in student.result.assignments:
            for check in assignment.checks:
                if check.outcome in (Outcome.ERROR, Outcome.TIMEOUT):
                    grouped[(student.id, assignment.assignment, render(OUTCOME_NAMES[check.outcome], language),
                             render(check.message, language))] += 1
    return [{"student": s, "assignment": a, "outcome": o, "message": m, "checks": n}
            for (s, a, o, m), n in sorted(grouped.items())]


def summary_html(students: list[GradedStudent], *, course: str = "", language: str = SOURCE_LANGUAGE) -> str:
    students = sorted(students, key=lambda s: s.id)
    context = {
        "course": course, "language": language,
        "labels": {key: render(text, language) for key, text in LABELS.items()},
        "n": len(students), "graded": sum(s.status == "graded" for s in students),
        "distributions": _distributions(students, language) if students else [],
        "most_failed": _most_failed(students, language),
        "times": sorted(({"student": s.id, "status": render(STATUS_NAMES.get(s.status, s.status), language),
                          "seconds": f"{s.seconds:.1f}",
                          "peak_mb": f"{s.peak_mb:.0f}"} for s in students), key=lambda row: -float(row["seconds"])),
        "errors": _errors(students, language),
        "isolation": ", ".join(f"{level} ({count})" for level, count in
                               sorted(Counter(s.result.isolation or "not run" for s in students).items())),
    }
    return TEMPLATES.get_template("summary.html.j2").render(context)
