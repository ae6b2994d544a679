"""Command line: ``python -m autograder grade|grade-all|release|nbgrader-course|gradescope-package``."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from autograder.host.runner import Limits

EXIT_OK, EXIT_USAGE, EXIT_GRADER_FAULT, EXIT_NO_SANDBOX, EXIT_INTERRUPTED = 0, 2, 3, 4, 130


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number. Received: {text!r}")
    return value


def _add_isolation_option(parser: argparse.ArgumentParser) -> None:
    from autograder.host.isolation import DEFAULT_LEVEL, LEVELS

    parser.add_argument("--isolation", choices=LEVELS, default=DEFAULT_LEVEL,
                        help="how student code is walled off: bwrap (default: an OS sandbox; grading stops if it "
                             "cannot be set up), uid (as root: an unprivileged user, for containers that block "
                             "user namespaces), none (a plain process: debugging only)")


def _sandbox_ready(level: str) -> bool:
    """Fail closed: say why the requested isolation cannot run and how to fix it; warn about 'none'."""
    from autograder.host.isolation import Isolation, IsolationUnavailable

    try:
        Isolation(level).verify()
    except IsolationUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return False
    if level == "none":
        print("warning: --isolation none: student code runs as a plain process with your user's rights, files "
              "and network. Use it only to debug the kit, never for grades.", file=sys.stderr)
    return True


def build_parser() -> argparse.ArgumentParser:
    from autograder import graders
    from autograder.student.datasets import SOURCES
    from autograder.core.i18n import LANGUAGES

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
    grade.add_argument("--memory-mb", type=int, default=None, metavar="M",
                       help="memory one sandbox worker (the student's code) may use; beyond it the running "
                            "step is stopped and its checks get an error (default: no limit)")
    grade.add_argument("--config", type=Path, default=None, metavar="TOML",
                       help="course configuration whose points, thresholds and language apply (default: none)")
    grade.add_argument("--lang", choices=LANGUAGES, default=None,
                       help="language of the report and results.json (default: the config's, else en)")
    grade.add_argument("--reveal-hidden", action="store_true",
                       help="put hidden checks' messages into results.json too (after the deadline)")
    _add_isolation_option(grade)
    grade.add_argument("--record", type=Path, metavar="FILE",
                       help="also write the full grading record (every message in every language; for grade-all)")

    grade_all = commands.add_parser("grade-all", help="grade a class: one sub-folder (or file) per student, "
                                                      "in parallel, into OUT/<student>/ and OUT/grades.csv")
    grade_all.add_argument("submissions", type=Path)
    grade_all.add_argument("--out", type=Path, required=True, help="where results and grades.csv go")
    grade_all.add_argument("--config", type=Path, default=None,
                           help="course configuration (default: ./course.toml when it exists)")
    grade_all.add_argument("--assignment", action="append", choices=graders.ASSIGNMENT_IDS,
                           help="grade only this assignment (repeatable; default: the course's)")
    grade_all.add_argument("--workers", type=int, help="submissions graded at once (default: one per core)")
    grade_all.add_argument("--timeout", type=_positive_float, metavar="S",
                           help="wall-clock seconds for one student's submission (default 900)")
    grade_all.add_argument("--step-timeout", type=_positive_float, metavar="S",
                           help="seconds one step of student code may run (default 60)")
    grade_all.add_argument("--memory-mb", type=int, metavar="M",
                           help="memory one sandbox worker may use (default 4096)")
    _add_isolation_option(grade_all)
    grade_all.add_argument("--resume", action="store_true", help="skip students who already have results")
    grade_all.add_argument("--lang", choices=LANGUAGES, default=None,
                           help="language of feedback, results.json and summary (default: the course's)")
    grade_all.add_argument("--reveal-hidden", action="store_true",
                           help="show hidden checks' messages and figures in feedback (after the deadline)")

    release = commands.add_parser("release", help="regenerate exercises/ and solutions/ from source/")
    release.add_argument("--root", type=Path, default=Path.cwd(), help="project root holding source/")
    release.add_argument("--check", action="store_true", help="only report whether the outputs are up to date")
    release.add_argument("--config", type=Path, default=None, metavar="TOML",
                         help="course configuration whose [course] kit_requirement the notebooks install "
                              "(default: ROOT/course.toml when it exists)")

    course = commands.add_parser("nbgrader-course",
                                 help="write an nbgrader course folder (configuration and source notebooks)")
    course.add_argument("course_dir", type=Path)
    course.add_argument("--root", type=Path, default=Path.cwd(), help="the kit's folder holding source/")
    course.add_argument("--course-id", default="tf2-course", help="nbgrader course id (default tf2-course)")
    course.add_argument("--assignment", action="append", choices=graders.ASSIGNMENT_IDS,
                        help="include only this assignment (repeatable; default: all)")
    course.add_argument("--config", type=Path, default=None, metavar="TOML",
                        help="course configuration whose [course] kit_requirement the notebooks install "
                             "(default: ROOT/course.toml when it exists)")
    course.add_argument("--kit-requirement", default=None, metavar="REQ",
                        help="what the notebooks' first cell pip-installs when the kit is missing, e.g. "
                             "git+https://github.com/you/tf2-exercise-kit (default: the course configuration's "
                             "kit_requirement)")

    gradescope = commands.add_parser("gradescope-package",
                                     help="write a Gradescope autograder zip (setup.sh, run_autograder, the kit)")
    gradescope.add_argument("--out", type=Path, required=True, metavar="ZIP", help="the archive to write")
    gradescope.add_argument("--root", type=Path, default=Path.cwd(), help="the kit's project folder (default: .)")
    gradescope.add_argument("--assignment", choices=graders.ASSIGNMENT_IDS,
                            help="grade only this assignment (default: all)")

    student = commands.add_parser("student-package",
                                  help="write the wheel students install: notebook helpers, public self-checks and "
                                       "the demos' data, without the graders")
    student.add_argument("--out", type=Path, required=True, metavar="DIR", help="the folder the wheel goes into")
    student.add_argument("--root", type=Path, default=Path.cwd(), help="the kit's project folder (default: .)")
    audit = commands.add_parser("audit", help="mutation audit of the hidden graders: grade one-change mutants of "
                                              "solutions/<id>.py and report the share the checks kill")
    audit.add_argument("assignments", nargs="+", choices=(*graders.ASSIGNMENT_IDS, "all"), metavar="ASSIGNMENT",
                       help=f"one or more of {', '.join(graders.ASSIGNMENT_IDS)}, or all")
    audit.add_argument("--root", type=Path, default=Path.cwd(), help="the kit's project folder (default: .)")
    audit.add_argument("--out", type=Path, default=Path("audit-output"),
                       help="journals (a re-run resumes from them) and report.md (default: audit-output)")
    audit.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="mutants graded at once (default: cores)")
    audit.add_argument("--sample", type=int, metavar="N", help="grade N mutants per assignment, drawn with --seed")
    audit.add_argument("--seed", type=int, default=0, help="grading seed and sample draw (default 0)")
    audit.add_argument("--fresh", action="store_true", help="ignore the journals and grade every mutant again")
    audit.add_argument("--min-score", type=float, default=None, metavar="PERCENT",
                       help="exit 1 when an assignment scores below this (default: the target, 95)")
    _add_isolation_option(audit)
    return parser


def _audit(args) -> int:
    try:
        import cosmic_ray  # noqa: F401 - the mutation engine, an instructor extra
    except ImportError:
        print("error: the audit needs cosmic-ray: pip install 'tf2-exercise-kit[instructor]'", file=sys.stderr)
        return EXIT_USAGE
    if not _sandbox_ready(args.isolation):
        return EXIT_NO_SANDBOX
    if args.jobs < 1 or (args.sample is not None and args.sample < 1):
        print(f"error: --jobs and --sample must be at least 1. Received: {args.jobs}, {args.sample}", file=sys.stderr)
        return EXIT_USAGE
    from rich.console import Console

    from autograder import graders
    from autograder.audit import TARGET_PERCENT, audit
    from autograder.audit.report import AuditProgress, print_summary, write_report

    chosen = list(graders.ASSIGNMENT_IDS) if "all" in args.assignments else list(dict.fromkeys(args.assignments))
    console = Console(stderr=True)
    results = []
    with AuditProgress(console) as progress:
        for assignment in chosen:
            try:
                results.append(audit(assignment, root=args.root, out=args.out, jobs=args.jobs, size=args.sample,
                                     seed=args.seed, fresh=args.fresh, isolation=args.isolation, progress=progress))
            except (FileNotFoundError, ValueError, RuntimeError) as exc:  # no solution, a bad declaration,
                print(f"error: {assignment}: {exc}", file=sys.stderr)  # a reference that fails its checks
                return EXIT_USAGE
    command = "python -m autograder audit " + " ".join(chosen) + (f" --sample {args.sample}" if args.sample else "")
    summary = Console()
    print_summary(results, summary if summary.is_terminal else Console(width=140))  # a log keeps whole columns
    print(f"report: {write_report(results, args.out, command)}")
    target = TARGET_PERCENT if args.min_score is None else args.min_score
    below = [r.assignment for r in results if r.score < target]
    if below:
        print(f"below {target:g} %: {', '.join(below)}", file=sys.stderr)
    return 1 if below else EXIT_OK


def _grade(args) -> int:
    from autograder.host.context import GradingContext, configure_tensorflow
    from autograder.course.config import default_config, load_config
    from autograder.host.grading import grade_submission
    from autograder.core.i18n import render, tr
    from autograder.publish.records import write_record
    from autograder.publish.report import print_report, write_gradescope

    if not _sandbox_ready(args.isolation):
        return EXIT_NO_SANDBOX
    try:
        config = load_config(args.config) if args.config else None
        language = args.lang or (config.language if config else "en")
        configure_tensorflow(args.threads)
        result = grade_submission(args.submission, assignment=args.assignment,
                                  context=GradingContext(seed=args.seed, data_source=args.data,
                                                         data_dir=args.data_dir),
                                  limits=Limits(step_timeout=args.timeout, memory_mb=args.memory_mb,
                                                isolation=args.isolation),
                                  course=(config or default_config()).grading_settings())
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print_report(result, language=language)
    if args.json:
        write_gradescope(result, args.json, language=language, reveal_hidden=args.reveal_hidden)
    if args.record:
        write_record(result, args.record)
    if result.grader_faults:
        print(render(tr("error: {count} check(s) hit an internal grader error; see the log above.",
                        count=len(result.grader_faults)), language), file=sys.stderr)
        return EXIT_GRADER_FAULT
    return EXIT_OK


def _batch_options(args):
    """Course configuration first, then whatever the command line says."""
    from autograder.classroom.grade_all import BatchOptions
    from autograder.course.config import default_config, load_config

    config_path = args.config or (Path("course.toml") if Path("course.toml").is_file() else None)
    config = load_config(config_path) if config_path else default_config()
    return BatchOptions(
        config=config_path.resolve() if config_path else None, course_name=config.name,
        points=config.points, thresholds=config.thresholds,
        language=args.lang or config.language, reveal_hidden=args.reveal_hidden,
        assignments=tuple(args.assignment or config.assignments),
        workers=args.workers or config.workers or max(1, os.cpu_count() or 1),
        submission_timeout=args.timeout or config.submission_timeout,
        step_timeout=args.step_timeout or config.step_timeout,
        memory_mb=args.memory_mb or config.memory_mb, isolation=args.isolation,
        seed=config.seed, data=config.data, data_dir=config.data_dir)


def _grade_all(args) -> int:
    from autograder.classroom.grade_all import discover, grade_all
    from autograder.classroom.progress import progress_for
    from autograder.core.i18n import render, tr

    if not _sandbox_ready(args.isolation):
        return EXIT_NO_SANDBOX
    try:
        options = _batch_options(args)
        total = len(discover(args.submissions))
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    with progress_for(total, language=options.language) as progress:
        report = grade_all(args.submissions, args.out, options, resume=args.resume, progress=progress)
    failed = [s for s in report.summaries if s.status != "graded"]
    say = lambda text: print(render(text, options.language))  # noqa: E731
    for entry in report.rejected:  # repr: a name with a newline stays on its warning's line
        print(render(tr("warning: {entry} was not graded: {reason}", entry=repr(entry.name), reason=entry.reason),
                     options.language), file=sys.stderr)
    say(tr("graded {count} submission(s) in {seconds:.0f} s; skipped {skipped} already done; {failed} stopped or "
           "failed; grades in {csv}, feedback in {out}/<student>/, class summary in {summary}",
           count=len(report.summaries), seconds=report.seconds, skipped=len(report.skipped), failed=len(failed),
           csv=str(args.out / "grades.csv"), out=str(args.out), summary=str(args.out / "summary.html")))
    if report.interrupted:
        say(tr("interrupted: what finished is saved; run the same command with --resume to grade the rest."))
        return EXIT_INTERRUPTED
    return EXIT_OK


def _release(args) -> int:
    from autograder.course.release import release

    try:
        stale = release(args.root, check=args.check, config=args.config)
    except (FileNotFoundError, ValueError) as exc:  # ValueError: course.toml problems, unpaired markers
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.check and stale:
        print("out of date: " + ", ".join(str(p) for p in stale), file=sys.stderr)
        return 1
    if not args.check:
        print(f"released {len(stale)} changed file(s)")
    return EXIT_OK


def _nbgrader_course(args) -> int:
    from autograder import graders
    from autograder.course.nbgrader import write_course
    from autograder.course.release import kit_requirement_of

    try:
        requirement = args.kit_requirement or kit_requirement_of(args.root, args.config)
        written = write_course(args.course_dir, args.root, args.assignment or list(graders.ASSIGNMENT_IDS),
                               course_id=args.course_id, kit_requirement=requirement)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK


def _gradescope_package(args) -> int:
    from autograder.course.gradescope import build_package

    try:
        written = build_package(args.out, root=args.root,
                                assignments=[args.assignment] if args.assignment else None)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(written)
    return EXIT_OK


def _student_package(args) -> int:
    from autograder.course.student_package import build_wheel

    try:
        written = build_wheel(args.out, root=args.root)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(written)
    return EXIT_OK


def _drop_working_directory_from_path() -> None:
    """``python -m`` puts the working directory first on sys.path; a module planted there (for example one a
    model's config names, which Keras imports while loading) must never run in this trusted process."""
    here = os.path.realpath(os.getcwd())
    sys.path[:] = [entry for entry in sys.path if entry and os.path.realpath(entry) != here]


def main(argv: list[str] | None = None) -> int:
    from autograder.core.quiet import import_tensorflow_quietly, set_tensorflow_environment

    set_tensorflow_environment()  # also here for callers of main() that bypass __main__.py
    _drop_working_directory_from_path()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notices are noise here
    args = build_parser().parse_args(argv)
    if args.command == "grade":  # the one command whose own process loads TensorFlow: do it here, minus
        import_tensorflow_quietly()  # the start-up lines no setting silences (grade-all's run in grading.log)
    commands = {"grade": _grade, "grade-all": _grade_all, "release": _release, "nbgrader-course": _nbgrader_course,
                "gradescope-package": _gradescope_package, "student-package": _student_package, "audit": _audit}
    return commands[args.command](args)
