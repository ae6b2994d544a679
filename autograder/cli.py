"""Command line: ``python -m autograder grade|grade-all|config|release|nbgrader-course|gradescope-package|...``.

The options that are settings (time and memory limits, seed, data, language, isolation, ...) are
handed as given to :func:`autograder.course.config.resolve_settings`, which checks them with the
same rules as course.toml and the environment and records that they came from the command line.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from autograder.core.settings import DEFAULTS

EXIT_OK, EXIT_USAGE, EXIT_GRADER_FAULT, EXIT_NO_SANDBOX, EXIT_NO_CLUSTER, EXIT_INTERRUPTED = 0, 2, 3, 4, 5, 130
ISOLATION_HELP = ("how student code is walled off: bwrap (an OS sandbox; grading stops if it cannot be set up), "
                  "uid (as root: an unprivileged user, for containers that block user namespaces), none (a plain "
                  "process: debugging only)")
# Each command's options that are settings: argparse dest -> setting.
GRADE_SETTINGS = {"assignment": "assignments", "timeout": "step_timeout", "seed": "seed", "data": "data",
                  "data_dir": "data_dir", "memory_mb": "memory_mb", "lang": "language",
                  "reveal_hidden": "reveal_hidden", "isolation": "isolation"}
GRADE_ALL_SETTINGS = {"assignment": "assignments", "workers": "workers", "timeout": "submission_timeout",
                      "step_timeout": "step_timeout", "memory_mb": "memory_mb", "isolation": "isolation",
                      "lang": "language", "reveal_hidden": "reveal_hidden", "cluster": "cluster"}


def _add_isolation_option(parser: argparse.ArgumentParser) -> None:
    """``--isolation`` for a command that does not grade through the settings (audit): argparse checks it."""
    from autograder.host.isolation import LEVELS

    parser.add_argument("--isolation", choices=LEVELS, default=DEFAULTS.isolation,
                        help=f"{ISOLATION_HELP} (default {DEFAULTS.isolation})")


def _add_isolation_setting(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--isolation", metavar="{bwrap,uid,none}",
                        help=f"{ISOLATION_HELP} (default: $TF2_KIT_ISOLATION, else {DEFAULTS.isolation})")


def _command_line(args: argparse.Namespace, settings: dict[str, str]) -> dict[str, tuple[str, object]]:
    """The settings given on the command line, each with its origin ("command line --timeout")."""
    given = {}
    for dest, setting in settings.items():
        value = getattr(args, dest)
        if isinstance(value, str) and setting == "assignments":
            value = [value]  # grade's --assignment names one
        given[setting] = (f"command line --{dest.replace('_', '-')}", value)
    return given


def _resolved(args: argparse.Namespace, settings: dict[str, str], working_folder: Path | None):
    """The settings of this command; raises CourseConfigError listing every problem of every source."""
    from autograder.course.config import resolve_settings

    return resolve_settings(config=args.config, command_line=_command_line(args, settings),
                            working_folder=working_folder)


def sandbox_ready(level: str) -> bool:
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
    from autograder.host.child import DEFAULT_THREADS

    ids = ",".join(graders.ASSIGNMENT_IDS)
    course = "the course's, else"  # where a setting's default comes from after the environment
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    grade = commands.add_parser("grade", help="grade one submission (a directory or a single <assignment>.py)")
    grade.add_argument("submission", type=Path)
    grade.add_argument("--assignment", metavar=f"{{{ids}}}", help="grade only this assignment")
    grade.add_argument("--json", type=Path, metavar="FILE", help="also write a Gradescope-compatible results.json")
    grade.add_argument("--timeout", metavar="S",
                       help="seconds the submission's code may run per step: its import, or one graded call "
                            f"(default: {course} {DEFAULTS.step_timeout:g})")
    grade.add_argument("--seed", help=f"seed for data, weights and training (default: {course} {DEFAULTS.seed})")
    grade.add_argument("--data", metavar="{synthetic,tfds}",
                       help=f"training data for accuracy checks (default: {course} {DEFAULTS.data}, offline)")
    grade.add_argument("--data-dir", help="tensorflow-datasets data directory for --data tfds")
    grade.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                       help=f"TensorFlow threads in the grading process (default {DEFAULT_THREADS})")
    grade.add_argument("--memory-mb", metavar="M",
                       help="memory one sandbox worker (the student's code) may use; beyond it the running "
                            f"step is stopped and its checks get an error (default: {course} {DEFAULTS.memory_mb})")
    grade.add_argument("--config", type=Path, default=None, metavar="TOML",
                       help="course configuration whose settings apply: points, thresholds, limits, seed, data, "
                            "language, assignments (default: the file $TF2_KIT_CONFIG names, else none)")
    grade.add_argument("--lang", metavar="{en,bn}",
                       help=f"language of the report and results.json (default: {course} {DEFAULTS.language})")
    grade.add_argument("--reveal-hidden", action="store_true", default=None,
                       help="put hidden checks' messages into results.json too (after the deadline)")
    _add_isolation_setting(grade)
    grade.add_argument("--record", type=Path, metavar="FILE",
                       help="also write the full grading record (every message in every language)")

    grade_all = commands.add_parser("grade-all", help="grade a class: one sub-folder (or file) per student, "
                                                      "in parallel, into OUT/<student>/ and OUT/grades.csv")
    grade_all.add_argument("submissions", type=Path)
    grade_all.add_argument("--out", type=Path, required=True, help="where results and grades.csv go")
    grade_all.add_argument("--config", type=Path, default=None,
                           help="course configuration (default: the file $TF2_KIT_CONFIG names, else "
                                "./course.toml when it exists)")
    grade_all.add_argument("--assignment", action="append", metavar=f"{{{ids}}}",
                           help="grade only this assignment (repeatable; default: the course's)")
    grade_all.add_argument("--workers", help="submissions graded at once (default: the course's, else one per core)")
    grade_all.add_argument("--timeout", metavar="S", help="wall-clock seconds for one student's submission "
                                                          f"(default: {course} {DEFAULTS.submission_timeout:g})")
    grade_all.add_argument("--step-timeout", metavar="S", help="seconds one step of student code may run "
                                                               f"(default: {course} {DEFAULTS.step_timeout:g})")
    grade_all.add_argument("--memory-mb", metavar="M",
                           help=f"memory one sandbox worker may use (default: {course} {DEFAULTS.memory_mb})")
    _add_isolation_setting(grade_all)
    grade_all.add_argument("--cluster", metavar="WHERE",
                           help="where the students are graded: local (this machine's process pool), dask-local (a "
                                "Dask LocalCluster here), tcp://HOST:PORT (a running Dask scheduler), slurm or "
                                "kubernetes (settings from course.toml [cluster]) (default: $TF2_KIT_CLUSTER, else "
                                f"{DEFAULTS.cluster})")
    grade_all.add_argument("--resume", action="store_true", help="skip students who already have results")
    grade_all.add_argument("--lang", metavar="{en,bn}", help="language of feedback, results.json and summary "
                                                             f"(default: {course} {DEFAULTS.language})")
    grade_all.add_argument("--reveal-hidden", action="store_true", default=None,
                           help="show hidden checks' messages and figures in feedback (after the deadline)")

    config = commands.add_parser("config", help="print every setting, its value and where the value came from "
                                                "(default, course.toml, environment, command line)")
    config.add_argument("--show", action="store_true", required=True, help="print the settings (the one action)")
    config.add_argument("--config", type=Path, default=None, metavar="TOML",
                        help="course configuration (default: the file $TF2_KIT_CONFIG names, else ./course.toml "
                             "when it exists, as grade-all reads it)")

    release = commands.add_parser("release", help="regenerate exercises/ and solutions/ from source/")
    release.add_argument("--root", type=Path, default=Path.cwd(), help="project root holding source/")
    release.add_argument("--check", action="store_true", help="only report whether the outputs are up to date")
    release.add_argument("--config", type=Path, default=None, metavar="TOML",
                         help="course configuration whose [course] kit_requirement the notebooks install "
                              "(default: ROOT/course.toml when it exists)")

    nbgrader_course = commands.add_parser("nbgrader-course", help="write an nbgrader course folder "
                                                                  "(configuration and source notebooks)")
    nbgrader_course.add_argument("course_dir", type=Path)
    nbgrader_course.add_argument("--root", type=Path, default=Path.cwd(), help="the kit's folder holding source/")
    nbgrader_course.add_argument("--course-id", default="tf2-course", help="nbgrader course id (default tf2-course)")
    nbgrader_course.add_argument("--assignment", action="append", metavar=f"{{{ids}}}",
                                 help="include only this assignment (repeatable; default: the course's)")
    nbgrader_course.add_argument("--config", type=Path, default=None, metavar="TOML",
                                 help="course configuration: the notebooks' kit_requirement, points and thresholds, "
                                      "copied into the course so that nbgrader's grading applies all of it "
                                      "(default: the file $TF2_KIT_CONFIG names, else ROOT/course.toml when it exists)")
    nbgrader_course.add_argument("--kit-requirement", default=None, metavar="REQ",
                                 help="what the notebooks' first cell pip-installs when the kit is missing, e.g. "
                                      "git+https://github.com/you/tf2-exercise-kit (default: the course "
                                      "configuration's kit_requirement)")

    gradescope = commands.add_parser("gradescope-package",
                                     help="write a Gradescope autograder zip (setup.sh, run_autograder, the kit)")
    gradescope.add_argument("--out", type=Path, required=True, metavar="ZIP", help="the archive to write")
    gradescope.add_argument("--root", type=Path, default=Path.cwd(), help="the kit's project folder (default: .)")
    gradescope.add_argument("--assignment", choices=graders.ASSIGNMENT_IDS,
                            help="grade only this assignment (default: the course's assignments)")

    gradescope_run = commands.add_parser("gradescope-run", help="what the package's run_autograder calls on "
                                                                "Gradescope: collect the submission, grade it with "
                                                                "the packed course.toml, write results.json")
    gradescope_run.add_argument("--root", type=Path, default=None,
                                help="Gradescope's folder (default: $AUTOGRADER_ROOT, else /autograder)")
    gradescope_run.add_argument("--assignment", metavar=f"{{{ids}}}",
                                help="the package's one assignment (default: the course's assignments)")

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
    if not sandbox_ready(args.isolation):
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


def grade_and_report(submission: Path, settings, run, *, results_json: Path | None = None,
                     record: Path | None = None) -> int:
    """Grade ``submission`` in this process with ``settings``, as ``run`` (an autograder.host.child.GradingRun)
    says, print the report, write the files asked for; the exit code. What ``grade``, ``gradescope-run`` and the
    grading child (autograder.host.child) all do."""
    from autograder.core.i18n import render, tr
    from autograder.host.deferred import Deferral, is_placeholder
    from autograder.host.grading import TensorflowStart, grade_submission, grading_context
    from autograder.publish.records import write_record
    from autograder.publish.results_json import write_gradescope
    from autograder.publish.terminal import print_report

    if not sandbox_ready(settings.isolation):
        return EXIT_NO_SANDBOX
    try:
        context = grading_context(settings, run.shared_folder, run.nursery)
        result = grade_submission(submission, settings, context=context,
                                  tensorflow=TensorflowStart(run.threads, run.tensorflow_on_demand),
                                  deferral=None if run.defer_to is None else Deferral(run.defer_to))
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # the sandbox worker and the judges are stopped on the way out
        print(render(tr("interrupted: nothing was graded or written."), settings.language), file=sys.stderr)
        return EXIT_INTERRUPTED
    language = settings.language
    print_report(result, language=language)
    if results_json:
        write_gradescope(result, results_json, language=language, reveal_hidden=settings.reveal_hidden)
    if record:
        write_record(result, record)
    faults = [check for check in result.grader_faults if not is_placeholder(check)]  # those are judged elsewhere
    if faults:
        print(render(tr("error: {count} check(s) hit an internal grader error; see the log above.",
                        count=len(faults)), language), file=sys.stderr)
        return EXIT_GRADER_FAULT
    return EXIT_OK


def _usage_error(exc: Exception) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return EXIT_USAGE


def _grade(args) -> int:
    from autograder.host.child import GradingRun

    try:  # grade reads a course.toml only when one is named (--config, $TF2_KIT_CONFIG)
        settings = _resolved(args, GRADE_SETTINGS, working_folder=None)
        run = GradingRun(threads=args.threads)
    except ValueError as exc:  # CourseConfigError: every problem of every source; --threads below 1
        return _usage_error(exc)
    return grade_and_report(args.submission, settings, run, results_json=args.json, record=args.record)


def _grade_all(args) -> int:
    from autograder.classroom.cluster import ClusterUnavailable
    from autograder.classroom.grade_all import discover, grade_all
    from autograder.classroom.progress import progress_for
    from autograder.core.i18n import render, tr

    try:
        options = _resolved(args, GRADE_ALL_SETTINGS, working_folder=Path.cwd())
    except ValueError as exc:
        return _usage_error(exc)
    # Here, the sandbox is checked before anything runs; a remote cluster's workers check their own.
    if options.cluster in ("local", "dask-local") and not sandbox_ready(options.isolation):
        return EXIT_NO_SANDBOX
    try:
        total = len(discover(args.submissions))
    except (FileNotFoundError, ValueError) as exc:
        return _usage_error(exc)
    try:
        with progress_for(total, language=options.language) as progress:
            report = grade_all(args.submissions, args.out, options, resume=args.resume, progress=progress)
    except ClusterUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NO_CLUSTER
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


def _config(args) -> int:
    from autograder.course.config import resolve_settings, settings_table

    try:
        settings = resolve_settings(config=args.config, working_folder=Path.cwd())
    except ValueError as exc:
        return _usage_error(exc)
    print(settings_table(settings))
    return EXIT_OK


def _nbgrader_course(args) -> int:
    from autograder.course.config import resolve_settings
    from autograder.course.nbgrader import write_course

    try:
        settings = resolve_settings(config=args.config, working_folder=Path(args.root), command_line={
            "assignments": ("command line --assignment", args.assignment),
            "kit_requirement": ("command line --kit-requirement", args.kit_requirement)})
        written = write_course(args.course_dir, args.root, settings, course_id=args.course_id)
    except (FileNotFoundError, ValueError) as exc:
        return _usage_error(exc)
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK


def _gradescope_run(args) -> int:
    from autograder.course import gradescope
    from autograder.host.child import DEFAULT_THREADS, GradingRun
    from autograder.host.grading import assignment_ids

    root = args.root or Path(os.environ.get("AUTOGRADER_ROOT") or gradescope.GRADESCOPE_ROOT)
    try:
        settings = gradescope.run_settings(root, args.assignment)
    except ValueError as exc:
        return _usage_error(exc)
    settings = gradescope.strongest_isolation(settings)
    with gradescope.collected(root / gradescope.SUBMISSION_DIR, assignment_ids(settings)) as submission:
        return grade_and_report(submission, settings, GradingRun(threads=DEFAULT_THREADS),
                                results_json=root / gradescope.RESULTS)


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


def prepare_process() -> None:
    """What a kit process does first: TensorFlow's environment before it loads, nothing of the working folder
    on sys.path, quiet logging. ``main`` and the grading child (autograder.host.child) call it."""
    from autograder.core.quiet import set_tensorflow_environment

    set_tensorflow_environment()  # also here for callers of main() that bypass __main__.py
    _drop_working_directory_from_path()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notices are noise here


def main(argv: list[str] | None = None) -> int:
    prepare_process()
    args = build_parser().parse_args(argv)
    # grade and gradescope-run import TensorFlow (quietly) once the sandbox worker has started: the two starts overlap
    commands = {"grade": _grade, "grade-all": _grade_all, "config": _config, "release": _release,
                "nbgrader-course": _nbgrader_course, "gradescope-package": _gradescope_package,
                "gradescope-run": _gradescope_run, "student-package": _student_package, "audit": _audit}
    return commands[args.command](args)
