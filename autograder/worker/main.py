"""The sandbox worker: the only module that imports and runs student code.

Started by :mod:`autograder.host.runner` (``main([JOB, OUTPUT, FD])`` under ``python -I``) inside the
OS sandbox of :mod:`autograder.host.isolation`. One worker serves every assignment of one student's
submission (one TensorFlow start per student, never shared between students). It reads
``JOB/job.json`` (read-only, like everything under JOB) and, for each part (an assignment's file)
in turn, imports the file and runs the requested probes one at a time, writing each probe's plain
observations to ``OUTPUT/out/<assignment>/<probe>/``. Before and after each step it writes a line to
the progress pipe it inherited, so the grading process can tell which step hung or died, and can
judge one assignment while this process runs the next.

Nothing this process writes is trusted as a verdict: the grading process loads
the observations as data and makes every judgement itself.
"""
from __future__ import annotations

import contextlib
import gc
import importlib.util
import io
import json
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from autograder import graders
from autograder.core.collector import CollectAfterGrowth, imports_then_frozen
from autograder.core.lazy_imports import loaded_on_first_use
from autograder.core.files import write_text_atomically
from autograder.core.wire import RESULT_FILE, describe
from autograder.worker.encode import encode_values
from autograder.core.i18n import Text, message_of, tr
from autograder.core.spec import NotAttempted, StudentError

STUDENT_MODULE_PREFIX = "submission_"


class ExportError(Exception):
    """An object the student returned could not be written as plain data."""


def _student_location(tb, filename: str, line_map: list[list[int]]) -> Text | str:
    frames = [f for f in traceback.extract_tb(tb) if os.path.abspath(f.filename) == filename]
    if not frames:
        return ""
    frame = frames[-1]
    code = (frame.line or "").strip()
    for first, length, cell, cell_line in line_map:  # a notebook: name the cell, not the extracted file
        if first <= frame.lineno < first + length:
            return tr(" (your notebook, code cell {cell}, line {line}: `{code}`)", cell=cell,
                      line=cell_line + frame.lineno - first, code=code)
    if line_map:
        return tr(" (your notebook: `{code}`)", code=code)
    return tr(" (your file, line {line}: `{code}`)", line=frame.lineno, code=code)


@dataclass(frozen=True)
class SubmissionOrigin:
    """What the student handed in, when the imported file was extracted from a notebook."""

    display_name: str
    line_map: list = field(default_factory=list)       # [first_line, length, cell, cell_line] per chunk
    broken_names: dict = field(default_factory=dict)   # name -> why its notebook cell could not be used


class Student:
    """The imported submission, with calls that turn exceptions into student-facing errors."""

    def __init__(self, module, filename: str, origin: SubmissionOrigin):
        self._module = module
        self._filename = filename
        self._origin = origin

    def get(self, name: str) -> Any:
        if name in self._origin.broken_names:
            raise StudentError(tr("`{name}` could not be graded: {reason}", name=name,
                                  reason=Text.from_json(self._origin.broken_names[name])))
        if not hasattr(self._module, name):
            raise NotAttempted(tr("`{name}` is not defined in {file}.", name=name, file=self._origin.display_name))
        return getattr(self._module, name)

    @property
    def filename(self) -> str:
        return self._filename

    @property
    def line_map(self) -> list:
        return self._origin.line_map

    def raised(self, exc: BaseException) -> bool:
        """Whether the student's own code is on ``exc``'s traceback (it raised it, not the kit)."""
        return any(os.path.abspath(frame.filename) == self._filename
                   for frame in traceback.extract_tb(exc.__traceback__))

    def call(self, name: str, *args, **kwargs) -> Any:
        return self.run(f"`{name}`", self.get(name), *args, **kwargs)

    def run(self, label: str, fn: Callable, *args, **kwargs) -> Any:
        try:
            return fn(*args, **kwargs)
        except NotImplementedError as exc:
            if not self._raised_here(exc):  # a library's NotImplementedError: the code was written, and fails
                raise self._error(label, exc) from exc
            raise NotAttempted(tr("{label} is not implemented yet (it raises NotImplementedError).",
                                  label=label)) from exc
        except SystemExit as exc:
            raise StudentError(tr("{label} called sys.exit({code}); remove that call.", label=label,
                                  code=repr(exc.code))) from exc
        except Exception as exc:  # noqa: BLE001 - student code may raise anything
            raise self._error(label, exc) from exc

    def _raised_here(self, exc: BaseException) -> bool:
        """Whether the innermost frame of ``exc`` is the student's own ``raise`` statement: in their file, or
        in the copy of it TensorFlow's autograph makes when ``Dataset.map`` traces their function."""
        frames = traceback.extract_tb(exc.__traceback__)
        if not frames:
            return False
        innermost = frames[-1].filename
        return (os.path.abspath(innermost) == self._filename
                or os.path.basename(innermost).startswith("__autograph_generated_file"))

    def _error(self, label: str, exc: BaseException) -> StudentError:
        where = _student_location(exc.__traceback__, self._filename, self._origin.line_map)
        return StudentError(tr("{label} raised {error}: {detail}{where}", label=label, error=type(exc).__name__,
                               detail=str(exc)[:400], where=where))


