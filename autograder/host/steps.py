"""The worker's progress: the pipe it writes its step lines to, and the one order those lines may come in.

One worker serves every assignment of one submission. Its lines are ``starting``; then, for each
part (an assignment's file), ``import <id>``, ``imported <id>`` or ``import-failed <id>``, and
``start <id>/<probe>`` / ``end <id>/<probe>`` for each probe; finally ``done``. The grading process
acts only on lines that come in that order, each once, so code that runs in the worker and writes
lines of its own (forged, repeated, out of order) can neither stretch its time nor skip a step.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MAX_PROGRESS_BYTES = 64 * 2**10   # progress lines beyond this are not read


class ProgressChannel:
    """The worker's progress lines, over a pipe.

    A pipe, not a file in the worker's output folder: what the grader has read stays read, so code
    that runs later in the worker can add lines but never take back the ones written before it
    ran (that the worker reached the student's import, say), nor swap the channel for a link or a
    FIFO. Lines are copied, as received, to ``copy`` (a file outside the worker's view, for logs
    and benchmarks); beyond ``MAX_PROGRESS_BYTES`` the rest is read and dropped.
    """

    def __init__(self, copy: Path):
        self.read_end, self.write_end = os.pipe()
        os.set_blocking(self.read_end, False)
        self._received = bytearray()
        self._copy = open(copy, "ab")

    def handed_over(self) -> None:
        """The worker holds the write end now; closing ours lets the pipe end when the worker does."""
        os.close(self.write_end)

    def poll(self) -> list[str]:
        while True:
            try:
                chunk = os.read(self.read_end, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            room = MAX_PROGRESS_BYTES - len(self._received)
            if room > 0:
                self._received += chunk[:room]
                self._copy.write(chunk[:room])
                self._copy.flush()
        return self.lines()

    def lines(self) -> list[str]:
        text = self._received.decode("utf-8", errors="replace")
        return text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]  # whole lines only

    def close(self) -> None:
        os.close(self.read_end)
        self._copy.close()


@dataclass(frozen=True)
class Step:
    """One expected progress line: its kind (starting, import, imported, import-failed, start, end, done)
    and the assignment and probe it is about."""

    kind: str
    assignment: str = ""
    probe: str = ""

    @property
    def line(self) -> str:
        if self.kind in ("starting", "done"):
            return self.kind
        if self.kind in ("start", "end"):
            return f"{self.kind} {self.assignment}/{self.probe}"
        return f"{self.kind} {self.assignment}"


class StepSequence:
    """Follows the progress lines against the expected order; :meth:`feed` returns the steps newly reached.

    ``import-failed <id>`` is accepted in place of ``imported <id>`` and skips that part's probes.
    """

    def __init__(self, parts: list[tuple[str, list[str]]]):
        self._steps: list[Step] = [Step("starting")]
        self._failed_import: dict[int, int] = {}  # index of "imported X" -> index of the step after X's probes
        for assignment, probes in parts:
            self._steps.append(Step("import", assignment))
            imported = len(self._steps)
            self._steps.append(Step("imported", assignment))
            for probe in probes:
                self._steps += [Step("start", assignment, probe), Step("end", assignment, probe)]
            self._failed_import[imported] = len(self._steps)
        self._steps.append(Step("done"))
        self.reached = 0   # how many steps of the sequence are behind (a failed import counts its part's all)
        self._consumed = 0  # how many received lines were looked at

    def feed(self, lines: list[str]) -> list[Step]:
        """The steps the lines after those already fed reach, in order."""
        new: list[Step] = []
        for line in lines[self._consumed:]:
            if self.reached >= len(self._steps):
                break
            step = self._steps[self.reached]
            if line == step.line:
                new.append(step)
                self.reached += 1
            elif step.kind == "imported" and line == Step("import-failed", step.assignment).line:
                new.append(Step("import-failed", step.assignment))
                self.reached = self._failed_import[self.reached]
        self._consumed = len(lines)
        return new

    @property
    def next_step(self) -> Step | None:
        """The step the worker is in (the next line expected), or None when it reached ``done``."""
        return self._steps[self.reached] if self.reached < len(self._steps) else None

    @property
    def student_code_started(self) -> bool:
        """Whether the worker reached its first ``import``: from there on, student code may run."""
        return self.reached >= 2


def steps_reached(lines: list[str], parts: list[tuple[str, list[str]]]) -> int:
    """How many steps of the expected sequence the progress lines show, in order (each counts once)."""
    sequence = StepSequence(parts)
    sequence.feed(lines)
    return sequence.reached
