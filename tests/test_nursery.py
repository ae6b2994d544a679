"""Sandbox workers forked from the run's nursery (autograder.host.nursery): walled off from each other, from the
nursery and from the machine as a fresh sandbox is, and graded exactly as a fresh sandbox grades."""
import contextlib
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pytest

from autograder import graders
from autograder.core.i18n import render
from autograder.host.isolation import Isolation, IsolationUnavailable
from autograder.host.nursery import SOCKET_NAME, NurseryUnavailable
from autograder.host.nursery import _connect as nursery_connect  # a socket path of any length
from autograder.core.trees import remove_tree
from autograder.host.runner import Limits, SandboxSession
from conftest import ROOT, suite_nursery

try:
    Isolation("bwrap").verify()
except IsolationUnavailable as unavailable:
    pytest.skip(f"the bubblewrap sandbox cannot be created here: {unavailable}", allow_module_level=True)

ASSIGNMENT = "fashion_mnist"
# Student code run at import: what it can see and do, reported in the import error's message.
LOOK_AROUND = r'''
import json, os, socket, time

def _facts():
    facts = {}
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    facts["pid"] = os.getpid()
    processes = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    facts["spool"] = os.listdir("/spool") if os.path.isdir("/spool") else None
    facts["control"] = os.listdir("/control") if os.path.isdir("/control") else None
    facts["cap_eff"] = int(status["CapEff"], 16)
    facts["cap_bnd"] = int(status["CapBnd"], 16)
    facts["no_new_privs"] = int(status["NoNewPrivs"])
    facts["parent"] = os.getppid()
    facts["hostname"] = socket.gethostname()
    try:
        open("/job/planted", "w").write("x")
        facts["job_writable"] = True
    except OSError:
        facts["job_writable"] = False
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2)
        s.connect(("1.1.1.1", 53))
        facts["network"] = True
    except OSError:
        facts["network"] = False
    facts["others"] = [p for p in processes if p != os.getpid()]
    facts["nursery_proc"] = os.listdir("/nursery-proc") if os.path.isdir("/nursery-proc") else None
    # The message has room for 400 characters, however long the kit's paths: only what differs from the expected.
    facts["dev_extra"] = sorted(set(os.listdir("/dev")) - DEV_EXPECTED)
    facts["dev_missing"] = sorted(DEV_EXPECTED - set(os.listdir("/dev")))
    import subprocess
    facts["shell_echo"] = subprocess.run(["/bin/sh", "-c", "echo into-the-log"]).returncode  # stdout inherited
    facts["pty"] = len(os.openpty())
    facts["ptys"] = sorted(os.listdir("/dev/pts"))  # its own instance: the terminal it just opened only
    facts["tmp_extra"] = sorted(set(os.listdir("/tmp")) - TMP_KIT)
    facts["tmp_kit_missing"] = len(TMP_KIT - set(os.listdir("/tmp")))

    return facts

HOLD_SECONDS = 0.0
DEV_EXPECTED = set()
TMP_KIT = set()
if HOLD_SECONDS:  # the worker that holds plants files where a worker it shared them with would find them
    open("/dev/planted", "w").close()
    open("/tmp/planted", "w").close()
time.sleep(HOLD_SECONDS)
raise RuntimeError("FACTS" + json.dumps(_facts(), separators=(",", ":")) + "END")
'''
# A fresh sandbox's /dev: the device nodes bubblewrap makes, nothing of the machine's or the nursery's.
DEV_EXPECTED = {"core", "fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout", "tty",
                "urandom", "zero"}


def _look_around(hold_seconds: float = 0.0) -> str:
    """LOOK_AROUND told what to expect, so that it reports only what differs, and how long to hold."""
    return (LOOK_AROUND.replace("HOLD_SECONDS = 0.0", f"HOLD_SECONDS = {hold_seconds!r}")
            .replace("DEV_EXPECTED = set()", f"DEV_EXPECTED = set({sorted(DEV_EXPECTED)!r})")
            .replace("TMP_KIT = set()", f"TMP_KIT = set({_kit_under_tmp()!r})"))


def _started_nursery(stack: contextlib.ExitStack):
    """A nursery of the suite's (closed with ``stack``), ready: its process and its address; a skip where there
    can be none."""
    try:
        process = stack.enter_context(suite_nursery())
        return process, process.ready()
    except NurseryUnavailable as exc:
        pytest.skip(f"no worker nursery here: {exc}")


@pytest.fixture(scope="module")
def nursery():
    with contextlib.ExitStack() as stack:
        yield _started_nursery(stack)


