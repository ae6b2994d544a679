"""Realistic mistakes lose exactly the checks they break; correct variants get full marks."""
import pytest

from autograder import graders
from autograder.grading import grade_submission
from autograder.outcomes import Outcome
from autograder.runner import Limits
from corpus import CORRECT, MISTAKES

LIMITS = Limits(step_timeout=120)


def _grade(variant, submit, grading_context):
    directory = submit({f"{variant.assignment}.py": variant.source()})
    result = grade_submission(directory, assignment=variant.assignment, context=grading_context, limits=LIMITS)
    (assignment,) = result.assignments
    return assignment


def test_corpus_is_big_enough_and_names_real_checks():
    assert len(MISTAKES) >= 15 and len(CORRECT) >= 3
    for variant in MISTAKES:
        known = {check.id for check in graders.load(variant.assignment).checks}
        assert variant.breaks and variant.breaks <= known, variant.name


@pytest.mark.parametrize("variant", MISTAKES, ids=lambda v: f"{v.assignment}-{v.name}")
def test_mistake_loses_exactly_the_checks_it_breaks(variant, submit, grading_context):
    result = _grade(variant, submit, grading_context)
    lost = {check.check_id for check in result.checks if not check.passed}
    assert lost == variant.breaks, {c.check_id: c.message for c in result.checks if not c.passed}
    for check in result.checks:
        if check.check_id in variant.breaks:
            assert check.score == 0 and check.message, check
            assert check.outcome in (Outcome.FAILED, Outcome.ERROR), check
            assert not check.grader_fault, check
    assert result.score == result.max_score - sum(c.max_score for c in result.checks if c.check_id in variant.breaks)


@pytest.mark.parametrize("variant", CORRECT, ids=lambda v: f"{v.assignment}-{v.name}")
def test_correct_variant_gets_full_marks(variant, submit, grading_context):
    result = _grade(variant, submit, grading_context)
    assert result.score == result.max_score, {c.check_id: c.message for c in result.checks if not c.passed}
