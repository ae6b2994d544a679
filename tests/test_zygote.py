"""grade-all forks each student's grading process from one zygote (autograder.host.zygote): checked through
the real CLI, and that a zygote lost mid-run costs only the student it was grading."""
import csv
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from conftest import ROOT, running
from corpus import BASES, SLEEPS_IN_BUILD

ASSIGNMENT = "fashion_mnist"
STUB = (ROOT / "exercises" / f"{ASSIGNMENT}.py").read_text(encoding="utf-8")


def _class(root, students: dict[str, str]):
    for student, source in students.items():
        (root / student).mkdir(parents=True)
        (root / student / f"{ASSIGNMENT}.py").write_text(source, encoding="utf-8")
    return root


def _command_line(process: psutil.Process) -> list[str] | None:
    try:
        return process.cmdline()
    except psutil.Error:
        return None


def _zygote_and_forked_child(grade_all: subprocess.Popen, deadline: float):
    """Wait until grade-all's zygote has forked a grading process: (zygote, that child)."""
    top = psutil.Process(grade_all.pid)
    while True:
        assert grade_all.poll() is None and time.monotonic() < deadline, grade_all.stdout.read()
        for process in top.children():
            line = _command_line(process) or []
            if line[-1:] == ["autograder.host.zygote"]:
                forked = [c for c in process.children() if _command_line(c) == line]
                if forked:
                    return process, forked[0]
        time.sleep(0.1)


def _forked_child_and_its_session(grade_all: subprocess.Popen, deadline: float):
    """(zygote, a grading process it forked, that process's parent pid, its process group) once it has settled
    into its session. Seen just after the fork, a child may not have called setsid() yet; and one found just
    before it ended may be reaped before its group is read (seen once under a full suite's load): then the
    zygote's children are looked at again (bob's hangs for the whole step limit)."""
    while True:
        zygote, forked = _zygote_and_forked_child(grade_all, deadline)
        try:
            parent = forked.ppid()
            settled = time.monotonic() + 10
            while os.getpgid(forked.pid) != forked.pid and time.monotonic() < settled:
                time.sleep(0.05)
            return zygote, forked, parent, os.getpgid(forked.pid)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue


def _runs_a_worker(forked: psutil.Process, grade_all: subprocess.Popen) -> bool:
    """Whether ``forked`` (the one grading process of a run with one worker) runs a sandbox worker: a fresh
    sandbox of its own, or one forked for it by the run's worker nursery (autograder.host.nursery)."""
    try:
        if psutil.Process(forked.pid).children():  # a fresh Process: see the lost-zygote test's loop
            return True
        nurseries = [p for p in psutil.Process(grade_all.pid).children(recursive=True)
                     if "autograder.worker.nursery" in " ".join(_command_line(p) or [])]
        return any(n.children() for n in nurseries if _command_line(n) and "bwrap" not in _command_line(n)[0])
    except psutil.Error:
        return False


def _grades(out):
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


def _start(classroom, out, *extra, tmp=None):
    return subprocess.Popen([sys.executable, "-m", "autograder", "grade-all", str(classroom), "--out", str(out),
                             "--lang", "en", "--step-timeout", "10", *extra], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env=None if tmp is None else {**os.environ, "TMPDIR": str(tmp)})


@pytest.mark.slow
def test_each_students_grading_process_is_forked_from_one_zygote_and_graded_as_before(tmp_path):
    classroom = _class(tmp_path / "class", {"ada": BASES[ASSIGNMENT], "bob": SLEEPS_IN_BUILD})
    grade_all = _start(classroom, tmp_path / "out", "--workers", "2")
    try:
        zygote, forked, parent, group = _forked_child_and_its_session(grade_all, time.monotonic() + 240)
        assert parent == zygote.pid
        assert group == forked.pid  # a session of its own, as a started grading process has
        output, _ = grade_all.communicate(timeout=600)
    finally:
        if grade_all.poll() is None:
            os.killpg(grade_all.pid, signal.SIGKILL)
    assert grade_all.returncode == 0, output[-3000:]
    grades = _grades(tmp_path / "out")
    assert (grades["ada"][ASSIGNMENT], grades["ada"]["status"]) == ("29", "ok"), output[-3000:]
    assert grades["bob"]["status"] == "timeout" and float(grades["bob"][ASSIGNMENT]) < 29
    assert not psutil.pid_exists(zygote.pid)  # it ended with the run