def _import_message(directory: Path, nursery_address, source: str) -> tuple[str, bool]:
    """The import error's message (English) of ``source`` as fashion_mnist.py, and whether the nursery forked it."""
    (directory / f"{ASSIGNMENT}.py").write_text(source, encoding="utf-8")
    assignment = graders.load(ASSIGNMENT)
    with SandboxSession([(assignment, directory / f"{ASSIGNMENT}.py")], seed=0, limits=Limits(step_timeout=60),
                        nursery=nursery_address) as session:
        forked = session.nursery is not None
        messages = [render(status.message, "en") for _, observed in session.run() for status, _ in observed.values()]
        forked = forked and session.nursery is not None  # still: no worker fell back to a fresh sandbox
    return messages[0], forked


def _kit_under_tmp(extra: tuple[str, ...] = ()) -> list[str]:
    """What a worker's own /tmp holds: the first folder of each of the sandbox's read-only roots that lies under /tmp
    (a checkout or an environment in a temporary folder), bound there again; nothing of the nursery's /tmp."""
    from autograder.host import isolation

    return sorted({Path(root).relative_to("/tmp").parts[0] for root in (*isolation._read_only_roots(), *extra)
                   if root.startswith("/tmp/")})


def _facts(message: str) -> dict:
    assert "FACTS" in message, message
    start = message.index("FACTS") + 5
    return json.loads(message[start:message.index("END", start)])


def test_a_forked_worker_sees_only_itself_and_can_reach_nothing(tmp_path, nursery):
    message, forked = _import_message(tmp_path, nursery[1], _look_around())
    facts = _facts(message)
    assert forked
    assert facts["pid"] == 1 and facts["others"] == [] and facts["parent"] == 0, facts  # its own PID namespace
    assert facts["spool"] == [] and facts["control"] == [], facts  # no other worker's folders, no nursery socket
    assert facts["nursery_proc"] == [] and facts["tmp_extra"] == [] and facts["tmp_kit_missing"] == 0, facts
    assert facts["dev_extra"] == [] and facts["dev_missing"] == [], facts
    assert facts["cap_eff"] == 0 and facts["cap_bnd"] == 0 and facts["no_new_privs"] == 1, facts
    assert facts["hostname"] == "sandbox" and not facts["job_writable"] and not facts["network"], facts
    assert facts["shell_echo"] == 0, facts  # what it starts writes to its log, as from a fresh sandbox
    assert facts["pty"] == 2 and facts["ptys"] == ["0", "ptmx"], facts  # a terminal of its own


def test_a_forked_workers_dev_is_a_fresh_sandboxs(tmp_path):
    """What the forked worker's /dev is held to above is what a fresh sandbox's holds (bubblewrap's --dev)."""
    message, forked = _import_message(tmp_path, None, _look_around())
    facts = _facts(message)
    assert not forked and facts["pid"] == 2, facts  # bubblewrap's child, not a nursery's
    assert facts["dev_extra"] == [] and facts["dev_missing"] == [], facts
    assert facts["pty"] == 2 and facts["ptys"] == ["0", "ptmx"], facts


@pytest.mark.slow
def test_two_workers_at_once_cannot_see_each_other(tmp_path, nursery):
    """While one worker holds its import for seconds, the other looks for any process or folder but its own."""
    held = _look_around(hold_seconds=6.0)
    results = {}

    def grade(name, source):
        folder = tmp_path / name
        folder.mkdir()
        results[name] = _import_message(folder, nursery[1], source)

    holder = threading.Thread(target=grade, args=("holder", held))
    holder.start()
    time.sleep(2.0)
    grade("looker", _look_around())
    holder.join()
    for name in ("holder", "looker"):
        facts = _facts(results[name][0])
        assert results[name][1] and facts["others"] == [] and facts["spool"] == [], (name, facts)
    holder, looker = _facts(results["holder"][0]), _facts(results["looker"][0])
    assert holder["dev_extra"] == ["planted"] and holder["tmp_extra"] == ["planted"], holder  # its own view only
    assert looker["dev_extra"] == [] and looker["tmp_extra"] == [], looker


def test_a_process_left_behind_ends_with_its_worker(tmp_path, nursery):
    """A daemon (double fork, its own session) outlives the worker in no way: the worker is PID 1 of its namespace."""
    bwrap = psutil.Process(nursery[0].pid)
    before = {p.pid for p in bwrap.children(recursive=True)}
    daemon = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
              "        time.sleep(120)\n    os._exit(0)\nraise RuntimeError('left a daemon behind')\n")
    message, forked = _import_message(tmp_path, nursery[1], daemon)
    assert forked and "left a daemon behind" in message
    deadline = time.monotonic() + 10
    while {p.pid for p in bwrap.children(recursive=True)} != before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert {p.pid for p in bwrap.children(recursive=True)} == before


