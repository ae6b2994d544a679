"""A Gradescope autograder archive: ``setup.sh``, ``run_autograder`` and the kit's source, in one zip.

Gradescope unzips the archive into ``/autograder/source``, runs ``setup.sh`` once while building
its image, then, for each submission, copies the student's files into ``/autograder/submission``
and runs ``/autograder/run_autograder``, which must leave ``/autograder/results/results.json``.
Ours calls the kit once, through one fixed entry, ``python -m autograder gradescope-run``: it
collects the submission's files, resolves the settings like every other route (the course.toml
packed beside the script, then the environment), grades (so Gradescope gets exactly the kit's
``results.json``), and the script fails closed: whatever goes wrong, a results.json scoring 0
says why.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from autograder import graders
from autograder.core.files import atomic_path
from autograder.core.settings import Settings
from autograder.course.config import resolve_settings
from autograder.host.grading import SUBMISSION_SUFFIXES, assignment_ids

KIT_FILES = ("pyproject.toml", "README.md")
KIT_PACKAGE = "autograder"
COURSE_CONFIG = "course.toml"
GRADESCOPE_ROOT = "/autograder"
SOURCE_DIR, SUBMISSION_DIR, RESULTS = "source", "submission", "results/results.json"  # under Gradescope's root
ARCHIVE_DEBRIS = "__MACOSX"  # macOS's zip leaves copies of every file in here
SKIPPED_PARTS = {"__pycache__"}
SKIPPED_SUFFIXES = (".pyc", ".pyo")
# Fixed timestamps make the archive depend only on its content.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
EXECUTABLE, REGULAR = 0o755, 0o644


SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image.
set -euo pipefail

AUTOGRADER_ROOT="${AUTOGRADER_ROOT:-/autograder}"
VENV="$AUTOGRADER_ROOT/venv"

# The kit needs Python 3.11+; base images differ in what `python3` is.
find_python() {
    local candidate
    for candidate in python3 python3.12 python3.11; do
        if command -v "$candidate" >/dev/null 2>&1 \\
            && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

if ! PYTHON="$(find_python)"; then
    echo "error: the kit needs Python 3.11 or newer; pick a newer base image (Ubuntu 24.04) in the" \\
         "autograder settings. Received: $(python3 --version 2>&1 || echo 'no python3')" >&2
    exit 1
fi
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install "$AUTOGRADER_ROOT/source/kit"
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this once per submission. It always leaves a results.json: when grading
# cannot finish, one that scores 0 and says so (fail closed), never a missing file.
set -uo pipefail  # no -e: a failed grading run must still reach the fallback below

AUTOGRADER_ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${AUTOGRADER_PYTHON:-$AUTOGRADER_ROOT/venv/bin/python}"
RESULTS="$AUTOGRADER_ROOT/@RESULTS@"
MAX_SCORE=@MAX_SCORE@

# $1 must be JSON-safe: callers pass fixed text and numbers only.
write_failure() {
    printf '{"score": 0, "max_score": %s, "execution_time": 0, "output": "%s", "tests": []}\\n' \\
        "$MAX_SCORE" "$1" > "$RESULTS"
}

mkdir -p "$(dirname "$RESULTS")"
rm -f "$RESULTS"  # a stale file must never pass for this submission's result

# One fixed entry: the kit collects <assignment>.py / .ipynb from the submission, reads the course.toml
# packed in source/ (points, thresholds, limits, seed, data, language) and grades in the strongest
# isolation this container allows; results.json records which one.
cd "$AUTOGRADER_ROOT/@SOURCE@" 2>/dev/null || cd /
"$PYTHON" -P -m autograder gradescope-run --root "$AUTOGRADER_ROOT"@ASSIGNMENT_OPTION@
status=$?
echo "grading exited with status $status"

if [[ ! -s "$RESULTS" ]]; then
    write_failure "Grading failed: the autograder stopped (exit status $status) before it could score your submission, so no points were recorded. This is not a judgement of your code; please tell your instructor."
fi
exit 0
"""


