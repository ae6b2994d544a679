"""Grading a class: every student gets a row and a results.json, whatever their code does."""
import csv
import inspect
import json
import os
import signal
import subprocess
import sys

import jsonschema
import pytest

from autograder import graders
from autograder.classroom.grade_all import BatchOptions, discover, grade_all, write_grades_csv
from autograder.publish.results_json import SCHEMA_PATH
from conftest import ROOT, start_interruptible
from corpus import BASES, SLEEPS_IN_BUILD

ASSIGNMENT = "fashion_mnist"
MAXIMUM = graders.load(ASSIGNMENT).max_score
SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))

# A hang that waits rather than spins: the step limit is wall time, and a spinning one (tests/test_bad_submissions.py)
# would take a core from the tests running beside this one for the whole limit.
HANG = SLEEPS_IN_BUILD
HOG = BASES[ASSIGNMENT].replace("def normalize(images, labels):\n",
                                "def normalize(images, labels):\n    hoard = bytearray(3 * 2**30)\n")
# A mistake that fails a hidden check (training stops inside model.fit) as well as visible ones.
READS_ACC = BASES[ASSIGNMENT].replace('logs.get("accuracy", 0.0)', 'logs.get("acc", 0.0)')
# A visible mistake (the layer stack) and the feedback it gets: the stacks side by side.
WRONG = BASES[ASSIGNMENT].replace("Dense(128", "Dense(64")
CRASH = BASES[ASSIGNMENT].replace("    def on_epoch_end(self, epoch, logs=None):\n",
                                  "    def on_epoch_end(self, epoch, logs=None):\n        import os\n        os._exit(3)\n")


def make_class(root, students: dict[str, str]):
    """students: id -> source; an id ending in .py is a single-file student, else a folder."""
    root.mkdir(parents=True, exist_ok=True)
    for student, source in students.items():
        if student.endswith(".py"):
            (root / student).write_text(source, encoding="utf-8")
        else:
            (root / student).mkdir()
            (root / student / f"{ASSIGNMENT}.py").write_text(source, encoding="utf-8")
    return root


def results(out, student):
    payload = json.loads((out / student / "results.json").read_text(encoding="utf-8"))
    jsonschema.validate(payload, SCHEMA)
    return payload


def outcomes(payload):
    return {t["extra_data"]["check_id"]: t["extra_data"]["outcome"] for t in payload["tests"]}


def rows(out):
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


@pytest.mark.slow
def test_a_mixed_class_is_graded_and_the_bad_ones_cost_only_themselves(tmp_path):
    solution = (ROOT / "solutions" / f"{ASSIGNMENT}.py").read_text(encoding="utf-8")
    stub = (ROOT / "exercises" / f"{ASSIGNMENT}.py").read_text(encoding="utf-8")
    submissions = make_class(tmp_path / "class", {"ada": solution, "bob.py": stub, "hang": HANG,
                                                  "hog": HOG, "crash": CRASH, "wes": WRONG,
                                                  "eve": READS_ACC})
    out = tmp_path / "out"
    options = BatchOptions(assignments=(ASSIGNMENT,), workers=2, step_timeout=20, memory_mb=1536)
    report = grade_all(submissions, out, options)
    assert sorted(s.student for s in report.summaries) == ["ada", "bob", "crash", "eve", "hang", "hog", "wes"]
    table = rows(out)
    assert set(table) == {"ada", "bob", "crash", "eve", "hang", "hog", "wes"}
    assert float(table["ada"]["total"]) == MAXIMUM == float(table["ada"]["max"]) and table["ada"]["status"] == "ok"
    assert float(table["bob"]["total"]) == 0 and set(outcomes(results(out, "bob")).values()) == {"not_attempted"}
    hang = outcomes(results(out, "hang"))
    assert {c for c, o in hang.items() if o == "timeout"} == {c for c in hang if c.startswith("dense")}
    assert all(o == "passed" for c, o in hang.items() if not c.startswith("dense"))
    assert table["hang"]["status"] == "timeout"
    hog = results(out, "hog")
    lost = {t["extra_data"]["check_id"]: t["output"] for t in hog["tests"] if t["extra_data"]["outcome"] != "passed"}
    assert lost and all(c.startswith("normalize") for c in lost)
    assert any("more than 1536 MiB of memory" in message for message in lost.values()), lost
    crash = outcomes(results(out, "crash"))
    assert {c for c, o in crash.items() if o != "passed"} and all(
        c.startswith("callback") for c, o in crash.items() if o != "passed")
    wes = outcomes(results(out, "wes"))
    assert {c for c, o in wes.items() if o != "passed"} == {"dense_parameter_count", "dense_layers"}
    for student in table:
        assert (out / student / "results.json").is_file()
        html_page = (out / student / "feedback.html").read_text(encoding="utf-8")
        assert student in html_page and html_page.rstrip().endswith("</html>")
        assert (out / student / "feedback.md").read_text(encoding="utf-8").startswith("# Feedback")
    wes_page = (out / "wes" / "feedback.html").read_text(encoding="utf-8")
    assert 'class="layer differs">Dense(64)' in wes_page and "<svg" in wes_page  # stacks, training curve
    summary = (out / "summary.html").read_text(encoding="utf-8")
    errors = summary[summary.index('id="errors"'):]
    assert all(name in errors for name in ("hang", "hog", "crash")) and "ada" not in errors
    most_failed = summary[summary.index('id="most-failed"'):summary.index('id="times"')]
    assert "dense_layers" in most_failed
    assert_hidden_checks_do_not_leak(out / "eve", expected_hidden={"callback_stops_real_fit"})