def test_a_hang_is_stopped_at_its_limit_and_the_nursery_serves_on(tmp_path, nursery):
    hang = "import time\nwhile True:\n    time.sleep(0.1)\n"
    (tmp_path / "hang").mkdir()
    (tmp_path / "hang" / f"{ASSIGNMENT}.py").write_text(hang, encoding="utf-8")
    assignment = graders.load(ASSIGNMENT)
    with SandboxSession([(assignment, tmp_path / "hang" / f"{ASSIGNMENT}.py")], seed=0,
                        limits=Limits(step_timeout=4), nursery=nursery[1]) as session:
        states = {status.state for _, observed in session.run() for status, _ in observed.values()}
        assert session.nursery is not None
    assert states == {"timeout"}
    message, forked = _import_message(tmp_path, nursery[1], _look_around())
    assert forked and _facts(message)["others"] == []


@pytest.mark.slow
def test_a_submission_is_judged_alike_forked_or_fresh(nursery):
    """Every check's verdict and message on the reference and on a mistake, forked from the nursery and fresh."""
    from autograder.host.context import GradingContext
    from autograder.host.grading import judge_files

    assignment = graders.load(ASSIGNMENT)
    solution = (ROOT / "solutions" / f"{ASSIGNMENT}.py").read_text(encoding="utf-8")
    mistake = solution.replace("/ 255", "/ 256")
    assert mistake != solution
    verdicts = {}
    for kind, address in (("forked", nursery[1]), ("fresh", None)):
        for name, source in (("reference", solution), ("mistake", mistake)):
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / f"{ASSIGNMENT}.py"
                path.write_text(source, encoding="utf-8")
                checks = judge_files([(assignment, path)], context=GradingContext(seed=0, nursery=address),
                                     limits=Limits())[ASSIGNMENT]
            verdicts[kind, name] = [(c.check_id, c.outcome, c.score, render(c.message, "en")) for c in checks]
    assert verdicts["forked", "reference"] == verdicts["fresh", "reference"]
    assert verdicts["forked", "mistake"] == verdicts["fresh", "mistake"]
    assert verdicts["fresh", "reference"] != verdicts["fresh", "mistake"]


def test_a_nursery_whose_socket_path_is_longer_than_a_socket_address_forks_its_workers(tmp_path, monkeypatch):
    """A long TMPDIR (a test's, a batch system's job folder): the nursery's socket lies deeper than the 108 bytes a
    unix socket address holds (a Dask worker's students were all graded fresh, each said why)."""
    deep = tmp_path / ("a-long-temporary-folder-" * 4)
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    with contextlib.ExitStack() as stack:
        _, address = _started_nursery(stack)
        assert len(os.fsencode(address.control / "nursery.sock")) > 108
        (tmp_path / "student").mkdir()
        message, forked = _import_message(tmp_path / "student", address, _look_around())
    assert forked and _facts(message)["pid"] == 1, message


def test_a_forked_worker_that_fails_before_student_code_is_run_again_in_a_fresh_sandbox(tmp_path, nursery,
                                                                                      monkeypatch, capfd):
    """The nursery forks a worker that cannot start (its job folder is empty): not the student's fault, so a fresh
    sandbox grades them, fully, and the note says why."""
    from autograder.host.nursery import Nursery

    forked = Nursery.spawn

    def spawn_without_a_job(self, run_dir, log, progress, limits):
        empty = self.spool / "no-job" / run_dir.name
        (empty / "job").mkdir(parents=True)
        (empty / "output").mkdir()
        return forked(self, empty, log, progress, limits)

    monkeypatch.setattr(Nursery, "spawn", spawn_without_a_job)
    (tmp_path / f"{ASSIGNMENT}.py").write_text((ROOT / "solutions" / f"{ASSIGNMENT}.py").read_text(), "utf-8")
    with SandboxSession([(graders.load(ASSIGNMENT), tmp_path / f"{ASSIGNMENT}.py")], seed=0, limits=Limits(),
                        nursery=nursery[1]) as session:
        states = {status.state for _, observed in session.run() for status, _ in observed.values()}
        assert session.nursery is None  # the rest of the session's workers are fresh too
    assert states == {"ok"}
    assert "a worker forked by the nursery failed to start; a fresh sandbox runs what is left" in capfd.readouterr().err


