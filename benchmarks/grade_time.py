"""How long grading the reference solutions takes, step by step, and how much memory it needs.

What it measures, for each assignment graded against ``solutions/``, without changing
any kit code:

* in the grading process, once: the time to ``import tensorflow`` and ``import keras``
  (the checks need both; the CLI pays this once per run);
* in the sandbox worker, from the lines the worker appends to ``run*/progress`` (the grader's copy of the progress pipe)
  (polled every 10 ms by a background thread):
    - worker start-up: spawning ``python -m autograder.worker.main`` until it writes
      ``import`` (Python start-up, the kit's grader module and -- because the worker
      runs ``import keras`` before that line -- TensorFlow/Keras);
    - student import: ``import`` -> ``imported`` (executing the student's file);
    - each probe: ``start X`` -> ``end X`` (the student's code plus saving the
      observations: arrays, ``.keras`` files);
    - worker exit: ``done`` -> the process has exited;
    - the whole ``SandboxSession.run()`` and what is left over (writing inputs, gaps);
* on the trusted side: each check's ``autograder.core.outcomes.judge`` call (loading the
  saved models, predicting, the training runs of ``*_trains``);
* peak memory, in MiB: max RSS of this grading process (``RUSAGE_SELF``), each sandbox
  worker's own peak (VmHWM read from /proc every 10 ms while it runs) and
  ``RUSAGE_CHILDREN``. Caveat: on Linux a child's max RSS starts from its parent's RSS
  at fork time, so ``RUSAGE_CHILDREN`` is at least the grading process's RSS when the
  last worker was spawned, not the worker's own peak;
* end to end: the wall time of ``python -m autograder grade solutions`` as a
  subprocess (with the CLI's defaults), its exit code, its score and its peak RSS
  (``os.wait4``: the largest process in its tree). The CLI runs first, before this
  process imports TensorFlow, so that figure is not inflated by the caveat above.
  The target is under 60 s per assignment on a 2-core machine (its in-process grading
  plus one TensorFlow import, the cost of ``python -m autograder grade FILE``); the
  script prints whether each assignment met it.

Timings depend on what else runs on the machine; run it on an idle machine and use
``--repeat`` to see the spread. The first in-process repeat also pays one-off costs
(first Keras model load, tracing), later repeats do not.

Run from the project root::

    .venv/bin/python benchmarks/grade_time.py                 # every assignment, once
    .venv/bin/python benchmarks/grade_time.py --repeat 3
    .venv/bin/python benchmarks/grade_time.py --assignment cnn --no-cli

Exit code: 0 when every check of the reference solutions passed (in-process and in
the CLI run), 1 otherwise. Missing the time target does not change the exit code.
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # as the CLI does, before TensorFlow is imported

from autograder import graders  # noqa: E402  (none of these import TensorFlow)
from autograder.host.context import GradingContext, configure_tensorflow  # noqa: E402
from autograder.core.outcomes import judge  # noqa: E402
from autograder.host.runner import Limits, SandboxSession  # noqa: E402
from _tables import print_table  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
TARGET_SECONDS = 60.0  # per assignment
POLL_SECONDS = 0.010


def mib_from_rusage(kib: int) -> float:
    return kib / 1024.0  # Linux reports ru_maxrss in KiB


def vm_hwm_mib(pid: int) -> float | None:
    """The peak RSS so far of a running process, from /proc (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        return None
    return None


class ProgressRecorder(threading.Thread):
    """Polls ``ROOT/run*/progress`` and records when each line first appears."""

    def __init__(self, root: Path, session: "TimedSession"):
        super().__init__(daemon=True)
        self.root = root
        self.session = session
        self.events: dict[str, list[tuple[str, float]]] = {}  # run dir -> [(line, time)]
        self.hwm: dict[str, float] = {}  # run dir -> worker VmHWM (MiB), last value seen
        self._stop_event = threading.Event()

    def poll(self) -> None:
        now = time.perf_counter()
        for progress in sorted(self.root.glob("run*/progress")):
            run = progress.parent.name
            try:
                text = progress.read_text(encoding="utf-8")
            except OSError:
                continue
            lines = text.split("\n")[:-1]  # only complete lines
            seen = self.events.setdefault(run, [])
            for line in lines[len(seen):]:
                seen.append((line, now))
        pid_run = self.session.current
        if pid_run is not None:
            pid, run = pid_run
            hwm = vm_hwm_mib(pid)
            if hwm is not None:
                self.hwm[run] = max(hwm, self.hwm.get(run, 0.0))

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.poll()
            self._stop_event.wait(POLL_SECONDS)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
        self.poll()


class TimedSession(SandboxSession):
    """A SandboxSession that records when each worker was spawned and when it exited.

    ``_wait`` is entered right after ``subprocess.Popen`` returns and left once the
    worker (and anything it left behind) is gone; nothing else changes.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.spawned: dict[str, float] = {}
        self.exited: dict[str, float] = {}
        self.current: tuple[int, str] | None = None

    def _wait(self, process, output, progress, probes):
        run = output.parent.name
        self.spawned[run] = time.perf_counter()
        self.current = (process.pid, run)
        try:
            return super()._wait(process, output, progress, probes)
        finally:
            self.current = None
            self.exited[run] = time.perf_counter()


def time_tensorflow_import(threads: int) -> dict[str, float]:
    if "tensorflow" in sys.modules or "keras" in sys.modules:
        raise RuntimeError("TensorFlow was imported before it could be timed")
    started = time.perf_counter()
    import tensorflow  # noqa: F401

    after_tf = time.perf_counter()
    import keras  # noqa: F401

    after_keras = time.perf_counter()
    configure_tensorflow(threads)  # what the CLI does next
    return {"import tensorflow": after_tf - started, "import keras (after TF)": after_keras - after_tf}


def worker_steps(session: TimedSession, recorder: ProgressRecorder) -> list[tuple[str, float]]:
    """(label, seconds) for every step the progress files show, in order."""
    steps: list[tuple[str, float]] = []
    runs = sorted(recorder.events, key=lambda name: int(name[3:]))
    for run in runs:
        prefix = f"[{run}] " if len(runs) > 1 else ""
        events = recorder.events[run]
        when = {}
        for line, moment in events:
            when.setdefault(line, moment)
        spawned, exited = session.spawned.get(run), session.exited.get(run)
        if spawned is not None and "import" in when:
            steps.append((f"{prefix}worker start-up (spawn -> 'import')", when["import"] - spawned))
        if "import" in when and "imported" in when:
            steps.append((f"{prefix}student import ('import' -> 'imported')", when["imported"] - when["import"]))
        for line, moment in events:
            if line.startswith("start "):
                name = line.split(" ", 1)[1]
                if f"end {name}" in when:
                    steps.append((f"{prefix}probe {name}", when[f"end {name}"] - moment))
                else:
                    steps.append((f"{prefix}probe {name} (never ended)", float("nan")))
        if "done" in when and exited is not None:
            steps.append((f"{prefix}worker exit ('done' -> exited)", exited - when["done"]))
        if spawned is not None and exited is not None:
            steps.append((f"{prefix}worker total (spawn -> exited)", exited - spawned))
        unexpected = [line for line, _ in events if line.split(" ", 1)[0] not in
                      ("import", "imported", "start", "end", "done")]
        if unexpected:
            steps.append((f"{prefix}unexpected progress lines: {unexpected}", float("nan")))
    return steps


def grade_once(assignment_id: str, context: GradingContext, limits: Limits) -> dict:
    """Grade ``solutions/<assignment>.py`` like grade_assignment, timing every step."""
    assignment = graders.load(assignment_id)
    file = SOLUTIONS / f"{assignment_id}.py"
    if not file.is_file():
        raise FileNotFoundError(f"no {assignment_id}.py in {SOLUTIONS}")
    rows: list[tuple[str, str, float]] = []  # (section, label, seconds)
    started = time.perf_counter()
    session = TimedSession(assignment, file, seed=context.seed, limits=limits)
    rows.append(("sandbox", "session set-up (probe inputs, temp dir)", time.perf_counter() - started))
    try:
        recorder = ProgressRecorder(session.root, session)
        recorder.start()
        run_started = time.perf_counter()
        try:
            observed = session.run()
        finally:
            run_seconds = time.perf_counter() - run_started
            recorder.stop()
        steps = worker_steps(session, recorder)
        rows.extend(("sandbox", label, seconds) for label, seconds in steps)
        counted = sum(s for label, s in steps if "worker total" in label)
        rows.append(("sandbox", "SandboxSession.run() total", run_seconds))
        rows.append(("sandbox", "  of which outside workers (inputs, job files, reading)", run_seconds - counted))
        checks, results = [], []
        for check in assignment.checks:
            check_started = time.perf_counter()
            result = judge(assignment.id, check, *observed[check.probe], context)
            seconds = time.perf_counter() - check_started
            checks.append((check.id, seconds, result.outcome.value))
            results.append(result)
            rows.append(("checks", f"{check.id} [{result.outcome.value}]", seconds))
        rows.append(("checks", "all checks", sum(seconds for _, seconds, _ in checks)))
    finally:
        close_started = time.perf_counter()
        session.close()
        rows.append(("sandbox", "session close (temp dir removal)", time.perf_counter() - close_started))
    total = time.perf_counter() - started
    rows.append(("total", "assignment total (in-process)", total))
    failed = [f"{r.check_id}: {r.outcome.value} {r.message}" for r in results if not r.passed]
    return {"rows": rows, "failed": failed, "score": sum(r.score for r in results),
            "max_score": sum(r.max_score for r in results), "worker_hwm": max(recorder.hwm.values(), default=None)}


def run_cli(assignment: str | None, timeout: float) -> dict:
    command = [sys.executable, "-m", "autograder", "grade", str(SOLUTIONS)]
    if assignment:
        command += ["--assignment", assignment]
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"})
        deadline = started + timeout
        while True:  # os.wait4 gives this process tree's peak RSS, which Popen.wait would discard
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read().decode("utf-8", errors="replace")
    total = re.search(r"Total: ([\d.]+)/([\d.]+) in ([\d.]+) s", text)
    return {"seconds": seconds, "returncode": process.returncode, "output": text,
            "score": (float(total.group(1)), float(total.group(2))) if total else None,
            "reported_seconds": float(total.group(3)) if total else None,
            "peak_mib": mib_from_rusage(usage.ru_maxrss)}


# ------------------------------------------------------------------ printing
def seconds_text(value: float) -> str:
    return "n/a" if value != value else f"{value:.3f}"


def timing_table(title: str, runs: list[list[tuple[str, str, float]]]) -> None:
    labels: list[tuple[str, str]] = []
    values: dict[tuple[str, str], list[float]] = {}
    for rows in runs:
        for section, label, seconds in rows:
            key = (section, label)
            if key not in values:
                labels.append(key)
                values[key] = []
            values[key].append(seconds)
    header = ["step"] + [f"run {i + 1} (s)" for i in range(len(runs))]
    if len(runs) > 1:
        header += ["median (s)"]
    table = []
    section_names = {"sandbox": "sandbox", "checks": "check", "total": "total"}
    for section, label in labels:
        seen = values[(section, label)]
        row = [f"{section_names.get(section, section)}: {label}"] + [seconds_text(v) for v in seen]
        row += [""] * (len(runs) + 1 - len(row))
        if len(runs) > 1:
            finite = [v for v in seen if v == v]
            row.append(seconds_text(statistics.median(finite)) if finite else "n/a")
        table.append(row)
    print_table(header, table, title)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1, help="grade each assignment N times (default 1)")
    parser.add_argument("--assignment", choices=graders.ASSIGNMENT_IDS,
                        help="time only this assignment (default: both)")
    parser.add_argument("--seed", type=int, default=0, help="grading seed (default 0, as the CLI)")
    parser.add_argument("--threads", type=int, default=max(1, min(4, os.cpu_count() or 1)),
                        help="TensorFlow threads in the grading process (default: as the CLI)")
    parser.add_argument("--no-cli", action="store_true", help="skip the end-to-end CLI run(s)")
    parser.add_argument("--cli-timeout", type=float, default=600.0, help="kill a CLI run after S seconds")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    assignments = [args.assignment] if args.assignment else list(graders.ASSIGNMENT_IDS)
    failures: list[str] = []
    print(f"grade_time: reference solutions in {SOLUTIONS}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPU cores, load average "
          f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}; grading threads {args.threads}, "
          f"worker threads {Limits().threads}, seed {args.seed}, repeats {args.repeat}")

    # The CLI runs first, while this process is still small: on Linux a child's max RSS starts from its
    # parent's RSS at fork time (the hiwater mark of the pre-exec address space is kept), so os.wait4 and
    # RUSAGE_CHILDREN of a child spawned after TensorFlow is imported here would report at least this
    # process's own size.
    cli_runs = []
    if not args.no_cli:
        for repeat in range(args.repeat):
            cli = run_cli(args.assignment, args.cli_timeout)
            cli_runs.append(cli)
            score = f"{cli['score'][0]:g}/{cli['score'][1]:g}" if cli["score"] else "no total line"
            print(f"  CLI run {repeat + 1}: {cli['seconds']:.1f} s, exit code {cli['returncode']}, score {score}")
            if cli["returncode"] != 0 or not cli["score"] or cli["score"][0] != cli["score"][1]:
                failures.append(f"CLI run {repeat + 1}: exit code {cli['returncode']}, score {score}")
                print(cli["output"][-4000:])
    before_tf_mib = mib_from_rusage(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)

    imports = time_tensorflow_import(args.threads)
    import keras
    import tensorflow as tf

    print(f"tensorflow {tf.__version__}, keras {keras.__version__}")
    print_table(["step", "seconds"], [[label, seconds_text(value)] for label, value in imports.items()],
                "Grading process: TensorFlow import (once per process)")

    limits = Limits()
    timings: dict[str, list] = {a: [] for a in assignments}
    worker_hwm: dict[str, float] = {}
    in_process_totals: list[float] = []
    for repeat in range(args.repeat):
        context = GradingContext(seed=args.seed)  # one per submission, shared by its assignments, as in the CLI
        total = 0.0
        for assignment_id in assignments:
            result = grade_once(assignment_id, context, limits)
            timings[assignment_id].append(result["rows"])
            total += result["rows"][-1][2]
            if result["worker_hwm"] is not None:
                worker_hwm[assignment_id] = max(result["worker_hwm"], worker_hwm.get(assignment_id, 0.0))
            failures += [f"run {repeat + 1} {assignment_id}: {f}" for f in result["failed"]]
            print(f"  run {repeat + 1}: {assignment_id} scored {result['score']:g}/{result['max_score']:g} "
                  f"in {result['rows'][-1][2]:.1f} s")
        in_process_totals.append(total)
    for assignment_id in assignments:
        timing_table(f"Assignment {assignment_id}: steps (grading process and sandbox worker)",
                     timings[assignment_id])
    sum_imports = sum(imports.values())
    print(f"\nIn-process grading of {' + '.join(assignments)}: "
          + ", ".join(f"{t:.1f} s" for t in in_process_totals)
          + f" (plus {sum_imports:.1f} s TensorFlow/Keras import once)")

    self_peak = mib_from_rusage(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    children_peak = mib_from_rusage(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    memory_rows = [["grading process (RUSAGE_SELF max RSS)", f"{self_peak:.0f}"],
                   ["grading process before importing TensorFlow (kit only)", f"{before_tf_mib:.0f}"]]
    memory_rows += [[f"sandbox worker, {a} (VmHWM polled from /proc every 10 ms)", f"{v:.0f}"]
                    for a, v in worker_hwm.items()]
    memory_rows.append(["children incl. CLI trees (RUSAGE_CHILDREN max RSS) *", f"{children_peak:.0f}"])

    for i, cli in enumerate(cli_runs):
        memory_rows.append([f"CLI run {i + 1}: largest process in its tree (os.wait4)", f"{cli['peak_mib']:.0f}"])
    print_table(["process", "MiB"], memory_rows, "Peak memory")
    print("* RUSAGE_CHILDREN counts each worker from fork, when it still shares this process's pages, so it "
          "is at least this process's RSS when the last worker was spawned; the polled VmHWM is the "
          "worker's own peak.")

    if cli_runs:
        command = "python -m autograder grade solutions" + (f" --assignment {args.assignment}"
                                                             if args.assignment else "")
        rows = []
        for i, cli in enumerate(cli_runs):
            score = f"{cli['score'][0]:g}/{cli['score'][1]:g}" if cli["score"] else "?"
            reported = f"{cli['reported_seconds']:.1f}" if cli["reported_seconds"] is not None else "?"
            rows.append([f"run {i + 1}", f"{cli['seconds']:.2f}", reported, str(cli["returncode"]), score])
        print_table(["run", "wall (s)", "grading, as reported (s)", "exit", "score"], rows,
                    f"End to end: {command}")

    slowest = {a: max(rows[-1][2] for rows in timings[a]) + sum_imports for a in assignments}
    per_assignment = [[a, f"{seconds:.1f}", "MET" if seconds < TARGET_SECONDS else "NOT MET"]
                      for a, seconds in slowest.items()]
    print_table(["assignment", "slowest grading + TF import (s)", f"under {TARGET_SECONDS:g} s"], per_assignment,
                f"Target: each assignment's hidden suite in under {TARGET_SECONDS:g} s on a "
                f"{os.cpu_count()}-core machine")

    if failures:
        print("\nReference solutions did NOT get full marks:")
        for failure in failures:
            print(f"  {failure}")
        return 1
    print("\nAll checks of the reference solutions passed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
