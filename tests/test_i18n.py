"""Every message has an English template and a Bengali translation with the same placeholders.

Static: each ``tr("...")`` in the package is found by reading the source, so a message on a
path no test happens to run still needs its translation. Messages given to the exceptions
and statuses that reach students must be built with ``tr``/``literal``, never with an
f-string or a bare string, or the catalogue would never see them.
"""
from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

from autograder import graders
from autograder.core import i18n
from autograder.core.i18n import Text, literal, tr

PACKAGE = Path(i18n.__file__).parents[1]  # autograder/
SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "selfcheck" not in p.parts)
# Whatever is built with these reaches a student or an instructor as a message.
MESSAGE_TAKERS = {"CheckFailed", "NotAttempted", "StudentError", "MissingResource", "ProbeStatus", "ExportError"}
# Declarations whose title= and hint= students read.
DECLARATIONS = {"check", "register", "Assignment"}
TRANSLATED = [language for language in i18n.LANGUAGES if language != i18n.SOURCE_LANGUAGE]


def _calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Call):
            yield node


def _name(call: ast.Call) -> str:
    return getattr(call.func, "id", None) or getattr(call.func, "attr", "")


def _templates_in(path: Path) -> list[tuple[int, str | None]]:
    found = []
    for call in _calls(path):
        if _name(call) == "tr":
            first = call.args[0] if call.args else None
            literal_text = first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None
            found.append((call.lineno, literal_text))
    return found


def all_templates() -> dict[str, str]:
    """template -> where it is used (file:line)."""
    templates = {}
    for path in SOURCES:
        for line, template in _templates_in(path):
            if template is not None:
                templates.setdefault(template, f"{path.relative_to(PACKAGE)}:{line}")
    return templates


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_templates_are_literals_with_translations(path):
    problems = []
    for line, template in _templates_in(path):
        if template is None:
            problems.append(f"line {line}: tr() needs a literal template (the catalogues are keyed by it)")
            continue
        for language in TRANSLATED:
            translation = i18n.catalogue(language).get(template)
            if translation is None:
                problems.append(f"line {line}: no {language} translation for {template!r}")
            elif i18n.placeholders(translation) != i18n.placeholders(template):
                problems.append(f"line {line}: the {language} translation of {template!r} uses "
                                f"{sorted(i18n.placeholders(translation))}, the template "
                                f"{sorted(i18n.placeholders(template))}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_student_facing_messages_are_built_with_tr(path):
    problems = []
    for call in _calls(path):
        if _name(call) in MESSAGE_TAKERS:
            for argument in call.args[1:] if _name(call) == "ProbeStatus" else call.args:
                if isinstance(argument, ast.JoinedStr) or (isinstance(argument, ast.Constant)
                                                           and isinstance(argument.value, str)):
                    problems.append(f"line {call.lineno}: {_name(call)}({ast.unparse(argument)[:70]}...) "
                                    "is not translatable; use tr(...)")
                elif isinstance(argument, ast.BinOp):
                    problems.append(f"line {call.lineno}: {_name(call)} message built with an operator; use tr(...)")
        for keyword in call.keywords if _name(call) in DECLARATIONS else ():
            if keyword.arg in ("title", "hint") and isinstance(keyword.value, (ast.JoinedStr, ast.Constant)) \
                    and not (isinstance(keyword.value, ast.Constant) and keyword.value.value == ""):
                problems.append(f"line {call.lineno}: {keyword.arg}= must be tr(...)")
    assert not problems, "\n".join(problems)


def test_catalogue_files_agree_on_shared_templates():
    for language in TRANSLATED:
        assert not i18n.conflicts(language), f"translated differently in two files: {i18n.conflicts(language)}"


def test_catalogues_hold_no_stale_entries():
    used = set(all_templates()) | {i18n.LITERAL}
    for language in TRANSLATED:
        stale = sorted(set(i18n.catalogue(language)) - used)
        assert not stale, f"{language} entries no code uses (delete or fix them): {stale[:10]}"


@pytest.mark.parametrize("assignment_id", graders.ASSIGNMENT_IDS)
def test_every_check_title_and_hint_translates(assignment_id, caplog):
    assignment = graders.load(assignment_id)
    with caplog.at_level(logging.WARNING, logger="autograder.core.i18n"):
        for check in assignment.checks:
            for field in (check.title, check.hint):
                if field:
                    assert isinstance(field, Text), f"{check.id}: {field!r} is a plain string"
                    assert field.render("bn") and field.render("en") == str(field)
        assert isinstance(assignment.title, Text) and assignment.title.render("bn")
    assert not caplog.records, [r.getMessage() for r in caplog.records]


def test_a_missing_translation_is_reported(tmp_path, monkeypatch, caplog):
    """The test above would fail on a new message: shown here with a template nobody translated."""
    with caplog.at_level(logging.WARNING, logger="autograder.core.i18n"):
        text = tr("A message nobody translated, {n} times.", n=3)
        assert text.render("bn") == "A message nobody translated, 3 times."  # falls back to English
    assert "no bn translation" in caplog.text
    assert "A message nobody translated, {n} times." not in i18n.catalogue("bn")


def test_text_renders_nested_messages_and_round_trips_json():
    inner = tr("the model returned by {builder}()", builder="build_cnn")
    outer = tr("{what}: nothing was returned.", what=inner)
    assert str(outer) == "the model returned by build_cnn(): nothing was returned."
    assert outer.render("bn") != str(outer) and "build_cnn" in outer.render("bn")
    again = Text.from_json(outer.to_json())
    assert again.translations() == outer.translations()


def test_untrusted_json_cannot_pose_as_a_message_or_inject_format_specs():
    forged = Text.from_json({"template": "{x:>999999999}", "params": {"x": 1}})
    assert str(forged) == "{x:>999999999}" and forged.render("bn") == str(forged)
    assert str(Text.from_json("not a message")) == "not a message"
    huge = Text.from_json({"template": i18n.LITERAL, "params": {"text": "x" * 10**6}})
    assert len(str(huge)) == i18n.MAX_UNTRUSTED_CHARS
    assert str(literal("as is")) == "as is" == literal("as is").render("bn")
