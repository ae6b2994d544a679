"""``grade-all`` on Dask distributed: one task per student, the same sandboxed grading as on one machine.

Where the tasks run is ``--cluster`` (``[cluster] target``): ``dask-local`` (a ``LocalCluster`` of
``workers`` processes on this machine), ``tcp://HOST:PORT`` (a scheduler the instructor started with
``dask scheduler``, and ``dask worker`` processes on their machines), ``slurm`` (``dask-jobqueue``) or
``kubernetes`` (``dask-kubernetes``). ``local``, the default, does not come here: it is grade-all's own
process pool (no scheduler to start, nothing to serialize, no extra dependency).

Across the wire only plain data travels, never a path into ``OUT``: a task carries the student's
files (bytes, with their kind and time stamps) and the resolved settings (:meth:`Settings.plain`);
it returns how the student's grading process ended and its record as JSON text. The worker grades
in a temporary folder with :func:`autograder.host.child.grade_in_child`, so the sandbox, its
isolation level and the per-student time and memory limits are exactly those of ``--cluster local``.
Only the process that runs ``grade-all`` writes into ``OUT``, the moment each student's task ends.

With ``[cluster] gpu = true`` a student's training checks are a second task, for a worker with the resource
``GPU=1`` (:func:`judge_deferred`, :mod:`autograder.host.deferred`); ``grade-all`` writes the student once both
have ended.

A worker lost mid-task costs nothing: the scheduler reruns the task elsewhere, and the student is
written once, when their one future completes. Clusters the kit starts are told
:data:`ALLOWED_FAILURES`, so a submission that kills its worker twice ends as ``KilledWorker`` and is
recorded as a failed grading of that student alone; give an existing scheduler the same setting
(``DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=1``, see the README).
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import os
import socket
import stat
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

from autograder.classroom import workdirs
from autograder.classroom.grade_all import (LOG_FILE, Student, SubmissionSummary, class_run, lone_file_name,
                                            record_failure, summarize)
from autograder.core.i18n import Text, literal, tr
from autograder.core.settings import Settings
from autograder.host import deferred
from autograder.host.child import ChildEnd, grade_in_child, judge_in_child
from autograder.host.grading import MAX_SUBMISSION_BYTES, SUBMISSION_SUFFIXES, assignment_ids

ALLOWED_FAILURES = 1          # a task whose worker dies is rerun once; a second death is that student's error
LOG_BYTES = 256 * 1024        # the end of a grading log that comes back with the result
CONNECT_SECONDS = 30          # how long a scheduler's address may take to answer
KIT_SUFFIXES = (".py", ".toml", ".json", ".j2")  # what kit_fingerprint covers
# Where and when a student's task ran, kept in their record.json (benchmarks/grade_class.py reads the gaps).
# gpu_worker: where its training checks were judged ([cluster] gpu = true).
WHERE_FIELDS = {"worker": str, "host": str, "task_started": float, "task_ended": float, "gpu_worker": str}
GPU = {"GPU": 1}              # the Dask resource of the workers that judge training checks
POLL_SECONDS = 1.0            # how often the loop looks for finished students and connected workers
STOP_WAIT_SECONDS = 2.0       # how long a worker's watcher waits on the run's stop event per call
WORKDIR_PREFIX = "ag-dask-"   # a task's temporary folder: ag-dask-<pid namespace>-<worker pid>-<random>
# The pip extra each kind needs (a scheduler's address: "cluster").
EXTRA_FOR = {"dask-local": "cluster", "slurm": "slurm", "kubernetes": "kubernetes"}
# Sandbox levels under which the student's code can open network connections (autograder.host.isolation).
NETWORK_OPEN_LEVELS = ("uid", "none")


class ClusterUnavailable(RuntimeError):
    """The cluster asked for cannot be used: its package is missing, or its scheduler does not answer."""


# ---------------------------------------------------------------------------- what a task carries
@functools.lru_cache(maxsize=1)
def kit_fingerprint() -> str:
    """A digest of the kit's own files (code, messages, templates, schemas): a worker grades only when its kit
    is the one grade-all runs, since another version could grade by other rules."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.suffix in KIT_SUFFIXES and path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _packed_file(path: Path) -> dict[str, Any]:
    """One submission file as plain data the worker recreates so that grading judges it as it would here:
    a regular file with its bytes and time stamp; a link, something else, or a file over the size limit as
    such a thing (a dangling link, a FIFO, a sparse file of the same size), which grading refuses alike."""
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return {"name": path.name, "kind": "link"}
    if not stat.S_ISREG(info.st_mode):
        return {"name": path.name, "kind": "other"}
    if info.st_size > MAX_SUBMISSION_BYTES.get(path.suffix, min(MAX_SUBMISSION_BYTES.values())):
        return {"name": path.name, "kind": "oversized", "size": info.st_size, "mtime": info.st_mtime}
    return {"name": path.name, "kind": "file", "data": path.read_bytes(), "mtime": info.st_mtime}


