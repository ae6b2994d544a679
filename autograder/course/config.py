"""The course configuration file (``course.toml``) and the one resolution of every setting.

Every key has a small rule (what it must be, a test, a conversion); the loader checks
the whole file and reports every problem at once, so a teacher fixes them in one go.
Messages follow Keras' argument errors: file, dotted key, requirement, ``Received: value``.

:func:`resolve_settings` is the one place settings are resolved: the defaults
(:class:`autograder.core.settings.Settings`), then course.toml, then the environment
(``TF2_KIT_<NAME>``), then the command line, each value checked by the same rule whatever its
source, and every problem of every source reported together.
"""
from __future__ import annotations

import json
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from autograder import graders
from autograder.core.i18n import LANGUAGES
from autograder.core.settings import CONFIG_ENV, SETTING_NAMES, Settings, env_name
from autograder.course.release import KIT_REQUIREMENT
from autograder.host.isolation import LEVELS
from autograder.student.datasets import SOURCES

# Assignments whose training check compares test accuracy with a threshold ("pretrained" trains nothing).
TRAINED_ASSIGNMENTS = ("fashion_mnist", "cnn", "gap", "transfer")
COURSE_FILE = "course.toml"
CourseConfig = Settings  # what course.toml sets, on top of the defaults: the same fields as every other source


class CourseConfigError(ValueError):
    """One or more problems in the settings (a course configuration file, the environment, the command line);
    ``problems`` holds one line each."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = list(problems)


def _kit_defaults() -> dict[str, Any]:
    """The defaults that name what the kit holds, which core/settings.py cannot import: every assignment, and
    the kit's own requirement for the notebooks' first cell."""
    return {"assignments": graders.ASSIGNMENT_IDS, "kit_requirement": KIT_REQUIREMENT}


def default_config() -> Settings:
    """Every setting at its default."""
    return Settings(**_kit_defaults())


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


def _number_from_text(text: str) -> Any:
    """An environment or command-line value as the number it spells, else the text (which its rule then refuses)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _list_from_text(text: str) -> list[str]:
    """``"cnn, gap"`` as ``["cnn", "gap"]``: how the environment spells a list."""
    return [item.strip() for item in text.split(",")]


@dataclass(frozen=True)
class Rule:
    requirement: str                      # completes "<key> must be ..."
    accepts: Callable[[Any], bool]
    convert: Callable[[Any], Any] = lambda value: value
    parse: Callable[[str], Any] = lambda text: text  # from the text of an environment variable or option
    field: str = ""  # the Settings field it sets, when not the key's own name (the [cluster] table's keys)


def _one_of(choices: tuple[str, ...]) -> Rule:
    return Rule(f"one of {', '.join(choices)}", lambda value: isinstance(value, str) and value in choices)


def _int_at_least(minimum: int) -> Rule:
    return Rule(f"an integer of at least {minimum}", lambda value: _is_int(value) and value >= minimum,
                parse=_number_from_text)


def _matches(pattern: str) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, str) and re.fullmatch(pattern, value) is not None


def _bool_from_text(text: str) -> Any:
    return {"true": True, "false": False}.get(text.strip().lower(), text)


# Where grade-all grades (autograder.classroom.cluster): these names, or the address of a running Dask scheduler.
CLUSTER_KINDS = ("local", "dask-local", "slurm", "kubernetes")
SCHEDULER_ADDRESS = r"(tcp|tls)://[A-Za-z0-9.\-]+(:[0-9]{1,5})?|(tcp|tls)://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?"
_CLUSTER_RULES = {
    "target": Rule(f"one of {', '.join(CLUSTER_KINDS)}, or a Dask scheduler's address such as tcp://HOST:8786",
                   lambda value: value in CLUSTER_KINDS or _matches(SCHEDULER_ADDRESS)(value), field="cluster"),
    "queue": Rule("a non-empty string (a Slurm partition)", _matches(r"[A-Za-z0-9_.\-]+"), field="cluster_queue"),
    "cores": Rule("an integer of at least 1", lambda value: _is_int(value) and value >= 1,
                  parse=_number_from_text, field="cluster_cores"),
    "memory": Rule('an amount of memory such as "8GiB" or "16GB"',
                   _matches(r"[0-9]+(\.[0-9]+)? ?([kKMGT]i?B|B)"), field="cluster_memory"),
    "walltime": Rule('a time limit HH:MM:SS or D-HH:MM:SS such as "01:00:00"',
                     _matches(r"([0-9]+-)?[0-9]{1,3}:[0-5][0-9]:[0-5][0-9]"), field="cluster_walltime"),
    "image": Rule("a container image name on one line, such as ghcr.io/you/tf2-kit:1",
                  _matches(r"[A-Za-z0-9][A-Za-z0-9._/:@\-]*"), field="cluster_image"),
    "jobs": Rule("an integer of at least 1", lambda value: _is_int(value) and value >= 1,
                 parse=_number_from_text, field="cluster_jobs"),
    "gpu": Rule("true or false", lambda value: isinstance(value, bool), parse=_bool_from_text, field="cluster_gpu"),
}

