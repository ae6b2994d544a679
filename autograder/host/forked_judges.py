"""Judge a submission on both cores: in forked copies of the grading process, two at once.

One student's checks run one after the other in one process, on one core at a time (small models train
no faster on two threads), while the sandbox worker idles after its probes: ``grade`` of a full submission
spent about 25 s judging on one core of two. Here the grading process, once TensorFlow is imported but
before it has run a single TensorFlow operation, forks a child for each training run (a check with a
threshold) and one for each assignment's other checks, ``lanes`` at once (see ``grading._judged_in_forks``).

Why forks: a child starts in milliseconds with TensorFlow already imported (a new process would import it
again, about 5 s), and every child starts from the same state, so a check's verdict does not depend on
which checks ran before it or on the order in which the children happened to finish. The parent runs no
TensorFlow operation itself (forking after one leaves the child with TensorFlow's thread pools dead).

What crosses back: each child writes its check results as JSON on a pipe (the records' plain format, never
pickle) and exits; a child that dies first (killed, out of memory, a crash inside TensorFlow) costs its
checks an ``error`` marked as the kit's fault, never another child's checks. Children die with the grading
process (``PR_SET_PDEATHSIG``) and are killed when it stops early.

Only trusted code runs in a child: the checks, on what the sandbox returned, loaded as safely as in the
parent. Students' code never runs in the grading process, forked or not. But the models it returned do: a model
the sandbox handed back can ask for any amount of computation or memory (an UpSampling2D(24) before a few large
convolutions took minutes and gigabytes, with nothing to stop it). So each child is held to :class:`JudgeLimits`:
processor time (``RLIMIT_CPU``: the kernel stops it) and resident memory (polled here, as the sandbox's is); a
child stopped at a limit costs its checks an ``error`` that says so, not a fault of the kit's.
"""
from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psutil

from autograder.core.i18n import tr
from autograder.core.outcomes import CheckResult, ProbeStatus, not_run, result_from_json, result_to_json
from autograder.core.settings import DEFAULTS
from autograder.core.spec import Check
from autograder.host.runner import resident_mb

PR_SET_PDEATHSIG = 1
MEMORY_POLL_SECONDS = 0.25


@dataclass(frozen=True)
class JudgeLimits:
    """What one forked judge may use. The kit's own models need seconds of processor time and under a GiB
    (the heaviest child, transfer's training run: about 7 s and 0.9 GiB), so the defaults stop only models far
    larger than any assignment asks for."""

    cpu_seconds: int = 120
    memory_mb: int | None = DEFAULTS.memory_mb


def default_lanes(threads: int) -> int:
    """Two judges where the grading process was given two threads or more and no GPU can be seen (two
    processes would each claim the whole GPU's memory, and CUDA cannot be used across a fork); else one,
    which judges in this process as before."""
    if threads < 2 or _gpu_may_be_visible():
        return 1
    return 2


def tensorflow_has_run() -> bool:
    """Whether this process has started TensorFlow's runtime (run an operation, built a model): its threads
    would not survive a fork, so such a process judges in itself (a test process, a caller's own session)."""
    if "tensorflow" not in sys.modules:
        return False
    try:
        from tensorflow.python.eager import context

        return context.context()._context_handle is not None
    except Exception:  # noqa: BLE001 - TensorFlow changed what it keeps there: cannot tell, so do not fork
        return True


def _gpu_may_be_visible() -> bool:
    if os.environ.get("CUDA_VISIBLE_DEVICES", "").strip() == "-1":
        return False
    return any(Path("/dev").glob("nvidia[0-9]*"))


@dataclass
class _Child:
    pid: int
    pipe: int
    assignment: str
    checks: list[Check]
    started: float
    received: bytearray = field(default_factory=bytearray)
    over_memory: bool = False  # stopped here for its resident memory


@dataclass
class Finished:
    """One child's checks, judged (or recorded as the kit's error when the child died)."""

    assignment: str
    results: list[CheckResult]
    seconds: float
    checks: list[Check] = field(default_factory=list)
    limit_reached: bool = False  # stopped for its processor time or memory: the student's error, not the kit's