def assert_hidden_checks_do_not_leak(folder, expected_hidden):
    """A failed hidden check's message (it states the expectation), hint and grader code stay out of feedback."""
    record = json.loads((folder / "record.json").read_text(encoding="utf-8"))
    checks = {c["check_id"]: c for a in record["assignments"] for c in a["checks"]}
    failed_hidden = {i for i, c in checks.items() if c["hidden"] and c["outcome"] == "failed"}
    assert failed_hidden == expected_hidden
    declared = {c.id: c for c in graders.load(ASSIGNMENT).checks}
    pages = {name: (folder / name).read_text(encoding="utf-8") for name in ("feedback.html", "feedback.md",
                                                                            "results.json")}
    for check_id in failed_hidden:
        check = checks[check_id]
        secrets = [*check["message"].values(), declared[check_id].hint.render("en"), declared[check_id].hint.render("bn")]
        source = inspect.getsource(declared[check_id].verify).splitlines()
        secrets += [line.strip() for line in source if len(line.strip()) > 25]
        for name, page in pages.items():
            for secret in secrets:
                assert secret not in page, f"{check_id}: {secret!r} leaked into {name}"
            shown = page if name != "results.json" else json.dumps(json.loads(page), ensure_ascii=False)
            assert check["title"]["en"] in shown  # the name and the score are shown


def test_a_submission_over_its_time_is_recorded_as_timeout_with_zero_of_the_real_maximum(tmp_path):
    submissions = make_class(tmp_path / "class", {"slow": BASES[ASSIGNMENT]})
    out = tmp_path / "out"
    report = grade_all(submissions, out, BatchOptions(assignments=(ASSIGNMENT,), workers=1, submission_timeout=1))
    assert [s.status for s in report.summaries] == ["timeout"]
    payload = results(out, "slow")
    assert payload["score"] == 0 and payload["max_score"] == MAXIMUM
    assert set(outcomes(payload).values()) == {"timeout"}
    assert "longer than 1 s" in payload["tests"][0]["output"]
    assert rows(out)["slow"]["status"] == "timeout"


def test_a_grader_that_dies_without_a_result_fails_closed(tmp_path, grading_processes_exit_3):
    submissions = make_class(tmp_path / "class", {"x": BASES[ASSIGNMENT]})
    report = grade_all(submissions, tmp_path / "out", BatchOptions(assignments=(ASSIGNMENT,), workers=1))
    assert [s.status for s in report.summaries] == ["failed"]
    payload = results(tmp_path / "out", "x")
    assert payload["score"] == 0 and payload["max_score"] == MAXIMUM
    assert set(outcomes(payload).values()) == {"error"} and "exit code 3" in payload["tests"][0]["output"]


