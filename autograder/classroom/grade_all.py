"""Grade a whole class: one submission per student, graded in parallel, results kept as they come.

Each submission is graded by its own grading process (:func:`autograder.host.child.grade_in_child`,
which runs the student's code in its own sandbox workers) with the course's resolved settings,
so a submission that hangs, hogs memory or crashes the grader costs that submission alone.
Results are written the moment a
submission finishes (``OUT/<student>/results.json``, atomically), ``grades.csv`` is
rewritten from them after every submission, and ``--resume`` skips what is done, so an
interrupted run loses nothing already graded. A submission whose grading produced no
result is recorded as an error scoring 0 of the real maximum: never passed, never missing.
"""
from __future__ import annotations

import contextlib
import csv
import functools
import json
import math
import sys
import threading
import time
import traceback
import unicodedata
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

from autograder import graders
from autograder.classroom import workdirs
from autograder.core.settings import Settings
from autograder.host.shared_folder import may_share
from autograder.host.child import GRADER_ALLOWANCE_MB, RECORD_FILE, ChildEnd, GradingRun, grade_in_child
from autograder.host.grading import (SUBMISSION_SUFFIXES, AssignmentResult, SubmissionResult, applied_settings,
                                     assignment_ids, grading_context, sandbox_limits)
from autograder.core.i18n import Text, literal, tr
from autograder.host.isolation import LEVELS
from autograder.host.zygote import Zygote, ZygoteUnavailable
from autograder.host.nursery import Nursery, NurseryProcess, NurseryUnavailable
from autograder.host.runner import start_nursery
from autograder.core.outcomes import ProbeStatus, not_run
from autograder.publish.feedback import feedback_html, feedback_markdown
from autograder.publish.records import read_record, write_record
from autograder.core.files import atomic_path, write_text_atomically
from autograder.publish.results_json import write_gradescope
from autograder.publish.summary import GradedStudent, summary_html

RESULTS_FILE = "results.json"   # written last: a student with this file is done (--resume)
FEEDBACK_HTML, FEEDBACK_MD = "feedback.html", "feedback.md"
GRADES_FILE = "grades.csv"
SUMMARY_FILE = "summary.html"
LOG_FILE = "grading.log"
WORKDIR_PREFIX = "ag-batch-"  # a student's temporary folder here: ag-batch-<pid namespace>-<grade-all's pid>-<random>
MAX_ID_CHARS = 128
# Student ids become folder names, CSV cells and lines of output: no separators, nothing that breaks a line
# (str.splitlines breaks on more than \n) or reorders what a terminal shows (bidirectional overrides).
PATH_SEPARATORS = frozenset("/\\")
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# A spreadsheet runs a cell starting with one of these as a formula (OWASP: CSV injection); full-width signs too
# in some locales, and they cost nothing to cover.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


# grade-all's options are the resolved settings (autograder.course.config.resolve_settings): the same for every
# student's grading process as for `grade`, Gradescope and nbgrader. The old name stays for its callers.
BatchOptions = Settings


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
    where: dict = field(default_factory=dict)  # on a cluster: the worker and when its task ran (record.json)


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
def lone_file_name(student: Student, options: Settings) -> str:
    """The name a lone-file student's file is graded under: that of the one assignment chosen (ValueError else)."""
    chosen = assignment_ids(options)
    if len(chosen) != 1:
        raise ValueError(f"{student.path.name}: a single-file submission needs exactly one assignment "
                         f"(--assignment). Received: {list(chosen)}")
    return f"{chosen[0]}{student.path.suffix}"


def _submission_target(student: Student, options: Settings, workdir: Path) -> Path:
    """What the student's grading process grades: their folder, or a lone file copied under the name of the
    one assignment (which it is graded as)."""
    if not student.path.is_file():
        return student.path
    target = workdir / lone_file_name(student, options)
    target.write_bytes(student.path.read_bytes())
    return target


