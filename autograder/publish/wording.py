"""How outcomes, points and hidden checks read, the same in the terminal, results.json, feedback and the summary."""
from __future__ import annotations

from autograder.core.i18n import render, tr
from autograder.core.outcomes import CheckResult, Outcome

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
