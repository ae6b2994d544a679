"""What the sandbox worker and the grading process agree on: file names and how a value is described.

Both sides import this module; it imports nothing from either.
"""
from __future__ import annotations

from typing import Any

RESULT_FILE = "result.json"


def describe(obj: Any) -> str:
    """A short, student-readable description of a value's type and shape."""
    if obj is None:
        return "None"
    shape = getattr(obj, "shape", None)
    dtype = getattr(obj, "dtype", None)
    kind = f"{type(obj).__module__.split('.')[0]}.{type(obj).__name__}"
    if type(obj).__module__ == "builtins":
        kind = type(obj).__name__
    if shape is not None and dtype is not None:
        try:
            shape_text = tuple(None if d is None else int(d) for d in shape)
        except TypeError:
            shape_text = shape
        return f"{kind} of dtype {getattr(dtype, 'name', dtype)} and shape {shape_text}"
    if isinstance(obj, (tuple, list)):
        return f"{kind} of length {len(obj)}"
    return kind
