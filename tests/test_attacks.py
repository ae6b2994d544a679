"""Attacks on the autograder through the real command line: each one must fail, and cost nobody else anything.

One class of students is graded once with ``python -m autograder grade-all`` (module fixture ``arena``):
two honest students, ``reference`` (the solution: full marks) and ``stub`` (the exercise: zero), and
one attacker per attack, each the stub with an attack at import time or inside ``normalize``
(see tests/attacks_corpus.py). While it runs, three single-student ``python -m autograder grade`` runs
go on beside it (a notebook attacker and two attacks on the progress file). The run's environment
holds a fake secret, ``$HOME`` is a fake home with a secret file in it, the test listens on
127.0.0.1 and on an abstract UNIX socket, and a decoy process of the test's own waits to be signalled.

For every attack the test asserts that (a) it failed: nothing in the loot folder, files unchanged,
the listener got nothing, the secrets appear in no output, no points beyond the stub's zero, no
process left behind; and (b) the honest students' rows and results are exactly what they are when
graded alone.
"""
from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import psutil
import pytest

import attacks_corpus as corpus
from autograder import graders
from autograder.classroom.grade_all import spreadsheet_safe
from autograder.core.trees import remove_tree
from autograder.host.isolation import Isolation, IsolationUnavailable
from conftest import ROOT

# One test process builds the arena (a class of ~35 gradings) and runs every test that reads it; under
# `--dist loadgroup` without the group each test process would grade the whole class again.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("attack_arena")]

try:
    Isolation("bwrap").verify()
except IsolationUnavailable as unavailable:
    pytest.skip(f"the bubblewrap sandbox cannot be created here: {unavailable}", allow_module_level=True)

ASSIGNMENT = "fashion_mnist"
SOLUTION = ROOT / "solutions" / f"{ASSIGNMENT}.py"
STUB = ROOT / "exercises" / f"{ASSIGNMENT}.py"
GRADER_FILE = ROOT / "autograder" / "graders" / ASSIGNMENT / "probes.py"  # what x_write_checkout tries to append to
MAXIMUM = graders.load(ASSIGNMENT).max_score
PROBES = list(graders.load(ASSIGNMENT).probes)
MEMORY_MB = 1536
STEP_TIMEOUT = 20
SINGLE_TIMEOUT = 5        # grade --timeout for the progress-file attacks
SINGLE_HANG_SECONDS = 75  # a single grade still running this long after it started is hung
FORK_CAP = 600            # the fork bomb stops itself here; the kit's own limit is lower (MAX_PROCESSES)
HONEST = ("reference", "stub")
STUB_LIKE = ("=1+2", "@SUM(A1)", "<img src=x onerror=alert(1)>")  # graded as the stub; only the name is hostile
# The reference with two more metrics, whose names reach pages only through the kit's own training run: a
# matplotlib formula that cannot be drawn (it ended grade-all) and Markdown that posed as the instructor's text.
METRIC_NAMES = ("$\\evilmacro$", "acc |\n\n# NOTE TO INSTRUCTOR: regrade at [form](http://evil.example/r) "
                "<img src=x onerror=alert(1)>\n\n| x")
NAMED_METRICS = "x_metric_names"
CLASS_ATTACKS = list(corpus.ATTACKS)
ATTACKERS = [a.name for a in CLASS_ATTACKS]
GRADE_ALL_OPTIONS = ("--assignment", ASSIGNMENT, "--workers", "2", "--lang", "en", "--step-timeout", str(STEP_TIMEOUT),
                     "--memory-mb", str(MEMORY_MB), "--timeout", "300", "--isolation", "bwrap")


def _solution_lines() -> list[str]:
    """Lines only the solution has (not the stub, not any message of the kit): seen anywhere, it leaked."""
    stub = set(STUB.read_text(encoding="utf-8").splitlines())
    kit = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in (ROOT / "autograder").rglob("*")
                    if p.is_file() and p.suffix in (".py", ".toml", ".j2"))
    lines = {line.strip() for line in SOLUTION.read_text(encoding="utf-8").splitlines() if line not in stub}
    return sorted(line for line in lines if len(line) >= 25 and line not in kit and not line.startswith("#"))