def _package_assignments(assignments: list[str] | None) -> list[str] | None:
    """The assignment ids a package grades, validated; None (the course's assignments) when ``assignments`` is."""
    if assignments is None:
        return None
    chosen = list(dict.fromkeys(assignments))  # drop repeats, keep order
    for assignment_id in chosen:
        graders.load(assignment_id)  # raises ValueError naming the unknown id
    if len(chosen) not in (1, len(graders.ASSIGNMENT_IDS)):
        # A package is made for one assignment, or for the course.
        raise ValueError(f"a Gradescope package grades one assignment or all of them. Received: {chosen}")
    return None if len(chosen) > 1 else chosen


def run_settings(root: Path, assignment: str | None, environ=None) -> Settings:
    """The settings ``gradescope-run`` grades with: the chain, from the course.toml packed in ``root/source``
    (when the package has one), and the package's one assignment (``--assignment``) when it has one."""
    packed = Path(root) / SOURCE_DIR / COURSE_CONFIG
    return resolve_settings(config=packed if packed.is_file() else None, environ=environ,
                            command_line={"assignments": ("run_autograder --assignment",
                                                          None if assignment is None else [assignment])})


def run_autograder_script(assignments: list[str] | None, settings: Settings | None = None) -> str:
    """``run_autograder`` for a package of ``assignments`` (one, or None: the course's), whose fallback
    result scores 0 of the maximum ``settings`` (the packed course's; default: the defaults) give."""
    settings = settings or resolve_settings(environ={})
    graded = assignments or assignment_ids(settings)
    max_score = sum(graders.load_configured(assignment_id, settings.points, settings.thresholds).max_score
                    for assignment_id in graded)
    substitutions = {
        "@RESULTS@": RESULTS,
        "@SOURCE@": SOURCE_DIR,
        "@ASSIGNMENT_OPTION@": f" --assignment {assignments[0]}" if assignments else "",
        "@MAX_SCORE@": f"{max_score:g}",
    }
    script = RUN_AUTOGRADER
    for placeholder, value in substitutions.items():
        script = script.replace(placeholder, value)
    return script


# ------------------------------------------------------------------------------ on Gradescope
MAX_SUBMISSION_DEPTH = 16  # folders below the upload that are searched; a zip of a repository nests a few


def _candidates(submission: Path, names: set[str]) -> list[tuple[int, bytes, Path]]:
    """Regular files (not links) called one of ``names`` down to MAX_SUBMISSION_DEPTH folders, debris folders
    left out: (depth, path). Breadth first and without recursion: an upload can nest a thousand folders, and
    os.walk recurses once per level."""
    found, level, depth = [], [submission], 1
    while level and depth <= MAX_SUBMISSION_DEPTH + 1:
        deeper = []
        for folder in level:
            try:
                with os.scandir(folder) as scan:
                    entries = sorted(scan, key=lambda entry: entry.name)
            except OSError:  # unreadable, or its path too long
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False) and entry.name != ARCHIVE_DEBRIS:
                    deeper.append(Path(entry.path))
                elif entry.name in names and entry.is_file(follow_symlinks=False):
                    path = Path(entry.path)
                    found.append((depth, os.fsencode(path), path))
        level, depth = deeper, depth + 1
    return sorted(found)


