"""`gradescope-package`: the archive's layout, and run_autograder in a fake /autograder tree.

Gradescope itself is not needed: the archive is unpacked into ``tmp/autograder/source`` and
``run_autograder`` runs with ``AUTOGRADER_ROOT`` pointing there. setup.sh is not run (it would
install from the package registry); ``AUTOGRADER_PYTHON`` names this interpreter instead.
"""
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest

from autograder import graders
from autograder.course.gradescope import build_package
from autograder.publish.report import SCHEMA_PATH
from conftest import ROOT, run_cli

SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
FASHION_MAX = graders.load("fashion_mnist").max_score


def _unpack(archive: Path, into: Path) -> None:
    """Extract like Gradescope's unzip: with the permission bits stored in the archive."""
    with zipfile.ZipFile(archive) as opened:
        for info in opened.infolist():
            extracted = Path(opened.extract(info, into))
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                extracted.chmod(mode)


def _autograder_tree(tmp_path: Path, files: dict[str, str], assignment: str | None = "fashion_mnist") -> Path:
    """A fake /autograder: the unpacked package in source/, ``files`` (relative path: text) in submission/."""
    tree = tmp_path / "autograder"
    archive = build_package(tmp_path / "autograder.zip", root=ROOT,
                            assignments=[assignment] if assignment else None)
    _unpack(archive, tree / "source")
    for relative, text in files.items():
        target = tree / "submission" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    (tree / "submission").mkdir(parents=True, exist_ok=True)
    return tree


def _run_autograder(tree: Path, python: str = sys.executable) -> tuple[subprocess.CompletedProcess, dict]:
    env = {**os.environ, "AUTOGRADER_ROOT": str(tree), "AUTOGRADER_PYTHON": python, "COLUMNS": "200"}
    completed = subprocess.run([str(tree / "source" / "run_autograder")], capture_output=True, text=True,
                               env=env, cwd=tree, timeout=600)
    results_file = tree / "results" / "results.json"
    assert results_file.is_file(), completed.stdout + completed.stderr
    results = json.loads(results_file.read_text(encoding="utf-8"))
    jsonschema.validate(results, SCHEMA)
    return completed, results


def _messages(results: dict) -> str:
    return "\n".join([results.get("output", "")] + [test["output"] for test in results["tests"]])


# --- the archive ------------------------------------------------------------------------------

def test_archive_holds_the_scripts_and_the_kit(tmp_path):
    archive = build_package(tmp_path / "autograder.zip", root=ROOT)
    with zipfile.ZipFile(archive) as opened:
        infos = {info.filename: info for info in opened.infolist()}
    for script in ("setup.sh", "run_autograder"):
        assert (infos[script].external_attr >> 16) & 0o111 == 0o111, f"{script} is not executable"
    for required in ("kit/pyproject.toml", "kit/README.md", "kit/autograder/__init__.py",
                     "kit/autograder/cli.py", "kit/autograder/publish/schemas/results.schema.json",
                     "kit/autograder/student/selfcheck/test_fashion_mnist.py", "kit/autograder/graders/fashion_mnist.py"):
        assert required in infos, required
    assert not [name for name in infos if "__pycache__" in name or name.endswith(".pyc")]
    assert all(name in ("setup.sh", "run_autograder", "course.toml")
               or name.startswith("kit/") for name in infos), sorted(infos)


def _minimal_root(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "autograder" / "__pycache__").mkdir(parents=True)
    (root / "autograder" / "__init__.py").write_text("", encoding="utf-8")
    (root / "autograder" / "__pycache__" / "cli.cpython-311.pyc").write_bytes(b"\0")
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    (root / "README.md").write_text("x\n", encoding="utf-8")
    return root


def test_course_config_is_copied_only_when_the_project_has_one(tmp_path):
    root = _minimal_root(tmp_path)
    without = build_package(tmp_path / "without.zip", root=root, assignments=["cnn"])
    assert "course.toml" not in zipfile.ZipFile(without).namelist()
    (root / "course.toml").write_text("[course]\nseed = 3\n", encoding="utf-8")
    with_config = build_package(tmp_path / "with.zip", root=root, assignments=["cnn"])
    assert zipfile.ZipFile(with_config).read("course.toml") == b"[course]\nseed = 3\n"
    assert "kit/autograder/__pycache__/cli.cpython-311.pyc" not in zipfile.ZipFile(with_config).namelist()


