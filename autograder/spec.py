"""Declarations of what an assignment grades: probes (run student code) and checks (judge).

A *probe* is trusted code that runs inside the sandbox worker, calls the student's
functions and returns plain observations (arrays, JSON values, Keras models).
A *check* is trusted code that runs in the grading process, receives those
observations and either returns (pass) or raises :class:`CheckFailed` with a
message for the student. Checks are data: each carries its points, title and
hint, in declaration order, so reports and exports never need to run code to
know what exists.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


class CheckFailed(Exception):
    """The submission does not have the property a check grades."""


class MissingResource(Exception):
    """The grading machine lacks something it needs to grade (a setup problem, never the student's fault)."""


# Raised inside the sandbox worker by ``Student`` calls. They live here, not in the
# worker's module (which runs as ``__main__``), so probes can catch them by class.
class NotAttempted(Exception):
    """The student has not written this part yet."""


class StudentError(Exception):
    """Student code raised; the message says where and what."""


@dataclass(frozen=True)
class Probe:
    name: str
    uses: tuple[str, ...]
    run: Callable[..., dict[str, Any]]
    make_inputs: Callable[[int], dict[str, Any]] | None = None


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    points: float
    probe: str
    verify: Callable[..., None]
    hint: str = ""
    hidden: bool = True
    requires: tuple[str, ...] = ()  # grading resources (GradingContext.require) the verdict depends on


@dataclass
class Assignment:
    """The probes and checks of one assignment, kept in declaration order."""

    id: str
    title: str
    student_names: tuple[str, ...]
    probes: dict[str, Probe] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)

    def probe(self, *, uses: tuple[str, ...] | str, inputs: Callable[[int], dict] | None = None,
              name: str | None = None):
        uses_tuple = (uses,) if isinstance(uses, str) else tuple(uses)
        unknown = set(uses_tuple) - set(self.student_names)
        if unknown:
            raise ValueError(f"probe uses names outside the contract. Received: {sorted(unknown)}")

        def register(fn):
            probe_name = name or fn.__name__
            if probe_name in self.probes:
                raise ValueError(f"duplicate probe name. Received: {probe_name!r}")
            self.probes[probe_name] = Probe(probe_name, uses_tuple, fn, inputs)
            return fn

        return register

    def check(self, probe: str, *, points: float, title: str, hint: str = "", hidden: bool = True,
              id: str | None = None, requires: tuple[str, ...] = ()):  # noqa: A002 - "id" is the public name
        if probe not in self.probes:
            raise ValueError(f"check refers to an undeclared probe. Received: {probe!r}")
        if points <= 0:
            raise ValueError(f"points must be positive. Received: {points!r}")

        def register(fn):
            check_id = id or fn.__name__
            if any(c.id == check_id for c in self.checks):
                raise ValueError(f"duplicate check id. Received: {check_id!r}")
            self.checks.append(Check(check_id, title, float(points), probe, fn, hint, hidden, tuple(requires)))
            return fn

        return register

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.checks)
