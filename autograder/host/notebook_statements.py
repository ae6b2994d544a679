"""What one top-level statement of a notebook is, read from its syntax alone (:mod:`autograder.host.notebook_code`
decides what the extracted program keeps from these answers).

A statement is a *constant* when it is made of literals, names the program holds, attribute and item access and
harmless builtins or string methods; a *library value* when its calls all go to functions reached through an
imported module whose dotted names say no work (files, downloads, data, training, pre-trained models); and it
*fills* or *changes* a kept value when it sets an item or attribute of it, calls one of its filling methods, or
loops over a constant to do so. Nothing here runs student code.
"""
from __future__ import annotations

import ast
import re

DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
IMPORTS = (ast.Import, ast.ImportFrom)
# Names whose calls are harmless in a constant, e.g. ``SIZES = tuple(range(3))``.
_PURE_CALLS = frozenset({"range", "len", "tuple", "list", "dict", "set", "frozenset", "int", "float", "str",
                         "bool", "sorted", "zip", "enumerate", "min", "max", "abs", "round", "sum", "any", "all",
                         "reversed", "divmod", "pow", "chr", "ord", "repr", "format", "hex", "oct", "bin", "slice",
                         "complex", "bytes", "isinstance", "issubclass", "callable", "getattr", "hasattr"})

# A library call is never run at top level when a word of its dotted name (module included) says it does work the
# grader must not do there: files, downloads, data, training, pre-trained weights, processes.
WORK_PREFIXES = ("load", "download", "fetch", "read", "imread", "open", "predict", "evaluat", "train",
                 "pretrain", "save", "mount", "listdir", "walk", "popen", "subprocess", "urlopen",
                 "request", "sleep", "connect", "login", "upload", "makedir", "remove", "unlink", "rmtree")
WORK_WORDS = frozenset({"fit", "run", "system", "glob", "iglob", "file", "files", "directory", "dir",
                        "applications", "hub", "datasets", "dataset", "shutil", "socket", "urllib", "http",
                        "pickle", "joblib", "wandb", "kaggle", "colab", "drive"})
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")

# Methods whose call on a kept value only reads it (any other call on it may change it: ``CONFIG.update(...)``).
_STR_METHODS = frozenset(name for name in dir(str) + dir(bytes) if not name.startswith("_"))
_READING_METHODS = _STR_METHODS | {
    "get", "items", "keys", "values", "copy", "index", "count", "summary", "get_config", "count_params",
    "get_weights", "get_layer", "to_json", "numpy", "tolist", "item", "astype", "reshape", "mean", "std", "min",
    "max", "argmax", "argmin", "as_numpy_iterator", "take", "element_spec", "cardinality"}
# Methods that fill a container with what they are given (kept when what they are given is a kept kind).
_FILL_METHODS = frozenset({"append", "extend", "insert", "update", "add", "setdefault"})


def _harmless_call(call: ast.Call, str_names: frozenset[str] | set[str]) -> bool:
    """A call to a harmless builtin, or a string method on a literal or a name holding a kept string."""
    func = call.func
    if isinstance(func, ast.Name):
        return func.id in _PURE_CALLS
    if not (isinstance(func, ast.Attribute) and func.attr in _STR_METHODS):
        return False
    value = func.value
    return ((isinstance(value, ast.Constant) and isinstance(value.value, (str, bytes)))
            or isinstance(value, ast.JoinedStr) or (isinstance(value, ast.Name) and value.id in str_names))


def _is_pure(node: ast.AST, str_names: frozenset[str] | set[str] = frozenset()) -> bool:
    """True if evaluating the expression cannot run anything but a few harmless builtins and string methods."""
    for child in ast.walk(node):
        if isinstance(child, ast.Call):
            if not _harmless_call(child, str_names):
                return False
        elif isinstance(child, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
            return False
    return True


def _words(dotted: str) -> list[str]:
    return [word.lower() for part in re.split(r"[^A-Za-z0-9]+", dotted) for word in _WORDS.findall(part)]


def _does_work(dotted: str) -> bool:
    return any(word in WORK_WORDS or word.startswith(WORK_PREFIXES) for word in _words(dotted))


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


def is_library_value(node: ast.AST, modules: dict[str, str],
                      str_names: frozenset[str] | set[str] = frozenset()) -> bool:
    """True if the expression calls only harmless builtins and library functions that do no work.

    The bodies of lambdas are not looked at: they run when called, not when the value is made.
    """
    pending = [node]
    while pending:
        child = pending.pop()
        if isinstance(child, ast.Lambda):
            pending.extend(child.args.defaults + [d for d in child.args.kw_defaults if d is not None])
            continue
        if isinstance(child, ast.Call) and not _harmless_call(child, str_names):
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


def value_of(node: ast.stmt) -> ast.expr | None:
    """The value of an assignment to plain names, or None when the statement is something else."""
    if isinstance(node, ast.Assign) and _targets_are_names(node.targets):
        return node.value
    if isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
        return node.value
    return None


def _name_whose(node: ast.stmt, part: type) -> str | None:
    """The name whose item or attribute (``part``: ast.Subscript or ast.Attribute) one assignment sets, else None."""
    if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], part)
            and isinstance(node.targets[0].value, ast.Name)):
        return node.targets[0].value.id
    return None


