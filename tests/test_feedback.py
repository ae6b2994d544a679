"""Feedback pages and the class summary: they render, read in both languages, and leak no hidden check."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from html.parser import HTMLParser

import pytest

from autograder.publish import records
from autograder.publish.feedback import LABELS, feedback_html, feedback_markdown
from autograder.host.grading import AssignmentResult, SubmissionResult
from autograder.core.i18n import render, tr
from autograder.core.outcomes import CheckResult, Outcome
from autograder.publish.summary import GradedStudent, summary_html

VOID = {"meta", "br", "img", "hr", "input", "link", "path", "rect", "circle", "line", "polyline", "use", "stop"}
HIDDEN_SECRET = tr("Expected {value} after the scripted epoch; found 0.", value=123457)  # a hidden expectation
TRAINING = {"history": {"loss": [1.2, 0.6, 0.4], "accuracy": [0.6, 0.8, 0.9]}, "test_accuracy": 0.912,
            "min_accuracy": 0.89}
LAYERS = {"expected": ["Flatten", "Dense(128)", "ReLU", "Dense(10)", "Softmax"],
          "found": ["Flatten", "Dense(64)", "ReLU", "Dense(10)", "Softmax"]}


class TagBalance(HTMLParser):
    """Every element that is opened is closed, in order (what a browser would have to repair otherwise)."""

    def __init__(self):
        super().__init__()
        self.stack, self.problems, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(page: str) -> TagBalance:
    parser = TagBalance()
    parser.feed(page)
    parser.close()
    assert not parser.problems and not parser.stack, (parser.problems, parser.stack)
    return parser


def check(check_id, title, outcome, message="", *, score=0.0, max_score=1.0, hidden=False, details=None):
    return CheckResult("fashion_mnist", check_id, title, max_score, score, outcome, message, hidden, False,
                       details or {})


def sample_result() -> SubmissionResult:
    checks = [
        check("dense_layers", tr("the layers are the ones asked for, in order"), Outcome.FAILED,
              tr("Expected layers {expected}; found {found}. Missing at the end: {missing}.", expected="A", found="B",
                 missing="C"), max_score=2, details={"layers": LAYERS}),
        check("dense_trains", tr("reaches at least {min_accuracy:.0%} test accuracy after a short training run",
                                 min_accuracy=0.89), Outcome.PASSED, score=3, max_score=3,
              details={"training": TRAINING}),
        check("callback_fit", tr("Not run: {reason}", reason="x"), Outcome.FAILED, HIDDEN_SECRET, max_score=2,
              hidden=True, details={"layers": {"expected": ["SecretLayer(77)"], "found": []}}),
        check("normalize_values", tr("normalize scales pixel values from [0, 255] to [0, 1]"), Outcome.NOT_ATTEMPTED,
              tr("{label} is not implemented yet (it raises NotImplementedError).", label="`normalize`"), max_score=2),
    ]
    assignment = AssignmentResult("fashion_mnist", tr("The model"), "fashion_mnist.py", checks, 3.2)
    return SubmissionResult("s001", [assignment], 3.2)


@pytest.mark.parametrize("language", ["en", "bn"])
def test_feedback_html_is_self_contained_and_shows_points_messages_and_figures(language):
    page = feedback_html(sample_result(), student="s001", course="tf2-course", language=language)
    parsed = parse(page)
    assert f'<html lang="{language}">' in page
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page), "feedback must not load external assets"
    assert page.count("<svg") == 1  # the training curve, drawn inline; the hidden check gets no figure
    assert "3/9" in page and "Dense(64)" in page and "Dense(128)" in page
    assert 'class="layer differs">Dense(64)' in page  # the differing layer is marked
    text = " ".join(parsed.text)
    if language == "bn":
        assert "ফিডব্যাক" in text and "প্রত্যাশিত লেয়ার" in text and "এখনো লেখা হয়নি" in text
    else:
        assert "Expected layers" in text and "is not implemented yet" in text


@pytest.mark.parametrize("render", [feedback_html, feedback_markdown])
@pytest.mark.parametrize("language", ["en", "bn"])
def test_hidden_checks_show_name_and_score_only_until_revealed(render, language):
    page = render(sample_result(), student="s001", language=language)
    for secret in (HIDDEN_SECRET.render("en"), HIDDEN_SECRET.render("bn"), "123457", "123,457", "SecretLayer"):
        assert secret not in page
    assert tr("Not run: {reason}", reason="x").render(language) in page and "0/2" in page
    revealed = render(sample_result(), student="s001", language=language, reveal_hidden=True)
    assert HIDDEN_SECRET.render(language) in revealed and "SecretLayer(77)" in revealed


def test_feedback_markdown_has_a_row_per_check_and_the_training_table():
    page = feedback_markdown(sample_result(), student="s001")
    rows = [line for line in page.splitlines() if line.startswith("| ")]
    assert sum("fashion_mnist" not in row and ("✓" in row or "✗" in row or "…" in row) for row in rows) == 4
    assert "| 3 | 0.4000 | 0.9000 |" in page and "91.2% (required: 89%)" in page
    assert "**Dense(64)**" in page


def test_markdown_cells_cannot_break_the_table_or_inject_html():
    result = sample_result()
    result.assignments[0].checks[3] = check("normalize_values", tr("The model"), Outcome.ERROR,
                                            tr("{label} raised {error}: {detail}{where}", label="`normalize`",
                                               error="ValueError", detail="a|b\n<script>x</script>", where=""))
    page = feedback_markdown(result, student="s001")
    line = next(line for line in page.splitlines() if "ValueError" in line)
    assert "a\\|b" in line and "<script>" not in page and "&lt;script&gt;" in line


def test_a_record_round_trips_every_language_and_the_details():
    result = sample_result()
    again = records.from_record(records.to_record(result))
    for before, after in zip(result.assignments[0].checks, again.assignments[0].checks):
        assert (render(after.title, "bn"), render(after.message, "bn")) == (render(before.title, "bn"),
                                                                            render(before.message, "bn"))
        assert (after.outcome, after.score, after.hidden, after.details) == (before.outcome, before.score,
                                                                             before.hidden, before.details)
    assert feedback_html(again, student="s001", language="bn") == feedback_html(result, student="s001",
                                                                                language="bn")


def test_summary_shows_distributions_common_mistakes_times_and_errors():
    good, bad = sample_result(), sample_result()
    bad.assignments[0].checks[1] = check("dense_trains", tr("The model"), Outcome.TIMEOUT,
                                         tr("{names} did not finish within {limit:g} s (an endless loop, or far too "
                                            "much work?).", names="`build_dense_classifier`", limit=60), max_score=3)
    students = [GradedStudent("ada", good, "graded", 12.5, 900), GradedStudent("bob", bad, "timeout", 901.0, 1200)]
    page = summary_html(students, course="tf2-course")
    parse(page)
    assert page.count("<svg") == 1  # one histogram per assignment
    most_failed = page[page.index('id="most-failed"'):page.index("</table>", page.index('id="most-failed"'))]
    rows = {check: row for row in re.findall(r"<tr>.*?</tr>", most_failed, re.S)
            for check in ("dense_layers", "callback_fit", "dense_trains") if check in row}
    assert "2/2" in rows["dense_layers"] and "2/2" in rows["callback_fit"]  # both students failed both
    assert "dense_trains" not in rows  # a timeout is an error, not a failed check
    times = page[page.index('id="times"'):]
    assert times.index("bob") < times.index("ada") and "901.0" in times  # slowest first
    errors = page[page.index('id="errors"'):]
    assert "bob" in errors and "did not finish within 60 s" in errors and "ada" not in errors
    assert "ক্লাসের সারসংক্ষেপ" in summary_html(students, language="bn")


# `make test` installs Chromium (.ci/system-deps) while the suite runs, and creates this file once that has ended.
SYSTEM_DEPS_DONE_ENV = "KIT_SYSTEM_DEPS_DONE"
SYSTEM_DEPS_WAIT_SECONDS = 900
NO_CHROMIUM = ("no chromium, chromium-browser or google-chrome on PATH: `make test` installs Debian's chromium and "
               "fonts-noto-core through .ci/system-deps where it runs as root with apt-get; elsewhere install them")
BROWSER_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync")
HTML_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
BENGALI = re.compile("[\u0980-\u09ff]")


class Node:
    """One element of the DOM Chromium dumped: its tag, attributes and children (elements and text)."""

    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None = None):
        self.tag, self.attrs, self.parent, self.children = tag, attrs, parent, []

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def elements(self, tag: str | None = None, cls: str | None = None) -> list[Node]:
        """Descendant elements in document order, by tag and class."""
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if (tag is None or child.tag == tag) and (cls is None or cls in child.classes()):
                    found.append(child)
                found += child.elements(tag, cls)
        return found

    def one(self, tag: str, cls: str | None = None) -> Node:
        found = self.elements(tag, cls)
        assert len(found) == 1, f"expected one <{tag} class={cls}> in the rendered page, found {len(found)}"
        return found[0]

    def text(self) -> str:
        """The text the element shows, whitespace collapsed as a browser lays it out."""
        return " ".join("".join(c if isinstance(c, str) else c.text() + " " for c in self.children).split())

    def own_text(self) -> str:
        """The element's own text, without that of its child elements (a cell's title, not its message)."""
        return " ".join("".join(c for c in self.children if isinstance(c, str)).split())

    def ancestor(self, tag: str) -> Node | None:
        node = self.parent
        while node is not None and node.tag != tag:
            node = node.parent
        return node


class DomTree(HTMLParser):
    """Chromium's serialised DOM back into a tree: every non-void element there has its end tag."""

    def __init__(self, markup: str):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#document", {})
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {name: value or "" for name, value in attrs}, self.current)
        self.current.children.append(node)
        if tag not in HTML_VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Node(tag, {name: value or "" for name, value in attrs}, self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


@pytest.fixture
def chromium() -> str:
    """Chromium's path, once `make test`'s install of it (``$KIT_SYSTEM_DEPS_DONE``) has ended; skips without it."""
    done = os.environ.get(SYSTEM_DEPS_DONE_ENV)
    deadline = time.monotonic() + SYSTEM_DEPS_WAIT_SECONDS
    while done and not Path(done).exists():
        assert time.monotonic() < deadline, f".ci/system-deps did not end within {SYSTEM_DEPS_WAIT_SECONDS} s"
        time.sleep(1)
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        pytest.skip(NO_CHROMIUM)
    return found


def headless_chromium(chromium: str, tmp_path, *args: str) -> str:
    """Run Chromium headless with a fresh profile and no network chatter; its stdout."""
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
    run = subprocess.run([chromium, *BROWSER_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                         timeout=120, encoding="utf-8", errors="replace")
    assert run.returncode == 0, f"chromium {' '.join(args)} exited {run.returncode}: {run.stderr[-2000:]}"
    return run.stdout


def vertices(path_data: str) -> int:
    return len(re.findall(r"[ML]\s", path_data))


def test_feedback_renders_in_a_headless_browser(tmp_path, chromium):
    """What the student's browser shows of a Bengali page: the DOM Chromium built from it, not the template's text."""
    result = sample_result()
    assignment = result.assignments[0]
    page = tmp_path / "feedback.html"
    page.write_text(feedback_html(result, student="s001", course="tf2-course", language="bn"), encoding="utf-8")
    dom = DomTree(headless_chromium(chromium, tmp_path, "--dump-dom", page.as_uri())).root

    assert dom.one("html").attrs.get("lang") == "bn"
    total_label = render(LABELS["total"], "bn")
    assert BENGALI.search(total_label), total_label
    assert dom.one("p", "total").text() == f"{total_label}: {result.score:g}/{result.max_score:g}"
    section = dom.one("section")
    assert section.attrs.get("id") == assignment.assignment
    assert section.one("h2").one("span", "points").text() == f"({assignment.score:g}/{assignment.max_score:g})"

    rows = dom.one("table", "checks").one("tbody").elements("tr")
    assert len(rows) == len(assignment.checks)
    for row, graded in zip(rows, assignment.checks):
        title, english = render(graded.title, "bn"), render(graded.title, "en")
        assert BENGALI.search(title) and title != english, f"{graded.check_id}: no Bengali title in the catalogue"
        icon, body, score = [cell for cell in row.children if isinstance(cell, Node) and cell.tag == "td"]
        assert row.classes() == {graded.outcome.value}
        assert body.own_text() == title, (graded.check_id, body.own_text())
        assert score.text() == f"{graded.score:g}/{graded.max_score:g}", graded.check_id
        tags = [tag.text() for tag in body.elements("span", "tag")]
        assert tags == ([render(LABELS["hidden"], "bn")] if graded.hidden else []), graded.check_id
    assert [layer.text() for layer in dom.elements("div", "differs")] == ["Dense(64)"]
    assert HIDDEN_SECRET.render("bn") not in dom.text() and "SecretLayer" not in dom.text()

    # The training curve: one inline figure, in the row of the check that trained, with both curves drawn.
    figures = dom.elements("figure")
    trained = [row for row, graded in zip(rows, assignment.checks)
               if "training" in graded.details and not graded.hidden]
    assert [figure.ancestor("tr") for figure in figures] == trained
    svg = figures[0].one("svg")
    assert svg.parent is figures[0] and svg.attrs.get("viewbox")
    epochs = len(TRAINING["history"]["loss"])
    curves = [path for group in svg.elements("g") if group.attrs.get("id", "").startswith("line2d_")
              for path in group.elements("path") if vertices(path.attrs.get("d", "")) == epochs]
    assert len(curves) >= len(TRAINING["history"]), "the loss and accuracy curves (a vertex per epoch) are not drawn"
    assert figures[0].one("figcaption").text() == render(LABELS["training_curve"], "bn")

    shot = tmp_path / "feedback.png"
    headless_chromium(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1000,1400", page.as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
