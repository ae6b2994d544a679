"""The gradable program inside a notebook: its definitions, as a kernel would hold them.

A notebook submission is graded as a kernel that ran it top to bottom would define it, without
running what that kernel would run. Nothing here runs student code: cells are only parsed
(``ast``, ``symtable``), in the trusted process, and the program is written out for the sandbox
worker to import.

What the program keeps, in notebook order (a later definition replaces an earlier one, as in
the kernel):

* **Definitions** (``def``, ``class``) and **imports**. Each import is guarded: one that fails in
  the grader (``from google.colab import drive``, ``import wandb``: modules only the student's
  environment has) binds a stand-in instead, and only a function that uses it fails, when it
  does, with a message naming the module.
* **Constants**: values made of literals, operators, names the program already holds, attribute
  and item access, calls to a few harmless builtins (``SIZES = tuple(range(3))``, ``sum(PARAMS)``)
  and string methods on a literal or on a name holding one (``"resnet50 vgg16".split()``).
* **Library values** that kept code reads (``loss_fn = keras.losses.BinaryCrossentropy()``,
  ``augment = keras.Sequential([layers.RandomFlip()])``): their calls all go to functions reached
  through an imported module, and no word of those functions' dotted names says they read or write
  files, download, load data, train, predict or evaluate, or build a pre-trained model
  (``tfds.load``, ``np.load``, ``image_dataset_from_directory``, ``keras.applications.VGG16``,
  ``get_file``, ``from_pretrained``: see ``notebook_statements.WORK_PREFIXES`` and ``WORK_WORDS``). A call on a value
  (``model.fit``, ``base.predict``) or to the student's own function or class is never a library
  call. They are guarded too: one that fails in the grader becomes a stand-in that explains. A value
  read by a kept value is wanted as well, so a chain (``LOSS = ...``, ``COMPILE_KW = dict(loss=LOSS)``)
  is kept whole.
* **Values filled in place** with those kinds: an item or attribute set on a kept value or class
  (``PREPROCESSORS["vgg16"] = ...``, ``AccuracyCallback.on_epoch_end = _on_epoch_end``), a fill call
  (``CONFIG.update(image_size=100)``, ``.append``, ``.extend``), a ``for`` loop over a constant whose
  body only does that.
* ``try`` blocks made only of the above (``finally`` included).
* **Class bodies** are read as the top level is: they run when the class is made, so the class keeps
  its definitions, docstring, constants and library values (those whose names have values there); any
  other statement of the body is not run, and the class attributes it would set are *not computed*
  (see below) and bound to stand-ins in the class. A kept class whose body changed, or holds library
  values, is guarded as a whole: nothing its body does stops the import.

Everything else is top-level code a kernel would *run*: calls to the student's own functions
(``model = build_dense_classifier()``, ``base = load_vgg_base()``), data loading, training,
plots, prints, and values computed from those. It is never executed. A name such a statement
gives the last value of is *not computed*, and so is a kept value such a statement changes in
place (a method call on it, an item or attribute set, ``+=`` on an item, ``del``, in a loop too:
``CONFIG.update(image_size=compute())``), and what is computed from it below: never silently stale.
A kept function that reads such a name as a global (found with ``symtable``, so parameters and
locals of the same name do not count, nor a name the function declares ``global`` and assigns; directly,
through another kept definition it uses, or through a default argument), or reads such a class
attribute (``CFG.CLASSES``), is listed in :attr:`Program.broken_names` with a message that says which
cell computes the value and what to do instead; the sandbox reports that message for the checks that
call the function, so the checks of other functions are unaffected. The reading is static: a function
that reads the name only on a path the checks never take loses its checks all the same. The program
also binds a stand-in for that name, so the import itself never fails on it and a read the analysis did
not see (through ``globals()``, ``self.ATTRIBUTE``) still explains itself when it happens. Imports inside
code that is not kept (a demo under ``if __name__ == "__main__":``) do not take a kept import's module away.

A function whose decorators, defaults or annotations (without ``from __future__ import annotations``)
read a name no cell above binds is dropped, with why, as a kernel stops there; after a star import,
which names are bound is not known, and nothing is claimed. A cell that does not parse costs only the
names it tried to define or import (unless an earlier cell imports them too), listed as broken with the
cell and line, and the functions that use them. IPython syntax is read as IPython reads it
(:mod:`autograder.host.notebook_magics`): ``%%time`` / ``%%capture`` cells keep their body, read as a cell
(unless IPython refuses the magic's line: ``%%time  # note`` defines nothing, and says why); any other
cell magic (``%%bash``, ``%%writefile``, ``%%timeit``) defines nothing and is skipped; line magics and
shell lines (``%matplotlib inline``, ``!pip install x \\``, ``files = !ls``, ``model.summary?``) are
blanked. Line numbers stay those of the cell: :meth:`Program.locate` and :meth:`Program.line_map`.

Extraction takes time in proportion to the notebook's size (a dependency map, not a pass over all
statements per kept value), and runs before any time limit: a notebook with more than ``_MAX_CODE_CHARS``
characters of code or ``_MAX_STATEMENTS`` top-level statements is not read (:class:`NotebookTooLarge`);
:func:`extract_file` makes it a program that raises with why, as it does for an unreadable notebook.
"""
from __future__ import annotations