MAX_CAPTURED_BYTES = 64 * 2**10  # of what capture_output read from file descriptors 1 and 2


@dataclass
class ProbeContext:
    seed: int
    scratch: Path

    @contextlib.contextmanager
    def capture_output(self):
        """What the code inside prints, as a notebook would show it: whatever reaches file descriptors 1 and 2,
        from Python (print, print(..., file=sys.stderr), a logging handler made earlier, which holds on to
        sys.stderr itself) or from below it (tf.print writes from TensorFlow's C++, on standard error by default).
        Python's warnings are recorded, not printed: a library's warning is not the student's message. The
        buffer holds it all once the block ends."""
        import ctypes
        import tempfile
        import warnings

        buffer = io.StringIO()
        with tempfile.TemporaryFile(dir=self.scratch) as below:
            streams = [stream for stream in (sys.stdout, sys.stderr) if stream is not None]
            for stream in streams:
                stream.flush()
            saved = {descriptor: os.dup(descriptor) for descriptor in (1, 2)}
            for descriptor in saved:
                os.dup2(below.fileno(), descriptor)
            try:
                with warnings.catch_warnings(record=True):
                    yield buffer
            finally:
                for stream in streams:
                    stream.flush()
                ctypes.CDLL(None).fflush(None)  # C's own buffers, before the descriptors go back
                for descriptor, original in saved.items():
                    os.dup2(original, descriptor)
                    os.close(original)
            below.seek(0)
            buffer.write(below.read(MAX_CAPTURED_BYTES).decode("utf-8", errors="replace"))


def _refuse_network(*args, **kwargs):
    raise OSError(tr("Network access is disabled while grading: nothing may be downloaded (for example "
                     "pre-trained weights or datasets). Use the arguments you were given, such as weights=None."))


def block_network() -> None:
    """Make downloads fail at once with a clear message instead of hanging offline."""
    import socket

    socket.socket.connect = _refuse_network
    socket.socket.connect_ex = _refuse_network
    socket.create_connection = _refuse_network
    socket.getaddrinfo = _refuse_network


def provide_class_index(path: str | None) -> None:
    """Hand Keras the ImageNet class index, so decode_predictions never tries to download it."""
    if not path:
        return
    from keras.src.applications import imagenet_utils

    with open(path, encoding="utf-8") as handle:
        imagenet_utils.CLASS_INDEX = json.load(handle)


def import_submission(path: Path, name: str, origin: SubmissionOrigin | None = None) -> Student:
    filename = os.path.abspath(path)
    origin = origin or SubmissionOrigin(path.name)
    spec = importlib.util.spec_from_file_location(STUDENT_MODULE_PREFIX + name, filename)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    student = Student(module, filename, origin)
    try:
        student.run(tr("Importing {file}", file=origin.display_name), spec.loader.exec_module, module)
    except NotAttempted as exc:
        raise StudentError(tr("Importing {file} raised NotImplementedError at module level; keep "
                              "`raise NotImplementedError` inside functions.", file=origin.display_name)) from exc
    except StudentError:
        raise
    return student


def _load_inputs(directory: Path) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    if not directory.is_dir():
        return inputs
    for path in sorted(directory.glob("*.npy")):
        inputs[path.stem] = np.load(path, allow_pickle=False)
    scalars = directory / "inputs.json"
    if scalars.exists():
        inputs.update(json.loads(scalars.read_text(encoding="utf-8")))
    return inputs


def _write_result(directory: Path, payload: dict) -> None:
    write_text_atomically(directory / RESULT_FILE, json.dumps(payload))


