"""Calibration of the content-varied probes: every correct submission passes whatever inputs the probes draw.

The probes draw their inputs (pixel ranges, non-square sizes, layer names, batch sizes, thresholds)
from the grading seed mixed with the grader's secret key (``runner.probe_seed``). This grades the
reference solutions, and optionally the correct variants of ``tests/corpus.py``, under N different
keys (``AUTOGRADER_PROBE_KEY=calibration-<k>``) with the real CLI, two at a time, and prints per key
the score and every check that did not pass. Training data and thresholds do not depend on the key
(``calibrate_thresholds.py`` and ``calibrate_binary.py`` cover those).

Run from the project root::

    .venv/bin/python benchmarks/calibrate_probes.py                       # solutions, 20 keys
    .venv/bin/python benchmarks/calibrate_probes.py --keys 3 --variants   # and every correct variant

Exit code 1 when any correct submission loses a point under any key.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _submissions(folder: Path, variants: bool) -> dict[str, Path]:
    chosen = {"solutions": ROOT / "solutions"}
    if variants:
        sys.path.insert(0, str(ROOT / "tests"))
        from corpus import CORRECT  # the variant corpus the tests grade under one key

        for index, variant in enumerate(CORRECT):
            target = folder / f"variant-{index:02d}"
            target.mkdir()
            (target / f"{variant.assignment}.py").write_text(variant.source(), encoding="utf-8")
            chosen[f"{variant.assignment}: {variant.name}"] = target
    return chosen


def _grade(submission: Path, key: str, out: Path) -> tuple[float, float, list[str], float]:
    started = time.monotonic()
    env = {**os.environ, "AUTOGRADER_PROBE_KEY": key}
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", str(submission), "--json", str(out),
                           "--reveal-hidden"],
                          env=env, capture_output=True, text=True, cwd=ROOT)
    if not out.exists():
        return 0.0, 1.0, [f"no results (exit {done.returncode}): {done.stderr[-300:]}"], time.monotonic() - started
    results = json.loads(out.read_text(encoding="utf-8"))
    lost = [f"{test['name']}: {test.get('output', '')[:160]}" for test in results["tests"]
            if test.get("score", 0) < test.get("max_score", 0)]
    return results["score"], results.get("max_score", 0.0), lost, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=20, help="how many probe keys (default 20)")
    parser.add_argument("--variants", action="store_true", help="also the correct variants of tests/corpus.py")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    failures = 0
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        submissions = _submissions(folder, args.variants)
        jobs = [(name, path, f"calibration-{k}") for k in range(args.keys) for name, path in submissions.items()]
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            results = pool.map(lambda n: (jobs[n], _grade(jobs[n][1], jobs[n][2], folder / f"results-{n}.json")),
                               range(len(jobs)))
            for (name, _, key), (score, maximum, lost, seconds) in results:
                status = "ok" if not lost else "LOST POINTS"
                failures += bool(lost)
                print(f"{key:>15}  {name:<60} {score:g}/{maximum:g}  {seconds:5.1f} s  {status}", flush=True)
                for line in lost:
                    print(f"{'':17}{line}")
    print(f"\n{len(jobs)} gradings under {args.keys} keys; {failures} lost points.")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
