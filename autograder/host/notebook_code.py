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
  and item access, and calls to a few harmless builtins (``SIZES = tuple(range(3))``).
* **Library values** that kept code reads (``loss_fn = keras.losses.BinaryCrossentropy()``,
  ``augment = keras.Sequential([layers.RandomFlip()])``): their calls all go to functions reached
  through an imported module, and no word of those functions' dotted names says they read or write
  files, download, load data, train, predict or evaluate, or build a pre-trained model
  (``tfds.load``, ``np.load``, ``image_dataset_from_directory``, ``keras.applications.VGG16``,
  ``get_file``, ``from_pretrained``: see ``_WORK_PREFIXES`` and ``_WORK_WORDS``). A call on a value
  (``model.fit``, ``base.predict``) or to the student's own function or class is never a library
  call. They are guarded too: one that fails in the grader becomes a stand-in that explains.
* ``try`` blocks made only of the above.

Everything else is top-level code a kernel would *run*: calls to the student's own functions
(``model = build_dense_classifier()``, ``base = load_vgg_base()``), data loading, training,
plots, prints, and values computed from those. It is never executed. A name such a statement
gives the last value of is *not computed*: a kept function that reads it as a global (found with
``symtable``, so parameters and locals of the same name do not count; directly, through another
kept definition it uses, or through a default argument) is listed in
:attr:`Program.broken_names` with a message that says which cell computes the value and what to
do instead; the sandbox reports that message for the checks that call the function, so the checks
of other functions are unaffected. The reading is static: a function that reads the name only on
a path the checks never take loses its checks all the same. The program also binds a stand-in
for that name, so the import itself never fails on it and a read the analysis did not see (through
``globals()``, say) still explains itself when it happens. Imports inside code that is not kept (a
demo under ``if __name__ == "__main__":``) do not take a kept import's module away.