import ast
import builtins
import io
import json
import re
import symtable
import tokenize
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from autograder.core.i18n import Text, tr
from autograder.host.notebook_magics import rejected_cell_magic, without_magics
from autograder.host.notebook_stand_ins import ERROR, PRELUDE
from autograder.host.notebook_statements import (DEFINITIONS, IMPORTS, fill_parts, filled_by_call, filled_container,
                                                 filling_loop, is_constant, is_kept, is_library_value, mutated_roots,
                                                 set_attribute, used_names, value_of)

__all__ = ["Program", "Chunk", "NotebookUnreadable", "NotebookTooLarge", "code_cells", "extract", "extract_file",
           "is_kept", "without_magics"]

_DEFINED_NAME = re.compile(r"^(?:async\s+def|def|class)\s+([A-Za-z_]\w*)", re.MULTILINE)
_MAX_CODE = 80  # characters of a student's line quoted in a message


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
    broken_names: dict[str, Text] = field(default_factory=dict)  # name -> why it (or what it uses) cannot be used

    def locate(self, line: int) -> tuple[int, int] | None:
        """(code cell, line in that cell) of a program line, or None for lines the kit added."""
        for chunk in self.chunks:
            if chunk.first_line <= line < chunk.first_line + chunk.length:
                return chunk.cell, chunk.cell_line + line - chunk.first_line
        return None

    def line_map(self) -> list[list[int]]:
        """Plain data for the sandbox worker: [first_line, length, cell, cell_line] per chunk."""
        return [[c.first_line, c.length, c.cell, c.cell_line] for c in self.chunks]


_BUILTIN_NAMES = frozenset(dir(builtins)) | {"__name__", "__file__", "__doc__"}


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


# Kinds of statement that give a name a value the program may keep; only these are mutated "in place".
_VALUE_KINDS = frozenset({"constant", "library", "item", "fill", "attribute", "loop"})
# Kinds kept when every name they read as they run has its value (and, but for constants, kept code reads them).
_CANDIDATES = _VALUE_KINDS
_ALWAYS_KEPT = ("definition", "import", "try", "future")
# A notebook larger than this is not read at all: extraction runs in the grading process before any time limit.
# The course's notebooks hold 20-40 KB of code in a few hundred top-level statements; the limits are 50 and 50 times
# that. Time grows with the statements (a quarter of a millisecond each: 25,000 take about 6 s), far less with the
# characters (one statement of 2 MB takes about a second).
_MAX_CODE_CHARS = 2_000_000
_MAX_STATEMENTS = 25_000


_RUN_NOW = ("listcomp", "setcomp", "dictcomp", "genexpr")  # comprehensions at top level run with the statement


def _scopes(node: ast.stmt) -> tuple[set[str], set[str], set[str], set[str]]:
    """Names the statement binds at top level by assignment (``def`` and ``class`` included) and by import,
    the globals it reads as it runs, and the globals its functions read later.

    A name a function declares ``global`` and assigns itself (``global model; model = ...``) is not counted as
    read: statically, the function gives it its value (a read before the assignment is not told apart)."""
    try:
        table = symtable.symtable(ast.unparse(node), "<cell>", "exec")
    except (SyntaxError, ValueError, RecursionError):  # unparse gave what symtable refuses: guess widely
        names = used_names(node)
        stored = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        return stored, set(), names, names
    assigned = {s.get_name() for s in table.get_symbols() if s.is_assigned()}
    imported = {s.get_name() for s in table.get_symbols() if s.is_imported()}
    now = {s.get_name() for s in table.get_symbols() if s.is_referenced()}
    later: set[str] = set()

    def visit(scope: symtable.SymbolTable, running_now: bool) -> None:
        reads = {s.get_name() for s in scope.get_symbols() if s.is_global() and s.is_referenced()
                 and not (s.is_declared_global() and s.is_assigned())}
        (now if running_now else later).update(reads)
        for child in scope.get_children():
            # a class body runs when the class is made; functions and lambdas when they are called
            visit(child, running_now and (child.get_type() == "class" or child.get_name() in _RUN_NOW))

    for child in table.get_children():
        visit(child, child.get_type() == "class" or child.get_name() in _RUN_NOW)
    return assigned, imported, now, later


