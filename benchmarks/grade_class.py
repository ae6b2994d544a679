"""Grade a synthetic class with `grade-all`: throughput, wall time, memory, speed-up, interrupt and resume.

    .venv/bin/python benchmarks/grade_class.py [--students 40] [--assignment fashion_mnist]

The class mixes reference solutions, untouched stubs and realistic wrong submissions (a
third each, roughly). It is graded once with one worker and once with two, then a third
time with two workers that is interrupted (SIGINT, as Ctrl-C sends) after a few students
and resumed, and the script checks that no result was lost or graded twice.
Target: two workers give at least 1.7x the one-worker throughput.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.classroom.grade_all import BatchOptions, grade_all  # noqa: E402
from _tables import print_table  # noqa: E402

# Realistic mistakes as (old, new) edits of the reference solution, per assignment.
MISTAKES = {
    "fashion_mnist": [("/ 255.0", "/ 256.0"), ("Dense(128", "Dense(64"), ("> self.threshold", ">= self.threshold")],
    "cnn": [("/ 255.0", "/ 256.0"), ("Conv2D(64", "Conv2D(32")],
}


def make_class(folder: Path, assignment: str, students: int) -> None:
    solution = (ROOT / "solutions" / f"{assignment}.py").read_text(encoding="utf-8")
    stub = (ROOT / "exercises" / f"{assignment}.py").read_text(encoding="utf-8")
    wrong = [solution.replace(old, new, 1) for old, new in MISTAKES.get(assignment, []) if old in solution]
    for number in range(students):
        kind = number % 3
        source = solution if kind == 0 else stub if kind == 1 or not wrong else wrong[number % len(wrong)]
        directory = folder / f"student{number:03d}"
        directory.mkdir(parents=True)
        (directory / f"{assignment}.py").write_text(source, encoding="utf-8")


def timed_run(submissions: Path, out: Path, options: BatchOptions) -> dict:
    report = grade_all(submissions, out, options)
    graded = len(report.summaries)
    return {"workers": options.workers, "students": graded, "seconds": report.seconds,
            "per_minute": graded / report.seconds * 60,
            "peak_mb": max(s.peak_mb for s in report.summaries),
            "failed": sum(s.status != "graded" for s in report.summaries)}


def interrupt_and_resume(submissions: Path, out: Path, assignment: str, after: int) -> tuple[bool, str]:
    command = [sys.executable, "-m", "autograder", "grade-all", str(submissions), "--out", str(out),
               "--assignment", assignment, "--workers", "2"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while len(list(out.glob("*/results.json"))) < after and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=300)
    before = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/results.json")}
    subprocess.run(command + ["--resume"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True, timeout=3600)
    after_resume = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/results.json")}
    expected = {p.name for p in submissions.iterdir()}
    kept = all(after_resume.get(name) == mtime for name, mtime in before.items())
    complete = set(after_resume) == expected
    return kept and complete, (f"{len(before)} graded before the interrupt (exit {process.returncode}), "
                               f"{len(after_resume)}/{len(expected)} after resuming, "
                               f"earlier results untouched: {kept}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--assignment", default="fashion_mnist")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ag-class-") as tmp:
        submissions = Path(tmp) / "class"
        make_class(submissions, args.assignment, args.students)
        runs = [timed_run(submissions, Path(tmp) / f"out{workers}",
                          BatchOptions(assignments=(args.assignment,), workers=workers)) for workers in (1, 2)]
        print_table(["workers", "students", "wall s", "per minute", "peak MiB (one submission)", "failed"],
                    [[str(r["workers"]), str(r["students"]), f"{r['seconds']:.1f}", f"{r['per_minute']:.1f}",
                      f"{r['peak_mb']:.0f}", str(r["failed"])] for r in runs])
        speedup = runs[1]["per_minute"] / runs[0]["per_minute"]
        print(f"speed-up from 1 to 2 workers: {speedup:.2f}x (target 1.7x: {'MET' if speedup >= 1.7 else 'MISSED'})")
        ok, story = interrupt_and_resume(submissions, Path(tmp) / "resumed", args.assignment, after=3)
        print(f"interrupt and resume: {story} -> {'no result lost' if ok else 'RESULTS LOST'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
