"""Grading in a child process: the one place the kit starts a grading process of its own.

Two routes need one: ``grade-all`` (one per student, so that a hang, a memory hog or a crash of
the grader costs that student alone) and the notebook kernel (whose own process is the
student's). :func:`grade_in_child` starts :data:`CHILD_ARGV`, always the same, and writes the
request to its standard input as JSON: the submission, the resolved settings as plain data
(:meth:`autograder.core.settings.Settings.plain`) and where to write the record. The child grades
with :func:`autograder.host.grading.grade_submission`, prints the report to its output (the
caller's log) and writes the record (:mod:`autograder.publish.records`), which the parent reads
back. Plain JSON both ways, never pickle: nothing either side reads can run code.
:func:`judge_in_child` starts the same child to judge training checks a grading exported
(:mod:`autograder.host.deferred`: ``grade-all`` on Dask with GPU workers).

While it runs, the child is watched against the same settings every route applies: past
``submission_timeout`` seconds, or past ``memory_mb`` plus :data:`GRADER_ALLOWANCE_MB` (the
grading process's own TensorFlow and training) for the whole process tree, or when the caller's
``stop`` is set (Ctrl-C), it is killed with everything it started.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import psutil

from autograder.core.settings import Settings
from autograder.core.trees import TemporaryFolder
from autograder.host.nursery import Nursery
from autograder.host.runner import kill_group, resident_mb

CHILD_ARGV = (sys.executable, "-P", "-m", "autograder.host.child")  # -P: nothing of the working folder on sys.path
REQUEST_FORMAT = "tf2-exercise-kit/grade-request/2"
JUDGE_FORMAT = "tf2-exercise-kit/judge-request/1"    # deferred training checks (autograder.host.deferred)
JUDGED_FORMAT = "tf2-exercise-kit/judged-checks/1"   # what a judging child writes
RECORD_FILE = "record.json"  # in the caller's work folder; complete only when the child finished grading
LOG_FILE = "grading.log"
POLL_SECONDS = 0.2
# The grading process itself (TensorFlow, the training runs of accuracy checks) needs this much on top of the
# student's worker; the whole tree is stopped beyond memory_mb + GRADER_ALLOWANCE_MB.
GRADER_ALLOWANCE_MB = 4096
LOG_TAIL_CHARS = 2000
# TensorFlow threads of a grading process that has the machine to itself (grade, Gradescope, the kernel's child);
# grade-all, which runs several at once, gives each one.
DEFAULT_THREADS = max(1, min(4, os.cpu_count() or 1))
REPORT_COLUMNS = "160"  # the width of the report the child prints into its log
# The pid of the process that watches the child: the child dies with it (see die_with_watcher).
WATCHER_ENV = "TF2_KIT_GRADING_WATCHER"
PR_SET_PDEATHSIG = 1
TMPDIR_ENV = "TMPDIR"


@dataclass
class ChildEnd:
    """How a grading child ended: its record (None when it wrote none), and why it stopped if it was stopped."""

    record: dict[str, Any] | None
    returncode: int | None
    stopped: str | None  # "timeout", "memory" or "interrupted" when the watch killed it; None when it ended itself
    peak_mb: float
    seconds: float
    log_tail: str        # the end of its output, for a message when it wrote no record

    @property
    def result(self):
        """The record as an :class:`autograder.host.grading.SubmissionResult` (None without a record)."""
        from autograder.publish.records import from_record

        return None if self.record is None else from_record(self.record)


@dataclass(frozen=True)
class GradingRun:
    """How a grading process grades, besides the settings; the same for every student of a run.

    ``threads`` and ``tensorflow_on_demand``: TensorFlow in its judging (see
    :class:`autograder.host.grading.TensorflowStart`); ``defer_to``: a folder for the training checks, which
    another process judges (:mod:`autograder.host.deferred`); ``shared_folder``: the run's folder of
    frozen-base features and training runs, which only grading processes reach (:mod:`autograder.host.feature_cache`,
    :mod:`autograder.host.training_cache`); ``nursery``:
    where the run's sandbox workers are forked from (:mod:`autograder.host.nursery`).
    """

    threads: int = 1
    tensorflow_on_demand: bool = False
    defer_to: Path | None = None
    shared_folder: Path | None = None
    nursery: Nursery | None = None

    def __post_init__(self) -> None:
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise ValueError(f"threads must be a whole number of at least 1. Received: {self.threads!r}")
        if not isinstance(self.tensorflow_on_demand, bool):
            raise TypeError(f"tensorflow_on_demand must be true or false. Received: {self.tensorflow_on_demand!r}")

    def plain(self) -> dict[str, Any]:
        folders = {key: None if value is None else str(value)
                   for key, value in (("defer_to", self.defer_to), ("shared_folder", self.shared_folder))}
        return {"threads": self.threads, "tensorflow_on_demand": self.tensorflow_on_demand, **folders,
                "nursery": None if self.nursery is None else self.nursery.plain()}

    @classmethod
    def from_plain(cls, data: Any) -> GradingRun:
        """The run :meth:`plain` describes; ValueError or TypeError for anything else."""
        if not isinstance(data, dict) or set(data) != {"threads", "tensorflow_on_demand", "defer_to",
                                                       "shared_folder", "nursery"}:
            raise ValueError(f"not a grading run. Received: {str(data)[:200]!r}")
        folders = {key: None if data[key] is None else Path(data[key]) for key in ("defer_to", "shared_folder")}
        nursery = None if data["nursery"] is None else Nursery.from_plain(data["nursery"])
        return cls(data["threads"], data["tensorflow_on_demand"], **folders, nursery=nursery)


def request(submission: Path, settings: Settings, record: Path, run: GradingRun) -> dict[str, Any]:
    """What the child is told, as JSON data."""
    return {"format": REQUEST_FORMAT, "submission": str(submission), "settings": settings.plain(),
            "record": str(record), "run": run.plain()}


def judge_request(folder: Path, settings: Settings, results: Path) -> dict[str, Any]:
    """What a judging child is told: judge the deferred checks in ``folder``, write them to ``results``."""
    return {"format": JUDGE_FORMAT, "folder": str(folder), "settings": settings.plain(), "results": str(results)}


def _stop_reason(settings: Settings, seconds: float, peak_mb: float, stop: threading.Event | None) -> str | None:
    if stop is not None and stop.is_set():
        return "interrupted"
    if seconds > settings.submission_timeout:
        return "timeout"
    if peak_mb > settings.memory_mb + GRADER_ALLOWANCE_MB:
        return "memory"
    return None


def _send(process: subprocess.Popen, payload: dict[str, Any]) -> None:
    try:
        process.stdin.write(json.dumps(payload).encode("utf-8"))
        process.stdin.close()
    except BrokenPipeError:
        pass  # it ended before reading: it wrote no record, which the caller reports


def _forked(zygote, payload: dict[str, Any], log: Path, scratch: str):
    from autograder.host.zygote import ZygoteUnavailable

    try:
        return zygote.spawn(payload, log, scratch)
    except ZygoteUnavailable as exc:
        print(f"note: starting a grading process without the zygote ({exc})", file=sys.stderr)
        return None


def _read_judged(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data["judged"] if isinstance(data, dict) and data.get("format") == JUDGED_FORMAT else None


def _read_record(path: Path) -> dict[str, Any] | None:
    from autograder.publish.records import read_record

    if not path.is_file():
        return None
    try:
        return read_record(path)[1]
    except (OSError, ValueError, KeyError, TypeError):  # JSONDecodeError is a ValueError: fail closed, no result
        return None


def _tail(log: Path) -> str:
    try:
        with open(log, "rb") as handle:
            handle.seek(max(0, log.stat().st_size - 4 * LOG_TAIL_CHARS))
            return handle.read().decode("utf-8", "replace")[-LOG_TAIL_CHARS:]
    except OSError:
        return ""


def _watch(process: subprocess.Popen, settings: Settings, stop: threading.Event | None) -> tuple[str | None, float]:
    """Wait for the child, polling its tree's memory; kill it (and all it started) when a limit is passed."""
    started, peak, watched = time.monotonic(), 0.0, psutil.Process(process.pid)
    while process.poll() is None:
        peak = max(peak, resident_mb(watched))
        reason = _stop_reason(settings, time.monotonic() - started, peak, stop)
        if reason:
            kill_group(process)
            return reason, peak
        time.sleep(POLL_SECONDS)
    return None, peak


