import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The grader's secret for probe inputs (autograder.host.runner.probe_seed): fixed here so the suite is
# reproducible on every machine; a real grader keeps its own in ~/.config/tf2-autograder/.
os.environ["AUTOGRADER_PROBE_KEY"] = "tf2-exercise-kit test suite"
ROOT = Path(__file__).resolve().parents[1]


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: one test process more than there are cores. About a tenth of the suite waits on purpose (for a
    hang to reach its time limit, a process to be killed); the extra process works while another waits. Measured
    on 2 cores: 653 s with 3 processes against 681 s with 2. PYTEST_XDIST_AUTO_NUM_WORKERS still decides first."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    return (psutil.cpu_count(logical=config.option.numprocesses == "logical") or 1) + 1


def pytest_collection_modifyitems(items):
    """Modules holding a slow test first, each module's tests kept together and in order (module fixtures are
    set up once). A test process that finishes its share early waits for the others' last tests; with the quick
    modules last, those are quick ones."""
    slow = {item.nodeid.split("::")[0] for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in slow)


def running(process: psutil.Process) -> bool:
    """Still running: neither ended (reaped or not: psutil's is_running is true of a zombie) nor gone."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def start_interruptible(command: list[str], first_result: Path, timeout: float = 300) -> subprocess.Popen:
    """Start ``command`` so that SIGINT reaches it as Ctrl-C from a terminal does (even when this suite runs in
    the background, where a shell ignores SIGINT), and wait until ``first_result`` exists."""
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + timeout
    while not first_result.exists():
        assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()
        time.sleep(0.2)
    return process


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """The real command line in a subprocess, as instructors run it."""
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, "COLUMNS": "200"})


# Tests that read `grade solutions --json` share one run of it: mark them with this group (one test process),
# and the session fixture keeps the run (xdist may interleave other modules, which ends a module fixture).
SHARES_GRADED_SOLUTIONS = pytest.mark.xdist_group("graded_solutions")


@pytest.fixture(scope="session")
def graded_solutions(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """``python -m autograder grade solutions --json``: the finished command and its results.json."""
    out = tmp_path_factory.mktemp("graded-solutions") / "results.json"
    return run_cli("grade", str(ROOT / "solutions"), "--json", str(out), timeout=1800), out


def solution_blocks(assignment_id: str, demo: bool = True) -> list[str]:
    """The solution's text cut before each top-level definition: imports first, then one block per definition."""
    text = (ROOT / "solutions" / f"{assignment_id}.py").read_text(encoding="utf-8")
    if not demo:
        text = text.split('\nif __name__ == "__main__"')[0]
    return re.split(r"\n(?=(?:def|class) )", text.strip())


def block(blocks: list[str], name: str) -> str:
    return next(b for b in blocks if re.match(rf"(?:def|class) {name}\b", b))


SUITE_NURSERY_PREFIX = "ag-suite-nursery-"


@contextlib.contextmanager
def suite_nursery():
    """A worker nursery (autograder.host.nursery) for this test process, in a folder named after it, which a later
    test run sweeps if this one is killed (SIGKILL), as grade-all's are; raises NurseryUnavailable where there can
    be none."""
    from autograder.classroom import workdirs
    from autograder.host.runner import Limits, start_nursery

    workdirs.sweep(SUITE_NURSERY_PREFIX)
    with workdirs.owned_workdir(SUITE_NURSERY_PREFIX) as folder, start_nursery(Limits().threads, folder) as nursery:
        yield nursery


@pytest.fixture(scope="session")
def grading_context(tmp_path_factory):
    """Shared by a test process's in-process gradings, as grade-all's students share a run: the same data,
    frozen-base features (autograder.host.feature_cache) and sandbox workers forked from one nursery
    (autograder.host.nursery), so the corpus' verdicts are those of that path too."""
    from autograder.host.context import GradingContext, configure_tensorflow
    from autograder.host.nursery import NurseryUnavailable

    configure_tensorflow(1)
    with contextlib.ExitStack() as stack:
        try:
            address = stack.enter_context(suite_nursery()).ready()
        except NurseryUnavailable as exc:  # each worker is a fresh sandbox, as grade-all's are then
            print(f"note: no worker nursery here ({exc}); each worker starts in a fresh sandbox")
            address = None
        yield GradingContext(seed=0, shared_folder=tmp_path_factory.mktemp("shared-folder"), nursery=address)


