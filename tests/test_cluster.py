"""grade-all on Dask distributed: the same grades as the local pool, on a LocalCluster and on a real
scheduler with separate worker processes; a lost worker costs nothing; workers never write into OUT."""
import collections
import csv
import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

distributed = pytest.importorskip("distributed", reason="the test extra installs distributed (grade-all --cluster)")

from autograder import graders  # noqa: E402
from autograder.classroom import cluster, workdirs  # noqa: E402
from autograder.classroom.grade_all import Student  # noqa: E402
from autograder.course.config import CourseConfigError, parse_config, resolve_settings  # noqa: E402
from autograder.host import grading  # noqa: E402
from autograder.host.child import WATCHER_ENV  # noqa: E402
from autograder.host.isolation import bwrap_binary  # noqa: E402
from conftest import ROOT, UNDO_SOCKET_BLOCK, require_uid_level, run_cli, running, start_interruptible  # noqa: E402

ASSIGNMENT = "fashion_mnist"
MAXIMUM = graders.load(ASSIGNMENT).max_score
SOLUTION = (ROOT / "solutions" / f"{ASSIGNMENT}.py").read_text(encoding="utf-8")
STUB = (ROOT / "exercises" / f"{ASSIGNMENT}.py").read_text(encoding="utf-8")
# The tests that compare with the local pool share its one grading of the class: one test process runs them.
SHARES_POOL_RUN = pytest.mark.xdist_group("dask_pool_run")


# A student's worker forked by the run's worker nursery (autograder.host.nursery) is PID 1 of its own namespace;
# a fresh sandbox's is bubblewrap's child, PID 2. The student's import error says which graded them.
WORKER_PID = 'import os\nraise RuntimeError(f"the worker is PID {os.getpid()} of its namespace")\n'


def make_class(root: Path) -> Path:
    """A reference student, a stub, a lone-file student with a mistake, a folder whose file is a link, and a
    student who reports their worker's PID."""
    write_class(root, {"ref": SOLUTION, "stub": STUB, "pid": WORKER_PID})
    (root / "solo.py").write_text(SOLUTION.replace("Dense(128", "Dense(64"), encoding="utf-8")
    (root / "linked").mkdir()
    (root / "linked" / f"{ASSIGNMENT}.py").symlink_to(root / "ref" / f"{ASSIGNMENT}.py")
    return root


def write_class(folder: Path, students: dict[str, str]) -> Path:
    """One sub-folder per student holding their fashion_mnist.py."""
    for student, source in students.items():
        (folder / student).mkdir(parents=True)
        (folder / student / f"{ASSIGNMENT}.py").write_text(source, encoding="utf-8")
    return folder


def grade_killing_workers(dask_processes, submissions: Path, out: Path, workers: int, kills: int,
                          key_suffix: str) -> tuple[int, str]:
    """grade-all through ``workers`` dask worker processes, killing the one grading the task whose key ends in
    ``key_suffix`` ``kills`` times; the run's exit code and output."""
    started = [dask_processes.worker() for _ in range(workers)]
    with dask_processes.client(workers) as client:
        by_address = worker_processes(client, started)
        run = start_grade_all(submissions, out, dask_processes.address)
        try:
            for _ in range(kills):
                kill_worker_while_grading(client, by_address, key_suffix=key_suffix)
            output, _ = run.communicate(timeout=600)
        finally:
            run.kill()
    return run.returncode, output