def test_the_next_student_is_graded_while_the_last_ones_outputs_are_written(tmp_path, monkeypatch,
                                                                              grading_processes_exit_3):
    """A grading slot is free once the grading process ends: drawing a student's feedback does not hold it."""
    import threading
    import time

    from autograder.classroom import grade_all as module

    events, next_started = [], threading.Event()
    grade_in_child, write_outputs = module.grade_in_child, module.write_outputs

    def graded(target, *args, **kwargs):
        events.append(("grading", target.name))
        if target.name == "b":
            next_started.set()
        return grade_in_child(target, *args, **kwargs)

    def written(folder, student, *args):
        if student == "a":  # held until the next student's grading has started (at most 60 s)
            next_started.wait(timeout=60)
        events.append(("written", student))
        return write_outputs(folder, student, *args)

    monkeypatch.setattr(module, "grade_in_child", graded)
    monkeypatch.setattr(module, "write_outputs", written)
    begun = time.monotonic()
    report = grade_all(make_class(tmp_path / "class", {"a": BASES[ASSIGNMENT], "b": BASES[ASSIGNMENT]}),
                       tmp_path / "out", BatchOptions(assignments=(ASSIGNMENT,), workers=1))
    assert time.monotonic() - begun < 50, "the first student's outputs waited for the next grading to start"
    assert sorted(s.student for s in report.summaries) == ["a", "b"] and set(rows(tmp_path / "out")) == {"a", "b"}
    assert events.index(("grading", "b")) < events.index(("written", "a")), events


def test_a_feedback_page_the_kit_fails_to_draw_costs_neither_the_grade_nor_the_class(tmp_path, monkeypatch, capsys):
    """Drawing a page from what a student's code returned ended grade-all once (a metric name matplotlib could
    not draw): whatever the kit fails to draw, the grade is written and the fault goes to the instructor."""
    from autograder.classroom import grade_all as module
    from autograder.core.i18n import literal

    def broken(result, **page):
        raise ValueError("a fault of the kit's own")

    monkeypatch.setattr(module, "feedback_html", broken)
    options = BatchOptions(assignments=(ASSIGNMENT,), workers=1)
    result = module.failed_result("ada", options, "error", literal("its worker ended"))
    summary = module.SubmissionSummary("ada", "failed", 0.0, result.max_score, 0.0, 0.0)
    module.write_outputs(tmp_path / "ada", "ada", result, summary, options)
    assert results(tmp_path, "ada")["max_score"] == MAXIMUM
    assert "could not be drawn" in (tmp_path / "ada" / "feedback.html").read_text(encoding="utf-8")
    assert (tmp_path / "ada" / "feedback.md").read_text(encoding="utf-8").startswith("# Feedback")
    assert "a fault of the kit's own" in capsys.readouterr().err


