"""Notebooks made from ``source/<id>/<id>.py``: nbgrader's source notebook, the student's, the solution.

* The **source notebook** carries nbgrader's cell metadata: instructions are read-only cells,
  each function to write is a solution cell, each public self-check is a read-only cell, and
  each of the grader's checks is an autograded test cell worth the check's points whose call
  into the kit sits in a hidden-test region. It is made where it is needed and never kept
  beside the source: ``python -m autograder nbgrader-course`` writes it into an nbgrader
  course folder (:mod:`autograder.course.nbgrader`), ``release`` makes the two below from it.
* The **student notebook** (``exercises/<id>.ipynb``) is what ``nbgrader generate_assignment``
  makes of it with the course configuration the kit writes (:mod:`autograder.course.nbgrader`):
  stubs for solutions, hidden tests removed, cells locked, outputs cleared, checksums
  computed the way nbgrader computes them. ``tests/test_nbgrader.py`` compares the two.
* The **solution notebook** (``solutions/<id>.ipynb``) is the student notebook with every
  solution written in, i.e. what a student who gets full marks hands in.

Cell ids are derived from what a cell is (the function it defines, the check it runs,
its place after the last definition), never drawn at random, so regenerating changes
only the cells that changed and nbgrader's checksums stay meaningful.

nbformat and jupytext take over a second to import, so they are imported where a notebook is
made: ``release``, and through it ``course.toml``'s loader, import this module for
:data:`KIT_REQUIREMENT`.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
from typing import TYPE_CHECKING, Callable

# CODE_STUB is also the stub of nbgrader's course configuration (course.nbgrader takes it from here).
from autograder.course.markers import (BEGIN_HIDDEN, CODE_STUB, END_HIDDEN, SOLUTION, Region, regions,
                                       replace_regions, stub)
from autograder.student.public_tests import tests_by_function

if TYPE_CHECKING:
    from nbformat import NotebookNode

# What the notebooks' first cell pip-installs when the kit is missing, unless course.toml's
# [course] kit_requirement says otherwise. A placeholder: instructors set it to where they publish the kit.
KIT_REQUIREMENT = "git+https://github.com/tf2-exercise-kit/tf2-exercise-kit"
NBGRADER_SCHEMA = 3
_DEFINES = re.compile(r"^(?:def|class)\s+([A-Za-z_]\w*)", re.MULTILINE)

# The kit's cells never stop the notebook: when the kit cannot be installed (no network, a wrong
# requirement), the student still writes and runs their code, and each kit cell says in one line why
# it does nothing. Their pip and print code never enters the graded program: notebook_code keeps
# only a try block made of definitions, and the self-check cells are left out of in-kernel grading.
SETUP_SOURCE = '''\
# কিট না থাকলে ইনস্টল করে / Installs the grading kit when it is missing (Colab, a fresh Jupyter).
import importlib
import importlib.util
import os
import subprocess
import sys

try:
    import autograder.kernel
except ImportError:
    requirement = {requirement}  # the course's kit_requirement
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-input", requirement]
    no_prompt = {{**os.environ, "GIT_TERMINAL_PROMPT": "0"}}  # a git URL that wants a password fails, never waits
    try:
        failed = subprocess.run(pip, capture_output=True, env=no_prompt).returncode != 0
    except Exception:  # no pip at all: the same as a failed install
        failed = True
    importlib.invalidate_caches()  # so this running kernel finds the new package
    if failed or importlib.util.find_spec("autograder") is None:
        print("{unavailable}")'''

SETUP_UNAVAILABLE = ("গ্রেডিং কিটটা ইনস্টল করা গেল না, তাই নিজে যাচাইয়ের সেলগুলো চলবে না, তবে তুমি তোমার কোড লিখে "
                     "চালাতে পারবে। / The grading kit could not be installed, so self-checks are unavailable, "
                     "but you can still write and run your code.")

SELF_CHECK_SOURCE = '''\
# নিজে যাচাই / Self-check: `{name}` (এই সেল বদলাবে না / leave this cell as it is)
try:
    from autograder.kernel import self_check
except ImportError:
    print("কিট ইনস্টল হয়নি, তাই নিজে যাচাই চলবে না / The kit is not installed, so the self-check cannot run.")
else:
    self_check("{assignment}", "{name}", globals())'''

GRADING_INTRO = '''\
## গ্রেডিং / Grading

নিচের প্রতিটা সেল একটা লুকানো পরীক্ষা: সেলের মন্তব্যে লেখা আছে সেটা কী দেখে আর কত পয়েন্টের। পরীক্ষার
কোড তোমার নোটবুকে নেই; তোমার শিক্ষক `nbgrader autograde` চালালে সেটা যোগ হয় আর কিট তোমার ফাংশনগুলো
আলাদা একটা প্রসেসে চালিয়ে নম্বর দেয়। ট্রেনিং বা প্লটের সেল গ্রেডিংয়ে চলে না, শুধু ফাংশন, ক্লাস, ইমপোর্ট
আর ধ্রুবক নেওয়া হয়। জমা দেওয়ার আগে শেষ সেলটা চালিয়ে নিজের নম্বর দেখে নিতে পারো।

**English:** Each cell below is one hidden check: its comment says what it looks at and how many
points it is worth. The checking code is not in your notebook; it is added when your instructor
runs `nbgrader autograde`, and the kit then runs your functions in a separate process to score
them. Training and plotting cells are not run for grading: only your functions, classes, imports
and constants are taken. Run the last cell before you hand in to see your score the way your
instructor will.'''

GRADE_CELL_SOURCE = '''\
# লুকানো পরীক্ষা / hidden check ({points:g} {unit}): {title}
{begin}
from autograder.kernel import check_score

check_score("{assignment}", "{check_id}")
{end}'''

GRADE_YOURSELF_SOURCE = '''\
# নিজের নম্বর দেখো / See your score: grades this notebook's functions as the instructor will.
try:
    from autograder.kernel import grade_here
except ImportError:
    print("কিট ইনস্টল হয়নি, তাই এখানে নম্বর দেখা যাবে না / The kit is not installed, so no score here.")
else:
    grade_here("{assignment}")'''


def _nbgrader(kind: str, grade_id: str, points: float | None = None) -> dict:
    """nbgrader's cell metadata for one of its cell kinds."""
    meta = {"grade": kind == "test", "grade_id": grade_id, "locked": kind != "solution",
            "schema_version": NBGRADER_SCHEMA, "solution": kind == "solution"}
    if points is not None:
        meta["points"] = points
    return meta


