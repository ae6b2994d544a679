"""IPython syntax in a notebook's code cells, read as a kernel reads it (for :mod:`notebook_code`).

Nothing here runs anything: a cell's text becomes Python text with the same line numbers.

* A cell that parses as Python is kept as it is (a line inside brackets may start with ``%`` or ``!``).
* A cell magic that runs its body in the kernel's namespace (``%%time``, ``%%capture``) loses only its
  first line, and its body is read by the same rules, as IPython transforms it before running it.
  IPython refuses such a cell when the magic line has what the magic does not take (``%%time  # note``:
  "Can't use statement directly after '%%time'!"; ``%%capture  # note``: argparse's "unrecognized
  arguments"): :func:`rejected_cell_magic` says why, and the cell defines nothing.
* Any other cell magic (``%%bash``, ``%%writefile``, ``%%timeit``) is not Python: the cell defines nothing.
* Line magics and shell lines (``%matplotlib inline``, ``!pip install x``, ``files = !ls``,
  ``model.summary?``) are blanked, with the lines a trailing backslash continues them onto.
"""
from __future__ import annotations

import ast
import re
import shlex

from autograder.core.i18n import Text, tr

# The options each cell magic whose body runs in the kernel's namespace takes (IPython 9), and how many
# other words its line may hold: %%time's are code to run (none with a cell), %%capture's one is the output name.
_KEEPING_CELL_MAGICS = {"time": (("--no-raise-error",), 0),
                        "capture": (("--no-stderr", "--no-stdout", "--no-display"), 1)}
_SHELL_ASSIGNMENT = re.compile(r"^\s*[A-Za-z_][\w\s,]*=\s*[!%]")
_HELP_LINE = re.compile(r"^\s*(?:\?{1,2}\s*[\w.]+|[\w.]+\s*\?{1,2})\s*$")


def parses(source: str) -> bool:
    try:
        ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    return True


def _is_ipython_line(line: str) -> bool:
    stripped = line.lstrip()
    return (stripped.startswith(("%", "!")) or bool(_SHELL_ASSIGNMENT.match(line))
            or bool(_HELP_LINE.match(line)))


def _cell_magic(lines: list[str]) -> tuple[int, str, str] | None:
    """(index of the magic line, magic name, the rest of its line) when the cell starts with a cell magic."""
    start = next((k for k, line in enumerate(lines) if line.strip()), 0)  # IPython skips leading blank lines
    first = lines[start].lstrip() if lines else ""
    if not first.startswith("%%"):
        return None
    name, _, rest = first[2:].rstrip().partition(" ")  # as IPython's cell_magic transform splits it
    return start, name, rest


def _option(word: str, options: tuple[str, ...]) -> bool:
    """Whether argparse takes ``word`` as one of ``options`` (the option itself, or a prefix of only it)."""
    return word in options or (word.startswith("--") and len([o for o in options if o.startswith(word)]) == 1)


def rejected_cell_magic(source: str) -> Text | None:
    """Why IPython refuses the cell's ``%%time`` / ``%%capture`` line (so the cell defines nothing), or None."""
    magic = _cell_magic(source.split("\n"))
    if magic is None or magic[1] not in _KEEPING_CELL_MAGICS or parses(source):
        return None
    options, words = _KEEPING_CELL_MAGICS[magic[1]]
    try:
        argv = shlex.split(magic[2])
    except ValueError:  # an unclosed quote
        argv = [magic[2]]
    others = [word for word in argv if not _option(word, options)]
    if len(others) <= words and not any(word.startswith("-") for word in others):
        return None
    if magic[1] == "time":
        return tr("IPython's %%time takes no code on its own line when the cell has a body (UsageError: Can't "
                  "use statement directly after '%%time'!)")
    return tr("IPython's %%capture takes only --no-stderr, --no-stdout, --no-display and one output name on its "
              "line (UsageError: unrecognized arguments)")


def without_magics(source: str) -> str:
    """IPython syntax becomes blank lines, so the cell parses and its line numbers stay.

    A cell magic that keeps its body's definitions (``%%time``, ``%%capture``) loses only its
    first line, and its body is read as a cell is; any other cell magic, or one IPython refuses
    (:func:`rejected_cell_magic`), is not Python and the whole cell becomes blank. Line magics
    and shell lines are blanked (an indented one becomes ``pass``, so its block still parses),
    and so are the lines a backslash at a shell line's end continues it onto.
    """
    if parses(source):  # plain Python: a line of a bracketed expression may start with % or != (formatting, black)
        return source
    lines = source.split("\n")
    magic = _cell_magic(lines)
    if magic is not None:
        start, name, _ = magic
        if name not in _KEEPING_CELL_MAGICS or rejected_cell_magic(source) is not None:
            return "\n" * (len(lines) - 1)
        return "\n" * (start + 1) + without_magics("\n".join(lines[start + 1:]))
    out = []
    continued = False
    for line in lines:
        if continued:  # IPython joins a shell line that ends with a backslash with the next
            continued, line = line.rstrip().endswith("\\"), ""
        elif _is_ipython_line(line):
            continued = line.rstrip().endswith("\\")
            indent = line[:len(line) - len(line.lstrip())]
            line = f"{indent}pass" if indent else ""
        out.append(line)
    return "\n".join(out)