def _import_bindings(node: ast.stmt) -> list[tuple[str, str, str | None]]:
    """(name bound, module, attribute taken from it or None) for each name an import binds."""
    if isinstance(node, ast.Import):
        return [(alias.asname, alias.name, None) if alias.asname else
                (alias.name.split(".")[0], alias.name, None) for alias in node.names]
    module = "." * node.level + (node.module or "")
    return [(alias.asname or alias.name, module, alias.name) for alias in node.names if alias.name != "*"]


def _imported_names(source: str) -> set[str]:
    """Names the imports at the start of a line bind, read from text that does not parse."""
    names = set()
    lines = source.split("\n")
    for k, line in enumerate(lines):
        match = re.match(r"(import|from\s+[\w.]+\s+import)\s+(.*)", line)
        if match is None:
            continue
        text, j = match.group(2).split("#")[0], k
        while text.lstrip().startswith("(") and ")" not in text and j + 1 < len(lines):
            j += 1
            text += "," + lines[j].split("#")[0]
        for item in re.sub(r"[()\\]", " ", text).split(","):
            words = item.split()
            if len(words) == 3 and words[1] == "as":
                names.add(words[2])
            elif len(words) == 1 and words[0] != "*":
                names.add(words[0].split(".")[0] if match.group(1) == "import" else words[0])
    return {name for name in names if name.isidentifier()}


def _modules_of(nodes: list[ast.stmt]) -> dict[str, str]:
    """Top-level name -> the dotted module path it was imported as (``layers`` -> ``keras.layers``)."""
    modules = {}
    pending = list(nodes)
    while pending:
        node = pending.pop()
        if isinstance(node, IMPORTS):
            for name, module, attribute in _import_bindings(node):
                modules[name] = module if attribute is None else f"{module}.{attribute}"
        elif not isinstance(node, DEFINITIONS + (ast.Lambda,)):  # an import inside a function is not top level
            pending.extend(ast.iter_child_nodes(node))
    return modules


@dataclass(eq=False)
class _Statement:
    cell: int
    lines: list[str]            # the cell's lines (magics blanked)
    node: ast.stmt | None       # None: the whole cell, which does not parse (or that IPython refuses)
    kind: str                   # definition, import, try, constant, library, item, fill, attribute, loop, future,
    binds: set[str]             # other, unparsed (and in a class body: docstring)
    now: set[str] = field(default_factory=set)
    later: set[str] = field(default_factory=set)
    broken: Text | None = None  # why an unparsed cell's names cannot be used
    imported: set[str] = field(default_factory=set)  # names it binds by import
    kept: bool = False
    resolved: dict = field(default_factory=dict)  # name read as it runs -> the statement that bound it then
    soft: set[str] = field(default_factory=set)   # a class: globals its body's constants and library values read
    parts: list[_Statement] = field(default_factory=list)  # a class: its body's statements
    broken_attrs: dict[str, _Statement] = field(default_factory=dict)  # a class: attribute -> the part not run
    attr_reads: set[tuple[str, str]] = field(default_factory=set)  # (name, attribute) it reads: CFG.CLASSES

    def line_of(self, name: str) -> int:
        """The cell line where this statement binds ``name`` (or first uses it; else its first line)."""
        first_use = None
        for child in ast.walk(self.node):
            if ((isinstance(child, ast.Name) and child.id == name and isinstance(child.ctx, ast.Store))
                    or (isinstance(child, DEFINITIONS) and child.name == name)
                    or (isinstance(child, ast.ExceptHandler) and child.name == name)
                    or (isinstance(child, ast.alias) and (child.asname or child.name.split(".")[0]) == name)):
                return child.lineno
            if first_use is None and isinstance(child, ast.Name) and child.id == name:
                first_use = child.lineno  # CONFIG.update(...), TABLE[k] = v: where it is changed
        return first_use or self.node.lineno

    def quote(self, name: str) -> tuple[int, str]:
        line = self.line_of(name)
        code = self.lines[line - 1].strip()
        return line, code if len(code) <= _MAX_CODE else code[:_MAX_CODE - 1] + "…"


class NotebookTooLarge(ValueError):
    """The notebook holds more code than the grader reads (its message says why, as a :class:`Text`)."""


def _kind(node: ast.stmt, modules: dict[str, str], str_names: set[str], current: dict[str, _Statement]) -> str:
    """What a top-level statement is, given what binds each name just before it (``current``)."""
    def value_holder(name: str | None, definitions: bool = False) -> bool:
        binder = current.get(name) if name is not None else None
        return binder is not None and (binder.kind in _VALUE_KINDS or (definitions and binder.kind == "definition"))

    if isinstance(node, ast.ImportFrom) and node.module == "__future__":
        return "future"
    if isinstance(node, DEFINITIONS):
        return "definition"
    if isinstance(node, IMPORTS):
        return "import"
    if isinstance(node, ast.Try) and is_kept(node):
        return "try"
    if is_constant(node, str_names):
        return "constant"
    if value_of(node) is not None and is_library_value(value_of(node), modules, str_names):
        return "library"
    fills = {"item": filled_container(node), "fill": filled_by_call(node), "attribute": set_attribute(node)}
    for kind, container in fills.items():
        if value_holder(container, kind == "attribute") and all(
                is_library_value(part, modules, str_names) for part in fill_parts(node)):
            return kind  # PREPROCESSORS["vgg16"] = keras.applications.vgg16.preprocess_input
    containers = filling_loop(node, modules)
    if containers and all(value_holder(name) for name in containers):
        return "loop"
    return "other"


