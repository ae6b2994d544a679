"""Notebooks: valid, up to date, nothing hidden for students, stable cell ids, graded like the .py file."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import graders
from autograder.host.grading import find_submission_file, judge_file
from autograder.course.notebooks import SETUP_UNAVAILABLE, check_cell_id, setup_source, source_notebook, student_notebook
from autograder.core.outcomes import Outcome
from autograder.course.release import kit_requirement_of, release
from autograder.host.runner import Limits
from autograder.student import public_tests
from conftest import ROOT
from corpus import BASES, MISTAKES

LIMITS = Limits(step_timeout=60)
NOTEBOOK_FOLDERS = ("exercises", "solutions")


def load(path):
    return nbformat.read(path, as_version=4)


def build(assignment_id, text=None):
    """nbgrader's source notebook, made as release and nbgrader-course make it (it is not kept)."""
    source = ROOT / "source" / assignment_id / f"{assignment_id}.py"
    tests = public_tests.read(assignment_id)
    return source_notebook(graders.load(assignment_id), text or source.read_text(encoding="utf-8"), tests)


@pytest.mark.parametrize("assignment_id", graders.ASSIGNMENT_IDS)
def test_every_notebook_is_valid_nbformat_4(assignment_id):
    notebooks = {"source notebook": nbformat.reads(nbformat.writes(build(assignment_id)), as_version=4)}
    for folder in NOTEBOOK_FOLDERS:
        path = ROOT / folder / f"{assignment_id}.ipynb"
        notebooks[path] = load(path)
    for path, notebook in notebooks.items():
        nbformat.validate(notebook)
        assert notebook.nbformat == 4 and notebook.nbformat_minor >= 5, path
        ids = [cell.id for cell in notebook.cells]
        assert len(ids) == len(set(ids)), f"duplicate cell ids in {path}"