SOLUTION_LINES = _solution_lines()
# A worker's run folder on the grader's disk: a sandbox session's own, or one in the spool of grade-all's worker
# nursery (autograder.host.nursery: <batch folder>/spool/<session>/run<k>).
SESSION_FOLDERS = ("ag-*", "ag-*/spool/ag-*")
RUN_FOLDERS = tuple(f"{root}/run*" for root in SESSION_FOLDERS)


# ---------------------------------------------------------------------------- helpers
def cli(*args: str, cwd: Path, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    """The real command line, as conftest.run_cli runs it, but in a working directory of the test's own."""
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env={**os.environ, "COLUMNS": "200", **env})


def start_cli(*args: str, cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    handle = open(log, "wb")
    try:
        return subprocess.Popen([sys.executable, "-m", "autograder", *args], stdout=handle, stderr=subprocess.STDOUT,
                                cwd=cwd, env={**os.environ, "COLUMNS": "200", **env}, start_new_session=True)
    finally:
        handle.close()


def read_rows(out: Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), {row["student_id"]: row for row in reader}


def untimed(payload: dict) -> dict:
    return {key: value for key, value in payload.items() if key != "execution_time"}


def record_checks(folder: Path) -> list:
    record = json.loads((folder / "record.json").read_text(encoding="utf-8"))
    return [{k: v for k, v in a.items() if k != "seconds"} for a in record["assignments"]]


def folder_bytes(folder: Path) -> bytes:
    return b"\n".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink())


def untimed_row(row: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in row.items() if not re.search(r"time|second", k or "")}


class Listener:
    """127.0.0.1:<port> and an abstract UNIX socket; remembers every connection and what it sent."""

    def __init__(self, name: str):
        self.received: list[tuple[str, bytes]] = []
        self.stop = threading.Event()
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", 0))
        self.port = self.tcp.getsockname()[1]
        self.unix_name = name
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix.bind("\0" + name)
        self.threads = []
        for server, kind in ((self.tcp, "tcp"), (self.unix, "unix")):
            server.listen(64)
            server.settimeout(0.2)
            thread = threading.Thread(target=self._serve, args=(server, kind), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _serve(self, server: socket.socket, kind: str) -> None:
        while not self.stop.is_set():
            try:
                connection, _ = server.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with connection:
                connection.settimeout(2)
                try:
                    data = connection.recv(1024)
                except OSError:
                    data = b""
            self.received.append((kind, data))

    def self_test(self) -> None:
        """The listener works (so "it received nothing" means something); forget the test's own hellos."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as connection:
            connection.sendall(b"self-test")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.connect("\0" + self.unix_name)
            connection.sendall(b"self-test")
        deadline = time.monotonic() + 10
        while len(self.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(self.received) == [("tcp", b"self-test"), ("unix", b"self-test")], self.received
        self.received.clear()

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(5)
        self.tcp.close()
        self.unix.close()


@dataclass
class Single:
    """One `grade` run started beside the class run; a thread notes when it ends."""

    name: str
    process: subprocess.Popen
    log: Path
    json: Path
    started: float
    seconds: float | None = None  # None: still running when given up on (hung)
    output: str = ""
    ended: float | None = None

    def __post_init__(self):
        self.watcher = threading.Thread(target=self._watch, daemon=True)
        self.watcher.start()

    def _watch(self) -> None:
        self.process.wait()
        self.ended = time.monotonic()

    def finish(self, give_up_at: float) -> None:
        self.watcher.join(max(0.0, give_up_at - time.monotonic()))
        if self.ended is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.watcher.join()
        else:
            self.seconds = self.ended - self.started
        self.output = self.log.read_text(encoding="utf-8", errors="replace")

    def results(self) -> dict:
        return json.loads(self.json.read_text(encoding="utf-8"))


@dataclass
class Arena:
    base: Path
    classdir: Path
    out: Path
    cwd: Path
    loot: Path
    home: Path
    token: str
    secret: str
    home_secret: str
    targets: dict
    listener: Listener
    decoy: subprocess.Popen
    completed: subprocess.CompletedProcess | None = None
    seconds: float = 0.0
    survivors: list[str] = field(default_factory=list)
    singles: dict[str, Single] = field(default_factory=dict)
    header: list[str] = field(default_factory=list)
    rows: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def decoy_files(self) -> list[Path]:
        """A host folder's files that the link attacks point the grader at: one per probe and per assignment (the
        names its renames would take), each holding the token."""
        folder = self.base / "decoy"
        return [folder / "keep.txt", *(folder / name / "keep.txt" for name in (*PROBES, ASSIGNMENT))]

    # ------------------------------------------------------------ reading the run
    def results(self, student: str) -> dict:
        return json.loads((self.out / student / "results.json").read_text(encoding="utf-8"))

    def row(self, student: str) -> dict[str, str]:
        return self.rows[spreadsheet_safe(student)]

    def report(self, student: str) -> str:
        """What the attack reported (its exception message), else every message the student got."""
        outputs = [t["output"] for t in self.results(student)["tests"]]
        return next((o for o in outputs if "ATTACK" in o), " || ".join(sorted(set(outputs))))[:1200]

    def outcomes(self, student: str) -> dict[str, str]:
        return {t["extra_data"]["check_id"]: t["extra_data"]["outcome"] for t in self.results(student)["tests"]}

    def message(self, student: str, check_id: str) -> str:
        return next(t["output"] for t in self.results(student)["tests"] if t["extra_data"]["check_id"] == check_id)

    def loot_files(self, prefix: str = "") -> list[str]:
        return sorted(p.name for p in self.loot.glob(prefix + "*")) if self.loot.is_dir() else []

    def everything_written(self) -> bytes:
        return folder_bytes(self.out) + (self.completed.stdout + self.completed.stderr).encode()


# ---------------------------------------------------------------------------- the class run
def _write_class(classdir: Path, sources: dict[str, str]) -> None:
    for student, text in sources.items():
        (classdir / student).mkdir(parents=True)
        (classdir / student / f"{ASSIGNMENT}.py").write_text(text, encoding="utf-8")


def _notebook(text: str) -> str:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# Fashion-MNIST"), nbformat.v4.new_code_cell(text)]
    return nbformat.writes(notebook)


def _environment(home: Path, secret: str) -> dict[str, str]:
    env = {"AUTOGRADER_TEST_SECRET": secret, "HOME": str(home)}
    fonts = Path.home() / ".cache" / "matplotlib"  # a fake $HOME would otherwise rebuild the font cache
    if fonts.is_dir():
        env["MPLCONFIGDIR"] = str(fonts)
    return env


def _find_survivors(marker: str, comm: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["pid", "name", "cmdline"]):
        try:
            if process.info["name"] == comm or marker in " ".join(process.info["cmdline"] or []):
                found.append(process)
        except (psutil.Error, TypeError):
            pass
    return found


def _site_folders(arena: Arena) -> set[str]:
    """Where a .pth file would run in every later Python: site-packages, and the grader's user site."""
    return {arena.targets["site_packages"], arena.targets["user_site"], *[p for p in sys.path if "site-packages" in p]}


