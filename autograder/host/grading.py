"""Grade a submission: find its files, run them in the sandbox, judge every check.

:func:`grade_submission` is the kit's one grading API: every route (``grade``, ``grade-all``'s
per-student child, Gradescope, the notebook kernel's child) calls it with the resolved
:class:`autograder.core.settings.Settings`; it grades in this process.
:mod:`autograder.host.child` runs it in a child process where a route needs one.
"""
from __future__ import annotations

import functools
import gc
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder import graders
from autograder.host.context import GradingContext, configure_tensorflow
from autograder.core.i18n import Text, tr
from autograder.core.outcomes import CheckResult, ProbeStatus, judge, not_run
from autograder.core.settings import Settings
from autograder.host.nursery import Nursery
from autograder.host.runner import Limits, ProbeDone, SandboxSession
from autograder.core.spec import Assignment, Check
from autograder.host.forked_judges import Finished, ForkedJudges, JudgeLimits, default_lanes, tensorflow_has_run
from autograder.host.deferred import Deferral

SUBMISSION_SUFFIXES = (".py", ".ipynb")
SAME_AGE_SECONDS = 2.0  # files this close in age count as equally new (checkouts, copies)
# No real hand-in is this large; beyond it a file is refused (a resource attack, or a mistake). Notebooks
# keep their outputs (plots as base64 images), so they may be larger than a plain module.
MAX_SUBMISSION_BYTES = {".py": 5 * 2**20, ".ipynb": 64 * 2**20}


def assignment_ids(settings: Settings) -> tuple[str, ...]:
    """The assignments the settings grade: theirs, or every assignment of the kit when they name none."""
    return graders.ASSIGNMENT_IDS if settings.assignments is None else tuple(settings.assignments)


def grading_context(settings: Settings, shared_folder: Path | None = None,
                    nursery: Nursery | None = None) -> GradingContext:
    """Seeded data for the checks, as the settings say (seed, data source, data directory); ``shared_folder``:
    the run's shared folder of frozen-base features and training runs (:mod:`autograder.host.shared_folder`), None
    for none; ``nursery``: where the run's sandbox workers are forked from (:mod:`autograder.host.nursery`), None
    for a fresh sandbox each."""
    return GradingContext(seed=settings.seed, data_source=settings.data, data_dir=settings.data_dir,
                          shared_folder=shared_folder, nursery=nursery)


def sandbox_limits(settings: Settings) -> Limits:
    """The sandbox limits the settings give one worker: step time, memory, isolation level."""
    return Limits(step_timeout=settings.step_timeout, memory_mb=settings.memory_mb, isolation=settings.isolation)


def applied_settings(settings: Settings, context: GradingContext, limits: Limits) -> dict[str, Any]:
    """What a grading run applied, as plain data for its record: seed, data, limits, points, thresholds."""
    return {"seed": context.seed, "data": context.data_source, "data_dir": context.data_dir,
            "step_timeout": limits.step_timeout, "memory_mb": limits.memory_mb, "isolation": limits.isolation,
            "points": {a: dict(checks) for a, checks in settings.points.items()},
            "thresholds": dict(settings.thresholds)}


@dataclass
class AssignmentResult:
    assignment: str
    title: Text | str
    file: str | None
    checks: list[CheckResult]
    seconds: float
    note: Text | str = ""  # e.g. which of gap.py and gap.ipynb was graded, and why

    @property
    def score(self) -> float:
        return sum(c.score for c in self.checks)

    @property
    def max_score(self) -> float:
        return sum(c.max_score for c in self.checks)


@dataclass
class SubmissionResult:
    submission: str
    assignments: list[AssignmentResult] = field(default_factory=list)
    seconds: float = 0.0
    isolation: str = ""  # the level (autograder.host.isolation) the student's code ran under; "" if none ran
    settings: dict[str, Any] = field(default_factory=dict)  # what the run applied (see applied_settings)

    @property
    def score(self) -> float:
        return sum(a.score for a in self.assignments)

    @property
    def max_score(self) -> float:
        return sum(a.max_score for a in self.assignments)

    @property
    def grader_faults(self) -> list[CheckResult]:
        return [c for a in self.assignments for c in a.checks if c.grader_fault]


