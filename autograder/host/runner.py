"""Runs a submission's code in a sandbox worker process and collects the observations.

One worker imports each assignment's file of the submission in turn and runs every probe. If it
hangs past the step time limit or dies, the step that was running is recorded as ``timeout`` or
``error``, probes that call the same student function are not retried, and a fresh worker runs
what is left: a hang or crash costs only the affected checks.
"""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import queue
import secrets
import signal
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import psutil

from autograder.core.keras_cache import cached_vgg16_weights, keras_cache_dir
from autograder.host import imagenet
from autograder.host.evidence import Evidence, ProbeResultError, read_probe_result
from autograder.core.i18n import Text, tr
from autograder.core.settings import DEFAULTS
from autograder.host.isolation import PASSED_ENV, Isolation, TreeLimits, WorkerPaths
from autograder.host.notebook_code import extract_file
from autograder.host.nursery import Nursery, NurseryProcess, NurseryUnavailable, NurseryWorker
from autograder.host.steps import ProgressChannel, Step, StepSequence
from autograder.core.outcomes import ProbeStatus
from autograder.core.spec import Assignment
from autograder.core.trees import MAX_MEASURED_DEPTH, TemporaryFolder, folder_in, remove_tree, tree_bytes

POLL_SECONDS = 0.05
MEMORY_POLL_SECONDS = 0.25
STARTUP_SECONDS = 120.0  # the worker's own start (Python, TensorFlow); not charged to the student
OUTPUT_CHECK_SECONDS = 1.0
MAX_OUTPUT_BYTES = 2 * 2**30      # everything one worker run may write (observations, models)
CLASS_INDEX_FILE = "class_index.json"
SUBMISSION_DIR = "submission"


@dataclass(frozen=True)
class Limits:
    """What the sandbox holds one worker to. A grading run takes these from its settings
    (autograder.host.grading.sandbox_limits); the defaults here are the settings' own."""

    step_timeout: float = DEFAULTS.step_timeout  # seconds one step (the import, or one probe) may run
    threads: int = 1            # TensorFlow threads inside each worker
    memory_mb: int | None = None  # resident memory one worker (with its children) may use; None: no limit
    isolation: str = DEFAULTS.isolation  # see autograder.host.isolation: bwrap, uid (asked for by name) or none

    def __post_init__(self):
        Isolation(self.isolation)  # validates the name
        if not self.step_timeout > 0:
            raise ValueError(f"step_timeout must be positive. Received: {self.step_timeout!r}")
        if self.threads < 1:
            raise ValueError(f"threads must be at least 1. Received: {self.threads!r}")
        if self.memory_mb is not None and self.memory_mb < 256:
            raise ValueError(f"memory_mb must be at least 256 (TensorFlow alone needs that). "
                             f"Received: {self.memory_mb!r}")


def _worker_env(threads: int) -> dict[str, str]:
    """The worker's whole environment: an allow-list, so no token or key of the grader's reaches it."""
    env = {key: os.environ[key] for key in PASSED_ENV if key in os.environ}
    env.update({
        "PATH": "/usr/bin:/bin",
        "CUDA_VISIBLE_DEVICES": "-1",  # workers only build and inspect; the GPU stays with the grader
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TF_NUM_INTRAOP_THREADS": str(threads),
        "TF_NUM_INTEROP_THREADS": str(threads),
        "OMP_NUM_THREADS": str(threads),
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "Agg",
        "LANG": os.environ.get("LANG", "C.UTF-8"),
    })
    return env


def _worker_env_and_binds(threads: int, level: str) -> tuple[dict[str, str], dict[str, str]]:
    """The worker's environment and its extra read-only folders (host path -> where the worker sees it)."""
    extra = {}
    if cached_vgg16_weights():  # real weights the instructor cached; read-only, never downloaded
        extra[str(keras_cache_dir())] = "/keras/models"
    env = _worker_env(threads)
    if extra:
        env["KERAS_HOME"] = "/keras" if level == "bwrap" else str(keras_cache_dir().parent)
    return env, extra


