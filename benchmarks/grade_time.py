"""How long ``python -m autograder grade`` takes on the reference solutions, and how much memory and CPU it
needs: the current tree against a baseline commit, side by side in one run, through the real CLI.

Run from the project root::

    .venv/bin/python benchmarks/grade_time.py [--repeat 3] [--baseline REV]
    .venv/bin/python benchmarks/grade_time.py --repeat 1 --assignment cnn --no-full
    .venv/bin/python benchmarks/grade_time.py --no-baseline          # the current tree alone

Two trees are measured: the baseline (``--baseline REV``, default :data:`BASELINE`), unpacked with
``git archive REV | tar -x`` into a temporary folder (no worktree, no change to this checkout's git
state), and the current tree (this working tree, uncommitted edits included). Each run is
``[python, -m, autograder, grade, SUBMISSION, --json OUT/results.json]`` as a subprocess whose working
directory is that tree's root, so ``python -m`` imports the tree's own ``autograder`` package (checked
before the first run). This script imports nothing from ``autograder``: it works against any commit
whose CLI has these options.

Runs: the full five-assignment submission, and each assignment alone (``--assignment ID``); every run
gets a fresh temporary copy of ``solutions/<id>.py`` of the tree it runs in, and a fresh output folder.
Each kind of run is repeated ``--repeat`` times, baseline and current interleaved (b, c, b, c, ...) so
that drift in the machine's load affects both alike; the tables show medians (and the range when
``--repeat`` > 1).

Per run, measured from outside while the CLI's whole process tree runs (polled with psutil every 50 ms;
PSS every tenth poll, as reading a process's ``/proc/PID/smaps_rollup`` costs a few milliseconds of a core for
each TensorFlow process: read at every poll, the monitor took a quarter of one of the two cores from the class
run it measured, 23 s of CPU in 92 s, which made that run about 10 % slower):

* wall: from starting the CLI to its exit (Python and TensorFlow start-up included);
* CPU: user + system seconds of the whole tree; the larger of ``os.wait4``'s rusage of the CLI (which
  includes every descendant that was waited for) and the sum of psutil's last reading of each process
  seen (which also catches descendants nobody waited for, but misses the last < 50 ms of each);
* peak RSS of one process: the largest RSS any single process of the tree had at a poll;
* peak tree RSS: the largest sum of RSS over the tree at a poll (one student's whole grading tree);
* peak tree PSS: the largest sum of PSS over the tree at a poll: what the tree occupies, each page shared
  by several of its processes (the forked judges share most of theirs with the grading process) counted
  once in all, where the RSS sum counts it once per process;
* score: from the CLI's results.json (Gradescope format); the reference solutions must get full marks.

Short spikes between two polls are not seen, so the memory figures are a lower bound. Each run also
prints the monitor's own CPU seconds (``monitor``), which the machine spent beside the CLI.

Exit code: 0 when every run on both trees exited 0 with full marks, 1 otherwise. Missing a time or
memory target does not change the exit code. ``benchmarks/grade_class.py`` reuses the helpers here.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from _tables import print_table  # benchmarks/ is on sys.path when run as a script

# The commit before the performance work ("Tests after the layout change ...", HEAD when it began): "today's
# code", which the issue's targets are compared with. Pass --baseline REV to compare with another commit.
BASELINE = "136ddbd"
ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = ("fashion_mnist", "cnn", "gap", "pretrained", "transfer")
POLL_SECONDS = 0.05
PSS_EVERY = 10  # polls (0.5 s): PSS (smaps_rollup) costs ms a process, RSS and CPU times ~0.01 ms
MIB = 1024 * 1024

# Targets (issue text; a 2-core machine without a GPU).
FULL_WALL_S, FULL_CPU_S, SINGLE_WALL_S = 25.0, 30.0, 10.0
PROCESS_MIB, TREE_MIB = 1229.0, 2048.0  # 1.2 GiB for any one process, 2 GiB for one student's grading tree


# ---------------------------------------------------------------------------- the trees
@dataclass
class Tree:
    label: str          # "baseline" or "current"
    root: Path          # the folder the CLI runs in
    description: str    # shown in the header


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def kit_location(cwd: Path) -> Path:
    """Where ``import autograder`` resolves when a child runs in ``cwd`` as the CLI's own grading children do:
    with ``-P`` (no working directory on the path), so only PYTHONPATH (child_env) keeps them in the tree."""
    done = subprocess.run([sys.executable, "-P", "-c", "import autograder; print(autograder.__file__)"], cwd=cwd,
                          env=child_env(cwd), capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"error: `import autograder` fails in {cwd}:\n{done.stderr[-2000:]}")
    return Path(done.stdout.strip()).resolve()


def prepare_trees(baseline: str | None, tmp: Path) -> list[Tree]:
    """[baseline, current] (or [current] without a baseline), each checked to import its own kit."""
    changed = git("diff", "--name-only", "HEAD").splitlines()
    trees = []
    if baseline is not None:
        try:
            commit = git("rev-parse", "--short", f"{baseline}^{{commit}}")
        except subprocess.CalledProcessError as exc:
            raise SystemExit(f"error: no commit {baseline!r} in {ROOT}: {exc.stderr.strip()}")
        folder = tmp / "baseline"
        folder.mkdir()
        archive = subprocess.Popen(["git", "-C", str(ROOT), "archive", commit], stdout=subprocess.PIPE)
        untar = subprocess.run(["tar", "-x", "-C", str(folder)], stdin=archive.stdout)
        archive.stdout.close()
        if archive.wait() != 0 or untar.returncode != 0:
            raise SystemExit(f"error: could not unpack {commit} (git archive {archive.returncode}, "
                             f"tar {untar.returncode})")
        trees.append(Tree("baseline", folder, f"commit {commit}, unpacked into {folder}"))
    head = git("rev-parse", "--short", "HEAD")
    trees.append(Tree("current", ROOT, f"working tree {ROOT} at {head}"
                      + (f" + {len(changed)} changed file(s)" if changed else "")))
    for tree in trees:
        location = kit_location(tree.root)
        if not location.is_relative_to(tree.root.resolve()):
            raise SystemExit(f"error: in {tree.root}, `import autograder` finds {location}, not the tree's own kit")
        tree.description += f"; its CLI imports {location}"
    return trees


def announce_trees(args: argparse.Namespace, tmp: Path) -> list[Tree]:
    """Print the machine line, prepare the trees the arguments ask for (prepare_trees) and print each one."""
    print(machine_line())
    trees = prepare_trees(None if args.no_baseline else args.baseline, tmp)
    for tree in trees:
        print(f"{tree.label}: {tree.description}")
    return trees


def tree_arguments(parser: argparse.ArgumentParser, repeat: int) -> None:
    parser.add_argument("--repeat", type=int, default=repeat, help=f"runs of each kind per tree (default {repeat})")
    parser.add_argument("--baseline", default=BASELINE, metavar="REV",
                        help=f"commit to compare with (default {BASELINE}, the code before the performance work)")
    parser.add_argument("--no-baseline", action="store_true", help="measure the current tree alone")


def machine_line() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"machine: Python {platform.python_version()} ({sys.executable}), {os.cpu_count()} cores "
            f"({usable} usable), load average {load}, {platform.platform()}")


def copy_submission(source: Path, folder: Path) -> Path:
    """A fresh submission folder holding ``source/<id>.py`` for the five assignments (nothing else)."""
    folder.mkdir(parents=True)
    for assignment in ASSIGNMENTS:
        shutil.copyfile(source / f"{assignment}.py", folder / f"{assignment}.py")
    return folder


# ---------------------------------------------------------------------------- one measured run
def child_env(root: Path) -> dict[str, str]:
    """The environment of a tree's CLI: its root first on PYTHONPATH, so that grade-all's per-student children
    (``python -P -m autograder.host.child``, which leave out the working directory) import this tree's kit
    and not the one installed in the virtual environment (this checkout, editable)."""
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": path}  # AUTOGRADER_PROBE_KEY etc. pass through


class TreeMonitor(threading.Thread):
    """Polls a process and its descendants: peak RSS (one process, the tree, each child's branch), CPU."""

    def __init__(self, pid: int, *, pss: bool = True) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.pss = pss  # read PSS at all (every PSS_EVERY polls)
        self.root = psutil.Process(pid)
        self.done = threading.Event()
        self.peak_process = self.peak_tree = self.peak_branch = self.peak_tree_pss = 0
        self.cpu: dict[tuple[int, float], float] = {}  # (pid, create time) -> its own user + system seconds
        self.processes = 0
        self.own_cpu = 0.0  # this thread's CPU seconds: what measuring cost the machine

    def run(self) -> None:
        polls = 0
        while True:
            self.sample(with_pss=self.pss and polls % PSS_EVERY == 0)
            polls += 1
            self.own_cpu = time.thread_time()
            if self.done.wait(POLL_SECONDS):
                return

    def sample(self, *, with_pss: bool) -> None:
        try:
            processes = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        rss, pss, parent, zygotes, nursery = {}, {}, {}, set(), set()
        for process in processes:
            try:
                with process.oneshot():
                    rss[process.pid] = process.memory_info().rss
                    if with_pss:
                        pss[process.pid] = process.memory_full_info().pss
                    parent[process.pid] = process.ppid()
                    command = process.cmdline()
                    if command[-1:] == ["autograder.host.zygote"]:
                        zygotes.add(process.pid)
                    if "autograder.worker.nursery" in " ".join(command):  # its two bubblewrap processes, itself
                        nursery.add(process.pid)
                    times = process.cpu_times()
                    self.cpu[(process.pid, process.create_time())] = times.user + times.system
            except psutil.Error:  # gone, or a zombie
                continue
        if not rss:
            return
        # a direct child of the root (or of grade-all's zygote, which forks the students' grading processes)
        # -> RSS of it and its descendants: one student's grading tree; a child of the worker nursery (which
        # forks the students' sandbox workers, autograder.host.nursery) -> one student's worker
        branches: dict[int, int] = {}
        tops = {self.pid} | zygotes | nursery
        for pid, size in rss.items():
            top = pid
            while top in parent and parent[top] not in tops and top != self.pid:
                top = parent[top]
            if top != self.pid:
                branches[top] = branches.get(top, 0) + size
        self.peak_process = max(self.peak_process, max(rss.values()))
        self.peak_tree = max(self.peak_tree, sum(rss.values()))
        if with_pss:
            self.peak_tree_pss = max(self.peak_tree_pss, sum(pss.values()))
        # A student's worker forked by the nursery is not in its grading process's tree: one student's tree is at
        # most the largest grading tree plus the largest worker (an upper bound: they may be two students'). The
        # nursery itself is shared by the run, counted in the whole tree only.
        workers = [size for top, size in branches.items() if parent.get(top) in nursery]
        grading = [size for top, size in branches.items() if parent.get(top) not in nursery and top not in nursery]
        self.peak_branch = max(self.peak_branch, max(grading, default=0) + max(workers, default=0))
        self.processes = max(self.processes, len(self.cpu))

    def stop(self) -> None:
        self.done.set()
        self.join()


@dataclass
class Run:
    tree: str
    wall: float
    cpu_waited: float           # os.wait4: the CLI and every descendant that was waited for
    cpu_polled: float           # psutil: sum of each process's last reading
    peak_process_mib: float
    peak_tree_mib: float
    peak_tree_pss_mib: float | None  # None: not read (grade_class.py's runs)
    peak_branch_mib: float      # the largest direct child of the CLI with its descendants
    processes: int
    returncode: int
    log: Path
    monitor_cpu: float          # the monitor thread's own CPU seconds, spent beside the run
    extra: dict = field(default_factory=dict)

    @property
    def cpu(self) -> float:
        return max(self.cpu_waited, self.cpu_polled)


def kill_tree(pid: int) -> None:
    try:
        root = psutil.Process(pid)
        for process in [*root.children(recursive=True), root]:
            process.kill()
    except psutil.Error:
        pass


def measure(tree: Tree, arguments: list[str], log: Path, *, pss: bool = True) -> Run:
    """Run ``python -m autograder ARGUMENTS`` in ``tree.root`` and measure its whole process tree (its PSS only
    with ``pss``: the costly part of the monitor)."""
    with open(log, "wb") as output:
        started = time.monotonic()
        process = subprocess.Popen([sys.executable, "-m", "autograder", *arguments], cwd=tree.root,
                                   env=child_env(tree.root), stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT)
        monitor = TreeMonitor(process.pid, pss=pss)
        monitor.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:  # Ctrl-C: take the CLI's tree down with us
            monitor.stop()
            kill_tree(process.pid)
            process.wait()
            raise
        wall = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        monitor.stop()
    return Run(tree.label, wall, usage.ru_utime + usage.ru_stime, sum(monitor.cpu.values()),
               monitor.peak_process / MIB, monitor.peak_tree / MIB, monitor.peak_tree_pss / MIB if pss else None,
               monitor.peak_branch / MIB, monitor.processes, process.returncode, log, monitor.own_cpu)


def read_score(results: Path) -> tuple[float, float] | None:
    """(score, maximum) from a Gradescope results.json, or None when there is none or it is unusable."""
    try:
        payload = json.loads(results.read_text(encoding="utf-8"))
        tests = payload.get("tests") or []
        score = payload.get("score")
        score = sum(float(t.get("score") or 0) for t in tests) if score is None else float(score)
        maximum = payload.get("max_score")
        maximum = sum(float(t.get("max_score") or 0) for t in tests) if maximum is None else float(maximum)
        return score, maximum
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def full_marks(score: tuple[float, float] | None) -> bool:
    return score is not None and score[1] > 0 and score[0] >= score[1] - 1e-9


def log_tail(log: Path, lines: int = 25) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return "    (no log)"
    return "\n".join("    | " + line for line in text)


def describe(run: Run) -> str:
    return (f"{run.wall:6.1f} s wall, {run.cpu:6.1f} s CPU (waited {run.cpu_waited:.1f}, polled "
            f"{run.cpu_polled:.1f}, {run.processes} processes), peak {run.peak_process_mib:.0f} MiB one process, "
            f"{run.peak_tree_mib:.0f} MiB tree (PSS {'-' if run.peak_tree_pss_mib is None else f'{run.peak_tree_pss_mib:.0f}'}), exit {run.returncode}, "
            f"monitor {run.monitor_cpu:.1f} s CPU")


# ---------------------------------------------------------------------------- the report
def median_cell(values: list[float], digits: int) -> str:
    if not values:
        return "-"
    text = f"{statistics.median(values):.{digits}f}"
    if len(values) > 1:
        text += f" [{min(values):.{digits}f}-{max(values):.{digits}f}]"
    return text


def figure_row(name: str, values: dict[str, list[float]], target: float | None, *, higher_is_better: bool = False,
               digits: int = 1) -> list[str]:
    """[figure, target, baseline, current, cur/base, verdict] from the runs' values (medians)."""
    base, current = values.get("baseline", []), values.get("current", [])
    ratio = "-"
    if base and current and statistics.median(base) > 0:
        ratio = f"{statistics.median(current) / statistics.median(base):.2f}"
    verdict = ""
    if target is not None and current:
        value = statistics.median(current)
        verdict = "MET" if (value >= target if higher_is_better else value <= target) else "MISSED"
    target_text = "-" if target is None else (">= " if higher_is_better else "<= ") + f"{target:g}"
    return [name, target_text, median_cell(base, digits), median_cell(current, digits), ratio, verdict]


def score_row(scores: dict[str, list[tuple[float, float] | None]]) -> list[str]:
    def cell(items):
        if not items:
            return "-"
        if any(s is None for s in items):
            return "no result"
        low = min(items)
        return f"{low[0]:g}/{low[1]:g}" + ("" if len(items) == 1 else " (lowest)")
    current = scores.get("current", [])
    verdict = ("MET" if all(full_marks(s) for s in current) else "MISSED") if current else ""
    return ["score/max", "full marks", cell(scores.get("baseline", [])), cell(current), "-", verdict]


HEADER = ["figure", "target", "baseline", "current", "cur/base", "current vs target"]
RATIO_NOTE = ("cur/base = current median / baseline median: below 1 is faster or smaller (for throughput and "
              "speed-up, above 1 is better). Cells: median [lowest-highest] over the repeats.")


# ---------------------------------------------------------------------------- grade_time itself
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    tree_arguments(parser, repeat=3)
    parser.add_argument("--assignment", action="append", choices=ASSIGNMENTS,
                        help="single-assignment runs only for this one (repeatable; default: all five)")
    parser.add_argument("--no-single", action="store_true", help="skip the single-assignment runs")
    parser.add_argument("--no-full", action="store_true", help="skip the full five-assignment run")
    args = parser.parse_args()
    kinds = [] if args.no_full else [("full submission", None)]
    if not args.no_single:
        kinds += [(f"{a} alone", a) for a in (args.assignment or ASSIGNMENTS)]
    if not kinds:
        parser.error("nothing to run (--no-full and --no-single)")

    ok = True
    with tempfile.TemporaryDirectory(prefix="ag-grade-time-") as tmp:
        trees = announce_trees(args, Path(tmp))
        runs: dict[str, list[Run]] = {name: [] for name, _ in kinds}
        number = 0
        for repeat in range(args.repeat):
            for name, assignment in kinds:
                for tree in trees:  # baseline, then current: interleaved
                    number += 1
                    folder = Path(tmp) / "runs" / f"{number:03d}"
                    submission = copy_submission(tree.root / "solutions", folder / "submission")
                    (folder / "out").mkdir()
                    results = folder / "out" / "results.json"
                    arguments = ["grade", str(submission), "--json", str(results)]
                    if assignment:
                        arguments += ["--assignment", assignment]
                    run = measure(tree, arguments, folder / "log.txt")
                    run.extra["score"] = read_score(results)
                    runs[name].append(run)
                    good = run.returncode == 0 and full_marks(run.extra["score"])
                    score = run.extra["score"]
                    print(f"  {name:>22} #{repeat + 1} {tree.label:>8}: {describe(run)}, score "
                          + (f"{score[0]:g}/{score[1]:g}" if score else "none"), flush=True)
                    if not good:
                        ok = False
                        print(f"    not full marks or a failed run; the end of its output:\n{log_tail(run.log)}")
                    shutil.rmtree(folder, ignore_errors=True)

        for name, assignment in kinds:
            by_tree = lambda attribute: {t.label: [getattr(r, attribute) for r in runs[name] if r.tree == t.label]
                                         for t in trees}  # noqa: E731
            wall_target = SINGLE_WALL_S if assignment else FULL_WALL_S
            rows = [figure_row("wall s", by_tree("wall"), wall_target),
                    figure_row("CPU s (whole tree)", by_tree("cpu"), None if assignment else FULL_CPU_S),
                    figure_row("peak RSS, one process MiB", by_tree("peak_process_mib"), PROCESS_MIB, digits=0),
                    figure_row("peak RSS, whole tree MiB", by_tree("peak_tree_mib"), None, digits=0),
                    figure_row("peak PSS, whole tree MiB", by_tree("peak_tree_pss_mib"), TREE_MIB, digits=0),
                    score_row({t.label: [r.extra["score"] for r in runs[name] if r.tree == t.label] for t in trees})]
            command = "grade solutions" + (f" --assignment {assignment}" if assignment else "")
            print_table(HEADER, rows, title=f"{name}: python -m autograder {command} ({args.repeat} run(s) per tree)")
        print(f"\n{RATIO_NOTE}")
    print("every run exited 0 with full marks" if ok else "SOME RUNS FAILED OR LOST MARKS (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