def _undo_successful_writes(arena: Arena) -> None:
    """If an attack got through, take its marks out of the checkout and the environment again."""
    token = arena.token
    text = GRADER_FILE.read_text(encoding="utf-8")
    if token in text:
        GRADER_FILE.write_text("".join(l for l in text.splitlines(keepends=True) if token not in l), encoding="utf-8")
    planted = [ROOT / "autograder" / "graders" / f"zz_{token}.py", ROOT / "solutions" / f"zz_{token}.txt"]
    for folder in _site_folders(arena):
        planted.append(Path(folder) / f"zz_tf2_attack_{token}.pth")
    for path in planted:
        path.unlink(missing_ok=True)
    # A grading process killed because an attack hung it cannot remove its job folder: remove this run's.
    tmp = Path(tempfile.gettempdir())
    for submission in (path for pattern in RUN_FOLDERS for path in tmp.glob(f"{pattern}/job/submission/*.py")):
        try:
            if token in submission.read_text(encoding="utf-8", errors="replace"):
                remove_tree(tmp / submission.relative_to(tmp).parts[0])
        except OSError:
            pass  # removed already, with the folder of another file of the same run


def _with_named_metrics(solution: str) -> str:
    metrics = ", ".join(f"keras.metrics.SparseCategoricalAccuracy(name={name!r})" for name in METRIC_NAMES)
    assert solution.count('metrics=["accuracy"],') == 1
    return solution.replace('metrics=["accuracy"],', f'metrics=["accuracy", {metrics}],')


