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
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from autograder import graders
from autograder.grading import SUBMISSION_SUFFIXES, AssignmentResult, SubmissionResult
from autograder.outcomes import ProbeStatus, not_run
from autograder.report import write_gradescope
from autograder.runner import kill_group, resident_mb

RESULTS_FILE = "results.json"
GRADES_FILE = "grades.csv"
POLL_SECONDS = 0.2
# The grading process itself (TensorFlow, the training runs of accuracy checks) needs this much on
# top of the student's worker; the whole tree is stopped beyond memory_mb + GRADER_ALLOWANCE_MB.
GRADER_ALLOWANCE_MB = 4096


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

    def __post_init__(self):
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
    message: str = ""


def discover(submissions: Path) -> list[Student]:
    """One student per sub-folder, or per ``<student>.py``/``.ipynb`` file, sorted by id."""
    submissions = Path(submissions)
    if not submissions.is_dir():
        raise FileNotFoundError(f"submissions folder not found. Received: {str(submissions)!r}")
    students = []
    for entry in sorted(submissions.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_dir():
            students.append(Student(entry.name, entry))
        elif entry.suffix in SUBMISSION_SUFFIXES:
            students.append(Student(entry.stem, entry))
    return students


def is_done(out: Path, student: str) -> bool:
    return (out / student / RESULTS_FILE).is_file()


# ---------------------------------------------------------------------------- one submission
def _grade_command(student: Student, options: BatchOptions, workdir: Path, results: Path) -> list[str]:
    """``python -m autograder grade`` for this student; a lone file is graded as the one assignment."""
    target = student.path
    command = [sys.executable, "-m", "autograder", "grade"]
    if student.path.is_file():
        if len(options.assignments) != 1:
            raise ValueError(f"{student.path.name}: a single-file submission needs exactly one assignment "
                             f"(--assignment). Received: {list(options.assignments)}")
        target = workdir / f"{options.assignments[0]}{student.path.suffix}"
        target.write_bytes(student.path.read_bytes())
    if len(options.assignments) == 1:
        command += ["--assignment", options.assignments[0]]
    command += [str(target), "--json", str(results), "--timeout", str(options.step_timeout),
                "--memory-mb", str(options.memory_mb), "--seed", str(options.seed), "--data", options.data,
                "--threads", "1"]
    if options.data_dir:
        command += ["--data-dir", options.data_dir]
    return command


def failed_result(student: str, options: BatchOptions, state: str, message: str) -> SubmissionResult:
    """Every check of every assignment at zero, with the reason: how a lost submission is recorded."""
    result = SubmissionResult(student)
    status = ProbeStatus(state, message)
    for assignment_id in options.assignments:
        assignment = graders.load(assignment_id)
        checks = [not_run(assignment.id, check, status) for check in assignment.checks]
        result.assignments.append(AssignmentResult(assignment.id, assignment.title, None, checks, 0.0))
    return result


def grade_one(student: Student, options: BatchOptions, out: Path, stop: threading.Event) -> SubmissionSummary:
    """Grade one student in a child process within the time and memory limits; write results.json."""
    folder = out / student.id
    folder.mkdir(parents=True, exist_ok=True)
    results, started, peak = folder / RESULTS_FILE, time.monotonic(), 0.0
    with tempfile.TemporaryDirectory(prefix="ag-batch-") as workdir:
        partial = Path(workdir) / RESULTS_FILE  # moved into place only when complete
        try:
            command = _grade_command(student, options, Path(workdir), partial)
        except ValueError as exc:
            return _record(student, options, results, "failed", str(exc), started, peak)
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
            return _record(student, options, results, "timeout",
                           f"Grading this submission took longer than {options.submission_timeout:g} s and was "
                           "stopped.", started, peak)
        if state == "memory":
            return _record(student, options, results, "memory",
                           f"Grading this submission used more than {options.memory_mb + GRADER_ALLOWANCE_MB} MiB "
                           "of memory and was stopped.", started, peak)
        if not partial.is_file():
            return _record(student, options, results, "failed",
                           f"The grader ended without a result (exit code {process.returncode}); see "
                           f"{student.id}/grading.log.", started, peak)
        partial.replace(results)
    payload = json.loads(results.read_text(encoding="utf-8"))
    return SubmissionSummary(student.id, "graded", payload["score"], payload["max_score"], time.monotonic() - started, peak)


def _record(student: Student, options: BatchOptions, results: Path, status: str, message: str,
            started: float, peak: float) -> SubmissionSummary:
    state = "timeout" if status == "timeout" else "error"
    result = failed_result(student.id, options, state, message)
    result.seconds = time.monotonic() - started
    write_gradescope(result, results)
    return SubmissionSummary(student.id, status, 0.0, result.max_score, result.seconds, peak, message)


# ---------------------------------------------------------------------------- the class
def write_grades_csv(out: Path, assignments: tuple[str, ...]) -> Path:
    """``grades.csv`` from every results.json under ``out``: one row per student (see README for columns)."""
    rows = []
    for results in sorted(out.glob(f"*/{RESULTS_FILE}")):
        payload = json.loads(results.read_text(encoding="utf-8"))
        per_assignment = {a: 0.0 for a in assignments}
        outcomes = set()
        for test in payload["tests"]:
            per_assignment[test["tags"][0]] = per_assignment.get(test["tags"][0], 0.0) + test["score"]
            outcomes.add(test["extra_data"]["outcome"])
        status = "timeout" if "timeout" in outcomes else "error" if "error" in outcomes else "ok"
        rows.append([results.parent.name, *(f"{per_assignment[a]:g}" for a in assignments),
                     f"{payload['score']:g}", f"{payload['max_score']:g}", status])
    path = out / GRADES_FILE
    temporary = path.with_suffix(".csv.tmp")
    with open(temporary, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_id", *assignments, "total", "max", "status"])
        writer.writerows(rows)
    temporary.replace(path)
    return path


@dataclass
class BatchReport:
    summaries: list[SubmissionSummary] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0


def grade_all(submissions: Path, out: Path, options: BatchOptions, *, resume: bool = False,
              progress=None) -> BatchReport:
    """Grade every student in ``submissions`` into ``out``; ``progress(event, outcome_or_student)`` is told as it goes."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    students = discover(submissions)
    report, started = BatchReport(), time.monotonic()
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
    report.seconds = time.monotonic() - started
    return report
