"""The real command line, in a subprocess: reference solutions, stubs, JSON contract, usage errors, settings."""
import json
import os
import subprocess
import sys

import jsonschema
import pytest

from autograder import graders
from autograder.core.settings import SETTING_NAMES
from autograder.publish.results_json import SCHEMA_PATH
from conftest import ROOT, SHARES_GRADED_SOLUTIONS, run_cli

SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
COURSE_MAX = sum(graders.load(a).max_score for a in graders.ASSIGNMENT_IDS)


@pytest.fixture
def reference(graded_solutions):
    completed, out = graded_solutions
    return completed, json.loads(out.read_text(encoding="utf-8"))


@SHARES_GRADED_SOLUTIONS
def test_reference_solutions_get_full_marks(reference):
    completed, results = reference
    assert completed.returncode == 0, completed.stderr
    assert results["score"] == results["max_score"] > 0
    assert {test["tags"][0] for test in results["tests"]} == set(graders.ASSIGNMENT_IDS)
    assert all(test["status"] == "passed" for test in results["tests"])
    assert f"Total: {COURSE_MAX:g}/{COURSE_MAX:g}" in completed.stdout


@SHARES_GRADED_SOLUTIONS
def test_results_json_follows_the_documented_schema(reference):
    _, results = reference
    jsonschema.validate(results, SCHEMA)
    assert sum(test["max_score"] for test in results["tests"]) == results["max_score"]


@SHARES_GRADED_SOLUTIONS
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


HANG_AT_IMPORT = "class Stuck:\n    while True:\n        pass\n"


@pytest.mark.slow
def test_grade_applies_the_course_limits_and_seed(tmp_path):
    """`grade --config` honours [limits] and [course] seed, not only points and language: a hang at import fails
    within the course's 2 s, and the record says which seed and limits applied."""
    (tmp_path / "hang").mkdir()
    (tmp_path / "hang" / "fashion_mnist.py").write_text(HANG_AT_IMPORT, encoding="utf-8")
    config = tmp_path / "course.toml"
    config.write_text('[course]\nlanguage = "en"\nseed = 7\n[limits]\nstep_timeout = 2\nmemory_mb = 2048\n',
                      encoding="utf-8")
    out, record = tmp_path / "results.json", tmp_path / "record.json"
    completed = run_cli("grade", str(tmp_path / "hang"), "--assignment", "fashion_mnist", "--config", str(config),
                        "--json", str(out), "--record", str(record))
    assert completed.returncode == 0, completed.stderr
    results = json.loads(out.read_text(encoding="utf-8"))
    assert {t["extra_data"]["outcome"] for t in results["tests"]} == {"timeout"}
    assert "did not finish within 2 s" in results["tests"][0]["output"]
    applied = json.loads(record.read_text(encoding="utf-8"))["settings"]
    assert (applied["seed"], applied["step_timeout"], applied["memory_mb"]) == (7, 2.0, 2048)


def _show(tmp_path, *args, **env):
    return subprocess.run([sys.executable, "-m", "autograder", "config", "--show", *args], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120,
                          env={**{k: v for k, v in os.environ.items() if not k.startswith("TF2_KIT_")}, **env})


def _rows(output: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in output.splitlines() if line and not line.startswith(" ")}


def test_config_show_prints_every_setting_its_value_and_its_origin(tmp_path):
    config = tmp_path / "my-course.toml"
    config.write_text("[course]\nseed = 7\n[limits]\nstep_timeout = 30\n[points.gap]\ngap_trains = 5\n",
                      encoding="utf-8")
    completed = _show(tmp_path, "--config", str(config), TF2_KIT_STEP_TIMEOUT="25", TF2_KIT_LANGUAGE="bn")
    assert completed.returncode == 0, completed.stderr
    rows = _rows(completed.stdout)
    assert set(SETTING_NAMES) <= set(rows)
    assert rows["seed"][1:3] == ["7", str(config)]                     # course.toml
    assert rows["step_timeout"][1:3] == ["25", "TF2_KIT_STEP_TIMEOUT"]  # the environment beats course.toml
    assert rows["language"][1:3] == ["bn", "TF2_KIT_LANGUAGE"]
    assert rows["data"][1:3] == ["synthetic", "default"]
    assert rows["memory_mb"][1:4] == ["4096", "default", "TF2_KIT_MEMORY_MB"]
    assert rows["points"][1:5] == ["gap.gap_trains", "=", "5", str(config)]
    assert f"course configuration: {config} (from --config)" in completed.stdout


def test_config_show_finds_the_working_folders_course_toml_unless_one_is_named(tmp_path):
    (tmp_path / "course.toml").write_text("[course]\nseed = 3\n", encoding="utf-8")
    assert _rows(_show(tmp_path).stdout)["seed"][1:3] == ["3", str(tmp_path / "course.toml")]
    named = tmp_path / "other.toml"
    named.write_text("[course]\nseed = 4\n", encoding="utf-8")
    assert _rows(_show(tmp_path, TF2_KIT_CONFIG=str(named)).stdout)["seed"][1:3] == ["4", str(named)]


def test_config_show_reports_every_bad_value_of_every_source_at_once(tmp_path):
    config = tmp_path / "course.toml"
    config.write_text("[limits]\nmemory_mb = 12\nworkers = 0\n", encoding="utf-8")
    completed = _show(tmp_path, "--config", str(config), TF2_KIT_SEED="-1", TF2_KIT_STEP_TIMEOUT="soon")
    assert completed.returncode == 2
    assert completed.stderr.splitlines() == [
        f"error: {config}: [limits] memory_mb must be an integer of at least 256. Received: 12",
        f"{config}: [limits] workers must be an integer of at least 1. Received: 0",
        "TF2_KIT_SEED: seed must be an integer of at least 0. Received: -1",
        'TF2_KIT_STEP_TIMEOUT: step_timeout must be a positive number of seconds. Received: "soon"']


def test_grade_reports_bad_settings_of_the_command_line_and_environment_together():
    completed = subprocess.run([sys.executable, "-m", "autograder", "grade", str(ROOT / "exercises"), "--timeout", "0",
                                "--lang", "de"], capture_output=True, text=True, cwd=ROOT, timeout=120,
                               env={**os.environ, "TF2_KIT_MEMORY_MB": "many"})
    assert completed.returncode == 2
    assert completed.stderr.splitlines() == [
        'error: TF2_KIT_MEMORY_MB: memory_mb must be an integer of at least 256. Received: "many"',
        "command line --timeout: step_timeout must be a positive number of seconds. Received: 0",
        'command line --lang: language must be one of en, bn. Received: "de"']