def _cell(cell_type: str, source: str, cell_id: str, kind: str | None, points: float | None = None) -> NotebookNode:
    import nbformat

    make = nbformat.v4.new_code_cell if cell_type == "code" else nbformat.v4.new_markdown_cell
    cell = make(source=source)
    cell.id = cell_id
    if kind is not None:
        cell.metadata["nbgrader"] = _nbgrader(kind, cell_id, points)
    return cell


def check_cell_id(assignment_id: str, check_id: str) -> str:
    """A stable id for a check's test cell that does not reveal the check's name to students."""
    return "check-" + hashlib.sha1(f"{assignment_id}:{check_id}".encode()).hexdigest()[:10]


def _defined_name(source: str) -> str | None:
    match = _DEFINES.search(source)
    return match.group(1) if match else None


def setup_source(kit_requirement: str = KIT_REQUIREMENT) -> str:
    """The first cell's code: install the kit from ``kit_requirement`` unless it imports; never raise."""
    return SETUP_SOURCE.format(requirement=json.dumps(kit_requirement), unavailable=SETUP_UNAVAILABLE)


def source_notebook(assignment, text: str, public_tests: str | None = None, *,
                    kit_requirement: str = KIT_REQUIREMENT) -> NotebookNode:
    """nbgrader's source notebook for ``assignment`` (a :class:`autograder.core.spec.Assignment`) from its jupytext text.

    Raises :class:`autograder.course.markers.MarkerError` when a cell's markers do not pair up.
    """
    import jupytext
    import nbformat

    parsed = jupytext.reads(text, fmt="py:percent")
    self_checks = tests_by_function(public_tests, assignment.student_names) if public_tests else {}
    cells = [_cell("code", setup_source(kit_requirement), "setup", "readonly")]
    anchor, count, used = "intro", 0, set()
    for number, original in enumerate(parsed.cells, 1):
        source = original.source
        if original.cell_type == "code" and _holds_a_solution(source, f"{assignment.id}.py, cell {number}"):
            anchor, count = _defined_name(source) or f"solution-{len(used)}", 0
            if anchor in used:
                raise ValueError(f"two solution cells define the same name. Received: {anchor!r}")
            used.add(anchor)
            cells.append(_cell("code", source, anchor, "solution"))
            if self_checks.get(anchor):
                cells.append(_cell("code", SELF_CHECK_SOURCE.format(assignment=assignment.id, name=anchor),
                                   f"{anchor}-selfcheck", "readonly"))
            continue
        count += 1
        cell_id = f"{anchor}-{count}"
        if original.cell_type == "markdown":
            cells.append(_cell("markdown", source, cell_id, "readonly"))
        else:  # imports and demos: the student's to change, not tracked by nbgrader
            cells.append(_cell("code", source, cell_id, None))
    cells.append(_cell("markdown", GRADING_INTRO, "grading", "readonly"))
    for check in assignment.checks:
        cell_id = check_cell_id(assignment.id, check.id)
        unit = "point" if check.points == 1 else "points"
        source = GRADE_CELL_SOURCE.format(points=check.points, unit=unit, title=check.title, begin=BEGIN_HIDDEN,
                                          assignment=assignment.id, check_id=check.id, end=END_HIDDEN)
        cells.append(_cell("code", source, cell_id, "test", points=check.points))
    cells.append(_cell("code", GRADE_YOURSELF_SOURCE.format(assignment=assignment.id), "grade-yourself", "readonly"))
    notebook = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
    notebook.nbformat_minor = 5
    return notebook