@pytest.mark.parametrize("assignment_id", graders.ASSIGNMENT_IDS)
def test_source_notebook_has_one_test_cell_per_check_with_its_points(assignment_id):
    assignment = graders.load(assignment_id)
    notebook = build(assignment_id)
    tests = {cell.id: cell for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("grade")}
    assert len(tests) == len(assignment.checks)
    for check in assignment.checks:
        cell = tests[check_cell_id(assignment_id, check.id)]
        assert cell.metadata.nbgrader["points"] == check.points
        assert re.search(r"### BEGIN HIDDEN TESTS\n.*check_score\(\"%s\", \"%s\"\)\n### END HIDDEN TESTS"
                         % (assignment_id, check.id), cell.source, re.S)
    solutions = [c.id for c in notebook.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert solutions == list(assignment.student_names)
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader")
        if cell.cell_type == "markdown":
            assert meta and meta["locked"] and not meta["grade"] and not meta["solution"], cell.id


@pytest.mark.parametrize("assignment_id", graders.ASSIGNMENT_IDS)
def test_student_notebooks_hold_no_hidden_test_or_solution(assignment_id):
    assignment = graders.load(assignment_id)
    notebook = load(ROOT / "exercises" / f"{assignment_id}.ipynb")
    text = json.dumps(notebook, ensure_ascii=False)
    assert "HIDDEN TESTS" not in text and "check_score" not in text and "SOLUTION" not in text
    for check in assignment.checks:
        assert f'"{check.id}"' not in text
    source = build(assignment_id)
    for original, released in zip(source.cells, notebook.cells):
        if not original.metadata.get("nbgrader", {}).get("solution"):
            continue
        answer = re.search(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", original.source, re.S).group(1)
        kept = [line for line in answer.splitlines() if line.strip() and line in released.source.splitlines()]
        assert not kept, (released.id, kept)
        assert 'raise NotImplementedError("' in released.source
    assert all(cell.outputs == [] and cell.execution_count is None
               for cell in notebook.cells if cell.cell_type == "code")


def test_cell_ids_are_stable_when_the_source_is_edited():
    original = build("gap")
    again = build("gap")
    assert [c.id for c in original.cells] == [c.id for c in again.cells]
    text = (ROOT / "source" / "gap" / "gap.py").read_text(encoding="utf-8")
    edited_text = text.replace("## ধাপ ২: কনভলিউশনাল \"হেড\"", "## ধাপ ২: হেড (নতুন শিরোনাম)", 1)
    assert edited_text != text
    edited = build("gap", edited_text)
    changed = [a.id for a, b in zip(original.cells, edited.cells) if a.source != b.source]
    assert len(changed) == 1 and [c.id for c in original.cells] == [c.id for c in edited.cells]
    # a new instruction cell renumbers only its own section
    inserted_text = text.replace("# %%\ndef build_head(", "# %% [markdown]\n# A new note.\n\n# %%\ndef build_head(", 1)
    inserted = {c.id for c in build("gap", inserted_text).cells}
    assert {c.id for c in original.cells} <= inserted and len(inserted) == len(original.cells) + 1


def test_the_solution_notebook_is_the_student_notebook_with_answers():
    source = build("cnn")
    student, solved = student_notebook(source), student_notebook(source, with_solutions=True)
    differ = [(a.id, a.metadata == b.metadata) for a, b in zip(student.cells, solved.cells) if a.source != b.source]
    assert [cell_id for cell_id, _ in differ] == list(graders.load("cnn").student_names)
    assert all(same_metadata for _, same_metadata in differ)


# --------------------------------------------------------------------------- without the kit (Colab, offline)
WITHOUT_KIT = [sys.executable, "-I", "-S", "-X", "utf8"]  # no site-packages, no current folder: no kit
KIT_MISSING_NOTE = "The kit is not installed"


def run_cells(command, cells, cwd):
    """Run code cells one after another in one process sharing one namespace, as a kernel does;
    returns the exit status and each cell's printed output."""
    driver = ("import json, sys\nnamespace = {'__name__': '__main__'}\n"
              "for code in json.loads(sys.stdin.read()):\n"
              "    exec(compile(code, '<cell>', 'exec'), namespace)\n"
              "    print('\\0', flush=True)")
    done = subprocess.run([*command, "-c", driver], input=json.dumps(cells), capture_output=True,
                          encoding="utf-8", cwd=cwd, timeout=300)
    return done.returncode, done.stdout.split("\0\n")[:-1], done.stderr


def test_the_kit_is_not_importable_in_the_stand_in_for_a_fresh_colab(tmp_path):
    status, printed, _ = run_cells(WITHOUT_KIT, ["import importlib.util\nprint(importlib.util.find_spec('autograder'))"],
                                   tmp_path)
    assert status == 0 and printed == ["None\n"]


def test_setup_cell_says_in_one_sentence_when_the_kit_cannot_be_installed(tmp_path):
    """A requirement pip cannot install (here a missing local path; on Colab a wrong URL or no network):
    the cell prints one bilingual sentence, raises nothing, and the student's code still runs after it."""
    student_code = "def double(x):\n    return 2 * x\nprint(double(21))"
    status, printed, stderr = run_cells(WITHOUT_KIT, [setup_source(str(tmp_path / "no-such-kit")), student_code],
                                        tmp_path)
    assert status == 0, stderr
    assert printed == [SETUP_UNAVAILABLE + "\n", "42\n"] and stderr == ""
    bengali, english = SETUP_UNAVAILABLE.split(" / ")
    assert re.search(r"[\u0980-\u09FF]", bengali) and "তুমি" in bengali
    assert "could not be installed" in english and "you can still write and run your code" in english


def test_setup_cell_does_nothing_when_the_kit_imports(tmp_path):
    # pip would fail on this path and the cell would say so: silence means pip never ran
    status, printed, stderr = run_cells([sys.executable, "-X", "utf8"], [setup_source(str(tmp_path / "no-such-kit"))], tmp_path)
    assert (status, printed, stderr) == (0, [""], "")


def test_without_the_kit_every_kit_cell_of_the_student_notebook_says_so_in_one_line(tmp_path):
    notebook = student_notebook(build("fashion_mnist"))
    kit_cells = [cell for cell in notebook.cells if cell.cell_type == "code" and
                 (cell.id == "grade-yourself" or cell.id.endswith("-selfcheck"))]
    assert len(kit_cells) == len(graders.load("fashion_mnist").student_names) + 1
    status, printed, stderr = run_cells(WITHOUT_KIT, [cell.source for cell in kit_cells], tmp_path)
    assert status == 0, stderr
    assert len(printed) == len(kit_cells) and stderr == ""
    for output in printed:
        assert output.count("\n") == 1 and " / " in output and KIT_MISSING_NOTE in output, output


def test_the_courses_kit_requirement_is_what_the_released_notebooks_install(tmp_path):
    wheel = "https://example.org/course/tf2_exercise_kit-0.1.0-py3-none-any.whl"
    shutil.copytree(ROOT / "source" / "gap", tmp_path / "source" / "gap", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "course.toml").write_text(f'[course]\nkit_requirement = "{wheel}"\n', encoding="utf-8")
    assert kit_requirement_of(tmp_path) == wheel
    release(tmp_path)
    assert sorted(p.name for p in (tmp_path / "source" / "gap").iterdir()) == ["equivalent_mutants.toml", "gap.py"]
    for path in (tmp_path / "exercises" / "gap.ipynb", tmp_path / "solutions" / "gap.ipynb"):
        first = load(path).cells[0]
        assert first.id == "setup" and first.source == setup_source(wheel), path
        assert f'requirement = "{wheel}"' in first.source
    assert release(tmp_path, check=True) == []
    other = tmp_path / "other.toml"  # release --config: another course file, another requirement
    other.write_text('[course]\nkit_requirement = "git+https://github.com/someone/tf2-exercise-kit"\n',
                     encoding="utf-8")
    assert Path("exercises/gap.ipynb") in release(tmp_path, check=True, config=other)


def test_the_committed_notebooks_install_the_kit_requirement_of_course_toml():
    requirement = kit_requirement_of(ROOT)
    for folder in NOTEBOOK_FOLDERS:
        assert load(ROOT / folder / "gap.ipynb").cells[0].source == setup_source(requirement)


def test_nbgrader_course_takes_the_requirement_from_the_course_unless_given(tmp_path):
    from autograder.cli import main

    config = tmp_path / "course.toml"
    config.write_text('[course]\nkit_requirement = "git+https://github.com/teacher/tf2-exercise-kit"\n',
                      encoding="utf-8")
    first_cell = lambda course: load(course / "source" / "cnn" / "cnn.ipynb").cells[0].source  # noqa: E731
    common = ["--root", str(ROOT), "--assignment", "cnn", "--config", str(config)]
    assert main(["nbgrader-course", str(tmp_path / "a"), *common]) == 0
    assert first_cell(tmp_path / "a") == setup_source("git+https://github.com/teacher/tf2-exercise-kit")
    assert main(["nbgrader-course", str(tmp_path / "b"), *common, "--kit-requirement", "/srv/kit.whl"]) == 0
    assert first_cell(tmp_path / "b") == setup_source("/srv/kit.whl")


# --------------------------------------------------------------------------- grading notebooks
def as_notebook(path, code: str, *extra_cells: str):
    """A student's notebook: one cell per top-level block, magics and a training cell mixed in."""
    blocks = re.split(r"\n(?=def |class )", code.strip())
    cells = [nbformat.v4.new_markdown_cell("# My homework"), nbformat.v4.new_code_cell("%matplotlib inline")]
    cells += [nbformat.v4.new_code_cell(block) for block in blocks]
    cells += [nbformat.v4.new_code_cell(extra) for extra in extra_cells]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


TRAINING_CELL = "import time\nmodel = build_dense_classifier()\ntime.sleep(3600)\nmodel.fit(x, y, epochs=50)"


@pytest.mark.slow
def test_a_notebook_grades_exactly_like_the_same_code_in_a_py_file(tmp_path, grading_context):
    variant = next(v for v in MISTAKES if v.name == "64 hidden units")
    assignment = graders.load(variant.assignment)
    script = tmp_path / "py" / f"{variant.assignment}.py"
    script.parent.mkdir()
    script.write_text(variant.source(), encoding="utf-8")
    notebook = as_notebook(tmp_path / f"{variant.assignment}.ipynb", variant.source(), TRAINING_CELL)
    from_script = judge_file(assignment, script, context=grading_context, limits=LIMITS)
    from_notebook = judge_file(assignment, notebook, context=grading_context, limits=LIMITS)
    assert [(c.check_id, c.outcome, c.score) for c in from_notebook] == \
           [(c.check_id, c.outcome, c.score) for c in from_script]
    assert {c.check_id for c in from_notebook if not c.passed} == set(variant.breaks)


@pytest.mark.slow
def test_a_broken_cell_costs_only_the_checks_of_what_it_defines(tmp_path, grading_context):
    code = BASES["fashion_mnist"].replace("class AccuracyCallback(keras.callbacks.Callback):",
                                          "class AccuracyCallback(keras.callbacks.Callback)")
    notebook = as_notebook(tmp_path / "fashion_mnist.ipynb", code)
    results = judge_file(graders.load("fashion_mnist"), notebook, context=grading_context, limits=LIMITS)
    lost = [c for c in results if not c.passed]
    assert lost and all(c.check_id.startswith("callback") for c in lost)
    assert all(c.outcome is Outcome.ERROR and "does not parse" in c.message and "code cell" in c.message
               for c in lost)
    assert sum(c.score for c in results) == sum(c.max_score for c in results if not c.check_id.startswith("callback"))


@pytest.mark.slow
def test_a_notebook_that_is_not_json_is_an_error_for_every_check(tmp_path, grading_context):
    path = tmp_path / "cnn.ipynb"
    path.write_text('{"cells": [', encoding="utf-8")
    results = judge_file(graders.load("cnn"), path, context=grading_context, limits=LIMITS)
    assert all(c.outcome is Outcome.ERROR and c.score == 0 for c in results)
    assert "cnn.ipynb could not be read as a notebook" in results[0].message


@pytest.mark.slow
def test_an_error_in_a_notebook_names_the_cell_and_line(tmp_path, grading_context):
    code = BASES["fashion_mnist"].replace("images = tf.cast(images, tf.float32) / 255.0",
                                          "images = tf.cast(images, tf.float32) / 255.0\n    images = images.no_such_thing")
    notebook = as_notebook(tmp_path / "fashion_mnist.ipynb", code)
    results = judge_file(graders.load("fashion_mnist"), notebook, context=grading_context, limits=LIMITS)
    messages = {c.message for c in results if c.check_id.startswith("normalize") and not c.passed}
    assert any("your notebook, code cell 3, line 3: `images = images.no_such_thing`" in m for m in messages), messages


def test_the_newer_of_a_py_file_and_a_notebook_is_graded(tmp_path):
    import os

    script, notebook = tmp_path / "cnn.py", tmp_path / "cnn.ipynb"
    script.write_text("x = 1", encoding="utf-8")
    notebook.write_text("{}", encoding="utf-8")
    os.utime(script, (1_000_000, 1_000_000))
    os.utime(notebook, (1_000_100, 1_000_100))
    assert find_submission_file(tmp_path, "cnn") == (notebook, "graded cnn.ipynb, which is newer than cnn.py")
    os.utime(notebook, (1_000_001, 1_000_001))
    chosen, note = find_submission_file(tmp_path, "cnn")
    assert chosen == script and "cnn.ipynb is not newer" in note
    notebook.unlink()
    assert find_submission_file(tmp_path, "cnn") == (script, "")


# --------------------------------------------------------------------------- running the notebooks
def run_notebook(path, tmp_path):
    """Execute a notebook top to bottom in a real kernel, as Jupyter's "Run all" does, minus the demo."""
    nbclient = pytest.importorskip("nbclient", reason="nbclient comes with the [instructor] extra")
    notebook = load(path)
    demo = [c for c in notebook.cells if c.cell_type == "code" and 'if __name__ == "__main__"' in c.source]
    assert len(demo) == 1
    notebook.cells.remove(demo[0])  # it trains on the real dataset when online; not a test's job
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    return {cell.id: "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
            for cell in notebook.cells if cell.cell_type == "code"}


@pytest.mark.slow
def test_the_solution_notebook_runs_and_its_self_checks_and_grade_pass(tmp_path):
    printed = run_notebook(ROOT / "solutions" / "fashion_mnist.ipynb", tmp_path)
    for name in graders.load("fashion_mnist").student_names:
        assert "all self-checks passed" in printed[f"{name}-selfcheck"], printed[f"{name}-selfcheck"]
        assert "✗" not in printed[f"{name}-selfcheck"]
    full = f"{sum(c.points for c in graders.load('fashion_mnist').checks):g}"
    assert f"Total: {full}/{full}" in printed["grade-yourself"], printed["grade-yourself"]


@pytest.mark.slow
def test_the_student_notebook_runs_and_says_what_is_missing(tmp_path):
    printed = run_notebook(ROOT / "exercises" / "fashion_mnist.ipynb", tmp_path)
    assert "✗ normalize numpy: normalize এখনো লেখা হয়নি / is not implemented yet" in printed["normalize-selfcheck"]
    full = f"{sum(c.points for c in graders.load('fashion_mnist').checks):g}"
    assert f"Total: 0/{full}" in printed["grade-yourself"]
    assert "is not implemented yet" in printed["grade-yourself"]