def collect_submission(submission: Path, into: Path, assignments: tuple[str, ...]) -> list[str]:
    """Copy ``<assignment>.py`` / ``.ipynb`` from any depth of ``submission`` into the flat folder ``into``.

    Students upload folders, zips and repositories: the shallowest copy of each name is taken (ties:
    path order), keeping file times so that the grader's "newer of .py and .ipynb" rule still holds.
    Returns one line per file taken or passed over, for the log.
    """
    if not Path(submission).is_dir():
        return [f"no submission folder at {submission}"]
    names = {f"{assignment_id}{suffix}" for assignment_id in assignments for suffix in SUBMISSION_SUFFIXES}
    lines = []
    for _, _, path in _candidates(Path(submission), names):
        relative, target = path.relative_to(submission), Path(into) / path.name
        if target.exists():
            lines.append(f"ignored {relative}: {path.name} was already taken from a shallower folder")
            continue
        try:
            shutil.copy2(path, target)
        except OSError as error:
            lines.append(f"could not collect {relative}: {error}")
            continue
        lines.append(f"collected {relative}")
    return lines


@contextlib.contextmanager
def collected(submission: Path, assignments: tuple[str, ...]) -> Iterator[Path]:
    """A temporary flat folder holding the submission's gradable files (see :func:`collect_submission`)."""
    with tempfile.TemporaryDirectory(prefix="ag-gradescope-") as work:
        into = Path(work) / SUBMISSION_DIR
        into.mkdir()
        for line in collect_submission(submission, into, assignments):
            print(line, flush=True)
        yield into


def strongest_isolation(settings: Settings) -> Settings:
    """``settings``, or where bubblewrap cannot sandbox in this container (user namespaces blocked), the same
    with an unprivileged user instead (as root); results.json records the level that graded."""
    from autograder.host.isolation import Isolation, IsolationUnavailable

    if settings.isolation != "bwrap":
        return settings
    try:
        Isolation("bwrap").verify()
    except IsolationUnavailable:
        print("bubblewrap cannot sandbox in this container; grading with --isolation uid (an unprivileged user)",
              flush=True)
        return settings.overridden("Gradescope: bubblewrap cannot sandbox here", isolation="uid")
    return settings


def kit_files(root: Path) -> list[Path]:
    """The files (relative to ``root``) that ``pip install`` needs to build the kit."""
    missing = [name for name in (*KIT_FILES, KIT_PACKAGE) if not (root / name).exists()]
    if missing:
        raise FileNotFoundError(f"--root must be the kit's project folder, holding {', '.join(KIT_FILES)} and "
                                f"{KIT_PACKAGE}/; {', '.join(missing)} missing. Received: {str(root)!r}")
    package = sorted(path.relative_to(root) for path in (root / KIT_PACKAGE).rglob("*")
                     if path.is_file() and not SKIPPED_PARTS.intersection(path.parts)
                     and path.suffix not in SKIPPED_SUFFIXES)
    return [Path(name) for name in KIT_FILES] + package


def _add(archive: zipfile.ZipFile, name: str, data: bytes, mode: int = REGULAR) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.external_attr = (0o100000 | mode) << 16  # a regular file with these permission bits
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def build_package(out: Path, *, root: Path, assignments: list[str] | None = None) -> Path:
    """Write the Gradescope autograder zip for ``assignments`` (one, or all; default: the course's) at ``out``.

    The kit's source comes from ``root`` (the project folder); ``root/course.toml`` is included
    when it exists, and on Gradescope its settings apply (not those of this machine's environment).
    Returns ``out``.
    """
    out, root = Path(out), Path(root)
    chosen = _package_assignments(assignments)
    files = kit_files(root)
    config = root / COURSE_CONFIG
    settings = resolve_settings(config=config if config.is_file() else None, environ={})  # invalid: error now
    # never leave a half-written archive under the requested name
    with atomic_path(out) as temporary, zipfile.ZipFile(temporary, "w") as archive:
        _add(archive, "setup.sh", SETUP_SH.encode(), EXECUTABLE)
        _add(archive, "run_autograder", run_autograder_script(chosen, settings).encode(), EXECUTABLE)
        for relative in files:
            _add(archive, f"kit/{relative.as_posix()}", (root / relative).read_bytes())
        if (root / COURSE_CONFIG).is_file():
            _add(archive, COURSE_CONFIG, (root / COURSE_CONFIG).read_bytes())
    return out
