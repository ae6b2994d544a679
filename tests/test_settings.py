"""One settings chain (defaults, course.toml, environment, command line) and one way to grade in a child process."""
from __future__ import annotations

import dataclasses
import json
import re
import sys
import threading
from pathlib import Path

import pytest

from autograder import graders
from autograder.classroom.grade_all import BatchOptions
from autograder.core.settings import DEFAULTS, SETTING_NAMES, Settings, env_name
from autograder.course.config import CourseConfigError, resolve_settings
from autograder.host import child, isolation
from autograder.host.runner import Limits
from autograder.publish.records import FORMAT
from conftest import ROOT

KIT = ROOT / "autograder"


def course_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "course.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the order, and the origins
def test_each_source_overrides_the_one_before_and_says_so(tmp_path):
    config = course_toml(tmp_path, '[course]\nseed = 1\nlanguage = "bn"\n'
                                   "[limits]\nstep_timeout = 30\nmemory_mb = 2048\nworkers = 3\n")
    environ = {"TF2_KIT_SEED": "2", "TF2_KIT_STEP_TIMEOUT": "20", "TF2_KIT_DATA": "tfds"}
    command_line = {"seed": ("command line --seed", "3"), "workers": ("command line --workers", None)}
    settings = resolve_settings(config=config, environ=environ, command_line=command_line)
    assert (settings.seed, settings.origin("seed")) == (3, "command line --seed")            # beats all
    assert (settings.step_timeout, settings.origin("step_timeout")) == (20.0, "TF2_KIT_STEP_TIMEOUT")
    assert (settings.data, settings.origin("data")) == ("tfds", "TF2_KIT_DATA")                # beats the default
    assert (settings.memory_mb, settings.origin("memory_mb")) == (2048, str(config))          # beats the default
    assert (settings.workers, settings.origin("workers")) == (3, str(config))                 # None: not given
    assert (settings.language, settings.origin("language")) == ("bn", str(config))
    assert (settings.submission_timeout, settings.origin("submission_timeout")) == (900.0, "default")
    assert settings.assignments == graders.ASSIGNMENT_IDS and settings.origin("assignments") == "default"
    assert (settings.config, settings.origin("config")) == (str(config), "--config")


def test_without_any_source_every_setting_is_its_default():
    settings = resolve_settings(environ={})
    assert all(settings.origin(name) == "default" for name in SETTING_NAMES)
    assert dataclasses.replace(settings, assignments=None, kit_requirement=None) == DEFAULTS
    assert settings.config is None and settings.origin("config") == "default"


def test_the_course_toml_is_the_named_one_else_the_environments_else_the_working_folders(tmp_path):
    here = course_toml(tmp_path, "[course]\nseed = 1\n")
    named = tmp_path / "named.toml"
    named.write_text("[course]\nseed = 2\n", encoding="utf-8")
    chosen = tmp_path / "chosen.toml"
    chosen.write_text("[course]\nseed = 3\n", encoding="utf-8")
    assert resolve_settings(environ={}, working_folder=tmp_path).seed == 1
    assert resolve_settings(environ={}).seed == 0  # grade and the kernel do not look in the working folder
    by_env = resolve_settings(environ={"TF2_KIT_CONFIG": str(named)}, working_folder=tmp_path)
    assert (by_env.seed, by_env.origin("config")) == (2, "TF2_KIT_CONFIG")
    by_option = resolve_settings(config=chosen, environ={"TF2_KIT_CONFIG": str(named)}, working_folder=tmp_path)
    assert (by_option.seed, by_option.config) == (3, str(chosen))
    assert here.is_file()


def test_text_values_are_read_as_the_setting_needs():
    settings = resolve_settings(environ={"TF2_KIT_ASSIGNMENTS": "cnn, gap", "TF2_KIT_MEMORY_MB": "2048",
                                         "TF2_KIT_SUBMISSION_TIMEOUT": "1.5", "TF2_KIT_ISOLATION": "none"})
    assert settings.assignments == ("cnn", "gap")
    assert (settings.memory_mb, settings.submission_timeout, settings.isolation) == (2048, 1.5, "none")
    assert isinstance(settings.submission_timeout, float)


def test_bad_values_of_every_source_are_reported_at_once(tmp_path):
    config = course_toml(tmp_path, '[course]\nlanguage = "de"\n[limits]\nmemory_mb = 12\n')
    with pytest.raises(CourseConfigError) as caught:
        resolve_settings(config=config, environ={"TF2_KIT_SEED": "-1", "TF2_KIT_WORKERS": "lots"},
                         command_line={"step_timeout": ("command line --timeout", "0"),
                                       "isolation": ("command line --isolation", "docker")})
    assert caught.value.problems == [
        f'{config}: [course] language must be one of en, bn. Received: "de"',
        f"{config}: [limits] memory_mb must be an integer of at least 256. Received: 12",
        "TF2_KIT_SEED: seed must be an integer of at least 0. Received: -1",
        'TF2_KIT_WORKERS: workers must be an integer of at least 1. Received: "lots"',
        "command line --timeout: step_timeout must be a positive number of seconds. Received: 0",
        'command line --isolation: isolation must be one of bwrap, uid, none. Received: "docker"']