@pytest.fixture(scope="module")
def arena(tmp_path_factory):
    base = tmp_path_factory.mktemp("attacks")
    token = uuid.uuid4().hex[:12]
    secret, home_secret = f"s3cr3t-{uuid.uuid4().hex}", f"s3cr3t-home-{uuid.uuid4().hex}"
    home, cwd, classdir = base / "home", base / "cwd", base / "class"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text(home_secret + "\n", encoding="utf-8")
    cwd.mkdir()
    listener = Listener(f"tf2-attack-{token}")
    listener.self_test()
    decoy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(900)", f"tf2-attack-decoy-{token}"])
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    targets = {
        "loot": str(base / "loot"), "root": str(ROOT), "solution": str(SOLUTION), "grader_file": str(GRADER_FILE),
        "site_packages": sysconfig.get_paths()["purelib"],
        "user_site": str(home / ".local" / "lib" / version / "site-packages"),
        "classdir": str(classdir), "out": str(base / "out"), "cwd": str(cwd), "tmp": tempfile.gettempdir(),
        "home": str(home), "home_secret_file": str(home / ".ssh" / "id_ed25519"), "port": listener.port,
        "unix_name": listener.unix_name, "decoy_pid": decoy.pid, "token": token, "probes": PROBES, "assignment": ASSIGNMENT,
        "persist_marker": f"tf2-attack-persist-{token}", "persist_comm": f"tf2p{token}"[:15], "fork_cap": FORK_CAP,
        "decoy": str(base / "decoy"),
    }
    arena = Arena(base, classdir, base / "out", cwd, base / "loot", home, token, secret, home_secret, targets,
                  listener, decoy)
    for path in arena.decoy_files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(token, encoding="utf-8")
    env = _environment(home, secret)
    stub, solution = STUB.read_text(encoding="utf-8"), SOLUTION.read_text(encoding="utf-8")
    try:
        # Beside the class: three single-student `grade` runs (two of them mostly wait).
        singles = base / "singles"
        for attack, suffix in ((corpus.STRETCH, ".py"), (corpus.PROGRESS_FIFO, ".py"), (corpus.NOTEBOOK, ".ipynb")):
            folder = singles / attack.name
            folder.mkdir(parents=True)
            text = corpus.source(attack, stub, targets)
            (folder / f"{ASSIGNMENT}{suffix}").write_text(_notebook(text) if suffix == ".ipynb" else text,
                                                          encoding="utf-8")
            options = ("--timeout", str(SINGLE_TIMEOUT)) if attack is not corpus.NOTEBOOK else ()
            json_file = singles / f"{attack.name}.json"
            process = start_cli("grade", str(folder), "--assignment", ASSIGNMENT, "--json", str(json_file),
                                "--isolation", "bwrap", *options, cwd=cwd, env=env, log=singles / f"{attack.name}.log")
            arena.singles[attack.name] = Single(attack.name, process, singles / f"{attack.name}.log", json_file,
                                                time.monotonic())

        sources = {"reference": solution, "stub": stub, **{name: stub for name in STUB_LIKE},
                   NAMED_METRICS: _with_named_metrics(solution)}
        sources.update({a.name: corpus.source(a, stub, targets) for a in CLASS_ATTACKS if a.where != "none"})
        _write_class(classdir, sources)
        (classdir / "linker").mkdir()
        (classdir / "linker" / f"{ASSIGNMENT}.py").symlink_to(SOLUTION)
        started = time.monotonic()
        arena.completed = cli("grade-all", str(classdir), "--out", str(arena.out), *GRADE_ALL_OPTIONS, cwd=cwd, env=env)
        arena.seconds = time.monotonic() - started
        for single in arena.singles.values():
            single.finish(give_up_at=max(time.monotonic(), single.started + SINGLE_HANG_SECONDS))
        time.sleep(1)  # the kernel tears a PID namespace down as its init exits; give it a moment
        for process in _find_survivors(targets["persist_marker"], targets["persist_comm"]):
            try:
                arena.survivors.append(f"pid {process.pid} {process.name()!r} {' '.join(process.cmdline())[:120]!r}")
                process.kill()
            except psutil.Error:
                pass
        if (arena.out / "grades.csv").is_file():
            arena.header, arena.rows = read_rows(arena.out)
        yield arena
    finally:
        listener.close()
        decoy.kill()
        decoy.wait()
        for single in arena.singles.values():
            if single.process.poll() is None:
                os.killpg(single.process.pid, signal.SIGKILL)
                single.watcher.join()
        _undo_successful_writes(arena)


