"""Grade a whole class: one submission per student, graded in parallel, results kept as they come.

Each submission is graded by its own ``python -m autograder grade`` process (which runs the
student's code in its own sandbox workers), so a submission that hangs, hogs memory or
crashes the grader costs that submission alone. Results are written the moment a
submission finishes (``OUT/<student>/results.json``, atomically), ``grades.csv`` is
rewritten from them after every submission, and ``--resume`` skips what is done, so an
interrupted run loses nothing already graded. A submission whose grading produced no
result is recorded as an error scoring 0 of the real maximum: never passed, never missing.
"""
from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import psutil

from autograder import graders
from autograder.host.grading import SUBMISSION_SUFFIXES, AssignmentResult, SubmissionResult
from autograder.core.i18n import Text, literal, tr
from autograder.host.isolation import DEFAULT_LEVEL, LEVELS
from autograder.core.outcomes import ProbeStatus, not_run
from autograder.publish.feedback import feedback_html, feedback_markdown
from autograder.core.i18n import check_language
from autograder.publish.records import read_record, write_record
from autograder.core.files import atomic_path, write_text_atomically
from autograder.publish.report import write_gradescope
from autograder.publish.summary import GradedStudent, summary_html
from autograder.host.runner import kill_group, resident_mb

RESULTS_FILE = "results.json"   # written last: a student with this file is done (--resume)
RECORD_FILE = "record.json"
FEEDBACK_HTML, FEEDBACK_MD = "feedback.html", "feedback.md"
GRADES_FILE = "grades.csv"
SUMMARY_FILE = "summary.html"
POLL_SECONDS = 0.2
# The grading process itself (TensorFlow, the training runs of accuracy checks) needs this much on
# top of the student's worker; the whole tree is stopped beyond memory_mb + GRADER_ALLOWANCE_MB.
GRADER_ALLOWANCE_MB = 4096
MAX_ID_CHARS = 128
# Student ids become folder names, CSV cells and lines of output: no separators, nothing that breaks a line
# (str.splitlines breaks on more than \n) or reorders what a terminal shows (bidirectional overrides).
PATH_SEPARATORS = frozenset("/\\")
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# A spreadsheet runs a cell starting with one of these as a formula (OWASP: CSV injection); full-width signs too
# in some locales, and they cost nothing to cover.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


