"""Every setting of a grading run: its one default, its value, and where the value came from.

A setting is resolved from four sources, each overriding the one before:

1. the defaults: the field defaults of :class:`Settings` below, the only place they are written;
2. the course configuration, ``course.toml`` (``[course]``, ``[limits]``, ``[points.<id>]``, ``[thresholds]``);
3. the environment: ``TF2_KIT_<NAME>`` for a setting ``<name>`` (e.g. ``TF2_KIT_STEP_TIMEOUT=30``), and
   ``TF2_KIT_CONFIG`` naming the course.toml when the command line names none;
4. the command line (or a caller's own choice, such as the notebook's assignment in ``grade_here``).

:func:`autograder.course.config.resolve_settings` applies them in that order and validates every
value once, reporting every problem at once; ``python -m autograder config --show`` prints the
result with each value's origin. This module imports nothing of ``host/``, ``course/`` or
``graders/``, so every part of the kit (the grading child included) may use it.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ENV_PREFIX = "TF2_KIT_"
CONFIG_ENV = ENV_PREFIX + "CONFIG"  # the course.toml to read when the command line names none
DEFAULT_ORIGIN = "default"
# Settings the environment may not set: tables (only course.toml has a syntax for them), and revealing hidden
# checks, which must be asked for on the command line of the run that does it, never left behind in a shell.
NOT_FROM_ENVIRONMENT = ("points", "thresholds", "reveal_hidden")


@dataclass(frozen=True)
class Settings:
    """The settings of one grading run; ``origins`` says where each non-default value came from."""

    # [course]
    name: str = "tf2-course"
    language: str = "en"                       # reports, results.json, feedback: en | bn
    assignments: tuple[str, ...] | None = None  # None: every assignment of the kit (autograder.graders)
    data: str = "synthetic"                    # grading data: synthetic (offline) | tfds
    data_dir: str | None = None                # where tfds finds its data; None: its own
    seed: int = 0                              # data sampling, weights and training
    kit_requirement: str | None = None         # what the notebooks pip-install; None: the kit's own
    # [limits]
    step_timeout: float = 60.0       # seconds one step of student code (its import, or one graded call) may run
    submission_timeout: float = 900.0  # wall-clock seconds for one submission's whole grading
    memory_mb: int = 4096            # resident memory of one sandbox worker (the student's code)
    workers: int | None = None       # submissions graded at once by grade-all; None: one per CPU core
    # [cluster]: where grade-all runs its gradings (autograder.classroom.cluster)
    cluster: str = "local"           # local (a process pool) | dask-local | tcp://HOST:PORT | slurm | kubernetes
    cluster_queue: str | None = None  # Slurm partition; None: the cluster's default
    cluster_cores: int = 2           # cores of one Slurm job or Kubernetes worker (one student graded per core)
    cluster_memory: str = "8GiB"     # memory of one Slurm job or Kubernetes worker
    cluster_walltime: str = "01:00:00"  # a Slurm job's time limit
    cluster_image: str | None = None  # the Kubernetes workers' container image (it must hold the kit)
    cluster_jobs: int = 1            # Slurm jobs or Kubernetes workers to start
    cluster_gpu: bool = False        # training checks go to Dask workers started with the resource GPU=1
    # the run itself (environment and command line only)
    isolation: str = "bwrap"         # how student code is walled off: bwrap | uid | none (autograder.host.isolation)
    reveal_hidden: bool = False      # show failed hidden checks' messages (after the deadline)
    # [points.<id>] and [thresholds]
    points: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    thresholds: Mapping[str, float] = field(default_factory=dict)
    # Provenance, not settings: the course.toml read (if any), and each value's origin (absent: the default).
    config: str | None = field(default=None, compare=False)
    origins: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def origin(self, name: str) -> str:
        """Where ``name``'s value came from: "default", a course.toml path, an environment variable, an option
        (for ``config``, the course.toml itself: "--config", ``TF2_KIT_CONFIG`` or "the working folder")."""
        if name not in (*SETTING_NAMES, "config"):
            raise ValueError(f"no setting of that name; known: {', '.join(SETTING_NAMES)}. Received: {name!r}")
        return self.origins.get(name, DEFAULT_ORIGIN)

    @property
    def worker_count(self) -> int:
        """``workers``, or one per CPU core when it is not set."""
        return self.workers or max(1, os.cpu_count() or 1)

    def points_for(self, assignment_id: str, check_id: str, default: float) -> float:
        """The configured points of a check, or ``default`` (the check's own points) when not overridden."""
        return self.points.get(assignment_id, {}).get(check_id, default)

    def overridden(self, origin: str, **values: Any) -> Settings:
        """A copy with ``values`` set by ``origin`` (e.g. Gradescope's fallback to uid isolation)."""
        unknown = sorted(set(values) - set(SETTING_NAMES))
        if unknown:
            raise ValueError(f"no setting of that name; known: {', '.join(SETTING_NAMES)}. Received: {unknown}")
        return dataclasses.replace(self, **values, origins={**self.origins, **dict.fromkeys(values, origin)})

    def plain(self) -> dict[str, Any]:
        """Every field as JSON data (what the grading child receives; :meth:`from_plain` reads it back)."""
        return {
            **{name: getattr(self, name) for name in SETTING_NAMES},
            "assignments": None if self.assignments is None else list(self.assignments),
            "points": {assignment: dict(checks) for assignment, checks in self.points.items()},
            "thresholds": dict(self.thresholds),
            "config": self.config,
            "origins": dict(self.origins),
        }

    @classmethod
    def from_plain(cls, data: Mapping[str, Any]) -> Settings:
        """The settings :meth:`plain` wrote; values are taken as they are (they were validated when resolved)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"not fields of Settings: {unknown}. Received: {dict(data)!r:.300}")
        values = dict(data)
        if values.get("assignments") is not None:
            values["assignments"] = tuple(values["assignments"])
        return cls(**values)


SETTING_NAMES = tuple(f.name for f in dataclasses.fields(Settings) if f.name not in ("config", "origins"))
DEFAULTS = Settings()


def env_name(setting: str) -> str | None:
    """The environment variable that sets ``setting`` (``TF2_KIT_<NAME>``), or None where the environment may not."""
    if setting not in SETTING_NAMES:
        raise ValueError(f"no setting of that name; known: {', '.join(SETTING_NAMES)}. Received: {setting!r}")
    return None if setting in NOT_FROM_ENVIRONMENT else ENV_PREFIX + setting.upper()
