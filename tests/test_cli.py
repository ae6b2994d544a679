"""The real command line, in a subprocess: reference solutions, stubs, JSON contract, usage errors."""
import json

import jsonschema
import pytest

from autograder import graders
from autograder.publish.report import SCHEMA_PATH
from conftest import ROOT, run_cli

SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
COURSE_MAX = sum(graders.load(a).max_score for a in graders.ASSIGNMENT_IDS)


# The tests that read the graded reference share one grading run: keep them in one test process, and
# keep the run for the session (xdist may interleave other modules, which ends a module-scoped fixture).
SHARES_REFERENCE = pytest.mark.xdist_group("cli_reference")


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "results.json"
    completed = run_cli("grade", str(ROOT / "solutions"), "--json", str(out))
    return completed, json.loads(out.read_text(encoding="utf-8"))


@SHARES_REFERENCE
def test_reference_solutions_get_full_marks(reference):
    completed, results = reference
    assert completed.returncode == 0, completed.stderr
    assert results["score"] == results["max_score"] > 0
    assert {test["tags"][0] for test in results["tests"]} == set(graders.ASSIGNMENT_IDS)
    assert all(test["status"] == "passed" for test in results["tests"])
    assert f"Total: {COURSE_MAX:g}/{COURSE_MAX:g}" in completed.stdout


@SHARES_REFERENCE
def test_results_json_follows_the_documented_schema(reference):
    _, results = reference
    jsonschema.validate(results, SCHEMA)
    assert sum(test["max_score"] for test in results["tests"]) == results["max_score"]


@SHARES_REFERENCE
def test_schema_rejects_a_malformed_result(reference):
    _, results = reference
    broken = json.loads(json.dumps(results))
    broken["tests"][0]["status"] = "not_attempted"  # Gradescope knows only passed/failed
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


def test_stubs_score_zero_as_not_attempted(tmp_path):
    out = tmp_path / "results.json"
    completed = run_cli("grade", str(ROOT / "exercises"), "--json", str(out))
    assert completed.returncode == 0, completed.stderr
    results = json.loads(out.read_text(encoding="utf-8"))
    jsonschema.validate(results, SCHEMA)
    assert results["score"] == 0 and results["max_score"] == COURSE_MAX
    for test in results["tests"]:
        assert test["extra_data"]["outcome"] == "not_attempted", test
        assert "not implemented yet" in test["output"]
        assert not test["extra_data"]["grader_fault"]


def test_single_file_with_assignment_option(tmp_path):
    single = tmp_path / "my_homework.py"
    single.write_text((ROOT / "solutions" / "fashion_mnist.py").read_text(encoding="utf-8"), encoding="utf-8")
    completed = run_cli("grade", str(single), "--assignment", "fashion_mnist", "--timeout", "120")
    assert completed.returncode == 0, completed.stderr
    full = f"{sum(c.points for c in graders.load('fashion_mnist').checks):g}"
    assert f"Total: 0/{full}" in completed.stdout  # the file name does not match, so nothing is found
    renamed = tmp_path / "fashion_mnist.py"
    single.rename(renamed)
    completed = run_cli("grade", str(renamed))
    assert completed.returncode == 0 and f"Total: {full}/{full}" in completed.stdout, completed.stdout[-2000:]


@pytest.mark.parametrize("args", [["grade", "does/not/exist"], ["grade", "README.md"], ["grade", ".", "--timeout", "0"]])
def test_usage_errors_exit_nonzero_with_a_message(args):
    completed = run_cli(*args)
    assert completed.returncode == 2
    assert "error" in completed.stderr.lower()


@pytest.mark.slow
def test_grade_applies_the_course_points_threshold_and_language(tmp_path):
    config = tmp_path / "course.toml"
    config.write_text('[course]\nlanguage = "bn"\n[points.fashion_mnist]\ndense_layers = 4\n'
                      "[thresholds]\nfashion_mnist = 0.99\n", encoding="utf-8")
    out = tmp_path / "results.json"
    completed = run_cli("grade", str(ROOT / "solutions" / "fashion_mnist.py"), "--config", str(config),
                        "--json", str(out))
    assert completed.returncode == 0, completed.stderr
    results = json.loads(out.read_text(encoding="utf-8"))
    jsonschema.validate(results, SCHEMA)
    by_id = {t["extra_data"]["check_id"]: t for t in results["tests"]}
    assert results["max_score"] == graders.load("fashion_mnist").max_score + 2
    assert by_id["dense_layers"]["score"] == 4
    trains = by_id["dense_trains"]
    assert trains["score"] == 0 and "99%" in trains["name"] and "99%" in trains["output"]
    assert "প্রত্যাশিত" in trains["output"] and "মোট" in completed.stdout  # Bengali, from the config
