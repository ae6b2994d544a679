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

from dataclasses import dataclass, field, replace
from typing import Any, Callable

from autograder.core.i18n import Text


class CheckFailed(Exception):
    """The submission does not have the property a check grades.

    ``message`` is an :func:`autograder.core.i18n.tr` message; ``details`` is plain JSON that
    feedback pages draw (a training curve, the expected and the found layer stack).
    """

    def __init__(self, message: Text, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.details = dict(details or {})


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
    """A probe as the grading process declares it: which student names it calls and the inputs it is given.

    Its code (``fn(student, inputs, ctx) -> dict``) lives in the assignment's ``probes.py`` and runs
    only inside the sandbox worker, which finds it by name in that module's :class:`ProbeSet`.
    """

    name: str
    uses: tuple[str, ...]
    make_inputs: Callable[[int], dict[str, Any]] | None = None


class ProbeSet(dict):
    """The probe functions of one assignment by name: what the sandbox worker runs (``graders/<id>/probes.py``)."""

    def register(self, fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        """Decorator: add ``fn`` under its own name."""
        self.add(fn.__name__, fn)
        return fn

    def add(self, name: str, fn: Callable[..., dict[str, Any]]) -> None:
        if name in self:
            raise ValueError(f"duplicate probe name. Received: {name!r}")
        self[name] = fn


@dataclass(frozen=True)
class Check:
    """One graded property.

    ``verify(evidence, ctx)`` raises :class:`CheckFailed` or returns (optionally a dict of
    details to draw). A check with a ``threshold`` (a minimum test accuracy, which a course
    may change) is called as ``verify(evidence, ctx, threshold)`` and its title formats the
    threshold as ``min_accuracy``. A ``hidden`` check's message, hint and details never
    reach students' feedback before the instructor reveals them: its title must not give
    the expectation away either.
    """

    id: str
    title: Text
    points: float
    probe: str
    verify: Callable[..., Any]
    hint: Text | str = ""
    hidden: bool = False
    threshold: float | None = None

    def configured(self, *, points: float | None = None, threshold: float | None = None) -> Check:
        """This check with a course's points and threshold (the declaration is left untouched)."""
        changes: dict[str, Any] = {}
        if points is not None:
            changes["points"] = float(points)
        if threshold is not None and self.threshold is not None:
            changes["threshold"] = float(threshold)
            changes["title"] = self.title.with_params(min_accuracy=float(threshold))
        return replace(self, **changes)


@dataclass
class Assignment:
    """The probes and checks of one assignment, kept in declaration order."""

    id: str
    title: str
    student_names: tuple[str, ...]
    probes: dict[str, Probe] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)

    def probe(self, name: str, *, uses: tuple[str, ...] | str, inputs: Callable[[int], dict] | None = None) -> None:
        """Declare the probe ``name`` (its code is in the assignment's ``probes.py``) and what it may call."""
        uses_tuple = (uses,) if isinstance(uses, str) else tuple(uses)
        unknown = set(uses_tuple) - set(self.student_names)
        if unknown:
            raise ValueError(f"probe uses names outside the contract. Received: {sorted(unknown)}")
        if name in self.probes:
            raise ValueError(f"duplicate probe name. Received: {name!r}")
        self.probes[name] = Probe(name, uses_tuple, inputs)

    def check(self, probe: str, *, points: float, title: Text, hint: Text | str = "", hidden: bool = False,
              id: str | None = None, threshold: float | None = None):  # noqa: A002 - "id" is the public name
        if probe not in self.probes:
            raise ValueError(f"check refers to an undeclared probe. Received: {probe!r}")
        if points <= 0:
            raise ValueError(f"points must be positive. Received: {points!r}")
        if threshold is not None and "min_accuracy" not in getattr(title, "params", {}):
            raise ValueError(f"a check with a threshold formats it in its title as min_accuracy. Received: {title!r}")

        def register(fn):
            check_id = id or fn.__name__
            if any(c.id == check_id for c in self.checks):
                raise ValueError(f"duplicate check id. Received: {check_id!r}")
            self.checks.append(Check(check_id, title, float(points), probe, fn, hint, hidden, threshold))
            return fn

        return register

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.checks)

    def configured(self, points: dict[str, float] | None = None, threshold: float | None = None) -> Assignment:
        """A copy with a course's points per check id and minimum accuracy; unknown ids are an error."""
        points = dict(points or {})
        unknown = set(points) - {c.id for c in self.checks}
        if unknown:
            raise ValueError(f"no such check in {self.id}. Received: {sorted(unknown)}")
        checks = [c.configured(points=points.get(c.id), threshold=threshold) for c in self.checks]
        return replace(self, checks=checks, probes=dict(self.probes))
