"""Start the worker nursery (:mod:`autograder.worker.nursery`) and ask it for sandbox workers.

A run that grades many submissions (``grade-all``, the test suite) starts one nursery; each of its sandbox
workers is then forked, walled off, from a process that has TensorFlow imported already, instead of a fresh
bubblewrap sandbox importing it again (about 3.7 s of CPU per worker on two cores). The worker's limits are
this side's, as for a fresh sandbox: its cgroup (pids and memory; the nursery is used only where one can be
made), the step and memory polls of :mod:`autograder.host.runner`, and a kill that reaches exactly it: a pidfd,
taken while the worker waits for its cgroup, so a pid reused after it ended can never be signalled.

Where the nursery cannot start or a worker cannot be forked, the worker starts in a fresh sandbox as before
(:class:`NurseryUnavailable`): never with less isolation.
"""
from __future__ import annotations

import json
import os
import resource
import select
import signal
import socket
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from autograder.host.isolation import MAX_FILE_BYTES, Isolation, TreeLimits

READY_SECONDS = 300.0   # the nursery's TensorFlow import on a loaded machine
FORK_SECONDS = 60.0     # a request answered and the child walled off
EXIT_SECONDS = 10.0     # the nursery reports a worker's exit code after it ended
SOCKET_NAME = "nursery.sock"


class NurseryUnavailable(RuntimeError):
    """No nursery here, or it could not fork this worker: the caller starts a fresh sandbox instead."""


class NurseryWorker:
    """A worker the nursery forked, with what :class:`autograder.host.runner.SandboxSession` uses of a Popen."""

    def __init__(self, pid: int, pidfd: int, connection: socket.socket):
        self.pid, self._pidfd, self._connection = pid, pidfd, connection
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self._pidfd], [], [], 0)[0]:
            self.returncode = self._exit_code()
            self._close()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("nursery worker", timeout)
            select.select([self._pidfd], [], [], 0.5)
        return self.returncode

    def kill(self) -> None:
        """SIGKILL to the worker, PID 1 of its own PID namespace: the kernel then kills everything it started."""
        if self.returncode is None:
            try:
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _exit_code(self) -> int:
        self._connection.settimeout(EXIT_SECONDS)
        try:
            lines = self._connection.makefile("rb").read().splitlines()
        except OSError:
            lines = []
        for line in reversed(lines):
            with_code = json.loads(line)
            if "exited" in with_code:
                return int(with_code["exited"])
        return -signal.SIGKILL  # the nursery ended first: nothing can be told apart from a kill

    def _close(self) -> None:
        os.close(self._pidfd)
        self._connection.close()


@dataclass(frozen=True)
class Nursery:
    """How to ask a running nursery for workers: any grading process of the run may (grade-all's are forked from
    its zygote, or started, by the process that started the nursery). Plain data: it travels in their requests."""

    spool: Path     # every worker's job and output folders: a session's folder, then a run's
    control: Path   # the nursery's listening socket; never in a worker's view
    threads: int    # the TensorFlow threads its workers were started with

    def plain(self) -> dict[str, Any]:
        return {"spool": str(self.spool), "control": str(self.control), "threads": self.threads}

    @classmethod
    def from_plain(cls, data: Any) -> "Nursery":
        if not isinstance(data, dict) or set(data) != {"spool", "control", "threads"} or not all(
                isinstance(data[key], str) for key in ("spool", "control")) or not isinstance(data["threads"], int):
            raise ValueError(f"not a nursery. Received: {str(data)[:200]!r}")
        return cls(Path(data["spool"]), Path(data["control"]), data["threads"])

    def serves(self, level: str, threads: int) -> bool:
        """Whether its workers are those a session at ``level`` with ``threads`` TensorFlow threads would start (and
        it is still there: a nursery that ended is no reason not to grade)."""
        return level == "bwrap" and threads == self.threads and (self.control / SOCKET_NAME).is_socket()

    def spawn(self, run_dir: Path, log: int, progress: int, limits: TreeLimits) -> NurseryWorker:
        """Fork a worker for ``run_dir`` (a folder two levels under :attr:`spool`, holding ``job`` and ``output``),
        its stdout and stderr to ``log``, its progress pipe ``progress``; in ``limits`` before it runs anything."""
        slot = run_dir.relative_to(self.spool).as_posix()
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.settimeout(FORK_SECONDS)
            ours.settimeout(FORK_SECONDS)
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            _connect(connection, self.control / SOCKET_NAME)
            socket.send_fds(connection, [json.dumps({"slot": slot}).encode()], [log, progress, theirs.fileno()])
            theirs.close()
            answer = json.loads(connection.makefile("rb").readline() or b"{}")
            if "forked" not in answer:
                raise NurseryUnavailable(f"the nursery refused the worker: {answer}")
            pid = _introduced_pid(ours)
            pidfd = os.pidfd_open(pid)
            limits.enter(pid)
            ours.sendall(b"g")
        except (OSError, ValueError, NurseryUnavailable) as exc:
            connection.close()  # the nursery stops a child whose client went away
            raise NurseryUnavailable(f"the nursery could not fork a worker: {exc}") from exc
        finally:
            ours.close()
            theirs.close()
        return NurseryWorker(pid, pidfd, connection)