def grade_all(submissions: Path, out: Path, *options: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return run_cli("grade-all", str(submissions), "--out", str(out), "--assignment", ASSIGNMENT, "--lang", "en",
                   *options, timeout=timeout)


def forked_by_a_nursery(out: Path) -> bool:
    """Whether the "pid" student's worker was forked by a worker nursery, as their results say."""
    results = (out / "pid" / "results.json").read_text(encoding="utf-8")
    assert "the worker is PID" in results, results[:2000]
    return "the worker is PID 1 of" in results


def grades(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


def graded_lines(output: str) -> collections.Counter:
    """How often each student's "[k/N] student: score" line was printed: once per finished student."""
    return collections.Counter(re.findall(r"^\[\d+/\d+\] (\S+): ", output, flags=re.MULTILINE))


@pytest.fixture(scope="session")  # session: xdist may run other modules' tests in between
def pool_run(tmp_path_factory):
    """The class graded by today's local pool: what every cluster run must reproduce."""
    root = tmp_path_factory.mktemp("cluster-class")
    submissions, out = make_class(root / "class"), root / "pool-out"
    finished = grade_all(submissions, out, "--workers", "2")
    assert finished.returncode == 0, finished.stdout + finished.stderr
    table = grades(out)
    assert float(table["ref"]["total"]) == MAXIMUM and float(table["stub"]["total"]) == 0
    assert 0 < float(table["solo"]["total"]) < MAXIMUM and float(table["linked"]["total"]) == 0
    assert float(table["pid"]["total"]) == 0 and forked_by_a_nursery(out)
    return submissions, (out / "grades.csv").read_bytes()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class DaskProcesses:
    """``dask scheduler`` and ``dask worker`` processes on 127.0.0.1, as an instructor starts them on machines."""

    def __init__(self, folder: Path):
        self.folder, self.processes = folder, []
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.tmp = folder / "tmp"  # the workers' temporary folder: what they leave behind shows here
        self.tmp.mkdir()
        self.env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1",
                    "DASK_LOGGING__DISTRIBUTED": "warning", "TMPDIR": str(self.tmp)}
        self._start([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
                     self.address.rsplit(":", 1)[1], "--no-dashboard"], "scheduler")

    def _start(self, command: list[str], name: str) -> subprocess.Popen:
        log = open(self.folder / f"{name}-{len(self.processes)}.log", "wb")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.folder, env=self.env,
                                   start_new_session=True)
        self.processes.append(process)
        return process

    def worker(self, read_only: Path | None = None, resources: str | None = None) -> subprocess.Popen:
        """One single-threaded worker without a nanny (killing it kills the worker); ``read_only``: a folder
        the worker sees but cannot write (a bubblewrap mount namespace around it); ``resources``: Dask's
        ``--resources`` (GPU=1 makes a worker the kit sends training checks to, whatever its hardware)."""
        command = [sys.executable, "-m", "distributed.cli.dask_worker", self.address, "--nthreads", "1",
                   "--no-nanny", "--no-dashboard", "--memory-limit", "0",
                   *(["--resources", resources] if resources else [])]
        if read_only is not None:
            command = [bwrap_binary() or "bwrap", "--dev-bind", "/", "/", "--ro-bind", str(read_only),
                       str(read_only), "--", *command]
        return self._start(command, "worker")

    def client(self, workers: int) -> distributed.Client:
        client = distributed.Client(self.address, timeout=60)
        client.wait_for_workers(workers, timeout=120)
        return client

    def close(self) -> None:
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()


@pytest.fixture
def dask_processes(tmp_path):
    processes = DaskProcesses(tmp_path)
    yield processes
    processes.close()


def is_grading(process: psutil.Process) -> bool:
    """A grading process: started as autograder.host.child, or forked by a zygote (the same command line as its
    parent, the zygote)."""
    line = command_line(process)
    return "autograder.host.child" in line or (
        "autograder.host.zygote" in line and command_line(process.parent()) == line)


def command_line(process: psutil.Process | None) -> str:
    """The process's command line; empty once it has ended, even before it is reaped (a zombie has none)."""
    try:
        return " ".join(process.cmdline()) if process else ""
    except psutil.Error:
        return ""


def forked_by_zygote(process: psutil.Process) -> bool:
    return "autograder.host.zygote" in command_line(process.parent())


def grading_children_of(watcher: int) -> list[psutil.Process]:
    """The grading processes that the process ``watcher`` (a Dask worker) started or had its zygote fork, and
    watches (a forked one has the environment its zygote was started with)."""
    found = []
    for process in psutil.process_iter():
        try:
            if is_grading(process) and process.environ().get(WATCHER_ENV) == str(watcher):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found


def start_grade_all(submissions: Path, out: Path, address: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "autograder", "grade-all", str(submissions), "--out", str(out),
                             "--assignment", ASSIGNMENT, "--lang", "en", "--cluster", address], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def kill_worker_while_grading(client, workers: dict[str, subprocess.Popen], key_suffix: str = "",
                              deadline: float = 300) -> int:
    """SIGKILL the worker process that is grading a task (whose key ends in ``key_suffix``) while its grading
    process runs; returns the killed worker's pid once its grading process is gone too."""
    pids = client.run(os.getpid)
    stop = time.monotonic() + deadline
    while time.monotonic() < stop:
        for address, keys in client.processing().items():
            worker = workers.get(address)
            if worker is None or worker.poll() is not None or not any(str(k).endswith(key_suffix) for k in keys):
                continue
            if grading_children_of(pids[address]):
                time.sleep(2)  # well inside the grading
                worker.kill()
                worker.wait()
                gone = time.monotonic() + 3  # at once, not when the grading would have ended anyway
                while grading_children_of(pids[address]) and time.monotonic() < gone:
                    time.sleep(0.2)
                assert not grading_children_of(pids[address]), "the grading outlived its killed worker"
                return pids[address]
        time.sleep(0.2)
    raise AssertionError("no worker was seen grading")