@pytest.mark.slow
def test_a_dead_nursery_costs_nothing_the_worker_starts_fresh(tmp_path):
    (tmp_path / f"{ASSIGNMENT}.py").write_text((ROOT / "solutions" / f"{ASSIGNMENT}.py").read_text(), "utf-8")
    with contextlib.ExitStack() as stack:
        process, address = _started_nursery(stack)
        os.killpg(process.pid, signal.SIGKILL)  # killed, its folder still there: it refuses the connection
        psutil.Process(process.pid).wait(10)
        for dead in (address, None):  # then gone with its folder (None: closed and removed, first)
            if dead is None:
                process.close()
                remove_tree(address.spool.parent)
                dead = address
            with SandboxSession([(graders.load(ASSIGNMENT), tmp_path / f"{ASSIGNMENT}.py")], seed=0,
                                limits=Limits(), nursery=dead) as session:
                states = {status.state for _, observed in session.run() for status, _ in observed.values()}
                assert session.nursery is None  # it fell back to a fresh sandbox
            assert states == {"ok"}


def test_a_request_the_nursery_refuses_is_answered_it_serves_on_and_the_worker_starts_fresh(tmp_path, nursery,
                                                                                              monkeypatch, capfd):
    """A request that is not {"slot": ...} with three descriptors gets a "refused" answer, not a fork, and the
    nursery forks the next worker as before. Refused, the session's worker starts in a fresh sandbox instead."""
    address = nursery[1]
    server = min((p for p in psutil.Process(nursery[0].pid).children(recursive=True)  # bwrap's, then the nursery's
                  if p.cmdline()[:1] == [sys.executable]), key=lambda p: p.create_time())  # not a worker: the oldest
    open_before = server.num_fds()
    devnull = [os.open(os.devnull, os.O_RDONLY) for _ in range(3)]
    try:
        for message, fds in ((b'{"slot": "a/b"}', devnull[:2]), (b"not json", devnull), (b'["slot"]', devnull)):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                connection.settimeout(10)
                nursery_connect(connection, address.control / SOCKET_NAME)
                socket.send_fds(connection, [message], fds)
                answer = json.loads(connection.makefile("rb").readline())
            assert set(answer) == {"refused"}, answer
    finally:
        for fd in devnull:
            os.close(fd)
    assert server.num_fds() == open_before  # nothing a refused request sent is kept open
    message, forked = _import_message(tmp_path, address, "raise RuntimeError('still served')\n")
    assert "still served" in message and forked

    (tmp_path / f"{ASSIGNMENT}.py").write_text((ROOT / "solutions" / f"{ASSIGNMENT}.py").read_text(), "utf-8")
    sent = socket.send_fds
    monkeypatch.setattr(socket, "send_fds", lambda sock, buffers, fds, *rest: sent(sock, buffers, fds[:2], *rest))
    with SandboxSession([(graders.load(ASSIGNMENT), tmp_path / f"{ASSIGNMENT}.py")], seed=0, limits=Limits(),
                        nursery=address) as session:
        states = {status.state for _, observed in session.run() for status, _ in observed.values()}
        assert session.nursery is None  # refused once, the session's workers start fresh
    assert states == {"ok"}
    assert "the nursery refused the worker" in capfd.readouterr().err


def test_what_the_sandbox_binds_under_tmp_stays_readable_and_read_only(tmp_path, monkeypatch):
    """A checkout or an environment in a temporary folder (a fresh clone in /tmp) is bound under the nursery's
    /tmp; each forked worker's own /tmp keeps it there, read-only."""
    from autograder.host import isolation

    root = Path(tempfile.mkdtemp(prefix="kit-root-", dir="/tmp"))
    try:
        (root / "marker").write_text("the kit's environment", encoding="utf-8")
        real = isolation._read_only_roots
        monkeypatch.setattr(isolation, "_read_only_roots", lambda: [*real(), str(root)])
        probe = (f"import os\nmarker = {str(root / 'marker')!r}\ntry:\n    open(marker, 'a').write('x')\n"
                 "    writable = True\nexcept OSError:\n    writable = False\n"
                 "raise RuntimeError('SEEN ' + open(marker).read() + ' WRITABLE ' + str(writable) + ' TMP ' + "
                 "str(sorted(os.listdir('/tmp'))))\n")
        with contextlib.ExitStack() as stack:
            _, address = _started_nursery(stack)
            (tmp_path / "student").mkdir()
            message, forked = _import_message(tmp_path / "student", address, probe)
        assert forked and "SEEN the kit's environment WRITABLE False" in message, message
        assert (root / "marker").read_text(encoding="utf-8") == "the kit's environment"
        assert f"TMP {_kit_under_tmp((str(root),))}" in message, message  # nothing else of the nursery's /tmp
    finally:
        import shutil
        shutil.rmtree(root)