@pytest.fixture(scope="module")
def alone(arena):
    """The honest pair graded by themselves, with the same options: what their rows and results must be."""
    classdir, out, cwd = arena.base / "alone-class", arena.base / "alone-out", arena.base / "alone-cwd"
    cwd.mkdir()
    _write_class(classdir, {"reference": SOLUTION.read_text(encoding="utf-8"),
                            "stub": STUB.read_text(encoding="utf-8")})
    completed = cli("grade-all", str(classdir), "--out", str(out), *GRADE_ALL_OPTIONS, cwd=cwd,
                    env=_environment(arena.home, arena.secret))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return out


# ---------------------------------------------------------------------------- what must hold after every attack
def assert_run_completed(arena: Arena) -> None:
    completed = arena.completed
    assert completed is not None and completed.returncode == 0, (completed.stdout + completed.stderr)[-3000:]
    expected = {spreadsheet_safe(s) for s in [*HONEST, *ATTACKERS, NAMED_METRICS]}
    assert set(arena.rows) == expected, f"grades.csv rows differ: missing {expected - set(arena.rows)}, " \
                                        f"extra {set(arena.rows) - expected}"


def assert_honest_intact(arena: Arena) -> None:
    """(b) of every attack: the honest students are graded exactly as they deserve, untouched."""
    assert_run_completed(arena)
    reference, stub = arena.row("reference"), arena.row("stub")
    assert (reference[ASSIGNMENT], reference["total"], reference["max"], reference["status"]) == \
           (f"{MAXIMUM:g}", f"{MAXIMUM:g}", f"{MAXIMUM:g}", "ok"), reference
    assert (stub[ASSIGNMENT], stub["total"], stub["max"], stub["status"]) == ("0", "0", f"{MAXIMUM:g}", "ok"), stub
    assert set(arena.outcomes("reference").values()) == {"passed"} and arena.results("reference")["score"] == MAXIMUM
    assert set(arena.outcomes("stub").values()) == {"not_attempted"} and arena.results("stub")["score"] == 0
    for student in HONEST:
        folder = arena.out / student
        assert sorted(p.name for p in folder.iterdir()) == [
            "feedback.html", "feedback.md", "grading.log", "record.json", "results.json"], student
        assert arena.token.encode() not in folder_bytes(folder), f"{student}'s outputs hold an attacker's token"
        assert b"survivor" not in (folder / "results.json").read_bytes()
    assert (arena.classdir / "reference" / f"{ASSIGNMENT}.py").read_bytes() == SOLUTION.read_bytes()
    assert (arena.classdir / "stub" / f"{ASSIGNMENT}.py").read_bytes() == STUB.read_bytes()


def assert_no_points(arena: Arena, student: str) -> None:
    """(a), always: no more than the stub's zero, and graded, not lost."""
    row, payload = arena.row(student), arena.results(student)
    gained = {t["extra_data"]["check_id"]: t["score"] for t in payload["tests"] if t["score"]}
    assert float(row["total"]) == 0 and payload["score"] == 0 and not gained, \
        f"{student} scored {row['total']}/{row['max']} with a stub: {gained}; {arena.report(student)}"
    assert float(row["max"]) == MAXIMUM and payload["max_score"] == MAXIMUM
    assert "passed" not in arena.outcomes(student).values()


def assert_no_loot(arena: Arena, student: str) -> None:
    assert not arena.loot_files(student), f"{student} wrote into the test's folder: {arena.loot_files(student)}; " \
                                          f"{arena.report(student)}"


def assert_no_solution_text(data: bytes, where: str, report: str = "") -> None:
    leaked = [line for line in SOLUTION_LINES if line.encode() in data]
    assert not leaked, f"solution lines leaked into {where}: {leaked[:3]}; {report}"


# ---------------------------------------------------------------------------- per-attack evidence
def _read(arena, name):
    assert_no_solution_text(folder_bytes(arena.out / name), name, arena.report(name))


def _env(arena, name):
    written = arena.everything_written()
    assert arena.secret.encode() not in written, f"the grader's secret reached the outputs; {arena.report(name)}"
    assert b"AUTOGRADER_TEST_SECRET" not in folder_bytes(arena.out / name), arena.report(name)


def _home(arena, name):
    assert arena.home_secret.encode() not in arena.everything_written(), f"$HOME leaked; {arena.report(name)}"


