"""Calibration of the accuracy thresholds of the ``dense_trains`` and ``cnn_trains`` checks.

For every seed ``s`` in 0..N-1 this trains, with exactly the grader's procedure,

* the reference models: ``build_dense_classifier`` from ``solutions/fashion_mnist.py``
  and ``build_cnn`` from ``solutions/cnn.py`` (imported from their files);
* known-wrong variants of each, on the same seed and the same data:
    - ``no-softmax``: the output layer is a plain ``Dense(10)`` (no activation), still
      compiled with sparse categorical cross-entropy with ``from_logits=False``;
    - ``relu-out``: the output layer is ``Dense(10, activation="relu")``, same loss;
    - ``mse``: the reference model compiled with ``loss="mse"``;

The procedure is the one in ``autograder/graders/common/checks.py`` (``trains``)::

    ctx = GradingContext(seed=s)
    train, test = ctx.fashion_mnist(train_size, test_size)
    ctx.train_and_evaluate(model, train, test, epochs=epochs, batch_size=32,
                           max_params=20 * parameters)

with ``keras.utils.set_random_seed(s)`` before each model is built. A model passes
when its test accuracy is >= the check's ``min_accuracy``; a model whose training
raises (``CheckFailed``) fails. ``min_accuracy`` (the check's threshold), ``train_size``,
``test_size``, ``epochs`` and ``parameters`` are read from the grader's check itself (the
variables its ``trains`` closure captured), so this script follows the grader if it changes;
where they cannot be read it stops rather than guess.
``--roundtrip`` also saves every model to ``.keras`` and reloads it with
``autograder.host.evidence.load_model_safely`` first, as the real grader does with what
the sandbox returned.

It prints the accuracy of every model per seed, then per model: min / mean / max,
the threshold, the margin (reference: min - threshold; wrong variants: max -
threshold), how many seeds pass, and per architecture the window between the best
wrong variant and the worst reference run.

Run from the project root (20 seeds of both architectures took about 10 minutes on 2 busy cores)::

    .venv/bin/python benchmarks/calibrate_thresholds.py             # seeds 0..19
    .venv/bin/python benchmarks/calibrate_thresholds.py --quick     # seeds 0..2
    .venv/bin/python benchmarks/calibrate_thresholds.py --start 19 --seeds 1 --only dense
    .venv/bin/python benchmarks/calibrate_thresholds.py --seeds 50 --only cnn

Exit code 1 if a reference model fails on any seed or a wrong variant passes on any
seed, else 0.
"""
from __future__ import annotations

import argparse
import importlib.util
import inspect
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from autograder import graders  # noqa: E402
from autograder.host.context import GradingContext, configure_tensorflow, error_summary  # noqa: E402
from autograder.core.spec import CheckFailed  # noqa: E402
from _tables import print_table  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"

# Architecture -> (assignment, builder in solutions/<assignment>.py, id of the accuracy check).
ARCHITECTURES = {
    "dense": ("fashion_mnist", "build_dense_classifier", "dense_trains"),
    "cnn": ("cnn", "build_cnn", "cnn_trains"),
}
VARIANTS = ("reference", "no-softmax", "relu-out", "mse")
BATCH_SIZE = 32             # hard-coded in trains() in autograder/graders/common/checks.py
MAX_PARAMS_FACTOR = 20      # trains() passes max_params=20 * parameters


@dataclass
class Settings:
    min_accuracy: float
    train_size: int
    test_size: int
    epochs: int
    parameters: int
    title: str
    source: str


@dataclass
class Run:
    accuracy: float | None  # None: training raised CheckFailed
    seconds: float
    error: str = ""


def grader_settings(architecture: str) -> Settings:
    """The accuracy check's own settings, from the variables its function captured."""
    assignment_id, _, check_id = ARCHITECTURES[architecture]
    check = next(c for c in graders.load(assignment_id).checks if c.id == check_id)
    captured = inspect.getclosurevars(check.verify).nonlocals
    missing = [name for name in ("train_size", "test_size", "epochs", "parameters") if name not in captured]
    if missing or check.threshold is None:  # no copy of the grader's numbers to fall back on: they would drift
        raise SystemExit(f"calibrate_thresholds: cannot read {', '.join(missing) or 'the threshold'} from "
                         f"{assignment_id}.{check_id}; has add_classifier_checks changed?")
    return Settings(float(check.threshold), int(captured["train_size"]), int(captured["test_size"]),
                    int(captured["epochs"]), int(captured["parameters"]), check.title,
                    f"read from {assignment_id}.{check_id}")