def start_nursery(threads: int, folder: Path) -> NurseryProcess:
    """A nursery (:mod:`autograder.host.nursery`) whose workers are those a :class:`SandboxSession` at level
    bwrap with ``threads`` would start, in ``folder`` (see :class:`NurseryProcess`); raises
    :class:`NurseryUnavailable` where there can be none."""
    env, extra_read_only = _worker_env_and_binds(threads, "bwrap")
    return NurseryProcess(threads, env, folder, extra_read_only)


PROBE_KEY_ENV = "AUTOGRADER_PROBE_KEY"
PROBE_KEY_FILE = Path("~/.config/tf2-autograder/probe-key")


def _probe_key() -> bytes:
    """The grader's secret for probe inputs: ``$AUTOGRADER_PROBE_KEY``, else a key file made on first use (0600).

    It never reaches a worker (not in its environment, and the grader's home is not in its view),
    so a submission cannot know its probe inputs before it runs, nor replay observations recorded
    in another grading. The same key and ``--seed`` give the same inputs: grades stay reproducible.
    """
    if os.environ.get(PROBE_KEY_ENV):
        return os.environ[PROBE_KEY_ENV].encode()
    path = PROBE_KEY_FILE.expanduser()
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="ascii") as handle:
                handle.write(secrets.token_hex(32))
        except FileExistsError:
            pass  # another grading process made it first
    return path.read_bytes().strip()


def probe_seed(seed: int) -> int:
    """The seed probe inputs are drawn from: ``seed`` mixed with the grader's secret key."""
    digest = hmac.new(_probe_key(), f"probe-inputs/{seed}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big") % 2**31


def resident_mb(process: psutil.Process) -> float:
    """Resident memory of a process and all its children, in MiB (0 once it has ended: a nursery's worker is not
    this process's child, so it leaves no zombie behind to list)."""
    total = 0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0.0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.Error:  # it ended between listing and measuring
            pass
    return total / 2**20


def kill_group(process: "subprocess.Popen | NurseryWorker") -> None:
    """Kill a process started with ``start_new_session=True`` and everything it started (a nursery's worker: PID 1
    of its own PID namespace, whose end the kernel makes everything in it share)."""
    if isinstance(process, NurseryWorker):
        process.kill()
    else:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    process.wait()


def _over_output_limit(*folders: Path) -> bool:
    """Whether a worker's folders hold more than MAX_OUTPUT_BYTES together, or nest deeper than any output does."""
    sizes = [tree_bytes(folder) for folder in folders]
    return None in sizes or sum(sizes) > MAX_OUTPUT_BYTES


def write_inputs(directory: Path, inputs: dict[str, Any]) -> None:
    """A probe's inputs as files: arrays as ``KEY.npy`` (no pickle), the rest in ``inputs.json``."""
    directory.mkdir(parents=True, exist_ok=True)
    scalars = {}
    for key, value in inputs.items():
        if isinstance(value, np.ndarray):
            np.save(directory / f"{key}.npy", value, allow_pickle=False)
        else:
            scalars[key] = value
    if scalars:
        (directory / "inputs.json").write_text(json.dumps(scalars), encoding="utf-8")


@dataclass
class _WorkerEnd:
    state: str            # "done", "timeout", "memory", "output", "died", "worker_failed", "stopped"
    at: Step | None       # the step the worker was in when it ended (None: it reached "done")
    returncode: int | None
    forked: bool          # its worker was forked by the run's nursery (autograder.host.nursery)


Observed = dict[str, tuple[ProbeStatus, Evidence]]  # an assignment's probes: their status and evidence


@dataclass(frozen=True)
class ProbeDone:
    """One probe's final status and evidence, handed over as soon as the worker has finished that probe (its
    folder already out of the worker's reach), before the rest of its assignment is done."""

    assignment: str
    probe: str
    status: ProbeStatus
    evidence: Evidence


@dataclass
class _Part:
    """One assignment's file as the worker imports it."""

    assignment: Assignment
    program: str              # the source the worker imports (a notebook's extracted program)
    origin: dict | None       # for a notebook: its name, line map and broken cells
    display_name: str         # the file the student handed in


