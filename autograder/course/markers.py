"""The solution and hidden-test regions of the instructor's source: the one place that reads them.

``source/<id>/<id>.py`` marks the code students write with nbgrader's solution markers and the
code they never see with its hidden-test markers (the constants below); nbgrader's source notebook
carries the same markers in its cells. :func:`regions` finds the regions and checks that they pair
up; :func:`replace_regions` rewrites them. Both the release of the ``.py`` files
(:mod:`autograder.course.release`) and the kit's copy of nbgrader's notebook release
(:mod:`autograder.course.notebooks`) go through these two.

A marker stands alone on its line. nbgrader takes any line that merely contains a marker's words
for a marker, so a line that holds them beside other text is refused rather than read two ways.
"""
from __future__ import annotations

import re
from typing import Callable, NamedTuple

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
SOLUTION, HIDDEN = "solution", "hidden"
STUB_MESSAGE = "এখানে আপনার কোড লিখুন / Write your code here"
CODE_STUB = f'raise NotImplementedError("{STUB_MESSAGE}")'  # what students get in place of a solution
_MARKER = re.compile(r"^(\s*)(### (?:BEGIN|END) (?:SOLUTION|HIDDEN TESTS))\s*$")
_MARKER_WORDS = re.compile(r"(?:BEGIN|END) (?:SOLUTION|HIDDEN TESTS)")  # nbgrader's own delimiters


class MarkerError(ValueError):
    """Solution or hidden-test markers that do not pair up."""


class Region(NamedTuple):
    """One marked region: its kind, the BEGIN line's indent, where it starts, and its lines, markers included."""

    kind: str  # SOLUTION or HIDDEN
    indent: str
    start: int  # index of the BEGIN line
    lines: list[str]

    @property
    def code(self) -> list[str]:
        """The lines between the markers."""
        return self.lines[1:-1]


def regions(lines: list[str], where: str) -> list[Region]:
    """Every marked region of ``lines``, in order; raises :class:`MarkerError` unless the markers pair up.

    ``where`` names the text in messages (``where:line: ...``). Lines may keep their line endings.
    """
    found, open_marker = [], None
    for number, line in enumerate(lines):
        match = _MARKER.match(line)
        if not match:
            if _MARKER_WORDS.search(line):
                raise MarkerError(f"{where}:{number + 1}: a marker must stand alone on its line (nbgrader "
                                  f"reads any line holding one as a marker). Received: {line.strip()!r}")
            continue
        indent, marker = match.groups()
        kind = SOLUTION if "SOLUTION" in marker else HIDDEN
        if marker.startswith("### BEGIN"):
            if open_marker is not None:
                raise MarkerError(f"{where}:{number + 1}: {marker} inside an open region. Received: {line.strip()!r}")
            open_marker = (kind, indent, number)
        else:
            if open_marker is None or open_marker[0] != kind:
                raise MarkerError(f"{where}:{number + 1}: {marker} without its BEGIN. Received: {line.strip()!r}")
            start = open_marker[2]
            found.append(Region(kind, indent=open_marker[1], start=start, lines=lines[start:number + 1]))
            open_marker = None
    if open_marker is not None:
        raise MarkerError(f"{where}:{open_marker[2] + 1}: region is never closed.")
    return found


def replace_regions(lines: list[str], where: str, solution: Callable[[Region], list[str]]) -> list[str]:
    """``lines`` without their hidden-test regions, each solution region replaced by ``solution(region)``."""
    output, cursor = [], 0
    for region in regions(lines, where):
        output.extend(lines[cursor:region.start])
        if region.kind == SOLUTION:
            output.extend(solution(region))
        cursor = region.start + len(region.lines)
    output.extend(lines[cursor:])
    return output


def stub(region: Region, line_end: str = "") -> list[str]:
    """:data:`CODE_STUB`'s lines, indented like the region's BEGIN line, each followed by ``line_end``."""
    return [region.indent + line + line_end for line in CODE_STUB.split("\n")]


def student_version(text: str, where: str = "<source>") -> str:
    """Solution regions become ``raise NotImplementedError``; hidden tests disappear."""
    lines = text.splitlines(keepends=True)
    return "".join(replace_regions(lines, where, lambda region: stub(region, "\n")))


def solution_version(text: str, where: str = "<source>") -> str:
    """The marker lines go; solution code stays; hidden tests go."""
    lines = text.splitlines(keepends=True)
    return "".join(replace_regions(lines, where, lambda region: region.code))
