"""Students' `pytest exercises/`: passes on the reference solutions, fails kindly on the stubs, stays quick."""
import shutil
import subprocess
import sys

import pytest

from autograder import graders
from conftest import ROOT


def _pytest(folder):
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


@pytest.mark.slow
def test_public_tests_pass_on_solutions(tmp_path):
    """A student folder whose every file holds the reference answers: exercises/' tests beside solutions/' modules."""
    for assignment_id in graders.ASSIGNMENT_IDS:
        shutil.copyfile(ROOT / "exercises" / f"test_{assignment_id}.py", tmp_path / f"test_{assignment_id}.py")
        shutil.copyfile(ROOT / "solutions" / f"{assignment_id}.py", tmp_path / f"{assignment_id}.py")
    completed = _pytest(tmp_path)
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert " passed" in completed.stdout and "failed" not in completed.stdout


@pytest.mark.slow
def test_public_tests_fail_kindly_on_stubs():
    completed = _pytest(ROOT / "exercises")
    assert completed.returncode == 1
    assert "is not implemented yet" in completed.stdout
    assert "Traceback" not in completed.stdout and "error" not in completed.stdout.splitlines()[-1]