def _class_parts(statement: _Statement, modules: dict[str, str]) -> None:
    """Read a class body as the top level is read: its statements become the class's parts.

    The class reads as it is made what its decorators, bases and kept definitions need (``now``); what its
    constants and library values read is ``soft``: a part whose values are missing is not run, not the class."""
    node = statement.node
    header = [*node.decorator_list, *node.bases, *(keyword.value for keyword in node.keywords)]
    statement.now = set().union(*(used_names(expression) for expression in header))
    statement.later, statement.soft = set(), set()
    local: set[str] = set()  # names the class body bound above: read there, they are the class's
    for child in node.body:
        assigned, imported, now, later = _scopes(child)
        if isinstance(child, ast.Pass) or (isinstance(child, ast.Expr) and isinstance(child.value, ast.Constant)):
            kind = "docstring"
        else:
            kind = _kind(child, modules, set(), {})
            kind = kind if kind in ("definition", "import", "try", "constant", "library") else "other"
        part = _Statement(statement.cell, statement.lines, child, kind, assigned | imported, now, later)
        statement.parts.append(part)
        if kind in ("constant", "library"):
            statement.soft |= now - local
        elif kind != "other":
            statement.now |= now - local
            statement.later |= later
        local |= part.binds


def _statements(cells: list[str], notebook_name: str) -> list[_Statement]:
    statements: list[_Statement] = []
    count = 0
    for number, raw in enumerate(cells, start=1):
        rejected = rejected_cell_magic(raw)
        try:
            tree, source = ast.parse(raw), raw  # plain Python: most cells (parsed once)
        except (SyntaxError, ValueError):
            tree, source = None, without_magics(raw)
        try:
            if rejected is not None:
                message = tr("code cell {cell} of {notebook} does not run in a kernel: {why}; so nothing it defines "
                             "exists. Put what follows the magic's name on a line of its own.", cell=number,
                             notebook=notebook_name, why=rejected)
                raise ValueError
            tree = tree or ast.parse(source)
        except SyntaxError as exc:
            message = tr("code cell {cell} of {notebook}, line {line} does not parse ({error}): `{code}`. "
                         "Fix it so the whole cell runs.", cell=number, notebook=notebook_name, line=exc.lineno,
                         error=exc.msg, code=(exc.text or "").strip())
        except ValueError:
            pass
        else:
            count += len(tree.body)
            if count > _MAX_STATEMENTS:
                raise NotebookTooLarge(tr(
                    "{notebook} is too large to grade: its code cells hold more than {limit} top-level statements "
                    "(an assignment's notebook holds a few hundred). Remove the generated or pasted code and submit "
                    "it again.", notebook=notebook_name, limit=f"{_MAX_STATEMENTS:,}"))
            lines = source.split("\n")
            for node in tree.body:
                assigned, imported, now, later = _scopes(node)
                statements.append(_Statement(number, lines, node, "other", assigned, now, later, imported=imported))
            continue
        # The cell does not run: what it defines or imports has no value (a name imported above keeps its own).
        text = raw if rejected is not None else source
        statements.append(_Statement(number, [], None, "unparsed", set(_DEFINED_NAME.findall(text)),
                                     broken=message, imported=_imported_names(text)))
    modules = _modules_of([s.node for s in statements if s.node is not None])
    current: dict[str, _Statement] = {}
    str_names: set[str] = set()  # names whose value is a string literal just here
    for statement in statements:
        node = statement.node
        if node is None:
            statement.binds |= {name for name in statement.imported if name not in current}
        else:
            statement.kind = _kind(node, modules, str_names, current)
            statement.attr_reads = {(n.value.id, n.attr) for n in ast.walk(node) if isinstance(n, ast.Attribute)
                                    and isinstance(n.value, ast.Name) and isinstance(n.ctx, ast.Load)}
        if statement.kind in ("import", "future", "try"):
            # An import inside top-level code that is not kept (the demo's `if __name__ == "__main__":`, the
            # setup cell) binds the same module a kept import does: it does not take the name's value away.
            statement.binds |= statement.imported
        elif statement.kind in ("item", "fill", "attribute"):
            statement.binds.add(filled_container(node) or filled_by_call(node) or set_attribute(node))
        elif statement.kind == "loop":
            targets = {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
            statement.now -= targets  # the loop gives them their values
            statement.binds |= filling_loop(node, modules)
        elif statement.kind == "other":  # a value it may change in place has no value the program can give after it
            for root, by_call in mutated_roots(node):
                binder = current.get(root)
                if binder is not None and (binder.kind in _VALUE_KINDS
                                           or (not by_call and binder.kind == "definition")):
                    statement.binds.add(root)
        elif isinstance(node, ast.ClassDef):
            _class_parts(statement, modules)
        for name in statement.binds:
            current[name] = statement
        str_names -= statement.binds
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, (str, bytes))):
            str_names.add(node.targets[0].id)
    return statements