class SubmissionRefused(Exception):
    """A submission file that is not graded at all (a link, not a regular file, too large): why, for the student."""

    def __init__(self, message: Text):
        super().__init__(str(message))
        self.message = message


def _refusal(path: Path, folder: Path | None) -> Text | None:
    """Why ``path`` may not be graded as a student's own file, or None when it may.

    Inside a submission folder (``folder`` given) the file itself must be a regular file and
    not a link: a link would let a student hand in someone else's file (the instructor's
    solution, say) as their own. The folder itself may be a link; the instructor chose it.
    A file given directly (``folder`` None) was chosen by the instructor, so a link to it is
    followed, but what it names must still be a regular file of reasonable size.
    """
    try:
        info = path.lstat() if folder is not None else path.stat()
    except OSError:
        return tr("{name} could not be read; hand in the file itself.", name=path.name)
    if stat.S_ISLNK(info.st_mode):
        return tr("{name} is a link; hand in the file itself.", name=path.name)
    if not stat.S_ISREG(info.st_mode):
        return tr("{name} is not a regular file; hand in the file itself.", name=path.name)
    if folder is not None and not path.resolve().is_relative_to(folder.resolve()):
        return tr("{name} lies outside the submission folder; hand in the file itself.", name=path.name)
    limit = MAX_SUBMISSION_BYTES.get(path.suffix, min(MAX_SUBMISSION_BYTES.values()))
    if info.st_size > limit:
        return tr("{name} is {size:.1f} MiB, larger than the {limit:g} MiB a submission may be; it was not graded.",
                  name=path.name, size=info.st_size / 2**20, limit=limit / 2**20)
    return None


def find_submission_file(submission: Path, assignment_id: str) -> tuple[Path | None, Text | str]:
    """The file for ``assignment_id`` in a submission directory (or the submission itself), and a note.

    A directory may hold both ``<id>.py`` and ``<id>.ipynb`` (the kit's exercises/ does): the one
    changed last is graded, since that is the one the student worked in; equally new files
    resolve to the ``.py``. The note says which was chosen, so nobody has to guess.

    Raises :class:`SubmissionRefused` when a file of that name is there but may not be graded
    (see :func:`_refusal`): a link, something other than a regular file, or over
    :data:`MAX_SUBMISSION_BYTES`.
    """
    if submission.is_file():
        if submission.stem != assignment_id:
            return None, ""
        refusal = _refusal(submission, None)
        if refusal is not None:
            raise SubmissionRefused(refusal)
        return submission, ""
    candidates = [submission / f"{assignment_id}{suffix}" for suffix in SUBMISSION_SUFFIXES]
    candidates = [c for c in candidates if c.is_symlink() or c.exists()]  # a dangling link is refused too
    for candidate in candidates:
        refusal = _refusal(candidate, submission)
        if refusal is not None:
            raise SubmissionRefused(refusal)
    if len(candidates) < 2:
        return (candidates[0] if candidates else None), ""
    script, notebook = candidates
    if notebook.stat().st_mtime - script.stat().st_mtime > SAME_AGE_SECONDS:
        return notebook, tr("graded {graded}, which is newer than {other}", graded=notebook.name, other=script.name)
    return script, tr("graded {graded}; {other} is not newer, so it was not graded", graded=script.name,
                      other=notebook.name)


def assignments_for(submission: Path, requested: str | tuple[str, ...] | None) -> list[str]:
    """The assignments to grade in ``submission``: a folder, every one ``requested`` (default: the kit's);
    a single file, the one its name gives, or the only one requested."""
    chosen = graders.ASSIGNMENT_IDS if requested is None else \
        (requested,) if isinstance(requested, str) else tuple(requested)
    for assignment_id in chosen:
        if assignment_id not in graders.ASSIGNMENT_IDS:
            graders.load(assignment_id)  # raises ValueError naming the unknown id
    if not submission.is_file() or len(chosen) == 1:
        return list(chosen)  # a file of another name than the one assignment is not found in it
    if submission.suffix not in SUBMISSION_SUFFIXES:
        raise ValueError(f"a submission file must end in {' or '.join(SUBMISSION_SUFFIXES)}. "
                         f"Received: {submission.name!r}")
    if submission.stem in chosen:
        return [submission.stem]
    raise ValueError(f"cannot tell the assignment from the file name; pass --assignment. "
                     f"Received: {submission.name!r}")