def worker_processes(client, started: list[subprocess.Popen]) -> dict[str, subprocess.Popen]:
    """Each connected worker's address and the process this test started for it."""
    by_pid = {process.pid: process for process in started}
    return {address: by_pid[pid] for address, pid in client.run(os.getpid).items()}


def test_a_dask_workers_nursery_that_ended_is_started_again_and_goes_with_the_run(tmp_path, monkeypatch):
    """The zygote plugin's nursery (autograder.classroom.worker_zygote): killed, the next task gets a new one that
    forks workers; the plugin's teardown (the run's end) takes it and its folder away."""
    from autograder.classroom.worker_zygote import ZygotePlugin
    from autograder.core.i18n import render
    from autograder.host.runner import Limits, SandboxSession

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    options = resolve_settings(environ={})
    plugin = ZygotePlugin()
    plugin.setup()
    try:
        before = {child.pid for child in psutil.Process().children()}
        plugin.start_nursery(options)
        first = plugin.nursery()
        if first is None:
            pytest.skip("no worker nursery here (the worker's stderr says why)")
        started = [child for child in psutil.Process().children() if child.pid not in before]
        assert len(started) == 1, started  # the nursery's process (its sandbox), in a group of its own
        os.killpg(started[0].pid, signal.SIGKILL)  # as the kernel's OOM killer might
        started[0].wait(10)
        plugin.start_nursery(options)
        second = plugin.nursery()
        assert second is not None and second != first
        source = tmp_path / "student" / f"{ASSIGNMENT}.py"
        source.parent.mkdir()
        source.write_text(WORKER_PID, encoding="utf-8")
        with SandboxSession([(graders.load(ASSIGNMENT), source)], seed=0, limits=Limits(), nursery=second) as session:
            message = next(render(status.message, "en") for _, observed in session.run()
                           for status, _ in observed.values())
        assert "the worker is PID 1 of" in message, message  # forked by the new nursery
    finally:
        plugin.teardown()
    assert not second.control.exists() and not list(tmp_path.glob(f"{cluster.WORKDIR_PREFIX}*"))


@pytest.mark.slow
@SHARES_POOL_RUN
def test_a_local_dask_cluster_grades_the_class_as_the_pool_does(pool_run, tmp_path):
    submissions, expected = pool_run
    finished = grade_all(submissions, tmp_path / "out", "--cluster", "dask-local", "--workers", "2")
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert (tmp_path / "out" / "grades.csv").read_bytes() == expected
    assert "cluster workers connected: 2" in finished.stdout
    assert graded_lines(finished.stdout) == collections.Counter({"ref": 1, "stub": 1, "solo": 1, "linked": 1,
                                                                 "pid": 1})
    feedback = (tmp_path / "out" / "linked" / "feedback.md").read_text(encoding="utf-8")
    assert "is a link" in feedback  # refused on the worker as it is here
    assert forked_by_a_nursery(tmp_path / "out")  # each Dask worker's nursery, as the pool has one


@pytest.mark.slow
@SHARES_POOL_RUN
def test_separate_scheduler_and_workers_grade_as_the_pool_does_and_cannot_write_into_out(pool_run, tmp_path,
                                                                                          dask_processes):
    if bwrap_binary() is None:
        pytest.skip("bubblewrap is needed to start the workers with OUT read-only")
    submissions, expected = pool_run
    out = tmp_path / "out"
    out.mkdir()
    for _ in range(2):
        dask_processes.worker(read_only=out)
    with dask_processes.client(2) as client:
        def write_into_out():
            try:
                (out / "forged.txt").write_text("a worker wrote this")
                return "written"
            except OSError as exc:
                return exc.errno

        # What makes the test mean something: the workers really cannot write into OUT.
        assert set(client.run(write_into_out).values()) == {30}  # EROFS
    finished = grade_all(submissions, out, "--cluster", dask_processes.address)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert (out / "grades.csv").read_bytes() == expected  # every output was written by grade-all's own process
    assert "cluster workers connected: 2" in finished.stdout
    assert not (out / "forged.txt").exists()
    for student in ("ref", "stub", "solo", "linked", "pid"):
        assert {p.name for p in (out / student).iterdir()} >= {"results.json", "feedback.html", "grading.log"}
    assert forked_by_a_nursery(out)