def pack_submission(student: Student, options: Settings) -> dict[str, Any]:
    """What a student's task carries: the files grading would read (each assignment's ``.py``/``.ipynb``).

    A folder keeps its name (the student id); a lone file is renamed after the one assignment it is graded
    as, as ``--cluster local`` does. Raises ValueError for a lone file when not exactly one assignment is chosen.
    """
    if student.path.is_file():
        name = lone_file_name(student, options)
        return {"student": student.id, "folder": None, "files": [{**_packed_file(student.path), "name": name}],
                "kit": kit_fingerprint()}
    names = [f"{assignment}{suffix}" for assignment in assignment_ids(options) for suffix in SUBMISSION_SUFFIXES]
    files = [_packed_file(student.path / name) for name in names if os.path.lexists(student.path / name)]
    return {"student": student.id, "folder": student.id, "files": files, "kit": kit_fingerprint()}


def _unpack(packed: dict[str, Any], workdir: Path) -> Path:
    """Recreate a packed submission under ``workdir``; the path to grade."""
    folder = workdir / packed["folder"] if packed["folder"] is not None else workdir
    folder.mkdir(exist_ok=True)
    for item in packed["files"]:
        path = folder / Path(item["name"]).name  # a name, never a path: the client sent names it chose
        if item["kind"] == "link":
            path.symlink_to(workdir / "link-target-left-behind")
        elif item["kind"] == "other":
            os.mkfifo(path)
        else:
            with open(path, "wb") as handle:
                if item["kind"] == "oversized":
                    handle.truncate(int(item["size"]))  # sparse: the worker's disk holds nothing of it
                else:
                    handle.write(item["data"])
            os.utime(path, (item["mtime"], item["mtime"]))  # which of .py and .ipynb is newer decides
    if packed["folder"] is None:
        return folder / Path(packed["files"][0]["name"]).name
    return folder


# ---------------------------------------------------------------------------- on a Dask worker
def _grading_environ() -> dict[str, str]:
    """This worker's environment without what Dask's nanny sets for its own numeric tasks before it starts a
    worker (``distributed.nanny.pre-spawn-environ``): MALLOC_TRIM_THRESHOLD_=65536 alone made a full
    submission's grading about 13 s slower here (glibc returning memory to the system after every free), and
    the thread counts are the kit's to set."""
    import dask

    spawned = dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {}
    return {name: value for name, value in os.environ.items() if name not in spawned}


@contextlib.contextmanager
def _stopped_with_run(stop_name: str | None):
    """A threading.Event set once grade-all sets the Dask Event ``stop_name`` (its Ctrl-C), so the gradings of
    an interrupted run stop at once on any scheduler's workers, not only on a cluster the kit shuts down."""
    stop = threading.Event()
    if stop_name is None:
        yield stop
        return
    from distributed import Event, get_client

    run_stopped, finished = Event(stop_name, client=get_client()), threading.Event()  # bound in the task's thread

    def watch() -> None:
        while not finished.is_set():
            try:
                if run_stopped.wait(timeout=STOP_WAIT_SECONDS):
                    stop.set()
                    return
            except Exception:  # noqa: BLE001 - the scheduler is gone: the grading keeps its own limits
                return

    watcher = threading.Thread(target=watch, name="tf2-kit-stop-watch", daemon=True)
    watcher.start()
    try:
        yield stop
    finally:
        finished.set()