def grade_in_child(submission: Path, settings: Settings, run: GradingRun = GradingRun(), *,
                   workdir: Path | None = None, log: Path | None = None, stop: threading.Event | None = None,
                   environ: Mapping[str, str] | None = None, zygote=None) -> ChildEnd:
    """Grade ``submission`` with ``settings``, as ``run`` says, in a child process within the settings' time and
    memory.

    ``workdir`` holds the record (default: a temporary folder); ``log`` receives the child's output
    (default: ``workdir/grading.log``); setting ``stop`` kills the child (the result then says "interrupted").
    ``environ``: the child's environment (default: this process's). ``zygote``: an
    :class:`autograder.host.zygote.Zygote` to fork the child from (TensorFlow imported already; the child
    has the environment the zygote was started with, which must be ``environ``); when it cannot, the child
    is started as usual.
    A KeyboardInterrupt here kills it too before it propagates.
    """
    return _supervised(lambda record: request(submission, settings, record, run),
                       settings, workdir=workdir, log=log, stop=stop, environ=environ, zygote=zygote, read=_read_record)


def judge_in_child(folder: Path, settings: Settings, *, workdir: Path, log: Path, stop: threading.Event | None = None,
                   environ: Mapping[str, str] | None = None) -> ChildEnd:
    """Judge the deferred checks in ``folder`` (:mod:`autograder.host.deferred`) in a child process within the
    settings' limits, as :func:`grade_in_child` grades; the ChildEnd's record is ``{assignment: [check JSON]}``."""
    return _supervised(lambda results: judge_request(folder, settings, results), settings, workdir=workdir, log=log,
                       stop=stop, environ=environ, zygote=None, read=_read_judged)