def filled_container(node: ast.stmt) -> str | None:
    """The name whose item ``node`` sets (``NAME[key] = value``), else None."""
    return _name_whose(node, ast.Subscript)


def filled_by_call(node: ast.stmt) -> str | None:
    """The name a call statement fills (``CONFIG.update(size=100)``, ``NAMES.append("cat")``), else None."""
    if (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute) and node.value.func.attr in _FILL_METHODS
            and isinstance(node.value.func.value, ast.Name)):
        return node.value.func.value.id
    return None


def set_attribute(node: ast.stmt) -> str | None:
    """The name whose attribute ``node`` sets (``AccuracyCallback.on_epoch_end = _on_epoch_end``), else None."""
    return _name_whose(node, ast.Attribute)


def fill_parts(node: ast.stmt) -> list[ast.expr]:
    """What an item, attribute or fill statement evaluates besides its container."""
    if isinstance(node, ast.Assign):
        target = node.targets[0]
        return [node.value] + ([target.slice] if isinstance(target, ast.Subscript) else [])
    call = node.value
    return [*call.args, *(keyword.value for keyword in call.keywords)]


def filling_loop(node: ast.stmt, modules: dict[str, str]) -> set[str] | None:
    """The containers a ``for`` loop over a constant fills when its body only fills them with kept kinds, else None."""
    if not (isinstance(node, ast.For) and not node.orelse and _targets_are_names([node.target])
            and _is_pure(node.iter)):
        return None
    filled = set()
    for statement in node.body:
        container = filled_container(statement) or filled_by_call(statement)
        if container is None or not all(is_library_value(part, modules) for part in fill_parts(statement)):
            return None
        filled.add(container)
    return filled


def _root_name(node: ast.expr) -> str | None:
    """``CONFIG`` of ``CONFIG["sizes"].append``; None past a call (``loss_fn(y, p).sum()``: a new value's method)."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def mutated_roots(node: ast.stmt) -> set[tuple[str, bool]]:
    """Names a statement may change the value of as it runs, without binding them: (name, by a method call).

    ``CONFIG.update(...)``, ``NAMES[0] = x``, ``Callback.on_epoch_end = f``, ``del CONFIG["a"]``, ``T[k] += 1``, and
    the same in the blocks of a loop or an ``if``; not what functions, lambdas and classes defined there do later.
    """
    roots = set()
    pending: list[ast.AST] = [node]
    while pending:
        child = pending.pop()
        if isinstance(child, DEFINITIONS + (ast.Lambda,)):
            continue
        if (isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute)
                and child.func.attr not in _READING_METHODS):
            root = _root_name(child.func.value)
            if root is not None:
                roots.add((root, True))
        elif isinstance(child, (ast.Subscript, ast.Attribute)) and isinstance(child.ctx, (ast.Store, ast.Del)):
            root = _root_name(child.value)
            if root is not None:
                roots.add((root, False))
        pending.extend(ast.iter_child_nodes(child))
    return roots


def is_constant(node: ast.stmt, str_names: frozenset[str] | set[str] = frozenset()) -> bool:
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is None:
        return True  # LIMIT: int
    value = value_of(node)
    return value is not None and _is_pure(value, str_names)


def is_kept(node: ast.stmt) -> bool:
    """Definitions, imports, constants, and ``try`` blocks made only of those (kept unconditionally)."""
    if isinstance(node, DEFINITIONS + IMPORTS):
        return True
    if isinstance(node, ast.Try):  # e.g. try: import tensorflow_datasets except ImportError: ...
        handlers = [stmt for handler in node.handlers for stmt in handler.body]
        return all(is_kept(s) or isinstance(s, ast.Pass) for s in node.body + handlers + node.orelse + node.finalbody)
    return is_constant(node)


def used_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