class SandboxSession:
    """One student's submission run in one sandbox worker; owns the temporary folder until ``close``.

    ``parts`` are the assignments to grade and each one's file. One worker imports them in turn
    (one TensorFlow start per student); :meth:`run` hands over each assignment's observations as
    soon as the worker is done with it, and the worker goes on with the next meanwhile, so the
    grading process judges one assignment while the sandbox runs another. A finished step's output
    folder is moved out of the worker's reach before anything of it is read.
    """

    def __init__(self, parts: list[tuple[Assignment, Path]], *, seed: int, limits: Limits,
                 nursery: "Nursery | None" = None):
        self.seed = seed
        self.limits = limits
        self.isolation = Isolation(limits.isolation)
        self.isolation.verify()  # fail closed: no sandbox, no grading
        # workers forked by a run's nursery (autograder.host.nursery) where it serves this level and these threads
        self.nursery = nursery if nursery is not None and nursery.serves(self.isolation.level, limits.threads) \
            else None
        self._tmp = TemporaryFolder(prefix="ag-" + "-".join(a.id for a, _ in parts)[:60] + "-",
                                    dir=self.nursery.spool if self.nursery is not None else None)
        self.root = Path(self._tmp.name)
        self.taken = self.root / "taken"
        self.taken.mkdir(mode=0o700)  # never in the worker's view, whatever the isolation level
        self.parts = {assignment.id: self._part(assignment, Path(file)) for assignment, file in parts}
        inputs_seed = probe_seed(seed)  # secret: the submission cannot know its inputs in advance
        self.inputs = {(aid, name): (probe.make_inputs(inputs_seed) if probe.make_inputs else {})
                       for aid, part in self.parts.items() for name, probe in part.assignment.probes.items()}
        self.seconds = {aid: 0.0 for aid in self.parts}  # worker time spent on each assignment
        self._statuses: dict[tuple[str, str], ProbeStatus] = {}
        self._folders: dict[tuple[str, str], Path] = {}  # step -> its output folder, moved out of the worker's reach
        self._handed: set[str] = set()
        self._evidences: dict[tuple[str, str], Evidence] = {}  # each step's, made once it has a status
        self._import_started: dict[str, float] = {}
        self._stop = threading.Event()
        self._results: queue.Queue = queue.Queue()
        self._supervisor: threading.Thread | None = None

    @staticmethod
    def _part(assignment: Assignment, submission: Path) -> _Part:
        """The source the worker imports: the submission's text, or the program extracted from a notebook.

        The text is read here and written into each job, so the worker never sees the student's
        folder (nor anything a link in it points to).
        """
        if submission.suffix != ".ipynb":
            return _Part(assignment, submission.read_text(encoding="utf-8", errors="replace"), None, submission.name)
        program = extract_file(submission)
        origin = {"display_name": submission.name, "line_map": program.line_map(),
                  "broken_names": {name: why.to_json() for name, why in program.broken_names.items()}}
        return _Part(assignment, program.source, origin, submission.name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        if self._supervisor is not None:
            self._stop.set()
            self._supervisor.join()
        self._tmp.cleanup()

    # ------------------------------------------------------------------ running
    def start(self) -> None:
        """Start the worker (in a supervising thread), so this process can prepare while it boots."""
        if self._supervisor is None:
            self._supervisor = threading.Thread(target=self._supervise_into_queue, name="sandbox-supervisor",
                                                daemon=True)
            self._supervisor.start()

    def run(self, *, probes: bool = False) -> Iterator[tuple[str, Observed] | ProbeDone]:
        """(assignment id, {probe: (status, evidence)}) for each assignment, as soon as the worker is done with it;
        with ``probes``, also a :class:`ProbeDone` for each probe as soon as it has its status, before its
        assignment's item (a check on one probe's evidence can start while the worker runs the next probe)."""
        self.start()
        try:
            while True:
                item = self._results.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                if probes or not isinstance(item, ProbeDone):
                    yield item
        finally:
            self._stop.set()  # the caller stopped early (an interrupt, an error): the worker is killed
            self._supervisor.join()

    def _supervise_into_queue(self) -> None:
        try:
            self._supervise()
        except BaseException as exc:  # noqa: BLE001 - a fault of the kit's own: raised again in the caller's thread
            self._results.put(exc)
        finally:
            self._results.put(None)

    def _steps(self) -> list[tuple[str, str]]:
        return [(aid, name) for aid, part in self.parts.items() for name in part.assignment.probes]

    def _supervise(self) -> None:
        pending = self._steps()
        attempt = 0
        while pending and not self._stop.is_set():
            attempt += 1
            end = self._run_worker(self.root / f"run{attempt}", pending)
            pending = [step for step in pending if step not in self._statuses]
            if not pending or end.state == "stopped":
                break
            if end.state == "worker_failed" and end.forked:  # the nursery's fault: a fresh sandbox runs it
                log = (self.root / f"run{attempt}" / "worker.log").read_text(encoding="utf-8", errors="replace")
                sys.stderr.write(f"note: a worker forked by the nursery failed to start; a fresh sandbox runs what "
                                 f"is left:\n{log[-3000:]}\n")
                self.nursery = None
                continue
            if end.state == "done":  # "done" with probes unrun: only code in the worker can have written that
                self._record_all(pending, ProbeStatus("error", tr(
                    "The grading worker stopped before this check's code ran (did your code exit, or write into "
                    "the grader's files?).")))
            elif end.state == "worker_failed":
                log = (self.root / f"run{attempt}" / "worker.log").read_text(encoding="utf-8", errors="replace")
                sys.stderr.write(f"grader fault: the sandbox worker failed to start:\n{log[-3000:]}\n")
                self._record_all(pending, ProbeStatus("grader_error", tr(
                    "Internal grader error: the grading worker could not start. This is not your fault.")))
            elif end.at.kind in ("import", "imported"):  # the import hung or died: that file's checks only
                status = self._import_status(end, self.parts[end.at.assignment].display_name)
                self._record_all([step for step in pending if step[0] == end.at.assignment], status)
            else:  # a probe hung or died; probes calling the same student function would again
                culprit = (end.at.assignment, end.at.probe)
                probes = self.parts[end.at.assignment].assignment.probes
                status = self._probe_status(end, probes[end.at.probe].uses)
                self._record(culprit, status)
                self._record_all([step for step in pending if step[0] == culprit[0] and step != culprit
                                  and set(probes[step[1]].uses) & set(probes[culprit[1]].uses)],
                                 ProbeStatus(status.state, tr("Not run: {reason}", reason=status.message)))
            pending = [step for step in pending if step not in self._statuses]
        self._hand_over_finished()

    def _record(self, step: tuple[str, str], status: ProbeStatus, folder: Path | None = None) -> None:
        self._statuses.setdefault(step, status)
        if folder is not None:
            self._folders.setdefault(step, folder)

    def _record_all(self, steps: list[tuple[str, str]], status: ProbeStatus) -> None:
        for step in steps:
            self._record(step, status)
        self._hand_over_finished()

    def _hand_over_finished(self) -> None:
        """Queue each probe that has a status, then every assignment whose probes all have one, in the parts'
        order, each once."""
        for aid, part in self.parts.items():
            for name in part.assignment.probes:
                if (aid, name) in self._statuses and (aid, name) not in self._evidences:
                    self._evidences[aid, name] = self._evidence(aid, name)
                    self._results.put(ProbeDone(aid, name, self._statuses[aid, name], self._evidences[aid, name]))
            if aid in self._handed or any((aid, name) not in self._evidences for name in part.assignment.probes):
                continue
            self._handed.add(aid)
            self._results.put((aid, {name: (self._statuses[aid, name], self._evidences[aid, name])
                                     for name in part.assignment.probes}))

    def _take(self, source: Path, attempt_dir: Path) -> Path:
        """Move a finished step's folder out of the worker's output into the private ``taken`` folder.

        From then on the worker cannot reach it by any path, so what is read is what it left: a
        link or file planted in place of the folder is dropped (the readers then find nothing).
        """
        relative = source.relative_to(attempt_dir / "output")
        target = self.taken / attempt_dir.name / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            # The folders on the way (out/, out/<assignment>/, import/) are the worker's: walked by descriptor,
            # never through a link, so a link planted there cannot make this rename move a host folder
            # (tests/test_attacks.py: x_link_output_folders).
            with folder_in(attempt_dir / "output", relative.parts[:-1]) as parent:
                os.rename(relative.parts[-1], target, src_dir_fd=parent)
        except OSError:
            return target  # nothing there (or a link on the way): the step's report reads as missing
        if not stat.S_ISDIR(os.lstat(target).st_mode):
            os.unlink(target)
        return target

    def _write_job(self, job: Path, steps: list[tuple[str, str]]) -> list[tuple[str, list[str]]]:
        """The worker's read-only inputs; every path in job.json is relative to the job folder."""
        job.mkdir(parents=True)
        (job / SUBMISSION_DIR).mkdir()
        order = [(aid, [name for a, name in steps if a == aid]) for aid in self.parts]
        order = [(aid, probes) for aid, probes in order if probes]
        parts = []
        for aid, probes in order:
            for name in probes:
                write_inputs(job / "inputs" / aid / name, self.inputs[aid, name])
            part = self.parts[aid]
            (job / SUBMISSION_DIR / f"{aid}.py").write_text(part.program, encoding="utf-8")
            parts.append({"assignment": aid, "submission": f"{SUBMISSION_DIR}/{aid}.py",
                          "origin": part.origin or {"display_name": part.display_name}, "probes": probes})
        (job / CLASS_INDEX_FILE).write_text(json.dumps(imagenet.grading_class_index()), encoding="utf-8")
        spec = {"parts": parts, "seed": self.seed, "imagenet_class_index": CLASS_INDEX_FILE}
        (job / "job.json").write_text(json.dumps(spec), encoding="utf-8")
        return order

    def _run_worker(self, run_dir: Path, steps: list[tuple[str, str]]) -> _WorkerEnd:
        paths = WorkerPaths(job=run_dir / "job", output=run_dir / "output", scratch=run_dir / "scratch")
        sequence = StepSequence(self._write_job(paths.job, steps))
        paths.output.mkdir()
        paths.scratch.mkdir()
        progress = ProgressChannel(run_dir / "progress")
        self.isolation.prepare(paths)
        env, extra = _worker_env_and_binds(self.limits.threads, self.isolation.level)
        command, env, cwd = self.isolation.command(
            self.isolation.worker_argv("autograder.worker.main", "{job}", "{output}", str(progress.write_end)),
            paths, env, extra)
        limits = TreeLimits.create(self.limits.memory_mb)
        try:
            with open(run_dir / "worker.log", "wb") as log:
                process = self._forked_worker(run_dir, log.fileno(), progress.write_end, limits)
                forked = process is not None
                if process is None:
                    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                               stderr=subprocess.STDOUT, cwd=cwd, env=env, start_new_session=True,
                                               pass_fds=(progress.write_end,), preexec_fn=self.isolation.preexec(limits))
                progress.handed_over()
                state = self._wait(process, run_dir, progress, sequence, len(steps) + len({aid for aid, _ in steps}))
            if state == "exited" and limits is not None and limits.hit_memory_limit():
                state = "memory"  # the cgroup's limit stopped a process before the poll saw it
            self._follow(sequence.feed(progress.poll()), run_dir)
        finally:
            progress.close()
            if limits is not None:
                limits.remove()
            with contextlib.suppress(OSError):
                remove_tree(paths.scratch)
        if state == "stopped":
            return _WorkerEnd("stopped", sequence.next_step, process.returncode, forked)
        if sequence.next_step is None and state == "exited":
            return _WorkerEnd("done", None, process.returncode, forked)
        if not sequence.student_code_started:  # the kit's worker failed before student code ran
            return _WorkerEnd("worker_failed", sequence.next_step, process.returncode, forked)
        return _WorkerEnd(state if state in ("timeout", "memory", "output") else "died", sequence.next_step,
                          process.returncode, forked)

    def _forked_worker(self, run_dir: Path, log: int, progress: int, limits: TreeLimits | None):
        """The worker forked by the run's nursery, or None: no nursery, no cgroup for it, or it could not fork one
        (then a fresh sandbox runs it, and the rest of this session's workers too)."""
        if self.nursery is None or limits is None:
            return None
        try:
            return self.nursery.spawn(run_dir, log, progress, limits)
        except NurseryUnavailable as exc:
            sys.stderr.write(f"note: a fresh sandbox runs this worker: {exc}\n")
            self.nursery = None
            return None

    def _follow(self, reached: list[Step], run_dir: Path) -> None:
        """Act on the steps the worker just reached: take each finished probe's folder (or a failed import's
        report) out of its reach, record its status, and hand over every assignment now complete."""
        for step in reached:
            if step.kind == "import":
                self._import_started[step.assignment] = time.monotonic()
            elif step.kind == "end":
                folder = self._take(run_dir / "output" / "out" / step.assignment / step.probe, run_dir)
                self._record((step.assignment, step.probe), self._status_from_file(folder), folder)
            elif step.kind == "import-failed":
                folder = self._take(run_dir / "output" / "import" / step.assignment, run_dir)
                message = Text.from_json((_worker_payload(folder) or {}).get("message", ""))
                self._record_all([(step.assignment, name) for name in self.parts[step.assignment].assignment.probes],
                                 ProbeStatus("error", message))
            if step.kind in ("imported", "import-failed", "end"):
                self._charge(step.assignment)
        if reached:
            self._hand_over_finished()

    def _charge(self, aid: str) -> None:
        started = self._import_started.get(aid)
        if started is not None:
            self.seconds[aid] = time.monotonic() - started

    def _wait(self, process: subprocess.Popen, run_dir: Path, progress: ProgressChannel, sequence: StepSequence,
              steps: int) -> str:
        """Watch the worker until it exits or breaks a limit; every limit is measured here, never by the worker."""
        output = run_dir / "output"
        last_step = time.monotonic()
        try:
            watched = psutil.Process(process.pid)
        except psutil.Error:  # a nursery's worker that ended already: it is not this process's child to wait for
            watched = None
        next_memory_check, next_output_check = 0.0, 0.0
        deadline = time.monotonic() + STARTUP_SECONDS + self.limits.step_timeout * (steps + 1)
        state = "exited"
        while process.poll() is None:
            now = time.monotonic()
            reached = sequence.feed(progress.poll())
            if reached:
                last_step = now  # the step timer restarts only when a step in order is reached
                self._follow(reached, run_dir)
            limit = self.limits.step_timeout if sequence.student_code_started else STARTUP_SECONDS
            if self._stop.is_set():
                state = "stopped"
            elif now - last_step > limit or now > deadline:
                state = "timeout"
            elif self.limits.memory_mb and now >= next_memory_check:
                next_memory_check = now + MEMORY_POLL_SECONDS
                if watched is not None and resident_mb(watched) > self.limits.memory_mb:
                    state = "memory"
            if state == "exited" and now >= next_output_check:
                next_output_check = now + OUTPUT_CHECK_SECONDS
                if _over_output_limit(output, self.taken / run_dir.name):
                    state = "output"
            if state != "exited":
                kill_group(process)
                return state
            time.sleep(POLL_SECONDS)
        kill_group(process)  # children the student may have left behind
        return state

    # ------------------------------------------------------------------ reading
    def _status_from_file(self, directory: Path) -> ProbeStatus:
        payload = _worker_payload(directory)
        if payload is None:
            return ProbeStatus("error", tr("The grading worker's report for this step was missing or unreadable, "
                                           "so the step scores zero (did your code write into the grader's files?)."))
        if payload["state"] == "grader_error":
            # The worker runs the student's code, which can write any report, so a fault it reports is logged
            # for the instructor but is not the kit's word: an error scoring zero, not a grader fault.
            sys.stderr.write(f"sandbox probe {directory.name} reported an internal error (logged, not trusted):\n"
                             f"{str(payload.get('traceback'))[:5000]}\n")
            return ProbeStatus("error", tr("The grading worker reported an internal error while it ran your code; "
                                           "these checks score zero. Your instructor can see the details in the "
                                           "grading log."))
        return ProbeStatus(payload["state"], Text.from_json(payload.get("message", "")))

    def _import_status(self, end: _WorkerEnd, name: str) -> ProbeStatus:
        if end.state == "memory":
            return ProbeStatus("error", tr("Importing {name} used more than {limit} MiB of memory and was stopped. "
                                           "Move data loading and training out of module level.",
                                           name=name, limit=self.limits.memory_mb))
        if end.state == "output":
            return ProbeStatus("error", tr("Importing {name} wrote more than {limit} MiB of files, or folders nested "
                                           "more than {depth} deep, and was stopped.", name=name,
                                           limit=MAX_OUTPUT_BYTES // 2**20, depth=MAX_MEASURED_DEPTH))
        if end.state == "timeout":
            return ProbeStatus("timeout", tr("Importing {name} did not finish within {limit:g} s. Move training or "
                                             "other long work out of module level (e.g. under "
                                             "`if __name__ == \"__main__\":`).",
                                             name=name, limit=self.limits.step_timeout))
        return ProbeStatus("error", tr("The process ended while importing {name} (exit code {code}). Remove calls "
                                       "such as sys.exit(), os._exit() or quit() from module level.",
                                       name=name, code=end.returncode))

    def _probe_status(self, end: _WorkerEnd, uses: tuple[str, ...]) -> ProbeStatus:
        names = ", ".join(f"`{name}`" for name in uses)
        if end.state == "memory":
            return ProbeStatus("error", tr("{names} used more than {limit} MiB of memory and was stopped (a very "
                                           "large model or array?).", names=names, limit=self.limits.memory_mb))
        if end.state == "output":
            return ProbeStatus("error", tr("{names} wrote more than {limit} MiB of files, or folders nested more "
                                           "than {depth} deep, and was stopped.", names=names,
                                           limit=MAX_OUTPUT_BYTES // 2**20, depth=MAX_MEASURED_DEPTH))
        if end.state == "timeout":
            return ProbeStatus("timeout", tr("{names} did not finish within {limit:g} s (an endless loop, or far too "
                                             "much work?).", names=names, limit=self.limits.step_timeout))
        return ProbeStatus("error", tr("The process ended while running {names} (exit code {code}). Do not call "
                                       "sys.exit(), os._exit() or quit() in your functions.",
                                       names=names, code=end.returncode))

    def _evidence(self, aid: str, name: str) -> Evidence:
        status, inputs = self._statuses[aid, name], self.inputs[aid, name]
        if status.state != "ok" or (aid, name) not in self._folders:
            return Evidence({}, None, inputs)
        directory = self._folders[aid, name]
        payload = _worker_payload(directory) or {}
        return Evidence(_manifest(payload.get("values"), directory), directory, inputs)



PROBE_STATES = ("ok", "not_attempted", "error", "grader_error")
MANIFEST_KINDS = {"model": ".keras", "array": ".npy"}


def _worker_payload(directory: Path) -> dict | None:
    """A probe's result.json as the worker wrote it, or None when it is missing, oversized or malformed."""
    try:  # read_probe_result refuses links, FIFOs, oversized and malformed files
        payload = read_probe_result(directory)
    except ProbeResultError:
        return None
    if not isinstance(payload, dict) or payload.get("state") not in PROBE_STATES:
        return None
    return payload


def _regular_file(path: Path) -> bool:
    """A plain file the worker wrote, not a link it planted to make the grader read something else."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _manifest(values: Any, directory: Path) -> dict[str, dict]:
    """The worker's manifest, keeping only well-formed entries whose files are plain files in ``directory``.

    A dropped entry reads as "nothing was returned" to the checks, so a forged or broken
    manifest fails the student's checks, never the grader.
    """
    if not isinstance(values, dict):
        return {}
    kept: dict[str, dict] = {}
    for key, entry in values.items():
        if not (isinstance(key, str) and isinstance(entry, dict)):
            continue
        kind = entry.get("kind")
        if kind in MANIFEST_KINDS:
            file = entry.get("file")
            if (isinstance(file, str) and file == os.path.basename(file) and file.endswith(MANIFEST_KINDS[kind])
                    and _regular_file(directory / file)):
                kept[key] = {"kind": kind, "file": file}
        elif kind == "json" and "value" in entry:
            kept[key] = {"kind": "json", "value": entry["value"]}
        elif kind == "unsupported":
            kept[key] = {"kind": "unsupported", "type": str(entry.get("type"))[:200]}
    return kept
