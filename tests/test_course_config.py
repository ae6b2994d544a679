"""The course configuration file: the example loads to the defaults, and every bad value is reported clearly."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from autograder import graders
from autograder.core.settings import SETTING_NAMES
from autograder.course.config import (RUN_RULES, SECTIONS, CourseConfigError, default_config, load_config,
                                      parse_config)

EXAMPLE = Path(__file__).resolve().parents[1] / "course.toml"
KIT_REQUIREMENT_RULE = ("[course] kit_requirement must be a pip requirement: a non-empty string on one line, "
                        "without leading or trailing spaces (e.g. a git+https:// URL or a wheel URL).")


def problems_of(text: str) -> list[str]:
    with pytest.raises(CourseConfigError) as caught:
        parse_config(text)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def only_problem(text: str) -> str:
    problems = problems_of(text)
    assert len(problems) == 1, problems
    return problems[0]


def test_example_file_loads_to_the_defaults_but_its_language():
    assert load_config(EXAMPLE) == dataclasses.replace(default_config(), language="bn")


def test_example_overrides_all_load_when_uncommented():
    # Every "# key = value" line in the example is a working override a teacher can uncomment.
    uncommented, count = re.subn(r"(?m)^# (\w+ = )", r"\1", EXAMPLE.read_text(encoding="utf-8"))
    assert count == 11
    config = parse_config(uncommented)
    assert config == dataclasses.replace(default_config(), language="bn", data_dir="/path/to/tensorflow_datasets",
                                         workers=2, cluster_queue="teaching", cluster_image="ghcr.io/you/tf2-kit:1",
                                         points={"fashion_mnist": {"dense_parameter_count": 3.0}},
                                         thresholds={"gap": 0.8})


def test_values_set_in_a_file_replace_only_those_defaults(tmp_path):
    path = tmp_path / "course.toml"
    path.write_text('[course]\nlanguage = "en"\nassignments = ["cnn", "gap"]\nseed = 7\n'
                    "[limits]\nstep_timeout = 30\nmemory_mb = 2048\n", encoding="utf-8")
    config = load_config(path)
    assert config == dataclasses.replace(default_config(), language="en", assignments=("cnn", "gap"), seed=7,
                                         step_timeout=30.0, memory_mb=2048)
    assert isinstance(config.step_timeout, float)


def test_defaults():
    config = default_config()
    assert (config.name, config.language, config.data, config.data_dir) == ("tf2-course", "en", "synthetic", None)
    assert config.assignments == graders.ASSIGNMENT_IDS
    assert (config.seed, config.step_timeout, config.submission_timeout) == (0, 60.0, 900.0)
    assert (config.memory_mb, config.workers, config.points, config.thresholds) == (4096, None, {}, {})
    assert (config.isolation, config.reveal_hidden) == ("bwrap", False)
    assert config.kit_requirement == "git+https://github.com/tf2-exercise-kit/tf2-exercise-kit"


def test_kit_requirement_is_any_one_line_pip_requirement():
    for requirement in ("git+https://github.com/teacher/tf2-exercise-kit@v1",
                        "https://example.org/wheels/tf2_exercise_kit-0.1.0-py3-none-any.whl",
                        "tf2-exercise-kit @ https://example.org/kit.whl", "/srv/course/kit"):
        text = f'[course]\nkit_requirement = "{requirement}"'
        assert parse_config(text) == dataclasses.replace(default_config(), kit_requirement=requirement)


def test_every_setting_has_a_rule():
    ruled = {rule.field or key for rules in SECTIONS.values() for key, rule in rules.items()} | set(RUN_RULES) \
        | {"points", "thresholds"}
    assert ruled == set(SETTING_NAMES)


@pytest.mark.parametrize("text, expected", [
    ('[course]\nlanguage = "de"', '[course] language must be one of en, bn. Received: "de"'),
    ('[course]\nname = 3', "[course] name must be a non-empty string. Received: 3"),
    ('[course]\ndata = "imagenet"', '[course] data must be one of synthetic, tfds. Received: "imagenet"'),
    ('[course]\nseed = -1', "[course] seed must be an integer of at least 0. Received: -1"),
    ('[course]\nseed = 1.5', "[course] seed must be an integer of at least 0. Received: 1.5"),
    ('[course]\nkit_requirement = ""', f'{KIT_REQUIREMENT_RULE} Received: ""'),
    ('[course]\nkit_requirement = " git+https://x/y"', f'{KIT_REQUIREMENT_RULE} Received: " git+https://x/y"'),
    ('[course]\nkit_requirement = "a\\nb"', f'{KIT_REQUIREMENT_RULE} Received: "a\\nb"'),
    ("[course]\nkit_requirement = 3", f"{KIT_REQUIREMENT_RULE} Received: 3"),
    ("[limits]\nmemory_mb = 12", "[limits] memory_mb must be an integer of at least 256. Received: 12"),
    ('[limits]\nmemory_mb = "4G"', '[limits] memory_mb must be an integer of at least 256. Received: "4G"'),
    ("[limits]\nworkers = 0", "[limits] workers must be an integer of at least 1. Received: 0"),
    ("[limits]\nstep_timeout = 0", "[limits] step_timeout must be a positive number of seconds. Received: 0"),
    ("[limits]\nsubmission_timeout = nan",
     "[limits] submission_timeout must be a positive number of seconds. Received: NaN"),
    ("[thresholds]\ngap = 1.5", "[thresholds] gap must be a test accuracy greater than 0 and at most 1. Received: 1.5"),
    ("[thresholds]\ncnn = 0", "[thresholds] cnn must be a test accuracy greater than 0 and at most 1. Received: 0"),
    ("[points.cnn]\ncnn_trains = -2", "[points.cnn] cnn_trains must be a positive number. Received: -2"),
])
def test_wrong_type_or_out_of_range(text, expected):
    assert only_problem(text) == f"course.toml: {expected}"


@pytest.mark.parametrize("text, key, received", [
    ("[course]\nseed = true", "[course] seed", "Received: true"),
    ("[limits]\nmemory_mb = false", "[limits] memory_mb", "Received: false"),
    ("[limits]\nworkers = true", "[limits] workers", "Received: true"),
    ("[limits]\nstep_timeout = true", "[limits] step_timeout", "Received: true"),
    ("[points.gap]\ngap_trains = true", "[points.gap] gap_trains", "Received: true"),
])
def test_bool_is_not_a_number(text, key, received):
    problem = only_problem(text)
    assert key in problem and problem.endswith(received)


def test_unknown_key():
    assert only_problem('[course]\nlangauge = "bn"') == (
        'course.toml: unknown key [course] langauge. '
        'Allowed keys: assignments, data, data_dir, kit_requirement, language, name, seed. Received: "bn"')
    assert only_problem("[limits]\ntimeout = 5") == (
        "course.toml: unknown key [limits] timeout. "
        "Allowed keys: memory_mb, step_timeout, submission_timeout, workers. Received: 5")


def test_unknown_table():
    assert only_problem("[grading]\nseed = 1") == (
        'course.toml: unknown table [grading]. Allowed tables: course, limits, cluster, points, thresholds. '
        'Received: {"seed": 1}')
    assert only_problem("seed = 1") == (
        "course.toml: unknown table [seed]. Allowed tables: course, limits, cluster, points, thresholds. Received: 1")


def test_table_given_as_a_value():
    assert only_problem("course = 3") == "course.toml: [course] must be a table. Received: 3"
    assert only_problem("[points]\ngap = 3") == "course.toml: [points.gap] must be a table. Received: 3"


def test_unknown_assignment():
    assert only_problem('[course]\nassignments = ["cnn", "rnn"]') == (
        "course.toml: [course] assignments must be a non-empty list of distinct assignment ids from "
        'fashion_mnist, cnn, gap, pretrained, transfer. Received: ["cnn", "rnn"]')
    assert only_problem("[points.rnn]\nrnn_trains = 2") == (
        "course.toml: unknown table [points.rnn]. Allowed assignments: fashion_mnist, cnn, gap, pretrained, "
        'transfer. Received: {"rnn_trains": 2}')
    assert only_problem("[thresholds]\nrnn = 0.5").startswith("course.toml: unknown key [thresholds] rnn")


@pytest.mark.parametrize("value", ['["cnn", "gap", "cnn"]', "[]", '"cnn"', "[1, 2]"])
def test_bad_assignment_lists(value):
    problem = only_problem(f"[course]\nassignments = {value}")
    assert problem.startswith("course.toml: [course] assignments must be a non-empty list of distinct")
    assert problem.endswith(f"Received: {value}")


def test_unknown_check_id_lists_the_known_checks():
    problem = only_problem("[points.gap]\nhead_shap = 3")
    known = ", ".join(check.id for check in graders.load("gap").checks)
    assert problem == f'course.toml: [points.gap] no check "head_shap" in assignment gap. Known checks: {known}. ' \
                      "Received: 3"
    assert "head_layers" in known


def test_threshold_for_pretrained_is_an_error():
    assert only_problem("[thresholds]\npretrained = 0.5") == (
        "course.toml: unknown key [thresholds] pretrained: only assignments with a training check have a "
        "threshold. Allowed keys: fashion_mnist, cnn, gap, transfer. Received: 0.5")


def test_toml_syntax_error_names_file_line_and_column(tmp_path):
    path = tmp_path / "course.toml"
    path.write_text('[course]\nname = "x"\nseed = = 3\n', encoding="utf-8")
    with pytest.raises(CourseConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: invalid TOML:")
    assert "line 3, column" in message


def test_unreadable_file_is_a_config_error(tmp_path):
    with pytest.raises(CourseConfigError, match="missing.toml"):
        load_config(tmp_path / "missing.toml")


def test_all_problems_are_reported_together():
    problems = problems_of('[course]\nlangauge = "bn"\nseed = true\n'
                           "[limits]\nmemory_mb = 12\nworkers = 0\n"
                           "[points.gap]\nhead_shap = 3\n"
                           "[thresholds]\npretrained = 0.5\n"
                           "[extra]\n")
    assert len(problems) == 7
    for fragment in ("[course] langauge", "[course] seed", "[limits] memory_mb", "[limits] workers",
                     '[points.gap] no check "head_shap"', "[thresholds] pretrained", "unknown table [extra]"):
        assert sum(fragment in problem for problem in problems) == 1, fragment


def test_points_for_returns_overrides_and_defaults():
    config = parse_config("[points.gap]\ngap_trains = 5\nhead_layers = 0.5\n")
    assert config.points == {"gap": {"gap_trains": 5.0, "head_layers": 0.5}}
    assert config.points_for("gap", "gap_trains", 3.0) == 5.0
    assert config.points_for("gap", "head_layers", 2.0) == 0.5
    assert config.points_for("gap", "gap_loss", 1.0) == 1.0
    assert config.points_for("cnn", "cnn_trains", 3.0) == 3.0


def test_empty_points_table_overrides_nothing():
    assert parse_config("[points.fashion_mnist]\n[thresholds]\n") == default_config()


def test_points_and_thresholds_apply_to_a_copy_of_the_assignment():
    original = graders.load("fashion_mnist")
    configured = graders.load_configured("fashion_mnist", {"fashion_mnist": {"dense_parameter_count": 5}},
                                         {"fashion_mnist": 0.5, "cnn": 0.99})
    before = {c.id: c for c in original.checks}
    after = {c.id: c for c in configured.checks}
    assert after["dense_parameter_count"].points == 5 and before["dense_parameter_count"].points == 2
    assert configured.max_score == original.max_score + 3
    assert after["dense_trains"].threshold == 0.5 and before["dense_trains"].threshold == 0.89
    assert "at least 50%" in after["dense_trains"].title and "at least 89%" in before["dense_trains"].title
    assert "50%" in after["dense_trains"].title.render("bn")
    untouched = [c for c in configured.checks if c.id not in ("dense_parameter_count", "dense_trains")]
    assert all(c == before[c.id] for c in untouched)
    with pytest.raises(ValueError, match="no such check"):
        graders.load("fashion_mnist").configured({"nope": 1})


def test_every_assignment_with_a_threshold_is_configurable():
    """course_config keeps its own list (reading graders would import Keras to validate a file): keep them equal."""
    from autograder.course.config import TRAINED_ASSIGNMENTS

    with_threshold = tuple(a for a in graders.ASSIGNMENT_IDS
                           if any(c.threshold is not None for c in graders.load(a).checks))
    assert with_threshold == TRAINED_ASSIGNMENTS
