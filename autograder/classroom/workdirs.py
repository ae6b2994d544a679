"""Temporary folders of grading runs that a killed process cannot remove, and the sweep that removes them later.

A process killed with SIGKILL (a Dask worker lost mid-task, grade-all killed) runs no clean-up: its
folder, with the student's files, sandbox job folders and saved models (about 100 MB each for transfer),
stays in the temporary folder for good. Each such folder is named after the process that owns it,
``<prefix><pid namespace>-<pid>-<random>``, so that a later run, on the same machine, removes those whose
owner no longer runs.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

import psutil

from autograder.core.trees import TemporaryFolder, remove_tree


def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:  # not Linux: pids are this machine's
        return "0"


@contextlib.contextmanager
def owned_workdir(prefix: str) -> Iterator[Path]:
    """A temporary folder named after this process, removed on leaving (or by a later :func:`sweep`)."""
    with TemporaryFolder(prefix=f"{prefix}{_pid_namespace()}-{os.getpid()}-") as workdir:
        yield Path(workdir)


def sweep(prefix: str) -> None:
    """Remove the ``prefix`` folders of processes that died before they could: only those of this pid
    namespace, whose owner no longer runs."""
    namespace = _pid_namespace()
    for folder in Path(tempfile.gettempdir()).glob(f"{prefix}{namespace}-*"):
        owner = folder.name[len(prefix) + len(namespace) + 1:].split("-", 1)[0]
        if not owner.isdigit() or int(owner) == os.getpid():
            continue
        if _ended(int(owner)):
            with contextlib.suppress(OSError):
                remove_tree(folder)


def _ended(pid: int) -> bool:
    """Whether the process ``pid`` has ended: gone, or a zombie its parent has not reaped yet. A killed Dask
    worker is such a zombie for a moment, while the scheduler may already have handed its task to another
    worker, whose sweep must not take it for alive."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:  # cannot be read (another user's, say): alive
        return False