def test_discover_takes_folders_and_files_and_skips_hidden_entries(tmp_path):
    make_class(tmp_path, {"b": "x = 1", "a.py": "x = 1"})
    (tmp_path / ".DS_Store").write_text("", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("", encoding="utf-8")
    assert [(s.id, s.path.name) for s in discover(tmp_path)] == [("a", "a.py"), ("b", "b")]
    with pytest.raises(FileNotFoundError, match="Received"):
        discover(tmp_path / "missing")


def test_grades_csv_has_one_row_per_student_and_documented_columns(tmp_path):
    for student, score, extra in (("s1", 3.0, {"extra_data": {"isolation": "bwrap"}}), ("s2", 0.5, {})):
        (tmp_path / student).mkdir()
        (tmp_path / student / "results.json").write_text(json.dumps({
            **extra, "score": score, "max_score": 4.0, "tests": [
                {"score": score, "max_score": 4.0, "tags": ["cnn", "c1"], "extra_data": {"outcome": "passed"}}]}),
            encoding="utf-8")
    write_grades_csv(tmp_path, ("fashion_mnist", "cnn"))
    text = (tmp_path / "grades.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "student_id,fashion_mnist,cnn,total,max,status,isolation"
    assert text.splitlines()[1:] == ["s1,0,3,3,4,ok,bwrap", "s2,0,0.5,0.5,4,ok,unknown"]


@pytest.mark.slow
def test_an_interrupted_run_loses_nothing_and_resume_finishes_it(tmp_path):
    solution = (ROOT / "solutions" / f"{ASSIGNMENT}.py").read_text(encoding="utf-8")
    stub = (ROOT / "exercises" / f"{ASSIGNMENT}.py").read_text(encoding="utf-8")
    # s2, the solution, takes long enough to be interrupted in the middle; the stubs around it are quick.
    submissions = make_class(tmp_path / "class", {"s1": stub, "s2": solution, "s3": stub})
    out = tmp_path / "out"
    command = [sys.executable, "-m", "autograder", "grade-all", str(submissions), "--out", str(out),
               "--assignment", ASSIGNMENT, "--workers", "1"]
    process = start_interruptible(command, out / "s1" / "results.json")
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output
    assert "--resume" in output
    done = {p.parent.name for p in out.glob("*/results.json")}
    assert "s1" in done and done != {"s1", "s2", "s3"}
    assert set(rows(out)) == done  # grades.csv lists exactly what finished
    first = (out / "s1" / "results.json").stat().st_mtime_ns
    resumed = subprocess.run(command + ["--resume"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert (out / "s1" / "results.json").stat().st_mtime_ns == first  # not graded again
    table = rows(out)
    assert {student: float(row["total"]) for student, row in table.items()} == {"s1": 0, "s2": MAXIMUM, "s3": 0}


HANG_AT_IMPORT = "class Stuck:\n    while True:\n        pass\n"


@pytest.mark.slow
def test_grade_all_applies_the_course_toml_to_every_students_grading_process(tmp_path):
    """The course's step time limit and seed reach each student's grading child: a hang fails within the course's
    2 s (not the default 60 s), and the record says which seed and limits were applied."""
    submissions = make_class(tmp_path / "class", {"stuck": HANG_AT_IMPORT})
    config = tmp_path / "course.toml"
    config.write_text('[course]\nlanguage = "en"\nseed = 7\n[limits]\nstep_timeout = 2\nmemory_mb = 2048\n',
                      encoding="utf-8")
    out = tmp_path / "out"
    completed = subprocess.run([sys.executable, "-m", "autograder", "grade-all", str(submissions), "--out", str(out),
                                "--config", str(config), "--assignment", ASSIGNMENT, "--workers", "1"],
                               cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    payload = results(out, "stuck")
    assert set(outcomes(payload).values()) == {"timeout"}
    assert "did not finish within 2 s" in payload["tests"][0]["output"]
    applied = json.loads((out / "stuck" / "record.json").read_text(encoding="utf-8"))["settings"]
    assert (applied["seed"], applied["step_timeout"], applied["memory_mb"]) == (7, 2.0, 2048)


def test_grade_all_grades_only_the_courses_assignments(tmp_path, grading_processes_exit_3):
    """A lost submission (here: no grading child can start) scores zero of the course's assignments only."""
    submissions = make_class(tmp_path / "class", {"x": BASES[ASSIGNMENT]})
    report = grade_all(submissions, tmp_path / "out", BatchOptions(assignments=("cnn", "gap"), workers=1))
    payload = results(tmp_path / "out", "x")
    assert {t["tags"][0] for t in payload["tests"]} == {"cnn", "gap"}
    assert payload["max_score"] == graders.load("cnn").max_score + graders.load("gap").max_score
    assert report.summaries[0].max_score == payload["max_score"]
    assert list(rows(tmp_path / "out")["x"])[:3] == ["student_id", "cnn", "gap"]


@pytest.mark.slow
def test_a_grading_process_killed_at_its_time_limit_leaves_no_temporary_files(tmp_path):
    """Through the CLI: the grading process is SIGKILLed while its sandbox's job folder exists; the
    folders it made (its TMPDIR) go with it, so a class of hangs cannot fill the grader's disk."""
    submissions = make_class(tmp_path / "class", {"hangs": SLEEPS_IN_BUILD})
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = subprocess.run([sys.executable, "-m", "autograder", "grade-all", str(submissions), "--out",
                           str(tmp_path / "out"), "--assignment", ASSIGNMENT, "--workers", "1", "--timeout", "15",
                           "--step-timeout", "600"], capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env={**os.environ, "TMPDIR": str(scratch)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert rows(tmp_path / "out")["hangs"]["status"] == "timeout"
    assert sorted(p.name for p in scratch.iterdir()) == []
