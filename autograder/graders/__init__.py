"""One hidden grader per assignment, each a package ``autograder.graders.<id>``.

``<id>/checks.py`` runs in the grading process: it defines ``ASSIGNMENT`` (an
:class:`autograder.core.spec.Assignment`: the probes by name, with their inputs, and the checks
that judge what they observed). ``<id>/probes.py`` runs only inside the sandbox worker: its
``PROBES`` (a :class:`autograder.core.spec.ProbeSet`) holds the code of each declared probe.
Neither imports the other; values both read sit in ``<id>/contract.py``. This package's own
``__init__`` imports only ``core``, so the worker may import it.
"""
from __future__ import annotations

import importlib

from autograder.core.spec import Assignment, ProbeSet

ASSIGNMENT_IDS = ("fashion_mnist", "cnn", "gap", "pretrained", "transfer")


def _checked(assignment_id: str) -> str:
    if assignment_id not in ASSIGNMENT_IDS:
        raise ValueError(f"unknown assignment; expected one of {ASSIGNMENT_IDS}. Received: {assignment_id!r}")
    return assignment_id


def load(assignment_id: str) -> Assignment:
    """The assignment's declaration (grading process side)."""
    return importlib.import_module(f"autograder.graders.{_checked(assignment_id)}.checks").ASSIGNMENT


def load_probes(assignment_id: str) -> ProbeSet:
    """The code of the assignment's probes (sandbox worker side)."""
    return importlib.import_module(f"autograder.graders.{_checked(assignment_id)}.probes").PROBES


def load_configured(assignment_id: str, points: dict[str, dict[str, float]] | None = None,
                    thresholds: dict[str, float] | None = None) -> Assignment:
    """The assignment with a course's points per check and minimum accuracy (see course.toml)."""
    return load(assignment_id).configured((points or {}).get(assignment_id), (thresholds or {}).get(assignment_id))