def _resolve(statements: list[_Statement]) -> dict[str, _Statement]:
    """Link each statement's run-time reads to the statement that bound them then; the last binder of each name."""
    current: dict[str, _Statement] = {}
    for statement in statements:
        statement.resolved = {name: current[name] for name in statement.now | statement.soft if name in current}
        for name in statement.binds:
            current[name] = statement
    return current


def _select(statements: list[_Statement], excluded: set[int]) -> set[str]:
    """Mark the statements the program keeps; return the names kept code reads (or that are defined).

    Definitions and imports always (but those :func:`_break_reads_before_values` broke). A constant when every
    name it reads as it runs has its value there (the statement that last bound it above is kept, or it is a
    builtin); a library value, an item or attribute set (``NAMES["a"] = ...``), a container filled by a call
    (``CONFIG.update(size=100)``) or by a loop over a constant, also only when its name is wanted: read by kept
    code, or by a wanted value (so a chain of values is kept whole). A name a dropped statement binds (or changes
    in place) has no value below it, so nothing kept is computed from it. One pass over a dependency map: the
    time grows with the notebook's size, not its square. ``excluded``: statements not to keep (ids).
    """
    for statement in statements:
        statement.kept = statement.kind in _ALWAYS_KEPT and statement.broken is None
    builtin_names = set(dir(builtins))
    waiting: dict[int, list[_Statement]] = {}     # id(a candidate) -> candidates that wait for it to be kept
    missing: dict[int, int] = {}                  # id(a candidate) -> how many of its reads are not kept yet
    binders: dict[str, list[_Statement]] = {}     # name -> candidates that bind it
    for statement in statements:
        if statement.kind not in _CANDIDATES or id(statement) in excluded:
            continue
        count, possible = 0, True
        for name in statement.now:
            binder = statement.resolved.get(name)
            if binder is None:
                possible = possible and name in builtin_names
            elif not binder.kept:
                possible = possible and binder.kind in _CANDIDATES and id(binder) not in excluded
                waiting.setdefault(id(binder), []).append(statement)
                count += 1
        if possible:
            missing[id(statement)] = count
            for name in statement.binds:
                binders.setdefault(name, []).append(statement)
    wanted: set[str] = set()
    wanted_values: set[int] = set()
    ready: list[_Statement] = []
    pending_names: list[str] = []

    def want_value(statement: _Statement) -> None:
        if id(statement) in missing and id(statement) not in wanted_values:
            wanted_values.add(id(statement))
            pending_names.extend(statement.now | statement.later | statement.soft)
            if missing[id(statement)] == 0:
                ready.append(statement)

    for statement in statements:
        if statement.kind == "definition":
            pending_names.extend(statement.binds)
        if statement.kept:
            pending_names.extend(statement.now | statement.later | statement.soft)
        elif statement.kind == "constant":
            want_value(statement)
    while pending_names or ready:
        while pending_names:
            name = pending_names.pop()
            if name not in wanted:
                wanted.add(name)
                for binder in binders.get(name, ()):
                    want_value(binder)
        if ready:
            statement = ready.pop()
            statement.kept = True
            for reader in waiting.get(id(statement), ()):
                if id(reader) in missing:
                    missing[id(reader)] -= 1
                    if missing[id(reader)] == 0 and id(reader) in wanted_values:
                        ready.append(reader)
    read = set().union(*(s.binds for s in statements if s.kind == "definition"))
    for statement in statements:
        if statement.kept:
            read |= statement.now | statement.later | statement.soft
    return read


def _decide_parts(statement: _Statement) -> None:
    """Which of a kept class's body statements run: definitions, imports, docstrings always; a constant or library
    value when every name it reads there has a value (a kept part above, or a kept top-level statement); the
    names the others would bind are the class's attributes without a value (``broken_attrs``)."""
    builtin_names = set(dir(builtins))
    state: dict[str, bool] = {}
    last: dict[str, _Statement] = {}
    for part in statement.parts:
        if part.kind in ("constant", "library"):
            part.kept = all(state[name] if name in state else
                            (statement.resolved[name].kept if name in statement.resolved else name in builtin_names)
                            for name in part.now)
        else:
            part.kept = part.kind != "other"
        for name in part.binds:
            state[name], last[name] = part.kept, part
    statement.broken_attrs = {name: last[name] for name, kept in state.items() if not kept}