def load_builder(architecture: str):
    assignment_id, builder, _ = ARCHITECTURES[architecture]
    path = SOLUTIONS / f"{assignment_id}.py"
    spec = importlib.util.spec_from_file_location(f"reference_{assignment_id}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, builder)


def build(builder, variant: str, seed: int):
    """The reference model, or a wrong variant of it with the same layers and initial weights."""
    import keras

    keras.utils.set_random_seed(seed)
    model = builder()
    if variant == "reference":
        return model
    if variant == "mse":
        model.compile(optimizer="adam", loss="mse", metrics=["accuracy"])
        return model
    config = model.get_config()
    last = config["layers"][-1]
    if last["class_name"] != "Dense" or last["config"].get("activation") != "softmax":
        raise RuntimeError(f"expected the reference to end in Dense(..., activation='softmax'); found {last}")
    last["config"]["activation"] = {"no-softmax": "linear", "relu-out": "relu"}[variant]
    keras.utils.set_random_seed(seed)
    variant_model = type(model).from_config(config)
    variant_model.compile(optimizer="adam",
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=False),
                          metrics=["accuracy"])
    return variant_model


def roundtrip(model, directory: Path):
    from autograder.host.evidence import load_model_safely

    path = directory / "model.keras"
    model.save(path)
    return load_model_safely(path)


def train(model, context: GradingContext, settings: Settings) -> Run:
    train_split, test_split = context.fashion_mnist(settings.train_size, settings.test_size)
    started = time.perf_counter()
    try:
        run = context.train_and_evaluate(model, train_split, test_split, epochs=settings.epochs,
                                         batch_size=BATCH_SIZE,
                                         max_params=MAX_PARAMS_FACTOR * settings.parameters)
    except CheckFailed as failure:
        return Run(None, time.perf_counter() - started, failure_text(failure))
    return Run(run.accuracy, time.perf_counter() - started)


def failure_text(failure: CheckFailed) -> str:
    """One line for a failed training run: the cause, as the kit itself reports it."""
    if failure.__cause__ is None:
        return " ".join(str(failure).split())[:160]
    return error_summary(failure.__cause__, limit=160)