def test_the_archive_depends_only_on_its_content(tmp_path):
    root = _minimal_root(tmp_path)  # a private copy: the project's files may be edited meanwhile
    first = build_package(tmp_path / "a.zip", root=root, assignments=["gap"]).read_bytes()
    os.utime(root / "README.md", (0, 0))  # file times must not leak into the archive
    assert build_package(tmp_path / "b.zip", root=root, assignments=["gap"]).read_bytes() == first


def test_run_autograder_names_the_assignment_only_for_a_single_assignment_package(tmp_path):
    def script(assignments):
        archive = build_package(tmp_path / "p.zip", root=ROOT, assignments=assignments)
        return zipfile.ZipFile(archive).read("run_autograder").decode()

    assert "GRADE_OPTIONS=(--assignment transfer)" in script(["transfer"])
    assert "GRADE_OPTIONS=()" in script(None)
    assert f"MAX_SCORE={FASHION_MAX:g}" in script(["fashion_mnist"])


@pytest.mark.parametrize("name", ["setup.sh", "run_autograder"])
def test_scripts_are_valid_bash(tmp_path, name):
    archive = build_package(tmp_path / "autograder.zip", root=ROOT)
    script = tmp_path / name
    script.write_bytes(zipfile.ZipFile(archive).read(name))
    completed = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr


def test_bad_arguments_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="Received: 'mnist'"):
        build_package(tmp_path / "x.zip", root=ROOT, assignments=["mnist"])
    with pytest.raises(ValueError, match="one assignment or all of them"):
        build_package(tmp_path / "x.zip", root=ROOT, assignments=["cnn", "gap"])
    with pytest.raises(FileNotFoundError, match="Received: "):
        build_package(tmp_path / "x.zip", root=tmp_path)
    assert not list(tmp_path.glob("*.zip*"))


def test_cli_writes_the_archive_and_reports_usage_errors(tmp_path):
    out = tmp_path / "autograder.zip"
    completed = run_cli("gradescope-package", "--out", str(out), "--assignment", "cnn")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == str(out) and zipfile.is_zipfile(out)

    wrong_root = run_cli("gradescope-package", "--out", str(tmp_path / "y.zip"), "--root", str(tmp_path))
    assert wrong_root.returncode == 2
    assert wrong_root.stderr.startswith("error: ") and "pyproject.toml" in wrong_root.stderr
    assert run_cli("gradescope-package").returncode == 2  # --out is required


@pytest.mark.slow
def test_the_bundled_kit_builds_a_complete_wheel(tmp_path):
    _unpack(build_package(tmp_path / "autograder.zip", root=ROOT), tmp_path / "source")
    completed = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                                "--no-index", "-q", "-w", str(tmp_path / "wheels"), str(tmp_path / "source" / "kit")],
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    (wheel,) = (tmp_path / "wheels").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "autograder/publish/schemas/results.schema.json" in names
    assert "autograder/student/selfcheck/test_fashion_mnist.py" in names
    assert "autograder/course/gradescope.py" in names


# --- run_autograder in a fake /autograder tree ------------------------------------------------

FAKE_GRADER = """#!/usr/bin/env bash
# Stands in for the kit's python: records how it was called and what it was given to grade.
# Arguments: -P -m autograder grade SUBMISSION --json RESULTS [options]
echo "$@" > "$AUTOGRADER_ROOT/called-with"
ls "$5" > "$AUTOGRADER_ROOT/graded-files"
echo '{"score": 1, "max_score": 1, "execution_time": 0, "tests": []}' > "$7"
"""


def test_run_autograder_collects_nested_files_and_passes_the_assignment(tmp_path):
    tree = _autograder_tree(tmp_path, {
        "repo/hw/fashion_mnist.py": "# deeper copy: ignored\n",
        "repo/fashion_mnist.py": "# shallowest copy: graded\n",
        "repo/hw/fashion_mnist.ipynb": "{}\n",
        "repo/cnn.py": "# not this package's assignment\n",
        "__MACOSX/repo/fashion_mnist.py": "# archive debris\n",
        "notes.txt": "not code\n",
    })
    fake = tmp_path / "fake-python"
    fake.write_text(FAKE_GRADER, encoding="utf-8")
    fake.chmod(0o755)
    completed, results = _run_autograder(tree, python=str(fake))
    assert completed.returncode == 0
    assert results["score"] == 1
    called = (tree / "called-with").read_text(encoding="utf-8").split()
    assert called[:4] == ["-P", "-m", "autograder", "grade"]  # -P: the working folder is not on sys.path
    assert called[5:9] == ["--json", str(tree / "results" / "results.json"), "--assignment", "fashion_mnist"]
    assert called[9:11] == ["--config", str(tree / "source" / "course.toml")]  # the course's points and language
    assert called[11:] == ["--isolation", "bwrap"]  # the strongest level first
    assert (tree / "graded-files").read_text(encoding="utf-8").split() == ["fashion_mnist.ipynb", "fashion_mnist.py"]
    assert "collected repo/fashion_mnist.py" in completed.stdout
    assert "ignored repo/hw/fashion_mnist.py" in completed.stdout
    assert not Path(called[4]).exists(), "the flat working folder is left behind"


