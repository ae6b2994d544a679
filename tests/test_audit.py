"""The mutation audit: its operators, its mutants, its declarations of equivalence, its journal, its command."""
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cosmic_ray.mutating import mutate_code

from autograder.audit import declarations_path, solution_path
from autograder.audit.mutants import Equivalence, Mutant, enumerate_mutants, graded_regions, load_equivalences
from autograder.audit.operators import KIT_OPERATORS, audit_operators
from autograder.audit.run import Journal, Verdict
from autograder.kernel import STUDENT_NAMES

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(KIT_OPERATORS))
def test_kit_operators_make_their_documented_change(name):
    for example in KIT_OPERATORS[name].examples():
        mutated = mutate_code(example.pre_mutation_code, KIT_OPERATORS[name](), example.occurrence)
        assert mutated == example.post_mutation_code, (name, example)


def test_operators_are_deterministic_and_leave_out_the_random_ones():
    names = list(audit_operators())
    assert names == list(audit_operators())
    assert not [n for n in names if "Variable" in n or n.endswith(("_BitOr", "_RShift"))]
    assert "core/NumberReplacer" in names and "kit/RemoveStatement" in names


# The tests that read every mutant share one enumeration (about 6 s of CPU): one test process runs them all.
SHARES_MUTANTS = pytest.mark.xdist_group("audit_mutants")


@pytest.fixture(scope="session")
def mutants():
    return {aid: enumerate_mutants(aid, solution_path(ROOT, aid).read_text(encoding="utf-8"), names)
            for aid, names in STUDENT_NAMES.items()}


@SHARES_MUTANTS
@pytest.mark.parametrize("assignment", list(STUDENT_NAMES))
def test_every_mutant_is_valid_python_changed_inside_a_graded_function(assignment, mutants):
    source = solution_path(ROOT, assignment).read_text(encoding="utf-8")
    regions = graded_regions(source, STUDENT_NAMES[assignment])
    made = mutants[assignment]
    assert len(made) >= 30, len(made)
    assert len({m.id for m in made}) == len(made)
    operators = {m.operator for m in made}
    assert {"kit/RemoveStatement", "kit/DropKeywordArgument", "core/NumberReplacer"} <= operators, operators
    for mutant in made:
        ast.parse(mutant.source)
        assert mutant.source != source
        first, last = regions[mutant.function]
        assert first <= mutant.line <= last, mutant.diff
        assert mutant.before != mutant.after, mutant.diff


@SHARES_MUTANTS
def test_mutants_keep_their_names_when_the_file_changes_elsewhere(mutants):
    source = solution_path(ROOT, "transfer").read_text(encoding="utf-8")
    shifted = "# a new comment line at the top\n" + source
    before = {(m.function, m.before, m.after) for m in mutants["transfer"]}
    after = {(m.function, m.before, m.after)
             for m in enumerate_mutants("transfer", shifted, STUDENT_NAMES["transfer"])}
    assert before == after


@SHARES_MUTANTS
@pytest.mark.parametrize("assignment", list(STUDENT_NAMES))
def test_declared_equivalent_mutants_exist_and_give_a_reason(assignment, mutants):
    declared = load_equivalences(declarations_path(ROOT, assignment))
    for declaration in declared:
        assert len(declaration.reason) >= 20, declaration
        assert any(declaration.covers(m) for m in mutants[assignment]), (
            f"{assignment}: no mutant matches the declaration {declaration}; remove or update it")


def test_declarations_are_validated(tmp_path):
    path = tmp_path / "equivalent_mutants.toml"
    path.write_text('[[equivalent]]\nfunction = "f"\nbefore = "x = 1"\nafter = "*"\n'
                    '[[equivalent]]\nfunction = "f"\nbefore = "x"\nafter = "y"\nreason = "r"\nextra = 1\n')
    with pytest.raises(ValueError) as error:
        load_equivalences(path)
    assert "entry 1" in str(error.value) and "reason" in str(error.value) and "extra" in str(error.value)


def test_an_any_change_declaration_covers_only_its_line():
    mutant = Mutant("id", "a", "op", 0, "f", 3, "x = 1", "x = 2", "")
    assert Equivalence("f", "x = 1", "*", "reason").covers(mutant)
    assert Equivalence("f", "x = 1", "x = 2", "reason").covers(mutant)
    assert not Equivalence("f", "x = 1", "x = 0", "reason").covers(mutant)
    assert not Equivalence("g", "x = 1", "*", "reason").covers(mutant)


def test_journal_resumes_skips_a_cut_line_and_restarts_when_the_graders_change(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = Journal.open(path, "abc", fresh=False)
    journal.add(Verdict("m1", True, {"c": "failed"}, ["d"], [], 1.0))
    journal.add(Verdict("m2", False, {}, ["c", "d"], [], 1.0))
    with path.open("a") as handle:
        handle.write('{"id": "m3", "kil')  # an interrupted run
    resumed = Journal.open(path, "abc", fresh=False)
    assert set(resumed.verdicts) == {"m1", "m2"} and resumed.verdicts["m1"].failed == {"c": "failed"}
    changed = Journal.open(path, "other", fresh=False)
    assert changed.verdicts == {} and changed.restarted_because
    assert Journal.open(path, "other", fresh=True).verdicts == {}


@pytest.mark.slow
def test_audit_command_grades_a_sample_reports_it_and_resumes(tmp_path):
    out = tmp_path / "audit"
    command = [sys.executable, "-m", "autograder", "audit", "fashion_mnist", "--sample", "2", "--jobs", "2",
               "--out", str(out), "--root", str(ROOT), "--min-score", "0"]
    first = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    journal = (out / "fashion_mnist" / "journal.jsonl").read_text().splitlines()
    verdicts = [json.loads(line) for line in journal[1:]]
    report = (out / "report.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| fashion_mnist"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    graded = 2 - int(cells[3])  # a sampled mutant declared equivalent is not graded
    assert verdicts[0]["id"] == "reference" and not verdicts[0]["killed"] and len(verdicts) == 1 + graded
    for verdict in verdicts[1:]:
        assert verdict["killed"] == bool(verdict["failed"])
        assert not verdict["grader_faults"], verdict
    killed = sum(v["killed"] for v in verdicts[1:])
    assert cells[2] == "2" and cells[4] == str(killed) and cells[5] == str(graded - killed), row
    for verdict in verdicts[1:]:
        assert (f"Survived `{verdict['id']}`" in report) == (not verdict["killed"])
    again = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert (out / "fashion_mnist" / "journal.jsonl").read_text().splitlines() == journal  # nothing graded twice
    strict = subprocess.run([*command[:-2], "--min-score", "101"], capture_output=True, text=True, timeout=300,
                            cwd=tmp_path)
    assert strict.returncode == 1 and "below 101 %" in strict.stderr