def failed_result(student: str, options: Settings, state: str, message: Text) -> SubmissionResult:
    """Every check of every assignment at zero, with the reason: how a lost submission is recorded."""
    result = SubmissionResult(student, isolation=options.isolation,
                              settings=applied_settings(options, grading_context(options), sandbox_limits(options)))
    status = ProbeStatus(state, message)
    for assignment_id in assignment_ids(options):
        assignment = graders.load_configured(assignment_id, options.points, options.thresholds)
        checks = [not_run(assignment.id, check, status) for check in assignment.checks]
        result.assignments.append(AssignmentResult(assignment.id, assignment.title, None, checks, 0.0))
    return result


def grade_one(student: Student, options: Settings, out: Path, stop: threading.Event,
              zygote: Zygote | None = None, run: GradingRun = GradingRun()) -> Callable[[], SubmissionSummary]:
    """Grade one student in a child process, as ``run`` says (:func:`class_run`), within the time and memory
    limits (forked from ``zygote`` when given). Returns what writes their outputs: the caller runs it, so that
    the next student need not wait for a feedback page to be drawn."""
    folder = out / student.id
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with workdirs.owned_workdir(WORKDIR_PREFIX) as workdir:
        try:
            target = _submission_target(student, options, workdir)
        except ValueError as exc:
            return functools.partial(_record, student, options, folder, "failed", literal(str(exc)), started, 0.0,
                                     ended=time.monotonic())
        end = grade_in_child(target, options, run, workdir=workdir, log=folder / LOG_FILE, stop=stop, zygote=zygote)
    if end.stopped == "interrupted":
        raise KeyboardInterrupt
    return functools.partial(summarize, student, options, folder, end, started, ended=time.monotonic())


def summarize(student: Student, options: Settings, folder: Path, end: ChildEnd, started: float,
              where: dict | None = None, *, ended: float | None = None) -> SubmissionSummary:
    """Write a student's outputs from how their grading process ended (here or on a cluster's worker, ``where``);
    ``ended``: when it ended, if not now."""
    ended = time.monotonic() if ended is None else ended
    if end.stopped == "timeout":
        return _record(student, options, folder, "timeout",
                       tr("Grading this submission took longer than {limit:g} s and was stopped.",
                          limit=options.submission_timeout), started, end.peak_mb, where, ended=ended)
    if end.stopped == "memory":
        return _record(student, options, folder, "memory",
                       tr("Grading this submission used more than {limit} MiB of memory and was stopped.",
                          limit=options.memory_mb + GRADER_ALLOWANCE_MB), started, end.peak_mb, where, ended=ended)
    result = end.result
    if result is None:
        return _record(student, options, folder, "failed",
                       tr("The grader ended without a result (exit code {code}); see {log}.",
                          code=end.returncode, log=f"{student.id}/{LOG_FILE}"), started, end.peak_mb, where,
                       ended=ended)
    summary = SubmissionSummary(student.id, "graded", result.score, result.max_score, ended - started, end.peak_mb,
                                where=dict(where or {}))
    write_outputs(folder, student.id, result, summary, options)
    return summary


def record_failure(student: Student, options: Settings, out: Path, message: Text, started: float) -> SubmissionSummary:
    """A student whose grading produced no result at all (e.g. it killed its cluster workers): zero, with why."""
    folder = out / student.id
    folder.mkdir(parents=True, exist_ok=True)
    return _record(student, options, folder, "failed", message, started, 0.0, ended=time.monotonic())


def _record(student: Student, options: Settings, folder: Path, status: str, message: Text,
            started: float, peak: float, where: dict | None = None, *, ended: float) -> SubmissionSummary:
    """Zero for the student, with why (``status``, ``message``); ``ended``: when their grading ended."""
    state = "timeout" if status == "timeout" else "error"
    result = failed_result(student.id, options, state, message)
    result.seconds = ended - started
    summary = SubmissionSummary(student.id, status, 0.0, result.max_score, result.seconds, peak, message,
                                dict(where or {}))
    write_outputs(folder, student.id, result, summary, options)
    return summary