@pytest.fixture
def submit(tmp_path):
    """Write {filename: source} into a fresh submission directory and return it."""
    def write(files: dict[str, str]) -> Path:
        directory = tmp_path / "submission"
        directory.mkdir(exist_ok=True)
        for name, text in files.items():
            (directory / name).write_text(text, encoding="utf-8")
        return directory
    return write


class BundledGrading:
    """Test cases graded in bundles, as one student's files are: bundle ``k`` holds the ``k``-th case of each
    assignment, and one sandbox worker runs them all (:func:`autograder.host.grading.judge_files`), so a table
    of cases pays one sandbox and TensorFlow start per bundle instead of one per case. That each assignment of
    a shared worker is graded as if alone is tested in tests/test_shared_worker.py.

    ``part_of(case)`` gives the case's (possibly partial) Assignment and its module's source. Each bundle's
    cases carry one xdist group, so one test process grades a bundle once and keeps its results.
    """

    def __init__(self, name: str, cases: list, part_of):
        self.name, self.cases, self.part_of = name, list(cases), part_of
        self.bundle: list[int] = []
        seen: dict[str, int] = {}
        for case in self.cases:
            assignment_id = part_of(case)[0].id
            self.bundle.append(seen.get(assignment_id, 0))
            seen[assignment_id] = self.bundle[-1] + 1
        self._graded: dict[int, dict[str, list]] = {}

    def params(self, ids) -> list:
        """The cases as pytest parameters, each in its bundle's xdist group."""
        return [pytest.param(case, id=ids(case), marks=pytest.mark.xdist_group(f"{self.name}-{self.bundle[i]}"))
                for i, case in enumerate(self.cases)]

    def graded(self, case, *, folder: Path, context, limits):
        """``case``'s Assignment and check results, grading its whole bundle the first time one is asked for."""
        from autograder.host.grading import judge_files

        index = next(i for i, c in enumerate(self.cases) if c is case)
        number = self.bundle[index]
        if number not in self._graded:
            parts = []
            folder = folder / f"{self.name}-{number}"
            folder.mkdir(parents=True)
            for i in (i for i, b in enumerate(self.bundle) if b == number):
                assignment, source = self.part_of(self.cases[i])
                (folder / f"{assignment.id}.py").write_text(source, encoding="utf-8")
                parts.append((assignment, folder / f"{assignment.id}.py"))
            self._graded[number] = judge_files(parts, context=context, limits=limits)
        assignment = self.part_of(case)[0]
        return assignment, self._graded[number][assignment.id]


# Prepended to an attack payload (student code): undo the sandbox worker's Python-level network block, as a
# hostile student would, so that only the kernel-level defences stand in the way.
UNDO_SOCKET_BLOCK = r"""


def _undo_the_workers_socket_block():
    import _socket, importlib, socket
    socket.socket.connect, socket.socket.connect_ex = _socket.socket.connect, _socket.socket.connect_ex
    socket.getaddrinfo = _socket.getaddrinfo
    importlib.reload(socket)


_undo_the_workers_socket_block()
"""


def require_uid_level() -> None:
    """Skip, saying why, where isolation level uid cannot run the kit here (not root, or an unreadable Python)."""
    from autograder.host.isolation import Isolation, IsolationUnavailable

    try:
        Isolation("uid").verify()
    except IsolationUnavailable as exc:
        pytest.skip(f"isolation level uid is not available here: {exc}")


# A zygote that forks grading processes which die (exit code 3) before grading, without importing TensorFlow.
FAKE_ZYGOTE = ("import os; from autograder.host import child, context, zygote; "
               "context.configure_tensorflow = lambda threads: None; "
               "child.grade_request = lambda text: os._exit(3); raise SystemExit(zygote.serve())")


@pytest.fixture
def grading_processes_exit_3(monkeypatch):
    """Every grading process grade-all starts or forks (autograder.host.zygote) ends with exit code 3, recordless."""
    from autograder.host import child, zygote

    monkeypatch.setattr(child, "CHILD_ARGV", (sys.executable, "-c", "raise SystemExit(3)"))
    monkeypatch.setattr(zygote, "ZYGOTE_ARGV", (sys.executable, "-P", "-c", FAKE_ZYGOTE))
