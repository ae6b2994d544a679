"""The gradable program inside a notebook: its functions, classes, imports and constants.

A notebook submission is graded like the ``.py`` file: the kit keeps the top-level
definitions of its code cells and leaves out every other statement (data loading,
training, plots, prints), so grading a notebook costs no more than grading the file.
Nothing here runs student code: cells are only parsed (``ast``), in the trusted
process, and the program is written out for the sandbox worker to import.

A cell that does not parse costs only the names it tried to define: the program lists
them as *broken*, with the cell and line, and the sandbox reports that message for the
checks that use them, so the checks of other functions are unaffected.
"""
from __future__ import annotations

import ast
import builtins
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from autograder.i18n import tr

# Names whose calls are harmless in a constant, e.g. ``SIZES = tuple(range(3))``.
_PURE_CALLS = frozenset({"range", "len", "tuple", "list", "dict", "set", "frozenset", "int", "float", "str",
                         "bool", "sorted", "zip", "enumerate", "min", "max", "abs", "round"})
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)
_DEFINED_NAME = re.compile(r"^(?:async\s+def|def|class)\s+([A-Za-z_]\w*)", re.MULTILINE)


class NotebookUnreadable(ValueError):
    """The file is not a notebook the kit can read (not JSON, or no list of cells)."""


@dataclass(frozen=True)
class Chunk:
    """Lines of the program that came from one code cell."""

    cell: int          # 1-based number among the notebook's code cells
    first_line: int    # where the chunk starts in the program (1-based)
    cell_line: int     # the line of the cell it starts at (1-based)
    length: int


@dataclass
class Program:
    """The extracted source, and where each of its lines came from."""

    source: str
    chunks: list[Chunk] = field(default_factory=list)
    broken_names: dict[str, str] = field(default_factory=dict)  # name -> why its cell could not be used

    def locate(self, line: int) -> tuple[int, int] | None:
        """(code cell, line in that cell) of a program line, or None for lines the kit added."""
        for chunk in self.chunks:
            if chunk.first_line <= line < chunk.first_line + chunk.length:
                return chunk.cell, chunk.cell_line + line - chunk.first_line
        return None

    def line_map(self) -> list[list[int]]:
        """Plain data for the sandbox worker: [first_line, length, cell, cell_line] per chunk."""
        return [[c.first_line, c.length, c.cell, c.cell_line] for c in self.chunks]


def code_cells(text: str) -> list[str]:
    """The code cells' sources of a notebook given as JSON text (nbformat 4, or 3's worksheets)."""
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookUnreadable(f"it is not valid notebook JSON ({exc.msg} at line {exc.lineno}). "
                                 "Save it again from Jupyter or Colab.") from None
    if not isinstance(notebook, dict):
        raise NotebookUnreadable("it is JSON but not a notebook (no cells).")
    cells = notebook.get("cells")
    if cells is None and isinstance(notebook.get("worksheets"), list):  # nbformat 3
        cells = [c for sheet in notebook["worksheets"] for c in sheet.get("cells", [])]
    if not isinstance(cells, list):
        raise NotebookUnreadable("it is JSON but not a notebook (no list of cells).")
    sources = []
    for cell in cells:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", cell.get("input", ""))
            sources.append("".join(source) if isinstance(source, list) else str(source))
    return sources


def without_magics(source: str) -> str:
    """IPython syntax becomes blank lines, so the cell parses and its line numbers stay."""
    lines = source.split("\n")
    if lines and lines[0].lstrip().startswith("%%"):  # a cell magic: the whole cell is not Python
        return "\n" * (len(lines) - 1)
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)


