"""Training checks judged on another machine: ``grade-all`` on Dask with ``[cluster] gpu = true``.

A CPU worker grades a student as usual, except that for each check with a threshold (a training run) whose
probe ran, its grading process writes what the check needs into a folder (:class:`Deferral`) and records a
placeholder: zero, marked as the kit's error, "the result did not come back". ``grade-all`` sends that folder,
as bytes it never opens, to a worker started with the resource ``GPU=1``, whose judging process
(:func:`judge_folder`, through :func:`autograder.host.child.judge_in_child`) judges those checks and
returns their results as JSON; ``grade-all`` puts them in place of the placeholders (:func:`merge`).

What a deferred check carries: its assignment and id, the probe's manifest and the files it names (the
models and arrays the sandbox worker saved; copied as plain files, and loaded on the other side exactly as
here, with ``safe_mode``), and the kit's inputs for the probe (arrays as ``.npy``, read without pickle).
The probe inputs travel because the other machine's grader key would draw others. Nothing here unpickles
or imports what a student made.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any


from autograder.core.i18n import tr
from autograder.core.outcomes import CheckResult, Outcome, ProbeStatus, judge, result_from_json, result_to_json
from autograder.core.spec import Check
from autograder.core.trees import tree_bytes
from autograder.host.runner import write_inputs

FORMAT = "tf2-exercise-kit/deferred-check/1"
CHECK_FILE = "check.json"
INPUTS = "inputs"
SCALAR_INPUTS = "inputs.json"  # beside the arrays, as runner.write_inputs writes them
MAX_CHECK_BYTES = 16 * 2**20  # check.json (the probe's manifest: result.json is capped at 8 MiB), inputs.json
# All of one student's deferred files, which travel through grade-all's memory: the honest ones are about 70 MB
# (transfer's VGG16 is 59 MB); beyond this a check is judged where the student is graded, as without a GPU.
MAX_DEFERRED_BYTES = 512 * 2**20
MAX_PACKED_FILES = 64        # files of one deferred check (a manifest names a few models and arrays)
DEFERRED = "deferred"        # the placeholder's details key


def placeholder(assignment: str, check: Check) -> CheckResult:
    """What a deferred check counts until its result comes back: zero, as the kit's fault."""
    return CheckResult(assignment, check.id, check.title, check.points, 0.0, Outcome.ERROR,
                       tr("This training check was sent to a GPU worker, and its result did not come back. "
                          "This is not your fault; please tell your instructor."),
                       check.hidden, True, {DEFERRED: True})


def is_placeholder(result: CheckResult) -> bool:
    return bool(result.details.get(DEFERRED)) and result.grader_fault


class Deferral:
    """The folder a grading process writes deferred checks into: one sub-folder per check."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def defer(self, assignment: str, check: Check, status: ProbeStatus, evidence) -> CheckResult | None:
        """Export ``check`` and return its placeholder; None when it is judged here instead (no threshold, a
        probe that did not run, or files that would not be read: those checks need no training)."""
        if check.threshold is None or status.state != "ok":
            return None
        target = self.folder / f"{assignment}.{check.id}"
        target.mkdir(parents=True)
        manifest = evidence.export(target)
        if manifest is None:
            shutil.rmtree(target)
            return None
        write_inputs(target / INPUTS, evidence.inputs)  # as the sandbox worker's job gets them
        (target / CHECK_FILE).write_text(json.dumps({"format": FORMAT, "assignment": assignment, "check": check.id,
                                                     "manifest": manifest}), encoding="utf-8")
        size = tree_bytes(self.folder)
        if size is None or size > MAX_DEFERRED_BYTES:
            shutil.rmtree(target)
            return None
        return placeholder(assignment, check)


def _plain(name: str) -> str:
    if not name or name in (".", "..") or any(c in name for c in "/\\\0"):
        raise ValueError(f"not a plain file name. Received: {name!r}")
    return name


# ----------------------------------------------------------------------------- across the wire
def pack(folder: Path) -> list[dict[str, Any]]:
    """A deferral folder as plain data: per check, its files' bytes under their plain names."""
    packed = []
    for target in sorted(Path(folder).iterdir()) if Path(folder).is_dir() else ():
        if not (target / CHECK_FILE).is_file():
            continue  # defer() returned None after making the folder
        files = {path.name: path.read_bytes() for path in sorted(target.iterdir()) if path.is_file()}
        arrays = {path.name: path.read_bytes() for path in sorted((target / INPUTS).iterdir()) if path.is_file()}
        packed.append({"name": target.name, "files": files, "inputs": arrays})
    return packed