def passes(run: Run, settings: Settings) -> bool:
    return run.accuracy is not None and run.accuracy >= settings.min_accuracy  # as `not accuracy >= min` fails


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20, help="number of seeds, START..START+N-1 (default 20)")
    parser.add_argument("--quick", action="store_true", help="only 3 seeds")
    parser.add_argument("--start", type=int, default=0, help="first seed (default 0): seeds START..START+N-1")
    parser.add_argument("--only", choices=tuple(ARCHITECTURES), help="calibrate one architecture only")
    parser.add_argument("--roundtrip", action="store_true",
                        help="save and reload each model through load_model_safely, as the grader does")
    parser.add_argument("--threads", type=int, default=max(1, min(4, os.cpu_count() or 1)),
                        help="TensorFlow threads (default: as the CLI)")
    args = parser.parse_args(argv)
    seeds = list(range(args.start, args.start + (3 if args.quick else args.seeds)))
    if not seeds:
        parser.error("--seeds must be at least 1")
    architectures = [args.only] if args.only else list(ARCHITECTURES)

    configure_tensorflow(args.threads)
    import keras

    settings = {a: grader_settings(a) for a in architectures}
    builders = {a: load_builder(a) for a in architectures}
    models = [(a, v) for a in architectures for v in VARIANTS]
    label = {(a, v): f"{a} {v}" for a, v in models}

    print(f"calibrate_thresholds: seeds {seeds[0]}..{seeds[-1]}, {os.cpu_count()} CPU cores, TF threads {args.threads}, "
          f"keras {keras.__version__}, roundtrip {'on' if args.roundtrip else 'off'}")
    for a in architectures:
        s = settings[a]
        print(f"  {a}: threshold {s.min_accuracy:g}, train {s.train_size}, test {s.test_size}, epochs {s.epochs}, "
              f"batch {BATCH_SIZE}, max_params {MAX_PARAMS_FACTOR * s.parameters:,} ({s.source}; "
              f"title: {s.title!r})")
    print("  '!' marks an unexpected result: a reference run below the threshold or a wrong variant at/above it; "
          "'err' a training run that raised.\n")

    results: dict[tuple[str, str], list[Run]] = {m: [] for m in models}
    header = ["seed"] + [label[m] for m in models] + ["s"]
    print("  ".join(header))
    rows = []
    errors: dict[tuple[str, str], list[int]] = {}  # (model, error) -> seeds
    with tempfile.TemporaryDirectory(prefix="calibrate-") as tmp:
        for seed in seeds:
            context = GradingContext(seed=seed)  # one per seed: the same data for every model, as in grading
            started = time.perf_counter()
            row = [str(seed)]
            for architecture, variant in models:
                model = build(builders[architecture], variant, seed)
                if args.roundtrip:
                    model = roundtrip(model, Path(tmp))
                run = train(model, context, settings[architecture])
                results[(architecture, variant)].append(run)
                if run.accuracy is None:
                    errors.setdefault((label[(architecture, variant)], run.error), []).append(seed)
                ok = passes(run, settings[architecture]) == (variant == "reference")
                row.append(("err" if run.accuracy is None else f"{run.accuracy:.3f}") + ("" if ok else "!"))
                keras.backend.clear_session()
            row.append(f"{time.perf_counter() - started:.0f}")
            rows.append(row)
            print("  ".join(row), flush=True)  # progress while it runs; the aligned table follows

    print("\nAccuracy per seed (test set of the grader's procedure)")
    print_table(header, rows)

    print("\nSummary per model")
    summary = []
    bad = False
    unexpected: list[str] = []
    for architecture, variant in models:
        s = settings[architecture]
        runs = results[(architecture, variant)]
        accuracies = [r.accuracy if r.accuracy is not None else 0.0 for r in runs]  # an error counts as 0
        passed = sum(passes(r, s) for r in runs)
        reference = variant == "reference"
        margin = min(accuracies) - s.min_accuracy if reference else max(accuracies) - s.min_accuracy
        expected = len(runs) if reference else 0
        if passed != expected:
            bad = True
            unexpected.append(f"{label[(architecture, variant)]} passes {passed}/{len(runs)} seeds "
                              f"(seeds {[seed for seed, r in zip(seeds, runs) if passes(r, s) != reference]})")
        summary.append([label[(architecture, variant)], f"{min(accuracies):.3f}",
                        f"{statistics.fmean(accuracies):.3f}", f"{max(accuracies):.3f}", f"{s.min_accuracy:.3f}",
                        f"{margin:+.3f} ({'min' if reference else 'max'})",
                        f"{passed}/{len(runs)}", f"{expected}/{len(runs)}",
                        f"{sum(r.accuracy is None for r in runs)}",
                        f"{statistics.fmean(r.seconds for r in runs):.1f}",
                        "ok" if passed == expected else "UNEXPECTED"])
    print_table(["model", "min", "mean", "max", "threshold", "margin", "passes", "expected", "errors",
                 "train s", "verdict"], summary)

    print("\nWindow per architecture: best wrong variant .. worst reference run (the threshold should sit inside)")
    window_rows = []
    for architecture in architectures:
        wrong = [r.accuracy or 0.0 for v in VARIANTS[1:] for r in results[(architecture, v)]]
        worst_reference = min(r.accuracy or 0.0 for r in results[(architecture, "reference")])
        best_wrong = max(wrong)
        threshold = settings[architecture].min_accuracy
        inside = best_wrong < threshold <= worst_reference
        window_rows.append([architecture, f"{best_wrong:.3f}", f"{worst_reference:.3f}",
                            f"{worst_reference - best_wrong:+.3f}", f"{threshold:.3f}",
                            "yes" if inside else "NO"])
    print_table(["architecture", "best wrong", "worst reference", "gap", "threshold", "threshold inside"],
                window_rows)
    if errors:
        print("\nTraining runs that raised (counted as failing, accuracy 0 above):")
        for (model, error), failed_seeds in errors.items():
            print(f"  {model}, {len(failed_seeds)} seed(s) {failed_seeds[:10]}{' ...' if len(failed_seeds) > 10 else ''}: "
                  f"{error}")

    if bad:
        print("\nRESULT: FAIL: " + "; ".join(unexpected) + ".")
    else:
        print("\nRESULT: ok: the reference passes every seed and no wrong variant passes any.")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