def _reads_missing_attribute(statement: _Statement, final: dict[str, _Statement]) -> tuple[str, _Statement] | None:
    """("CFG.CLASSES", the class body's statement that is not run) for an attribute it reads that has no value."""
    for name, attribute in sorted(statement.attr_reads):
        binder = statement.resolved.get(name) or final.get(name)
        if binder is not None and binder is not statement and binder.kept and attribute in binder.broken_attrs:
            return f"{name}.{attribute}", binder.broken_attrs[attribute]
    return None


def _not_computed(statement: _Statement, name: str) -> Text:
    line, code = statement.quote(name)
    return tr("your notebook computes it at top level (code cell {cell}, line {line}: `{code}`), and the grader "
              "does not run top-level code; define it with `def` or `class`, or give it a constant value.",
              cell=statement.cell, line=line, code=code)


def _dependency_reason(helper: str, name: str, statement: _Statement) -> Text:
    """Why a function cannot be graded: it reads (through ``helper``) ``name``, which ``statement`` leaves unset."""
    if statement.broken is not None:
        return tr("it uses `{helper}`, which could not be used: {reason}", helper=helper, reason=statement.broken)
    line, code = statement.quote(name.rsplit(".", 1)[-1])
    if helper == name:
        return tr("it reads `{name}`, which your notebook computes at top level (code cell {cell}, line {line}: "
                  "`{code}`); the grader does not run top-level code, so pass `{name}` as an argument or compute "
                  "it inside the function.", name=name, cell=statement.cell, line=line, code=code)
    return tr("it uses `{helper}`, which reads `{name}`, a value your notebook computes at top level (code cell "
              "{cell}, line {line}: `{code}`); the grader does not run top-level code, so pass `{name}` as an "
              "argument or compute it inside the function.", helper=helper, name=name, cell=statement.cell,
              line=line, code=code)


def _missing_dependencies(statements: list[_Statement], final: dict[str, _Statement]) -> dict[int, tuple]:
    """id(kept statement) -> (the name it reads that leads there, the name without a value, its statement).

    From the statements that read a value without one, back along the reads to what reads them (breadth first,
    so each gets its shortest path): linear in the number of reads."""
    readers: dict[int, list[tuple[_Statement, str]]] = {}
    found: dict[int, tuple] = {}
    queue: deque[_Statement] = deque()
    for statement in statements:
        if not statement.kept:
            continue
        direct = None
        reads = [(name, statement.resolved.get(name)) for name in sorted(statement.now)]
        reads += [(name, final.get(name)) for name in sorted(statement.later)]
        for name, binder in reads:
            if binder is None:
                continue
            if not binder.kept:
                direct = direct or (name, name, binder)
            elif binder is not statement:
                readers.setdefault(id(binder), []).append((statement, name))
        attribute = _reads_missing_attribute(statement, final)
        direct = direct or (attribute and (attribute[0], *attribute))
        if direct:
            found[id(statement)] = direct
            queue.append(statement)
    while queue:
        statement = queue.popleft()
        for reader, name in readers.get(id(statement), ()):
            if id(reader) not in found:
                found[id(reader)] = (name, *found[id(statement)][1:])
                queue.append(reader)
    return found


def _segment(lines: list[str], node: ast.stmt) -> list[str]:
    """The statement's own text, one entry per line (a statement sharing a line with others via ``;`` alone)."""
    first, last = _start_line(node), node.end_lineno
    text = lines[first - 1:last]
    start = 0 if first < node.lineno else node.col_offset  # decorators start their line
    if first == last:
        return [_cut(text[0], start, node.end_col_offset)]
    return [_cut(text[0], start, None)] + text[1:-1] + [_cut(text[-1], 0, node.end_col_offset)]


def _cut(line: str, start: int, end: int | None) -> str:
    """``line`` between two UTF-8 byte offsets (how ``ast`` counts columns)."""
    data = line.encode("utf-8")
    return data[start:end].decode("utf-8", errors="replace")


def _start_line(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno] + [d.lineno for d in decorators])


def _break_reads_before_values(statements: list[_Statement]) -> None:
    """A function whose decorators, default values or annotations read a name no cell above binds (a constant or
    decorator defined in a later cell) would stop the import of the whole program with a NameError, as it stops a
    kernel's run there: it is dropped instead, and the function says why (the rest is graded). Annotations count
    unless ``from __future__ import annotations`` is in effect; after ``from module import *`` nothing is claimed
    (which names it binds is not known here)."""
    lazy_annotations = any(s.kind == "future" and any(a.name == "annotations" for a in s.node.names)
                           for s in statements)
    star = False
    for statement in statements:
        node = statement.node
        star = star or (statement.kind in ("import", "try") and any(
            isinstance(child, ast.alias) and child.name == "*" for child in ast.walk(node)))
        if star or statement.kind != "definition" or not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        evaluated = [*node.decorator_list, *node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]
        if not lazy_annotations:
            arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            arguments += [a for a in (node.args.vararg, node.args.kwarg) if a is not None]
            evaluated += [a.annotation for a in arguments if a.annotation is not None]
            evaluated += [node.returns] if node.returns is not None else []
        unbound = sorted({child.id for part in evaluated for child in ast.walk(part) if isinstance(child, ast.Name)
                          and child.id not in statement.resolved and child.id not in _BUILTIN_NAMES})
        if unbound:
            line, code = statement.quote(unbound[0])
            statement.broken = tr("`{name}` is read as code cell {cell} runs (line {line}: `{code}`), before any "
                                  "cell above gives it a value; run in order, the notebook stops there with a "
                                  "NameError.", name=unbound[0], cell=statement.cell, line=line, code=code)


