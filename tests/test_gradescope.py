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
from autograder.core.trees import remove_tree
from autograder.course.gradescope import (MAX_SUBMISSION_DEPTH, build_package, collect_submission, collected,
                                          run_settings, strongest_isolation)
from autograder.core.settings import Settings
from autograder.host import isolation
from autograder.publish.results_json import SCHEMA_PATH
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
                     "kit/autograder/student/selfcheck/test_fashion_mnist.py", "kit/autograder/graders/fashion_mnist/checks.py", "kit/autograder/graders/fashion_mnist/probes.py"):
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


ENTRY = '"$PYTHON" -P -m autograder gradescope-run --root "$AUTOGRADER_ROOT"'


def test_run_autograder_calls_one_fixed_entry_naming_only_a_single_assignment_package(tmp_path):
    def script(assignments):
        archive = build_package(tmp_path / "p.zip", root=ROOT, assignments=assignments)
        return zipfile.ZipFile(archive).read("run_autograder").decode()

    single, whole = script(["transfer"]), script(None)
    assert f"{ENTRY} --assignment transfer\n" in single
    assert f"{ENTRY}\n" in whole
    assert [line for line in whole.splitlines() if "autograder" in line and "-m" in line] == [ENTRY]
    assert "--config" not in whole and "--timeout" not in whole and "--isolation" not in whole  # settings: the chain's
    assert f"MAX_SCORE={FASHION_MAX:g}" in script(["fashion_mnist"])


