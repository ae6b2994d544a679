"""nbgrader round trip with nbgrader's own commands, on a course made by `python -m autograder nbgrader-course`.

The commands are the README's: generate_assignment, release_assignment, fetch_assignment and
submit (a student on this machine), collect, autograde, generate_feedback, export.
"""
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import graders, kernel
from autograder.course.notebooks import check_cell_id
from conftest import ROOT, run_cli

pytest.importorskip("nbgrader", reason="nbgrader is not installed (make install adds it with the [instructor] extra)")
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("nbgrader")]  # one course, one test process

COURSE_ID = "tf2-course"
ASSIGNMENT = "fashion_mnist"  # the quickest to grade; the other notebooks are compared with nbgrader's release


def nbgrader(*args: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run([str(Path(sys.executable).with_name("nbgrader")), *args], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


# Session scope: pytest-xdist's loadgroup may interleave other modules' tests on this worker, and a
# module-scoped fixture would then be torn down and the whole nbgrader course built again.
@pytest.fixture(scope="session")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("nbgrader")
    course_dir = root / "course"
    env = {**os.environ,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",  # nbgrader runs alembic
           "JUPYTER_CONFIG_DIR": str(root / "jupyter-config"),  # no personal nbgrader config leaks in
           "JUPYTER_DATA_DIR": str(root / "jupyter-data")}
    made = run_cli("nbgrader-course", str(course_dir), "--root", str(ROOT), "--course-id", COURSE_ID)
    assert made.returncode == 0, made.stderr
    nbgrader("generate_assignment", "*", cwd=course_dir, env=env)  # every assignment: one nbgrader start
    return {"dir": course_dir, "root": root, "env": env}


@pytest.mark.parametrize("assignment_id", graders.ASSIGNMENT_IDS)
def test_nbgrader_releases_exactly_the_kits_student_notebook(course, assignment_id):
    released = course["dir"] / "release" / assignment_id / f"{assignment_id}.ipynb"
    assert released.read_text(encoding="utf-8") == (ROOT / "exercises" / f"{assignment_id}.ipynb").read_text(
        encoding="utf-8"), "run `python -m autograder release`, or nbgrader changed how it releases"
    assert sorted(p.name for p in released.parent.iterdir()) == [f"{assignment_id}.ipynb"]


def with_mistake(notebook_path: Path, target: Path, old: str, new: str) -> None:
    notebook = nbformat.read(notebook_path, as_version=4)
    cells = [cell for cell in notebook.cells if old in cell.source and cell.cell_type == "code"]
    assert len(cells) == 1, f"expected one cell holding {old!r}"
    cells[0].source = cells[0].source.replace(old, new)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)


@pytest.fixture(scope="session")
def graded(course):
    course_dir, env = course["dir"], course["env"]
    exchange = f"--Exchange.root={course_dir / 'exchange'}"
    nbgrader("release_assignment", ASSIGNMENT, cwd=course_dir, env=env)
    # A student on this machine fetches, solves (the reference solution) and submits.
    student_home = course["root"] / "student"
    student_home.mkdir()
    nbgrader("fetch_assignment", ASSIGNMENT, "--course", COURSE_ID, exchange, cwd=student_home, env=env)
    fetched = student_home / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    shutil.copyfile(ROOT / "solutions" / f"{ASSIGNMENT}.ipynb", fetched)
    nbgrader("submit", ASSIGNMENT, "--course", COURSE_ID, exchange, cwd=student_home, env=env)
    nbgrader("collect", ASSIGNMENT, cwd=course_dir, env=env)
    submitted = course_dir / "submitted"
    solver = [p.name for p in submitted.iterdir()]
    assert len(solver) == 1, solver
    # Two more hand-ins placed straight into submitted/: the untouched stubs, and one realistic mistake.
    stub = submitted / "stub-student" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    stub.parent.mkdir(parents=True)
    shutil.copyfile(ROOT / "exercises" / f"{ASSIGNMENT}.ipynb", stub)
    with_mistake(ROOT / "solutions" / f"{ASSIGNMENT}.ipynb", submitted / "wrong-student" / ASSIGNMENT /
                 f"{ASSIGNMENT}.ipynb", "layers.Dense(128", "layers.Dense(64")
    nbgrader("autograde", ASSIGNMENT, cwd=course_dir, env=env)
    nbgrader("generate_feedback", ASSIGNMENT, cwd=course_dir, env=env)
    nbgrader("export", cwd=course_dir, env=env)
    return {"solver": solver[0], **course}


def gradebook_scores(course_dir: Path, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
        return {grade.name: grade.score for grade in notebook.grades}


@pytest.fixture(scope="session")
def kit_graded(graded, tmp_path_factory) -> Path:
    """The three hand-ins graded by the kit's own grade-all (one zygote for all three): OUT/<student>/results.json."""
    class_dir, out = tmp_path_factory.mktemp("kit-class"), tmp_path_factory.mktemp("kit-results")
    for student in (graded["solver"], "stub-student", "wrong-student"):
        (class_dir / student).mkdir()
        shutil.copyfile(graded["dir"] / "submitted" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb",
                        class_dir / student / f"{ASSIGNMENT}.ipynb")
    result = run_cli("grade-all", str(class_dir), "--out", str(out), "--assignment", ASSIGNMENT)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def kit_scores(kit_graded: Path, student: str) -> dict[str, float]:
    tests = json.loads((kit_graded / student / "results.json").read_text(encoding="utf-8"))["tests"]
    return {check_cell_id(ASSIGNMENT, t["extra_data"]["check_id"]): t["score"] for t in tests}


def test_autograde_gives_the_reference_full_marks_and_the_stubs_zero(graded):
    maximum = graders.load(ASSIGNMENT).max_score
    with open(graded["dir"] / "grades.csv", encoding="utf-8") as export:
        rows = {row["student_id"]: row for row in csv.DictReader(export) if row["assignment"] == ASSIGNMENT}
    assert float(rows[graded["solver"]]["score"]) == maximum == float(rows[graded["solver"]]["max_score"])
    assert float(rows["stub-student"]["score"]) == 0
    scores = gradebook_scores(graded["dir"], graded["solver"])
    assert set(scores) == {check_cell_id(ASSIGNMENT, c.id) for c in graders.load(ASSIGNMENT).checks}


@pytest.mark.parametrize("student", ["wrong-student", "stub-student", "solver"])
def test_autograde_awards_what_the_kit_awards_check_by_check(graded, kit_graded, student):
    student = graded["solver"] if student == "solver" else student
    expected = kit_scores(kit_graded, student)
    assert gradebook_scores(graded["dir"], student) == expected
    if student == "wrong-student":
        assert 0 < sum(expected.values()) < graders.load(ASSIGNMENT).max_score


def test_feedback_shows_results_but_no_hidden_test_code(graded):
    for student in (graded["solver"], "stub-student", "wrong-student"):
        page = (graded["dir"] / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text(encoding="utf-8")
        assert "check_score" not in page and "BEGIN HIDDEN TESTS" not in page
        assert "Traceback (most recent call last)" not in page
        assert "hidden check" in page
    wrong = (graded["dir"] / "feedback" / "wrong-student" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text(encoding="utf-8")
    assert "101,770" in wrong or "101770" in wrong  # the kit's message about the parameter count


# --- the course's settings reach nbgrader's grading -----------------------------------------------
COURSE_TOML = ('[course]\nlanguage = "en"\nseed = 7\n[limits]\nstep_timeout = 2\nsubmission_timeout = 100\n'
               "[points.fashion_mnist]\ndense_layers = 4\n")


@pytest.fixture
def configured_course(tmp_path):
    config = tmp_path / "my-course.toml"
    config.write_text(COURSE_TOML, encoding="utf-8")
    course_dir = tmp_path / "course"
    made = run_cli("nbgrader-course", str(course_dir), "--root", str(ROOT), "--config", str(config),
                   "--assignment", ASSIGNMENT)
    assert made.returncode == 0, made.stderr
    return course_dir


def test_the_course_folder_hands_its_course_toml_to_the_test_cells(configured_course):
    assert (configured_course / "course.toml").read_text(encoding="utf-8") == COURSE_TOML
    loader = ("import json, os, runpy, sys\nfrom traitlets.config import Config\nconfig = Config()\n"
              "runpy.run_path(sys.argv[1], init_globals={'get_config': lambda: config})\n"
              "print(json.dumps([os.environ['TF2_KIT_CONFIG'], config.Execute.timeout]))\n")
    env = {k: v for k, v in os.environ.items() if k != "TF2_KIT_CONFIG"}
    loaded = subprocess.run([sys.executable, "-c", loader, str(configured_course / "nbgrader_config.py")],
                            capture_output=True, text=True, env=env, timeout=120)
    assert loaded.returncode == 0, loaded.stderr
    named, timeout = json.loads(loaded.stdout)
    assert Path(named) == configured_course / "course.toml"
    assert timeout == 100 + 60  # the course's submission_timeout, and a minute to report it
    notebook = nbformat.read(configured_course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    points = {cell.metadata["nbgrader"]["grade_id"]: cell.metadata["nbgrader"].get("points")
              for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("grade")}
    assert points[check_cell_id(ASSIGNMENT, "dense_layers")] == 4


def test_the_test_cells_grade_with_the_course_toml_that_nbgrader_names(configured_course, monkeypatch):
    """check_score's grading (a child process, as grade-all's) applies the course's limits, seed and points."""
    monkeypatch.setenv("TF2_KIT_CONFIG", str(configured_course / "course.toml"))  # what nbgrader_config.py sets
    # A default value is computed as the def runs, at import: this one never ends (a sum of endless zeros).
    end, settings = kernel._grade_cells(ASSIGNMENT, ["def stuck(total=sum(iter(int, 1))):\n    return total\n"])
    applied = end.record["settings"]
    assert (applied["seed"], applied["step_timeout"], applied["points"]) == (7, 2.0, {ASSIGNMENT: {"dense_layers": 4.0}})
    tests = kernel._as_tests(end, settings)["tests"]
    assert {t["extra_data"]["outcome"] for t in tests} == {"timeout"}
    assert "did not finish within 2 s" in tests[0]["output"]
    configured = graders.load_configured(ASSIGNMENT, {ASSIGNMENT: {"dense_layers": 4}}).max_score
    assert sum(t["max_score"] for t in tests) == configured != graders.load(ASSIGNMENT).max_score