def _where(statement: _Statement, name: str) -> str:
    line, code = statement.quote(name)
    return f"code cell {statement.cell}, line {line}: `{code}`"


def _shares_a_line(part: _Statement, statement: _Statement) -> bool:
    node = part.node
    return node.lineno == statement.node.lineno or any(
        other is not part and other.node.lineno <= node.end_lineno and node.lineno <= other.node.end_lineno
        for other in statement.parts)


def _inside_strings(text: str) -> set[int]:
    """Lines (0-based) of ``text`` that start inside a string spanning lines: indenting them would change it."""
    inside: set[int] = set()
    opened: list[int] = []
    f_start, f_end = getattr(tokenize, "FSTRING_START", None), getattr(tokenize, "FSTRING_END", None)
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == f_start:
            opened.append(token.start[0])
        elif token.type == f_end and opened:
            inside.update(range(opened.pop(), token.end[0]))
        elif token.type == tokenize.STRING:
            inside.update(range(token.start[0], token.end[0]))
    return inside


def _class_lines(statement: _Statement, rewrite: bool = True) -> list[tuple[str, int | None]] | None:
    """A kept class's lines (text, cell line or None for the kit's), its body read as the top level is.

    A part that is not run becomes one call that binds stand-ins for its names in the class (on its first line);
    a library value is guarded as at top level. The class is then guarded as a whole (indented by one space, but
    inside strings), so that nothing its body does stops the import. None: its text is kept as it is. (Should
    the rewritten text not parse, which parts sharing lines in odd ways could cause, it is only guarded.)"""
    node = statement.node
    changed = [part for part in statement.parts if not part.kept or part.kind == "library"]
    if not changed and not any(isinstance(part.node, ast.ClassDef) for part in statement.parts):
        return None
    changed = changed if rewrite else []
    first = _start_line(node)
    rows: list[list] = [[line, first + k] for k, line in enumerate(_segment(statement.lines, node))]
    after: dict[int, list[str]] = {}
    for part in reversed(changed):
        child = part.node
        top, bottom = child.lineno - first, child.end_lineno - first
        names = tuple(sorted(part.binds))
        head = _cut(rows[top][0], 0, child.col_offset)
        if part.kept:  # a library value
            if _shares_a_line(part, statement):
                continue
            rows[top][0] = head + "try: " + _cut(rows[top][0], child.col_offset, None)
            after.setdefault(bottom, []).insert(0, f"{head}except Exception as {ERROR}: _tf2kit_stand_ins.failed("
                                                   f"locals(), {names!r}, {_where(part, names[0])!r}, {ERROR})")
            continue
        call = (f"_tf2kit_stand_ins.not_run(locals(), {names!r}, {_where(part, names[0])!r})" if names else "pass")
        tail = _cut(rows[bottom][0], child.end_col_offset, None)
        for row in range(top + 1, bottom + 1):
            rows[row][0] = ""
        rows[top][0] = head + call + tail
    lines: list[tuple[str, int | None]] = [("try:", None)]
    for k, (text, cell_line) in enumerate(rows):
        lines.append((text, cell_line))
        lines.extend((extra, None) for extra in after.get(k, []))
    lines.append((f"except Exception as {ERROR}: _tf2kit_stand_ins.failed(globals(), {(node.name,)!r}, "
                  f"{_where(statement, node.name)!r}, {ERROR})", None))
    try:
        inside = _inside_strings("\n".join(text for text, _ in lines))
        lines = [(text if k in inside or k in (0, len(lines) - 1) else " " + text, cell_line)
                 for k, (text, cell_line) in enumerate(lines)]
        ast.parse("\n".join(text for text, _ in lines))
    except (SyntaxError, tokenize.TokenError, ValueError):
        return _class_lines(statement, False) if rewrite else None
    return lines