class NurseryProcess:
    """Starts the nursery under bubblewrap and owns it until :meth:`close`; it also dies with this process
    (bubblewrap's ``--die-with-parent``). :meth:`ready` waits for its import and says how to ask it for workers:
    started first, it imports TensorFlow while this process does something else."""

    def __init__(self, threads: int, env: dict[str, str], folder: Path,
                 extra_read_only: dict[str, str] | None = None):
        """``folder``: an empty folder of the caller's for the spool, the control folder and the log, which the
        caller removes (one a later run sweeps, if this one is killed: autograder.classroom.workdirs)."""
        isolation = Isolation("bwrap")
        isolation.verify()
        probe = TreeLimits.create(None)
        if probe is None:  # without a cgroup per worker, their processes would share one count: not here
            raise NurseryUnavailable("no cgroup can be made here for each worker")
        probe.remove()
        self._nursery = Nursery(folder / "spool", folder / "control", threads)
        self._ready: bool | None = None
        for part in (self._nursery.spool, self._nursery.control):
            part.mkdir(mode=0o700)
        command, _, cwd = isolation.nursery_command(isolation.worker_argv("autograder.worker.nursery"),
                                                    self._nursery.spool, self._nursery.control, env, extra_read_only)
        self._log = open(folder / "nursery.log", "wb")
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=self._log, cwd=cwd, env={}, start_new_session=True,
                                         preexec_fn=_nursery_limits)

    @property
    def ended(self) -> bool:
        """Whether the nursery ended (it was killed, or closed): a new one must be started for more workers."""
        return self._process.poll() is not None

    @property
    def pid(self) -> int:
        """The nursery's sandbox (bubblewrap), whose process tree holds the nursery and every worker it forked."""
        return self._process.pid

    def ready(self) -> Nursery:
        """How to ask the nursery for workers, once it has imported what they import; NurseryUnavailable (and
        the nursery stopped) where it did not start."""
        if self._ready is None:
            deadline, self._ready = time.monotonic() + READY_SECONDS, False
            while not select.select([self._process.stdout], [], [], 1.0)[0]:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self._refuse(f"the nursery did not start (its log: {self._log.name})")
            line = self._process.stdout.readline()
            if b'"ready"' not in line:
                self._refuse(f"the nursery cannot fork walled-off workers here: {line[:300]!r}")
            self._ready = True
        if not self._ready:
            raise NurseryUnavailable("the nursery did not start")
        return self._nursery

    def _refuse(self, reason: str) -> NoReturn:
        self.close()
        raise NurseryUnavailable(reason)

    def close(self) -> None:
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()
        self._process.stdout.close()
        self._log.close()
        self._ready = False

    def __enter__(self) -> "NurseryProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _connect(connection: socket.socket, path: Path) -> None:
    """Connect to the unix socket at ``path`` however long the path (a long TMPDIR: an address holds 108 bytes),
    through a descriptor of its folder."""
    folder = os.open(path.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        connection.connect(f"/proc/self/fd/{folder}/{path.name}")
    finally:
        os.close(folder)


def _introduced_pid(handshake: socket.socket) -> int:
    """The worker's pid as this process sees it: the kernel translates the credentials the worker sent."""
    data, ancillary, _, _ = handshake.recvmsg(1, socket.CMSG_SPACE(struct.calcsize("iII")))
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and data == b"r":
            return struct.unpack("iII", payload[:struct.calcsize("iII")])[0]
    raise NurseryUnavailable("the worker could not be walled off (see the worker's log)")


def _nursery_limits() -> None:
    """Runs in the nursery's bwrap before exec: the limits every worker inherits that are not its cgroup's."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
