"""exercises/ and solutions/ are generated from source/, up to date, and leak nothing hidden; one parser reads
the markers; nothing generated lies beside a hand-written file; each public self-check exists twice, no more."""
import ast
import json
import re
import subprocess
import sys

import pytest

from autograder import graders
from autograder.course.markers import MarkerError, solution_version, student_version
from autograder.course.notebooks import source_notebook, student_notebook
from autograder.course.release import planned_outputs, release
from autograder.student import public_tests
from conftest import ROOT

COURSE = ROOT / "autograder" / "course"
GENERATED_FOLDERS = {"exercises", "solutions"}

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


@pytest.mark.parametrize("line", ["x = 1  ### BEGIN SOLUTION", "# BEGIN HIDDEN TESTS", "    ## END SOLUTION"])
def test_a_marker_beside_other_text_is_rejected_since_nbgrader_would_read_it(line):
    with pytest.raises(MarkerError, match=r"<source>:2: a marker must stand alone on its line.*Received: "):
        student_version(f"y = 2\n{line}\nz = 3\n")


def test_a_region_split_across_notebook_cells_is_rejected():
    text = "# %%\ndef f():\n    ### BEGIN SOLUTION\n    return 1\n\n# %%\n    ### END SOLUTION\n"
    student_version(text)  # the .py file alone pairs up ...
    with pytest.raises(MarkerError, match=r"fashion_mnist\.py, cell 1:2: region is never closed"):
        source_notebook(graders.load("fashion_mnist"), text)  # ... its notebook cells do not


# --------------------------------------------------------------------------- one parser, no import cycle
def _kit_imports(path) -> set[str]:
    """Every kit module ``path`` imports, anywhere in the file; ``from a.b import c`` counts a.b and a.b.c."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] == "autograder"}


def test_release_and_notebooks_share_the_one_marker_parser():
    for module in ("release", "notebooks"):
        assert "autograder.course.markers" in _kit_imports(COURSE / f"{module}.py"), module
    marker_words = re.compile(r"(?:BEGIN|END) (?:SOLUTION|HIDDEN TESTS)")
    written_elsewhere = [str(path.relative_to(ROOT)) for path in (ROOT / "autograder").rglob("*.py")
                         if path != COURSE / "markers.py" and marker_words.search(path.read_text(encoding="utf-8"))]
    assert written_elsewhere == [], "the markers are spelled out, or parsed, only in autograder/course/markers.py"


def test_release_imports_notebooks_never_the_other_way_round():
    assert "autograder.course.notebooks" in _kit_imports(COURSE / "release.py")
    assert not {m for m in _kit_imports(COURSE / "notebooks.py") if m.startswith("autograder.course.release")}
    assert not {m for m in _kit_imports(COURSE / "markers.py")}, "markers.py depends on no kit module"


def _loaded_by(statement: str) -> list[str]:
    code = f"{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_release_loads_no_notebook_library_and_notebooks_loads_no_release():
    """course.toml's loader takes KIT_REQUIREMENT from release: nbformat and jupytext (over a second) wait for a
    notebook to make."""
    loaded = _loaded_by("import autograder.course.release")
    assert "autograder.course.notebooks" in loaded
    assert not [m for m in loaded if m.split(".")[0] in ("nbformat", "jupytext")]
    assert "autograder.course.release" not in _loaded_by("import autograder.course.notebooks")


# --------------------------------------------------------------------------- generated apart from the sources
def _git_files(*paths: str) -> list[str]:
    """The files ``git add -A`` would commit under ``paths``: tracked and still there, or new and not ignored."""
    try:
        done = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard",
                               "--", *paths], capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        pytest.skip("git is not installed")
    if done.returncode != 0:
        pytest.skip(f"not a git checkout: {done.stderr.strip()}")
    return sorted({name for name in done.stdout.split("\0") if name and (ROOT / name).is_file()})


@pytest.fixture(scope="module")
def outputs():
    return planned_outputs(ROOT)


def test_release_writes_only_into_the_generated_folders(outputs):
    assert {path.parts[0] for path in outputs} == GENERATED_FOLDERS


def test_every_file_under_source_is_hand_written(outputs):
    files = _git_files("source")
    assert files and all(name.startswith("source/") for name in files)
    assert [name for name in files if name.endswith(".ipynb")] == []
    generated = set(outputs.values()) | {public_tests.read(a) for a in graders.ASSIGNMENT_IDS}
    copies = [name for name in files if (ROOT / name).read_text(encoding="utf-8") in generated]
    assert copies == [], "a generated file, or a copy, lies beside the hand-written sources"


@pytest.mark.parametrize("assignment_id", graders.ASSIGNMENT_IDS)
def test_each_self_check_is_written_once_and_copied_only_beside_the_students_file(assignment_id):
    written = public_tests.path(assignment_id)
    assert written.is_file() and written.parent == ROOT / "autograder" / "student" / "selfcheck"
    copy = ROOT / "exercises" / f"test_{assignment_id}.py"
    assert copy.read_bytes() == written.read_bytes()
    text = written.read_text(encoding="utf-8")
    same = [name for name in _git_files() if name.endswith(".py") and (ROOT / name).read_text(encoding="utf-8") == text]
    assert same == [f"autograder/student/selfcheck/test_{assignment_id}.py", f"exercises/test_{assignment_id}.py"]


def test_the_notebooks_self_check_cells_are_the_kits_self_checks():
    notebook = student_notebook(source_notebook(graders.load("gap"), (ROOT / "source/gap/gap.py").read_text(
        encoding="utf-8"), public_tests.read("gap")))
    with_self_check = [cell.id.removesuffix("-selfcheck") for cell in notebook.cells if cell.id.endswith("-selfcheck")]
    by_function = public_tests.tests_by_function(public_tests.read("gap"), graders.load("gap").student_names)
    assert with_self_check == [name for name, tests in by_function.items() if tests] and with_self_check


def test_committed_exercises_and_solutions_are_up_to_date():
    stale = release(ROOT, check=True)
    assert stale == [], f"run `python -m autograder release`; stale: {stale}"


def test_every_assignment_is_released(outputs):
    for assignment in graders.ASSIGNMENT_IDS:
        for folder in GENERATED_FOLDERS:
            assert (ROOT / folder / f"{assignment}.py").is_file()
            assert (ROOT / folder / f"{assignment}.ipynb").is_file()
        assert any(str(p) == f"exercises/test_{assignment}.py" for p in outputs)


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
