"""The package layout keeps the trust boundary: what runs beside student code imports nothing that judges it.

Three sides, told apart by path:
- the worker side runs inside the sandbox, beside student code: ``autograder/worker/``, every grader's
  ``probes.py`` and ``contract.py``, ``autograder/graders/__init__.py`` and ``autograder/core/``;
- the host side judges: ``autograder/host/``, ``publish/``, ``course/``, ``classroom/``, ``audit/``, every
  grader's ``checks.py``/``models.py``, ``cli.py``;
- the student package is what students install (``course.student_package.STUDENT_FILES``).

Imports are read from the source (every ``import``, at module level or inside a function), and, because a
static reading can miss an import made by name, each side is also imported for real in a fresh
interpreter and its ``sys.modules`` inspected.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import graders
from autograder.course.student_package import STUDENT_FILES, build_wheel

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "autograder"
HOST_PACKAGES = ("host", "publish", "course", "classroom", "audit")
MAX_TOP_LEVEL_MODULES = 10


def _relative(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def is_worker_side(relative: str) -> bool:
    parts = relative.split("/")
    return (parts[0] in ("worker", "core") or relative == "graders/__init__.py"
            or (parts[0] == "graders" and parts[-1] in ("probes.py", "contract.py")))


def is_host_side(relative: str) -> bool:
    parts = relative.split("/")
    return (parts[0] in HOST_PACKAGES or relative == "cli.py"
            or (parts[0] == "graders" and parts[-1] in ("checks.py", "models.py", "pytest_plugin.py",
                                                        "test_hidden_checks.py")))


def imported_modules(path: Path) -> set[str]:
    """Every kit module ``path`` imports; ``from autograder.x import y`` counts as ``autograder.x.y`` as well,
    since ``y`` may be a module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "autograder" or name.startswith("autograder.")}


def is_worker_module(name: str) -> bool:
    return name.startswith("autograder.worker") or (name.startswith("autograder.graders.")
                                                    and name.endswith(".probes"))


def is_host_module(name: str) -> bool:
    parts = name.split(".")
    return (len(parts) > 1 and parts[1] in (*HOST_PACKAGES, "cli")) or (
        parts[:2] == ["autograder", "graders"] and parts[-1] in ("checks", "models", "pytest_plugin"))


def _modules(predicate) -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if predicate(_relative(p)) and "selfcheck" not in p.parts)


def test_the_sides_are_told_apart_by_path():
    """Every grader has both halves, and each side holds modules (an empty side would make the rules vacuous)."""
    for assignment in graders.ASSIGNMENT_IDS:
        assert (PACKAGE / "graders" / assignment / "probes.py").is_file(), assignment
        assert (PACKAGE / "graders" / assignment / "checks.py").is_file(), assignment
    assert len(_modules(is_worker_side)) >= 15 and len(_modules(is_host_side)) >= 25
    assert not set(_modules(is_worker_side)) & set(_modules(is_host_side))


@pytest.mark.parametrize("path", _modules(is_worker_side), ids=_relative)
def test_worker_side_imports_no_host_code(path):
    host = sorted(name for name in imported_modules(path) if is_host_module(name))
    assert not host, f"{_relative(path)} runs beside student code but imports judging code: {host}"


@pytest.mark.parametrize("path", _modules(is_host_side), ids=_relative)
def test_host_side_imports_no_worker_code(path):
    worker = sorted(name for name in imported_modules(path) if is_worker_module(name))
    assert not worker, f"{_relative(path)} judges but imports code that runs beside student code: {worker}"


def test_the_rules_catch_a_crossing(tmp_path):
    """The readers above see imports anywhere in a file, in both spellings."""
    probe = tmp_path / "probes.py"
    probe.write_text("def f():\n    from autograder.host import evidence\n", encoding="utf-8")
    checks = tmp_path / "checks.py"
    checks.write_text("from autograder.graders.gap import probes\nimport autograder.worker.main\n", encoding="utf-8")
    assert any(is_host_module(n) for n in imported_modules(probe))
    assert sum(is_worker_module(n) for n in imported_modules(checks)) == 2


def _loaded_after(code: str) -> list[str]:
    completed = subprocess.run([sys.executable, "-c", code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
                               capture_output=True, text=True, cwd=ROOT, timeout=300,
                               env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert completed.returncode == 0, completed.stderr[-2000:]
    return [name for name in json.loads(completed.stdout.strip().splitlines()[-1]) if name.startswith("autograder")]


def test_the_worker_with_every_probe_loaded_holds_no_host_module():
    loaded = _loaded_after("import autograder.worker.main\nfrom autograder import graders\n"
                           "for i in graders.ASSIGNMENT_IDS: graders.load_probes(i)")
    assert "autograder.graders.transfer.probes" in loaded
    assert [name for name in loaded if is_host_module(name)] == []


def test_the_host_with_every_grader_and_entry_point_loaded_holds_no_worker_module():
    loaded = _loaded_after("import autograder.cli, autograder.classroom.grade_all, autograder.course.gradescope\n"
                           "import autograder.host.runner, autograder.publish.feedback\n"
                           "from autograder import graders\nfor i in graders.ASSIGNMENT_IDS: graders.load(i)")
    assert "autograder.graders.transfer.checks" in loaded
    assert [name for name in loaded if is_worker_module(name)] == []


def test_the_student_package_holds_no_hidden_check(tmp_path):
    wheel = build_wheel(tmp_path, root=ROOT)
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "autograder/kernel.py" in names
    kit = [name for name in names if name.startswith("autograder/")]
    assert not [name for name in kit if name.split("/")[1] in ("graders", "host", "worker", *HOST_PACKAGES)]
    assert not [name for name in kit if name.endswith(("checks.py", "probes.py"))]
    assert STUDENT_FILES  # what was checked is the declared list, built


def test_the_package_keeps_few_top_level_modules():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


@pytest.mark.parametrize("assignment", graders.ASSIGNMENT_IDS)
def test_every_declared_probe_has_its_code_and_no_code_is_undeclared(assignment):
    """The host declares probes by name, the worker looks their code up by name: the two lists are one."""
    assert list(graders.load(assignment).probes) == list(graders.load_probes(assignment))
