"""One grader module per assignment; each defines ``ASSIGNMENT`` (an :class:`autograder.core.spec.Assignment`)."""
from __future__ import annotations

import importlib

from autograder.core.spec import Assignment

ASSIGNMENT_IDS = ("fashion_mnist", "cnn", "gap", "pretrained", "transfer")


def load(assignment_id: str) -> Assignment:
    if assignment_id not in ASSIGNMENT_IDS:
        raise ValueError(f"unknown assignment; expected one of {ASSIGNMENT_IDS}. Received: {assignment_id!r}")
    return importlib.import_module(f"autograder.graders.{assignment_id}").ASSIGNMENT


def load_configured(assignment_id: str, points: dict[str, dict[str, float]] | None = None,
                    thresholds: dict[str, float] | None = None) -> Assignment:
    """The assignment with a course's points per check and minimum accuracy (see course.toml)."""
    return load(assignment_id).configured((points or {}).get(assignment_id), (thresholds or {}).get(assignment_id))
