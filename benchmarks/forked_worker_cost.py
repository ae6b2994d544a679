"""What a sandbox worker forked from one that has TensorFlow imported saves (issue 16).

    .venv/bin/python benchmarks/forked_worker_cost.py [--workers 5]

A self-contained model of the worker nursery (``autograder/worker/nursery.py``), written to measure it before it
was built, and a check that its design can work on a machine. A fresh sandbox worker (``fresh`` below: what
``grade`` starts, and ``grade-all`` where there is no nursery) imports TensorFlow and Keras again. The nursery is
one bubblewrap sandbox that imports them once and then only forks; each child walls itself off before anything
else runs: a user namespace of its own (nested in the nursery's), then its own mount, PID, network, IPC and UTS
namespaces, its slot of the spool bound where the worker expects it, every other slot hidden under a tmpfs,
a fresh ``/tmp`` and ``/dev/shm``, a ``/proc`` of its own PID namespace, no capabilities and
``no_new_privs``. The nursery is given the machine's ``/proc``, read-only, besides bubblewrap's own (where a
child writes its user namespace's maps): the kernel lets a namespace mount a new ``/proc`` only where a fully
visible one is mounted already, and bubblewrap's is not (it covers ``/proc/sys`` and others), so a child could
not have a ``/proc`` of its own, and TensorFlow needs one.

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
import ctypes, json, os, sys, time
started, cpu = time.perf_counter(), time.process_time()
import numpy as np, tensorflow, keras
imported = {"wall": time.perf_counter() - started, "cpu": time.process_time() - cpu}
libc = ctypes.CDLL(None, use_errno=True)
NEWNS, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET = 0x20000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000
NOSUID, NODEV, NOEXEC, BIND, REC, PRIVATE = 2, 4, 8, 4096, 16384, 1 << 18


def ok(result, what):
    if result != 0:
        raise OSError(ctypes.get_errno(), f"{what}: {os.strerror(ctypes.get_errno())}")


def mount(source, target, kind, flags, data=None):
    ok(libc.mount(source and source.encode(), target.encode(), kind and kind.encode(), ctypes.c_ulong(flags),
                  data and data.encode()), f"mount {target}")


def wall_off(slot):
    """This child's own namespaces and file system view; the spool's other slots hidden."""
    uid, gid = os.getuid(), os.getgid()
    ok(libc.unshare(NEWUSER), "unshare(CLONE_NEWUSER)")
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/nursery-proc/self/{name}", "w") as f:
            f.write(text)
    ok(libc.unshare(NEWNS | NEWPID | NEWNET | NEWIPC | NEWUTS), "unshare")
    mount(None, "/", None, REC | PRIVATE)
    mount(f"/spool/{slot}", "/output", None, BIND | REC)
    mount("tmpfs", "/spool", "tmpfs", NOSUID | NODEV, "size=4k,mode=0555")
    mount("tmpfs", "/tmp", "tmpfs", NOSUID | NODEV, "size=512m")
    mount("tmpfs", "/dev/shm", "tmpfs", NOSUID | NODEV, "size=64m")


def as_pid_1():
    """In the new PID namespace: its own /proc, then no capability left and none to gain."""
    mount("proc", "/proc", "proc", 1 | NOSUID | NODEV | NOEXEC)  # MS_RDONLY, as the machine's is bound
    for cap in range(64):
        libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP (EINVAL past the last one)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    ok(libc.capset(ctypes.byref(Header(0x20080522, 0)), (Data * 2)()), "capset")
    ok(libc.prctl(38, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS")


def workload():
    keras.utils.set_random_seed(0)
    x, y = np.random.rand(256, 28, 28).astype("float32"), np.random.randint(0, 10, 256)
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    return float(model.fit(x, y, epochs=2, verbose=0).history["loss"][-1])


def child(slot, report):
    started = time.perf_counter()
    wall_off(slot)
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
    """Run INSIDE under the kit's bubblewrap command line: (its JSON, wall s). CPU is measured inside: a fresh
    process counts from its interpreter's start, a forked child from its fork."""
    with tempfile.TemporaryDirectory(prefix="ag-bench-fork-") as tmp:
        paths = WorkerPaths(job=Path(tmp) / "job", output=Path(tmp) / "spool", scratch=Path(tmp) / "scratch")
        for path in (paths.job, paths.output, paths.scratch):
            path.mkdir()
        for slot in range(slots):
            (paths.output / str(slot)).mkdir()
        (paths.job / "inside.py").write_text(INSIDE, encoding="utf-8")
        isolation = Isolation("bwrap")
        command, env, cwd = isolation.command([sys.executable, "-I", "{job}/inside.py", *args], paths, _worker_env(1))
        if args[0] == "forked":  # the nursery: the machine's /proc (see the docstring), the spool at /spool
            at = command.index("--proc")
            command[at:at + 2] = ["--ro-bind", "/proc", "/proc", "--proc", "/nursery-proc"]
            at = command.index("/output")
            command[at:at + 1] = ["/spool", "--dir", "/output"]
        started = time.perf_counter()
        done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{args[0]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        written = sorted((paths.output / str(slot) / "mine").read_text() for slot in range(slots)
                         if (paths.output / str(slot) / "mine").is_file())
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