@pytest.mark.slow
@SHARES_POOL_RUN
def test_with_gpu_grading_a_gpu_worker_judges_the_training_checks_and_the_grades_stay(pool_run, tmp_path,
                                                                                      dask_processes):
    """[cluster] gpu = true: each student's training checks are judged by the worker started with GPU=1 (here a
    CPU that says so), the rest wherever; grades.csv is the local pool's, byte for byte."""
    submissions, expected = pool_run
    started = {"cpu": dask_processes.worker(), "gpu": dask_processes.worker(resources="GPU=1")}
    with dask_processes.client(2) as client:
        addresses = {name: address for address, process in worker_processes(client, list(started.values())).items()
                     for name, mine in started.items() if mine is process}
    config = tmp_path / "course.toml"
    config.write_text("[cluster]\ngpu = true\n", encoding="utf-8")
    out = tmp_path / "out"
    finished = grade_all(submissions, out, "--cluster", dask_processes.address, "--config", str(config))
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert (out / "grades.csv").read_bytes() == expected
    training = {c.id for c in graders.load(ASSIGNMENT).checks if c.threshold is not None}
    for student in ("ref", "solo"):  # their probes ran: their training checks went to the GPU worker
        record = json.loads((out / student / "record.json").read_text(encoding="utf-8"))
        assert record["batch"]["gpu_worker"] == addresses["gpu"]
        checks = {c["check_id"]: c for a in record["assignments"] for c in a["checks"]}
        assert {checks[i]["outcome"] for i in training} == {"passed"}
        assert not any(c["details"].get("deferred") for c in checks.values())
    for student in ("stub", "linked"):  # nothing ran, nothing to train: judged where graded
        assert "gpu_worker" not in json.loads((out / student / "record.json").read_text(encoding="utf-8"))["batch"]


@pytest.mark.slow
def test_a_worker_killed_mid_run_costs_nothing(tmp_path, dask_processes):
    submissions = write_class(tmp_path / "class", {"a": STUB, "b": SOLUTION, "c": STUB})
    # b, the solution, has the longest grading: its worker is killed in the middle of it
    returncode, output = grade_killing_workers(dask_processes, submissions, tmp_path / "out", workers=2, kills=1,
                                               key_suffix="-1")
    assert returncode == 0, output
    assert graded_lines(output) == collections.Counter({"a": 1, "b": 1, "c": 1})  # each graded exactly once
    table = grades(tmp_path / "out")
    assert {s: (float(r["total"]), r["status"]) for s, r in table.items()} == \
        {"a": (0, "ok"), "b": (MAXIMUM, "ok"), "c": (0, "ok")}
    # the killed worker's task folder, its grading's scratch inside, was swept by the task that graded b again
    assert not list(dask_processes.tmp.rglob("ag-*")), list(dask_processes.tmp.rglob("ag-*"))


@pytest.mark.slow
def test_a_submission_that_kills_its_worker_twice_is_that_students_error(tmp_path, dask_processes):
    # sorted, so victim's task key ends in -1
    submissions = write_class(tmp_path / "class", {"other": STUB, "victim": SOLUTION})
    returncode, output = grade_killing_workers(dask_processes, submissions, tmp_path / "out", workers=3, kills=2,
                                               key_suffix="-1")
    assert returncode == 0, output
    table = grades(tmp_path / "out")
    assert (float(table["victim"]["total"]), table["victim"]["status"]) == (0, "error")
    assert (float(table["other"]["total"]), table["other"]["status"]) == (0, "ok")
    assert "stopped 2 cluster workers" in (tmp_path / "out" / "victim" / "feedback.md").read_text(encoding="utf-8")
    assert graded_lines(output) == collections.Counter({"other": 1, "victim": 1})


