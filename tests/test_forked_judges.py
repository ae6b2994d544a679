"""The forked judges (autograder.host.forked_judges): results come back intact and in order, a child that dies
costs only its own checks, at most ``lanes`` judge at once, and nothing outlives an interrupted grading."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import psutil
import pytest

from autograder.core.i18n import render, tr
from autograder.core.outcomes import CheckResult, Outcome, result_from_json, result_to_json
from autograder.core.spec import Check
from autograder.host.forked_judges import ForkedJudges, JudgeLimits, default_lanes
from conftest import ROOT, run_cli


def _check(check_id: str) -> Check:
    return Check(check_id, tr("a check"), 2.0, "probe", lambda evidence, ctx: None)


def _passed(check: Check, message="") -> CheckResult:
    return CheckResult("demo", check.id, check.title, check.points, check.points, Outcome.PASSED, message,
                       details={"curve": [0.5, 0.75]})


def test_a_result_survives_the_trip_in_every_language():
    original = CheckResult("demo", "c1", tr("a check"), 3.0, 1.5, Outcome.FAILED,
                           tr("{message} Hint: {hint}", message="wrong shape", hint="reshape"), True, False,
                           {"accuracy": 0.5})
    back = result_from_json("demo", result_to_json(original))
    assert (back.check_id, back.score, back.outcome, back.hidden, back.details) == ("c1", 1.5, Outcome.FAILED,
                                                                                     True, {"accuracy": 0.5})
    for language in ("en", "bn"):
        assert render(back.message, language) == render(original.message, language)
        assert render(back.title, language) == render(original.title, language)


def test_results_come_back_whatever_order_the_children_finish_in():
    first, second = [_check("slow")], [_check("quick1"), _check("quick2")]
    with ForkedJudges(2) as judges:
        judges.submit("demo", first, lambda: (time.sleep(0.4), [_passed(first[0], "slow one")])[1])
        judges.submit("demo", second, lambda: [_passed(check) for check in second])
        finished = judges.drain()
    assert [item.results[0].check_id for item in finished] == ["quick1", "slow"]
    assert [result.check_id for result in finished[0].results] == ["quick1", "quick2"]
    assert finished[1].results[0].message == "slow one"
    assert finished[1].results[0].details == {"curve": [0.5, 0.75]}


@pytest.mark.parametrize("death", ["exit", "kill", "raise", "garbage"])
def test_a_child_that_dies_costs_its_own_checks_only(death, capfd):
    doomed, healthy = [_check("doomed1"), _check("doomed2")], [_check("healthy")]

    def die():
        if death == "exit":
            os._exit(3)
        if death == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if death == "raise":
            raise RuntimeError("a bug in the kit")
        return [object()]  # not a result: the child cannot encode it

    with ForkedJudges(2) as judges:
        judges.submit("demo", doomed, die)
        judges.submit("demo", healthy, lambda: [_passed(healthy[0])])
        finished = {item.results[0].check_id: item for item in judges.drain()}
    lost = finished["doomed1"].results
    assert [r.check_id for r in lost] == ["doomed1", "doomed2"]
    assert all(r.outcome is Outcome.ERROR and r.grader_fault and r.score == 0 and r.max_score == 2.0 for r in lost)
    assert ("SIGKILL" if death == "kill" else "exit code") in lost[0].message
    assert finished["healthy"].results[0].outcome is Outcome.PASSED


def _burn_processor_time():
    while True:
        sum(range(10_000))


def _hoard_memory():
    hoard = []
    while True:
        hoard.append(bytearray(64 * 2**20))  # written: resident, not just reserved
        time.sleep(0.05)  # about 320 MiB between two polls: stopped long before the machine's memory matters


@pytest.mark.parametrize("greed", ["processor", "memory"])
def test_a_judge_over_its_limit_is_stopped_and_costs_its_own_checks_as_an_error(greed):
    """A model the sandbox returned runs in the judge: one that asks for endless work or memory is stopped at the
    limit, and the checks say why, as the student's error (not the kit's fault)."""
    greedy, healthy = [_check("greedy1"), _check("greedy2")], [_check("healthy")]
    baseline = psutil.Process().memory_info().rss / 2**20  # a child starts with the parent's pages
    limits = JudgeLimits(cpu_seconds=2, memory_mb=int(baseline) + 300)
    started = time.monotonic()
    with ForkedJudges(2, limits) as judges:
        judges.submit("demo", greedy, _burn_processor_time if greed == "processor" else _hoard_memory)
        judges.submit("demo", healthy, lambda: [_passed(healthy[0])])
        finished = {item.results[0].check_id: item for item in judges.drain()}
    assert time.monotonic() - started < 30
    assert finished["healthy"].results[0].outcome == Outcome.PASSED
    stopped = finished["greedy1"].results
    assert [r.check_id for r in stopped] == ["greedy1", "greedy2"]
    assert all(r.outcome == Outcome.ERROR and r.score == 0 and not r.grader_fault for r in stopped), stopped
    expected = "of processor time" if greed == "processor" else "MiB of memory"
    assert expected in render(stopped[0].message, "en"), render(stopped[0].message, "en")


@pytest.mark.slow
def test_grade_stops_a_model_that_asks_the_judge_for_gigabytes(tmp_path):
    """Through the CLI: activations of 1344x1344x16 per image ask the judge for gigabytes; grading completes,
    the classifier's checks say the judge's memory limit stopped them, and the other functions keep their marks."""
    if default_lanes(2) < 2:
        pytest.skip("a GPU may be visible here, so grading judges in one process, not in limited forks")
    source = (ROOT / "solutions" / "fashion_mnist.py").read_text(encoding="utf-8")
    greedy = source.replace("layers.Flatten(),", "layers.Reshape((28, 28, 1)), layers.UpSampling2D(48), "
                                                 "layers.Conv2D(16, 1), layers.GlobalAveragePooling2D(),")
    assert greedy != source
    (tmp_path / "fashion_mnist.py").write_text(greedy, encoding="utf-8")
    out = tmp_path / "results.json"
    done = run_cli("grade", str(tmp_path / "fashion_mnist.py"), "--threads", "2", "--memory-mb", "1536",
                   "--lang", "en", "--json", str(out), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    tests = {t["extra_data"]["check_id"]: t for t in json.loads(out.read_text(encoding="utf-8"))["tests"]}
    stopped = {check for check, t in tests.items() if "1536 MiB of memory" in t["output"]}
    assert "dense_trains" in stopped and all(tests[c]["extra_data"]["outcome"] == "error" for c in stopped)
    assert all(t["status"] == "passed" for check, t in tests.items() if not check.startswith("dense")), tests


def test_no_more_than_lanes_judge_at_once(tmp_path):
    def judge_marking(check):
        mark = tmp_path / f"running-{os.getpid()}"
        mark.touch()
        time.sleep(0.3)
        at_once = len(list(tmp_path.glob("running-*")))
        mark.unlink()
        return [_passed(check, str(at_once))]

    checks = [_check(f"c{i}") for i in range(5)]
    with ForkedJudges(2) as judges:
        for check in checks:
            judges.submit("demo", [check], lambda check=check: judge_marking(check))
        seen = [int(item.results[0].message) for item in judges.drain()]
    assert len(seen) == 5 and max(seen) == 2


def test_an_interrupted_grading_leaves_no_judge_running():
    check = _check("forever")
    with pytest.raises(KeyboardInterrupt):
        with ForkedJudges(2) as judges:
            judges.submit("demo", [check], lambda: (time.sleep(600), [])[1])
            pid = next(iter(judges._running.values())).pid
            raise KeyboardInterrupt
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped: killed and waited for
    assert not os.path.exists(f"/proc/{pid}")


def test_one_judge_where_there_is_one_thread_or_a_gpu(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert default_lanes(1) == 1
    assert default_lanes(2) == 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setattr("autograder.host.forked_judges._gpu_may_be_visible", lambda: True)
    assert default_lanes(4) == 1


@pytest.mark.slow
def test_judged_in_two_forks_or_in_this_process_a_submission_gets_the_same_verdicts(tmp_path):
    """``grade`` with two threads judges in forked judges; with one, in its own process, as grade-all does."""
    if default_lanes(2) < 2:
        pytest.skip("a GPU may be visible here, so grading judges in one process whatever the threads")
    source = (ROOT / "solutions" / "gap.py").read_text(encoding="utf-8")
    mistaken = source.replace('layers.Dense(1, activation="sigmoid"),  # কুকুর',
                              'layers.Dense(1, activation="softmax"),  # কুকুর')
    assert mistaken != source
    (tmp_path / "gap.py").write_text(mistaken, encoding="utf-8")
    verdicts = {}
    for threads in ("1", "2"):
        out = tmp_path / f"threads{threads}.json"
        done = run_cli("grade", str(tmp_path / "gap.py"), "--threads", threads, "--reveal-hidden", "--lang", "en",
                       "--json", str(out), timeout=300)
        assert done.returncode in (0, 1), done.stderr[-3000:]
        tests = json.loads(out.read_text(encoding="utf-8"))["tests"]
        verdicts[threads] = [(t["name"], t["score"], t["status"], t["output"]) for t in tests]
    assert verdicts["1"] == verdicts["2"]
    statuses = {status for _, _, status, _ in verdicts["2"]}
    assert statuses == {"passed", "failed"}, statuses  # the mistake shows, and the rest still passes


def test_a_process_whose_tensorflow_has_run_is_not_forked():
    """TensorFlow's runtime threads do not survive a fork: a process that started them judges in itself."""
    code = ("from autograder.host.forked_judges import tensorflow_has_run as ran\n"
            "import tensorflow, keras\n"
            "before = ran()\n"
            "keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])\n"
            "print(before, ran())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.stdout.split() == ["False", "True"], done.stderr[-2000:]


def _command_line(process: psutil.Process) -> list[str] | None:
    try:
        return process.cmdline()
    except psutil.Error:  # done, not yet reaped
        return None


def test_ctrl_c_during_forked_judging_stops_every_judge(tmp_path):
    """Ctrl-C reaches the terminal's whole group: the grading process stops, its judges with it, quietly, and
    nothing they wrote (models loaded for checks, about 100 MB each for transfer) stays in the temporary folder."""
    if default_lanes(2) < 2:
        pytest.skip("a GPU may be visible here, so grading judges in one process")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    process = subprocess.Popen([sys.executable, "-m", "autograder", "grade", str(ROOT / "solutions" / "transfer.py"),
                                "--threads", "2", "--lang", "en"], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True,
                               env={**os.environ, "TMPDIR": str(scratch)},
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        grader = psutil.Process(process.pid)
        deadline, judges = time.monotonic() + 240, []
        # forked judges (children with the grading process's own command line), one with a model loaded
        while not (judges and any(scratch.rglob("ag-model-*"))):
            assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()
            judges = [child for child in grader.children() if _command_line(child) == grader.cmdline()]
            time.sleep(0.1)
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, output[-3000:]
    assert not [judge.pid for judge in judges if psutil.pid_exists(judge.pid)]
    assert "Traceback" not in output, output[-3000:]
    assert sorted(path.name for path in scratch.iterdir()) == []


class _Lanes:
    """A stand-in for ForkedJudges that records what is submitted, with as many free lanes as the test says."""

    def __init__(self, free: int):
        self.free, self.submitted = free, []

    def free_lanes(self) -> int:
        return self.free

    def submit(self, assignment, checks, judge):
        self.submitted.append((assignment, [check.id for check in checks], sorted(judge.args[2])))


def _dispatch_assignment():
    from autograder.core.spec import Assignment

    assignment = Assignment("demo", tr("a demo"), ("f",))
    for probe in ("first", "second"):
        assignment.probe(probe, uses="f")
    checks = [("shape", "first", None), ("trains", "first", 0.5), ("flags", "second", None),
              ("names", "second", None), ("also_trains", "second", 0.7)]
    assignment.checks = [Check(check_id, tr("a check"), 1.0, probe, lambda evidence, ctx: None, threshold=threshold)
                         for check_id, probe, threshold in checks]
    return assignment


def _probe_done(probe):
    from autograder.core.outcomes import ProbeStatus
    from autograder.host.runner import ProbeDone

    return ProbeDone("demo", probe, ProbeStatus("ok", ""), object())


@pytest.mark.parametrize("free", [1, 0])
def test_a_training_run_is_judged_as_soon_as_its_probe_is_done_and_every_check_once(free):
    """A check with a threshold goes to a judge of its own as soon as the worker has finished its probe; the
    other checks go as soon as a lane is free, else all together once the worker is done with the assignment."""
    from autograder.host.grading import _ForkedDispatch

    lanes = _Lanes(free)
    dispatch = _ForkedDispatch(lanes, {"demo": _dispatch_assignment()}, lambda *args: [])
    dispatch.probe_done(_probe_done("first"))
    assert lanes.submitted[0] == ("demo", ["trains"], ["first"])  # before the worker ran the next probe
    dispatch.probe_done(_probe_done("second"))
    dispatch.assignment_done("demo")
    if free:
        assert lanes.submitted == [("demo", ["trains"], ["first"]), ("demo", ["shape"], ["first"]),
                                   ("demo", ["also_trains"], ["second"]),
                                   ("demo", ["flags", "names"], ["second"])]
    else:
        assert lanes.submitted == [("demo", ["trains"], ["first"]), ("demo", ["also_trains"], ["second"]),
                                   ("demo", ["shape", "flags", "names"], ["first", "second"])]
    judged = sorted(check for _, checks, _ in lanes.submitted for check in checks)
    assert judged == sorted(check.id for check in _dispatch_assignment().checks)


def test_the_sandbox_hands_over_each_probe_before_its_assignment(tmp_path, grading_context):
    """SandboxSession.run(probes=True): each probe once, as soon as it is done and before its assignment,
    with the very evidence the assignment's item then holds; run() alone yields the assignments only."""
    from autograder import graders
    from autograder.host.runner import Limits, ProbeDone, SandboxSession

    parts = []
    for assignment_id in ("fashion_mnist", "cnn"):
        shutil.copyfile(ROOT / "exercises" / f"{assignment_id}.py", tmp_path / f"{assignment_id}.py")
        parts.append((graders.load(assignment_id), tmp_path / f"{assignment_id}.py"))
    with SandboxSession(parts, seed=grading_context.seed, limits=Limits(step_timeout=120)) as session:
        items = list(session.run(probes=True))
    done = {}
    for item in items:
        if isinstance(item, ProbeDone):
            assert (item.assignment, item.probe) not in done
            done[item.assignment, item.probe] = item
            continue
        aid, observed = item
        assert sorted(observed) == sorted(graders.load(aid).probes)
        for probe, (status, evidence) in observed.items():
            assert done[aid, probe].status == status and done[aid, probe].evidence is evidence
            assert status.state == "not_attempted"  # the stubs
    assert [item[0] for item in items if not isinstance(item, ProbeDone)] == ["fashion_mnist", "cnn"]
    assert len(done) == sum(len(assignment.probes) for assignment, _ in parts)


def test_checks_of_several_probes_judged_together_and_stopped_are_judged_again_probe_by_probe():
    """With every lane busy, probes' checks wait and go to one judge together; when one probe's model makes that
    judge reach its memory limit, the other probe's checks keep their marks (judged again alone)."""
    from autograder.host.grading import _ForkedDispatch

    baseline = psutil.Process().memory_info().rss / 2**20

    def judge_list(aid, checks, observed):
        if any(check.probe == "first" for check in checks) and not all(c.threshold for c in checks):
            _hoard_memory()
        time.sleep(1.0 if checks[0].threshold else 0)  # the training runs keep the one lane busy
        return [_passed(check) for check in checks]

    assignment = _dispatch_assignment()
    with ForkedJudges(1, JudgeLimits(cpu_seconds=30, memory_mb=int(baseline) + 300)) as judges:
        dispatch = _ForkedDispatch(judges, {"demo": assignment}, judge_list)
        dispatch.probe_done(_probe_done("first"))
        dispatch.probe_done(_probe_done("second"))
        dispatch.assignment_done("demo")
        finished = dispatch.settled()
    results = {result.check_id: result for item in finished for result in item.results}
    assert sorted(results) == sorted(check.id for check in assignment.checks)
    assert {c for c, r in results.items() if r.outcome == Outcome.PASSED} == {"trains", "flags", "names",
                                                                             "also_trains"}, results
    assert results["shape"].outcome == Outcome.ERROR and "MiB of memory" in render(results["shape"].message, "en")
