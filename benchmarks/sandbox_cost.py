"""What the bubblewrap sandbox costs: per worker start, and per full five-assignment submission.

    .venv/bin/python benchmarks/sandbox_cost.py [--repeats 7] [--skip-submission]

1. Worker start: the median wall time of starting the worker's interpreter and importing the
   kit's worker module (``autograder.worker.main`` with ``--check``), with the command line and
   environment the runner builds for level ``bwrap``, against the same command at level ``none``
   (a plain process), measured alternately in one run. Target: under 0.3 s extra per start.
2. Full submission: ``python -m autograder grade solutions`` at ``--isolation bwrap`` and at
   ``--isolation none``, alternately; the extra time as a share of the plain run. Target: under 5 %.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.host.isolation import Isolation, WorkerPaths  # noqa: E402
from autograder.host.runner import _worker_env  # noqa: E402

START_TARGET_SECONDS = 0.3
SUBMISSION_TARGET_SHARE = 0.05


def _start_once(level: str) -> float:
    with tempfile.TemporaryDirectory(prefix="ag-bench-") as tmp:
        paths = WorkerPaths(job=Path(tmp) / "job", output=Path(tmp) / "output", scratch=Path(tmp) / "scratch")
        for path in (paths.job, paths.output, paths.scratch):
            path.mkdir()
        isolation = Isolation(level)
        command, env, cwd = isolation.command(isolation.worker_argv("autograder.worker.main", "--check"), paths,
                                              _worker_env(1))
        started = time.perf_counter()
        subprocess.run(command, env=env, cwd=cwd, check=True, stdin=subprocess.DEVNULL,
                       preexec_fn=isolation.preexec(None))
        return time.perf_counter() - started


def _grade_once(level: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-P", "-m", "autograder", "grade", "solutions", "--isolation", level],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def _alternate(measure, repeats: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"bwrap": [], "none": []}
    for _ in range(repeats):
        for level in times:
            times[level].append(measure(level))
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="worker starts per level (default 7)")
    parser.add_argument("--submission-repeats", type=int, default=1, help="full gradings per level (default 1)")
    parser.add_argument("--skip-submission", action="store_true", help="only measure worker starts")
    args = parser.parse_args()
    Isolation("bwrap").verify()

    starts = _alternate(_start_once, args.repeats)
    plain, boxed = statistics.median(starts["none"]), statistics.median(starts["bwrap"])
    extra = boxed - plain
    print(f"worker start (median of {args.repeats}): none {plain:.3f} s, bwrap {boxed:.3f} s, "
          f"extra {extra:.3f} s per start (target < {START_TARGET_SECONDS} s: "
          f"{'met' if extra < START_TARGET_SECONDS else 'NOT met'})")
    if args.skip_submission:
        return 0
    grades = _alternate(_grade_once, args.submission_repeats)
    plain, boxed = statistics.median(grades["none"]), statistics.median(grades["bwrap"])
    share = (boxed - plain) / plain
    print(f"grade solutions (five assignments, median of {args.submission_repeats}): none {plain:.1f} s, "
          f"bwrap {boxed:.1f} s, extra {boxed - plain:+.1f} s = {share:+.1%} "
          f"(target < {SUBMISSION_TARGET_SHARE:.0%}: {'met' if share < SUBMISSION_TARGET_SHARE else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
