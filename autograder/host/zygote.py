"""Start ``grade-all``'s grading processes by forking one that has TensorFlow imported already.

Each student is graded in a process of their own (:mod:`autograder.host.child`), and each of those paid
Python's and TensorFlow's start again: about 5 s of CPU per student, a sixth of a full submission's
grading on busy cores. Here ``grade-all`` starts one *zygote* (``python -P -m autograder.host.zygote``),
which imports the kit, TensorFlow, Keras and the graders, runs no TensorFlow operation, and then only
forks: one child per student, which becomes exactly the grading process :data:`child.CHILD_ARGV` would
have been (a session of its own, its output into the student's log, the same request, the same record).

Why this keeps students apart: the zygote never grades, never judges and never reads anything a student
made; it reads only the requests ``grade-all`` writes (JSON lines: the request of
:func:`child.request`, the log's path, the child's TMPDIR, an id). Every child starts from the zygote's
untouched state, never from another student's. Student code still runs only in each child's sandbox worker.

Protocol (JSON lines, both ways, never pickle): the zygote says ``{"ready": pid}`` once; for each request
``{"id", "request", "log", "scratch"}`` it answers ``{"id", "pid"}`` once the child has its own session (so
a ``killpg`` reaches it from the first moment), and ``{"exited": pid, "code"}`` when one ends. It reaps
that child only when told ``{"reap": pid}`` (after ``grade-all``'s last ``killpg`` of its group), so no
pid or group id is reused while ``grade-all`` may still signal it. It dies with ``grade-all``
(``PR_SET_PDEATHSIG``) and its children die with it.
"""
from __future__ import annotations

import importlib
import itertools
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from autograder.host.child import REPORT_COLUMNS, TMPDIR_ENV, WATCHER_ENV

ZYGOTE_ARGV = (sys.executable, "-P", "-m", "autograder.host.zygote")
# What every grading process imports (cli.grade_and_report's imports), besides TensorFlow and the graders.
PRELOADED = ("autograder.host.grading", "autograder.publish.records", "autograder.publish.results_json",
             "autograder.publish.terminal")
READY_SECONDS = 300  # TensorFlow's import on a loaded machine; past this grade-all starts plain processes


class ZygoteUnavailable(RuntimeError):
    pass


# ----------------------------------------------------------------------------- grade-all's side
class ForkedChild:
    """A grading process forked by the zygote, with what :func:`child.grade_in_child` uses of a Popen.

    Like a Popen's child, it stays a zombie (its pid and process group reserved, so ``killpg`` can reach
    nothing else) until :meth:`wait` has seen it end: only then does the zygote reap it."""

    def __init__(self, pid: int, release):
        self.pid = pid
        self.returncode: int | None = None
        self._exited = threading.Event()
        self._release = release

    def poll(self) -> int | None:
        return self.returncode if self._exited.is_set() else None

    def wait(self, timeout: float | None = None) -> int | None:
        if self._exited.wait(timeout) and self._release is not None:
            self._release(self.pid)
            self._release = None
        return self.poll()

    def _ended(self, code: int) -> None:
        self.returncode = code
        self._exited.set()


@dataclass
class _Spawning:
    done: threading.Event = field(default_factory=threading.Event)
    child: ForkedChild | None = None  # None once done: the zygote ended without forking it


class Zygote:
    """The zygote process, seen from ``grade-all``: :meth:`spawn` a grading child, :meth:`close` at the end.

    One thread reads the zygote's replies in order; it registers each forked child as its pid arrives, so the
    child's end, which the zygote can only report after that, always finds it."""

    def __init__(self, environ: Mapping[str, str] | None = None):
        """``environ``: the zygote's environment, and so every forked child's (default: this process's)."""
        self._process = subprocess.Popen(ZYGOTE_ARGV, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, start_new_session=True,
                                         env={**(os.environ if environ is None else environ),
                                              WATCHER_ENV: str(os.getpid())})
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._spawning: dict[int, _Spawning] = {}
        self._children: dict[int, ForkedChild] = {}
        self._gone = False  # the zygote ended: nothing more is forked
        ready = threading.Event()
        threading.Thread(target=self._read, args=(ready,), daemon=True).start()
        if not ready.wait(READY_SECONDS) or self._gone:
            self.close()
            raise ZygoteUnavailable("the zygote did not start")

    @property
    def ended(self) -> bool:
        """The zygote process is gone: it forks nothing more."""
        return self._gone

    def spawn(self, request: dict[str, Any], log: Path, scratch: str) -> ForkedChild:
        """Fork a grading child for ``request`` (:func:`child.request`), its output into ``log``, its temporary
        files into ``scratch``."""
        spawning = _Spawning()
        with self._lock:
            if self._gone:
                raise ZygoteUnavailable("the zygote has ended")
            number = next(self._ids)
            self._spawning[number] = spawning
            self._write({"id": number, "request": request, "log": str(log), "scratch": str(scratch)})
        if not spawning.done.wait(READY_SECONDS) or spawning.child is None:
            raise ZygoteUnavailable("the zygote did not fork a grading process")
        return spawning.child

    def _write(self, message: dict[str, Any]) -> None:
        """One request line (under the lock)."""
        try:
            self._process.stdin.write((json.dumps(message) + "\n").encode("utf-8"))
            self._process.stdin.flush()
        except (BrokenPipeError, ValueError, OSError) as exc:
            raise ZygoteUnavailable("the zygote has ended") from exc

    def _reap(self, pid: int) -> None:
        with self._lock:
            try:
                self._write({"reap": pid})
            except ZygoteUnavailable:
                pass  # the zygote is gone, and reaped everything on its way

    def close(self) -> None:
        try:
            self._process.stdin.close()  # the zygote kills what it still runs and exits
        except (BrokenPipeError, OSError):
            pass
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def _read(self, ready: threading.Event) -> None:
        for raw in self._process.stdout:
            try:
                message = json.loads(raw)
            except ValueError:
                continue  # not the protocol's (the zygote's stdout is the protocol alone: see serve)
            with self._lock:
                if "ready" in message:
                    ready.set()
                elif "exited" in message:
                    child = self._children.pop(int(message["exited"]), None)
                    if child is not None:
                        child._ended(int(message["code"]))
                else:
                    pid = int(message["pid"])
                    spawning = self._spawning.pop(int(message["id"]))
                    spawning.child = self._children[pid] = ForkedChild(pid, self._reap)
                    spawning.done.set()
        with self._lock:  # the zygote is gone, and its children with it
            self._gone = True
            ready.set()
            for child in self._children.values():
                child._ended(-signal.SIGKILL)
            self._children.clear()
            for spawning in self._spawning.values():
                spawning.done.set()