def _write_results(arena, name):
    for student in HONEST:  # assert_honest_intact also checks their rows, outcomes and every file for the token
        for file in ("results.json", "record.json"):
            assert b'"forged"' not in (arena.out / student / file).read_bytes(), f"{student}/{file} was overwritten"


def _fake_student(arena, name):
    assert not (arena.out / f"zz_fake_{arena.token}").exists(), arena.report(name)
    assert not any(student.startswith("zz_fake") for student in arena.rows)


def _classmate_submission(arena, name):
    for student, original in (("reference", SOLUTION), ("stub", STUB)):
        assert (arena.classdir / student / f"{ASSIGNMENT}.py").read_bytes() == original.read_bytes(), \
            f"{student}'s submission was changed; {arena.report(name)}"


def _checkout(arena, name):
    assert arena.token not in GRADER_FILE.read_text(encoding="utf-8"), f"the checkout was written; {arena.report(name)}"
    assert not (ROOT / "autograder" / "graders" / f"zz_{arena.token}.py").exists()
    assert not (ROOT / "solutions" / f"zz_{arena.token}.txt").exists()


def _pth(arena, name):
    planted = [str(Path(f) / f"zz_tf2_attack_{arena.token}.pth") for f in _site_folders(arena)
               if (Path(f) / f"zz_tf2_attack_{arena.token}.pth").exists()]
    assert not planted, f"planted {planted}; {arena.report(name)}"


def _plant(arena, name):
    assert sorted(p.name for p in arena.cwd.iterdir()) == [], f"the grading cwd was written; {arena.report(name)}"
    assert not (arena.loot / "planted-module-ran").exists(), "a planted module ran in a grading process"


def _record(arena, name):
    assert "FOUND []" in arena.report(name), f"the grading process's private folders are visible: {arena.report(name)}"


def _persist(arena, name):
    assert not arena.survivors, f"processes outlived the worker: {arena.survivors}; {arena.report(name)}"
    assert not (arena.loot / "persist-survived").exists(), "a process of the worker wrote after it ended"


def _network(arena, name):
    assert not arena.listener.received, f"the listener was reached: {arena.listener.received}; {arena.report(name)}"
    assert "CONNECTED" not in arena.report(name), arena.report(name)


def _decoy_untouched(arena, name):
    assert arena.decoy.poll() is None, f"the test's decoy process was killed; {arena.report(name)}"
    assert psutil.Process(arena.decoy.pid).status() != psutil.STATUS_STOPPED, \
        f"the decoy was stopped; {arena.report(name)}"
    assert "HOST PIDS VISIBLE" not in arena.report(name), arena.report(name)


def _fork_bomb(arena, name):
    report = arena.report(name)
    spawned = re.search(r"spawned=(\d+)", report)
    stopped_by_kit = "memory" in report or "did not finish" in report
    assert stopped_by_kit or (spawned and int(spawned.group(1)) < FORK_CAP), f"no process limit held: {report}"


def _memory(arena, name):
    message = arena.message(name, "normalize_values")
    assert arena.outcomes(name)["normalize_values"] == "error" and f"more than {MEMORY_MB} MiB of memory" in message, \
        f"the memory limit did not stop it: {message}"


def _output_flood(arena, name):
    message = arena.message(name, "normalize_values")
    assert "wrote more than 2048 MiB of files" in message, f"the output limit did not stop it: {message}"
    leftovers = [path for pattern in RUN_FOLDERS
                 for path in Path(tempfile.gettempdir()).glob(f"{pattern}/output/flood-{arena.token}*")]
    assert not leftovers, f"flood files left on the grader's disk: {leftovers}"


def _scratch_flood(arena, name):
    message = arena.message(name, "normalize_values")
    written = re.search(r"written=(\d+) MiB; stopped by (\w+)", message)
    by_memory = f"more than {MEMORY_MB} MiB of memory" in message
    assert by_memory or (written and int(written.group(1)) <= 512 and written.group(2) == "OSError"), \
        f"the working directory took more than its tmpfs cap: {message}"


def _deep_tree(arena, name):
    """The class was graded (this arena's grade-all ended well: every result is there) and no folder of the attack
    is left on the grader's disk, where it would have ended the next run's sweep of dead runs' folders."""
    patterns = [f"{root}/{'*/' * depth}deep-{arena.token}" for root in SESSION_FOLDERS for depth in range(4)]
    leftovers = [str(path) for pattern in patterns for path in Path(tempfile.gettempdir()).glob(pattern)]
    assert not leftovers, f"the deep folder was left on the grader's disk: {leftovers}"
    assert arena.results(name)["tests"], arena.report(name)