A cell that does not parse costs only the names it tried to define, listed as broken with the
cell and line, and the functions that use them. Cell magics that keep their body's definitions in
the kernel (``%%time``, ``%%capture``) are read like plain cells; any other cell magic (``%%bash``,
``%%writefile``, ``%%timeit``) defines nothing and is skipped; line magics and shell lines
(``%matplotlib inline``, ``!pip install x``, ``files = !ls``, ``model.summary?``) are blanked.
Line numbers stay those of the cell: :meth:`Program.locate` and :meth:`Program.line_map`.
"""
from __future__ import annotations

import ast
import builtins
import json
import re
import symtable
from dataclasses import dataclass, field
from pathlib import Path

from autograder.core.i18n import Text, tr

# Names whose calls are harmless in a constant, e.g. ``SIZES = tuple(range(3))``.
_PURE_CALLS = frozenset({"range", "len", "tuple", "list", "dict", "set", "frozenset", "int", "float", "str",
                         "bool", "sorted", "zip", "enumerate", "min", "max", "abs", "round"})
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_IMPORTS = (ast.Import, ast.ImportFrom)
_DEFINED_NAME = re.compile(r"^(?:async\s+def|def|class)\s+([A-Za-z_]\w*)", re.MULTILINE)
# A library call is never run at top level when a word of its dotted name (module included) says it
# does work the grader must not do there: files, downloads, data, training, pre-trained weights, processes.
_WORK_PREFIXES = ("load", "download", "fetch", "read", "imread", "open", "predict", "evaluat", "train",
                  "pretrain", "save", "mount", "listdir", "walk", "popen", "subprocess", "urlopen",
                  "request", "sleep", "connect", "login", "upload", "makedir", "remove", "unlink", "rmtree")
_WORK_WORDS = frozenset({"fit", "run", "system", "glob", "iglob", "file", "files", "directory", "dir",
                         "applications", "hub", "datasets", "dataset", "shutil", "socket", "urllib", "http",
                         "pickle", "joblib", "wandb", "kaggle", "colab", "drive"})
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
# Cell magics whose body runs in the kernel's namespace, so its definitions stay (IPython's %%time, %%capture).
_KEEPING_CELL_MAGICS = frozenset({"time", "capture"})
_SHELL_ASSIGNMENT = re.compile(r"^\s*[A-Za-z_][\w\s,]*=\s*[!%]")
_HELP_LINE = re.compile(r"^\s*(?:\?{1,2}\s*[\w.]+|[\w.]+\s*\?{1,2})\s*$")
_MAX_CODE = 80  # characters of a student's line quoted in a message

# The stand-ins the program binds for names it cannot give a value. Compiled under its own file
# name, so an error it raises is located at the student's line that used the name.
_STAND_INS_FILE = "<grader: notebook stand-ins>"
_STAND_INS = r'''
import sys

_FAILING = ("__call__", "__iter__", "__next__", "__len__", "__getitem__", "__setitem__", "__delitem__",
            "__contains__", "__bool__", "__int__", "__float__", "__complex__", "__index__", "__array__",
            "__enter__", "__exit__", "__await__", "__aiter__", "__neg__", "__pos__", "__abs__", "__invert__",
            "__lt__", "__le__", "__gt__", "__ge__", "__add__", "__radd__", "__sub__", "__rsub__", "__mul__",
            "__rmul__", "__truediv__", "__rtruediv__", "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__",
            "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__and__", "__rand__", "__or__", "__ror__",
            "__xor__", "__rxor__", "__lshift__", "__rshift__", "__delattr__")


class Unavailable:
    """A name the grader has no value for: using it raises an error that says why."""

    __slots__ = ("_why", "_error", "_lazy")

    def __init__(self, why, error, lazy):
        object.__setattr__(self, "_why", why)
        object.__setattr__(self, "_error", error)
        object.__setattr__(self, "_lazy", lazy)

    def _fail(self, *args, **kwargs):
        raise self._error(self._why)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(self._why)
        if self._lazy:  # drive.mount is still the missing module: calling it is what fails
            return Unavailable(self._why, self._error, True)
        raise self._error(self._why)

    def __setattr__(self, name, value):
        raise self._error(self._why)

    def __mro_entries__(self, bases):  # class MyCallback(wandb.keras.WandbCallback): fails when made, not defined
        why, error = self._why, self._error

        class Unavailable:
            def __init__(self, *args, **kwargs):
                raise error(why)

        return (Unavailable,)

    def __repr__(self):
        return "<not available in the grader: " + self._why + ">"

    __str__ = __repr__


for _name in _FAILING:
    setattr(Unavailable, _name, Unavailable._fail)


class StandIns:
    def missing(self, namespace, imports, error):
        """After a failed import: each name it would bind, unless its module did load, is a stand-in."""
        for name, module, attribute in imports:
            loaded = sys.modules.get(module)
            if loaded is not None and (attribute is None or hasattr(loaded, attribute)):
                continue
            namespace[name] = Unavailable(
                "`%s` comes from `%s`, which the grader cannot import (%s: %s); a graded function must "
                "not need it." % (name, module, type(error).__name__, str(error)[:150]), ImportError, True)

    def not_run(self, namespace, names, where):
        for name in names:
            namespace[name] = Unavailable(
                "`%s` has no value in the grader: your notebook computes it at top level (%s), and the "
                "grader does not run top-level code; pass it as an argument or compute it inside the "
                "function." % (name, where), NameError, False)

    def failed(self, namespace, names, where, error):
        for name in names:
            namespace[name] = Unavailable(
                "`%s` has no value in the grader: computing it at top level (%s) failed there with %s: %s"
                % (name, where, type(error).__name__, str(error)[:150]), NameError, False)
'''
_PRELUDE = (f"_tf2kit_stand_ins = (lambda space: (exec(compile({_STAND_INS!r}, {_STAND_INS_FILE!r}, 'exec'), "
            "space), space['StandIns']())[1])({})")
_ERROR = "_tf2kit_error"


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


def _is_ipython_line(line: str) -> bool:
    stripped = line.lstrip()
    return (stripped.startswith(("%", "!")) or bool(_SHELL_ASSIGNMENT.match(line))
            or bool(_HELP_LINE.match(line)))


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    return True


def without_magics(source: str) -> str:
    """IPython syntax becomes blank lines, so the cell parses and its line numbers stay.

    A cell magic that keeps its body's definitions (``%%time``, ``%%capture``) loses only its
    first line; any other cell magic is not Python and the whole cell becomes blank. Line magics
    and shell lines are blanked (an indented one becomes ``pass``, so its block still parses).
    """
    if _parses(source):  # plain Python: a line of a bracketed expression may start with % or != (formatting, black)
        return source
    lines = source.split("\n")
    start = next((k for k, line in enumerate(lines) if line.strip()), 0)  # IPython skips leading blank lines
    first = lines[start].lstrip() if lines else ""
    if first.startswith("%%"):
        magic = first[2:].split(maxsplit=1)
        if not magic or magic[0] not in _KEEPING_CELL_MAGICS:
            return "\n" * (len(lines) - 1)
        lines = [""] * (start + 1) + lines[start + 1:]
    out = []
    for line in lines:
        if _is_ipython_line(line):
            indent = line[:len(line) - len(line.lstrip())]
            line = f"{indent}pass" if indent else ""
        out.append(line)
    return "\n".join(out)


def _is_pure(node: ast.AST) -> bool:
    """True if evaluating the expression cannot run anything but a few harmless builtins."""
    for child in ast.walk(node):
        if isinstance(child, ast.Call):
            if not (isinstance(child.func, ast.Name) and child.func.id in _PURE_CALLS):
                return False
        elif isinstance(child, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
            return False
    return True


def _words(dotted: str) -> list[str]:
    return [word.lower() for part in re.split(r"[^A-Za-z0-9]+", dotted) for word in _WORDS.findall(part)]


def _does_work(dotted: str) -> bool:
    return any(word in _WORK_WORDS or word.startswith(_WORK_PREFIXES) for word in _words(dotted))


def _library_path(func: ast.expr, modules: dict[str, str]) -> str | None:
    """The dotted name of a callee reached through an imported module (``keras.layers.Dense``), else None."""
    attributes = []
    while isinstance(func, ast.Attribute):
        attributes.append(func.attr)
        func = func.value
    if isinstance(func, ast.Call):  # keras.Sequential([...]).summary: the inner call is judged on its own
        return ".".join(reversed(attributes)) if attributes else None
    if isinstance(func, ast.Name) and func.id in modules:
        return ".".join([modules[func.id], *reversed(attributes)])
    return None


def _is_library_value(node: ast.AST, modules: dict[str, str]) -> bool:
    """True if the expression calls only harmless builtins and library functions that do no work.

    The bodies of lambdas are not looked at: they run when called, not when the value is made.
    """
    pending = [node]
    while pending:
        child = pending.pop()
        if isinstance(child, ast.Lambda):
            pending.extend(child.args.defaults + [d for d in child.args.kw_defaults if d is not None])
            continue
        if isinstance(child, ast.Call) and not (isinstance(child.func, ast.Name) and child.func.id in _PURE_CALLS):
            path = _library_path(child.func, modules)
            if path is None or _does_work(path):
                return False
        elif isinstance(child, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
            return False
        pending.extend(ast.iter_child_nodes(child))
    return True


def _targets_are_names(targets: list[ast.expr]) -> bool:
    return all(isinstance(n, (ast.Name, ast.Tuple, ast.List, ast.Starred)) and
               all(isinstance(m, (ast.Name, ast.Tuple, ast.List, ast.Starred, ast.Store)) for m in ast.walk(n))
               for n in targets)


def _value_of(node: ast.stmt) -> ast.expr | None:
    """The value of an assignment to plain names, or None when the statement is something else."""
    if isinstance(node, ast.Assign) and _targets_are_names(node.targets):
        return node.value
    if isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
        return node.value
    return None


def _filled_container(node: ast.stmt) -> str | None:
    """The name whose item ``node`` sets (``NAME[key] = value``), else None."""
    if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Subscript)
            and isinstance(node.targets[0].value, ast.Name)):
        return node.targets[0].value.id
    return None


def _is_constant(node: ast.stmt) -> bool:
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is None:
        return True  # LIMIT: int
    value = _value_of(node)
    return value is not None and _is_pure(value)


def is_kept(node: ast.stmt) -> bool:
    """Definitions, imports, constants, and ``try`` blocks made only of those (kept unconditionally)."""
    if isinstance(node, _DEFINITIONS + _IMPORTS):
        return True
    if isinstance(node, ast.Try):  # e.g. try: import tensorflow_datasets except ImportError: ...
        handlers = [stmt for handler in node.handlers for stmt in handler.body]
        return all(is_kept(s) or isinstance(s, ast.Pass) for s in node.body + handlers + node.orelse)
    return _is_constant(node)


def _used_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


_RUN_NOW = ("listcomp", "setcomp", "dictcomp", "genexpr")  # comprehensions at top level run with the statement


def _scopes(node: ast.stmt) -> tuple[set[str], set[str], set[str], set[str]]:
    """Names the statement binds at top level by assignment (``def`` and ``class`` included) and by import,
    the globals it reads as it runs, and the globals its functions read later."""
    try:
        table = symtable.symtable(ast.unparse(node), "<cell>", "exec")
    except (SyntaxError, ValueError, RecursionError):  # unparse gave what symtable refuses: guess widely
        names = _used_names(node)
        stored = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        return stored, set(), names, names
    assigned = {s.get_name() for s in table.get_symbols() if s.is_assigned()}
    imported = {s.get_name() for s in table.get_symbols() if s.is_imported()}
    now = {s.get_name() for s in table.get_symbols() if s.is_referenced()}
    later: set[str] = set()

    def visit(scope: symtable.SymbolTable, running_now: bool) -> None:
        reads = {s.get_name() for s in scope.get_symbols() if s.is_global() and s.is_referenced()}
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


def _modules_of(nodes: list[ast.stmt]) -> dict[str, str]:
    """Top-level name -> the dotted module path it was imported as (``layers`` -> ``keras.layers``)."""
    modules = {}
    pending = list(nodes)
    while pending:
        node = pending.pop()
        if isinstance(node, _IMPORTS):
            for name, module, attribute in _import_bindings(node):
                modules[name] = module if attribute is None else f"{module}.{attribute}"
        elif not isinstance(node, _DEFINITIONS + (ast.Lambda,)):  # an import inside a function is not top level
            pending.extend(ast.iter_child_nodes(node))
    return modules


@dataclass(eq=False)
class _Statement:
    cell: int
    lines: list[str]            # the cell's lines (magics blanked)
    node: ast.stmt | None       # None: the whole cell, which does not parse
    kind: str                   # definition, import, try, constant, library, future, other, unparsed
    binds: set[str]
    now: set[str] = field(default_factory=set)
    later: set[str] = field(default_factory=set)
    broken: Text | None = None  # why an unparsed cell's names cannot be used
    imported: set[str] = field(default_factory=set)  # names it binds by import
    kept: bool = False
    resolved: dict = field(default_factory=dict)  # name read as it runs -> the statement that bound it then

    def line_of(self, name: str) -> int:
        """The cell line where this statement binds ``name`` (its first line if that is not found)."""
        for child in ast.walk(self.node):
            if ((isinstance(child, ast.Name) and child.id == name and isinstance(child.ctx, ast.Store))
                    or (isinstance(child, _DEFINITIONS) and child.name == name)
                    or (isinstance(child, ast.ExceptHandler) and child.name == name)
                    or (isinstance(child, ast.alias) and (child.asname or child.name.split(".")[0]) == name)):
                return child.lineno
        return self.node.lineno

    def quote(self, name: str) -> tuple[int, str]:
        line = self.line_of(name)
        code = self.lines[line - 1].strip()
        return line, code if len(code) <= _MAX_CODE else code[:_MAX_CODE - 1] + "…"


def _statements(cells: list[str], notebook_name: str) -> list[_Statement]:
    statements: list[_Statement] = []
    for number, raw in enumerate(cells, start=1):
        source = without_magics(raw)
        try:
            tree = ast.parse(source)
        except SyntaxError as exc:
            message = tr("code cell {cell} of {notebook}, line {line} does not parse ({error}): `{code}`. "
                         "Fix it so the whole cell runs.", cell=number, notebook=notebook_name, line=exc.lineno,
                         error=exc.msg, code=(exc.text or "").strip())
            statements.append(_Statement(number, [], None, "unparsed", set(_DEFINED_NAME.findall(source)),
                                         broken=message))
            continue
        lines = source.split("\n")
        for node in tree.body:
            assigned, imported, now, later = _scopes(node)
            statements.append(_Statement(number, lines, node, "other", assigned, now, later, imported=imported))
    modules = _modules_of([s.node for s in statements if s.node is not None])
    for statement in statements:
        node = statement.node
        if node is None:
            continue
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            statement.kind = "future"
        elif isinstance(node, _DEFINITIONS):
            statement.kind = "definition"
        elif isinstance(node, _IMPORTS):
            statement.kind = "import"
        elif isinstance(node, ast.Try) and is_kept(node):
            statement.kind = "try"
        elif _is_constant(node):
            statement.kind = "constant"
        elif _value_of(node) is not None and _is_library_value(_value_of(node), modules):
            statement.kind = "library"
        elif _filled_container(node) is not None and all(
                _is_library_value(part, modules) for part in (node.targets[0].slice, node.value)):
            statement.kind = "item"  # PREPROCESSORS["vgg16"] = keras.applications.vgg16.preprocess_input
        if statement.kind in ("import", "future", "try"):
            # An import inside top-level code that is not kept (the demo's `if __name__ == "__main__":`, the
            # setup cell) binds the same module a kept import does: it does not take the name's value away.
            statement.binds |= statement.imported
    return statements


def _select(statements: list[_Statement]) -> set[str]:
    """Mark the statements the program keeps; return the names kept code reads (or that are defined).

    Definitions and imports always. A constant when every name it needs is defined above it; a
    library value, or an item set in a container (``NAMES["a"] = ...``), also only when kept code
    reads the name it assigns or fills. A name a dropped statement binds is not defined below it
    (it has no value there), so nothing kept is computed from it.
    """
    for statement in statements:
        statement.kept = statement.kind in ("definition", "import", "try", "future")
    defined_anywhere = set().union(*(s.binds for s in statements if s.kind == "definition"))
    while True:
        wanted = defined_anywhere.union(*(s.now | s.later for s in statements if s.kept))
        defined, changed = set(dir(builtins)), False
        for statement in statements:
            if (not statement.kept and statement.now <= defined
                    and (statement.kind == "constant" or (statement.kind == "library" and statement.binds & wanted)
                         or (statement.kind == "item" and _filled_container(statement.node) in wanted))):
                statement.kept = changed = True
            if statement.kept:
                defined |= statement.binds
            else:
                defined -= statement.binds
        if not changed:
            return wanted


def _resolve(statements: list[_Statement]) -> dict[str, _Statement]:
    """Link each kept statement's run-time reads to the statement that bound them then; the last binder of each name."""
    current: dict[str, _Statement] = {}
    for statement in statements:
        if statement.kept:
            statement.resolved = {name: current[name] for name in statement.now if name in current}
        for name in statement.binds:
            current[name] = statement
    return current


