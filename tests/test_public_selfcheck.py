"""Students' `pytest exercises/`: passes on the reference solutions, fails kindly on the stubs, stays quick."""
import subprocess
import sys

from conftest import ROOT


def _pytest(folder):
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / folder)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_public_tests_pass_on_solutions():
    completed = _pytest("solutions")
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert " passed" in completed.stdout and "failed" not in completed.stdout


def test_public_tests_fail_kindly_on_stubs():
    completed = _pytest("exercises")
    assert completed.returncode == 1
    assert "is not implemented yet" in completed.stdout
    assert "Traceback" not in completed.stdout and "error" not in completed.stdout.splitlines()[-1]
