"""Writing files so that a reader sees the old file or the whole new one, never half of it.

An interrupted run (Ctrl-C, a killed worker, ``--resume``) must not leave a truncated
results.json, grades.csv or Gradescope archive under its real name. Every writer in the kit
goes through :func:`atomic_path`; the sandbox worker uses it too (it imports only ``core``).
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def write_text_atomically(path: Path, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
