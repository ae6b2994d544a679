"""A Gradescope autograder archive: ``setup.sh``, ``run_autograder`` and the kit's source, in one zip.

Gradescope unzips the archive into ``/autograder/source``, runs ``setup.sh`` once while building
its image, then, for each submission, copies the student's files into ``/autograder/submission``
and runs ``/autograder/run_autograder``, which must leave ``/autograder/results/results.json``.
Ours grades with ``python -m autograder grade`` (so Gradescope gets exactly the kit's
``results.json``) and fails closed: whatever goes wrong, a results.json scoring 0 says why.
"""
from __future__ import annotations

import shlex
import zipfile
from pathlib import Path

from autograder import graders
from autograder.core.files import atomic_path
from autograder.course.config import load_config
from autograder.host.grading import CourseSettings

KIT_FILES = ("pyproject.toml", "README.md")
KIT_PACKAGE = "autograder"
COURSE_CONFIG = "course.toml"
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
SOURCE="$AUTOGRADER_ROOT/source"
SUBMISSION="$AUTOGRADER_ROOT/submission"
RESULTS="$AUTOGRADER_ROOT/results/results.json"
ASSIGNMENTS=(@ASSIGNMENTS@)
GRADE_OPTIONS=(@GRADE_OPTIONS@)
MAX_SCORE=@MAX_SCORE@

# $1 must be JSON-safe: callers pass fixed text and numbers only.
write_failure() {
    printf '{"score": 0, "max_score": %s, "execution_time": 0, "output": "%s", "tests": []}\\n' \\
        "$MAX_SCORE" "$1" > "$RESULTS"
}

# Students upload folders, zips and repositories: take <assignment>.py / .ipynb from any depth into
# one flat folder, the shallowest copy of each name first (ties: path order), keeping file times so
# that the grader's "newer of .py and .ipynb" rule still holds.
collect_submission() {
    local into="$1" depth path name id
    local names=()
    for id in "${ASSIGNMENTS[@]}"; do
        names+=(-o -name "$id.py" -o -name "$id.ipynb")
    done
    [[ -d "$SUBMISSION" ]] || { echo "no submission folder at $SUBMISSION"; return 0; }
    while IFS=$'\\t' read -r -d '' depth path; do
        name="${path##*/}"
        if [[ -e "$into/$name" ]]; then
            echo "ignored ${path#"$SUBMISSION"/}: $name was already taken from a shallower folder"
        else
            cp -p -- "$path" "$into/$name" && echo "collected ${path#"$SUBMISSION"/}"
        fi
    done < <(find "$SUBMISSION" -name __MACOSX -prune -o -type f \\( "${names[@]:1}" \\) -printf '%d\\t%p\\0' \\
             | sort -z -n)
}

mkdir -p "$(dirname "$RESULTS")"
rm -f "$RESULTS"  # a stale file must never pass for this submission's result

if ! work="$(mktemp -d)"; then
    write_failure "Grading failed: the autograder could not create a working folder, so no points were recorded. This is not a judgement of your code; please tell your instructor."
    exit 0
fi
trap 'rm -rf "$work"' EXIT
mkdir "$work/submission"
collect_submission "$work/submission"

# Run from the source folder, where course.toml (when the package has one) sits: its points,
# thresholds and language apply.
cd "$SOURCE" 2>/dev/null || cd "$work"
CONFIG_OPTIONS=()
if [[ -f "$SOURCE/@COURSE_CONFIG@" ]]; then
    CONFIG_OPTIONS=(--config "$SOURCE/@COURSE_CONFIG@")
fi
# The strongest isolation that works in this container: bubblewrap, else (exit status 4: no sandbox
# here, e.g. user namespaces blocked) an unprivileged user. results.json records which one graded.
"$PYTHON" -P -m autograder grade "$work/submission" --json "$RESULTS" "${GRADE_OPTIONS[@]}" "${CONFIG_OPTIONS[@]}" \
    --isolation bwrap
status=$?
if [[ $status -eq 4 ]]; then
    echo "bubblewrap cannot sandbox in this container; grading with --isolation uid (an unprivileged user)"
    "$PYTHON" -P -m autograder grade "$work/submission" --json "$RESULTS" "${GRADE_OPTIONS[@]}" \
        "${CONFIG_OPTIONS[@]}" --isolation uid
    status=$?
fi
echo "grading exited with status $status"

if [[ ! -s "$RESULTS" ]]; then
    write_failure "Grading failed: the autograder stopped (exit status $status) before it could score your submission, so no points were recorded. This is not a judgement of your code; please tell your instructor."
fi
exit 0
"""


def _package_assignments(assignments: list[str] | None) -> list[str]:
    """The assignment ids a package grades, validated; all of them when ``assignments`` is None."""
    if assignments is None:
        return list(graders.ASSIGNMENT_IDS)
    chosen = list(dict.fromkeys(assignments))  # drop repeats, keep order
    for assignment_id in chosen:
        graders.load(assignment_id)  # raises ValueError naming the unknown id
    if len(chosen) not in (1, len(graders.ASSIGNMENT_IDS)):
        # `grade` scores one assignment or all of them; a subset would count the rest as 0/max.
        raise ValueError(f"a Gradescope package grades one assignment or all of them. Received: {chosen}")
    return chosen


def _grade_options(assignments: list[str]) -> list[str]:
    return ["--assignment", assignments[0]] if len(assignments) == 1 else []


def run_autograder_script(assignments: list[str], settings: CourseSettings | None = None) -> str:
    """``run_autograder`` for a package that grades ``assignments`` (with a course's points, if any)."""
    settings = settings or CourseSettings()
    max_score = sum(graders.load_configured(assignment_id, settings.points, settings.thresholds).max_score
                    for assignment_id in assignments)
    substitutions = {
        "@ASSIGNMENTS@": shlex.join(assignments),
        "@GRADE_OPTIONS@": shlex.join(_grade_options(assignments)),
        "@MAX_SCORE@": f"{max_score:g}",
        "@COURSE_CONFIG@": COURSE_CONFIG,
    }
    script = RUN_AUTOGRADER
    for placeholder, value in substitutions.items():
        script = script.replace(placeholder, value)
    return script


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
    """Write the Gradescope autograder zip for ``assignments`` (default: all) at ``out``; return ``out``.

    The kit's source comes from ``root`` (the project folder); ``root/course.toml`` is included
    when it exists.
    """
    out, root = Path(out), Path(root)
    chosen = _package_assignments(assignments)
    files = kit_files(root)
    config = root / COURSE_CONFIG
    settings = load_config(config).grading_settings() if config.is_file() else None  # invalid: error now
    # never leave a half-written archive under the requested name
    with atomic_path(out) as temporary, zipfile.ZipFile(temporary, "w") as archive:
        _add(archive, "setup.sh", SETUP_SH.encode(), EXECUTABLE)
        _add(archive, "run_autograder", run_autograder_script(chosen, settings).encode(), EXECUTABLE)
        for relative in files:
            _add(archive, f"kit/{relative.as_posix()}", (root / relative).read_bytes())
        if (root / COURSE_CONFIG).is_file():
            _add(archive, COURSE_CONFIG, (root / COURSE_CONFIG).read_bytes())
    return out
