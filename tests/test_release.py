"""exercises/ and solutions/ are generated from source/, up to date, and leak nothing hidden."""
import re

import pytest

from autograder import graders
from autograder.course.release import MarkerError, planned_outputs, release, solution_version, student_version
from conftest import ROOT

MARKED = '''def f(x):
    """Doc."""
    ### BEGIN SOLUTION
    y = x + 1
    return y
    ### END SOLUTION

### BEGIN HIDDEN TESTS
assert f(1) == 2
### END HIDDEN TESTS
'''


def test_student_version_replaces_solutions_and_drops_hidden_tests():
    stub = student_version(MARKED)
    assert '    raise NotImplementedError(' in stub and "y = x + 1" not in stub
    assert "HIDDEN" not in stub and "assert f(1)" not in stub and '"""Doc."""' in stub


def test_solution_version_keeps_code_and_drops_markers():
    solution = solution_version(MARKED)
    assert "    y = x + 1\n    return y\n" in solution
    assert "###" not in solution and "assert f(1)" not in solution


@pytest.mark.parametrize("text", ["### BEGIN SOLUTION\nx = 1\n", "x = 1\n### END SOLUTION\n",
                                  "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n"])
def test_unpaired_markers_are_rejected_with_a_line_number(text):
    with pytest.raises(MarkerError, match=r"<source>:\d"):
        student_version(text)


def test_committed_exercises_and_solutions_are_up_to_date():
    stale = release(ROOT, check=True)
    assert stale == [], f"run `python -m autograder release`; stale: {stale}"


def test_every_assignment_is_released():
    outputs = planned_outputs(ROOT)
    for assignment in graders.ASSIGNMENT_IDS:
        for folder in ("exercises", "solutions"):
            assert (ROOT / folder / f"{assignment}.py").is_file()
            assert any(str(p) == f"{folder}/test_{assignment}.py" for p in outputs)


def test_students_never_get_solutions_or_hidden_graders():
    hidden_ids = {check.id for a in graders.ASSIGNMENT_IDS for check in graders.load(a).checks}
    for path in (ROOT / "exercises").rglob("*"):
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"BEGIN SOLUTION|END SOLUTION|BEGIN HIDDEN TESTS", text), path
        assert "autograder.graders" not in text and "from autograder import graders" not in text, path
        leaked = {check_id for check_id in hidden_ids if re.search(rf"\b{check_id}\b", text)}
        assert not leaked, (path, leaked)
