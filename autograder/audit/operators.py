"""The mutation operators of the audit: cosmic-ray's own, and three it lacks, written on its ``Operator`` API.

cosmic-ray (``core/*``) mutates operators, comparisons, booleans, numbers and loops. A student's
realistic slips in these assignments are also *arguments* (a keyword left out, the wrong activation or
padding) and *missing statements* (a ``compile`` or ``return`` forgotten), so three kit operators add
them. They work on cosmic-ray's parso trees, keep every comment and blank line, and are applied by its
``MutationVisitor`` exactly as its own operators are.
"""
from __future__ import annotations

import ast

import parso
from cosmic_ray.operators.operator import Example, Operator
from cosmic_ray.plugins import get_operator, operator_names

# cosmic-ray's VariableReplacer/VariableInserter draw at random (not reproducible, so not resumable);
# replacing an arithmetic operator by a shift or bitwise one only raises TypeError on float tensors:
# each costs a full grading and tells nothing a Sub/Mul/Div replacement does not.
_NOT_USED = ("core/VariableReplacer", "core/VariableInserter")
_BITWISE = ("RShift", "LShift", "BitOr", "BitAnd", "BitXor")

# Strings a Keras program names things with, and the realistic other choice for each.
STRING_ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "relu": ("sigmoid", "linear"),
    "softmax": ("sigmoid", "linear"),
    "sigmoid": ("relu", "linear"),
    "linear": ("sigmoid",),
    "same": ("valid",),
    "valid": ("same",),
    "accuracy": ("mae",),
    "imagenet": (),  # weights="imagenet" has one realistic other value, None (see NoneForString)
    "sparse_categorical_crossentropy": ("categorical_crossentropy",),
    "categorical_crossentropy": ("sparse_categorical_crossentropy",),
    "binary_crossentropy": ("mse",),
    "vgg16": ("resnet50",),
    "resnet50": ("vgg16",),
}


def _string_value(node) -> str | None:
    """The value of a plain (not f-, not byte) string literal, or None."""
    if not isinstance(node, parso.python.tree.String):
        return None
    try:
        value = ast.literal_eval(node.value)
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, str) else None


def _is_docstring(node) -> bool:
    statement = node.parent
    return statement is not None and statement.type == "simple_stmt" and statement.children[0] is node


class ReplaceStringLiteral(Operator):
    """Replace a Keras name (activation, padding, loss, metric) with the realistic other choice."""

    def _choices(self, node) -> tuple[str, ...]:
        value = _string_value(node)
        if value is None or _is_docstring(node):
            return ()
        return STRING_ALTERNATIVES.get(value, ())

    def mutation_positions(self, node):
        for _ in self._choices(node):
            yield (node.start_pos, node.end_pos)

    def mutate(self, node, index):
        replacement = self._choices(node)[index]
        return parso.python.tree.String(repr(replacement), node.start_pos, prefix=node.prefix)

    @classmethod
    def examples(cls):
        return (Example('f(activation="relu")', "f(activation='sigmoid')"),
                Example('f(padding="same")', "f(padding='valid')"))


class NoneForString(Operator):
    """Replace a string argument with ``None`` (``weights="imagenet"`` → ``weights=None``)."""

    def mutation_positions(self, node):
        if _string_value(node) is not None and not _is_docstring(node) and node.parent.type == "argument":
            yield (node.start_pos, node.end_pos)

    def mutate(self, node, index):
        return parso.python.tree.Keyword("None", node.start_pos, prefix=node.prefix)

    @classmethod
    def examples(cls):
        return (Example('f(weights="imagenet")', "f(weights=None)"),)


def _keyword_arguments(node) -> list[int]:
    """Indexes of ``name=value`` children of an argument list (``arglist``), or of a one-argument call."""
    return [i for i, child in enumerate(node.children)
            if child.type == "argument" and len(child.children) == 3 and child.children[1] == "="]


class DropKeywordArgument(Operator):
    """Leave one keyword argument out of a call, so the callee's default applies."""

    def mutation_positions(self, node):
        if node.type in ("arglist", "trailer"):
            for _ in _keyword_arguments(node):
                yield (node.start_pos, node.end_pos)

    def mutate(self, node, index):
        position = _keyword_arguments(node)[index]
        children = list(node.children)
        if node.type == "trailer":  # f(x=1) -> f()
            del children[position]
        elif position + 1 < len(children) and children[position + 1] == ",":
            del children[position:position + 2]  # the argument and the comma after it
        else:
            del children[position - 1:position + 1]  # the last one: the comma before it
        node.children = children
        if node.type == "arglist" and not children:
            return None
        return node

    @classmethod
    def examples(cls):
        return (Example("f(a, b=1, c=2)", "f(a, c=2)"),
                Example("f(a, b=1, c=2)", "f(a, b=1)", occurrence=1),
                Example("f(b=1)", "f()"))


class RemoveStatement(Operator):
    """Replace one statement (an assignment, a call, a ``return``) with ``pass``."""

    def mutation_positions(self, node):
        if node.type != "simple_stmt":
            return
        first = node.children[0]
        if first.type == "string" or (first.type == "keyword" and first.value != "return"):
            return  # a docstring, or pass/break/continue already
        if first.type in ("import_name", "import_from", "global_stmt", "nonlocal_stmt"):
            return
        yield (node.start_pos, node.end_pos)

    def mutate(self, node, index):
        first = node.children[0]
        node.children = [parso.python.tree.Keyword("pass", first.start_pos, prefix=first.get_first_leaf().prefix), *node.children[1:]]
        return node

    @classmethod
    def examples(cls):
        return (Example("x = 1\n", "pass\n"), Example("def f():\n    return 1\n", "def f():\n    pass\n"))


KIT_OPERATORS: dict[str, type[Operator]] = {
    "kit/ReplaceStringLiteral": ReplaceStringLiteral,
    "kit/NoneForString": NoneForString,
    "kit/DropKeywordArgument": DropKeywordArgument,
    "kit/RemoveStatement": RemoveStatement,
}


def audit_operators() -> dict[str, Operator]:
    """Every operator the audit applies, by name, in a fixed order."""
    chosen: dict[str, Operator] = {}
    for name in sorted(operator_names()):
        if name in _NOT_USED or any(name.endswith(f"_{kind}") for kind in _BITWISE):
            continue
        chosen[name] = get_operator(name)()
    for name, operator in KIT_OPERATORS.items():
        chosen[name] = operator()
    return chosen