@dataclass(frozen=True)
class BatchOptions:
    assignments: tuple[str, ...] = graders.ASSIGNMENT_IDS
    workers: int = max(1, os.cpu_count() or 1)
    submission_timeout: float = 900.0   # wall clock for one student's whole submission
    step_timeout: float = 60.0          # one step of student code (passed on to `grade --timeout`)
    memory_mb: int = 4096               # one sandbox worker running the student's code
    seed: int = 0
    data: str = "synthetic"
    data_dir: str | None = None
    config: Path | None = None          # course.toml handed to each `grade` (points and thresholds)
    points: dict = field(default_factory=dict)
    thresholds: dict = field(default_factory=dict)
    language: str = "en"                # feedback, results.json and summary
    reveal_hidden: bool = False
    course_name: str = ""
    isolation: str = DEFAULT_LEVEL      # passed on to `grade --isolation`

    def __post_init__(self):
        check_language(self.language)
        for name in ("workers", "submission_timeout", "step_timeout", "memory_mb"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive. Received: {getattr(self, name)!r}")
        for assignment_id in self.assignments:
            graders.load(assignment_id)  # validates the id


@dataclass(frozen=True)
class Student:
    id: str
    path: Path  # a folder of <assignment>.py/.ipynb files, or one file


@dataclass
class SubmissionSummary:
    student: str
    status: str        # "graded", "timeout", "memory", "failed"
    score: float
    max_score: float
    seconds: float
    peak_mb: float
    message: Text | str = ""


@dataclass(frozen=True)
class Rejected:
    """An entry of the submissions folder that is not graded as a student, and why."""

    name: str
    path: Path
    reason: Text


class Discovery(NamedTuple):
    students: list[Student]
    rejected: list[Rejected]


def student_id_problem(student_id: str) -> Text | None:
    """Why ``student_id`` cannot be a student id (it names a folder under OUT and a grades.csv row), or None."""
    if any(c in PATH_SEPARATORS for c in student_id):
        return tr("the name holds a path separator")
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") or c in BIDI_CONTROLS for c in student_id):
        return tr("the name holds a control character (a newline, tab or the like)")
    if any(unicodedata.category(c) == "Cs" for c in student_id):  # bytes that are not UTF-8, as os.fsdecode keeps them
        return tr("the name is not valid UTF-8")
    if len(student_id) > MAX_ID_CHARS:
        return tr("the name is longer than {limit} characters", limit=MAX_ID_CHARS)
    return None


def survey(submissions: Path) -> Discovery:
    """The students in ``submissions`` (one per sub-folder, or per ``<student>.py``/``.ipynb`` file, sorted by id)
    and the entries that would be students but are refused: links (a link would grade files from outside the
    class folder), special files, and names that are no safe student id (see :func:`student_id_problem`).
    Hidden entries (``.``, ``_``) and other files are passed over silently, as before."""
    submissions = Path(submissions)
    if not submissions.is_dir():
        raise FileNotFoundError(f"submissions folder not found. Received: {str(submissions)!r}")
    found = Discovery([], [])
    for entry in sorted(submissions.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_symlink():
            if entry.is_dir() or entry.suffix in SUBMISSION_SUFFIXES:
                found.rejected.append(Rejected(entry.name, entry,
                                               tr("it is a link; copy the student's files in instead")))
            continue
        if entry.is_dir():
            student_id = entry.name
        elif entry.suffix in SUBMISSION_SUFFIXES:
            student_id = entry.stem
            if not entry.is_file():
                found.rejected.append(Rejected(entry.name, entry, tr("it is not a regular file")))
                continue
        else:
            continue
        problem = student_id_problem(student_id)
        if problem is not None:
            found.rejected.append(Rejected(entry.name, entry, problem))
        else:
            found.students.append(Student(student_id, entry))
    return found


def discover(submissions: Path) -> list[Student]:
    """One student per sub-folder, or per ``<student>.py``/``.ipynb`` file, sorted by id (see :func:`survey`)."""
    return survey(submissions).students


def is_done(out: Path, student: str) -> bool:
    return (out / student / RESULTS_FILE).is_file()


# ---------------------------------------------------------------------------- one submission
def _grade_command(student: Student, options: BatchOptions, workdir: Path, results: Path) -> list[str]:
    """``python -m autograder grade`` for this student; a lone file is graded as the one assignment."""
    target = student.path
    command = [sys.executable, "-P", "-m", "autograder", "grade"]  # -P: nothing of the cwd on sys.path
    if student.path.is_file():
        if len(options.assignments) != 1:
            raise ValueError(f"{student.path.name}: a single-file submission needs exactly one assignment "
                             f"(--assignment). Received: {list(options.assignments)}")
        target = workdir / f"{options.assignments[0]}{student.path.suffix}"
        target.write_bytes(student.path.read_bytes())
    if len(options.assignments) == 1:
        command += ["--assignment", options.assignments[0]]
    command += [str(target), "--record", str(results), "--timeout", str(options.step_timeout),
                "--memory-mb", str(options.memory_mb), "--seed", str(options.seed), "--data", options.data,
                "--threads", "1", "--isolation", options.isolation]
    if options.data_dir:
        command += ["--data-dir", options.data_dir]
    if options.config:
        command += ["--config", str(options.config)]
    return command


def failed_result(student: str, options: BatchOptions, state: str, message: Text) -> SubmissionResult:
    """Every check of every assignment at zero, with the reason: how a lost submission is recorded."""
    result = SubmissionResult(student, isolation=options.isolation)
    status = ProbeStatus(state, message)
    for assignment_id in options.assignments:
        assignment = graders.load_configured(assignment_id, options.points, options.thresholds)
        checks = [not_run(assignment.id, check, status) for check in assignment.checks]
        result.assignments.append(AssignmentResult(assignment.id, assignment.title, None, checks, 0.0))
    return result


def grade_one(student: Student, options: BatchOptions, out: Path, stop: threading.Event) -> SubmissionSummary:
    """Grade one student in a child process within the time and memory limits; write their outputs."""
    folder = out / student.id
    folder.mkdir(parents=True, exist_ok=True)
    started, peak = time.monotonic(), 0.0
    with tempfile.TemporaryDirectory(prefix="ag-batch-") as workdir:
        partial = Path(workdir) / RECORD_FILE  # complete only when the grader finished
        try:
            command = _grade_command(student, options, Path(workdir), partial)
        except ValueError as exc:
            return _record(student, options, folder, "failed", literal(str(exc)), started, peak)
        with open(folder / "grading.log", "wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                       env={**os.environ, "COLUMNS": "160"})
            watched, state = psutil.Process(process.pid), None
            while process.poll() is None:
                peak = max(peak, resident_mb(watched))
                if stop.is_set():
                    state = "interrupted"
                elif time.monotonic() - started > options.submission_timeout:
                    state = "timeout"
                elif peak > options.memory_mb + GRADER_ALLOWANCE_MB:
                    state = "memory"
                if state:
                    kill_group(process)
                    break
                time.sleep(POLL_SECONDS)
            else:
                kill_group(process)  # whatever the grader left behind
        if state == "interrupted":
            raise KeyboardInterrupt
        if state == "timeout":
            return _record(student, options, folder, "timeout",
                           tr("Grading this submission took longer than {limit:g} s and was stopped.",
                              limit=options.submission_timeout), started, peak)
        if state == "memory":
            return _record(student, options, folder, "memory",
                           tr("Grading this submission used more than {limit} MiB of memory and was stopped.",
                              limit=options.memory_mb + GRADER_ALLOWANCE_MB), started, peak)
        if not partial.is_file():
            return _record(student, options, folder, "failed",
                           tr("The grader ended without a result (exit code {code}); see {log}.",
                              code=process.returncode, log=f"{student.id}/grading.log"), started, peak)
        result, _ = read_record(partial)
    summary = SubmissionSummary(student.id, "graded", result.score, result.max_score, time.monotonic() - started, peak)
    write_outputs(folder, student.id, result, summary, options)
    return summary


def _record(student: Student, options: BatchOptions, folder: Path, status: str, message: Text,
            started: float, peak: float) -> SubmissionSummary:
    state = "timeout" if status == "timeout" else "error"
    result = failed_result(student.id, options, state, message)
    result.seconds = time.monotonic() - started
    summary = SubmissionSummary(student.id, status, 0.0, result.max_score, result.seconds, peak, message)
    write_outputs(folder, student.id, result, summary, options)
    return summary


def write_outputs(folder: Path, student: str, result: SubmissionResult, summary: SubmissionSummary,
                  options: BatchOptions) -> None:
    """The student's record, feedback pages and (last, marking them done) Gradescope results.json."""
    write_record(result, folder / RECORD_FILE,
                 batch={"status": summary.status, "seconds": round(summary.seconds, 3), "peak_mb": round(summary.peak_mb)})
    page = {"student": student, "course": options.course_name, "language": options.language,
            "reveal_hidden": options.reveal_hidden}
    write_text_atomically(folder / FEEDBACK_HTML, feedback_html(result, **page))
    write_text_atomically(folder / FEEDBACK_MD, feedback_markdown(result, **page))
    write_gradescope(result, folder / RESULTS_FILE, language=options.language, reveal_hidden=options.reveal_hidden)


def write_summary(out: Path, options: BatchOptions) -> Path:
    """``summary.html`` from every student's record under ``out`` (earlier runs included)."""
    students = []
    for path in sorted(out.glob(f"*/{RECORD_FILE}")):
        result, record = read_record(path)
        batch = record.get("batch", {})
        students.append(GradedStudent(path.parent.name, result, batch.get("status", "graded"),
                                      float(batch.get("seconds", result.seconds)), float(batch.get("peak_mb", 0))))
    path = out / SUMMARY_FILE
    write_text_atomically(path, summary_html(students, course=options.course_name, language=options.language))
    return path


# ---------------------------------------------------------------------------- the class
def spreadsheet_safe(text: str) -> str:
    """``text`` for a grades.csv cell: shown by a spreadsheet, never run (a leading ``'`` before a formula sign)."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} is not a number: {value!r:.40}")
    return float(value)


def _grades_row(results: Path, assignments: tuple[str, ...]) -> list[str]:
    """One student's grades.csv row from their results.json; ValueError (or OSError) when it is unusable."""
    problem = student_id_problem(results.parent.name)
    if problem is not None:
        raise ValueError(str(problem))
    payload = json.loads(results.read_text(encoding="utf-8"))
    if not isinstance(payload, dict) or not isinstance(payload.get("tests"), list):
        raise ValueError("no list of tests")
    per_assignment = {a: 0.0 for a in assignments}
    outcomes = set()
    for test in payload["tests"]:
        tags = test.get("tags") if isinstance(test, dict) else None
        extra = test.get("extra_data") if isinstance(test, dict) else None
        if not (isinstance(tags, list) and tags and isinstance(tags[0], str) and isinstance(extra, dict)
                and isinstance(extra.get("outcome"), str)):
            raise ValueError("a test without tags or outcome")
        per_assignment[tags[0]] = per_assignment.get(tags[0], 0.0) + _number(test.get("score"), "a test's score")
        outcomes.add(extra["outcome"])
    status = "timeout" if "timeout" in outcomes else "error" if "error" in outcomes else "ok"
    score, max_score = _number(payload.get("score"), "score"), _number(payload.get("max_score"), "max_score")
    extra = payload.get("extra_data")
    isolation = extra.get("isolation") if isinstance(extra, dict) else None
    isolation = isolation if isolation in (*LEVELS, "not run") else "unknown"  # the level student code ran under
    return [spreadsheet_safe(results.parent.name), *(f"{per_assignment[a]:g}" for a in assignments),
            f"{score:g}", f"{max_score:g}", spreadsheet_safe(status), isolation]


def write_grades_csv(out: Path, assignments: tuple[str, ...]) -> Path:
    """``grades.csv`` from every results.json under ``out``: one row per student (see README for columns).

    Text cells are made safe for spreadsheets (:func:`spreadsheet_safe`); a results.json that cannot be read,
    does not parse or lacks fields, or sits in a folder whose name is no safe student id, is left out with a
    warning on stderr, never a crash.
    """
    rows = []
    for results in sorted(out.glob(f"*/{RESULTS_FILE}")):
        try:
            rows.append(_grades_row(results, assignments))
        except (OSError, ValueError) as exc:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
            print(f"warning: {GRADES_FILE} leaves out {results.parent.name!r}: {str(results)!r} is unusable "
                  f"({type(exc).__name__}: {str(exc)[:200]!r})", file=sys.stderr)
    path = out / GRADES_FILE
    with atomic_path(path) as temporary, open(temporary, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([spreadsheet_safe(cell) for cell in ("student_id", *assignments, "total", "max", "status",
                                                                  "isolation")])
        writer.writerows(rows)
    return path


@dataclass
class BatchReport:
    summaries: list[SubmissionSummary] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)  # entries not graded as students (names, links)
    interrupted: bool = False
    seconds: float = 0.0


def grade_all(submissions: Path, out: Path, options: BatchOptions, *, resume: bool = False,
              progress=None) -> BatchReport:
    """Grade every student in ``submissions`` into ``out``; ``progress(event, outcome_or_student)`` is told as it goes."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    students, rejected = survey(submissions)
    report, started = BatchReport(rejected=rejected), time.monotonic()
    todo = [s for s in students if not (resume and is_done(out, s.id))]
    report.skipped = [s.id for s in students if s not in todo]
    stop = threading.Event()
    notify = progress or (lambda event, item: None)
    with ThreadPoolExecutor(max_workers=options.workers) as pool:
        pending: dict[Future, Student] = {}
        queue = list(todo)
        try:
            while queue or pending:
                while queue and len(pending) < options.workers:
                    student = queue.pop(0)
                    notify("start", student)
                    pending[pool.submit(grade_one, student, options, out, stop)] = student
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    pending.pop(future)
                    outcome = future.result()
                    report.summaries.append(outcome)
                    write_grades_csv(out, options.assignments)
                    notify("done", outcome)
        except KeyboardInterrupt:
            report.interrupted = True
            stop.set()  # each running grade_one kills its process group and raises
            for future in pending:
                future.exception()  # wait for them, ignore the KeyboardInterrupt they raise
            write_grades_csv(out, options.assignments)
    write_summary(out, options)
    report.seconds = time.monotonic() - started
    return report
