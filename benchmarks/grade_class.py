"""Grade a synthetic class with ``python -m autograder grade-all``: throughput, wall time, CPU, memory and
the 1 -> 2 worker speed-up, the current tree against a baseline commit side by side; then an interrupt
and ``--resume`` check.

Run from the project root::

    .venv/bin/python benchmarks/grade_class.py [--students 8] [--repeat 1] [--baseline REV]
    .venv/bin/python benchmarks/grade_class.py --students 2 --no-baseline --no-resume-check

The class (``--students N``, default 8) is N full five-assignment submissions built from this checkout's
``solutions/`` and ``exercises/``: mostly the reference solutions, every third student (from the second
on) with one realistic mistake in one assignment (a string edit of the reference, left out when it does
not apply to the file), and the last student with the untouched stubs. Both trees grade the same files.

Each tree (see ``benchmarks/grade_time.py``: the baseline is unpacked with ``git archive`` into a
temporary folder, the current tree is this working tree; the CLI runs as a subprocess in the tree's root,
so each imports its own kit and reads its own ``course.toml``) runs
``grade-all CLASS --out OUT --workers W`` for W = 1 and 2, baseline and current interleaved, into a fresh
OUT each time. ``--repeat`` defaults to 1 here: one class run of the baseline takes minutes.

Per run, measured from outside (psutil polls the process tree every 50 ms, never reading PSS: even every
tenth poll, as grade_time.py does, PSS took 4 s of CPU beside an 89 s class run; ``os.wait4`` for CPU): wall
seconds, full submissions per minute, CPU seconds of the whole tree, the peak RSS of any one process, the peak
RSS of one student's grading tree (a direct child of grade-all with its descendants) and of the whole run, and
the monitor's own CPU. The speed-up is the one-worker wall time over the two-worker one (per repeat, then the
median).
After each run, OUT/grades.csv must exist with exactly one row per student, and every reference student
must have full marks in OUT/<student>/results.json.

Then (current tree only; ``--no-resume-check`` skips it) grade-all with two workers is interrupted with
SIGINT, as Ctrl-C sends, once the first student's results.json appears, and run again with ``--resume``:
the results written before the interrupt must be untouched and every student must end with exactly one
result and one grades.csv row.

With ``--cluster dask-local`` the two columns are this tree's ``grade-all`` on its process pool (the default,
``--cluster local``) and on a Dask ``LocalCluster`` of W single-threaded workers, side by side in the same run
(no baseline commit). It adds Dask's dispatch cost per student (a worker's idle gap between the end of one
student's task and the start of its next, from the ``task_started``/``task_ended`` times each record.json
keeps) as a share of a student's task time (target: under 2 %), and a paper estimate of the workers needed
to grade 5,000 such submissions within an hour, from the measured CPU and throughput per submission.

Exit code: 0 when every run exited 0, wrote a complete grades.csv and gave the reference students full
marks, and the resume check passed; 1 otherwise. Missing a throughput or memory target does not change it.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _tables import print_table  # benchmarks/ is on sys.path when run as a script
from grade_time import (ASSIGNMENTS, HEADER, PROCESS_MIB, RATIO_NOTE, ROOT, TREE_MIB, Tree, child_env, describe,
                        figure_row, full_marks, kill_tree, log_tail, announce_trees, machine_line, measure,
                        read_score, tree_arguments)

PER_MINUTE = 6.0   # full five-assignment submissions per minute with two workers (target)
SPEEDUP = 1.8      # two workers against one (target)
DISPATCH_SHARE = 0.02  # Dask's cost per student as a share of the student's task time (target, issue 17)
CLASS_OF = 5000        # the paper estimate: this many full submissions ...
WITHIN_S = 3600        # ... graded within an hour
WORKERS = (1, 2)
EXIT_INTERRUPTED = 130  # what grade-all returns when interrupted

# Realistic mistakes: (assignment, short name, reference text, wrong text); each must occur once in the reference.
MISTAKES = [
    ("fashion_mnist", "scale-256", "tf.cast(images, tf.float32) / 255.0", "tf.cast(images, tf.float32) / 256.0"),
    ("cnn", "conv-32", 'layers.Conv2D(64, (3, 3), padding="same", activation="relu")',
     'layers.Conv2D(32, (3, 3), padding="same", activation="relu")'),
    ("gap", "scale-256", "tf.cast(image, tf.float32) / 255.0", "tf.cast(image, tf.float32) / 256.0"),
    ("pretrained", "no-copy", "return PREPROCESSORS[model_name](np.array(batch, dtype=np.float32, copy=True))",
     "return PREPROCESSORS[model_name](batch)"),
    ("transfer", "not-frozen", "    vgg.trainable = False\n    return vgg", "    return vgg"),
    ("fashion_mnist", "dense-64", 'layers.Dense(128, activation="relu")', 'layers.Dense(64, activation="relu")'),
    ("fashion_mnist", "at-threshold", "if float(accuracy) > self.threshold:", "if float(accuracy) >= self.threshold:"),
    ("cnn", "scale-256", "tf.cast(images, tf.float32) / 255.0", "tf.cast(images, tf.float32) / 256.0"),
]


def make_class(folder: Path, students: int) -> dict[str, str]:
    """Write the class into ``folder`` (one sub-folder per student); student id -> its kind."""
    solutions = {a: (ROOT / "solutions" / f"{a}.py").read_text(encoding="utf-8") for a in ASSIGNMENTS}
    stubs = {a: (ROOT / "exercises" / f"{a}.py").read_text(encoding="utf-8") for a in ASSIGNMENTS}
    mistakes = [m for m in MISTAKES if solutions[m[0]].count(m[2]) == 1]
    for assignment, name, _, _ in (m for m in MISTAKES if m not in mistakes):
        print(f"note: mistake {assignment}/{name} left out: its text is not in solutions/{assignment}.py once")
    kinds = {}
    for number in range(students):
        files = dict(solutions)
        if students > 1 and number == students - 1:
            student, kind, files = f"s{number:02d}-stubs", "stubs", stubs
        elif number % 3 == 1 and mistakes:
            assignment, name, old, new = mistakes[(number // 3) % len(mistakes)]
            files[assignment] = files[assignment].replace(old, new, 1)
            student, kind = f"s{number:02d}-{assignment}-{name}", "mistake"
        else:
            student, kind = f"s{number:02d}-reference", "reference"
        directory = folder / student
        directory.mkdir(parents=True)
        for assignment, source in files.items():
            (directory / f"{assignment}.py").write_text(source, encoding="utf-8")
        kinds[student] = kind
    return kinds


def grades_csv_ids(out: Path) -> list[str] | None:
    try:
        with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
            return [row[0] for row in list(csv.reader(handle))[1:] if row]
    except OSError:
        return None


def check_out(out: Path, kinds: dict[str, str]) -> tuple[bool, str]:
    """(grades.csv complete and reference students at full marks, a one-line account)."""
    ids = grades_csv_ids(out)
    rows_ok = ids is not None and sorted(ids) == sorted(kinds)
    scores = {student: read_score(out / student / "results.json") for student in kinds}
    account = {kind: [s for s, k in kinds.items() if k == kind] for kind in ("reference", "mistake", "stubs")}
    full = sum(full_marks(scores[s]) for s in account["reference"])
    caught = sum(scores[s] is not None and not full_marks(scores[s]) for s in account["mistake"])
    parts = [f"grades.csv: {'missing' if ids is None else f'{len(ids)} row(s)'} for {len(kinds)} students",
             f"reference at full marks {full}/{len(account['reference'])}"]
    if account["mistake"]:
        parts.append(f"mistakes that lost points {caught}/{len(account['mistake'])}")
    for student in account["stubs"]:
        score = scores[student]
        parts.append("stubs " + (f"{score[0]:g}/{score[1]:g}" if score else "no result"))
    return rows_ok and full == len(account["reference"]), ", ".join(parts)


def interrupt_and_resume(tree: Tree, class_dir: Path, kinds: dict[str, str], folder: Path) -> tuple[bool, str]:
    """grade-all with two workers, SIGINT after the first result, then --resume: nothing lost or doubled."""
    out = folder / "out"
    command = [sys.executable, "-m", "autograder", "grade-all", str(class_dir), "--out", str(out), "--workers", "2"]
    folder.mkdir(parents=True)
    with open(folder / "interrupted.txt", "wb") as log:
        # A shell that starts this script in the background ignores SIGINT, and children inherit that.
        process = subprocess.Popen(command, cwd=tree.root, env=child_env(tree.root), stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT,
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            while process.poll() is None and not any(out.glob("*/results.json")):
                time.sleep(0.2)
            signalled = process.poll() is None
            if signalled:
                process.send_signal(signal.SIGINT)
            first = process.wait(timeout=600)
        except BaseException:
            kill_tree(process.pid)
            process.wait()
            raise
    before = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/results.json")}
    with open(folder / "resumed.txt", "wb") as log:
        second = subprocess.run(command + ["--resume"], cwd=tree.root, env=child_env(tree.root),
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT).returncode
    after = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/results.json")}
    ids = grades_csv_ids(out) or []
    kept = all(after.get(name) == mtime for name, mtime in before.items())
    complete = set(after) == set(kinds) and sorted(ids) == sorted(kinds)
    interrupted = first == EXIT_INTERRUPTED if signalled else first == 0
    ok = kept and complete and interrupted and second == 0
    story = (f"{'SIGINT after the first result' if signalled else 'finished before any SIGINT'}: exit {first}, "
             f"{len(before)}/{len(kinds)} graded; --resume: exit {second}, {len(after)}/{len(kinds)} results, "
             f"{len(ids)} grades.csv row(s) ({len(set(ids))} distinct); earlier results untouched: {kept}")
    if not ok:
        story += f"\n  interrupted run's output:\n{log_tail(folder / 'interrupted.txt')}"
        story += f"\n  resumed run's output:\n{log_tail(folder / 'resumed.txt')}"
    return ok, story


def dispatch_gaps(out: Path) -> tuple[list[float], list[float]]:
    """(each worker's idle seconds between consecutive students' tasks, each task's seconds) from OUT's records."""
    by_worker: dict[str, list[tuple[float, float]]] = {}
    for path in out.glob("*/record.json"):
        batch = json.loads(path.read_text(encoding="utf-8")).get("batch", {})
        if {"worker", "task_started", "task_ended"} <= set(batch):
            by_worker.setdefault(batch["worker"], []).append((batch["task_started"], batch["task_ended"]))
    gaps, tasks = [], []
    for spans in by_worker.values():
        spans.sort()
        tasks += [end - start for start, end in spans]
        gaps += [start - previous_end for (_, previous_end), (start, _) in zip(spans, spans[1:])]
    return gaps, tasks


def cluster_trees(cluster: str) -> list[Tree]:
    """This tree twice: its process pool ("baseline" column) and the Dask cluster ("current" column)."""
    print(machine_line())
    trees = [Tree("baseline", ROOT, "this tree, grade-all --cluster local (the process pool, the default)"),
             Tree("current", ROOT, f"this tree, grade-all --cluster {cluster}")]
    for tree in trees:
        print(f"{'pool' if tree.label == 'baseline' else 'dask'}: {tree.description}")
    return trees


def paper_estimate(runs: dict, students: int) -> str:
    """Workers to grade CLASS_OF full submissions within WITHIN_S, from the pool's measured two-worker runs."""
    two = runs[("baseline", 2)]
    cpu_each = statistics.median(r.cpu for r in two) / students
    per_minute_machine = statistics.median(students / r.wall * 60 for r in two)
    cores = math.ceil(CLASS_OF * cpu_each / WITHIN_S)
    machines = math.ceil(CLASS_OF / (per_minute_machine * WITHIN_S / 60))
    return (f"paper estimate for {CLASS_OF:,} such submissions within {WITHIN_S / 3600:g} h: {cpu_each:.0f} CPU s per "
            f"submission -> at least {cores} busy cores, i.e. {cores} single-threaded Dask workers on dedicated "
            f"cores; at this machine's measured {per_minute_machine:.1f} submissions/min per 2-core machine "
            f"(2 workers), {machines} such machines")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=8, help="full submissions in the class (default 8)")
    tree_arguments(parser, repeat=1)
    parser.add_argument("--no-resume-check", action="store_true", help="skip the interrupt-and-resume check")
    parser.add_argument("--cluster", choices=["dask-local"],
                        help="compare this tree's process pool with grade-all --cluster dask-local (no baseline)")
    args = parser.parse_args()
    if args.students < 1:
        parser.error("--students must be at least 1")
    gaps: list[float] = []
    task_seconds: list[float] = []

    ok = True
    with tempfile.TemporaryDirectory(prefix="ag-grade-class-") as tmp:
        trees = cluster_trees(args.cluster) if args.cluster else announce_trees(args, Path(tmp))
        class_dir = Path(tmp) / "class"
        kinds = make_class(class_dir, args.students)
        print(f"class: {len(kinds)} full submissions: "
              + ", ".join(f"{sum(k == kind for k in kinds.values())} {kind}"
                          for kind in ("reference", "mistake", "stubs"))
              + f" ({', '.join(s for s, k in kinds.items() if k == 'mistake') or 'no mistakes'})")

        runs = {(t.label, w): [] for t in trees for w in WORKERS}
        number = 0
        for repeat in range(args.repeat):
            for workers in WORKERS:
                for tree in trees:  # baseline, then current: interleaved
                    number += 1
                    folder = Path(tmp) / "runs" / f"{number:03d}"
                    folder.mkdir(parents=True)
                    out = folder / "out"
                    engine = ["--cluster", args.cluster] if args.cluster and tree.label == "current" else []
                    run = measure(tree, ["grade-all", str(class_dir), "--out", str(out), "--workers", str(workers),
                                         *engine], folder / "log.txt", pss=False)
                    good, account = check_out(out, kinds)
                    if engine:
                        run_gaps, run_tasks = dispatch_gaps(out)
                        gaps, task_seconds = gaps + run_gaps, task_seconds + run_tasks
                    runs[(tree.label, workers)].append(run)
                    print(f"  {workers} worker(s) #{repeat + 1} {tree.label:>8}: {describe(run)}\n"
                          f"      {account}", flush=True)
                    if run.returncode != 0 or not good:
                        ok = False
                        print(f"    failed run or wrong grades; the end of its output:\n{log_tail(run.log)}")
                    shutil.rmtree(folder, ignore_errors=True)

        def values(workers: int, get) -> dict[str, list[float]]:
            return {t.label: [get(r) for r in runs[(t.label, workers)]] for t in trees}

        per_minute = lambda r: len(kinds) / r.wall * 60  # noqa: E731
        speedups = {t.label: [one.wall / two.wall for one, two in zip(runs[(t.label, 1)], runs[(t.label, 2)])]
                    for t in trees}
        rows = []
        for workers in WORKERS:
            suffix = f", {workers} worker{'s' if workers > 1 else ''}"
            rows += [figure_row("wall s" + suffix, values(workers, lambda r: r.wall), None),
                     figure_row("submissions/min" + suffix, values(workers, per_minute),
                                PER_MINUTE if workers == 2 else None, higher_is_better=True),
                     figure_row("CPU s (whole tree)" + suffix, values(workers, lambda r: r.cpu), None)]
        rows.append(figure_row("speed-up 1 -> 2 workers", speedups, SPEEDUP, higher_is_better=True, digits=2))
        for workers in WORKERS:
            suffix = f", {workers} worker{'s' if workers > 1 else ''}"
            rows += [figure_row("peak RSS one process MiB" + suffix, values(workers, lambda r: r.peak_process_mib),
                                PROCESS_MIB, digits=0),
                     figure_row("peak RSS one student's tree MiB" + suffix,
                                values(workers, lambda r: r.peak_branch_mib), TREE_MIB, digits=0),
                     figure_row("peak RSS whole run MiB" + suffix, values(workers, lambda r: r.peak_tree_mib), None,
                                digits=0)]
        header = ["figure", "target", "pool", "dask", "dask/pool", "dask vs target"] if args.cluster else HEADER
        print_table(header, rows, title=f"python -m autograder grade-all CLASS --workers W: {len(kinds)} students, "
                                        f"{args.repeat} run(s) per tree and W")
        print(f"\n{RATIO_NOTE}\nsubmissions/min counts this class's mix (stubs grade faster than full solutions).")
        if args.cluster:
            print("(pool = baseline column, dask = current column: the same tree, two engines.)")
            if gaps and task_seconds:
                share = statistics.mean(gaps) / statistics.mean(task_seconds)
                print(f"Dask dispatch per student: {statistics.mean(gaps):.3f} s mean idle gap between a worker's "
                      f"tasks ({len(gaps)} gaps, max {max(gaps):.3f} s) over {statistics.mean(task_seconds):.1f} s "
                      f"mean task: {share:.2%} (target < {DISPATCH_SHARE:.0%}: "
                      f"{'MET' if share < DISPATCH_SHARE else 'MISSED'})")
            else:
                print("Dask dispatch per student: no worker ran two tasks (use more --students)")
            print(paper_estimate(runs, len(kinds)))

        if not args.no_resume_check:
            resumed, story = interrupt_and_resume(trees[-1], class_dir, kinds, Path(tmp) / "resume")
            print(f"\ninterrupt and resume (current tree, 2 workers): {story} -> "
                  f"{'no result lost or doubled' if resumed else 'FAILED'}")
            ok = ok and resumed
    print("every run completed with a full grades.csv and full marks for the reference students" if ok
          else "SOME RUNS OR CHECKS FAILED (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