def grade_packed(packed: dict[str, Any], settings: dict[str, Any], stop_name: str | None = None) -> dict[str, Any]:
    """A Dask task: grade one packed submission in a sandboxed grading process here; return plain data only
    (with ``[cluster] gpu = true``, also the training checks for :func:`judge_deferred`, under "deferred").

    ``stop_name``: the Dask Event whose setting (grade-all interrupted) stops the grading."""
    from distributed import get_worker

    from autograder.classroom.worker_zygote import (start_worker_nursery, worker_nursery, worker_shared_folder,
                                                    worker_zygote)
    from autograder.host.isolation import Isolation, IsolationUnavailable

    started = time.time()
    refused = _other_kit(packed)
    if refused is not None:
        return refused
    options = Settings.from_plain(settings)
    try:
        Isolation(options.isolation).verify()
    except IsolationUnavailable as exc:  # fail closed on this worker, say where
        return {"refused": "sandbox", "reason": f"worker {socket.gethostname()}: {exc}"}
    workdirs.sweep(WORKDIR_PREFIX)
    with workdirs.owned_workdir(WORKDIR_PREFIX) as workdir, _stopped_with_run(stop_name) as stop:
        target = _unpack(packed, workdir)
        log = workdir / LOG_FILE
        # [cluster] gpu = true: the training checks are exported here and judged on a GPU worker (judge_deferred)
        defer_to = workdir / "deferred" if options.cluster_gpu else None
        environ = _grading_environ()
        start_worker_nursery(get_worker(), options)  # imports TensorFlow while the zygote does
        zygote = worker_zygote(get_worker(), environ)
        run = class_run(worker_shared_folder(get_worker(), options.isolation), defer_to,
                        nursery=worker_nursery(get_worker()))
        end = grade_in_child(target, options, run, workdir=workdir, log=log, environ=environ, stop=stop,
                             zygote=zygote)
        checks = deferred.pack(defer_to) if defer_to is not None and end.record is not None else []
        log_text = _log_end(log)
    return {"record": None if end.record is None else json.dumps(end.record), "returncode": end.returncode,
            "stopped": end.stopped, "peak_mb": end.peak_mb, "seconds": end.seconds, "log": log_text,
            "worker": get_worker().address, "host": socket.gethostname(), "task_started": started,
            "task_ended": time.time(), **({"deferred": {"kit": kit_fingerprint(), "checks": checks}} if checks else {})}


def judge_deferred(packed: dict[str, Any], settings: dict[str, Any], stop_name: str | None = None) -> dict[str, Any]:
    """A Dask task for a worker with the resource GPU=1: judge one student's deferred training checks
    (:mod:`autograder.host.deferred`) in a judging process within the student's limits; plain data back."""
    from distributed import get_worker

    refused = _other_kit(packed)
    if refused is not None:
        return refused
    options = Settings.from_plain(settings)
    workdirs.sweep(WORKDIR_PREFIX)
    with workdirs.owned_workdir(WORKDIR_PREFIX) as workdir, _stopped_with_run(stop_name) as stop:
        folder = workdir / "deferred"
        folder.mkdir()
        deferred.unpack(packed["checks"], folder)
        log = workdir / LOG_FILE
        end = judge_in_child(folder, options, workdir=workdir, log=log, environ=_grading_environ(), stop=stop)
        log_text = _log_end(log)
    return {"judged": end.record, "returncode": end.returncode, "stopped": end.stopped, "log": log_text,
            "worker": get_worker().address}


def _other_kit(packed: dict[str, Any]) -> dict[str, str] | None:
    """A task's refusal when grade-all's kit is not this worker's (another kit would grade by other rules)."""
    if packed.get("kit") == kit_fingerprint():
        return None
    return {"refused": "kit", "reason": f"worker {socket.gethostname()}: kit {kit_fingerprint()[:12]}, "
                                        f"grade-all's {str(packed.get('kit'))[:12]}"}




def _log_end(log: Path) -> str:
    with open(log, "rb") as handle:
        handle.seek(max(0, log.stat().st_size - LOG_BYTES))
        return handle.read().decode("utf-8", "replace")


# ---------------------------------------------------------------------------- back in grade-all's process
def _child_end(returned: dict[str, Any]) -> ChildEnd:
    """How the student's grading ended, from a task's plain result (a record that does not parse counts as none)."""
    from autograder.publish.records import from_record

    record = None
    if isinstance(returned.get("record"), str):
        try:
            record = json.loads(returned["record"])
            from_record(record)
        except (ValueError, KeyError, TypeError):
            record = None  # fail closed: no result
    return ChildEnd(record, returned.get("returncode"), returned.get("stopped"), float(returned.get("peak_mb", 0)),
                    float(returned.get("seconds", 0)), str(returned.get("log", ""))[-2000:])