def unpack(packed: Any, folder: Path) -> list[Path]:
    """Recreate :func:`pack`'s data under ``folder``; the checks' folders. Raises ValueError, before writing
    anything, for anything but a list of plain names and bytes."""
    if not isinstance(packed, list):
        raise ValueError(f"deferred checks must be a list. Received: {type(packed).__name__}")
    plan = []
    for item in packed:
        if not isinstance(item, dict) or not isinstance(item.get("files"), dict) \
                or not isinstance(item.get("inputs"), dict):
            raise ValueError("a deferred check must hold its files and inputs")
        if len(item["files"]) + len(item["inputs"]) > MAX_PACKED_FILES:
            raise ValueError(f"a deferred check holds more than {MAX_PACKED_FILES} files")
        target = Path(folder) / _plain(str(item.get("name")))
        for subfolder, files in ((target, item["files"]), (target / INPUTS, item["inputs"])):
            for name, data in files.items():
                if not isinstance(data, bytes):
                    raise ValueError(f"a deferred file must be bytes. Received: {type(data).__name__}")
                plan.append((subfolder / _plain(str(name)), data))
    for item in packed:
        (Path(folder) / str(item["name"]) / INPUTS).mkdir(parents=True)
    for path, data in plan:
        with open(path, "xb") as handle:  # never over a file written just before (the same name twice)
            handle.write(data)
    return [Path(folder) / str(item["name"]) for item in packed]


# ----------------------------------------------------------------------------- on the GPU worker
def _read_json(path: Path) -> Any:
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_CHECK_BYTES:
        raise ValueError(f"{path.name} is not a plain file of at most {MAX_CHECK_BYTES} bytes")
    return json.loads(path.read_text(encoding="utf-8"))


def _read_inputs(folder: Path) -> dict[str, Any]:
    """What :func:`autograder.host.runner.write_inputs` wrote; arrays read without pickle."""
    from autograder.host.evidence import _read_npy

    scalars = folder / SCALAR_INPUTS
    inputs = dict(_read_json(scalars)) if scalars.exists() else {}
    for path in sorted(folder.glob("*.npy")):
        inputs[path.name.removesuffix(".npy")] = _read_npy(path)
    return inputs


def _read_check(target: Path) -> dict[str, Any]:
    data = _read_json(target / CHECK_FILE)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"not a deferred check of this kit. Received: {str(data)[:200]!r}")
    return data


def judge_folder(folder: Path, assignments: dict, context) -> dict[str, list[dict[str, Any]]]:
    """Judge every deferred check under ``folder`` (``assignments``: id -> the configured Assignment):
    ``{assignment id: [result as JSON, ...]}``."""
    from autograder.host.evidence import Evidence

    judged: dict[str, list[dict[str, Any]]] = {}
    for target in sorted(Path(folder).iterdir()):
        data = _read_check(target)
        assignment = assignments[data["assignment"]]
        check = next(c for c in assignment.checks if c.id == data["check"] and c.threshold is not None)
        evidence = Evidence(data["manifest"], target, _read_inputs(target / INPUTS))
        result = judge(assignment.id, check, ProbeStatus("ok"), evidence, context)
        judged.setdefault(assignment.id, []).append(result_to_json(result))
    return judged


# ----------------------------------------------------------------------------- back in grade-all
def merge(result, judged: Any) -> int:
    """Put the judged checks (:func:`judge_folder`'s form) in place of ``result``'s placeholders, each only where
    the same check of the same assignment, worth the same points, waits for it; the number put in place."""
    placed = 0
    if not isinstance(judged, dict):
        return placed
    for assignment in result.assignments:
        for data in judged.get(assignment.assignment, ()) if isinstance(judged.get(assignment.assignment),
                                                                          list) else ():
            try:
                new = result_from_json(assignment.assignment, data)
            except (KeyError, TypeError, ValueError):
                continue
            for index, old in enumerate(assignment.checks):
                if (old.check_id == new.check_id and is_placeholder(old) and new.max_score == old.max_score
                        and 0 <= new.score <= new.max_score and new.hidden == old.hidden):
                    assignment.checks[index] = new
                    placed += 1
    return placed
