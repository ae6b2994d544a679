"""Command line: ``python -m autograder grade|release|nbgrader-course``."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from autograder.runner import Limits

EXIT_OK, EXIT_USAGE, EXIT_GRADER_FAULT = 0, 2, 3


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number. Received: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from autograder import graders
    from autograder.datasets import SOURCES

    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    grade = commands.add_parser("grade", help="grade one submission (a directory or a single <assignment>.py)")
    grade.add_argument("submission", type=Path)
    grade.add_argument("--assignment", choices=graders.ASSIGNMENT_IDS, help="grade only this assignment")
    grade.add_argument("--json", type=Path, metavar="FILE", help="also write a Gradescope-compatible results.json")
    grade.add_argument("--timeout", type=_positive_float, default=Limits.step_timeout, metavar="S",
                       help="seconds the submission's code may run per step: its import, or one graded call "
                            f"(default {Limits.step_timeout:g})")
    grade.add_argument("--seed", type=int, default=0, help="seed for data, weights and training (default 0)")
    grade.add_argument("--data", choices=SOURCES, default="synthetic",
                       help="training data for accuracy checks (default: synthetic, offline)")
    grade.add_argument("--data-dir", help="tensorflow-datasets data directory for --data tfds")
    grade.add_argument("--threads", type=int, default=max(1, min(4, os.cpu_count() or 1)),
                       help="TensorFlow threads in the grading process")

    release = commands.add_parser("release", help="regenerate exercises/ and solutions/ from source/")
    release.add_argument("--root", type=Path, default=Path.cwd(), help="project root holding source/")
    release.add_argument("--check", action="store_true", help="only report whether the outputs are up to date")

    course = commands.add_parser("nbgrader-course",
                                 help="write an nbgrader course folder (configuration and source notebooks)")
    course.add_argument("course_dir", type=Path)
    course.add_argument("--root", type=Path, default=Path.cwd(), help="the kit's folder holding source/")
    course.add_argument("--course-id", default="tf2-course", help="nbgrader course id (default tf2-course)")
    course.add_argument("--assignment", action="append", choices=graders.ASSIGNMENT_IDS,
                        help="include only this assignment (repeatable; default: all)")
    course.add_argument("--kit-requirement", default=None, metavar="REQ",
                        help="what the notebooks' first cell pip-installs when the kit is missing, e.g. "
                             "git+https://example.org/you/tf2-exercise-kit (default: tf2-exercise-kit)")
    return parser


def _grade(args) -> int:
    from autograder.context import GradingContext, configure_tensorflow
    from autograder.grading import grade_submission
    from autograder.report import print_report, write_gradescope

    configure_tensorflow(args.threads)
    try:
        result = grade_submission(args.submission, assignment=args.assignment,
                                  context=GradingContext(seed=args.seed, data_source=args.data,
                                                         data_dir=args.data_dir),
                                  limits=Limits(step_timeout=args.timeout))
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print_report(result)
    if args.json:
        write_gradescope(result, args.json)
    if result.grader_faults:
        print(f"error: {len(result.grader_faults)} check(s) hit an internal grader error; see the log above.",
              file=sys.stderr)
        return EXIT_GRADER_FAULT
    return EXIT_OK


def _release(args) -> int:
    from autograder.release import release

    stale = release(args.root, check=args.check)
    if args.check and stale:
        print("out of date: " + ", ".join(str(p) for p in stale), file=sys.stderr)
        return 1
    if not args.check:
        print(f"released {len(stale)} changed file(s)")
    return EXIT_OK


def _nbgrader_course(args) -> int:
    from autograder import graders
    from autograder.nbgrader_course import write_course
    from autograder.notebooks import KIT_REQUIREMENT

    try:
        written = write_course(args.course_dir, args.root, args.assignment or list(graders.ASSIGNMENT_IDS),
                               course_id=args.course_id, kit_requirement=args.kit_requirement or KIT_REQUIREMENT)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notices are noise here
    args = build_parser().parse_args(argv)
    commands = {"grade": _grade, "release": _release, "nbgrader-course": _nbgrader_course}
    return commands[args.command](args)
