"""The worker nursery: one bubblewrap sandbox that imports TensorFlow, Keras and the worker once, then only forks,
one walled-off sandbox worker per request (``autograder.host.nursery`` starts it and asks for workers).

Each sandbox worker used to be a fresh bubblewrap sandbox whose Python imported TensorFlow again: about 3.7 s of
CPU per worker on two cores (``benchmarks/forked_worker_cost.py``). Here a child is walled off in about 15 ms,
before anything but this module's code has run in it (:func:`wall_off`, :func:`as_pid_1`):

* a user namespace of its own, nested in the nursery's, and then its own mount, PID, network, IPC and UTS
  namespaces: no other worker's processes, sockets or IPC objects can be seen or named;
* its slot of the spool bound where the worker expects it (``/job`` read-only, ``/output``), every other slot
  and the nursery's control folder hidden under read-only tmpfs mounts it cannot remove (inherited mounts are
  locked in a less privileged user namespace); a fresh size-capped ``/tmp``, ``/scratch`` and ``/dev/shm``;
* a ``/proc`` of its own PID namespace, in which it is PID 1: when it ends, the kernel kills every process it
  started;
* then no capabilities, none it can gain (bounding set emptied, ``no_new_privs``), and its own session.

The child then tells the client its pid with its credentials on the handshake socket (the kernel translates the
pid into the client's PID namespace, so nothing the child says can misname it), waits until the client has put
it into its cgroup, and only then runs ``autograder.worker.main``. Every child starts from the nursery's own
state, which no student code has touched: the nursery runs none, and reads only the requests.

Protocol (listening socket ``/control/nursery.sock``; one connection per worker; JSON, never pickle): the client
sends ``{"slot": "<session>/<run>"}`` with three file descriptors (the log for stdout and stderr, the progress
pipe's write end, the child's end of the handshake socket); the nursery answers ``{"exited": code}`` when the
child ends, and kills the child if the connection closes first. Imports nothing from the judging side.
"""
from __future__ import annotations

import contextlib
import ctypes
import fcntl
import importlib
import json
import os
import re
import select
import signal
import socket
import struct
import sys

WORKER_MAIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "main.py")  # the kit this nursery runs
CONTROL = "/control"
SOCKET = f"{CONTROL}/nursery.sock"
SPOOL = "/spool"
NURSERY_PROC = "/nursery-proc"  # the nursery's own, writable /proc (the machine's is bound read-only at /proc)
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
SLOT = re.compile(r"^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+$")
SCRATCH_BYTES = 512 * 2**20
SHM_BYTES = 64 * 2**20
PROGRESS_FD = 3  # where the worker finds its progress pipe

_NEWNS, _NEWUTS, _NEWIPC, _NEWUSER, _NEWPID, _NEWNET = (0x20000, 0x4000000, 0x8000000, 0x10000000, 0x20000000,
                                                        0x40000000)
_RDONLY, _NOSUID, _NODEV, _NOEXEC, _REMOUNT, _BIND, _REC, _PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
_PR_SET_PDEATHSIG, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS, _PR_CAP_AMBIENT = 1, 24, 38, 47
_CAP_AMBIENT_CLEAR_ALL = 4
_libc = ctypes.CDLL(None, use_errno=True)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _ok(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, kind: str | None, flags: int, data: str | None = None) -> None:
    _ok(_libc.mount(source and source.encode(), target.encode(), kind and kind.encode(), ctypes.c_ulong(flags),
                    data and data.encode()), f"mount {target}")


def wall_off(slot: str) -> None:
    """This child's own namespaces and view of the file system (the PID namespace holds only its next child)."""
    if not SLOT.match(slot) or ".." in slot.split("/"):
        raise ValueError(f"a slot is <session>/<run>. Received: {slot!r}")
    uid, gid = os.getuid(), os.getgid()
    _ok(_libc.unshare(_NEWUSER), "unshare(CLONE_NEWUSER)")
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"{NURSERY_PROC}/self/{name}", "w") as file:
            file.write(text)
    _ok(_libc.unshare(_NEWNS | _NEWPID | _NEWNET | _NEWIPC | _NEWUTS), "unshare")
    _mount(None, "/", None, _REC | _PRIVATE)
    _mount(f"{SPOOL}/{slot}/job", "/job", None, _BIND | _REC)
    _mount(None, "/job", None, _BIND | _REMOUNT | _RDONLY | _NOSUID | _NODEV)
    _mount(f"{SPOOL}/{slot}/output", "/output", None, _BIND | _REC)
    _mount("tmpfs", "/scratch", "tmpfs", _NOSUID | _NODEV, f"size={SCRATCH_BYTES},mode=1777")
    _fresh_tmp()
    _fresh_dev()
    for hidden in (SPOOL, CONTROL, NURSERY_PROC):
        _mount("tmpfs", hidden, "tmpfs", _RDONLY | _NOSUID | _NODEV | _NOEXEC, "size=4k,mode=0555")
    _ok(_libc.sethostname(b"sandbox", 7), "sethostname")