def _returned(future) -> dict[str, Any] | Text:
    """A finished task's plain result, or why it gave none (for the student's record)."""
    from distributed import KilledWorker

    try:
        returned = future.result()
        if not isinstance(returned, dict):
            raise TypeError(f"the task returned {type(returned).__name__}, not the kit's plain result")
    except KilledWorker:
        return tr("Grading this submission stopped {count} cluster workers, so it was not tried again.",
                  count=ALLOWED_FAILURES + 1)
    except Exception as exc:  # noqa: BLE001 - a remote task's failure, as a child's exit code: never the class's
        return tr("The grading task failed on its cluster worker ({error}).",
                  error=f"{type(exc).__name__}: {str(exc)[:300]}")
    if returned.get("refused") == "sandbox":
        return tr("The sandbox could not be set up on the cluster worker, so nothing was run: {reason}",
                  reason=str(returned.get("reason"))[:500])
    if "refused" in returned:
        return tr("The cluster worker has another version of the grading kit than grade-all, so it did not grade: "
                  "{reason}. Install the same version on every worker.", reason=str(returned.get("reason"))[:500])
    return returned


def _finish(student: Student, options: Settings, out: Path, returned: dict[str, Any] | Text, started: float,
            judged: dict[str, Any] | Text | None = None) -> SubmissionSummary:
    """Write one student's outputs from their grading task's result (``judged``: their training checks' task's,
    with [cluster] gpu = true); a task that failed is that student's error."""
    if not isinstance(returned, dict):
        return record_failure(student, options, out, returned, started)
    folder = out / student.id
    folder.mkdir(parents=True, exist_ok=True)
    log = str(returned.get("log", ""))
    if judged is not None:
        judging_log = judged.get("log", "") if isinstance(judged, dict) else judged
        log += f"\n--- training checks judged on a GPU worker ---\n{judging_log}"
    (folder / LOG_FILE).write_text(log, encoding="utf-8")
    where = {key: kind(returned[key]) for key, kind in WHERE_FIELDS.items() if key in returned}
    end = _child_end(returned)
    if isinstance(judged, dict):
        end = _with_judged(end, judged)
        where["gpu_worker"] = str(judged.get("worker"))
    return summarize(student, options, folder, end, started, where)


def _time_left(settings: dict[str, Any], returned: dict[str, Any]) -> dict[str, Any]:
    """The settings for judging a student's training checks: the time their grading left of the submission's."""
    spent = float(returned.get("seconds", 0))
    return {**settings, "submission_timeout": max(1.0, float(settings["submission_timeout"]) - spent)}


def _with_judged(end: ChildEnd, judged: dict[str, Any]) -> ChildEnd:
    """The record with the training checks judged on a GPU worker in place of their placeholders, which stay (the
    kit's error, zero) where that judging gave nothing. A judging stopped at the submission's time or memory
    limit stops the submission, as when one process grades it all."""
    from autograder.publish.records import to_record

    if judged.get("stopped") in ("timeout", "memory"):
        return dataclasses.replace(end, stopped=judged["stopped"])
    result = end.result
    if result is None or judged.get("stopped") or deferred.merge(result, judged.get("judged")) == 0:
        return end
    return dataclasses.replace(end, record=to_record(result))


def _scheduler_listeners(dask_scheduler) -> list[str]:
    return [str(listener.contact_address) for listener in getattr(dask_scheduler, "listeners", None)
            or [dask_scheduler.listener]]


def require_tls_everywhere(client, options: Settings) -> None:
    """Under a sandbox level that leaves the network open, refuse a cluster where anything takes connections
    without TLS: the scheduler's listeners, the workers and their nannies each run code that a connection
    sends (Dask's ``run``). Checked again whenever the workers connected change. Raises ClusterUnavailable."""
    if options.isolation not in NETWORK_OPEN_LEVELS:
        return
    workers = client.scheduler_info(n_workers=-1).get("workers", {})
    addresses = [*client.run_on_scheduler(_scheduler_listeners), *workers,
                 *(worker.get("nanny") for worker in workers.values())]
    plain = sorted({str(address) for address in addresses if address and not str(address).startswith("tls://")})
    if plain:
        raise ClusterUnavailable(
            f"--isolation {options.isolation} leaves the network open to the student's code, and these parts of "
            f"the cluster take connections without TLS, so that code could run code of its choosing there: "
            f"{', '.join(plain[:5])}. Start every scheduler, worker and nanny with TLS (README: 'Grading on a "
            f"cluster'), or grade with --isolation bwrap.")


def _capacity(client) -> tuple[int, int]:
    """Workers connected, and the tasks they run at once."""
    threads = client.nthreads()
    return len(threads), sum(threads.values())


