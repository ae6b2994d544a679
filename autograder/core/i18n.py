"""Messages in English and Bengali.

Every message the kit shows a person is written once, in English, as a ``str.format``
template passed to :func:`tr` together with its values. The English template is also the
key of the translation catalogues in ``autograder/core/locale/<language>/*.toml`` (one file per
module, so translators and graders can be edited side by side). A message is a
:class:`Text`: a ``str`` holding its English rendering, so it can be used anywhere a
string is, that also remembers its template and values to render in another language.

``tests/test_i18n.py`` fails when a template has no translation, when a translation uses
other placeholders than its template, or when a message is built without :func:`tr`.
"""
from __future__ import annotations

import functools
import logging
import string
import tomllib
from pathlib import Path
from typing import Any

LANGUAGES = ("en", "bn")
SOURCE_LANGUAGE = "en"
LOCALE_DIR = Path(__file__).with_name("locale")
MAX_UNTRUSTED_CHARS = 2000  # a value read back from the sandbox worker is clipped to this
MAX_DEPTH = 4               # nesting of messages inside messages read back from the sandbox

log = logging.getLogger(__name__)


class Text(str):
    """A message: its English rendering, plus the template and values to render it in any language."""

    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, params: dict[str, Any] | None = None):
        values = dict(params or {})
        text = super().__new__(cls, _format(template, values, SOURCE_LANGUAGE))
        text.template, text.params = template, values
        return text

    def render(self, language: str = SOURCE_LANGUAGE) -> str:
        return _format(self.template, self.params, language)

    def translations(self) -> dict[str, str]:
        return {language: self.render(language) for language in LANGUAGES}

    def with_params(self, **changes: Any) -> Text:
        return Text(self.template, {**self.params, **changes})

    def to_json(self) -> dict[str, Any]:
        """Template and values as JSON (values that JSON cannot hold keep their English text)."""
        return {"template": self.template, "params": {key: _param_to_json(value) for key, value in self.params.items()}}

    @classmethod
    def from_json(cls, data: Any, depth: int = 0) -> Text:
        """A message read back from an untrusted process: only known templates are formatted.

        Anything else becomes literal text, so a crafted payload can neither pose as another
        message nor smuggle format specifications into ``str.format``.
        """
        if not isinstance(data, dict) or not isinstance(data.get("template"), str) or depth > MAX_DEPTH:
            return literal(str(data)[:MAX_UNTRUSTED_CHARS])
        template, raw = data["template"], data.get("params")
        if template not in known_templates() or not isinstance(raw, dict):
            return literal(template[:MAX_UNTRUSTED_CHARS])
        params = {}
        for key, value in raw.items():
            if isinstance(value, dict):
                params[str(key)] = cls.from_json(value, depth + 1)
            elif isinstance(value, str):
                params[str(key)] = value[:MAX_UNTRUSTED_CHARS]
            elif value is None or isinstance(value, (bool, int, float)):
                params[str(key)] = value
            else:
                params[str(key)] = str(value)[:MAX_UNTRUSTED_CHARS]
        try:
            return cls(template, params)
        except (KeyError, IndexError, ValueError, TypeError):
            return literal(template[:MAX_UNTRUSTED_CHARS])


class Rendered(Text):
    """A message already rendered in every language (read back from a grading record)."""

    by_language: dict[str, str]

    def __new__(cls, by_language: dict[str, str]):
        english = str(by_language.get(SOURCE_LANGUAGE, ""))
        text = str.__new__(cls, english)
        text.template, text.params = LITERAL, {"text": english}
        text.by_language = {language: str(by_language.get(language) or english) for language in LANGUAGES}
        return text

    def render(self, language: str = SOURCE_LANGUAGE) -> str:
        return self.by_language[check_language(language)]


def tr(template: str, /, **params: Any) -> Text:
    """A translatable message. The template must be a literal: the catalogues are keyed by it."""
    return Text(template, params)


LITERAL = "{text}"


def literal(text: str) -> Text:
    """Text that reads the same in every language (a student's error, a file name)."""
    return Text(LITERAL, {"text": text})


def message_of(exc: BaseException) -> Text:
    """An exception's message as translatable text (the kit's exceptions carry a ``tr`` message)."""
    first = exc.args[0] if exc.args else None
    return first if isinstance(first, Text) else literal(str(exc))


def render(value: Any, language: str) -> str:
    """Any message (a :class:`Text` or a plain string) in ``language``."""
    return value.render(language) if isinstance(value, Text) else ("" if value is None else str(value))


def translations(value: Any) -> dict[str, str]:
    return {language: render(value, language) for language in LANGUAGES}


def check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}. Received: {language!r}")
    return language


def placeholders(template: str) -> set[str]:
    """The names a template formats (``{n:,}`` gives ``n``)."""
    return {field.split(".")[0].split("[")[0] for _, field, _, _ in string.Formatter().parse(template)
            if field is not None}


@functools.lru_cache(maxsize=None)
def catalogue(language: str) -> dict[str, str]:
    """English template -> translation, from every ``locale/<language>/*.toml`` file (first file wins)."""
    return _load(language)[0]


@functools.lru_cache(maxsize=None)
def conflicts(language: str) -> tuple[str, ...]:
    """Templates two catalogue files translate differently (a test keeps this empty)."""
    return _load(language)[1]


def _load(language: str) -> tuple[dict[str, str], tuple[str, ...]]:
    check_language(language)
    merged: dict[str, str] = {}
    clashes: list[str] = []
    if language == SOURCE_LANGUAGE:
        return merged, ()
    for path in sorted((LOCALE_DIR / language).glob("*.toml")):
        with open(path, "rb") as handle:
            for template, translation in tomllib.load(handle).items():
                if merged.get(template, translation) != translation:
                    clashes.append(f"{path.name}: {template!r}")
                merged.setdefault(template, translation)
    return merged, tuple(clashes)


@functools.lru_cache(maxsize=None)
def known_templates() -> frozenset[str]:
    """Every template some catalogue translates (all of them, when the catalogues are complete)."""
    return frozenset(t for language in LANGUAGES for t in catalogue(language)) | {LITERAL}


def _format(template: str, params: dict[str, Any], language: str) -> str:
    check_language(language)
    chosen = template if language == SOURCE_LANGUAGE else catalogue(language).get(template)
    if chosen is None:
        log.warning("no %s translation for %r", language, template)
        chosen = template
    values = {key: render(value, language) if isinstance(value, Text) else value for key, value in params.items()}
    return chosen.format(**values)


def _param_to_json(value: Any) -> Any:
    if isinstance(value, Text):
        return value.to_json()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