def test_a_missing_course_file_is_one_more_problem(tmp_path):
    with pytest.raises(CourseConfigError) as caught:
        resolve_settings(environ={"TF2_KIT_CONFIG": str(tmp_path / "gone.toml"), "TF2_KIT_SEED": "x"})
    assert len(caught.value.problems) == 2 and "gone.toml: cannot read the course configuration" in str(caught.value)


def test_the_environment_cannot_reveal_hidden_checks_or_set_tables():
    settings = resolve_settings(environ={"TF2_KIT_REVEAL_HIDDEN": "true", "TF2_KIT_POINTS": "x"})
    assert settings.reveal_hidden is False and settings.origin("reveal_hidden") == "default"
    assert [env_name(name) for name in ("reveal_hidden", "points", "thresholds")] == [None, None, None]
    assert env_name("step_timeout") == "TF2_KIT_STEP_TIMEOUT"
    assert resolve_settings(environ={}, command_line={"reveal_hidden": ("command line --reveal-hidden", True)}
                            ).reveal_hidden is True


def test_a_name_that_is_no_setting_is_refused():
    with pytest.raises(ValueError, match="Received: 'timeout'"):
        resolve_settings(environ={}, command_line={"timeout": ("command line --timeout", "3")})
    with pytest.raises(ValueError, match="Received: 'timeout'"):
        Settings().origin("timeout")
    with pytest.raises(ValueError, match=r"Received: \['timeout'\]"):
        Settings().overridden("a test", timeout=3)


def test_settings_cross_a_process_boundary_as_plain_json(tmp_path):
    config = course_toml(tmp_path, "[points.gap]\ngap_trains = 5\n[thresholds]\ngap = 0.5\n")
    settings = resolve_settings(config=config, environ={"TF2_KIT_ASSIGNMENTS": "gap"})
    again = Settings.from_plain(json.loads(json.dumps(settings.plain())))
    assert again == settings and again.origins == settings.origins and again.config == settings.config
    assert again.assignments == ("gap",) and again.points == {"gap": {"gap_trains": 5.0}}
    with pytest.raises(ValueError, match="not fields of Settings"):
        Settings.from_plain({"seed": 1, "pickle": "no"})


# --------------------------------------------------------------------------- every default in one place
def test_the_runner_and_grade_all_take_their_defaults_from_the_settings():
    assert (Limits().step_timeout, Limits().isolation) == (DEFAULTS.step_timeout, DEFAULTS.isolation)
    assert BatchOptions is Settings
    assert isolation.DEFAULT_LEVEL == DEFAULTS.isolation  # host/isolation.py keeps its own name for it


SETTING_DEFAULT = re.compile(r"\b(step_timeout|submission_timeout|memory_mb|workers)\b[^=\n(]*=\s*[0-9]")


def test_no_default_of_a_limit_is_written_outside_the_settings():
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in sorted(KIT.rglob("*.py")) if path != KIT / "core" / "settings.py"
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if SETTING_DEFAULT.search(line) and "==" not in line]
    assert found == []
    assert SETTING_DEFAULT.search("    step_timeout: float = 60.0  # seconds")  # the pattern finds a default


# --------------------------------------------------------------------------- one way to grade in a child
ARGV_GRADE = re.compile(r"""["']autograder["']\s*,\s*["']grade["']""")
SHELL_GRADE = re.compile(r"(?m)^\s*\S*(?:python|PYTHON)\S*\s+(?:-\S+\s+)*-m\s+autograder\s+grade(?:\s|$)")
MAIN_GRADE = re.compile(r"""main\(\s*\[\s*["']grade["']""")


def hand_built_grade_commands(text: str) -> list[str]:
    """What in ``text`` builds a ``python -m autograder grade`` command: an argv list, a shell line, a main() call."""
    return [match.group(0) for pattern in (ARGV_GRADE, SHELL_GRADE, MAIN_GRADE) for match in pattern.finditer(text)]


def test_no_part_of_the_kit_builds_a_grade_command_line():
    found = {str(path.relative_to(ROOT)): hand_built_grade_commands(path.read_text(encoding="utf-8"))
             for path in sorted(KIT.rglob("*.py")) if path != KIT / "host" / "child.py"}
    assert {path: commands for path, commands in found.items() if commands} == {}


