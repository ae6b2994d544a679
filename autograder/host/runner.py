"""Runs a submission's code in sandbox worker processes and collects the observations.

One worker imports the submission and runs every probe. If it hangs past the
step time limit or dies, the step that was running is recorded as ``timeout`` or
``error``, probes that call the same student function are not retried, and a
fresh worker runs what is left: a hang or crash costs only the affected checks.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from autograder.core.keras_cache import cached_vgg16_weights, keras_cache_dir
from autograder.host import imagenet
from autograder.host.evidence import Evidence, ProbeResultError, read_probe_result
from autograder.core.i18n import Text, tr
from autograder.core.settings import DEFAULTS
from autograder.host.isolation import PASSED_ENV, Isolation, TreeLimits, WorkerPaths
from autograder.host.notebook_code import extract_file
from autograder.core.outcomes import ProbeStatus
from autograder.core.spec import Assignment

POLL_SECONDS = 0.05
MEMORY_POLL_SECONDS = 0.25
STARTUP_SECONDS = 120.0  # the worker's own start (Python, TensorFlow); not charged to the student
OUTPUT_CHECK_SECONDS = 1.0
MAX_OUTPUT_BYTES = 2 * 2**30      # everything one worker run may write (observations, models)
MAX_PROGRESS_BYTES = 64 * 2**10   # progress lines beyond this are not read
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


@dataclass
class _WorkerEnd:
    finished: list[str]
    running: str | None   # the probe name, "import", or None when the worker completed
    state: str            # "done", "timeout", "memory", "output", "died", "import_failed", "worker_failed"
    returncode: int | None
    output: Path          # where this run's progress and observations are


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
    """Resident memory of a process and all its children, in MiB."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:  # it ended between listing and measuring
            pass
    return total / 2**20


