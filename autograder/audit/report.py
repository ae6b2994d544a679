"""The audit's report: a table per run, and every surviving mutant as a diff with the checks it passed."""
from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from autograder.audit import TARGET_PERCENT, AuditResult


class AuditProgress:
    """A rich progress bar per assignment; ``advance`` is called once per graded mutant."""

    def __init__(self, console: Console):
        self.console = console
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("killed {task.fields[killed]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                            console=console)
        self.task = None

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def start(self, assignment: str, *, total: int, done: int) -> None:
        self.task = self.bar.add_task(f"audit {assignment}", total=total, completed=done, killed=0)

    def advance(self, verdict) -> None:
        killed = self.bar.tasks[-1].fields["killed"] + int(verdict.killed)
        self.bar.update(self.task, advance=1, killed=killed)

    def log(self, message: str) -> None:
        self.console.log(message)


def table_rows(results: list[AuditResult]) -> list[tuple]:
    return [(r.assignment, r.sampled_from, len(r.mutants), sum(r.equivalent(m) is not None for m in r.mutants),
             len(r.killed), len(r.survived), f"{r.score:.1f} %", "yes" if r.score >= TARGET_PERCENT else "no")
            for r in results]


HEADERS = ("assignment", "mutants made", "graded (sample)", "declared equivalent", "killed", "survived",
           "score", f"≥ {TARGET_PERCENT:g} %")


def markdown(results: list[AuditResult], command: str) -> str:
    lines = [f"Command: `{command}`", "", "| " + " | ".join(HEADERS) + " |", "|" + " --- |" * len(HEADERS)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in table_rows(results)]
    for result in results:
        lines += ["", f"## {result.assignment}"]
        if result.grader_faults:
            lines += ["", f"**Grader faults** (a bug in the kit, not the mutant): "
                          f"{', '.join(m.id for m in result.grader_faults)}"]
        for declaration in result.unused_declarations:
            lines += ["", f"Declared equivalent but no longer made (remove the declaration): "
                          f"`{declaration.function}`: `{declaration.before}` → `{declaration.after}`"]
        if not result.survived:
            lines += ["", "Every counted mutant was killed."]
        for mutant in result.survived:
            verdict = result.verdicts[mutant.id]
            lines += ["", f"Survived `{mutant.id}`: passed {len(verdict.passed)} checks "
                          f"({', '.join(verdict.passed)})", "", "```diff", mutant.diff, "```"]
    return "\n".join(lines) + "\n"


def print_summary(results: list[AuditResult], console: Console) -> None:
    from rich.table import Table

    table = Table(*HEADERS, title="Mutation audit of the hidden graders")
    for row in table_rows(results):
        table.add_row(*(str(cell) for cell in row))
    console.print(table)
    for result in results:
        for mutant in result.survived:
            console.print(f"[bold]{result.assignment}[/] survived {mutant.id}:")
            console.print(mutant.diff, markup=False, highlight=False)  # code has [brackets]: not markup


def write_report(results: list[AuditResult], out: Path, command: str) -> Path:
    path = out / "report.md"
    out.mkdir(parents=True, exist_ok=True)
    path.write_text("# Mutation audit\n\n" + markdown(results, command), encoding="utf-8")
    return path