@pytest.mark.parametrize("built", [
    'command = [sys.executable, "-P", "-m", "autograder", "grade"]',
    '[sys.executable, "-m", "autograder",\n "grade", str(submission), "--json", str(results)]',
    '"$PYTHON" -P -m autograder grade "$work/submission" --json "$RESULTS"',
    "python -m autograder grade submission/",
    'main(["grade", str(folder)])',
])
def test_the_search_finds_a_hand_built_grade_command(built):
    assert hand_built_grade_commands(built)


def test_the_search_passes_over_what_only_names_the_command():
    for text in ('commands = {"grade": _grade, "grade-all": _grade_all}',
                 "outside one, grade the file with `python -m autograder grade <file>`",
                 '"$PYTHON" -P -m autograder gradescope-run --root "$AUTOGRADER_ROOT"'):
        assert hand_built_grade_commands(text) == []


FAKE_CHILD = f"""
import json, sys
request = json.load(sys.stdin)
with open(request["record"] + ".request", "w") as handle:
    json.dump(request, handle)
record = {{"format": {FORMAT!r}, "submission": request["submission"], "seconds": 0.5, "isolation": "none",
          "settings": {{"seed": request["settings"]["seed"]}}, "assignments": []}}
with open(request["record"], "w") as handle:
    json.dump(record, handle)
"""


def test_the_child_gets_its_request_as_json_on_one_fixed_argv(tmp_path, monkeypatch):
    assert child.CHILD_ARGV == (sys.executable, "-P", "-m", "autograder.host.child")
    monkeypatch.setattr(child, "CHILD_ARGV", (sys.executable, "-c", FAKE_CHILD))
    settings = resolve_settings(environ={"TF2_KIT_SEED": "7"})
    run = child.GradingRun(threads=2, defer_to=tmp_path / "deferred")
    end = child.grade_in_child(tmp_path / "submission", settings, run, workdir=tmp_path)
    sent = json.loads((tmp_path / f"{child.RECORD_FILE}.request").read_text(encoding="utf-8"))
    assert sent["format"] == child.REQUEST_FORMAT and child.GradingRun.from_plain(sent["run"]) == run
    assert Settings.from_plain(sent["settings"]) == settings
    assert (end.stopped, end.returncode, end.record["settings"]) == (None, 0, {"seed": 7})
    assert end.result.submission == str(tmp_path / "submission") and end.result.settings == {"seed": 7}


@pytest.mark.parametrize("code, stop, expected", [
    ("import time; time.sleep(60)", False, "timeout"),
    ("import time; time.sleep(60)", True, "interrupted"),
])
def test_a_child_past_its_time_or_told_to_stop_is_killed(tmp_path, monkeypatch, code, stop, expected):
    monkeypatch.setattr(child, "CHILD_ARGV", (sys.executable, "-c", code))
    event = threading.Event()
    if stop:
        event.set()
    end = child.grade_in_child(tmp_path, Settings(submission_timeout=0.5), workdir=tmp_path, stop=event)
    assert (end.stopped, end.record) == (expected, None)
    assert end.seconds < 30


def test_a_child_that_writes_no_record_says_how_it_ended(tmp_path, monkeypatch):
    monkeypatch.setattr(child, "CHILD_ARGV", (sys.executable, "-c", "print('the end'); raise SystemExit(3)"))
    (tmp_path / child.RECORD_FILE).write_text("{}", encoding="utf-8")  # a stale record never counts
    end = child.grade_in_child(tmp_path, Settings(), workdir=tmp_path)
    assert (end.stopped, end.record, end.returncode, end.result) == (None, None, 3, None)
    assert "the end" in end.log_tail


def test_the_child_refuses_a_request_that_is_not_one(tmp_path):
    import subprocess

    done = subprocess.run(child.CHILD_ARGV, input='{"format": "pickle"}', capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and "not a grading request" in done.stderr


@pytest.mark.parametrize("run", [
    None, [], {"threads": 1}, {"threads": 0, "tensorflow_on_demand": False, "defer_to": None, "shared_folder": None},
    {"threads": True, "tensorflow_on_demand": False, "defer_to": None, "shared_folder": None},
    {"threads": 2.0, "tensorflow_on_demand": False, "defer_to": None, "shared_folder": None},
    {"threads": 1, "tensorflow_on_demand": "yes", "defer_to": None, "shared_folder": None},
    {"threads": 1, "tensorflow_on_demand": False, "defer_to": 3, "shared_folder": None},
    {"threads": 1, "tensorflow_on_demand": False, "defer_to": None, "shared_folder": None, "extra": 1}])
def test_a_grading_run_is_read_back_only_as_written(run):
    with pytest.raises((ValueError, TypeError)):
        child.GradingRun.from_plain(run)
    good = child.GradingRun(threads=3, tensorflow_on_demand=True, shared_folder=Path("/tmp/x"))
    assert child.GradingRun.from_plain(json.loads(json.dumps(good.plain()))) == good