def kill_group(process: subprocess.Popen) -> None:
    """Kill a process started with ``start_new_session=True`` and everything it started."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


class ProgressChannel:
    """The worker's progress lines ("starting", "import", "imported", "start X", "end X", "done"), over a pipe.

    A pipe, not a file in the worker's output folder: what the grader has read stays read, so code
    that runs later in the worker can add lines but never take back the ones written before it
    ran (that the worker reached the student's import, say), nor swap the channel for a link or a
    FIFO. Lines are copied, as received, to ``copy`` (a file outside the worker's view, for logs
    and benchmarks); beyond ``MAX_PROGRESS_BYTES`` the rest is read and dropped.
    """

    def __init__(self, copy: Path):
        self.read_end, self.write_end = os.pipe()
        os.set_blocking(self.read_end, False)
        self._received = bytearray()
        self._copy = open(copy, "ab")

    def handed_over(self) -> None:
        """The worker holds the write end now; closing ours lets the pipe end when the worker does."""
        os.close(self.write_end)

    def poll(self) -> list[str]:
        while True:
            try:
                chunk = os.read(self.read_end, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            room = MAX_PROGRESS_BYTES - len(self._received)
            if room > 0:
                self._received += chunk[:room]
                self._copy.write(chunk[:room])
                self._copy.flush()
        return self.lines()

    def lines(self) -> list[str]:
        text = self._received.decode("utf-8", errors="replace")
        return text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]  # whole lines only

    def close(self) -> None:
        os.close(self.read_end)
        self._copy.close()


def steps_reached(lines: list[str], probes: list[str]) -> int:
    """How many steps of the expected sequence the progress lines show, in order.

    The step timer restarts only when this grows, so a worker that writes progress lines of its
    own (forged, repeated, out of order) cannot stretch its time: each step counts once.
    """
    expected = ["starting", "import", "imported"]
    for name in probes:
        expected += [f"start {name}", f"end {name}"]
    expected.append("done")
    reached = 0
    for line in lines:
        if reached < len(expected) and line == expected[reached]:
            reached += 1
    return reached


def _tree_bytes(directory: Path) -> int:
    total = 0
    for path in directory.rglob("*"):
        try:
            total += path.lstat().st_size
        except OSError:
            pass
    return total


def _write_inputs(directory: Path, inputs: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    scalars = {}
    for key, value in inputs.items():
        if isinstance(value, np.ndarray):
            np.save(directory / f"{key}.npy", value, allow_pickle=False)
        else:
            scalars[key] = value
    if scalars:
        (directory / "inputs.json").write_text(json.dumps(scalars), encoding="utf-8")


class SandboxSession:
    """Owns the temporary job directory; observations stay readable until ``close``."""

    def __init__(self, assignment: Assignment, submission: Path, *, seed: int, limits: Limits):
        self.assignment = assignment
        self.display_name = Path(submission).name
        self.seed = seed
        self.limits = limits
        self.isolation = Isolation(limits.isolation)
        self.isolation.verify()  # fail closed: no sandbox, no grading
        self._tmp = tempfile.TemporaryDirectory(prefix=f"ag-{assignment.id}-")
        self.root = Path(self._tmp.name)
        self.program, self.origin = self._importable(Path(submission))
        inputs_seed = probe_seed(seed)  # secret: the submission cannot know its inputs in advance
        self.inputs = {name: (probe.make_inputs(inputs_seed) if probe.make_inputs else {})
                       for name, probe in assignment.probes.items()}
        self._outputs: dict[str, Path] = {}  # probe -> the output folder of the run that finished it

    def _importable(self, submission: Path) -> tuple[str, dict | None]:
        """The source the worker imports: the submission's text, or the program extracted from a notebook.

        The text is read here and written into each job, so the worker never sees the student's
        folder (nor anything a link in it points to).
        """
        if submission.suffix != ".ipynb":
            return submission.read_text(encoding="utf-8", errors="replace"), None
        program = extract_file(submission)
        return program.source, {"display_name": submission.name, "line_map": program.line_map(),
                                "broken_names": {name: why.to_json() for name, why in program.broken_names.items()}}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self._tmp.cleanup()

    # ------------------------------------------------------------------ running
    def run(self) -> dict[str, tuple[ProbeStatus, Evidence]]:
        statuses: dict[str, ProbeStatus] = {}
        pending = list(self.assignment.probes)
        attempt = 0
        while pending:
            attempt += 1
            end = self._run_worker(self.root / f"run{attempt}", pending)
            for name in end.finished:
                statuses[name] = self._status_from_file(end.output / "out" / name)
                self._outputs[name] = end.output
            pending = [name for name in pending if name not in statuses]
            if end.state == "done" or not pending:
                for name in pending:  # "done" with probes unrun: only code in the worker can have written that
                    statuses[name] = ProbeStatus("error", tr(
                        "The grading worker stopped before this check's code ran (did your code exit, or write into "
                        "the grader's files?)."))
                break
            if end.state == "worker_failed":
                log = (end.output.parent / "worker.log").read_text(encoding="utf-8", errors="replace")[-3000:]
                sys.stderr.write(f"grader fault: the sandbox worker failed to start:\n{log}\n")
                statuses.update({name: ProbeStatus("grader_error", tr("Internal grader error: the grading worker "
                                                      "could not start. This is not your fault.")) for name in pending})
                break
            if end.state == "import_failed":
                payload = _worker_payload(end.output / "import") or {}
                message = Text.from_json(payload.get("message", ""))
                statuses.update({name: ProbeStatus("error", message) for name in pending})
                break
            if end.running in (None, "import"):
                status = self._import_status(end)
                statuses.update({name: status for name in pending})
                break
            culprit = self.assignment.probes[end.running]
            statuses[end.running] = self._probe_status(end, culprit.uses)
            for name in pending:  # the same student function would hang or die again
                if name != end.running and set(self.assignment.probes[name].uses) & set(culprit.uses):
                    statuses[name] = ProbeStatus(statuses[end.running].state,
                                                 tr("Not run: {reason}", reason=statuses[end.running].message))
            pending = [name for name in pending if name not in statuses]
        return {name: (statuses[name], self._evidence(name, statuses[name])) for name in self.assignment.probes}

    def _write_job(self, job: Path, probes: list[str]) -> None:
        """The worker's read-only inputs; every path in job.json is relative to the job folder."""
        job.mkdir(parents=True)
        for name in probes:
            _write_inputs(job / "inputs" / name, self.inputs[name])
        (job / SUBMISSION_DIR).mkdir()
        module_file = f"{self.assignment.id}.py"
        (job / SUBMISSION_DIR / module_file).write_text(self.program, encoding="utf-8")
        (job / CLASS_INDEX_FILE).write_text(json.dumps(imagenet.grading_class_index()), encoding="utf-8")
        spec = {"assignment": self.assignment.id, "submission": f"{SUBMISSION_DIR}/{module_file}",
                "origin": self.origin or {"display_name": self.display_name}, "probes": probes, "seed": self.seed,
                "imagenet_class_index": CLASS_INDEX_FILE}
        (job / "job.json").write_text(json.dumps(spec), encoding="utf-8")

    def _run_worker(self, run_dir: Path, probes: list[str]) -> _WorkerEnd:
        paths = WorkerPaths(job=run_dir / "job", output=run_dir / "output", scratch=run_dir / "scratch")
        self._write_job(paths.job, probes)
        paths.output.mkdir()
        paths.scratch.mkdir()
        progress = ProgressChannel(run_dir / "progress")
        self.isolation.prepare(paths)
        extra = {}
        if cached_vgg16_weights():  # real weights the instructor cached; read-only, never downloaded
            extra[str(keras_cache_dir())] = "/keras/models"
        env = _worker_env(self.limits.threads)
        if extra:
            env["KERAS_HOME"] = "/keras" if self.isolation.level == "bwrap" else str(keras_cache_dir().parent)
        command, env, cwd = self.isolation.command(
            self.isolation.worker_argv("autograder.worker.main", "{job}", "{output}", str(progress.write_end)),
            paths, env, extra)
        limits = TreeLimits.create(self.limits.memory_mb)
        try:
            with open(run_dir / "worker.log", "wb") as log:
                process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                           cwd=cwd, env=env, start_new_session=True, pass_fds=(progress.write_end,),
                                           preexec_fn=self.isolation.preexec(limits))
                progress.handed_over()
                state = self._wait(process, paths.output, progress, probes)
            if state == "exited" and limits is not None and limits.hit_memory_limit():
                state = "memory"  # the cgroup's limit stopped a process before the poll saw it
            text = progress.poll()
        finally:
            progress.close()
            if limits is not None:
                limits.remove()
            shutil.rmtree(paths.scratch, ignore_errors=True)
        finished = [line.split(" ", 1)[1] for line in text if line.startswith("end ")]
        finished = [name for name in probes if name in finished]  # only probes this run was given, once each
        started = [line.split(" ", 1)[1] for line in text if line.startswith("start ")]
        if "import-failed" in text:
            return _WorkerEnd(finished, "import", "import_failed", process.returncode, paths.output)
        if "done" in text and state == "exited":
            return _WorkerEnd(finished, None, "done", process.returncode, paths.output)
        if "import" not in text:  # the kit's worker failed before student code ran
            return _WorkerEnd(finished, None, "worker_failed", process.returncode, paths.output)
        running = started[-1] if started and started[-1] not in finished and started[-1] in probes else (
            "import" if "imported" not in text else None)
        if running is None:
            running = next((name for name in probes if name not in finished), None)
        final = state if state in ("timeout", "memory", "output") else "died"
        return _WorkerEnd(finished, running, final, process.returncode, paths.output)

    def _wait(self, process: subprocess.Popen, output: Path, progress: ProgressChannel, probes: list[str]) -> str:
        """Watch the worker until it exits or breaks a limit; every limit is measured here, never by the worker."""
        steps, last_step, started = 0, time.monotonic(), False
        watched, next_memory_check, next_output_check = psutil.Process(process.pid), 0.0, 0.0
        deadline = time.monotonic() + STARTUP_SECONDS + self.limits.step_timeout * (len(probes) + 1)
        state = "exited"
        while process.poll() is None:
            now = time.monotonic()
            reached = steps_reached(progress.poll(), probes)
            if reached > steps:
                steps, last_step = reached, now
                started = started or reached >= 2  # the "import" step: student code runs from here on
            if now - last_step > (self.limits.step_timeout if started else STARTUP_SECONDS) or now > deadline:
                state = "timeout"
            elif self.limits.memory_mb and now >= next_memory_check:
                next_memory_check = now + MEMORY_POLL_SECONDS
                if resident_mb(watched) > self.limits.memory_mb:
                    state = "memory"
            if state == "exited" and now >= next_output_check:
                next_output_check = now + OUTPUT_CHECK_SECONDS
                if _tree_bytes(output) > MAX_OUTPUT_BYTES:
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

    def _import_status(self, end: _WorkerEnd) -> ProbeStatus:
        name = self.display_name
        if end.state == "memory":
            return ProbeStatus("error", tr("Importing {name} used more than {limit} MiB of memory and was stopped. "
                                           "Move data loading and training out of module level.",
                                           name=name, limit=self.limits.memory_mb))
        if end.state == "output":
            return ProbeStatus("error", tr("Importing {name} wrote more than {limit} MiB of files and was stopped.",
                                           name=name, limit=MAX_OUTPUT_BYTES // 2**20))
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
            return ProbeStatus("error", tr("{names} wrote more than {limit} MiB of files and was stopped.",
                                           names=names, limit=MAX_OUTPUT_BYTES // 2**20))
        if end.state == "timeout":
            return ProbeStatus("timeout", tr("{names} did not finish within {limit:g} s (an endless loop, or far too "
                                             "much work?).", names=names, limit=self.limits.step_timeout))
        return ProbeStatus("error", tr("The process ended while running {names} (exit code {code}). Do not call "
                                       "sys.exit(), os._exit() or quit() in your functions.",
                                       names=names, code=end.returncode))

    def _evidence(self, name: str, status: ProbeStatus) -> Evidence:
        if status.state != "ok":
            return Evidence({}, None, self.inputs[name])
        directory = self._outputs[name] / "out" / name
        payload = _worker_payload(directory) or {}
        return Evidence(_manifest(payload.get("values"), directory), directory, self.inputs[name])


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