def _not_computed(statement: _Statement, name: str) -> Text:
    line, code = statement.quote(name)
    return tr("your notebook computes it at top level (code cell {cell}, line {line}: `{code}`), and the grader "
              "does not run top-level code; define it with `def` or `class`, or give it a constant value.",
              cell=statement.cell, line=line, code=code)


def _dependency_reason(helper: str, name: str, statement: _Statement) -> Text:
    """Why a function cannot be graded: it reads (through ``helper``) ``name``, which ``statement`` leaves unset."""
    if statement.broken is not None:
        return tr("it uses `{helper}`, which could not be used: {reason}", helper=helper, reason=statement.broken)
    line, code = statement.quote(name)
    if helper == name:
        return tr("it reads `{name}`, which your notebook computes at top level (code cell {cell}, line {line}: "
                  "`{code}`); the grader does not run top-level code, so pass `{name}` as an argument or compute "
                  "it inside the function.", name=name, cell=statement.cell, line=line, code=code)
    return tr("it uses `{helper}`, which reads `{name}`, a value your notebook computes at top level (code cell "
              "{cell}, line {line}: `{code}`); the grader does not run top-level code, so pass `{name}` as an "
              "argument or compute it inside the function.", helper=helper, name=name, cell=statement.cell,
              line=line, code=code)