def cluster_outcomes(todo: list[Student], options: Settings, out: Path, notify) -> Iterator[SubmissionSummary]:
    """Grade ``todo`` on the Dask cluster ``options.cluster``; yield each student's summary as it is written.

    Files are read when a student's task is sent, a few more than the workers can run at once, so a class of
    thousands is never all in memory. On Ctrl-C the gradings under way stop on whichever workers run them (a
    Dask Event each task watches), the students not started are cancelled, and a cluster the kit started is
    shut down; then the KeyboardInterrupt goes on.
    """
    from distributed import Event, wait

    from autograder.classroom.worker_zygote import ZYGOTE_PLUGIN, ZygotePlugin

    run = uuid.uuid4().hex[:8]
    stop_name = f"tf2-stop-{run}"
    settings = options.plain()
    with connect(options) as client:
        client.register_plugin(ZygotePlugin(), name=ZYGOTE_PLUGIN)  # every worker's, and those that join later
        queue, pending, workers = list(enumerate(todo)), {}, -1
        try:
            while queue or pending:
                connected, threads = _capacity(client)
                if connected != workers:
                    require_tls_everywhere(client, options)
                    workers = connected
                    notify("workers", connected)
                while queue and len(pending) < max(2, 2 * threads):
                    index, student = queue.pop(0)
                    started = time.monotonic()
                    try:
                        packed = pack_submission(student, options)
                    except (OSError, ValueError) as exc:
                        yield record_failure(student, options, out, literal(str(exc)), started)
                        continue
                    notify("start", student)
                    future = client.submit(grade_packed, packed, settings, stop_name,
                                           key=f"tf2-grade-{run}-{index}", pure=False)
                    pending[future] = (index, student, started, None)  # None: the grading, not yet returned
                if not pending:
                    continue
                try:
                    finished = wait(list(pending), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED").done
                except TimeoutError:  # none finished within the poll: look at the workers again
                    continue
                for future in finished:
                    index, student, started, graded = pending.pop(future)
                    if graded is not None:  # the training checks' task
                        yield _finish(student, options, out, graded, started, _returned(future))
                        continue
                    returned = _returned(future)
                    if isinstance(returned, dict) and "deferred" in returned:
                        judging = client.submit(judge_deferred, returned.pop("deferred"),
                                                _time_left(settings, returned), stop_name,
                                                key=f"tf2-judge-{run}-{index}", pure=False, resources=GPU)
                        pending[judging] = (index, student, started, returned)
                        continue
                    yield _finish(student, options, out, returned, started)
        except KeyboardInterrupt:
            Event(stop_name, client=client).set()  # running gradings stop, on whichever workers
            client.cancel(list(pending), force=True)
            raise
        # The run is over: each worker's zygote and shared features go (the next run registers its own).
        with contextlib.suppress(OSError, TimeoutError, ValueError, KeyError):
            client.unregister_worker_plugin(ZYGOTE_PLUGIN)


# ---------------------------------------------------------------------------- connecting
def _import_distributed(extra: str):
    # Dask's INFO lines would bury the progress; the workers a cluster starts inherit this too.
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    try:
        import distributed
    except ImportError as exc:
        raise ClusterUnavailable(f"grading on a Dask cluster needs the kit's '{extra}' extra: "
                                 f"pip install 'tf2-exercise-kit[{extra}]'. Received: {exc}") from None
    logging.getLogger("distributed").setLevel(logging.WARNING)  # here, where dask may have read its config before
    return distributed


def _kubernetes_resources(options: Settings) -> dict[str, dict[str, str]]:
    """Kubernetes spells 8GiB as 8Gi and 16GB as 16G."""
    memory = options.cluster_memory.replace(" ", "")
    memory = memory[:-1] if memory.endswith(("iB", "KB", "MB", "GB", "TB")) and len(memory) > 2 else memory
    amounts = {"cpu": str(options.cluster_cores), "memory": memory}
    return {"requests": dict(amounts), "limits": dict(amounts)}


def slurm_cluster(options: Settings):
    """Slurm jobs of ``cluster_cores`` single-threaded Dask workers each (one student per core), not yet started."""
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError as exc:
        raise ClusterUnavailable(f"--cluster slurm needs pip install 'tf2-exercise-kit[slurm]'. Received: {exc}") \
            from None
    import dask

    # security=True: TLS with a certificate made for this run; its files, which the jobs read, are the
    # instructor's alone (mode 0600) in the shared folder (their home unless dask's jobqueue config names one).
    shared = dask.config.get("jobqueue.slurm.shared-temp-directory", default=None) or "~"
    return SLURMCluster(queue=options.cluster_queue, cores=options.cluster_cores, processes=options.cluster_cores,
                        memory=options.cluster_memory, walltime=options.cluster_walltime, security=True,
                        shared_temp_directory=shared,
                        worker_extra_args=["--resources", "GPU=1"] if options.cluster_gpu else [])


def kubernetes_cluster(options: Settings):
    """Kubernetes pods of the course's image, ``cluster_cores`` and ``cluster_memory`` each (dask-kubernetes'
    operator; not run on the kit's own machines, which have no Kubernetes)."""
    try:
        from dask_kubernetes.operator import KubeCluster
    except ImportError as exc:
        raise ClusterUnavailable(f"--cluster kubernetes needs pip install 'tf2-exercise-kit[kubernetes]'. "
                                 f"Received: {exc}") from None
    return KubeCluster(name=f"tf2-grading-{uuid.uuid4().hex[:6]}", image=options.cluster_image,
                       n_workers=options.cluster_jobs, resources=_kubernetes_resources(options),
                       env={"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": str(ALLOWED_FAILURES)})


def require_authenticated_connections(options: Settings) -> None:
    """Refuse a cluster that student code could join: under a sandbox level that leaves the network open, code
    that reaches a scheduler which takes any connection runs whatever it sends on every worker, outside the
    sandbox (with other students' gradings). The clusters the kit starts speak TLS with certificates made for
    the run (in memory, or files only their owner reads); an instructor's own scheduler must be a ``tls://``
    one, whose certificates the sandbox's user cannot read. Raises :class:`ClusterUnavailable`."""
    if options.isolation not in NETWORK_OPEN_LEVELS:
        return
    if options.cluster.startswith("tcp://"):
        raise ClusterUnavailable(
            f"--isolation {options.isolation} leaves the network open to the student's code, which could connect "
            f"to the Dask scheduler at {options.cluster} and run code of its choosing on every worker, outside the "
            "sandbox. Give the scheduler and workers TLS certificates that only their own user can read and use "
            "the scheduler's tls:// address, or grade with --isolation bwrap (README: 'Grading on a cluster').")
    if options.cluster == "kubernetes":
        raise ClusterUnavailable(
            f"--isolation {options.isolation} leaves the network open to the student's code, and the kit cannot "
            "give a Kubernetes cluster TLS certificates, so the student's code could run code of its choosing on "
            "every worker. Allow the pods user namespaces and grade with --isolation bwrap, or start TLS-secured "
            "workers against a tls:// scheduler (README: 'Grading on a cluster').")


@contextlib.contextmanager
def _started_cluster(options: Settings):
    """A cluster the kit starts (and shuts down with its workers): LocalCluster, Slurm jobs, Kubernetes pods."""
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
        if options.cluster == "dask-local":
            from distributed import LocalCluster

            # Limits are the kit's own (per student, whole process tree); Dask's memory limit would only see
            # the worker process, so it is off.
            # security=True: TLS, with a certificate made for this run and held in memory (see
            # require_authenticated_connections).
            cluster = LocalCluster(n_workers=options.worker_count, threads_per_worker=1, processes=True,
                                   memory_limit=0, dashboard_address=None, security=True,
                                   resources=GPU if options.cluster_gpu else None)
        elif options.cluster == "slurm":
            cluster = slurm_cluster(options)
            cluster.scale(jobs=options.cluster_jobs)
        elif options.cluster == "kubernetes":
            cluster = kubernetes_cluster(options)
        else:
            raise ValueError(f"no cluster of that kind. Received: {options.cluster!r}")
    with cluster:
        yield cluster


@contextlib.contextmanager
def connect(options: Settings):
    """A Dask client for ``options.cluster``; a cluster the kit started is closed with it."""
    require_authenticated_connections(options)
    distributed = _import_distributed(EXTRA_FOR.get(options.cluster, "cluster"))
    if options.cluster.startswith(("tcp://", "tls://")):
        try:
            client = distributed.Client(options.cluster, timeout=CONNECT_SECONDS)
        except (OSError, TimeoutError) as exc:
            raise ClusterUnavailable(f"no Dask scheduler answered at {options.cluster}: {exc}") from None
        with client:
            yield client
        return
    with _started_cluster(options) as cluster, distributed.Client(cluster) as client:
        yield client
