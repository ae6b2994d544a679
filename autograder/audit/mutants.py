"""The mutants of a reference solution: one change each, inside the functions students write.

Mutants are made by cosmic-ray's ``MutationVisitor`` (one operator, one occurrence, the rest of the file
untouched). Only changes inside the graded functions count: the rest of a solution (imports, demo
code, explanations) is not what the hidden graders judge.

A mutant is named by what it changes, not by where: ``function``, the changed line before and after.
That name survives edits elsewhere in the file, so equivalent mutants are declared once, by name,
in ``source/<id>/equivalent_mutants.toml`` next to the source they mutate::

    [[equivalent]]
    function = "make_batches"
    before = "buffer_size = size if size > 0 else 10_000"
    after = "*"            # any change of that line; or the changed line exactly
    reason = "the buffer only bounds the shuffle; any buffer of at least the split's size is the same"
"""
from __future__ import annotations

import ast
import difflib
import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from cosmic_ray.ast import Visitor, get_ast
from cosmic_ray.mutating import mutate_code

from autograder.audit.operators import audit_operators

DECLARATIONS = "equivalent_mutants.toml"
ANY_CHANGE = "*"


@dataclass(frozen=True)
class Mutant:
    id: str            # a digest of the mutated file: the same mutant keeps its id across runs
    assignment: str
    operator: str
    occurrence: int
    function: str
    line: int          # in the solution file, 1-based
    before: str        # the changed lines, stripped, before and after (joined by " / ")
    after: str
    source: str        # the whole mutated file

    @property
    def diff(self) -> str:
        return f"{self.function}, line {self.line} ({self.operator}):\n- {self.before}\n+ {self.after}"


@dataclass(frozen=True)
class Equivalence:
    function: str
    before: str
    after: str
    reason: str

    def covers(self, mutant: Mutant) -> bool:
        return (mutant.function == self.function and mutant.before == self.before
                and self.after in (ANY_CHANGE, mutant.after))


class _Positions(Visitor):
    """For each operator, the start lines of every place it can mutate, in the order MutationVisitor counts them.
    One walk serves every operator, as it only reads the tree (a parse and a walk per operator: 17.3 s of CPU to
    enumerate the five solutions' mutants, 6.0 s with one)."""

    def __init__(self, operators: dict):
        self.operators = operators
        self.lines: dict[str, list[int]] = {name: [] for name in operators}

    def visit(self, node):
        for name, operator in self.operators.items():
            self.lines[name].extend(start[0] for start, _end in operator.mutation_positions(node))
        return node


def graded_regions(source: str, names: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """``{name: (first body line, last line)}`` of the top-level functions and classes in ``names``.

    The body starts after the docstring: a docstring's words are not behaviour.
    """
    regions: dict[str, tuple[int, int]] = {}
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in names:
            first = node.lineno if isinstance(node, ast.FunctionDef) else node.body[0].lineno
            regions[node.name] = (first, node.end_lineno)
    missing = sorted(set(names) - set(regions))
    if missing:
        raise ValueError(f"the solution does not define every graded name; missing {missing}. "
                         f"Received names: {sorted(regions)}")
    return regions


def _changed(original: list[str], mutated: list[str]) -> tuple[int, str, str]:
    """First changed line (1-based) and the changed lines before/after, stripped."""
    matcher = difflib.SequenceMatcher(a=original, b=mutated, autojunk=False)
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag != "equal":
            before = " / ".join(line.strip() for line in original[a0:a1])
            after = " / ".join(line.strip() for line in mutated[b0:b1])
            return a0 + 1, before, after
    raise ValueError("the mutant does not differ from the original")


def _function_at(line: int, regions: dict[str, tuple[int, int]]) -> str | None:
    for name, (first, last) in regions.items():
        if first <= line <= last:
            return name
    return None


def enumerate_mutants(assignment: str, source: str, names: tuple[str, ...]) -> list[Mutant]:
    """Every distinct mutant of ``source`` whose change lies in a graded function, in a fixed order."""
    regions = graded_regions(source, names)
    docstrings = _docstring_lines(source, names)
    original_lines = source.splitlines()
    seen: set[str] = set()
    mutants: list[Mutant] = []
    operators = audit_operators()
    positions = _Positions(operators)
    positions.walk(get_ast(source))
    for name, operator in operators.items():
        for occurrence, line in enumerate(positions.lines[name]):
            if _function_at(line, regions) is None or line in docstrings:
                continue
            mutated = mutate_code(source, operator, occurrence)
            if mutated is None or mutated == source:
                continue
            digest = hashlib.sha256(mutated.encode("utf-8")).hexdigest()[:12]
            if digest in seen:
                continue  # two operators made the same file
            seen.add(digest)
            changed_line, before, after = _changed(original_lines, mutated.splitlines())
            mutants.append(Mutant(digest, assignment, name, occurrence, _function_at(changed_line, regions) or "?",
                                  changed_line, before, after, mutated))
    return mutants


def _docstring_lines(source: str, names: tuple[str, ...]) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def load_equivalences(path: Path) -> list[Equivalence]:
    """The declared equivalent mutants; every entry needs function, before, after and reason."""
    if not path.exists():
        return []
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    unknown = sorted(set(data) - {"equivalent"})
    problems = [f"unknown table(s) {unknown}"] if unknown else []
    declared: list[Equivalence] = []
    for index, entry in enumerate(data.get("equivalent", [])):
        fields = {key: entry.get(key) for key in ("function", "before", "after", "reason")}
        bad = [key for key, value in fields.items() if not isinstance(value, str) or not value.strip()]
        extra = sorted(set(entry) - set(fields))
        if bad or extra:
            problems.append(f"entry {index + 1}: " + "; ".join(
                ([f"needs a non-empty string for {bad}"] if bad else []) + ([f"unknown key(s) {extra}"] if extra else [])))
            continue
        declared.append(Equivalence(**fields))
    if problems:
        raise ValueError(f"{path}: " + " | ".join(problems))
    return declared
