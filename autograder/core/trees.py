"""Folder trees that code we do not trust may have shaped: measured and removed without recursion.

A sandbox worker writes its output on the host's disk, and a student's code can make a folder there a thousand
levels deep in a second. Python 3.11's ``shutil.rmtree``, ``Path.rglob`` and ``os.walk`` recurse once per level and
raise ``RecursionError`` on such a tree (which ``ignore_errors=True`` does not catch): a grading run that measured
or removed it would end, and the folder would stay to end the next run's sweep too. Everything here keeps at most
two folders open, follows no link and builds no long path, whatever the tree's depth.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import stat
import sys
import tempfile
from pathlib import Path
from typing import Iterator

_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_MEASURED_DEPTH = 64  # a tree deeper than this is no grading output: it counts as too large


@contextlib.contextmanager
def _opened(name: str | Path, parent: int | None = None) -> Iterator[int]:
    descriptor = os.open(name, _FOLDER_FLAGS, dir_fd=parent)
    try:
        yield descriptor
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def folder_in(root: str | Path, parts: tuple[str, ...] = ()) -> Iterator[int]:
    """A descriptor of the folder ``root/parts...``, each part opened relative to the one before and without
    following a link (OSError where one is a link or no folder): what a worker made on the way cannot redirect it."""
    descriptor = os.open(root, _FOLDER_FLAGS)
    try:
        for part in parts:
            inner = os.open(part, _FOLDER_FLAGS, dir_fd=descriptor)
            os.close(descriptor)
            descriptor = inner
        yield descriptor
    finally:
        os.close(descriptor)


def _entries(folder: int) -> list[tuple[str, bool]]:
    """(name, is a folder) of each entry; a link is not a folder."""
    with os.scandir(folder) as entries:
        return [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries]


def remove_tree(path: str | Path) -> None:
    """Remove ``path`` and everything under it, however deep. Each sub-folder is first moved to sit directly in a
    staging folder made inside ``path`` (a rename on the same filesystem), so the walk never goes more than one
    level down and never holds more than three folders open. Links are removed, never followed; a missing
    ``path`` is nothing to do. OSError as ``os`` raises it."""
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            os.unlink(path)
            return
    except FileNotFoundError:
        return
    _writable(path)
    with _opened(path) as root:
        staging = _new_folder(root)
        with _opened(staging, root) as staged:
            emptied: list[str] = []  # names in staging
            pending: list[str | None] = [None]  # None: the root itself
            names = (str(number) for number in itertools.count())  # staging is ours: no other name is in it
            while pending:
                name = pending.pop()
                with contextlib.nullcontext(root) if name is None else _opened(name, staged) as folder:
                    for entry, is_folder in _entries(folder):
                        if name is None and entry == staging:
                            continue
                        if not is_folder:
                            os.unlink(entry, dir_fd=folder)
                            continue
                        moved = next(names)
                        os.rename(entry, moved, src_dir_fd=folder, dst_dir_fd=staged)
                        _writable(moved, staged)
                        pending.append(moved)
                if name is not None:
                    emptied.append(name)
            for name in emptied:
                os.rmdir(name, dir_fd=staged)
        os.rmdir(staging, dir_fd=root)
    os.rmdir(path)


def _writable(folder: str | Path, parent: int | None = None) -> None:
    """Let this process list and empty ``folder`` (a worker may have left it read-only; a link is never here)."""
    with contextlib.suppress(OSError):
        os.chmod(folder, 0o700, dir_fd=parent)


def _new_folder(parent: int) -> str:
    while True:
        name = f".ag-removing-{secrets.token_hex(8)}"
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o700, dir_fd=parent)
            return name


def tree_bytes(directory: str | Path, max_depth: int = MAX_MEASURED_DEPTH) -> int | None:
    """The bytes of every file under ``directory`` (links counted as links, never followed); None when folders
    nest deeper than ``max_depth``, which no grading output does. A missing ``directory`` holds 0 bytes. One
    folder per level is open at a time."""
    try:
        root = os.open(directory, _FOLDER_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    total, path = 0, [(root, [])]  # the open folder of each level, with its entries still to visit
    try:
        path[0] = (root, _entries(root))
        while path:
            folder, entries = path[-1]
            if not entries:
                os.close(path.pop()[0])
                continue
            entry, is_folder = entries.pop()
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                if not is_folder:
                    total += os.lstat(entry, dir_fd=folder).st_size
                elif len(path) > max_depth:
                    return None
                else:
                    inner = os.open(entry, _FOLDER_FLAGS, dir_fd=folder)
                    path.append((inner, []))
                    path[-1] = (inner, _entries(inner))
    finally:
        for folder, _ in path:
            os.close(folder)
    return total


class TemporaryFolder:
    """``tempfile.TemporaryDirectory``, removed with :func:`remove_tree` (a worker may have made anything in it)."""

    def __init__(self, prefix: str, dir: str | Path | None = None) -> None:
        self.name = tempfile.mkdtemp(prefix=prefix, dir=dir)
        self._removed = False

    def cleanup(self) -> None:
        """Remove the folder; one that cannot be (another user's files in it) is reported, never raised: a folder
        left behind must not cost a grading run its results."""
        if not self._removed:
            self._removed = True
            try:
                remove_tree(self.name)
            except OSError as exc:
                sys.stderr.write(f"could not remove the temporary folder {self.name}: {exc}\n")

    def __enter__(self) -> str:
        return self.name

    def __exit__(self, *exc) -> None:
        self.cleanup()
