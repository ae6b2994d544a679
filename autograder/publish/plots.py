"""Figures for feedback pages, as inline SVG (no external files, nothing to download)."""
from __future__ import annotations

import io
from typing import Any

ACCURACY_COLOURS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b")


def _svg(figure) -> str:
    """The figure as SVG markup, identical for identical data (no date, fixed element ids)."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "tf2-exercise-kit"}):
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prologue and doctype: the SVG sits inside HTML


def _figure(width: float, height: float):
    """A matplotlib Figure that needs no display (no pyplot state, safe in any thread)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def _label(name: str) -> str:
    """A curve's name as literal legend text: matplotlib reads $...$ as a formula (and fails on a bad one)."""
    return " ".join(str(name).split())[:60].replace("$", r"\$")


def training_curve_svg(training: dict[str, Any]) -> str:
    """Loss and accuracy per epoch of the grading run, with the required and the reached test accuracy.

    Labels are Keras' metric names and numbers only, so the figure reads the same in both
    languages; the page around it says what it shows.
    """
    history = {name: [float(v) for v in values] for name, values in training.get("history", {}).items()}
    figure = _figure(7.0, 2.8)
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    for name, values in history.items():
        epochs = list(range(1, len(values) + 1))
        if "loss" in name:
            loss_axes.plot(epochs, values, marker="o", label=_label(name))
    accuracy_names = [name for name in history if "loss" not in name]
    for colour, name in zip(ACCURACY_COLOURS, accuracy_names):
        values = history[name]
        accuracy_axes.plot(range(1, len(values) + 1), values, marker="o", color=colour, label=f"{_label(name)} (train)")
    epochs_run = max((len(v) for v in history.values()), default=1)
    minimum = training.get("min_accuracy")
    if minimum is not None:
        accuracy_axes.axhline(minimum, color="#d62728", linestyle="--", label=f"required test {minimum:.0%}")
    reached = training.get("test_accuracy")
    if reached is not None:
        accuracy_axes.scatter([epochs_run], [reached], marker="*", s=160, color="#ff7f0e", zorder=3,
                              label=f"test {reached:.1%}")
    loss_axes.set(title="loss", xlabel="epoch")
    accuracy_axes.set(title="accuracy", xlabel="epoch", ylim=(0, 1.02))
    for axes in (loss_axes, accuracy_axes):
        axes.grid(alpha=0.3)
        axes.set_xticks(range(1, epochs_run + 1))
        axes.set_xlim(0.7, epochs_run + 0.3)  # room for the markers at the first and last epoch
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize=7, loc="best")
    figure.tight_layout()
    return _svg(figure)


def histogram_svg(scores: list[float], max_score: float, title: str) -> str:
    """The distribution of one assignment's scores across the class (title: the assignment id)."""
    figure = _figure(4.2, 2.4)
    axes = figure.subplots()
    bins = min(10, max(1, int(max_score))) if max_score else 1
    axes.hist(scores, bins=bins, range=(0, max_score or 1), color="#1f77b4", edgecolor="white")
    axes.set(title=title, xlabel=f"score / {max_score:g}", ylabel="students")
    axes.yaxis.get_major_locator().set_params(integer=True)
    figure.tight_layout()
    return _svg(figure)
