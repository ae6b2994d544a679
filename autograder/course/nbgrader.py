"""An nbgrader course directory made from the kit: configuration and source notebooks.

``python -m autograder nbgrader-course COURSE_DIR`` writes

* ``COURSE_DIR/nbgrader_config.py``: the course id, an exchange folder inside the course (so
  a single machine needs no administrator rights), the kit's solution stub (so nbgrader's
  release matches ``exercises/<id>.ipynb``), a cell time limit a minute longer than the
  course's ``submission_timeout`` (the first test cell grades the whole notebook), feedback
  without the hidden test code, and ``TF2_KIT_CONFIG`` naming the course's configuration;
* ``COURSE_DIR/course.toml``: a copy of the course configuration, when there is one: the test
  cells (:func:`autograder.kernel.check_score`) resolve their settings from it like every other
  route (points, thresholds, limits, seed, data, language);
* ``COURSE_DIR/source/<id>/<id>.ipynb`` for each of the course's assignments, whose first cell
  pip-installs the kit from the settings' ``kit_requirement`` (``--kit-requirement``, else the
  course's ``[course] kit_requirement``, as ``release`` does, so nbgrader's release matches
  ``exercises/``) and whose test cells carry the course's points and thresholds.

From there on it is plain nbgrader: ``generate_assignment``, ``release_assignment``,
``collect``, ``autograde``, ``generate_feedback``, ``export`` (see the README).
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from autograder.core.settings import CONFIG_ENV, Settings
from autograder.course.notebooks import CODE_STUB, dumps, source_notebook
from autograder.student import public_tests

DEFAULT_COURSE_ID = "tf2-course"
CONFIG_COPY = "course.toml"
# The first test cell grades the whole notebook in a fresh process, stopped after the course's submission_timeout;
# the cell waits this much longer, so that it reports why rather than being cut off.
CELL_MARGIN_SECONDS = 60
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
# The first test cell grades the whole notebook in a fresh process (tens of seconds; at most the course's
# submission_timeout, and this limit is a minute longer).
c.Execute.timeout = {timeout}
# Feedback shows each test cell's result and message, never its hidden code (nbgrader #917).
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
'''
# Only when the course has a configuration: the test cells' grading reads it (unless TF2_KIT_CONFIG names another).
CONFIG_SETTING = '''\
# The kit's settings for the test cells' grading (points, thresholds, limits, seed, data, language):
# this course's copy of course.toml, unless {variable} already names another.
os.environ.setdefault({variable!r}, os.path.join(os.path.dirname(os.path.abspath(__file__)), {copy!r}))
'''


def nbgrader_config(course_id: str, settings: Settings) -> str:
    """``nbgrader_config.py`` for the course ``course_id`` with ``settings``."""
    if not _COURSE_ID.match(course_id):
        raise ValueError(f"course_id may hold letters, digits, '.', '_' and '-'. Received: {course_id!r}")
    timeout = int(settings.submission_timeout) + CELL_MARGIN_SECONDS
    text = CONFIG_TEMPLATE.format(course_id=course_id, code_stub=CODE_STUB, timeout=timeout)
    if settings.config is not None:
        text += CONFIG_SETTING.format(variable=CONFIG_ENV, copy=CONFIG_COPY)
    return text


def write_course(course_dir: Path, root: Path, settings: Settings, *,
                 course_id: str = DEFAULT_COURSE_ID) -> list[Path]:
    """Write the course configuration and a source notebook for each of the settings' assignments (resolved
    settings: :func:`autograder.course.config.resolve_settings`); returns the files written."""
    from autograder import graders

    text = nbgrader_config(course_id, settings)
    course_dir = Path(course_dir)
    written = []
    config = course_dir / "nbgrader_config.py"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text, encoding="utf-8")
    written.append(config)
    if settings.config is not None:
        copy = course_dir / CONFIG_COPY
        if Path(settings.config).resolve() != copy.resolve():
            shutil.copyfile(settings.config, copy)
        written.append(copy)
    for assignment_id in settings.assignments or graders.ASSIGNMENT_IDS:
        source = Path(root) / "source" / assignment_id / f"{assignment_id}.py"
        if not source.is_file():
            raise FileNotFoundError(f"no source for {assignment_id!r}; pass the kit's folder as --root. "
                                    f"Received: {str(source)!r}")
        tests = public_tests.path(assignment_id)  # the self-checks that the notebook's cells run
        assignment = graders.load_configured(assignment_id, settings.points, settings.thresholds)
        notebook = source_notebook(assignment, source.read_text(encoding="utf-8"),
                                   tests.read_text(encoding="utf-8") if tests.is_file() else None,
                                   kit_requirement=settings.kit_requirement)
        target = course_dir / "source" / assignment_id / f"{assignment_id}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dumps(notebook), encoding="utf-8")
        written.append(target)
    return written