_SECONDS = Rule("a positive number of seconds", lambda value: _is_number(value) and value > 0, float,
                _number_from_text)

# table -> key -> rule; each key is also the Settings field it sets.
SECTIONS: dict[str, dict[str, Rule]] = {
    "course": {
        "name": Rule("a non-empty string", _is_nonempty_str),
        "language": _one_of(LANGUAGES),
        "assignments": Rule(f"a non-empty list of distinct assignment ids from {', '.join(graders.ASSIGNMENT_IDS)}",
                            _is_assignment_list, tuple, _list_from_text),
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
    "cluster": _CLUSTER_RULES,
}
POINTS = Rule("a positive number", lambda value: _is_number(value) and value > 0, float)
THRESHOLD = Rule("a test accuracy greater than 0 and at most 1",
                 lambda value: _is_number(value) and 0 < value <= 1, float)
TABLES = (*SECTIONS, "points", "thresholds")
# Settings of the run itself, which course.toml does not hold: from the environment and the command line only.
RUN_RULES: dict[str, Rule] = {
    "isolation": _one_of(LEVELS),
    "reveal_hidden": Rule("true or false", lambda value: isinstance(value, bool)),
}
# Every setting with a single value, and its rule, whatever source sets it.
RULES: dict[str, Rule] = {**{rule.field or key: rule for rules in SECTIONS.values() for key, rule in rules.items()},
                          **RUN_RULES}


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
        return self.check(f"[{table}] {key}", value, rule)

    def check(self, label: str, value: Any, rule: Rule) -> Any:
        """``value`` converted, or None (and a problem "<label> must be ...") when ``rule`` refuses it."""
        if rule.accepts(value):
            return rule.convert(value)
        self.problem(f"{label} must be {rule.requirement}", value)
        return None

    def section(self, name: str, value: Any) -> dict[str, Any]:
        rules, settings = SECTIONS[name], {}
        for key, item in self.table(name, value).items():
            if key not in rules:
                self.problem(f"unknown key [{name}] {key}. Allowed keys: {', '.join(sorted(rules))}", item)
            elif (converted := self.apply(name, key, item, rules[key])) is not None:
                settings[rules[key].field or key] = converted
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
        """Settings keyword arguments for every valid value in the document."""
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


def _course_values(text: str, source: str) -> tuple[dict[str, Any], list[str]]:
    """The valid values ``text`` sets, and every problem (one line each, prefixed with ``source``)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:  # its message ends with "(at line L, column C)"
        return {}, [f"{source}: invalid TOML: {error}"]
    checker = _Checker(source)
    values = checker.settings(document)
    return values, checker.problems


def _file_values(path: Path) -> tuple[dict[str, Any], list[str]]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return {}, [f"{path}: cannot read the course configuration: {error}"]
    return _course_values(text, str(path))


def parse_config(text: str, source: str = COURSE_FILE) -> Settings:
    """The defaults with what ``text`` (a course.toml) sets; raises :class:`CourseConfigError` listing every problem."""
    values, problems = _course_values(text, source)
    if problems:
        raise CourseConfigError(problems)
    return Settings(**{**_kit_defaults(), **values}, origins=dict.fromkeys(values, source))


def load_config(path: Path) -> Settings:
    """The defaults with what the course.toml at ``path`` sets (the environment and command line left out)."""
    return resolve_settings(config=path, environ={})


def course_file(config: Path | str | None, environ: Mapping[str, str],
                working_folder: Path | None = None) -> tuple[Path | None, str]:
    """Which course.toml applies, and why: ``config`` (the command line's ``--config``), else the file
    ``$TF2_KIT_CONFIG`` names, else ``working_folder/course.toml`` when a command looks there and it exists."""
    if config is not None:
        return Path(config), "--config"
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV]), CONFIG_ENV
    if working_folder is not None and (Path(working_folder) / COURSE_FILE).is_file():
        return Path(working_folder) / COURSE_FILE, "the working folder"
    return None, "none"


def _given(label: str, name: str, value: Any, problems: list[str]) -> Any:
    """An environment or command-line value checked by its setting's rule; None (and a problem) when refused."""
    rule = RULES[name]
    checker = _Checker(label)
    checked = checker.check(name, rule.parse(value) if isinstance(value, str) else value, rule)
    problems.extend(checker.problems)
    return checked


def resolve_settings(*, config: Path | str | None = None,
                     command_line: Mapping[str, tuple[str, Any]] | None = None,
                     environ: Mapping[str, str] | None = None, working_folder: Path | None = None) -> Settings:
    """Every setting, resolved: defaults, then course.toml, then the environment, then the command line.

    ``config`` is the course.toml the command line names (else see :func:`course_file`);
    ``command_line`` maps a setting to ``(origin, value)``, e.g. ``{"step_timeout": ("command line --timeout",
    "30")}`` (a value of None was not given); ``environ`` defaults to ``os.environ``. Each value is checked
    by its setting's rule whatever its source, and :class:`CourseConfigError` lists every problem of every
    source at once. The result remembers each value's origin (:meth:`Settings.origin`).
    """
    environ = os.environ if environ is None else environ
    path, why = course_file(config, environ, working_folder)
    values, origins, problems = _kit_defaults(), {}, []
    if path is not None:
        from_file, problems = _file_values(path)
        values.update(from_file)
        origins.update(dict.fromkeys(from_file, str(path)))
        origins["config"] = why
    for name in SETTING_NAMES:
        variable = env_name(name)
        if variable is not None and variable in environ:
            checked = _given(variable, name, environ[variable], problems)
            if checked is not None:
                values[name], origins[name] = checked, variable
    for name, (origin, value) in (command_line or {}).items():
        if name not in RULES:
            raise ValueError(f"no setting the command line may give of that name; known: {', '.join(RULES)}. "
                             f"Received: {name!r}")
        if value is not None:
            checked = _given(origin, name, value, problems)
            if checked is not None:
                values[name], origins[name] = checked, origin
    if values.get("cluster") == "kubernetes" and not values.get("cluster_image"):
        problems.append(f"{origins.get('cluster', 'the settings')}: a kubernetes cluster needs [cluster] image "
                        "(TF2_KIT_CLUSTER_IMAGE): a container image that holds the kit. Received: no image")
    if problems:
        raise CourseConfigError(problems)
    return Settings(**values, config=None if path is None else str(path), origins=origins)


def _shown(name: str, settings: Settings) -> str:
    """A setting's value as ``config --show`` prints it."""
    value = getattr(settings, name)
    if name == "workers" and value is None:
        return f"one per CPU core ({settings.worker_count})"
    if name in ("points", "thresholds"):
        flat = {f"{a}.{c}": v for a, checks in value.items() for c, v in checks.items()} if name == "points" \
            else dict(value)
        return ", ".join(f"{key} = {number:g}" for key, number in flat.items()) or "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ", ".join(value)
    return "not set" if value is None else str(value)


def settings_table(settings: Settings) -> str:
    """Every setting, its value, where the value came from and the variable that sets it: ``config --show``."""
    config = settings.config or "none (name one with --config or TF2_KIT_CONFIG, or put course.toml in the " \
                                "working folder)"
    found = f" (from {settings.origin('config')})" if settings.config else ""
    rows = [("setting", "value", "origin", "environment variable")]
    rows += [(name, _shown(name, settings), settings.origin(name), env_name(name) or "-") for name in SETTING_NAMES]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = [f"course configuration: {config}{found}", ""]
    lines += ["  ".join([*(cell.ljust(width) for cell, width in zip(row, widths)), row[3]]).rstrip() for row in rows]
    lines += ["", "Each source overrides the one before: default, course.toml, environment (TF2_KIT_<NAME>), "
                  "command line."]
    return "\n".join(lines)