# ---------------------------------------------------------------- what nbgrader does on release
def _is(cell: NotebookNode, flag: str) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get(flag, False))


def _is_locked(cell: NotebookNode) -> bool:
    """nbgrader.utils.is_locked: solution cells never, grade cells always, else the flag."""
    if "nbgrader" not in cell.metadata or _is(cell, "solution"):
        return False
    return _is(cell, "grade") or _is(cell, "locked")


def nbgrader_checksum(cell: NotebookNode) -> str:
    """nbgrader.utils.compute_checksum, so the kit's student notebook matches nbgrader's byte for byte."""
    digest = hashlib.md5()
    for part in (cell.source, cell.cell_type, str(_is(cell, "grade")), str(_is(cell, "solution")),
                 str(_is_locked(cell)), cell.metadata["nbgrader"]["grade_id"]):
        digest.update(part.encode("utf-8"))
    if _is(cell, "grade"):
        digest.update(str(float(cell.metadata["nbgrader"]["points"])).encode("utf-8"))
    return digest.hexdigest()


def _holds_a_solution(source: str, where: str) -> bool:
    return any(region.kind == SOLUTION for region in regions(source.split("\n"), where))


def _rewrite(source: str, where: str, solution: Callable[[Region], list[str]]) -> str:
    """nbgrader's line-based rewrite of a cell: split at ``\n``, hidden tests dropped, each solution
    region replaced by ``solution(region)``, joined with ``\n``."""
    return "\n".join(replace_regions(source.split("\n"), where, solution))


def _unchanged(region: Region) -> list[str]:
    return region.lines


def _code(region: Region) -> list[str]:
    return region.code


def student_notebook(source: NotebookNode, *, with_solutions: bool = False) -> NotebookNode:
    """What ``nbgrader generate_assignment`` releases; ``with_solutions`` fills the stubs back in."""
    notebook = copy.deepcopy(source)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if "nbgrader" not in cell.metadata:
            continue
        # nbgrader stubs the solutions of solution cells and drops every cell's hidden tests
        cell.source = _rewrite(cell.source, f"cell {cell.id}", stub if _is(cell, "solution") else _unchanged)
        if _is(cell, "solution"):
            cell.metadata["deletable"] = False
        elif _is_locked(cell):
            cell.metadata["deletable"] = False
            cell.metadata["editable"] = False
        cell.metadata["nbgrader"]["cell_type"] = cell.cell_type  # nbgrader records it, to spot changed types
        cell.metadata["nbgrader"]["checksum"] = nbgrader_checksum(cell)
    if with_solutions:  # a student's edits do not touch the metadata nbgrader released
        for cell, original in zip(notebook.cells, source.cells):
            if _is(cell, "solution"):
                cell.source = _rewrite(original.source, f"cell {cell.id}", _code)
    return notebook


def dumps(notebook: NotebookNode) -> str:
    import nbformat

    nbformat.validate(notebook)
    return nbformat.writes(notebook) + "\n"