def _missing_dependency(start: _Statement, final: dict[str, _Statement]) -> tuple[str, str, _Statement] | None:
    """(the name ``start`` reads that leads there, the name without a value, its statement), or None."""
    seen = {id(start)}
    pending = [(start, None)]
    while pending:
        statement, via = pending.pop(0)
        reads = [(name, statement.resolved.get(name)) for name in sorted(statement.now)]
        reads += [(name, final.get(name)) for name in sorted(statement.later)]
        for name, binder in reads:
            if binder is None:
                continue
            if not binder.kept:
                return via or name, name, binder
            if id(binder) not in seen:
                seen.add(id(binder))
                pending.append((binder, via or name))
    return None


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
    """A function whose decorators or default values read a name no cell above binds (a constant or decorator
    defined in a later cell) would stop the import of the whole program with a NameError, as it stops a kernel's
    run there: it is dropped instead, and the function says why (the rest is graded)."""
    for statement in statements:
        node = statement.node
        if not (statement.kept and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))):
            continue
        evaluated = [*node.decorator_list, *node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]
        unbound = sorted({child.id for part in evaluated for child in ast.walk(part) if isinstance(child, ast.Name)
                          and child.id not in statement.resolved and child.id not in _BUILTIN_NAMES})
        if unbound:
            line, code = statement.quote(unbound[0])
            statement.kept = False
            statement.broken = tr("`{name}` is read as code cell {cell} runs (line {line}: `{code}`), before any "
                                  "cell above gives it a value; run in order, the notebook stops there with a "
                                  "NameError.", name=unbound[0], cell=statement.cell, line=line, code=code)


