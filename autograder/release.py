"""Generate ``exercises/`` (student stubs) and ``solutions/`` from the instructor's ``source/``.

``source/<id>/<id>.py`` is a jupytext percent-format file whose solution code
sits between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's
markers), and whose hidden tests, if any, sit between ``### BEGIN HIDDEN TESTS``
and ``### END HIDDEN TESTS``. Students get the solution regions replaced by
``raise NotImplementedError`` and never see hidden tests; ``solutions/`` keeps
the code and drops only the marker lines. ``source/<id>/test_<id>.py`` holds the
public self-check tests, copied unchanged (also into ``autograder/selfcheck/``, so an
installed kit can run them from a notebook). Each assignment also gets its notebooks
(:mod:`autograder.notebooks`): nbgrader's source notebook beside the ``.py`` in
``source/<id>/``, the student notebook in ``exercises/``, the solution notebook in ``solutions/``.
"""
from __future__ import annotations

import re
from pathlib import Path

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
STUB_MESSAGE = "এখানে আপনার কোড লিখুন / Write your code here"
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


def planned_outputs(root: Path) -> dict[Path, str]:
    """Every generated file (relative to ``root``) and its content."""
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
            for target in ("exercises", "solutions", "autograder/selfcheck"):
                outputs[Path(target) / public_tests.name] = tests_text
        outputs.update(_notebooks(name, text, tests_text))
    return outputs


def _notebooks(name: str, text: str, tests_text: str | None) -> dict[Path, str]:
    """The nbgrader source notebook, the student notebook and the solution notebook of one assignment."""
    from autograder import graders, notebooks  # grader modules import Keras: only when releasing

    source = notebooks.source_notebook(graders.load(name), text, tests_text)
    return {
        Path("source") / name / f"{name}.ipynb": notebooks.dumps(source),
        Path("exercises") / f"{name}.ipynb": notebooks.dumps(notebooks.student_notebook(source)),
        Path("solutions") / f"{name}.ipynb": notebooks.dumps(notebooks.student_notebook(source, with_solutions=True)),
    }


def release(root: Path, *, check: bool = False) -> list[Path]:
    """Write what changed (or, with ``check``, only list it). Returns the changed or stale paths."""
    root = Path(root)
    changed = []
    for relative, content in planned_outputs(root).items():
        target = root / relative
        if target.is_file() and target.read_text(encoding="utf-8") == content:
            continue
        changed.append(relative)
        if not check:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
    return changed
