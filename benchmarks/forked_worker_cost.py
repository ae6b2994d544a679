"""What a sandbox worker forked from one that has TensorFlow imported saves (issue 16).

    .venv/bin/python benchmarks/forked_worker_cost.py [--workers 5]

A fresh sandbox worker (``fresh`` below: what ``grade`` starts, and ``grade-all`` where there is no nursery)
imports TensorFlow and Keras again. The worker nursery (``autograder/worker/nursery.py``) is one bubblewrap
sandbox, started with the kit's own command line for it (``Isolation.nursery_command``), that imports them once
and then only forks; each child walls itself off with the nursery's own code (``wall_off``, ``as_pid_1``) before
anything else runs: namespaces of its own, its slot of the spool, every other slot hidden, a fresh ``/tmp``,
``/dev`` and ``/proc``, no capabilities and ``no_new_privs``. This script forks such children from a stand-in
for the nursery (it runs a training instead of serving requests).

Both kinds then run the same small Keras training, which must give the same loss. Printed: each kind's wall
and CPU seconds per worker (the nursery's one import shown apart) and their ratio, and what each forked child
saw of the others (its ``/proc``, the spool, its capabilities).
"""
from __future__ import annotations

import argparse
import json
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
from _tables import print_table  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

INSIDE = r'''
import json, os, sys, time
started, cpu = time.perf_counter(), time.process_time()
import numpy as np, tensorflow, keras
imported = {"wall": time.perf_counter() - started, "cpu": time.process_time() - cpu}
sys.path.insert(0, "/kit")
from autograder.worker.nursery import as_pid_1, wall_off  # the nursery's own: what each forked worker runs


def workload():
    keras.utils.set_random_seed(0)
    x, y = np.random.rand(256, 28, 28).astype("float32"), np.random.randint(0, 10, 256)
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    return float(model.fit(x, y, epochs=2, verbose=0).history["loss"][-1])


def child(slot, report):
    started = time.perf_counter()
    wall_off(f"bench/{slot}")
    pid = os.fork()
    if pid:
        _, status = os.waitpid(pid, 0)
        os._exit(os.waitstatus_to_exitcode(status))
    as_pid_1()
    ready = time.perf_counter() - started
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    seen = {"pid": os.getpid(), "processes": sorted(p for p in os.listdir("/proc") if p.isdigit()),
            "spool": os.listdir("/spool"), "cap_eff": status["CapEff"].strip(), "cap_bnd": status["CapBnd"].strip(),
            "no_new_privs": status["NoNewPrivs"].strip()}
    with open("/output/mine", "w") as f:
        f.write(str(slot))
    loss = workload()
    os.write(report, json.dumps({**seen, "ready": ready, "loss": loss, "cpu": time.process_time()}).encode())
    os._exit(0)


if sys.argv[1] == "fresh":
    loss = workload()
    print(json.dumps({"imported": imported, "loss": loss, "cpu": time.process_time()}))  # from the interpreter's start
else:
    children = []
    for slot in range(int(sys.argv[2])):
        read, write = os.pipe()
        started, pid = time.perf_counter(), os.fork()
        if pid == 0:
            os.close(read)
            try:
                child(slot, write)
            except BaseException as exc:
                os.write(write, json.dumps({"error": repr(exc)}).encode())
                os._exit(1)
        os.close(write)
        data = b""
        while chunk := os.read(read, 65536):
            data += chunk
        os.close(read)
        os.waitpid(pid, 0)
        children.append({**json.loads(data or b'{"error": "no report"}'), "wall": time.perf_counter() - started})
    print(json.dumps({"imported": imported, "children": children}))
'''


def _run_inside(args: list[str], slots: int) -> tuple[dict, float]:
    """Run INSIDE under the kit's bubblewrap command line, a worker's (``fresh``) or the nursery's (``forked``):
    (its JSON, wall s). CPU is measured inside: a fresh process counts from its interpreter's start, a forked
    child from its fork."""
    with tempfile.TemporaryDirectory(prefix="ag-bench-fork-") as tmp:
        root = Path(tmp)
        paths = WorkerPaths(job=root / "job", output=root / "output", scratch=root / "scratch")
        spool, control = root / "spool", root / "control"
        for path in (paths.job, paths.output, paths.scratch, control, spool):
            path.mkdir()
        for slot in range(slots):
            for folder in ("job", "output"):
                (spool / "bench" / str(slot) / folder).mkdir(parents=True)
        for folder in (paths.job, spool):
            (folder / "inside.py").write_text(INSIDE, encoding="utf-8")
        isolation = Isolation("bwrap")
        if args[0] == "forked":
            command, env, cwd = isolation.nursery_command([sys.executable, "-I", "/spool/inside.py", *args], spool,
                                                          control, _worker_env(1))
        else:
            command, env, cwd = isolation.command([sys.executable, "-I", "{job}/inside.py", *args], paths,
                                                  _worker_env(1))
        started = time.perf_counter()
        done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{args[0]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        mine = [spool / "bench" / str(slot) / "output" / "mine" for slot in range(slots)]
        written = sorted(path.read_text() for path in mine if path.is_file())
        if written != sorted(str(slot) for slot in range(slots)):
            raise SystemExit(f"{args[0]}: each child should have written its own slot; found {written}")
        return json.loads(done.stdout.strip().splitlines()[-1]), wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=5, help="workers of each kind (default 5)")
    args = parser.parse_args()
    Isolation("bwrap").verify()

    fresh = [_run_inside(["fresh"], 0) for _ in range(args.workers)]
    forked, forked_wall = _run_inside(["forked", str(args.workers)], args.workers)
    failed = [c["error"] for c in forked["children"] if "error" in c]
    if failed:
        raise SystemExit(f"a forked child could not wall itself off: {failed[0]}")
    losses = {round(r["loss"], 6) for r, _ in fresh} | {round(c["loss"], 6) for c in forked["children"]}
    imported = forked["imported"]
    per_wall = (forked_wall - imported["wall"]) / args.workers
    per_cpu = statistics.median(c["cpu"] for c in forked["children"])
    fresh_wall, fresh_cpu = statistics.median(w for _, w in fresh), statistics.median(r["cpu"] for r, _ in fresh)
    print_table(["per worker", "fresh sandbox", "forked child", "forked/fresh"], [
        ["wall s (start and the training)", f"{fresh_wall:.2f}", f"{per_wall:.2f}", f"{per_wall / fresh_wall:.2f}"],
        ["CPU s (start and the training)", f"{fresh_cpu:.2f}", f"{per_cpu:.2f}", f"{per_cpu / fresh_cpu:.2f}"],
        ["fork to walled off, s (median)", "-", f"{statistics.median(c['ready'] for c in forked['children']):.3f}",
         "-"],
    ], title=f"{args.workers} workers of each kind; the nursery's one import: {imported['wall']:.2f} s wall, "
             f"{imported['cpu']:.2f} s CPU (fresh sandboxes: the median of {args.workers} runs)")
    seen = forked["children"][0]
    print(f"\neach forked child saw: processes {sorted({tuple(c['processes']) for c in forked['children']})}, "
          f"spool {sorted({tuple(c['spool']) for c in forked['children']})}, CapEff {seen['cap_eff']}, "
          f"CapBnd {seen['cap_bnd']}, NoNewPrivs {seen['no_new_privs']}")
    print(f"training loss, every worker of both kinds: {sorted(losses)} "
          f"({'the same' if len(losses) == 1 else 'DIFFERENT'})")
    return 0 if len(losses) == 1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