def test_the_fallback_maximum_is_the_packed_courses(tmp_path):
    root = tmp_path / "project"
    shutil.copytree(ROOT / "autograder", root / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(ROOT / name, root / name)
    (root / "course.toml").write_text('[course]\nassignments = ["cnn", "gap"]\n[points.cnn]\ncnn_trains = 10\n',
                                      encoding="utf-8")
    script = zipfile.ZipFile(build_package(tmp_path / "p.zip", root=root)).read("run_autograder").decode()
    cnn = graders.load_configured("cnn", {"cnn": {"cnn_trains": 10}}).max_score
    assert f"MAX_SCORE={cnn + graders.load('gap').max_score:g}\n" in script


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
# Stands in for the kit's python: records how it was called and leaves a result where the kit would.
# Arguments: -P -m autograder gradescope-run --root ROOT [--assignment ID]
echo "$@" > "$AUTOGRADER_ROOT/called-with"
echo '{"score": 1, "max_score": 1, "execution_time": 0, "tests": []}' > "$6/results/results.json"
"""


def test_run_autograder_calls_the_kit_once_through_its_fixed_entry(tmp_path):
    tree = _autograder_tree(tmp_path, {"fashion_mnist.py": "# graded\n"})
    fake = tmp_path / "fake-python"
    fake.write_text(FAKE_GRADER, encoding="utf-8")
    fake.chmod(0o755)
    completed, results = _run_autograder(tree, python=str(fake))
    assert completed.returncode == 0
    assert results["score"] == 1
    called = (tree / "called-with").read_text(encoding="utf-8").split()
    # -P: the working folder is not on sys.path; everything else comes from the settings chain.
    assert called == ["-P", "-m", "autograder", "gradescope-run", "--root", str(tree), "--assignment", "fashion_mnist"]


def _touch(path: Path, text: str = "x\n", mtime: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def test_collect_submission_takes_the_shallowest_copy_of_each_gradable_file(tmp_path):
    submission, into = tmp_path / "submission", tmp_path / "into"
    into.mkdir()
    _touch(submission / "repo" / "hw" / "fashion_mnist.py", "# deeper copy: ignored\n")
    _touch(submission / "repo" / "fashion_mnist.py", "# shallowest copy: graded\n", mtime=1_000_000)
    _touch(submission / "repo" / "hw" / "fashion_mnist.ipynb", "{}\n")
    _touch(submission / "repo" / "cnn.py", "# not this package's assignment\n")
    _touch(submission / "__MACOSX" / "repo" / "fashion_mnist.py", "# archive debris\n")
    _touch(submission / "notes.txt", "not code\n")
    (submission / "fashion_mnist.ipynb").symlink_to(submission / "repo" / "hw" / "fashion_mnist.ipynb")  # a link
    lines = collect_submission(submission, into, ("fashion_mnist",))
    assert sorted(p.name for p in into.iterdir()) == ["fashion_mnist.ipynb", "fashion_mnist.py"]
    assert (into / "fashion_mnist.py").read_text(encoding="utf-8") == "# shallowest copy: graded\n"
    assert (into / "fashion_mnist.py").stat().st_mtime == 1_000_000  # the newer-of-.py-and-.ipynb rule still holds
    assert not (into / "fashion_mnist.ipynb").is_symlink()
    assert lines == ["collected repo/fashion_mnist.py", "collected repo/hw/fashion_mnist.ipynb",
                     "ignored repo/hw/fashion_mnist.py: fashion_mnist.py was already taken from a shallower folder"]


def test_an_upload_nested_a_thousand_folders_deep_is_searched_to_a_depth_and_collected(tmp_path):
    """os.walk recursed once per folder: an upload 1,100 folders deep ended gradescope-run (RecursionError)."""
    submission, into = tmp_path / "submission", tmp_path / "into"
    into.mkdir()
    _touch(submission / "fashion_mnist.py", "# graded\n")
    folder = os.open(submission, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(1100):  # relative to each level: the whole path would be too long
        os.mkdir("d", dir_fd=folder)
        inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=folder)
        os.close(folder)
        folder = inner
    os.close(folder)
    _touch(submission / "a" / "b" / "cnn.py", "# found below the top\n")
    _touch(submission.joinpath(*["x"] * (MAX_SUBMISSION_DEPTH + 1)) / "gap.py", "# deeper than searched\n")
    try:
        lines = collect_submission(submission, into, ("fashion_mnist", "cnn", "gap"))
    finally:
        remove_tree(submission)  # pytest's own clean-up recurses
    assert lines == ["collected fashion_mnist.py", "collected a/b/cnn.py"]


def test_the_collected_folder_is_removed_afterwards(tmp_path):
    _touch(tmp_path / "submission" / "gap.py")
    with collected(tmp_path / "submission", ("gap",)) as folder:
        assert [p.name for p in folder.iterdir()] == ["gap.py"]
    assert not folder.exists()
    assert collect_submission(tmp_path / "missing", tmp_path, ("gap",)) == [f"no submission folder at {tmp_path / 'missing'}"]


def test_gradescope_run_takes_its_settings_from_the_packed_course_toml(tmp_path):
    tree = _autograder_tree(tmp_path, {})
    (tree / "source" / "course.toml").write_text("[course]\nseed = 7\n[limits]\nstep_timeout = 2\n", encoding="utf-8")
    settings = run_settings(tree, "fashion_mnist", environ={"TF2_KIT_MEMORY_MB": "2048"})
    assert (settings.seed, settings.step_timeout, settings.memory_mb) == (7, 2.0, 2048)
    assert settings.assignments == ("fashion_mnist",)
    assert settings.origin("seed") == str(tree / "source" / "course.toml")
    assert settings.origin("memory_mb") == "TF2_KIT_MEMORY_MB"
    assert settings.origin("assignments") == "run_autograder --assignment"
    assert run_settings(tree, None, environ={}).assignments == graders.ASSIGNMENT_IDS


def test_gradescope_falls_back_to_uid_isolation_only_when_bubblewrap_cannot_sandbox(monkeypatch, capsys):
    def refuse(self):
        raise isolation.IsolationUnavailable("user namespaces are blocked here")

    assert strongest_isolation(Settings()) == Settings()  # (this machine's bubblewrap works, or this test fails)
    monkeypatch.setattr(isolation.Isolation, "verify", refuse)
    fallback = strongest_isolation(Settings())
    assert fallback.isolation == "uid" and fallback.origin("isolation").startswith("Gradescope")
    assert "grading with --isolation uid (an unprivileged user)" in capsys.readouterr().out
    chosen = Settings().overridden("TF2_KIT_ISOLATION", isolation="none")
    assert strongest_isolation(chosen) is chosen  # a level asked for by name is kept


@pytest.mark.slow
def test_run_autograder_applies_the_packed_course_limits(tmp_path):
    tree = _autograder_tree(tmp_path, {"fashion_mnist.py": "class Stuck:\n    while True:\n        pass\n"})
    (tree / "source" / "course.toml").write_text('[course]\nlanguage = "en"\n[limits]\nstep_timeout = 2\n',
                                                 encoding="utf-8")
    completed, results = _run_autograder(tree)
    assert completed.returncode == 0, completed.stderr
    assert {test["extra_data"]["outcome"] for test in results["tests"]} == {"timeout"}
    assert "did not finish within 2 s" in results["tests"][0]["output"]  # the course's 2 s, not the default 60 s
    assert "collected fashion_mnist.py" in completed.stdout


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
