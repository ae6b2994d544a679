"""Generate ``exercises/`` (student stubs) and ``solutions/`` from the instructor's ``source/``.

``source/<id>/<id>.py`` is a jupytext percent-format file whose solution code sits in nbgrader's
solution regions, and whose hidden tests, if any, sit in its hidden-test regions
(:mod:`autograder.course.markers` reads both). Students get the solution regions replaced by
``raise NotImplementedError`` and never see hidden tests; ``solutions/`` keeps the code and drops
only the marker lines. The public self-checks are part of the kit: ``autograder/student/selfcheck/test_<id>.py``,
hand-written there, is what notebooks run (:mod:`autograder.student.public_tests`), and students get
it unchanged beside their file as ``exercises/test_<id>.py``. Each assignment also gets its notebooks
(:mod:`autograder.course.notebooks`): the student notebook in ``exercises/`` and the solution
notebook in ``solutions/``, both made from nbgrader's source notebook, which is not kept:
``python -m autograder nbgrader-course`` writes it where nbgrader reads it, in the course folder.
The notebooks' first cell pip-installs the kit from the course's ``[course] kit_requirement``
(``course.toml`` in the project root, or the file given as ``config``).

Only ``exercises/`` and ``solutions/`` are written: every other file of the project is hand-written.
"""
from __future__ import annotations

from pathlib import Path

from autograder.course import notebooks
from autograder.course.markers import solution_version, student_version
from autograder.course.notebooks import KIT_REQUIREMENT  # course.toml's default (config.py reads it here)
from autograder.student import public_tests


def kit_requirement_of(root: Path, config: Path | None = None) -> str:
    """The ``[course] kit_requirement`` of ``config``, else of ``root/course.toml`` when it exists, else the default.

    Raises :class:`autograder.course.config.CourseConfigError` when the file has problems.
    """
    from autograder.course.config import load_config

    path = Path(config) if config is not None else Path(root) / "course.toml"
    if config is None and not path.is_file():
        return KIT_REQUIREMENT
    return load_config(path).kit_requirement


def planned_outputs(root: Path, *, kit_requirement: str | None = None) -> dict[Path, str]:
    """Every generated file (relative to ``root``) and its content; ``kit_requirement`` defaults to the course's."""
    root = Path(root)
    if kit_requirement is None:
        kit_requirement = kit_requirement_of(root)
    source = root / "source"
    outputs: dict[Path, str] = {}
    for assignment_dir in sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        name = assignment_dir.name
        main = assignment_dir / f"{name}.py"
        if not main.is_file():
            raise FileNotFoundError(f"source/{name} has no {name}.py. Received: {sorted(p.name for p in assignment_dir.iterdir())}")
        text = main.read_text(encoding="utf-8")
        where = str(main.relative_to(root))
        outputs[Path("exercises") / f"{name}.py"] = student_version(text, where)
        outputs[Path("solutions") / f"{name}.py"] = solution_version(text, where)
        tests_text = public_tests.read(name)
        if tests_text is not None:
            outputs[Path("exercises") / f"test_{name}.py"] = tests_text
        outputs.update(_notebooks(name, text, tests_text, kit_requirement))
    return outputs


def _notebooks(name: str, text: str, tests_text: str | None, kit_requirement: str) -> dict[Path, str]:
    """The student notebook and the solution notebook of one assignment, from nbgrader's source notebook."""
    from autograder import graders  # grader modules import Keras: only when releasing

    source = notebooks.source_notebook(graders.load(name), text, tests_text, kit_requirement=kit_requirement)
    return {
        Path("exercises") / f"{name}.ipynb": notebooks.dumps(notebooks.student_notebook(source)),
        Path("solutions") / f"{name}.ipynb": notebooks.dumps(notebooks.student_notebook(source, with_solutions=True)),
    }


def release(root: Path, *, check: bool = False, config: Path | None = None) -> list[Path]:
    """Write what changed (or, with ``check``, only list it). Returns the changed or stale paths.

    ``config`` is the course configuration whose ``kit_requirement`` the notebooks install
    (default: ``root/course.toml`` when it exists).
    """
    root = Path(root)
    changed = []
    for relative, content in planned_outputs(root, kit_requirement=kit_requirement_of(root, config)).items():
        target = root / relative
        if target.is_file() and target.read_text(encoding="utf-8") == content:
            continue
        changed.append(relative)
        if not check:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
    return changed