def write_outputs(folder: Path, student: str, result: SubmissionResult, summary: SubmissionSummary,
                  options: Settings) -> None:
    """The student's record, feedback pages and (last, marking them done) Gradescope results.json."""
    write_record(result, folder / RECORD_FILE,
                 batch={"status": summary.status, "seconds": round(summary.seconds, 3),
                        "peak_mb": round(summary.peak_mb),
                        **summary.where})
    page = {"student": student, "course": options.name, "language": options.language,
            "reveal_hidden": options.reveal_hidden}
    for name, draw in ((FEEDBACK_HTML, feedback_html), (FEEDBACK_MD, feedback_markdown)):
        write_text_atomically(folder / name, _page(draw, result, page, name))
    write_gradescope(result, folder / RESULTS_FILE, language=options.language, reveal_hidden=options.reveal_hidden)


def _page(draw, result: SubmissionResult, page: dict, name: str) -> str:
    """A feedback page; one the kit fails to draw (its own fault, whatever text the student's code put in the
    result) becomes a line saying so, with the traceback on standard error, so that the grade is still written
    and the class goes on."""
    try:
        return draw(result, **page)
    except Exception:  # noqa: BLE001 - a fault of the kit's, reported to the instructor, never to the student
        sys.stderr.write(f"grade-all: could not draw {page['student']}/{name} (a fault of the kit's):\n"
                         f"{traceback.format_exc()}")
        return (f"The feedback page for {page['student']} could not be drawn (a fault of the grading kit's; "
                f"the grade in {RESULTS_FILE} stands). Please tell your instructor.\n")


def write_summary(out: Path, options: Settings) -> Path:
    """``summary.html`` from every student's record under ``out`` (earlier runs included)."""
    students = []
    for path in sorted(out.glob(f"*/{RECORD_FILE}")):
        result, record = read_record(path)
        batch = record.get("batch", {})
        students.append(GradedStudent(path.parent.name, result, batch.get("status", "graded"),
                                      float(batch.get("seconds", result.seconds)), float(batch.get("peak_mb", 0))))
    path = out / SUMMARY_FILE
    write_text_atomically(path, summary_html(students, course=options.name, language=options.language))
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


def _pool_outcomes(todo: list[Student], options: Settings, out: Path, notify) -> Iterator[SubmissionSummary]:
    """Grade on this machine: ``workers`` students at once, each in its own grading process (``--cluster local``).

    On Ctrl-C every running grading process is killed and waited for before the KeyboardInterrupt goes on."""
    stop = threading.Event()
    workdirs.sweep(WORKDIR_PREFIX)  # what a grade-all killed before (SIGKILL) left behind
    # One thread writes the outputs (feedback pages, plots), so a grading slot is free the moment its grading
    # process ends: students graded side by side end together, and the next ones started a second or two late.
    with contextlib.ExitStack() as cleanup, ThreadPoolExecutor(max_workers=options.worker_count) as pool, \
            ThreadPoolExecutor(max_workers=1) as writer:
        # the nursery imports TensorFlow while the zygote does
        nursery = start_run_nursery(options, cleanup, WORKDIR_PREFIX) if todo else None
        zygote = _start_zygote() if todo else None
        if zygote is not None:
            cleanup.callback(zygote.close)
        run = class_run(run_shared_folder(options, cleanup), nursery=run_nursery_ready(nursery))
        grading: dict[Future, Student] = {}
        writing: set[Future] = set()
        queue = list(todo)
        try:
            while queue or grading or writing:
                while queue and len(grading) < options.worker_count:
                    student = queue.pop(0)
                    notify("start", student)
                    grading[pool.submit(grade_one, student, options, out, stop, zygote, run)] = student
                finished, _ = wait([*grading, *writing], return_when=FIRST_COMPLETED)
                for future in finished:
                    if future in writing:
                        writing.remove(future)
                        yield future.result()
                    else:
                        grading.pop(future)
                        writing.add(writer.submit(future.result()))
        except KeyboardInterrupt:
            stop.set()  # each running grade_one kills its process group and raises
            for future in grading:
                future.exception()  # wait for them, ignore the KeyboardInterrupt they raise
            for future in writing:
                future.exception()  # a student graded before the interrupt keeps their outputs
            raise


