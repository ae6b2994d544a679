"""The one place where what happened (probe status, exceptions) becomes an outcome."""
from __future__ import annotations

import enum
import logging
import traceback
from dataclasses import dataclass, field
from typing import Any

from autograder.core.i18n import Rendered, Text, message_of, tr, translations
from autograder.core.spec import Check, CheckFailed, MissingResource

log = logging.getLogger(__name__)


class Outcome(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_ATTEMPTED = "not_attempted"
    ERROR = "error"
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class ProbeStatus:
    """How running one probe in the sandbox ended (plain data from the worker)."""

    state: str  # "ok", "not_attempted", "error", "timeout", "grader_error"
    message: Text | str = ""


_PROBE_STATE_TO_OUTCOME = {
    "not_attempted": Outcome.NOT_ATTEMPTED,
    "error": Outcome.ERROR,
    "timeout": Outcome.TIMEOUT,
    "grader_error": Outcome.ERROR,
}


@dataclass(frozen=True)
class CheckResult:
    assignment: str
    check_id: str
    title: Text | str
    max_score: float
    score: float
    outcome: Outcome
    message: Text | str
    hidden: bool = False
    grader_fault: bool = False  # True only when the kit itself broke, never the student
    details: dict[str, Any] = field(default_factory=dict)  # JSON that feedback draws (training curve, layers)

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASSED


def result_to_json(result: CheckResult) -> dict[str, Any]:
    """A check's result as plain JSON, every message in every language (a grading record's form of it)."""
    return {"check_id": result.check_id, "title": translations(result.title), "max_score": result.max_score,
            "score": result.score, "outcome": result.outcome.value, "message": translations(result.message),
            "hidden": result.hidden, "grader_fault": result.grader_fault, "details": result.details}


def result_from_json(assignment: str, data: dict[str, Any]) -> CheckResult:
    """The inverse of :func:`result_to_json`, for a check of ``assignment``."""
    return CheckResult(assignment, str(data["check_id"]), Rendered(data["title"]), float(data["max_score"]),
                       float(data["score"]), Outcome(data["outcome"]), Rendered(data["message"]),
                       bool(data["hidden"]), bool(data["grader_fault"]), dict(data["details"]))


def not_run(assignment: str, check: Check, status: ProbeStatus) -> CheckResult:
    """A check whose observations never came (not attempted, timed out, crashed): zero, and why."""
    outcome = Outcome.NOT_ATTEMPTED if status.state == "not_attempted" else _PROBE_STATE_TO_OUTCOME[status.state]
    return CheckResult(assignment, check.id, check.title, check.points, 0.0, outcome, status.message,
                       check.hidden, status.state == "grader_error")


def judge(assignment: str, check: Check, status: ProbeStatus, evidence, context) -> CheckResult:
    """Run one check and map whatever happens to exactly one outcome.

    Only :class:`CheckFailed` is a student failure. :class:`MissingResource` (the
    grading machine lacks, say, a tensorflow-datasets download) is an ``error`` whose
    message names what to provide. Any other exception raised by
    trusted check code is a bug in the kit: it scores zero, is reported as an
    ``error`` marked ``grader_fault`` and logged with its traceback, so it can
    never pass silently nor pose as feedback about the student's code.
    """

    def result(outcome: Outcome, message: Text | str, score: float = 0.0, fault: bool = False,
               details: dict | None = None) -> CheckResult:
        return CheckResult(assignment, check.id, check.title, check.points, score, outcome,
                           message, check.hidden, fault, dict(details or {}))

    if status.state == "not_attempted":
        return not_run(assignment, check, status)
    if status.state != "ok":
        return not_run(assignment, check, status)
    try:
        threshold = () if check.threshold is None else (check.threshold,)
        details = check.verify(evidence, context, *threshold)
    except CheckFailed as failure:
        message = failure.message
        if check.hint:
            message = tr("{message} Hint: {hint}", message=message, hint=check.hint) if message else check.hint
        return result(Outcome.FAILED, message, details=failure.details)
    except MissingResource as missing:  # the grading machine lacks a file: say which, blame nobody
        return result(Outcome.ERROR, message_of(missing), fault=True)
    except Exception as exc:  # noqa: BLE001 - deliberately recorded as a kit fault, see docstring
        log.error("grader fault in %s.%s:\n%s", assignment, check.id, traceback.format_exc())
        return result(Outcome.ERROR,
                      tr("Internal grader error ({error}). This is not your fault; please tell your instructor.",
                         error=f"{type(exc).__name__}: {exc}"), fault=True)
    return result(Outcome.PASSED, "", score=check.points, details=details if isinstance(details, dict) else None)