def _supervised(payload_for, settings: Settings, *, workdir, log, stop, environ, zygote, read) -> ChildEnd:
    """Start (or fork) a child told ``payload_for(output file)``, watch it within the limits, read its output."""
    # scratch: the child's TMPDIR, removed here after its whole group is dead, so a child killed at a limit
    # leaves nothing behind (its sandbox's job folders, saved models); apart from the record, which a worker
    # of level uid may be let to traverse towards. Inside ``workdir`` when given: if this process is killed
    # too, whoever sweeps the workdir (autograder.classroom.workdirs) sweeps the scratch with it.
    with (contextlib.nullcontext(workdir) if workdir is not None else TemporaryFolder(
            prefix="ag-child-")) as own, TemporaryFolder(prefix="ag-scratch-", dir=workdir) as scratch:
        folder = Path(own)
        record, log = folder / RECORD_FILE, Path(log) if log is not None else folder / LOG_FILE
        record.unlink(missing_ok=True)  # only this run's record counts
        payload = payload_for(record)
        started = time.monotonic()
        process = _forked(zygote, payload, log, scratch) if zygote is not None else None
        if process is None:  # a process of its own, told by its standard input
            with open(log, "wb") as output:
                process = subprocess.Popen(CHILD_ARGV, stdin=subprocess.PIPE, stdout=output, stderr=subprocess.STDOUT,
                                           start_new_session=True,
                                           env={**(os.environ if environ is None else environ), TMPDIR_ENV: scratch,
                                                "COLUMNS": REPORT_COLUMNS, WATCHER_ENV: str(os.getpid())})
            _send(process, payload)
        try:
            stopped, peak = _watch(process, settings, stop)
        finally:
            kill_group(process)  # whatever it left behind, or all of it on Ctrl-C
        return ChildEnd(None if stopped else read(record), process.returncode, stopped, peak,
                        time.monotonic() - started, _tail(log))


# ----------------------------------------------------------------------------- the child's side
def die_with_watcher() -> None:
    """Linux: be killed when the process watching this one dies (a Dask worker killed mid-task, say), so no
    grading runs on unwatched, past its limits. The sandbox workers die with this process (bwrap
    --die-with-parent). The watching thread stays in :func:`grade_in_child` while this process lives, so
    the signal, sent when that thread ends, comes only with the watcher's death."""
    watcher = os.environ.get(WATCHER_ENV)
    if watcher is None or not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != int(watcher):  # it died before the line above: nobody watches
        os._exit(1)


def _read_request(text: str) -> dict[str, Any]:
    payload = json.loads(text)
    if not isinstance(payload, dict) or payload.get("format") not in (REQUEST_FORMAT, JUDGE_FORMAT):
        raise ValueError(f"not a grading request of this kit. Received: {text[:200]!r}")
    return payload


def main() -> int:
    """The child: read the request from standard input, grade, report, write the record; the exit code of ``grade``."""
    die_with_watcher()
    return grade_request(sys.stdin.read())


def grade_request(text: str) -> int:
    """Grade as ``text`` (:func:`request`, as JSON) asks: the child's work, whether started or forked by
    :mod:`autograder.host.zygote`; the exit code of ``grade``."""
    from autograder.cli import EXIT_USAGE, grade_and_report, prepare_process

    prepare_process()
    try:
        payload = _read_request(text)
        settings = Settings.from_plain(payload["settings"])
        if payload["format"] == JUDGE_FORMAT:
            folder, results = Path(payload["folder"]), Path(payload["results"])
        else:
            submission, record = Path(payload["submission"]), Path(payload["record"])
            run = GradingRun.from_plain(payload["run"])
    except (ValueError, KeyError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if payload["format"] == JUDGE_FORMAT:
        return _judge(folder, settings, results)
    return grade_and_report(submission, settings, run, record=record)


def _judge(folder: Path, settings: Settings, results: Path) -> int:
    """The judging child: the deferred checks in ``folder``, judged with ``settings``, written to ``results``."""
    from autograder import graders
    from autograder.core.files import write_text_atomically
    from autograder.host.context import configure_tensorflow
    from autograder.host.deferred import judge_folder
    from autograder.host.grading import grading_context

    configure_tensorflow(1)
    assignments = {aid: graders.load_configured(aid, settings.points, settings.thresholds)
                   for aid in graders.ASSIGNMENT_IDS}
    judged = judge_folder(folder, assignments, grading_context(settings))
    write_text_atomically(results, json.dumps({"format": JUDGED_FORMAT, "judged": judged}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
