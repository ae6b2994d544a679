"""An nbgrader course directory made from the kit: configuration and source notebooks.

``python -m autograder nbgrader-course COURSE_DIR`` writes

* ``COURSE_DIR/nbgrader_config.py``: the course id, an exchange folder inside the course (so
  a single machine needs no administrator rights), the kit's solution stub (so nbgrader's
  release matches ``exercises/<id>.ipynb``), a cell time limit long enough for the first
  test cell, which grades the whole notebook, and feedback without the hidden test code;
* ``COURSE_DIR/source/<id>/<id>.ipynb`` for each assignment, whose first cell pip-installs the
  kit from ``kit_requirement`` (the command takes it from ``--kit-requirement``, else from the
  course's ``[course] kit_requirement``, as ``release`` does, so nbgrader's release matches ``exercises/``).

From there on it is plain nbgrader: ``generate_assignment``, ``release_assignment``,
``collect``, ``autograde``, ``generate_feedback``, ``export`` (see the README).
"""
from __future__ import annotations

import re
from pathlib import Path

from autograder.course.notebooks import CODE_STUB, KIT_REQUIREMENT, dumps, source_notebook

DEFAULT_COURSE_ID = "tf2-course"
CELL_TIMEOUT_SECONDS = 900  # the first test cell grades the whole notebook in a fresh process
_COURSE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

CONFIG_TEMPLATE = '''\
# nbgrader configuration written by `python -m autograder nbgrader-course`.
import os

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import ClearHiddenTests, GetGrades

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file
c.CourseDirectory.course_id = {course_id!r}
# The exchange (where release_assignment puts assignments and students submit) lives in the
# course folder, so one machine needs no administrator rights. Use a shared path for a class.
c.Exchange.root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "exchange")
# The same stub as the kit's exercises/<assignment>.ipynb.
c.ClearSolutions.code_stub = {{"python": {code_stub!r}}}
# The first test cell grades the whole notebook in a fresh process (tens of seconds).
c.Execute.timeout = {timeout}
# Feedback shows each test cell's result and message, never its hidden code (nbgrader #917).
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
'''


def write_course(course_dir: Path, root: Path, assignments: list[str], *, course_id: str = DEFAULT_COURSE_ID,
                 kit_requirement: str = KIT_REQUIREMENT) -> list[Path]:
    """Write the course configuration and source notebooks; returns the files written."""
    from autograder import graders

    if not _COURSE_ID.match(course_id):
        raise ValueError(f"course_id may hold letters, digits, '.', '_' and '-'. Received: {course_id!r}")
    course_dir = Path(course_dir)
    written = []
    config = course_dir / "nbgrader_config.py"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(CONFIG_TEMPLATE.format(course_id=course_id, code_stub=CODE_STUB,
                                             timeout=CELL_TIMEOUT_SECONDS), encoding="utf-8")
    written.append(config)
    for assignment_id in assignments:
        source = Path(root) / "source" / assignment_id / f"{assignment_id}.py"
        if not source.is_file():
            raise FileNotFoundError(f"no source for {assignment_id!r}; pass the kit's folder as --root. "
                                    f"Received: {str(source)!r}")
        tests = source.with_name(f"test_{assignment_id}.py")
        notebook = source_notebook(graders.load(assignment_id), source.read_text(encoding="utf-8"),
                                   tests.read_text(encoding="utf-8") if tests.is_file() else None,
                                   kit_requirement=kit_requirement)
        target = course_dir / "source" / assignment_id / f"{assignment_id}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dumps(notebook), encoding="utf-8")
        written.append(target)
    return written
