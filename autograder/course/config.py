"""The course configuration file (``course.toml``): what an instructor may change, validated up front.

Every key has a small rule (what it must be, a test, a conversion); the loader checks
the whole file and reports every problem at once, so a teacher fixes them in one go.
Messages follow Keras' argument errors: file, dotted key, requirement, ``Received: value``.
"""
from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from autograder import graders
from autograder.student.datasets import SOURCES
from autograder.host.grading import CourseSettings
from autograder.core.i18n import LANGUAGES
from autograder.course.release import KIT_REQUIREMENT

# Assignments whose training check compares test accuracy with a threshold ("pretrained" trains nothing).
TRAINED_ASSIGNMENTS = ("fashion_mnist", "cnn", "gap", "transfer")


class CourseConfigError(ValueError):
    """One or more problems in a course configuration file; ``problems`` holds one line each."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class CourseConfig:
    name: str = "tf2-course"
    language: str = "bn"
    assignments: tuple[str, ...] = graders.ASSIGNMENT_IDS
    data: str = "synthetic"
    data_dir: str | None = None
    seed: int = 0
    kit_requirement: str = KIT_REQUIREMENT  # what the notebooks' first cell pip-installs
    step_timeout: float = 60.0
    submission_timeout: float = 900.0
    memory_mb: int = 4096
    workers: int | None = None
    points: dict[str, dict[str, float]] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)

    def points_for(self, assignment_id: str, check_id: str, default: float) -> float:
        """The configured points of a check, or ``default`` (the check's own points) when not overridden."""
        return self.points.get(assignment_id, {}).get(check_id, default)

    def grading_settings(self) -> CourseSettings:
        return CourseSettings(points=self.points, thresholds=self.thresholds)


def default_config() -> CourseConfig:
    return CourseConfig()


# TOML has no separate bool/int check in Python: True is an int, so rule it out explicitly.
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _is_nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _is_requirement(value: Any) -> bool:
    """One pip argument: no surrounding blanks, no line breaks (it is written into the notebooks' code)."""
    return _is_nonempty_str(value) and value == value.strip() and value.isprintable()


def _is_assignment_list(value: Any) -> bool:
    return (isinstance(value, list) and len(value) > 0
            and all(isinstance(item, str) and item in graders.ASSIGNMENT_IDS for item in value)
            and len(set(value)) == len(value))


@dataclass(frozen=True)
class Rule:
    requirement: str                      # completes "<key> must be ..."
    accepts: Callable[[Any], bool]
    convert: Callable[[Any], Any] = lambda value: value


def _one_of(choices: tuple[str, ...]) -> Rule:
    return Rule(f"one of {', '.join(choices)}", lambda value: isinstance(value, str) and value in choices)


def _int_at_least(minimum: int) -> Rule:
    return Rule(f"an integer of at least {minimum}", lambda value: _is_int(value) and value >= minimum)


_SECONDS = Rule("a positive number of seconds", lambda value: _is_number(value) and value > 0, float)

# table -> key -> rule; each key is also the CourseConfig field it sets.
SECTIONS: dict[str, dict[str, Rule]] = {
    "course": {
        "name": Rule("a non-empty string", _is_nonempty_str),
        "language": _one_of(LANGUAGES),
        "assignments": Rule(f"a non-empty list of distinct assignment ids from {', '.join(graders.ASSIGNMENT_IDS)}",
                            _is_assignment_list, tuple),
        "data": _one_of(SOURCES),
        "data_dir": Rule("a non-empty string (a directory path)", _is_nonempty_str),
        "seed": _int_at_least(0),
        "kit_requirement": Rule("a pip requirement: a non-empty string on one line, without leading or "
                                "trailing spaces (e.g. a git+https:// URL or a wheel URL)", _is_requirement),
    },
    "limits": {
        "step_timeout": _SECONDS,
        "submission_timeout": _SECONDS,
        "memory_mb": _int_at_least(256),
        "workers": _int_at_least(1),
    },
}
POINTS = Rule("a positive number", lambda value: _is_number(value) and value > 0, float)
THRESHOLD = Rule("a test accuracy greater than 0 and at most 1",
                 lambda value: _is_number(value) and 0 < value <= 1, float)
TABLES = (*SECTIONS, "points", "thresholds")


def _show(value: Any) -> str:
    """A value as the teacher wrote it (TOML-like: "text", true, [1, 2])."""
    return json.dumps(value, ensure_ascii=False, default=str)


class _Checker:
    """Walks one parsed file, collecting problems instead of stopping at the first."""

    def __init__(self, source: str):
        self.source = source
        self.problems: list[str] = []

    def problem(self, text: str, received: Any) -> None:
        self.problems.append(f"{self.source}: {text}. Received: {_show(received)}")

    def table(self, name: str, value: Any) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        self.problem(f"[{name}] must be a table", value)
        return {}

    def apply(self, table: str, key: str, value: Any, rule: Rule) -> Any:
        if rule.accepts(value):
            return rule.convert(value)
        self.problem(f"[{table}] {key} must be {rule.requirement}", value)
        return None

    def section(self, name: str, value: Any) -> dict[str, Any]:
        rules, settings = SECTIONS[name], {}
        for key, item in self.table(name, value).items():
            if key not in rules:
                self.problem(f"unknown key [{name}] {key}. Allowed keys: {', '.join(sorted(rules))}", item)
            elif (converted := self.apply(name, key, item, rules[key])) is not None:
                settings[key] = converted
        return settings

    def points(self, value: Any) -> dict[str, dict[str, float]]:
        points = {}
        for assignment, table in self.table("points", value).items():
            if assignment not in graders.ASSIGNMENT_IDS:
                self.problem(f"unknown table [points.{assignment}]. Allowed assignments: "
                             f"{', '.join(graders.ASSIGNMENT_IDS)}", table)
            elif overrides := self.check_points(assignment, self.table(f"points.{assignment}", table)):
                points[assignment] = overrides
        return points

    def check_points(self, assignment: str, table: dict[str, Any]) -> dict[str, float]:
        if not table:
            return {}  # an empty table (as in the example file) overrides nothing; skip loading Keras
        known = [check.id for check in graders.load(assignment).checks]
        overrides = {}
        for check_id, item in table.items():
            if check_id not in known:
                self.problem(f'[points.{assignment}] no check "{check_id}" in assignment {assignment}. '
                             f"Known checks: {', '.join(known)}", item)
            elif (converted := self.apply(f"points.{assignment}", check_id, item, POINTS)) is not None:
                overrides[check_id] = converted
        return overrides

    def thresholds(self, value: Any) -> dict[str, float]:
        thresholds = {}
        for assignment, item in self.table("thresholds", value).items():
            if assignment not in TRAINED_ASSIGNMENTS:
                self.problem(f"unknown key [thresholds] {assignment}: only assignments with a training check "
                             f"have a threshold. Allowed keys: {', '.join(TRAINED_ASSIGNMENTS)}", item)
            elif (converted := self.apply("thresholds", assignment, item, THRESHOLD)) is not None:
                thresholds[assignment] = converted
        return thresholds

    def settings(self, document: dict[str, Any]) -> dict[str, Any]:
        """CourseConfig keyword arguments for every valid value in the document."""
        settings: dict[str, Any] = {}
        for name, value in document.items():
            if name in SECTIONS:
                settings.update(self.section(name, value))
            elif name == "points":
                settings["points"] = self.points(value)
            elif name == "thresholds":
                settings["thresholds"] = self.thresholds(value)
            else:
                self.problem(f"unknown table [{name}]. Allowed tables: {', '.join(TABLES)}", value)
        return settings


def parse_config(text: str, source: str = "course.toml") -> CourseConfig:
    """The configuration in ``text``; raises :class:`CourseConfigError` listing every problem."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:  # its message ends with "(at line L, column C)"
        raise CourseConfigError([f"{source}: invalid TOML: {error}"]) from None
    checker = _Checker(source)
    settings = checker.settings(document)
    if checker.problems:
        raise CourseConfigError(checker.problems)
    return CourseConfig(**settings)


def load_config(path: Path) -> CourseConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CourseConfigError([f"{path}: cannot read the course configuration: {error}"]) from None
    return parse_config(text, source=str(path))