@pytest.mark.slow
def test_ctrl_c_on_a_cluster_loses_nothing_leaves_no_grading_behind_and_resume_finishes(tmp_path):
    submissions, out = write_class(tmp_path / "class", {"a": STUB, "b": SOLUTION, "c": STUB}), tmp_path / "out"
    command = [sys.executable, "-m", "autograder", "grade-all", str(submissions), "--out", str(out), "--assignment",
               ASSIGNMENT, "--lang", "en", "--cluster", "dask-local", "--workers", "1"]
    run = start_interruptible(command, out / "a" / "results.json")
    deadline = time.monotonic() + 60
    while not (gradings := [process for process in psutil.Process(run.pid).children(recursive=True)
                            if is_grading(process)]):
        assert time.monotonic() < deadline and run.poll() is None, "b's grading process was not found"
        time.sleep(0.2)
    time.sleep(1)  # b's grading is under way; it has seconds to go
    run.send_signal(signal.SIGINT)
    output, _ = run.communicate(timeout=120)
    assert run.returncode == 130, output
    assert "--resume" in output
    psutil.wait_procs(gradings, timeout=10)
    assert not [process for process in gradings if running(process)], "a grading outlived the interrupted run"
    done = {p.parent.name for p in out.glob("*/results.json")}
    assert "a" in done and done != {"a", "b", "c"}
    assert set(grades(out)) == done
    first = (out / "a" / "results.json").stat().st_mtime_ns
    resumed = subprocess.run(command + ["--resume"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert (out / "a" / "results.json").stat().st_mtime_ns == first  # not graded again
    assert {s: float(r["total"]) for s, r in grades(out).items()} == {"a": 0, "b": MAXIMUM, "c": 0}


@pytest.mark.slow
def test_ctrl_c_stops_the_gradings_on_a_schedulers_own_workers_and_leaves_the_workers(tmp_path, dask_processes):
    submissions, out = write_class(tmp_path / "class", {"a": STUB, "b": SOLUTION, "c": STUB}), tmp_path / "out"
    worker = dask_processes.worker()
    with dask_processes.client(1) as client:
        watcher = next(iter(client.run(os.getpid).values()))
    command = [sys.executable, "-m", "autograder", "grade-all", str(submissions), "--out", str(out), "--assignment",
               ASSIGNMENT, "--lang", "en", "--cluster", dask_processes.address]
    run = start_interruptible(command, out / "a" / "results.json")
    deadline = time.monotonic() + 60
    while not grading_children_of(watcher):
        assert time.monotonic() < deadline and run.poll() is None, "b's grading was not seen on the worker"
        time.sleep(0.2)
    time.sleep(2)  # b's grading is under way; it has seconds to go
    gradings = grading_children_of(watcher)
    assert gradings and all(map(forked_by_zygote, gradings))  # forked from the worker's zygote, as grade-all's
    run.send_signal(signal.SIGINT)
    output, _ = run.communicate(timeout=60)
    assert run.returncode == 130, output
    # The scheduler and worker are the instructor's: grade-all shuts nothing of theirs down, yet the grading stops.
    psutil.wait_procs(gradings, timeout=4)
    assert not [process for process in gradings if running(process)], \
        "the grading kept running on the scheduler's worker after Ctrl-C"
    assert worker.poll() is None
    assert {p.parent.name for p in out.glob("*/results.json")} == {"a"}


def test_a_worker_removes_the_folders_its_killed_predecessors_left(tmp_path, monkeypatch):
    monkeypatch.setattr(workdirs.tempfile, "tempdir", str(tmp_path))
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    # ended, not yet reaped: as a Dask worker killed a moment ago, whose task the scheduler already handed on
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    while psutil.Process(zombie.pid).status() != psutil.STATUS_ZOMBIE:
        time.sleep(0.05)
    with workdirs.owned_workdir(cluster.WORKDIR_PREFIX) as own:  # named as the sweep reads it
        namespace, pid = own.name[len(cluster.WORKDIR_PREFIX):].split("-")[:2]
    assert pid == str(os.getpid())
    left = tmp_path / f"{cluster.WORKDIR_PREFIX}{namespace}-{ended.pid}-x1"
    alive = tmp_path / f"{cluster.WORKDIR_PREFIX}{namespace}-{os.getppid()}-x2"
    elsewhere = tmp_path / f"{cluster.WORKDIR_PREFIX}1{namespace}-{ended.pid}-x3"  # another pid namespace's
    other_kind = tmp_path / f"ag-batch-{namespace}-{ended.pid}-x4"  # another prefix: not this sweep's
    unreaped = tmp_path / f"{cluster.WORKDIR_PREFIX}{namespace}-{zombie.pid}-x5"
    for folder in (left, alive, elsewhere, other_kind, unreaped):
        (folder / "b").mkdir(parents=True)
        (folder / "b" / "grading.log").write_text("left")
    workdirs.sweep(cluster.WORKDIR_PREFIX)
    zombie.wait()
    assert not left.exists() and not unreaped.exists()
    assert alive.exists() and elsewhere.exists() and other_kind.exists()


def test_a_workers_plugin_keeps_one_private_shared_folder_until_it_is_torn_down(tmp_path, monkeypatch):
    """Each Dask worker's gradings share frozen-base features as a grade-all run's do (autograder.host.
    feature_cache): one folder of the worker's own, 0700, named for the sweep, gone with the plugin."""
    from autograder.classroom.worker_zygote import ZygotePlugin

    monkeypatch.setattr(workdirs.tempfile, "tempdir", str(tmp_path))
    plugin = ZygotePlugin()
    plugin.setup()
    folder = plugin.shared_folder("bwrap")
    assert folder.is_dir() and folder.name.startswith(cluster.WORKDIR_PREFIX) and folder.parent == tmp_path
    assert folder.stat().st_mode & 0o777 == 0o700
    assert plugin.shared_folder("uid") == folder
    assert plugin.shared_folder("none") is None  # student code could write into it
    plugin.teardown()
    assert not folder.exists()


# ---------------------------------------------------------------------------- without a cluster
def test_a_packed_submission_is_judged_on_the_worker_as_it_is_here(tmp_path):
    """Links, special files and oversized files are refused on the worker with the same message."""
    folder = tmp_path / "student"
    folder.mkdir()
    (tmp_path / "elsewhere.py").write_text("x = 1\n")
    (folder / "fashion_mnist.py").symlink_to(tmp_path / "elsewhere.py")
    os.mkfifo(folder / "cnn.py")
    with open(folder / "gap.py", "wb") as handle:
        handle.truncate(grading.MAX_SUBMISSION_BYTES[".py"] + 1)
    (folder / "transfer.py").write_text("y = 2\n")
    (folder / "transfer.ipynb").write_text("{}\n")
    os.utime(folder / "transfer.ipynb", (1000, 1000))
    options = resolve_settings(environ={})
    packed = cluster.pack_submission(Student("student", folder), options)
    assert all(set(item) <= {"name", "kind", "data", "mtime", "size"} for item in packed["files"])  # plain data
    (tmp_path / "worker-side").mkdir()
    remote = cluster._unpack(packed, tmp_path / "worker-side")
    assert remote.name == "student"
    for name in ("fashion_mnist", "cnn", "gap", "transfer"):
        assert _refusal_text(folder / f"{name}.py", folder) == _refusal_text(remote / f"{name}.py", remote)
    assert (remote / "transfer.py").read_text() == "y = 2\n"
    assert (remote / "transfer.ipynb").stat().st_mtime == 1000


def test_a_worker_with_another_kit_grades_nothing_and_the_student_gets_an_error(tmp_path):
    options = dataclasses.replace(resolve_settings(environ={}), assignments=(ASSIGNMENT,), language="en")
    (tmp_path / "class" / "s").mkdir(parents=True)
    (tmp_path / "class" / "s" / f"{ASSIGNMENT}.py").write_text(SOLUTION, encoding="utf-8")
    student = Student("s", tmp_path / "class" / "s")
    packed = cluster.pack_submission(student, options)
    assert packed["kit"] == cluster.kit_fingerprint()
    returned = cluster.grade_packed({**packed, "kit": "0" * 64}, options.plain())  # as a worker with another kit
    assert returned["refused"] == "kit" and set(returned) == {"refused", "reason"}

    class Finished:  # what a Dask future of that task gives back
        def result(self):
            return returned

    summary = cluster._finish(student, options, tmp_path / "out", cluster._returned(Finished()), time.monotonic())
    assert (summary.status, summary.score, summary.max_score) == ("failed", 0.0, MAXIMUM)
    assert "another version of the grading kit" in (tmp_path / "out" / "s" / "feedback.md").read_text(encoding="utf-8")


def _refusal_text(path: Path, folder: Path):
    refusal = grading._refusal(path, folder)
    return None if refusal is None else str(refusal).replace(str(folder), "FOLDER")


def test_cluster_settings_are_checked_all_at_once():
    text = ('[cluster]\ntarget = "moon"\ncores = 0\nmemory = "lots"\nwalltime = "1h"\nimage = "a b"\n'
            'gpu = "yes"\nqueue = ""\nspeed = 3\n')
    with pytest.raises(CourseConfigError) as raised:
        parse_config(text)
    problems = raised.value.problems
    assert len(problems) == 8, problems
    assert any('[cluster] target must be one of local, dask-local, slurm, kubernetes, or a Dask scheduler' in p
               and 'Received: "moon"' in p for p in problems)
    assert any("unknown key [cluster] speed" in p for p in problems)
    good = parse_config('[cluster]\ntarget = "slurm"\nqueue = "gpu"\ncores = 4\nmemory = "16GiB"\n'
                        'walltime = "1-02:00:00"\njobs = 3\ngpu = true\n')
    assert (good.cluster, good.cluster_queue, good.cluster_cores, good.cluster_memory, good.cluster_walltime,
            good.cluster_jobs, good.cluster_gpu) == ("slurm", "gpu", 4, "16GiB", "1-02:00:00", 3, True)
    assert parse_config('[cluster]\ntarget = "tcp://10.0.0.5:8786"\n').cluster == "tcp://10.0.0.5:8786"


def test_kubernetes_needs_an_image_and_the_environment_sets_cluster_values(tmp_path):
    with pytest.raises(CourseConfigError, match="a kubernetes cluster needs \\[cluster\\] image"):
        resolve_settings(environ={"TF2_KIT_CLUSTER": "kubernetes"})
    settings = resolve_settings(environ={"TF2_KIT_CLUSTER": "kubernetes", "TF2_KIT_CLUSTER_IMAGE": "ghcr.io/x/kit:1",
                                         "TF2_KIT_CLUSTER_GPU": "true", "TF2_KIT_CLUSTER_CORES": "3"})
    assert (settings.cluster_image, settings.cluster_gpu, settings.cluster_cores) == ("ghcr.io/x/kit:1", True, 3)
    assert settings.origin("cluster_image") == "TF2_KIT_CLUSTER_IMAGE"
    assert cluster._kubernetes_resources(dataclasses.replace(settings, cluster_memory="8GiB")) == \
        {"requests": {"cpu": "3", "memory": "8Gi"}, "limits": {"cpu": "3", "memory": "8Gi"}}


def test_a_slurm_job_asks_for_the_courses_queue_cores_memory_and_time():
    pytest.importorskip("dask_jobqueue", reason="the test extra installs dask-jobqueue")
    settings = parse_config('[cluster]\ntarget = "slurm"\nqueue = "teaching"\ncores = 4\nmemory = "16GiB"\n'
                            'walltime = "02:30:00"\ngpu = true\n')
    slurm = cluster.slurm_cluster(settings)  # no job is submitted before scale()
    try:
        script = slurm.job_script()
        # TLS with the run's own certificate, whose key file only the instructor's user can read
        assert "--protocol tls://" in script and " tls://" in script, script
        key = Path(os.path.expanduser(re.search(r"--tls-key (\S+)", script).group(1)))
        assert key.stat().st_mode & 0o077 == 0, oct(key.stat().st_mode)
    finally:
        slurm.close()
    for line in ("#SBATCH -p teaching", "#SBATCH --cpus-per-task=4", "#SBATCH -t 02:30:00", "--nworkers 4",
                 "--nthreads 1", "--resources GPU=1"):
        assert line in script, script
    assert re.search(r"#SBATCH --mem=1[67]G", script), script


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(cluster, "CONNECT_SECONDS", 2)
    options = dataclasses.replace(resolve_settings(environ={}), cluster=f"tcp://127.0.0.1:{free_port()}")
    with pytest.raises(cluster.ClusterUnavailable, match="no Dask scheduler answered at tcp://127.0.0.1:"):
        with cluster.connect(options):
            pass


def test_under_a_sandbox_that_leaves_the_network_open_only_authenticated_clusters_are_used(tmp_path):
    base = resolve_settings(environ={})
    for isolation in cluster.NETWORK_OPEN_LEVELS:
        for target in ("tcp://127.0.0.1:8786", "kubernetes"):
            with pytest.raises(cluster.ClusterUnavailable, match="leaves the network open"):
                cluster.require_authenticated_connections(dataclasses.replace(base, cluster=target,
                                                                              isolation=isolation))
        for target in ("tls://127.0.0.1:8786", "dask-local", "slurm"):  # TLS with certificates students cannot read
            cluster.require_authenticated_connections(dataclasses.replace(base, cluster=target, isolation=isolation))
    cluster.require_authenticated_connections(dataclasses.replace(base, cluster="tcp://127.0.0.1:8786"))  # bwrap
    # Through the command line: refused before anything is graded.
    submissions = write_class(tmp_path / "class", {"a": STUB})
    finished = run_cli("grade-all", str(submissions), "--out", str(tmp_path / "out"), "--assignment", ASSIGNMENT,
                       "--lang", "en", "--isolation", "none", "--cluster", "tcp://127.0.0.1:8786")
    assert finished.returncode == 5, finished.stdout + finished.stderr
    assert "could connect to the Dask scheduler at tcp://127.0.0.1:8786" in finished.stderr
    assert not (tmp_path / "out" / "grades.csv").exists()


CLUSTER_ATTACK = r"""


def _join_the_grading_cluster(loot):
    # Every port that listens, as a Dask client in plain TCP and in TLS with a certificate of its own, to run
    # code on the workers and the scheduler: outside the sandbox, beside the other students' gradings.
    import threading

    import distributed
    from distributed.security import Security

    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in open(table).read().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    log = open(loot + "/tried", "a")

    def forge():
        import os
        open(loot + "/ran-outside-the-sandbox", "a").write(str(os.getuid()))

    def attempt(address, **options):
        try:
            client = distributed.Client(address, timeout=3, **options)
            client.run(forge)
            client.run_on_scheduler(forge)
            print(address, "joined", file=log, flush=True)
        except Exception as exc:
            print(address, type(exc).__name__, file=log, flush=True)

    threads = [threading.Thread(target=attempt, args=(f"tcp://127.0.0.1:{port}",), daemon=True) for port in ports]
    threads += [threading.Thread(target=attempt, args=(f"tls://127.0.0.1:{port}",),
                                 kwargs={"security": Security.temporary()}, daemon=True) for port in ports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15 / len(threads))


_join_the_grading_cluster(LOOT)
"""


@pytest.mark.slow
def test_student_code_under_uid_isolation_cannot_join_a_cluster_the_kit_starts(tmp_path):
    """--isolation uid has no network namespace: the student's code reached the scheduler's and workers' ports
    and, before the clusters the kit starts spoke TLS, ran code as root on every worker this way. Two layers
    hold now: Landlock closes TCP to the sandbox where the kernel can, and TLS wants the run's certificate."""
    pytest.importorskip("cryptography", reason="the test extra installs cryptography (TLS certificates)")
    require_uid_level()
    loot = Path(tempfile.mkdtemp(prefix="tf2-cluster-loot-"))
    try:
        loot.chmod(0o777)  # the sandbox's user writes what it tried; the root-side forgery would too
        attack = STUB + UNDO_SOCKET_BLOCK + CLUSTER_ATTACK.replace("LOOT)", f"{str(loot)!r})")
        submissions = write_class(tmp_path / "class", {"evil": attack, "honest": SOLUTION})
        finished = grade_all(submissions, tmp_path / "out", "--cluster", "dask-local", "--workers", "2",
                             "--isolation", "uid")
        assert finished.returncode == 0, finished.stdout + finished.stderr
        tried = (loot / "tried").read_text().splitlines() if (loot / "tried").exists() else []
        assert len(tried) >= 6, f"the attack did not reach the cluster's ports: {tried}"  # scheduler, 2 workers
        assert not [line for line in tried if line.endswith(" joined")], tried
        assert not (loot / "ran-outside-the-sandbox").exists(), "student code ran on the cluster, outside the sandbox"
        table = grades(tmp_path / "out")
        assert (float(table["honest"]["total"]), table["honest"]["status"], table["honest"]["isolation"]) == \
            (MAXIMUM, "ok", "uid")
        assert float(table["evil"]["total"]) == 0
    finally:
        shutil.rmtree(loot, ignore_errors=True)


def test_a_cluster_the_kit_starts_turns_away_clients_without_its_certificate():
    pytest.importorskip("cryptography", reason="the test extra installs cryptography (TLS certificates)")
    from distributed.security import Security

    options = dataclasses.replace(resolve_settings(environ={}), cluster="dask-local", workers=1)
    with cluster.connect(options) as client:
        address = client.scheduler.address
        assert address.startswith("tls://"), address
        assert client.submit(sum, [1, 2]).result(timeout=60) == 3  # grade-all's own client is let in
        with pytest.raises((OSError, TimeoutError)):
            distributed.Client(address.replace("tls://", "tcp://"), timeout=5)
        with pytest.raises((OSError, TimeoutError)):  # TLS, but with a certificate of its own making
            distributed.Client(address, security=Security.temporary(), timeout=5)


def test_under_uid_a_cluster_with_any_plain_tcp_part_is_refused_and_the_kits_own_passes():
    pytest.importorskip("cryptography", reason="the test extra installs cryptography (TLS certificates)")
    base = resolve_settings(environ={})
    plain = distributed.LocalCluster(n_workers=1, processes=False, protocol="tcp://", dashboard_address=None)
    with plain, distributed.Client(plain) as client:
        cluster.require_tls_everywhere(client, base)  # bwrap: no network inside the sandbox
        with pytest.raises(cluster.ClusterUnavailable, match="take connections without TLS, .*tcp://127.0.0.1:"):
            cluster.require_tls_everywhere(client, dataclasses.replace(base, isolation="uid"))
    own = dataclasses.replace(base, cluster="dask-local", workers=1, isolation="uid")
    with cluster.connect(own) as client:
        client.wait_for_workers(1, timeout=60)
        cluster.require_tls_everywhere(client, own)


def test_a_missing_dask_is_named_with_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now raises ImportError
    options = dataclasses.replace(resolve_settings(environ={}), cluster="dask-local")
    with pytest.raises(cluster.ClusterUnavailable, match=r"pip install 'tf2-exercise-kit\[cluster\]'"):
        with cluster.connect(options):
            pass


def test_the_command_line_refuses_an_unknown_cluster(tmp_path):
    (tmp_path / "class").mkdir()
    finished = run_cli("grade-all", str(tmp_path / "class"), "--out", str(tmp_path / "out"), "--cluster", "moon")
    assert finished.returncode == 2
    assert 'Received: "moon"' in finished.stderr
