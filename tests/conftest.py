import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The grader's secret for probe inputs (autograder.host.runner.probe_seed): fixed here so the suite is
# reproducible on every machine; a real grader keeps its own in ~/.config/tf2-autograder/.
os.environ["AUTOGRADER_PROBE_KEY"] = "tf2-exercise-kit test suite"
ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """The real command line in a subprocess, as instructors run it."""
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, "COLUMNS": "200"})


@pytest.fixture(scope="session")
def grading_context():
    from autograder.host.context import GradingContext, configure_tensorflow

    configure_tensorflow(2)
    return GradingContext(seed=0)


@pytest.fixture
def submit(tmp_path):
    """Write {filename: source} into a fresh submission directory and return it."""
    def write(files: dict[str, str]) -> Path:
        directory = tmp_path / "submission"
        directory.mkdir(exist_ok=True)
        for name, text in files.items():
            (directory / name).write_text(text, encoding="utf-8")
        return directory
    return write
