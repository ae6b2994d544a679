"""Folder trees a worker shaped: measured and removed however deep, links never followed."""
import os
import shutil
import sys

import pytest

from autograder.core.trees import TemporaryFolder, remove_tree, tree_bytes

DEPTH = sys.getrecursionlimit() + 200  # deeper than any recursive walk of Python 3.11 goes


def _deep(root, depth=DEPTH, name="d"):
    """A chain of ``depth`` folders under ``root``, made relative to each level (the path would be too long)."""
    os.makedirs(root, exist_ok=True)
    folder = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir(name, dir_fd=folder)
        inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=folder)
        os.close(folder)
        folder = inner
    with open(os.open("last", os.O_WRONLY | os.O_CREAT, dir_fd=folder), "w") as handle:
        handle.write("x" * 10)
    os.close(folder)


def test_a_tree_deeper_than_pythons_recursion_limit_is_removed(tmp_path):
    _deep(tmp_path / "tree")
    try:
        with pytest.raises(RecursionError):  # what the kit used before, and why this module exists
            shutil.rmtree(tmp_path / "tree", ignore_errors=True)
    finally:
        remove_tree(tmp_path / "tree")
    assert not (tmp_path / "tree").exists()


def test_removing_follows_no_link_and_keeps_what_it_points_to(tmp_path):
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "sub" / "keep.txt").write_text("mine")
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "file").write_text("x")
    (tree / "a" / "link").symlink_to(outside)
    (tree / "a" / "b" / "link-to-file").symlink_to(outside / "sub" / "keep.txt")
    (tree / ".ag-removing-0").mkdir()  # a name like the staging folder's: still removed, nothing mixed up
    remove_tree(tree)
    assert not tree.exists() and (outside / "sub" / "keep.txt").read_text() == "mine"


def test_removing_a_missing_folder_or_a_file(tmp_path):
    remove_tree(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    remove_tree(tmp_path / "file")
    assert not (tmp_path / "file").exists()


def test_tree_bytes_counts_files_and_links_without_following_them(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "one").write_bytes(b"x" * 100)
    (tmp_path / "a" / "b" / "two").write_bytes(b"y" * 23)
    (tmp_path / "big").write_bytes(b"z" * 10_000)
    (tmp_path / "a" / "link").symlink_to(tmp_path / "big")
    link_size = os.lstat(tmp_path / "a" / "link").st_size
    assert tree_bytes(tmp_path / "a") == 123 + link_size
    assert tree_bytes(tmp_path / "missing") == 0


def test_a_tree_too_deep_to_be_grading_output_measures_as_none(tmp_path):
    _deep(tmp_path / "tree")
    try:
        assert tree_bytes(tmp_path / "tree") is None
    finally:  # pytest's own clean-up of old temporary folders recurses
        remove_tree(tmp_path / "tree")
    _deep(tmp_path / "shallow", depth=5)
    assert tree_bytes(tmp_path / "shallow") == 10
    assert tree_bytes(tmp_path / "shallow", max_depth=4) is None


def test_a_wide_tree_keeps_few_folders_open(tmp_path):
    for k in range(3000):  # more sibling folders than a process may hold open (ulimit -n is often 1024)
        (tmp_path / "wide" / str(k)).mkdir(parents=True)
    (tmp_path / "wide" / "7" / "f").write_bytes(b"q" * 5)
    assert tree_bytes(tmp_path / "wide") == 5
    remove_tree(tmp_path / "wide")
    assert not (tmp_path / "wide").exists()


def test_a_temporary_folder_is_removed_with_whatever_was_made_in_it(tmp_path):
    with TemporaryFolder(prefix="ag-test-", dir=tmp_path) as name:
        _deep(name)
    assert not os.path.exists(name) and os.listdir(tmp_path) == []


def test_folders_a_worker_left_read_only_are_removed(tmp_path):
    (tmp_path / "tree" / "a" / "b").mkdir(parents=True)
    (tmp_path / "tree" / "a" / "b" / "f").write_text("x")
    for folder in (tmp_path / "tree" / "a" / "b", tmp_path / "tree" / "a", tmp_path / "tree"):
        folder.chmod(0o500)
    remove_tree(tmp_path / "tree")
    assert not (tmp_path / "tree").exists()