# ----------------------------------------------------------------------------- the zygote's side
_PROTOCOL = [1]  # the descriptor of the replies to grade-all (serve() moves it off the standard output)


def _send(message: dict[str, Any]) -> None:
    os.write(_PROTOCOL[0], (json.dumps(message) + "\n").encode("utf-8"))


def _fork(message: dict[str, Any], wake: tuple[int, int]) -> int:
    """Fork a grading child; return its pid once it has a session of its own."""
    read, write = os.pipe()
    zygote = os.getpid()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        _become_grading_child(message, write, wake, zygote)
    os.close(write)
    os.read(read, 1)  # its setsid() is done (or it died: EOF)
    os.close(read)
    return pid


def _become_grading_child(message: dict[str, Any], started: int, wake: tuple[int, int], zygote: int) -> None:
    """In the fork: become what ``python -m autograder.host.child`` would be, then exit. Never returns."""
    code = 1
    try:
        os.setsid()
        os.write(started, b"x")
        os.close(started)
        signal.set_wakeup_fd(-1)
        for descriptor in (*wake, _PROTOCOL[0]):  # grade-all's replies are the zygote's alone
            os.close(descriptor)
        for number in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_DFL)
        log = os.open(message["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        os.environ.update({"COLUMNS": REPORT_COLUMNS, WATCHER_ENV: str(zygote), TMPDIR_ENV: message["scratch"]})
        tempfile.tempdir = None  # gettempdir() reads TMPDIR again
        from autograder.host import child

        child.die_with_watcher()  # with the zygote (a fork does not inherit the parent's death signal)

        code = child.grade_request(json.dumps(message["request"]))
    except BaseException:  # noqa: BLE001 - into the student's log; grade-all reports the missing record
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _report_ended(children: dict[int, bool]) -> None:
    """Say which children ended, without reaping them (``WNOWAIT``): grade-all asks for that (``reap``)."""
    for pid, reported in children.items():
        if reported:
            continue
        ended = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if ended is None:
            continue
        children[pid] = True
        code = ended.si_status if ended.si_code == os.CLD_EXITED else -ended.si_status
        _send({"exited": pid, "code": code})


def _kill_children(children: dict[int, bool]) -> None:
    for pid in children:  # none reaped yet: each group id is still theirs
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        os.waitpid(pid, 0)


def serve() -> int:
    from autograder.cli import prepare_process
    from autograder.host import child
    from autograder.host.context import configure_tensorflow

    child.die_with_watcher()
    _PROTOCOL[0] = os.dup(1)
    os.dup2(2, 1)  # whatever an import prints cannot pose as a reply
    prepare_process()
    configure_tensorflow(1)  # grade-all's grading processes judge on one thread each
    from autograder import graders

    for module in PRELOADED:  # imported here once, not in every child
        importlib.import_module(module)
    for assignment_id in graders.ASSIGNMENT_IDS:
        graders.load(assignment_id)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the select below
    children: dict[int, bool] = {}  # pid -> its end was reported
    _send({"ready": os.getpid()})
    pending = b""
    try:
        while True:
            readable, _, _ = select.select([0, wake_read], [], [])
            if wake_read in readable:
                os.read(wake_read, 4096)
                _report_ended(children)
            if 0 not in readable:
                continue
            data = os.read(0, 1 << 16)
            if not data:
                return 0
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                message = json.loads(line)
                if "reap" in message:
                    pid = message["reap"]
                    if children.get(pid):  # only a child of ours whose end was reported
                        del children[pid]
                        os.waitpid(pid, 0)
                    continue
                pid = _fork(message, (wake_read, wake_write))
                children[pid] = False
                _send({"id": message["id"], "pid": pid})
            _report_ended(children)  # one that ended while we forked
    finally:
        _kill_children(children)


if __name__ == "__main__":
    raise SystemExit(serve())