def _chunks(origins: list[tuple[int, int] | None]) -> list[Chunk]:
    """The program's lines that came from the notebook, as runs of consecutive lines of one cell."""
    chunks: list[Chunk] = []
    for number, origin in enumerate(origins, start=1):
        if origin is None:
            continue
        last = chunks[-1] if chunks else None
        if (last is not None and last.cell == origin[0] and last.first_line + last.length == number
                and last.cell_line + last.length == origin[1]):
            chunks[-1] = Chunk(last.cell, last.first_line, last.cell_line, last.length + 1)
        else:
            chunks.append(Chunk(origin[0], number, origin[1], 1))
    return chunks


def extract(cells: list[str], notebook_name: str) -> Program:
    """The gradable program of ``cells`` (code cell sources, in notebook order).

    Raises :class:`NotebookTooLarge` for a notebook with more code than the grader reads."""
    size = sum(len(cell) for cell in cells)
    if size > _MAX_CODE_CHARS:
        raise NotebookTooLarge(tr("{notebook} is too large to grade: its code cells hold {size} characters, more "
                                  "than the {limit} the grader reads (an assignment's notebook holds a small fraction "
                                  "of that). Remove the generated or pasted code and submit it again.",
                                  notebook=notebook_name, size=f"{size:,}", limit=f"{_MAX_CODE_CHARS:,}"))
    statements = _statements(cells, notebook_name)
    final = _resolve(statements)
    _break_reads_before_values(statements)
    excluded: set[int] = set()
    while True:  # a value read from a class attribute that is not run is not kept either: again, without it
        wanted = _select(statements, excluded)
        for statement in statements:
            if statement.kept and statement.parts:
                _decide_parts(statement)
        reading = {id(s) for s in statements if s.kept and s.kind in _CANDIDATES and
                   _reads_missing_attribute(s, final) is not None}
        if reading <= excluded:
            break
        excluded |= reading
    program = Program("")
    for name, statement in final.items():
        if statement.broken is not None:
            program.broken_names[name] = statement.broken
        elif not statement.kept:
            program.broken_names[name] = _not_computed(statement, name)
    missing = _missing_dependencies(statements, final)
    for name, statement in final.items():
        if statement.kept and name not in program.broken_names and id(statement) in missing:
            program.broken_names[name] = _dependency_reason(*missing[id(statement)])

    out: list[str] = []
    origins: list[tuple[int, int] | None] = []
    needs_stand_ins = False

    def put(text: str, origin: tuple[int, int] | None = None) -> None:
        out.append(text)
        origins.append(origin)

    def emit(statement: _Statement, prefix: str = "") -> None:
        first = _start_line(statement.node)
        for k, text in enumerate(_segment(statement.lines, statement.node)):
            put((prefix if k == 0 else "") + text, (statement.cell, first + k))

    for statement in statements:  # from __future__ imports must come first
        if statement.kind == "future":
            emit(statement)
    body_start = len(out)
    for statement in statements:
        if statement.kind == "future":
            continue
        if statement.kept and statement.kind == "import":
            emit(statement, "try: ")
            put(f"except Exception as {ERROR}: _tf2kit_stand_ins.missing(globals(), "
                f"{tuple(_import_bindings(statement.node))!r}, {ERROR})")
            needs_stand_ins = True
        elif statement.kept and statement.kind in ("library", "item", "fill", "attribute"):
            emit(statement, "try: ")
            names = tuple(sorted(statement.binds))
            put(f"except Exception as {ERROR}: _tf2kit_stand_ins.failed(globals(), {names!r}, "
                f"{_where(statement, names[0])!r}, {ERROR})")
            needs_stand_ins = True
        elif statement.kept and statement.parts and (lines := _class_lines(statement)) is not None:
            for text, cell_line in lines:
                put(text, None if cell_line is None else (statement.cell, cell_line))
            needs_stand_ins = True
        elif statement.kept:
            emit(statement)
        elif statement.binds & wanted and statement.node is not None and statement.broken is None:
            names = tuple(sorted(statement.binds & wanted))
            put(f"_tf2kit_stand_ins.not_run(globals(), {names!r}, {_where(statement, names[0])!r})")
            needs_stand_ins = True
    if needs_stand_ins:
        out.insert(body_start, PRELUDE)
        origins.insert(body_start, None)
    program.source = "\n".join(out) + "\n"
    program.chunks = _chunks(origins)
    return program


def extract_file(path: Path) -> Program:
    """The gradable program of a notebook file; an unreadable file becomes a program that says why."""
    path = Path(path)
    try:
        return extract(code_cells(path.read_text(encoding="utf-8", errors="replace")), path.name)
    except NotebookUnreadable as exc:
        message = f"{path.name} could not be read as a notebook: {exc}"
    except NotebookTooLarge as exc:
        message = str(exc.args[0])
    except (RecursionError, MemoryError):  # Python's parser gives up on such nesting: a kernel could not run it
        message = (f"{path.name} could not be graded: it nests JSON or code too deeply for Python to read (a cell "
                   f"such as 1+1+1+... with hundreds of thousands of terms); a kernel could not run it either")
    return Program(f"raise SyntaxError({message!r})\n")