def _no_grader_fault(arena, name):
    faults = [t["extra_data"]["check_id"] for t in arena.results(name)["tests"] if t["extra_data"]["grader_fault"]]
    assert not faults, f"forged reports made the kit take the blame (grader_fault) for {faults}: {arena.report(name)}"


def _symlinks(arena, name):
    data = folder_bytes(arena.out / name)
    assert b"root:x:0:0" not in data, "/etc/passwd was read through a planted link"
    assert_no_solution_text(data, name, arena.report(name))


def _decoy_intact(arena, name):
    """The host folder the attack linked to still holds every folder and file the test put there."""
    missing = [str(path) for path in arena.decoy_files if path.read_text(encoding="utf-8") != arena.token]
    assert not missing, f"the grader moved or deleted host files through a planted link: {missing}"


def _linker(arena, name):
    assert set(arena.outcomes(name).values()) == {"error"}
    assert all(f"{ASSIGNMENT}.py is a link" in t["output"] for t in arena.results(name)["tests"])


def _stub_like(arena, name):
    assert untimed(arena.results(name)) == untimed(arena.results("stub")), name
    assert arena.row(name) == {**arena.row("stub"), "student_id": spreadsheet_safe(name)}
    raw = (arena.out / "grades.csv").read_text(encoding="utf-8")
    assert not any(line.startswith(("=", "+", "-", "@")) for line in raw.split("\n")), raw
    _no_raw_html(arena, name, name)


def _no_raw_html(arena, name, payload):
    pages = {page: (arena.out / name / page).read_text(encoding="utf-8") for page in ("feedback.html", "feedback.md")}
    pages["summary.html"] = (arena.out / "summary.html").read_text(encoding="utf-8")
    for page, text in pages.items():
        if "<" in payload:
            assert payload not in text, f"{page} holds unescaped HTML: {payload!r}"


def _xss(payload):
    def verify(arena, name):
        _no_raw_html(arena, name, payload)
        escaped = payload.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        for page in ("feedback.html", "feedback.md"):
            assert escaped in (arena.out / name / page).read_text(encoding="utf-8"), f"{page} lost the message"
    return verify


EVIDENCE = {
    "x_read_solutions": _read, "x_read_classmate": _read, "x_read_env_secret": _env, "x_read_home": _home,
    "x_write_classmate_results": _write_results, "x_write_fake_student": _fake_student,
    "x_write_classmate_submission": _classmate_submission, "x_write_checkout": _checkout,
    "x_write_site_packages_pth": _pth, "x_plant_module_cwd": _plant, "x_forge_grader_record": _record,
    "x_plant_training_run": _record,
    "x_persist_daemon": _persist, "x_link_output_folders": _decoy_intact, "x_link_import_folder": _decoy_intact,
    "x_net_socket_reload": _network, "x_net_ctypes_connect": _network, "x_net_child_process": _network,
    "x_net_abstract_unix": _network,
    "x_kill_everyone": _decoy_untouched, "x_sigstop_everyone": _decoy_untouched, "x_fork_bomb": _fork_bomb,
    "x_memory_hog": _memory, "x_output_flood": _output_flood, "x_scratch_flood": _scratch_flood,
    "x_deep_output_tree": _deep_tree,
    "x_forge_result_files": _no_grader_fault, "x_forge_json_dumps": _no_grader_fault,
    "x_forge_run_probe": _no_grader_fault, "x_forge_grader_error": _no_grader_fault, "x_symlink_observation": _symlinks,
    "linker": _linker, "=1+2": _stub_like, "@SUM(A1)": _stub_like, "<img src=x onerror=alert(1)>": _stub_like,
    "x_xss_script": _xss(corpus.XSS_SCRIPT), "x_xss_table_break": _xss(corpus.XSS_CELL),
}


def test_every_class_attack_has_its_evidence_check():
    assert set(EVIDENCE) == set(ATTACKERS)
    assert len(SOLUTION_LINES) >= 3, "no line tells the solution from the stub: the read checks would prove nothing"
    assert {a.family for a in [*CLASS_ATTACKS, corpus.STRETCH, corpus.PROGRESS_FIFO, corpus.NOTEBOOK]} == {
        "read", "write", "persist", "network", "signals", "resources", "forge", "names", "xss"}