def _fresh_tmp() -> None:
    """A /tmp of this worker's own, with what the nursery's sandbox bound under its /tmp bound again (a checkout or
    an environment in a temporary folder: the interpreter and the kit), read-only as there."""
    tops: list[str] = []
    with open("/proc/self/mountinfo") as mounts:
        for point in sorted({line.split()[4] for line in mounts}):
            if point.startswith("/tmp/") and not any(point.startswith(top + "/") for top in tops):
                tops.append(point)
    with _tmpfs_over("/tmp", "/scratch/.nursery-tmp", _NOSUID | _NODEV, f"size={SCRATCH_BYTES},mode=1777") as old:
        for top in tops:
            os.makedirs(top, exist_ok=True)
            _mount(old + top[len("/tmp"):], top, None, _BIND | _REC)
            _mount(None, top, None, _BIND | _REMOUNT | _RDONLY | _NOSUID | _NODEV)


def _fresh_dev() -> None:
    """A /dev of this worker's own (the nursery's is shared and writable), as bubblewrap's ``--dev`` makes one:
    its device nodes bound into a new tmpfs, the same links, a new instance of /dev/pts and a new /dev/shm."""
    with _tmpfs_over("/dev", "/tmp/.nursery-dev", _NOSUID | _NOEXEC, "size=64k,mode=0755") as old:
        for node in DEVICES:
            open(f"/dev/{node}", "w").close()
            _mount(f"{old}/{node}", f"/dev/{node}", None, _BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2"), ("core", "/proc/kcore"), ("ptmx", "pts/ptmx")):
        os.symlink(target, f"/dev/{name}")
    os.mkdir("/dev/pts")  # its own instance: no other worker's terminals
    _mount("devpts", "/dev/pts", "devpts", _NOSUID | _NOEXEC, "newinstance,ptmxmode=0666,mode=620")
    os.mkdir("/dev/shm")
    _mount("tmpfs", "/dev/shm", "tmpfs", _NOSUID | _NODEV, f"size={SHM_BYTES},mode=1777")


@contextlib.contextmanager
def _tmpfs_over(target: str, staging: str, flags: int, options: str):
    """A new tmpfs on ``target``; in the block, the tree it hides is still reached at ``staging`` (the path is
    yielded), to bind parts of it back; after it, that tree is detached and ``staging`` removed. An error leaves
    things as they are: the worker then fails to start, and nothing runs in it."""
    os.mkdir(staging)
    _mount(target, staging, None, _BIND | _REC)
    _mount("tmpfs", target, "tmpfs", flags, options)
    yield staging
    _ok(_libc.umount2(staging.encode(), 2), f"umount the nursery's {target}")  # MNT_DETACH
    os.rmdir(staging)


def as_pid_1() -> None:
    """PID 1 of the new PID namespace: its own /proc, then no capability left and none to gain."""
    _mount("proc", "/proc", "proc", _RDONLY | _NOSUID | _NODEV | _NOEXEC)
    for cap in range(64):
        _libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the kernel's last capability
    _libc.prctl(_PR_CAP_AMBIENT, _CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    _ok(_libc.capset(ctypes.byref(_CapHeader(0x20080522, 0)), (_CapData * 2)()), "capset")
    _ok(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS")
    os.setsid()


def _introduce(handshake: socket.socket) -> None:
    """Say who this is (the kernel vouches for the pid) and wait until the client lets the worker run."""
    credentials = struct.pack("iII", os.getpid(), os.getuid(), os.getgid())
    handshake.sendmsg([b"r"], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, credentials)])
    if handshake.recv(1) != b"g":
        os._exit(70)
    handshake.close()


def _child(slot: str, log: int, progress: int, handshake: int, nursery: list[socket.socket]) -> None:
    """Never returns: walls itself off, then runs the worker as PID 1 of its own PID namespace."""
    code = 71
    try:
        for sock in nursery:  # the nursery's sockets: nothing of the control channel stays in the worker
            sock.detach()
        # Only the log (stdout, stderr), the progress pipe (fd 3) and the handshake (fd 4) stay open.
        log, progress, handshake = (fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in (log, progress, handshake))
        for source, target in ((log, 1), (log, 2)):  # inherited by what the student's code may start, as they are
            os.dup2(source, target)                   # by a fresh sandbox's
        for source, target in ((progress, PROGRESS_FD), (handshake, PROGRESS_FD + 1)):
            os.dup2(source, target, inheritable=False)
        os.closerange(PROGRESS_FD + 2, os.sysconf("SC_OPEN_MAX"))
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        wall_off(slot)
        pid = os.fork()
        if pid:  # outside the new PID namespace: wait for the worker, kill it when told to, pass its exit on
            os.closerange(3, os.sysconf("SC_OPEN_MAX"))
            signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGKILL))
            _, status = os.waitpid(pid, 0)
            code = os.waitstatus_to_exitcode(status)
            os._exit(code & 0xFF if code >= 0 else 128 - code)
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # the waiting parent killed: this worker too
        as_pid_1()
        os.chdir("/scratch")
        _introduce(socket.socket(fileno=PROGRESS_FD + 1))
        from autograder.worker.main import main

        code = main(["/job", "/output", str(PROGRESS_FD)])
    except BaseException as exc:  # noqa: BLE001 - a child that could not be walled off must not run anything
        os.write(2, f"nursery: the worker could not start: {exc!r}\n".encode())
    os._exit(code)