@pytest.mark.slow
def test_a_zygote_lost_mid_run_costs_only_the_student_it_was_grading(tmp_path):
    classroom = _class(tmp_path / "class", {"a_hang": SLEEPS_IN_BUILD, "b_ref": BASES[ASSIGNMENT],
                                            "c_ref": BASES[ASSIGNMENT]})
    grade_all = _start(classroom, tmp_path / "out", "--workers", "1")
    try:
        zygote, forked = _zygote_and_forked_child(grade_all, time.monotonic() + 240)
        # Mid-grading: once the fork runs a sandbox, the zygote has told grade-all its pid. (Killed before
        # that, grade-all gets no pid and rightly grades the student in a process of its own.)
        # By pid, not forked.is_running(): that once answered "no" at once while the process ran (seen twice under a
        # full suite's load). Most likely psutil listed it just forked, before it could read its creation time, and
        # from then on took its pid for a reused one, refusing children() too.
        started = time.monotonic()
        while running(forked) and not _runs_a_worker(forked, grade_all) and time.monotonic() < started + 120:
            time.sleep(0.05)
        assert _runs_a_worker(forked, grade_all), (  # failed twice under a full suite's load, with is_running: above
            f"the forked grading process started no sandbox: it {'ran' if running(forked) else 'had ended'} after "
            f"{time.monotonic() - started:.1f} s; grade-all {'ran' if grade_all.poll() is None else 'had ended'}")
        zygote.kill()  # its forked grading process dies with it
        output, _ = grade_all.communicate(timeout=600)
    finally:
        if grade_all.poll() is None:
            os.killpg(grade_all.pid, signal.SIGKILL)
    assert grade_all.returncode == 0, output[-3000:]
    assert "without the zygote" in output
    grades = _grades(tmp_path / "out")
    assert grades["a_hang"]["status"] == "error" and grades["a_hang"]["total"] == "0", grades["a_hang"]
    for student in ("b_ref", "c_ref"):  # started as processes of their own, as before
        assert (grades[student][ASSIGNMENT], grades[student]["status"]) == ("29", "ok"), output[-3000:]
    assert not psutil.pid_exists(forked.pid)


@pytest.mark.slow
def test_grade_all_killed_takes_its_zygote_and_every_grading_process_with_it(tmp_path):
    """SIGKILL leaves grade-all no time to clean up: the zygote dies with it, and each forked grading process
    with the zygote (a fork does not inherit its parent's death signal: the child sets its own)."""
    classroom = _class(tmp_path / "class", {"a_hang": SLEEPS_IN_BUILD, "b_hang": SLEEPS_IN_BUILD})
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    grade_all = _start(classroom, tmp_path / "out", "--workers", "2", tmp=tmp)
    try:
        zygote, forked = _zygote_and_forked_child(grade_all, time.monotonic() + 240)
        time.sleep(1)  # past its setup
        others = [c for c in zygote.children() if _command_line(c) == _command_line(zygote)]
        grade_all.kill()
        grade_all.wait(timeout=30)
        gone = time.monotonic() + 15
        alive = [zygote, *others]
        while alive and time.monotonic() < gone:
            alive = [p for p in alive if running(p)]
            time.sleep(0.1)
    finally:
        grade_all.kill()
    for process in alive:  # a failure: leave nothing behind
        os.killpg(process.pid, signal.SIGKILL)
    assert forked in others and not alive, alive
    # Nothing could remove the students' temporary folders, nor the run's shared features (autograder.host.
    # feature_cache), nor its worker nursery's folder (autograder.host.nursery); the next grade-all here does.
    left = [folder for folder in tmp.glob("ag-batch-*") if not (folder / "control").is_dir()]  # not the nursery's
    assert len(left) == 3, list(tmp.iterdir())
    after = _start(_class(tmp_path / "next", {"c_stub": STUB}), tmp_path / "next-out", "--assignment", ASSIGNMENT,
                   tmp=tmp)
    output, _ = after.communicate(timeout=300)
    assert after.returncode == 0, output[-3000:]
    assert not list(tmp.rglob("ag-*")), list(tmp.rglob("ag-*"))
