"""Grade every mutant with the kit, on all cores, into a journal a later run resumes from.

Each mutant is graded as a student's file is (``grading.judge_each``: the sandbox, the probes, the
checks, with the default course settings); it is *killed* when any check does not pass, and judging
stops at that check. A pool process keeps its grading
context (TensorFlow, the grading data) across mutants; the mutants themselves run only inside the
sandbox workers, as any submission does.

The journal (``OUT/<id>/journal.jsonl``) gets one line per graded mutant the moment it is graded, and
starts with the fingerprint of what it measured (the solution, the graders, the operators). A run
with the same fingerprint skips what is already there; a different one starts again and says why.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import random
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from autograder.audit.mutants import Mutant

PACKAGE = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Verdict:
    id: str
    killed: bool
    failed: dict[str, str]   # check id -> outcome (failed, error, timeout, not_attempted)
    passed: list[str]
    grader_faults: list[str]
    seconds: float

    def to_json(self) -> dict:
        return {"id": self.id, "killed": self.killed, "failed": self.failed, "passed": self.passed,
                "grader_faults": self.grader_faults, "seconds": round(self.seconds, 2)}

    @classmethod
    def from_json(cls, data: dict) -> Verdict:
        return cls(data["id"], bool(data["killed"]), dict(data["failed"]), list(data["passed"]),
                   list(data.get("grader_faults", [])), float(data["seconds"]))


def fingerprint(assignment: str, solution: str) -> str:
    """What a journal's verdicts depend on: the solution, the assignment's grader and what it builds on, and
    how mutants are made and graded (not how they are reported: a report change keeps the journal)."""
    digest = hashlib.sha256(solution.encode("utf-8"))
    graders, audit = PACKAGE / "graders", PACKAGE / "audit"
    for path in sorted([*(graders / assignment).glob("*.py"), *(graders / "common").glob("*.py"),
                        audit / "mutants.py", audit / "operators.py", audit / "run.py",
                        *(PACKAGE / "host").glob("*.py"), *(PACKAGE / "worker").glob("*.py")]):
        digest.update(path.relative_to(PACKAGE).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class Journal:
    path: Path
    fingerprint: str
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    restarted_because: str = ""

    @classmethod
    def open(cls, path: Path, fingerprint: str, *, fresh: bool) -> Journal:
        journal = cls(path, fingerprint)
        if path.exists() and not fresh:
            lines = path.read_text(encoding="utf-8").splitlines()
            header = json.loads(lines[0]) if lines else {}
            if header.get("fingerprint") == fingerprint:
                for line in lines[1:]:
                    try:
                        verdict = Verdict.from_json(json.loads(line))
                    except (ValueError, KeyError, TypeError):
                        continue  # a line cut short by an interrupted run: grade that mutant again
                    journal.verdicts[verdict.id] = verdict
                return journal
            journal.restarted_because = "the solution, the graders or the audit changed since the last run"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"fingerprint": fingerprint}) + "\n", encoding="utf-8")
        return journal

    def add(self, verdict: Verdict) -> None:
        self.verdicts[verdict.id] = verdict
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(verdict.to_json()) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def sample(mutants: list[Mutant], size: int | None, seed: int) -> list[Mutant]:
    """All mutants, or ``size`` of them drawn with ``seed`` (the same draw every run, so it resumes)."""
    if size is None or size >= len(mutants):
        return mutants
    chosen = set(m.id for m in random.Random(seed).sample(mutants, size))
    return [m for m in mutants if m.id in chosen]


# --- the pool side: one grading context per process, reused across that process's mutants -----------------

_CONTEXT = None


def _quiet_pool_process() -> None:
    """A pool process grades as ``grade`` does: TensorFlow's start-up and retracing lines kept off the bar."""
    import logging

    from autograder.host.context import configure_tensorflow

    configure_tensorflow(1)  # imports TensorFlow quietly, as grade's grading process does
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def _grade_in_pool(assignment: str, mutant_id: str, source: str, seed: int, isolation: str,
                   stop_at_first_failure: bool = True) -> Verdict:
    """Grade one mutant as a submission; a killed mutant's verdict names the first check it failed.

    Checks are judged in declaration order and, once one fails, the rest are skipped: the mutant is
    killed either way, and the training checks at the end are the expensive ones. A survivor is
    judged by every check, so the report can list them all.
    """
    import time

    from autograder import graders
    from autograder.host.context import GradingContext
    from autograder.host.grading import judge_each
    from autograder.host.runner import Limits

    global _CONTEXT
    if _CONTEXT is None or _CONTEXT.seed != seed:
        _CONTEXT = GradingContext(seed=seed)
    started = time.monotonic()
    failed, passed, faults = {}, [], []
    with tempfile.TemporaryDirectory(prefix="audit-") as folder:
        file = Path(folder) / f"{assignment}.py"
        file.write_text(source, encoding="utf-8")
        results = judge_each(graders.load(assignment), file, context=_CONTEXT, limits=Limits(isolation=isolation))
        for result in results:
            if result.grader_fault:
                faults.append(result.check_id)
            if result.passed:
                passed.append(result.check_id)
                continue
            failed[result.check_id] = result.outcome.value
            if stop_at_first_failure:
                results.close()  # ends the sandbox session before the folder goes
                break
    return Verdict(mutant_id, bool(failed), failed, passed, faults, time.monotonic() - started)


def grading_pool(jobs: int) -> ProcessPoolExecutor:
    """The processes that grade the reference and the mutants (started on first use, one TensorFlow each)."""
    context = multiprocessing.get_context("spawn")  # TensorFlow is not fork-safe
    return ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_quiet_pool_process)


def grade_all(pool: ProcessPoolExecutor, assignment: str, mutants: Iterable[Mutant], *, journal: Journal, seed: int,
              isolation: str, on_done=lambda verdict: None) -> None:
    """Grade the mutants the journal lacks, all of the pool at a time; each verdict is journaled as it arrives."""
    futures = [pool.submit(_grade_in_pool, assignment, m.id, m.source, seed, isolation)
               for m in mutants if m.id not in journal.verdicts]
    for future in as_completed(futures):
        verdict = future.result()
        journal.add(verdict)
        on_done(verdict)


def grade_reference(pool: ProcessPoolExecutor, assignment: str, source: str, *, seed: int, isolation: str) -> Verdict:
    """The unmutated solution, graded the same way: every check must pass, or the audit means nothing."""
    return pool.submit(_grade_in_pool, assignment, "reference", source, seed, isolation, False).result()