def _preload() -> None:
    """What every worker imports before student code runs (autograder.worker.main's own start)."""
    from autograder import graders
    from autograder.core.collector import imports_then_frozen
    from autograder.core.lazy_imports import loaded_on_first_use

    with imports_then_frozen(), loaded_on_first_use():
        for module in ("autograder.worker.main", "keras"):
            importlib.import_module(module)
        for assignment in graders.ASSIGNMENT_IDS:
            graders.load_probes(assignment)


def _self_test() -> str | None:
    """Why a child cannot be walled off here (a kernel or policy that refuses nested namespaces), or None: asked
    once at the start, so that the run grades in fresh sandboxes instead of failing at each worker."""
    for folder in ("job", "output"):
        os.makedirs(f"{SPOOL}/.self-test/child/{folder}", exist_ok=True)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            wall_off(".self-test/child")
            inner = os.fork()
            if inner == 0:
                as_pid_1()  # and what every worker needs is still there: the interpreter, the kit
                os._exit(0 if os.access(sys.executable, os.X_OK) and os.path.isfile(WORKER_MAIN) else 3)
            os._exit(os.waitstatus_to_exitcode(os.waitpid(inner, 0)[1]))
        except BaseException as exc:  # noqa: BLE001 - reported to the client, which then starts fresh sandboxes
            os.write(write, repr(exc).encode()[:500])
            os._exit(1)
    os.close(write)
    with os.fdopen(read, "rb") as report:
        reason = report.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    return None if code == 0 else reason or f"the self-test child ended with {code}"


def main(argv: list[str]) -> int:
    """Serve requests until killed (with the sandbox: bwrap's --die-with-parent)."""
    _preload()
    refused = _self_test()
    if refused is not None:
        print(json.dumps({"unavailable": refused}), flush=True)
        return 1
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(SOCKET)
    listener.listen(64)
    print(json.dumps({"ready": os.getpid()}), flush=True)
    children: dict[int, socket.socket] = {}  # child pid -> its client's connection
    while True:
        readable, _, _ = select.select([listener, *children.values()], [], [], 0.2)
        for ready in readable:
            if ready is listener:
                _accept(listener, children)
            else:  # a client that closed (or wrote) before its worker ended: the worker is stopped
                pid = next(p for p, c in children.items() if c is ready)
                os.kill(pid, signal.SIGTERM)  # the waiting parent kills the worker, then exits
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            connection = children.pop(pid, None)
            if connection is not None:
                try:
                    connection.sendall(json.dumps({"exited": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
                except OSError:
                    pass
                connection.close()


def _accept(listener: socket.socket, children: dict[int, socket.socket]) -> None:
    connection, _ = listener.accept()
    fds: list[int] = []
    try:
        message, fds, _, _ = socket.recv_fds(connection, 4096, 3)
        request = json.loads(message.decode())
        if len(fds) != 3 or not isinstance(request, dict) or not isinstance(request.get("slot"), str):
            raise ValueError("a request is {\"slot\": ...} with three file descriptors")
    except (OSError, ValueError) as exc:
        for fd in fds:  # what a refused request sent is not kept open here
            os.close(fd)
        connection.sendall(json.dumps({"refused": str(exc)}).encode() + b"\n")
        connection.close()
        return
    pid = os.fork()
    if pid == 0:
        _child(request["slot"], *fds, [listener, connection, *children.values()])
    for fd in fds:
        os.close(fd)
    connection.sendall(json.dumps({"forked": pid}).encode() + b"\n")
    children[pid] = connection


if __name__ == "__main__":
    os._exit(main([]))
