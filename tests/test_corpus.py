"""Realistic mistakes lose exactly the checks they break; correct variants get full marks."""
import pytest

from dataclasses import replace

from autograder import graders
from autograder.host.grading import grade_submission
from autograder.core.i18n import render
from autograder.core.outcomes import Outcome
from autograder.host.runner import Limits
from conftest import BundledGrading
from corpus import CORRECT, MISTAKES

LIMITS = Limits(step_timeout=120)


@pytest.fixture(scope="module")
def reference_graded(tmp_path_factory, grading_context):
    """The corpus' reference modules of every assignment, graded as one student's submission."""
    from corpus import BASES

    directory = tmp_path_factory.mktemp("reference")
    for assignment_id, source in BASES.items():
        (directory / f"{assignment_id}.py").write_text(source, encoding="utf-8")
    result = grade_submission(directory, context=grading_context, limits=LIMITS)
    return {assignment.assignment: assignment for assignment in result.assignments}


def _affected(variant):
    """The variant's assignment cut to the probes that use a function it edits (all of them if module-level
    code changed), and its source.

    A probe calls only the functions it declares, so the other probes see exactly the
    reference code, whose full marks ``test_reference_gets_full_marks`` asserts.
    """
    full = graders.load(variant.assignment)
    edited = variant.edited_names()
    probes = {name: probe for name, probe in full.probes.items() if edited is None or set(probe.uses) & edited}
    return replace(full, probes=probes, checks=[c for c in full.checks if c.probe in probes]), variant.source()


NAMED = lambda v: f"{v.assignment}-{v.name}"  # noqa: E731
VARIANTS = BundledGrading("corpus", MISTAKES + CORRECT, _affected)


def _grade_affected(variant, tmp_path_factory, grading_context):
    return VARIANTS.graded(variant, folder=tmp_path_factory.getbasetemp() / "corpus", context=grading_context,
                           limits=LIMITS)


def test_corpus_is_big_enough_and_names_real_checks():
    assert len(MISTAKES) >= 15 and len(CORRECT) >= 3
    for variant in MISTAKES:
        known = {check.id for check in graders.load(variant.assignment).checks}
        assert variant.breaks and variant.breaks <= known, variant.name


def test_every_check_is_broken_by_some_mistake():
    """A check that no mistake must lose could stop checking (its body replaced by `pass`) and stay green."""
    broken = {(variant.assignment, check) for variant in MISTAKES for check in variant.breaks}
    unbroken = [(assignment_id, check.id) for assignment_id in graders.ASSIGNMENT_IDS
                for check in graders.load(assignment_id).checks if (assignment_id, check.id) not in broken]
    assert not unbroken, f"checks that no mistake in tests/corpus.py breaks: {unbroken}"


@pytest.mark.slow
@pytest.mark.parametrize("variant", [p for p in VARIANTS.params(NAMED) if p.values[0] in MISTAKES])
def test_mistake_loses_exactly_the_checks_it_breaks(variant, tmp_path_factory, grading_context):
    assignment, checks = _grade_affected(variant, tmp_path_factory, grading_context)
    assert variant.breaks <= {check.id for check in assignment.checks}, "a broken check was not graded"
    lost = {check.check_id for check in checks if not check.passed}
    assert variant.breaks <= lost <= variant.breaks | variant.may_break, \
        {c.check_id: c.message for c in checks if not c.passed}
    for check in checks:
        if check.check_id in lost:
            assert check.score == 0 and check.message, check
            assert check.outcome in (Outcome.FAILED, Outcome.ERROR), check
            assert not check.grader_fault, check
    messages = {check.check_id: render(check.message, "en") for check in checks}
    for check_id, words in variant.says:
        assert words in messages[check_id], (check_id, messages[check_id])


@pytest.mark.slow
@pytest.mark.xdist_group("corpus-reference")
@pytest.mark.parametrize("assignment_id", graders.ASSIGNMENT_IDS)
def test_reference_gets_full_marks(assignment_id, reference_graded):
    result = reference_graded[assignment_id]
    assert result.score == result.max_score > 0, {c.check_id: c.message for c in result.checks if not c.passed}


@pytest.mark.slow
@pytest.mark.parametrize("variant", [p for p in VARIANTS.params(NAMED) if p.values[0] in CORRECT])
def test_correct_variant_gets_full_marks(variant, tmp_path_factory, grading_context):
    """Graded on the probes of the functions it rewrites, like the mistakes: the rest is the reference."""
    _, checks = _grade_affected(variant, tmp_path_factory, grading_context)
    assert checks and all(c.passed for c in checks), {c.check_id: c.message for c in checks if not c.passed}