class ForkedJudges:
    """Up to ``lanes`` children judging at once; :meth:`submit` waits for a free lane, :meth:`drain` for all."""

    def __init__(self, lanes: int, limits: JudgeLimits = JudgeLimits()):
        if lanes < 1:
            raise ValueError(f"lanes must be at least 1. Received: {lanes!r}")
        self.lanes, self.limits = lanes, limits
        self._running: dict[int, _Child] = {}  # by pipe
        self.finished: list[Finished] = []
        # The children's temporary folder (models they load for checks: about 100 MB each for transfer), removed
        # once every child is reaped, so a child killed mid-check (Ctrl-C) leaves nothing behind.
        self._scratch = tempfile.TemporaryDirectory(prefix="ag-judges-")

    def submit(self, assignment: str, checks: list[Check], judge: Callable[[], list[CheckResult]]) -> None:
        """Judge ``checks`` of ``assignment`` by calling ``judge()`` in a child."""
        while len(self._running) >= self.lanes:
            self._wait_for_one()
        read, write = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(read)
            tempfile.tempdir = self._scratch.name
            resource.setrlimit(resource.RLIMIT_CPU, (self.limits.cpu_seconds, self.limits.cpu_seconds + 5))
            _judge_and_exit(write, judge, parent)
        os.close(write)
        self._running[read] = _Child(pid, read, assignment, checks, time.monotonic())

    def drain(self) -> list[Finished]:
        while self._running:
            self._wait_for_one()
        return self.finished

    def free_lanes(self) -> int:
        """How many lanes are free now; children that have finished are reaped first, without waiting."""
        while self._running and self._wait_for_one(timeout=0):
            pass
        return self.lanes - len(self._running)

    def kill_all(self) -> None:
        for child in list(self._running.values()):
            try:
                os.kill(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(child.pid, 0)
            os.close(child.pipe)
        self._running.clear()

    def __enter__(self) -> ForkedJudges:
        return self

    def __exit__(self, *exc_info) -> None:
        self.kill_all()  # stopped early (an interrupt, an error): nothing judges on, unwatched
        self._scratch.cleanup()

    def _wait_for_one(self, timeout: float | None = None) -> bool:
        """Read what the children sent, reaping those that finished; waits for one unless ``timeout``; whether
        any child had something. Children over the memory limit are stopped meanwhile."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = MEMORY_POLL_SECONDS if deadline is None else max(0.0, min(MEMORY_POLL_SECONDS,
                                                                            deadline - time.monotonic()))
            readable, _, _ = select.select(list(self._running), [], [], wait)
            self._stop_children_over_memory()
            if readable or (deadline is not None and time.monotonic() >= deadline):
                break
        for pipe in readable:
            child = self._running[pipe]
            chunk = os.read(pipe, 1 << 16)
            if chunk:
                child.received += chunk
                continue
            del self._running[pipe]
            os.close(pipe)
            _, status, usage = os.wait4(child.pid, 0)
            results, limit_reached = _results_of(child, status, usage, self.limits)
            self.finished.append(Finished(child.assignment, results, time.monotonic() - child.started, child.checks,
                                          limit_reached))
        return bool(readable)

    def _stop_children_over_memory(self) -> None:
        if self.limits.memory_mb is None:
            return
        for child in self._running.values():
            try:
                over = resident_mb(psutil.Process(child.pid)) > self.limits.memory_mb
            except psutil.Error:  # it ended meanwhile: its pipe says so
                continue
            if over and not child.over_memory:
                child.over_memory = True
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGKILL)


def _results_of(child: _Child, status: int, usage, limits: JudgeLimits) -> tuple[list[CheckResult], bool]:
    """The child's results, and whether it was stopped at one of its limits (not finished, nor the kit's fault)."""
    if os.waitstatus_to_exitcode(status) == 0:
        try:
            return [result_from_json(child.assignment, item)
                    for item in json.loads(child.received.decode("utf-8"))], False
        except (ValueError, KeyError, TypeError):
            pass  # a child cut short while writing: as if it died
    stopped = _why_stopped(child, status, usage, limits)
    return [not_run(child.assignment, check, stopped) for check in child.checks], stopped.state == "error"


def _why_stopped(child: _Child, status: int, usage, limits: JudgeLimits) -> ProbeStatus:
    """Why a child ended without its results: a limit it reached (the student's error), or a fault of the kit's."""
    if child.over_memory:
        return ProbeStatus("error", tr(
            "Judging what your code returned used more than {limit} MiB of memory and was stopped: a model far "
            "larger than the assignment asks for?", limit=limits.memory_mb))
    code = os.waitstatus_to_exitcode(status)
    if code == -signal.SIGXCPU or usage.ru_utime + usage.ru_stime >= limits.cpu_seconds:  # its soft or hard limit
        return ProbeStatus("error", tr(
            "Judging what your code returned took more than {limit} s of processor time and was stopped: a model "
            "far larger than the assignment asks for?", limit=limits.cpu_seconds))
    how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
    return ProbeStatus("grader_error", tr(
        "Internal grader error (the judging process ended with {how}). This is not your fault; please tell "
        "your instructor.", how=how))


def _judge_and_exit(pipe: int, judge: Callable[[], list[CheckResult]], parent: int) -> None:
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole terminal group: the parent stops us
        _die_with_parent(parent)
        payload = json.dumps([result_to_json(result) for result in judge()], ensure_ascii=False)
        with os.fdopen(pipe, "wb") as out:
            out.write(payload.encode("utf-8"))
        code = 0
    except BaseException:  # noqa: BLE001 - reported on stderr; the parent records the checks as the kit's error
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def _die_with_parent(parent: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)