def class_run(shared_folder: Path | None, defer_to: Path | None = None, nursery: Nursery | None = None) -> GradingRun:
    """How each student's grading process grades in a class: its cores are busy with other students, so one
    TensorFlow thread, one judge, and TensorFlow only once a probe ran (a stub's or a crash's grading needs none);
    their sandbox workers forked from the run's ``nursery`` where there is one."""
    return GradingRun(threads=1, tensorflow_on_demand=True, defer_to=defer_to, shared_folder=shared_folder,
                      nursery=nursery)


def start_run_nursery(options: Settings, cleanup: contextlib.ExitStack, prefix: str) -> NurseryProcess | None:
    """A worker nursery (:mod:`autograder.host.nursery`) for a run with ``options``, starting, closed with
    ``cleanup`` (after the run: no grading process uses it any more), in a folder named ``prefix``... that a later
    run sweeps if this one is killed; None (said on stderr) where the isolation level is not bwrap or it cannot
    start: each worker is then a fresh sandbox, as before."""
    if options.isolation != "bwrap":
        return None
    try:
        folder = cleanup.enter_context(workdirs.owned_workdir(prefix))
        return cleanup.enter_context(start_nursery(sandbox_limits(options).threads, folder))
    except (NurseryUnavailable, OSError) as exc:
        return _without_nursery(exc)


def run_nursery_ready(nursery: NurseryProcess | None) -> Nursery | None:
    """How to ask ``nursery`` for workers once it has imported TensorFlow; None (said on stderr) where it did not
    start."""
    if nursery is None:
        return None
    try:
        return nursery.ready()
    except NurseryUnavailable as exc:
        return _without_nursery(exc)


def _without_nursery(reason: Exception) -> None:
    print(f"note: each sandbox worker starts in a fresh sandbox ({reason})", file=sys.stderr)


def run_shared_folder(options: Settings, cleanup: contextlib.ExitStack) -> Path | None:
    """The run's shared folder (:mod:`autograder.host.shared_folder`), where its grading processes share frozen-base
    features and training runs (:mod:`autograder.host.feature_cache`, :mod:`autograder.host.training_cache`):
    mode 0700, this user's, never bound into a sandbox, removed when ``cleanup`` closes (or swept, if this process
    is killed). None where the isolation level does not allow sharing (``shared_folder.may_share``)."""
    if not may_share(options.isolation):
        return None
    return cleanup.enter_context(workdirs.owned_workdir(WORKDIR_PREFIX))


def _start_zygote() -> Zygote | None:
    """The process the students' grading processes are forked from (:mod:`autograder.host.zygote`), or None
    (said on stderr) when it cannot start: each is then started as a process of its own, as before."""
    try:
        return Zygote()
    except (ZygoteUnavailable, OSError) as exc:
        print(f"note: grading processes start without the zygote ({exc})", file=sys.stderr)
        return None


def grade_all(submissions: Path, out: Path, options: Settings, *, resume: bool = False,
              progress=None) -> BatchReport:
    """Grade every student in ``submissions`` into ``out``; ``progress(event, item)`` is told as it goes
    (("start", Student), ("done", SubmissionSummary), and on a Dask cluster ("workers", count)).

    ``options.cluster`` says where: ``local`` grades on this machine; anything else on Dask distributed
    (:mod:`autograder.classroom.cluster`). Either way only this process writes into ``out``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    students, rejected = survey(submissions)
    report, started = BatchReport(rejected=rejected), time.monotonic()
    todo = [s for s in students if not (resume and is_done(out, s.id))]
    report.skipped = [s.id for s in students if s not in todo]
    notify = progress or (lambda event, item: None)
    if options.cluster == "local":
        outcomes = _pool_outcomes(todo, options, out, notify)
    else:
        from autograder.classroom.cluster import cluster_outcomes

        outcomes = cluster_outcomes(todo, options, out, notify)
    try:
        for outcome in outcomes:
            report.summaries.append(outcome)
            write_grades_csv(out, assignment_ids(options))
            notify("done", outcome)
    except KeyboardInterrupt:
        report.interrupted = True
        write_grades_csv(out, assignment_ids(options))
    write_summary(out, options)
    report.seconds = time.monotonic() - started
    return report