FAKE_GRADER_WITHOUT_SANDBOX = """#!/usr/bin/env bash
# A kit that cannot build its sandbox here: --isolation bwrap exits 4; uid grades.
echo "$@" >> "$AUTOGRADER_ROOT/called-with"
for last; do :; done
if [[ "$last" == bwrap ]]; then exit 4; fi
echo '{"score": 1, "max_score": 1, "execution_time": 0, "tests": [], "extra_data": {"isolation": "uid"}}' > "$7"
"""


def test_run_autograder_falls_back_to_uid_isolation_only_when_the_sandbox_cannot_start(tmp_path):
    tree = _autograder_tree(tmp_path, {"fashion_mnist.py": "# graded\n"})
    fake = tmp_path / "fake-python"
    fake.write_text(FAKE_GRADER_WITHOUT_SANDBOX, encoding="utf-8")
    fake.chmod(0o755)
    completed, results = _run_autograder(tree, python=str(fake))
    assert completed.returncode == 0
    calls = (tree / "called-with").read_text(encoding="utf-8").splitlines()
    assert [call.split()[-1] for call in calls] == ["bwrap", "uid"]
    assert results["score"] == 1 and results["extra_data"]["isolation"] == "uid"
    assert "grading with --isolation uid" in completed.stdout


def test_a_crash_of_the_grading_command_still_leaves_a_zero_result(tmp_path):
    tree = _autograder_tree(tmp_path, {"fashion_mnist.py": "x = 1\n"})
    (tree / "results").mkdir()
    (tree / "results" / "results.json").write_text('{"score": 28, "max_score": 28}', encoding="utf-8")  # stale
    completed, results = _run_autograder(tree, python="/bin/false")
    assert completed.returncode == 0
    assert results["score"] == 0 and results["max_score"] == FASHION_MAX
    assert "Grading failed" in results["output"] and "exit status 1" in results["output"]


def test_a_missing_python_still_leaves_a_zero_result(tmp_path):
    tree = _autograder_tree(tmp_path, {}, assignment=None)
    _, results = _run_autograder(tree, python=str(tmp_path / "no-venv" / "bin" / "python"))
    assert results["score"] == 0
    assert results["max_score"] == sum(graders.load(a).max_score for a in graders.ASSIGNMENT_IDS)
    assert "Grading failed" in results["output"]


@pytest.mark.slow
def test_reference_solution_in_a_subfolder_gets_full_marks(tmp_path):
    solution = (ROOT / "solutions" / "fashion_mnist.py").read_text(encoding="utf-8")
    tree = _autograder_tree(tmp_path, {"my-homework/week 3/fashion_mnist.py": solution})
    completed, results = _run_autograder(tree)
    assert completed.returncode == 0, completed.stderr
    assert results["score"] == results["max_score"] == FASHION_MAX == 29  # 28 + callback_without_accuracy
    assert {test["tags"][0] for test in results["tests"]} == {"fashion_mnist"}
    assert all(test["status"] == "passed" for test in results["tests"])


@pytest.mark.slow
def test_a_submission_without_a_gradable_file_scores_zero_and_says_so(tmp_path):
    tree = _autograder_tree(tmp_path, {"Fashion MNIST (1).py": "x = 1\n", "readme.md": "hi\n"})
    _, results = _run_autograder(tree)
    assert results["score"] == 0 and results["max_score"] == FASHION_MAX
    assert all(test["extra_data"]["outcome"] == "not_attempted" for test in results["tests"])
    # In the packaged course.toml's language (bn): "No fashion_mnist.py or fashion_mnist.ipynb was found".
    assert "জমায় কোনো fashion_mnist.py বা fashion_mnist.ipynb পাওয়া যায়নি" in _messages(results)


@pytest.mark.slow
def test_a_syntax_error_scores_zero_and_says_so(tmp_path):
    tree = _autograder_tree(tmp_path, {"hw/fashion_mnist.py": "def normalize(images:\n"})
    _, results = _run_autograder(tree)
    assert results["score"] == 0 and results["max_score"] == FASHION_MAX
    assert "SyntaxError" in _messages(results)
    assert not any(test["extra_data"]["grader_fault"] for test in results["tests"])