def run_probe(name: str, probe: Callable, student: Student, inputs: dict, context: ProbeContext,
              out_dir: Path) -> dict:
    import keras

    out_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(context.seed)
    try:
        values = probe(student, inputs, context)
        if not isinstance(values, dict):
            raise TypeError(f"probe {name} returned {describe(values)}")
        try:
            manifest = encode_values(values, out_dir)
        except Exception as exc:  # noqa: BLE001 - saving student objects can fail in many ways
            raise ExportError(tr("What your code returned could not be saved for grading ({error}).",
                                 error=f"{type(exc).__name__}: {str(exc)[:300]}")) from exc
    except NotAttempted as exc:
        return {"state": "not_attempted", "message": message_of(exc).to_json()}
    except (StudentError, ExportError) as exc:
        return {"state": "error", "message": message_of(exc).to_json()}
    except Exception as exc:  # noqa: BLE001 - a bug in the kit's own probe code, unless the student's code raised it
        if student.raised(exc):  # e.g. a returned object whose shape, __len__ or __array__ raises when the probe looks
            where = _student_location(exc.__traceback__, student.filename, student.line_map)
            return {"state": "error", "message": tr(
                "What your code returned raised {error} when the grader looked at it: {detail}{where}",
                error=type(exc).__name__, detail=str(exc)[:400], where=where).to_json()}
        return {"state": "grader_error",
                "message": tr("Internal grader error while running your code; this is not your fault.").to_json(),
                "traceback": traceback.format_exc()}
    return {"state": "ok", "values": manifest}


def _keras_defaults() -> dict[str, Any]:
    """Keras' global settings as this process starts, before any student code runs."""
    import keras

    return {"floatx": keras.config.floatx(), "epsilon": keras.config.epsilon(),
            "image_data_format": keras.config.image_data_format(), "dtype_policy": keras.config.dtype_policy().name}


def _fresh_keras_state(defaults: dict[str, Any], seed: int) -> None:
    """Before each part: Keras' global state as a new process has it (settings, layer-name counters, seeds),
    so an assignment's observations do not depend on what the same student's earlier files changed."""
    import keras

    keras.backend.clear_session()
    keras.config.set_floatx(defaults["floatx"])
    keras.config.set_epsilon(defaults["epsilon"])
    keras.config.set_image_data_format(defaults["image_data_format"])
    keras.config.set_dtype_policy(defaults["dtype_policy"])
    gc.collect()
    keras.utils.set_random_seed(seed)


def _run_part(part: dict, job_dir: Path, output: Path, context: ProbeContext, defaults: dict[str, Any],
              mark: Callable[[str], None], collector: CollectAfterGrowth) -> None:
    """Import one assignment's file and run its probes (progress: import, imported or import-failed, start, end)."""
    assignment = part["assignment"]
    probes = graders.load_probes(assignment)
    _fresh_keras_state(defaults, context.seed)
    mark(f"import {assignment}")
    try:
        student = import_submission(job_dir / part["submission"], assignment, SubmissionOrigin(**part["origin"]))
    except StudentError as exc:
        _write_result(output / "import" / assignment, {"state": "error", "message": message_of(exc).to_json()})
        mark(f"import-failed {assignment}")
        return
    mark(f"imported {assignment}")
    for name in part["probes"]:
        mark(f"start {assignment}/{name}")
        folder = output / "out" / assignment / name
        payload = run_probe(name, probes[name], student, _load_inputs(job_dir / "inputs" / assignment / name),
                            context, folder)
        _write_result(folder, payload)
        mark(f"end {assignment}/{name}")
        collector.after_probe()


def main(argv: list[str]) -> int:
    """``main([JOB, OUTPUT, FD])``: JOB is read-only, OUTPUT the only place to write, FD the progress pipe. ``main(["--check"])``: 0 when
    this interpreter can run the worker at all (how a weaker isolation level is checked before grading)."""
    if argv == ["--check"]:
        return 0
    job_dir, output, progress_fd = Path(argv[0]).resolve(), Path(argv[1]).resolve(), int(argv[2])
    job = json.loads((job_dir / "job.json").read_text(encoding="utf-8"))
    progress = os.fdopen(progress_fd, "w", encoding="utf-8", buffering=1)

    def mark(line: str) -> None:
        progress.write(line + "\n")
        progress.flush()

    mark("starting")
    # Each part's collection (after clear_session) then scans only what it made; Keras's pyplot waits for a plot.
    with imports_then_frozen(), loaded_on_first_use():
        for part in job["parts"]:
            graders.load_probes(part["assignment"])  # the kit's own imports, before any student code runs
        defaults = _keras_defaults()  # imports Keras: TensorFlow's start is the kit's time, not the student's

    context = ProbeContext(seed=int(job["seed"]), scratch=Path.cwd())
    provide_class_index(str(job_dir / job["imagenet_class_index"]))
    block_network()
    collector = CollectAfterGrowth()
    for part in job["parts"]:
        _run_part(part, job_dir, output, context, defaults, mark, collector)
    mark("done")
    return 0


if __name__ == "__main__":
    os._exit(main(sys.argv[1:]))  # os._exit: student atexit hooks and threads cannot run after this
