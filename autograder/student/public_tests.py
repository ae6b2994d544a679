"""The public self-check tests, as the notebooks use them.

``selfcheck/test_<id>.py`` (beside this module) is where each assignment's public tests are written:
inside the package, so an installed kit (Colab, a student's laptop) can run them against a
notebook's functions. ``python -m autograder release`` copies each, unchanged, to
``exercises/test_<id>.py``, for students who run ``pytest`` beside their file.

Which tests belong under which function is read from the tests themselves: a test
belongs to the last function, in the order students write them, that it uses directly
or through the file's helpers and fixtures.
"""
from __future__ import annotations

import ast
from pathlib import Path

SELF_CHECK_DIR = Path(__file__).with_name("selfcheck")


def path(assignment_id: str) -> Path:
    return SELF_CHECK_DIR / f"test_{assignment_id}.py"


def read(assignment_id: str) -> str | None:
    """The assignment's public test file, or ``None`` when it has none."""
    file = path(assignment_id)
    return file.read_text(encoding="utf-8") if file.is_file() else None


def _references(tree: ast.Module) -> dict[str, set[str]]:
    """Every module-level function and the names it mentions (its parameters count: fixtures)."""
    found = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            names |= {a.arg for a in node.args.args + node.args.kwonlyargs}
            found[node.name] = names
    return found


def tests_by_function(text: str, student_names: tuple[str, ...]) -> dict[str, list[str]]:
    """``{student function: [test names]}`` for the public test file ``text``."""
    functions = _references(ast.parse(text))

    def uses(name: str, seen: set[str]) -> set[str]:
        direct = functions.get(name, set())
        found = direct & set(student_names)
        for helper in direct & set(functions) - seen:
            found |= uses(helper, seen | {helper})
        return found

    grouped: dict[str, list[str]] = {name: [] for name in student_names}
    for test in (name for name in functions if name.startswith("test_")):
        used = uses(test, {test})
        if used:
            grouped[max(used, key=student_names.index)].append(test)
    return grouped
