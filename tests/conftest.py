import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from autograder import imagenet

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

if imagenet.class_index_path() is None:
    # No Keras cache and no ../shared copy: the graders only need 1000 (wnid, name) pairs, so the
    # suite makes its own, for this process and every CLI and worker subprocess it starts.
    _generated = Path(tempfile.mkdtemp(prefix="ag-test-index-")) / imagenet.CLASS_INDEX_FILE
    _generated.write_text(json.dumps({str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}), encoding="utf-8")
    os.environ[imagenet.CLASS_INDEX_ENV] = str(_generated)


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """The real command line in a subprocess, as instructors run it."""
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, "COLUMNS": "200"})


@pytest.fixture(scope="session")
def grading_context():
    from autograder.context import GradingContext, configure_tensorflow

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
