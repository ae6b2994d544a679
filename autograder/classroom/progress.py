"""What an instructor watches while a class is graded: a progress bar on a terminal, plain lines elsewhere."""
from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from autograder.classroom.grade_all import SubmissionSummary
from autograder.core.i18n import SOURCE_LANGUAGE, render, tr


class PlainProgress:
    """One line per finished submission: logs, CI and pipes stay readable."""

    def __init__(self, total: int, stream=None, language: str = SOURCE_LANGUAGE):
        self.total, self.done, self.failed, self.running = total, 0, 0, 0
        self.workers: int | None = None  # Dask workers connected (on a cluster only)
        self.language = language
        self.stream = stream or sys.stdout
        self.started = time.monotonic()

    def __call__(self, event: str, item) -> None:
        """``grade_all`` calls this with ("start", Student), ("done", SubmissionSummary) and, on a cluster,
        ("workers", the number of Dask workers connected)."""
        if event == "workers":
            self.workers = item
        elif event == "start":
            self.running += 1
        else:
            self.running -= 1
            self.done += 1
            self.failed += item.status != "graded"
        self.show(event, item)

    def show(self, event: str, item) -> None:
        if event == "workers":
            print(render(tr("cluster workers connected: {count}", count=item), self.language), file=self.stream,
                  flush=True)
            return
        if event == "start":
            return
        summary: SubmissionSummary = item
        elapsed = time.monotonic() - self.started
        remaining = elapsed / self.done * (self.total - self.done)
        note = "" if summary.status == "graded" else f" [{summary.status}] {render(summary.message, self.language)}"
        line = tr("[{done}/{total}] {student}: {score:g}/{max_score:g} in {seconds:.1f} s{note} (running {running}, "
                  "failed {failed}, elapsed {elapsed:.0f} s, about {remaining:.0f} s left)", done=self.done,
                  total=self.total, student=summary.student, score=summary.score, max_score=summary.max_score,
                  seconds=summary.seconds, note=note, running=self.running, failed=self.failed, elapsed=elapsed,
                  remaining=remaining)
        print(render(line, self.language), file=self.stream, flush=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class BarProgress(PlainProgress):
    """A live bar: done/total, running, failed, elapsed, estimated time left."""

    def __init__(self, total: int, console: Console, language: str = SOURCE_LANGUAGE):
        super().__init__(total, language=language)
        words = {key: render(text, language) for key, text in
                 {"grading": tr("grading"), "done": tr("done"), "running": tr("running"), "failed": tr("failed"),
                  "left": tr("left"), "workers": tr("workers")}.items()}
        self.bar = Progress(TextColumn(f"[bold]{words['grading']}"), BarColumn(),
                            TextColumn("{task.completed}/{task.total} " + words["done"]),
                            TextColumn(words["running"] + " {task.fields[running]}"),
                            TextColumn(words["failed"] + " {task.fields[failed]}"),
                            TextColumn("{task.fields[workers]}"),
                            TimeElapsedColumn(), TextColumn(words["left"]), TimeRemainingColumn(), console=console)
        self.workers_word = words["workers"]
        self.task = self.bar.add_task("grading", total=total, running=0, failed=0, workers="")

    def show(self, event: str, item) -> None:
        if event == "done" and item.status != "graded":
            self.bar.console.print(f"{item.student}: [{item.status}] {render(item.message, self.language)}",
                                   markup=False)
        workers = "" if self.workers is None else f"{self.workers_word} {self.workers}"
        self.bar.update(self.task, completed=self.done, running=self.running, failed=self.failed, workers=workers)

    def __enter__(self):
        self.bar.start()
        return self

    def __exit__(self, *exc):
        self.bar.stop()
        return False


def progress_for(total: int, console: Console | None = None, language: str = SOURCE_LANGUAGE) -> PlainProgress:
    console = console or Console()
    return BarProgress(total, console, language) if console.is_terminal else PlainProgress(total, language=language)
