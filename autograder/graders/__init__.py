"""One grader module per assignment; each defines ``ASSIGNMENT`` (an :class:`autograder.spec.Assignment`)."""
from __future__ import annotations

import importlib

from autograder.spec import Assignment

ASSIGNMENT_IDS = ("fashion_mnist", "cnn", "gap", "pretrained", "transfer")


def load(assignment_id: str) -> Assignment:
    if assignment_id not in ASSIGNMENT_IDS:
        raise ValueError(f"unknown assignment; expected one of {ASSIGNMENT_IDS}. Received: {assignment_id!r}")
    return importlib.import_module(f"autograder.graders.{assignment_id}").ASSIGNMENT