@pytest.mark.parametrize("attack", CLASS_ATTACKS, ids=[a.name for a in CLASS_ATTACKS])
def test_attack_in_a_class_fails_and_costs_nobody_else(arena, attack):
    assert_honest_intact(arena)
    assert_no_points(arena, attack.name)
    assert_no_loot(arena, attack.name)
    EVIDENCE[attack.name](arena, attack.name)


def test_metric_names_a_student_chose_neither_end_the_class_nor_become_markup(arena):
    """An extra metric costs nothing; its name reaches no page and the training curve is still drawn."""
    assert_honest_intact(arena)
    assert arena.row(NAMED_METRICS)["total"] == f"{MAXIMUM:g}", arena.report(NAMED_METRICS)
    pages = {page: (arena.out / NAMED_METRICS / page).read_text(encoding="utf-8")
             for page in ("feedback.md", "feedback.html")}
    for page, text in pages.items():
        assert "evilmacro" not in text and "NOTE TO INSTRUCTOR" not in text, page
    assert "<svg" in pages["feedback.html"]


def test_no_attack_reached_the_listener_the_loot_folder_or_a_secret(arena):
    assert not arena.listener.received, arena.listener.received
    assert not arena.loot_files(), arena.loot_files()
    written = arena.everything_written()
    for secret in (arena.secret, arena.home_secret):
        assert secret.encode() not in written
    assert not arena.survivors, arena.survivors
    assert arena.decoy.poll() is None


def test_the_honest_pair_gets_the_same_rows_and_results_as_when_graded_alone(arena, alone):
    assert_honest_intact(arena)
    header, rows = read_rows(alone)
    assert header == arena.header
    for student in HONEST:
        assert untimed_row(arena.rows[student]) == untimed_row(rows[student]), student
        assert untimed(arena.results(student)) == untimed(json.loads((alone / student / "results.json").read_text(
            encoding="utf-8"))), student
        assert record_checks(arena.out / student) == record_checks(alone / student), student


# ---------------------------------------------------------------------------- the single `grade` runs
SINGLE_ATTACKS = {a.name: a for a in (corpus.STRETCH, corpus.PROGRESS_FIFO, corpus.NOTEBOOK)}


def _single(arena, name) -> Single:
    single = arena.singles[name]
    assert single.seconds is not None, (
        f"`grade` was still running {SINGLE_HANG_SECONDS} s after it started and was killed: the attack "
        f"({SINGLE_ATTACKS[name].summary}) hung the grading process. Its output:\n{single.output[-2000:]}")
    assert single.process.returncode == 0, single.output[-3000:]
    return single


def _single_no_points(single: Single) -> dict:
    payload = single.results()
    gained = {t["extra_data"]["check_id"]: t["score"] for t in payload["tests"] if t["score"]}
    assert payload["score"] == 0 and not gained and payload["max_score"] == MAXIMUM, gained
    return payload


def test_progress_lines_written_in_a_loop_do_not_stretch_the_time_limit(arena):
    single = _single(arena, corpus.STRETCH.name)
    _single_no_points(single)
    # Honest work: start-up (not charged) plus one step of SINGLE_TIMEOUT; stretched, it would run on to the
    # deadline of STARTUP_SECONDS (120 s) plus a step per probe.
    assert single.seconds < 60, f"grade --timeout {SINGLE_TIMEOUT} ran {single.seconds:.0f} s"


def test_a_fifo_in_place_of_the_progress_file_does_not_hang_the_grader(arena):
    single = _single(arena, corpus.PROGRESS_FIFO.name)
    _single_no_points(single)


def test_a_notebook_attacker_gets_nothing_out_of_grade(arena):
    single = _single(arena, corpus.NOTEBOOK.name)
    payload = _single_no_points(single)
    written = single.output.encode() + single.json.read_bytes()
    assert arena.secret.encode() not in written and arena.home_secret.encode() not in written
    assert_no_solution_text(written, "the notebook's grade output")
    assert arena.token not in GRADER_FILE.read_text(encoding="utf-8")
    assert not any(data == b"notebook" for _, data in arena.listener.received)
    assert not arena.loot_files("notebook")
    messages = " ".join(t["output"] for t in payload["tests"])
    assert "ATTACK notebook" in messages, "the notebook's attack never ran, so it proved nothing"