def judge_file(assignment: Assignment, file: Path, *, context: GradingContext, limits: Limits) -> list[CheckResult]:
    """Run ``assignment``'s probes on ``file`` in the sandbox and judge each of its checks."""
    return judge_files([(assignment, file)], context=context, limits=limits)[assignment.id]


def judge_files(parts: list[tuple[Assignment, Path]], *, context: GradingContext,
                limits: Limits) -> dict[str, list[CheckResult]]:
    """:func:`judge_file` for one file of each of several assignments, all run by one sandbox worker (as one
    student's submission is): ``{assignment id: its check results}``."""
    return {aid: list(checks) for aid, checks, _ in _judging(parts, context=context, limits=limits)}


def judge_each(assignment: Assignment, file: Path, *, context: GradingContext, limits: Limits):
    """Like :func:`judge_file`, one check at a time (the mutation audit stops at the first failure)."""
    for _, checks, _ in _judging([(assignment, file)], context=context, limits=limits):
        yield from checks


@dataclass(frozen=True)
class TensorflowStart:
    """When this process configures (and so imports) TensorFlow for the judging, with ``threads`` threads:
    as soon as the sandbox worker is starting, so that the two starts overlap (a single grade, where the wait
    is what counts), or ``on_demand``: only once an assignment has a probe that ran, since judging failed
    probes needs no TensorFlow (grade-all, where a stub, a crash or a file that does not import then costs
    no TensorFlow start, and the cores are busy with other students anyway)."""

    threads: int
    on_demand: bool = False

    @property
    def lanes(self) -> int:
        """Judges at once (:mod:`autograder.host.forked_judges`); on demand, one: the cores are others'."""
        return 1 if self.on_demand else default_lanes(self.threads)

    def worker_starting(self) -> None:
        if not self.on_demand:
            configure_tensorflow(max(1, self.threads // self.lanes))  # the threads are shared by the judges

    def probes_done(self, observed: dict) -> None:
        if self.on_demand and any(status.state == "ok" for status, _ in observed.values()):
            configure_tensorflow(self.threads)  # a no-op after the first time


def _judging(parts: list[tuple[Assignment, Path]], *, context: GradingContext, limits: Limits,
             tensorflow: TensorflowStart | None = None, deferral: Deferral | None = None):
    """The one sandbox session of a submission: one worker runs ``parts``' probes, and each assignment is judged
    as soon as the worker is done with it, while the worker goes on with the next. Yields (assignment id, its
    checks, judged as they are iterated, the worker's seconds for it); iterate the checks before the next item."""
    assignments = {assignment.id: assignment for assignment, _ in parts}
    if len(assignments) != len(parts):
        raise ValueError(f"one file per assignment. Received: {[a.id for a, _ in parts]}")
    with SandboxSession(parts, seed=context.seed, limits=limits, nursery=context.nursery) as session:
        session.start()
        if tensorflow is not None:
            tensorflow.worker_starting()
        for aid, observed in session.run():
            if tensorflow is not None:
                tensorflow.probes_done(observed)
            yield aid, _judge_releasing(aid, assignments[aid].checks, observed, context, deferral), \
                session.seconds[aid]


def not_graded(assignment: Assignment, refused: Text | None = None) -> AssignmentResult:
    """Zero for every check of ``assignment``: nothing was handed in, or (``refused``: why) it may not be graded."""
    if refused is not None:
        checks = [not_run(assignment.id, check, ProbeStatus("error", refused)) for check in assignment.checks]
        return AssignmentResult(assignment.id, assignment.title, None, checks, 0.0, refused)
    missing = ProbeStatus("not_attempted", tr("No {name}.py or {name}.ipynb was found in the submission.",
                                              name=assignment.id))
    return AssignmentResult(assignment.id, assignment.title, None,
                            [not_run(assignment.id, check, missing) for check in assignment.checks], 0.0)


def grade_files(files: dict[str, tuple[Path, Text | str]], *, settings: Settings, context: GradingContext,
                limits: Limits, tensorflow: TensorflowStart | None = None,
                deferral: Deferral | None = None) -> dict[str, AssignmentResult]:
    """Grade each assignment's file (``{assignment: (file, note)}``) in one sandbox worker (:func:`_judging`);
    ``tensorflow``: when this process starts TensorFlow for the judging (None: the caller has, or will);
    ``deferral``: where the training checks go to be judged elsewhere (:mod:`autograder.host.deferred`)."""
    assignments = {aid: _configured(aid, settings) for aid in files}
    parts = [(assignments[aid], file) for aid, (file, _) in files.items()]
    lanes = tensorflow.lanes if tensorflow is not None and not tensorflow_has_run() else 1
    judging = {"context": context, "limits": limits, "tensorflow": tensorflow, "deferral": deferral}
    judged = _judged_in_forks(parts, **judging) if lanes > 1 else _judged_here(parts, **judging)
    results: dict[str, AssignmentResult] = {}
    for aid, (checks, seconds) in judged.items():
        file, note = files[aid]
        results[aid] = AssignmentResult(aid, assignments[aid].title, file.name, checks, seconds, note)
    return results


def _judged_here(parts, *, context, limits, tensorflow, deferral) -> dict[str, tuple[list[CheckResult], float]]:
    """Each assignment judged in this process as the worker finishes it: {id: (check results, seconds)}."""
    judged = {}
    for aid, checks, worker_seconds in _judging(parts, context=context, limits=limits, tensorflow=tensorflow,
                                                deferral=deferral):
        started = time.monotonic()
        judged[aid] = (list(checks), worker_seconds + time.monotonic() - started)
    return judged


def _judged_in_forks(parts, *, context, limits, tensorflow, deferral) -> dict[str, tuple[list[CheckResult], float]]:
    """Like :func:`_judged_here`, in forked judges, ``tensorflow.lanes`` at once
    (:mod:`autograder.host.forked_judges`), handed work as the worker finishes each probe
    (:class:`_ForkedDispatch`). Results in each assignment's order of checks."""
    assignments = {assignment.id: assignment for assignment, _ in parts}
    worker_seconds: dict[str, float] = {}
    with ForkedJudges(tensorflow.lanes, JudgeLimits(memory_mb=limits.memory_mb or JudgeLimits.memory_mb)) as judges:
        with SandboxSession(parts, seed=context.seed, limits=limits, nursery=context.nursery) as session:
            session.start()
            tensorflow.worker_starting()
            dispatch = _ForkedDispatch(judges, assignments, functools.partial(_judged_list, context=context,
                                                                               deferral=deferral))
            for item in session.run(probes=True):
                if isinstance(item, ProbeDone):
                    dispatch.probe_done(item)
                else:
                    worker_seconds[item[0]] = session.seconds[item[0]]
                    dispatch.assignment_done(item[0])
            finished = dispatch.settled()  # before the session's folder, which holds what the children read, goes
    judged = {}
    for aid, assignment in assignments.items():
        mine = [item for item in finished if item.assignment == aid]
        by_id = {result.check_id: result for item in mine for result in item.results}
        judged[aid] = ([by_id[check.id] for check in assignment.checks],
                       worker_seconds[aid] + sum(item.seconds for item in mine))
    return judged


class _ForkedDispatch:
    """What each forked judge takes, and when. A training run (a check with a threshold: seconds, where most
    checks take tenths) goes alone, as soon as the worker has finished its probe. A probe's other checks wait
    and go together with those of the assignment's other finished probes: at once when a lane is free (so
    judging overlaps the worker's next probe), else when the worker is done with the assignment (a judge
    costs a fork and TensorFlow's first steps, about 0.1 s, not worth paying while every lane is busy)."""

    def __init__(self, judges: ForkedJudges, assignments: dict[str, Assignment], judge_list):
        self.judges, self.assignments, self.judge_list = judges, assignments, judge_list
        self.observed: dict[str, dict] = {aid: {} for aid in assignments}
        self.waiting: dict[str, list[Check]] = {aid: [] for aid in assignments}

    def probe_done(self, item: ProbeDone) -> None:
        aid = item.assignment
        self.observed[aid][item.probe] = (item.status, item.evidence)
        checks = [check for check in self.assignments[aid].checks if check.probe == item.probe]
        for check in checks:
            if check.threshold is not None:
                self._submit(aid, [check])
        self.waiting[aid] += [check for check in checks if check.threshold is None]
        if self.judges.free_lanes() > 0:
            self._submit_waiting(aid)

    def assignment_done(self, aid: str) -> None:
        self._submit_waiting(aid)

    def _submit_waiting(self, aid: str) -> None:
        if self.waiting[aid]:
            checks, self.waiting[aid] = self.waiting[aid], []
            self._submit(aid, checks)

    def settled(self) -> list[Finished]:
        """Every judge's results, once all have ended. Checks of several probes judged together (to save forks)
        whose judge reached a limit are judged again probe by probe: one probe's huge model costs only its own
        checks, as it does when a lane was free and each probe's checks went alone."""
        shared = [item for item in self.judges.drain()
                  if item.limit_reached and len({check.probe for check in item.checks}) > 1]
        for item in shared:
            for probe in dict.fromkeys(check.probe for check in item.checks):
                self._submit(item.assignment, [check for check in item.checks if check.probe == probe])
        again = {id(item) for item in shared}
        return [item for item in self.judges.drain() if id(item) not in again]

    def _submit(self, aid: str, checks: list[Check]) -> None:
        observed = {check.probe: self.observed[aid][check.probe] for check in checks}
        self.judges.submit(aid, checks, functools.partial(self.judge_list, aid, checks, observed))


def _judged_list(aid: str, checks: list[Check], observed: dict, context: GradingContext,
                 deferral: Deferral | None) -> list[CheckResult]:
    return list(_judge_releasing(aid, checks, observed, context, deferral))


def _judge_releasing(aid: str, checks: list[Check], observed: dict, context: GradingContext,
                     deferral: Deferral | None = None):
    """Judge each check in turn (or defer it: ``deferral``), releasing a probe's loaded models after its last
    check (less memory at once)."""
    last_check = {check.probe: index for index, check in enumerate(checks)}
    for index, check in enumerate(checks):
        status, evidence = observed[check.probe]
        deferred = deferral.defer(aid, check, status, evidence) if deferral is not None else None
        yield deferred or judge(aid, check, status, evidence, context)
        if last_check[check.probe] == index and observed[check.probe][1].release():
            gc.collect()  # Keras models hold reference cycles


def _configured(assignment_id: str, settings: Settings) -> Assignment:
    return graders.load_configured(assignment_id, settings.points, settings.thresholds)


def grade_submission(submission: Path, settings: Settings | None = None, *, assignment: str | None = None,
                     context: GradingContext | None = None, limits: Limits | None = None,
                     tensorflow: TensorflowStart | None = None, deferral: Deferral | None = None) -> SubmissionResult:
    """Grade ``submission`` (a folder of ``<assignment>.py``/``.ipynb`` files, or one such file) in this process.

    Everything comes from ``settings`` (default: every default): the assignments, points and thresholds,
    the seed and data (``context``), the sandbox's limits (``limits``). ``assignment``, ``context`` and
    ``limits`` replace the settings' own where a caller has them already (a test's shared data cache).
    ``tensorflow``: when this process starts TensorFlow for the judging (:class:`TensorflowStart`).
    ``deferral``: where the training checks go to be judged elsewhere (:mod:`autograder.host.deferred`).
    """
    submission = Path(submission)
    if not submission.exists():
        raise FileNotFoundError(f"submission not found. Received: {str(submission)!r}")
    settings = settings or Settings()
    context = context or grading_context(settings)
    limits = limits or sandbox_limits(settings)
    started = time.monotonic()
    result = SubmissionResult(str(submission), isolation=limits.isolation,
                              settings=applied_settings(settings, context, limits))
    chosen = assignments_for(submission, assignment or settings.assignments)
    files: dict[str, tuple[Path, Text | str]] = {}
    ungraded: dict[str, AssignmentResult] = {}
    for assignment_id in chosen:
        try:
            file, note = find_submission_file(submission, assignment_id)
        except SubmissionRefused as refusal:
            ungraded[assignment_id] = not_graded(_configured(assignment_id, settings), refusal.message)
            continue
        if file is None:
            ungraded[assignment_id] = not_graded(_configured(assignment_id, settings))
        else:
            files[assignment_id] = (file, note)
    graded = grade_files(files, settings=settings, context=context, limits=limits, tensorflow=tensorflow,
                         deferral=deferral)
    result.assignments = [graded.get(aid) or ungraded[aid] for aid in chosen]
    result.seconds = time.monotonic() - started
    return result

