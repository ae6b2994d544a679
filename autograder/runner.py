"""Runs a submission's code in sandbox worker processes and collects the observations.

One worker imports the submission and runs every probe. If it hangs past the
step time limit or dies, the step that was running is recorded as ``timeout`` or
``error``, probes that call the same student function are not retried, and a
fresh worker runs what is left: a hang or crash costs only the affected checks.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from autograder.artifacts import RESULT_FILE, Evidence, read_probe_result
from autograder.i18n import Text, tr
from autograder.notebook_code import extract_file
from autograder.outcomes import ProbeStatus
from autograder.spec import Assignment

POLL_SECONDS = 0.05
MEMORY_POLL_SECONDS = 0.25
STARTUP_SECONDS = 120.0  # the worker's own start (Python, TensorFlow); not charged to the student


@dataclass(frozen=True)
class Limits:
    step_timeout: float = 60.0  # seconds one step (the import, or one probe) may run
    threads: int = 1            # TensorFlow threads inside each worker
    memory_mb: int | None = None  # resident memory one worker (with its children) may use; None: no limit

    def __post_init__(self):
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
    state: str            # "done", "timeout", "memory", "died", "import_failed", "worker_failed"
    returncode: int | None


def _worker_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "CUDA_VISIBLE_DEVICES": "-1",  # workers only build and inspect; the GPU stays with the grader
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TF_NUM_INTRAOP_THREADS": str(threads),
        "TF_NUM_INTEROP_THREADS": str(threads),
        "OMP_NUM_THREADS": str(threads),
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "Agg",
    })
    return env


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


def _progress_lines(progress: Path) -> list[str]:
    """The worker's progress lines: "starting", "import", "imported", "start X", "end X", "done"."""
    return progress.read_text(encoding="utf-8").splitlines()


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

    def __init__(self, assignment: Assignment, submission: Path, *, seed: int, limits: Limits,
                 class_index: Path | None = None):
        self.assignment = assignment
        self.class_index = class_index  # ImageNet class names for decode_predictions, offline
        self.display_name = Path(submission).name
        self.seed = seed
        self.limits = limits
        self._tmp = tempfile.TemporaryDirectory(prefix=f"ag-{assignment.id}-")
        self.root = Path(self._tmp.name)
        self.submission, self.origin = self._importable(Path(submission).resolve())
        self.inputs = {name: (probe.make_inputs(seed) if probe.make_inputs else {})
                       for name, probe in assignment.probes.items()}

    def _importable(self, submission: Path) -> tuple[Path, dict | None]:
        """The file the worker imports: the submission, or the program extracted from a notebook."""
        if submission.suffix != ".ipynb":
            return submission, None
        program = extract_file(submission)
        extracted = self.root / "submission" / f"{self.assignment.id}.py"
        extracted.parent.mkdir()
        extracted.write_text(program.source, encoding="utf-8")
        return extracted, {"display_name": submission.name, "line_map": program.line_map(),
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
            job_dir = self.root / f"run{attempt}"
            end = self._run_worker(job_dir, pending)
            for name in end.finished:
                statuses[name] = self._status_from_file(job_dir / "out" / name)
            pending = [name for name in pending if name not in statuses]
            if end.state == "done" or not pending:
                for name in pending:  # a worker that says done but skipped probes is a kit fault
                    statuses[name] = ProbeStatus("grader_error", tr("Internal grader error: a check's code was never run."))
                break
            if end.state == "worker_failed":
                log = (job_dir / "worker.log").read_text(encoding="utf-8", errors="replace")[-3000:]
                sys.stderr.write(f"grader fault: the sandbox worker failed to start:\n{log}\n")
                statuses.update({name: ProbeStatus("grader_error", tr("Internal grader error: the grading worker "
                                                      "could not start. This is not your fault.")) for name in pending})
                break
            if end.state == "import_failed":
                message = Text.from_json(read_probe_result(job_dir / "import")["message"])
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

    def _run_worker(self, job_dir: Path, probes: list[str]) -> _WorkerEnd:
        job_dir.mkdir(parents=True)
        scratch = Path(tempfile.mkdtemp(prefix="ag-scratch-"))  # the student's cwd, away from the job files
        for name in probes:
            _write_inputs(job_dir / "inputs" / name, self.inputs[name])
        job = {"assignment": self.assignment.id, "submission": str(self.submission),
               "origin": self.origin, "probes": probes, "seed": self.seed, "scratch": str(scratch),
               "imagenet_class_index": str(self.class_index) if self.class_index else None}
        (job_dir / "job.json").write_text(json.dumps(job), encoding="utf-8")
        progress = job_dir / "progress"
        progress.touch()
        try:
            with open(job_dir / "worker.log", "wb") as log:
                # The job path goes over stdin, which the worker reads before importing student code.
                process = subprocess.Popen(
                    [sys.executable, "-m", "autograder.sandbox"],
                    stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, cwd=scratch,
                    env=_worker_env(self.limits.threads), start_new_session=True)
                process.stdin.write(f"{job_dir}\n".encode())
                process.stdin.close()
                state = self._wait(process, progress)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        text = _progress_lines(progress)
        finished = [line.split(" ", 1)[1] for line in text if line.startswith("end ")]
        started = [line.split(" ", 1)[1] for line in text if line.startswith("start ")]
        if "import-failed" in text:
            return _WorkerEnd(finished, "import", "import_failed", process.returncode)
        if "done" in text and state == "exited":
            return _WorkerEnd(finished, None, "done", process.returncode)
        if "import" not in text:  # the kit's worker failed before student code ran
            return _WorkerEnd(finished, None, "worker_failed", process.returncode)
        running = started[-1] if started and started[-1] not in finished else (
            "import" if "imported" not in text else None)
        return _WorkerEnd(finished, running, state if state in ("timeout", "memory") else "died", process.returncode)

    def _wait(self, process: subprocess.Popen, progress: Path) -> str:
        last_size, last_change, started = -1, time.monotonic(), False
        watched, next_memory_check = psutil.Process(process.pid), 0.0
        while process.poll() is None:
            size = progress.stat().st_size
            now = time.monotonic()
            if size != last_size:
                last_size, last_change = size, now
                started = started or "import" in _progress_lines(progress)
            elif now - last_change > (self.limits.step_timeout if started else STARTUP_SECONDS):
                kill_group(process)
                return "timeout"
            if self.limits.memory_mb and now >= next_memory_check:
                next_memory_check = now + MEMORY_POLL_SECONDS
                if resident_mb(watched) > self.limits.memory_mb:
                    kill_group(process)
                    return "memory"
            time.sleep(POLL_SECONDS)
        kill_group(process)  # children the student may have left behind
        return "exited"

    # ------------------------------------------------------------------ reading
    def _status_from_file(self, directory: Path) -> ProbeStatus:
        if not (directory / RESULT_FILE).exists():
            return ProbeStatus("grader_error", tr("Internal grader error: a result file is missing."))
        payload = read_probe_result(directory)
        if payload["state"] == "grader_error":
            sys.stderr.write(f"grader fault in sandbox probe {directory.name}:\n{payload.get('traceback', '')}\n")
        return ProbeStatus(payload["state"], Text.from_json(payload.get("message", "")))

    def _import_status(self, end: _WorkerEnd) -> ProbeStatus:
        name = self.display_name
        if end.state == "memory":
            return ProbeStatus("error", tr("Importing {name} used more than {limit} MiB of memory and was stopped. "
                                           "Move data loading and training out of module level.",
                                           name=name, limit=self.limits.memory_mb))
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
        if end.state == "timeout":
            return ProbeStatus("timeout", tr("{names} did not finish within {limit:g} s (an endless loop, or far too "
                                             "much work?).", names=names, limit=self.limits.step_timeout))
        return ProbeStatus("error", tr("The process ended while running {names} (exit code {code}). Do not call "
                                       "sys.exit(), os._exit() or quit() in your functions.",
                                       names=names, code=end.returncode))

    def _evidence(self, name: str, status: ProbeStatus) -> Evidence:
        if status.state != "ok":
            return Evidence({}, None, self.inputs[name])
        for job_dir in sorted(self.root.glob("run*"), key=lambda p: int(p.name[3:]), reverse=True):
            directory = job_dir / "out" / name
            if (directory / RESULT_FILE).exists():
                return Evidence(read_probe_result(directory)["values"], directory, self.inputs[name])
        raise RuntimeError(f"observations of probe {name!r} vanished")
