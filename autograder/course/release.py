"""Generate ``exercises/`` (student stubs) and ``solutions/`` from the instructor's ``source/``.

``source/<id>/<id>.py`` is a jupytext percent-format file whose solution code
sits between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's
markers), and whose hidden tests, if any, sit between ``### BEGIN HIDDEN TESTS``
and ``### END HIDDEN TESTS``. Students get the solution regions replaced by
``raise NotImplementedError`` and never see hidden tests; ``solutions/`` keeps
the code and drops only the marker lines. ``source/<id>/test_<id>.py`` holds the
public self-check tests, copied unchanged (also into ``autograder/student/selfcheck/``, so an
installed kit can run them from a notebook). Each assignment also gets its notebooks
(:mod:`autograder.course.notebooks`): nbgrader's source notebook beside the ``.py`` in
``source/<id>/``, the student notebook in ``exercises/``, the solution notebook in ``solutions/``.
The notebooks' first cell pip-installs the kit from the course's ``[course] kit_requirement``
(``course.toml`` in the project root, or the file given as ``config``).
"""
from __future__ import annotations

import re
from pathlib import Path

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
STUB_MESSAGE = "এখানে আপনার কোড লিখুন / Write your code here"
# What the notebooks' first cell pip-installs when the kit is missing, unless course.toml's
# [course] kit_requirement says otherwise. A placeholder: instructors set it to where they publish the kit.
KIT_REQUIREMENT = "git+https://github.com/tf2-exercise-kit/tf2-exercise-kit"
_MARKER = re.compile(r"^(\s*)(### (?:BEGIN|END) (?:SOLUTION|HIDDEN TESTS))\s*$")


class MarkerError(ValueError):
    """Solution or hidden-test markers that do not pair up."""


def _regions(lines: list[str], where: str):
    """Yield (kind, indent, start, end) for each marked region, validating that markers pair up."""
    open_marker = None
    for number, line in enumerate(lines):
        match = _MARKER.match(line)
        if not match:
            continue
        indent, marker = match.groups()
        kind = "solution" if "SOLUTION" in marker else "hidden"
        if marker.startswith("### BEGIN"):
            if open_marker is not None:
                raise MarkerError(f"{where}:{number + 1}: {marker} inside an open region. Received: {line.strip()!r}")
            open_marker = (kind, indent, number)
        else:
            if open_marker is None or open_marker[0] != kind:
                raise MarkerError(f"{where}:{number + 1}: {marker} without its BEGIN. Received: {line.strip()!r}")
            yield open_marker[0], open_marker[1], open_marker[2], number
            open_marker = None
    if open_marker is not None:
        raise MarkerError(f"{where}:{open_marker[2] + 1}: region is never closed.")


def student_version(text: str, where: str = "<source>") -> str:
    """Solution regions become ``raise NotImplementedError``; hidden tests disappear."""
    lines = text.splitlines(keepends=True)
    output, cursor = [], 0
    for kind, indent, start, end in _regions(lines, where):
        output.extend(lines[cursor:start])
        if kind == "solution":
            output.append(f'{indent}raise NotImplementedError("{STUB_MESSAGE}")\n')
        cursor = end + 1
    output.extend(lines[cursor:])
    return "".join(output)


def solution_version(text: str, where: str = "<source>") -> str:
    """The marker lines go; solution code stays; hidden tests go."""
    lines = text.splitlines(keepends=True)
    output, cursor = [], 0
    for kind, _indent, start, end in _regions(lines, where):
        output.extend(lines[cursor:start])
        if kind == "solution":
            output.extend(lines[start + 1:end])
        cursor = end + 1
    output.extend(lines[cursor:])
    return "".join(output)


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
        public_tests = assignment_dir / f"test_{name}.py"
        tests_text = public_tests.read_text(encoding="utf-8") if public_tests.is_file() else None
        if tests_text is not None:
            for target in ("exercises", "solutions", "autograder/student/selfcheck"):
                outputs[Path(target) / public_tests.name] = tests_text
        outputs.update(_notebooks(name, text, tests_text, kit_requirement))
    return outputs


def _notebooks(name: str, text: str, tests_text: str | None, kit_requirement: str) -> dict[Path, str]:
    """The nbgrader source notebook, the student notebook and the solution notebook of one assignment."""
    from autograder import graders
    from autograder.course import notebooks  # grader modules import Keras: only when releasing

    source = notebooks.source_notebook(graders.load(name), text, tests_text, kit_requirement=kit_requirement)
    return {
        Path("source") / name / f"{name}.ipynb": notebooks.dumps(source),
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
