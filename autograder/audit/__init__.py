"""``python -m autograder audit``: how many one-change mutants of each reference solution the hidden graders kill.

Why cosmic-ray, not mutmut: mutmut 3 compiles every mutant of a module into one trampolined file that
imports mutmut at run time and picks the mutant from an environment variable, and it drives a pytest
run; a mutant here must be a plain student file, graded in the sandbox (which has no mutmut) by the
kit's own graders. cosmic-ray's operators and ``MutationVisitor`` make exactly one change to a parso
tree and give back ordinary source, formatting and comments kept, so each mutant is graded as any
student's submission is, and the kit adds the operators a Keras course needs (``operators.py``).

The score is killed / (mutants − declared equivalent). Equivalent mutants are declared with their reason
in ``source/<id>/equivalent_mutants.toml``; a declaration that no longer matches a mutant is reported, so
the list cannot rot silently.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from autograder.audit.mutants import DECLARATIONS, Equivalence, Mutant, enumerate_mutants, load_equivalences
from autograder.audit.run import Journal, Verdict, fingerprint, grade_all, grade_reference, grading_pool, sample

TARGET_PERCENT = 95.0


@dataclass
class AuditResult:
    assignment: str
    mutants: list[Mutant]
    verdicts: dict[str, Verdict]
    equivalences: list[Equivalence]
    sampled_from: int
    unused_declarations: list[Equivalence] = field(default_factory=list)

    def equivalent(self, mutant: Mutant) -> Equivalence | None:
        return next((e for e in self.equivalences if e.covers(mutant)), None)

    @property
    def counted(self) -> list[Mutant]:
        return [m for m in self.mutants if self.equivalent(m) is None and m.id in self.verdicts]

    @property
    def killed(self) -> list[Mutant]:
        return [m for m in self.counted if self.verdicts[m.id].killed]

    @property
    def survived(self) -> list[Mutant]:
        return [m for m in self.counted if not self.verdicts[m.id].killed]

    @property
    def score(self) -> float:
        return 100.0 * len(self.killed) / len(self.counted) if self.counted else 100.0

    @property
    def grader_faults(self) -> list[Mutant]:
        return [m for m in self.mutants if m.id in self.verdicts and self.verdicts[m.id].grader_faults]


def solution_path(root: Path, assignment: str) -> Path:
    return root / "solutions" / f"{assignment}.py"


def declarations_path(root: Path, assignment: str) -> Path:
    return root / "source" / assignment / DECLARATIONS


def audit(assignment: str, *, root: Path, out: Path, jobs: int | None = None, size: int | None = None,
          seed: int = 0, fresh: bool = False, isolation: str = "bwrap", progress=None) -> AuditResult:
    """Grade ``assignment``'s mutants (all, or ``size`` drawn with ``seed``) and return the tally."""
    from autograder.kernel import STUDENT_NAMES

    source = solution_path(root, assignment).read_text(encoding="utf-8")
    equivalences = load_equivalences(declarations_path(root, assignment))
    every = enumerate_mutants(assignment, source, STUDENT_NAMES[assignment])
    chosen = sample(every, size, seed)
    journal = Journal.open(out / assignment / "journal.jsonl", fingerprint(assignment, source), fresh=fresh)
    if journal.restarted_because and progress:
        progress.log(f"{assignment}: starting again: {journal.restarted_because}")
    to_grade = [m for m in chosen if not any(e.covers(m) for e in equivalences)]
    with grading_pool(jobs or os.cpu_count() or 1) as pool:
        if "reference" not in journal.verdicts:
            reference = grade_reference(pool, assignment, source, seed=seed, isolation=isolation)
            if reference.killed:
                raise RuntimeError(f"the reference solution of {assignment} does not pass every check, so no mutant "
                                   f"can be judged; failed: {reference.failed}")
            journal.add(reference)
        on_done = progress.advance if progress else (lambda verdict: None)
        if progress:
            progress.start(assignment, total=len(to_grade), done=sum(m.id in journal.verdicts for m in to_grade))
        grade_all(pool, assignment, to_grade, journal=journal, seed=seed, isolation=isolation, on_done=on_done)
    unused = [e for e in equivalences if not any(e.covers(m) for m in every)]
    return AuditResult(assignment, chosen, journal.verdicts, equivalences, len(every), unused)