def _where(statement: _Statement, name: str) -> str:
    line, code = statement.quote(name)
    return f"code cell {statement.cell}, line {line}: `{code}`"


def extract(cells: list[str], notebook_name: str) -> Program:
    """The gradable program of ``cells`` (code cell sources, in notebook order)."""
    statements = _statements(cells, notebook_name)
    wanted = _select(statements)
    final = _resolve(statements)
    _break_reads_before_values(statements)
    program = Program("")
    for name, statement in final.items():
        if statement.broken is not None:
            program.broken_names[name] = statement.broken
        elif not statement.kept:
            program.broken_names[name] = _not_computed(statement, name)
    for name, statement in final.items():
        if statement.kept and name not in program.broken_names:
            missing = _missing_dependency(statement, final)
            if missing is not None:
                program.broken_names[name] = _dependency_reason(*missing)

    out: list[str] = []
    needs_stand_ins = False

    def emit(statement: _Statement, prefix: str = "") -> None:
        node = statement.node
        text = _segment(statement.lines, node)
        program.chunks.append(Chunk(statement.cell, len(out) + 1, _start_line(node), len(text)))
        out.extend([prefix + text[0]] + text[1:])

    for statement in statements:  # from __future__ imports must come first
        if statement.kind == "future":
            emit(statement)
    body_start = len(out)
    for statement in statements:
        if statement.kind == "future":
            continue
        if statement.kept and statement.kind == "import":
            emit(statement, "try: ")
            out.append(f"except Exception as {_ERROR}: _tf2kit_stand_ins.missing(globals(), "
                       f"{tuple(_import_bindings(statement.node))!r}, {_ERROR})")
            needs_stand_ins = True
        elif statement.kept and statement.kind == "library":
            emit(statement, "try: ")
            names = tuple(sorted(statement.binds))
            out.append(f"except Exception as {_ERROR}: _tf2kit_stand_ins.failed(globals(), {names!r}, "
                       f"{_where(statement, names[0])!r}, {_ERROR})")
            needs_stand_ins = True
        elif statement.kept:
            emit(statement)
        elif statement.binds & wanted and statement.node is not None and statement.broken is None:
            names = tuple(sorted(statement.binds & wanted))
            out.append(f"_tf2kit_stand_ins.not_run(globals(), {names!r}, {_where(statement, names[0])!r})")
            needs_stand_ins = True
    if needs_stand_ins:
        out.insert(body_start, _PRELUDE)
        program.chunks = [Chunk(c.cell, c.first_line + (c.first_line > body_start), c.cell_line, c.length)
                          for c in program.chunks]
    program.source = "\n".join(out) + "\n"
    return program


def extract_file(path: Path) -> Program:
    """The gradable program of a notebook file; an unreadable file becomes a program that says why."""
    path = Path(path)
    try:
        return extract(code_cells(path.read_text(encoding="utf-8", errors="replace")), path.name)
    except NotebookUnreadable as exc:
        message = f"{path.name} could not be read as a notebook: {exc}"
    except (RecursionError, MemoryError):  # Python's parser gives up on such nesting: a kernel could not run it
        message = (f"{path.name} could not be graded: it nests JSON or code too deeply for Python to read (a cell "
                   f"such as 1+1+1+... with hundreds of thousands of terms); a kernel could not run it either")
    return Program(f"raise SyntaxError({message!r})\n")