def _is_pure(node: ast.AST) -> bool:
    """True if evaluating the expression cannot run anything but a few harmless builtins."""
    for child in ast.walk(node):
        if isinstance(child, ast.Call):
            if not (isinstance(child.func, ast.Name) and child.func.id in _PURE_CALLS):
                return False
        elif isinstance(child, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
            return False
    return True


def _targets_are_names(targets: list[ast.expr]) -> bool:
    return all(isinstance(n, (ast.Name, ast.Tuple, ast.List, ast.Starred)) and
               all(isinstance(m, (ast.Name, ast.Tuple, ast.List, ast.Starred, ast.Store)) for m in ast.walk(n))
               for n in targets)


def is_kept(node: ast.stmt) -> bool:
    """Definitions, imports, constants, and ``try`` blocks made only of those."""
    if isinstance(node, _DEFINITIONS):
        return True
    if isinstance(node, ast.Assign):
        return _targets_are_names(node.targets) and _is_pure(node.value)
    if isinstance(node, ast.AnnAssign):
        return isinstance(node.target, ast.Name) and (node.value is None or _is_pure(node.value))
    if isinstance(node, ast.Try):  # e.g. try: import tensorflow_datasets except ImportError: ...
        handlers = [stmt for handler in node.handlers for stmt in handler.body]
        return all(is_kept(s) or isinstance(s, ast.Pass) for s in node.body + handlers + node.orelse)
    return False


def _assigned_names(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.Assign) and _targets_are_names(node.targets):
        return {n.id for target in node.targets for n in ast.walk(target) if isinstance(n, ast.Name)}
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return {node.target.id}
    return set()


def _bound_names(node: ast.stmt) -> set[str]:
    """Names a kept statement defines at module level."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    if isinstance(node, ast.Try):
        return {name for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt)
                for name in _bound_names(child)}
    return _assigned_names(node)


def _used_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def select(statements: list[ast.stmt]) -> list[bool]:
    """Which top-level statements (in program order) the graded program keeps.

    Definitions and imports always. An assignment is kept when its value is a harmless
    constant (``SIZE = 28``) or when a kept function or class reads the name it assigns
    (``loss_fn = keras.losses.SparseCategoricalCrossentropy()`` used in ``build_model``), and
    in both cases only if every name its value needs is defined above it: so a correct
    notebook does not lose points for such a global, a constant computed from data the kit
    does not load is left out instead of failing the import, and ``history = model.fit(...)``,
    which no function reads, is never run.
    """
    definitions = [isinstance(node, _DEFINITIONS + (ast.Try,)) and is_kept(node) for node in statements]
    constants = [not definition and is_kept(node) for node, definition in zip(statements, definitions)]
    kept = list(definitions)
    builtin_names = set(dir(builtins))
    while True:
        wanted = set().union(*(_used_names(node) for node, keep in zip(statements, kept)
                               if keep and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))))
        defined, changed = set(builtin_names), False
        for index, node in enumerate(statements):
            if (not kept[index] and (constants[index] or _assigned_names(node) & wanted)
                    and (node.value is None or _used_names(node.value) <= defined)):
                kept[index] = changed = True
            if kept[index]:
                defined |= _bound_names(node)
        if not changed:
            return kept


def _start_line(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno] + [d.lineno for d in decorators])


def _names_defined(tree: ast.Module) -> list[str]:
    return [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def extract(cells: list[str], notebook_name: str) -> Program:
    """The gradable program of ``cells`` (code cell sources, in notebook order)."""
    program = Program("")
    parsed: list[tuple[int, list[str], ast.stmt]] = []  # (code cell, its lines, statement)
    for number, raw in enumerate(cells, start=1):
        source = without_magics(raw)
        try:
            tree = ast.parse(source)
        except SyntaxError as exc:
            message = tr("code cell {cell} of {notebook}, line {line} does not parse ({error}): `{code}`. "
                         "Fix it so the whole cell runs.", cell=number, notebook=notebook_name, line=exc.lineno,
                         error=exc.msg, code=(exc.text or "").strip())
            for name in _DEFINED_NAME.findall(source):
                program.broken_names[name] = message
            continue
        for name in _names_defined(tree):
            program.broken_names.pop(name, None)  # a later cell that parses defines it again
        lines = source.split("\n")
        parsed.extend((number, lines, node) for node in tree.body)
    out: list[str] = []
    for (number, lines, node), keep in zip(parsed, select([node for _, _, node in parsed])):
        if keep:
            start, end = _start_line(node), node.end_lineno
            program.chunks.append(Chunk(number, len(out) + 1, start, end - start + 1))
            out.extend(lines[start - 1:end])
    program.source = "\n".join(out) + "\n"
    return program


def extract_file(path: Path) -> Program:
    """The gradable program of a notebook file; an unreadable file becomes a program that says why."""
    path = Path(path)
    try:
        cells = code_cells(path.read_text(encoding="utf-8", errors="replace"))
    except NotebookUnreadable as exc:
        message = f"{path.name} could not be read as a notebook: {exc}"
        return Program(f"raise SyntaxError({message!r})\n")
    return extract(cells, path.name)
