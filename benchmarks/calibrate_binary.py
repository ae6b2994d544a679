"""Calibration of the two-class accuracy thresholds: ``gap_trains`` and ``transfer_trains``.

For every seed ``s`` this trains, exactly as the grader does (same data, sizes,
epochs, batch size, input preparation and accuracy rule, after a ``.keras`` round
trip through ``load_model_safely``), the reference model and known-wrong variants:

``gap`` (add_gap on the kit's reference head for 32x32 images):
    reference       head → GlobalAveragePooling2D → Dense(1, sigmoid), Adam, binary cross-entropy
    softmax-out     Dense(1, softmax): always outputs 1
    logits-loss     the reference with BinaryCrossentropy(from_logits=True)
    frozen-head     the head frozen (head.trainable = False): only the 65 new parameters learn
    not-compiled    never compiled (the grader cannot train it)
``transfer`` (build_transfer_model on the kit's frozen VGG16 base for 32x32 images; fixed random
He-normal weights unless ImageNet weights are in the Keras cache):
    reference       base → GlobalAveragePooling2D → Dense(1), Adam, BinaryCrossentropy(from_logits=True)
    sigmoid-logits  Dense(1, sigmoid) with the from-logits loss
    frozen-outer    model.trainable = False before compiling: nothing can learn
    book-pairing    linear Dense(1) with the probability loss (shown for information: the
                    loss check fails it, whatever its accuracy)

Run from the project root::

    .venv/bin/python benchmarks/calibrate_binary.py                 # 20 seeds of both
    .venv/bin/python benchmarks/calibrate_binary.py --only transfer --seeds 5

Exit code 1 if a reference run fails on any seed or a wrong variant (other than the
informational one) passes on any seed.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from autograder.host.evidence import load_model_safely  # noqa: E402
from autograder.host.context import GradingContext, configure_tensorflow  # noqa: E402
from autograder.graders.gap import checks as gap  # noqa: E402
from autograder.graders.gap.contract import reference_head  # noqa: E402
from autograder.graders.transfer import checks as transfer  # noqa: E402
from autograder.graders.transfer.contract import reference_base  # noqa: E402
from autograder.core.spec import CheckFailed  # noqa: E402
from _tables import print_table  # noqa: E402

INFORMATIONAL = {("transfer", "book-pairing")}


def gap_model(variant: str):
    import keras
    from keras import layers

    activation = "softmax" if variant == "softmax-out" else "sigmoid"
    head = reference_head(gap.TRAIN_SIZE)
    head.trainable = variant != "frozen-head"
    model = keras.Sequential([head, layers.GlobalAveragePooling2D(), layers.Dense(1, activation=activation)])
    if variant != "not-compiled":
        loss = keras.losses.BinaryCrossentropy(from_logits=variant == "logits-loss")
        model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    return model


def transfer_model(variant: str, seed: int):
    import keras
    from keras import layers

    base = reference_base(transfer.TRAIN_SIZE, trainable=False)
    model = keras.Sequential([base, layers.GlobalAveragePooling2D(),
                              layers.Dense(1, activation="sigmoid" if variant == "sigmoid-logits" else None)])
    if variant == "frozen-outer":
        model.trainable = False
    loss = keras.losses.BinaryCrossentropy(from_logits=variant != "book-pairing")
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    return model


SETUPS = {  # the grader module supplies sizes, epochs, batch size, input preparation and threshold
    "gap": dict(variants=("reference", "softmax-out", "logits-loss", "frozen-head", "not-compiled"), module=gap,
                build=lambda variant, seed: gap_model(variant)),
    "transfer": dict(variants=("reference", "sigmoid-logits", "frozen-outer", "book-pairing"), module=transfer,
                     build=transfer_model),
}


def run_once(name: str, variant: str, seed: int, directory: Path) -> tuple[float | None, float]:
    import keras

    setup = SETUPS[name]
    module = setup["module"]
    keras.utils.set_random_seed(seed)
    model = setup["build"](variant, seed)
    path = directory / f"{name}-{variant}.keras"
    model.save(path)
    model = load_model_safely(path)
    context = GradingContext(seed=seed)
    train, test = context.two_class_images(module.N_TRAIN, module.N_TEST, module.TRAIN_SIZE)
    started = time.perf_counter()
    try:
        result = context.train_and_evaluate(model, train, test, epochs=module.EPOCHS, batch_size=module.BATCH,
                                            max_params=module.MAX_TRAIN_PARAMETERS, inputs=module.model_inputs)
    except CheckFailed:
        return None, time.perf_counter() - started
    return result.accuracy, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--only", choices=tuple(SETUPS))
    parser.add_argument("--threads", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    args = parser.parse_args(argv)
    configure_tensorflow(args.threads)
    names = [args.only] if args.only else list(SETUPS)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            threshold = SETUPS[name]["module"].MIN_ACCURACY
            rows = []
            for variant in SETUPS[name]["variants"]:
                accuracies, seconds = [], []
                for seed in range(args.seeds):
                    accuracy, elapsed = run_once(name, variant, seed, Path(tmp))
                    accuracies.append(accuracy)
                    seconds.append(elapsed)
                    print(f"{name} {variant:15s} seed {seed:2d}: "
                          f"{'cannot train' if accuracy is None else f'{accuracy:.3f}'} ({elapsed:.1f} s)",
                          file=sys.stderr, flush=True)
                trained = [a for a in accuracies if a is not None]
                passed = sum(a >= threshold for a in trained)
                expected_to_pass = variant == "reference"
                if (name, variant) not in INFORMATIONAL:
                    failures += (len(accuracies) - passed) if expected_to_pass else passed
                rows.append((variant, f"{min(trained):.3f}" if trained else "-",
                             f"{statistics.mean(trained):.3f}" if trained else "-",
                             f"{max(trained):.3f}" if trained else "-", f"{threshold:.2f}",
                             f"{passed}/{len(accuracies)}", f"{statistics.mean(seconds):.1f}"))
            print(f"\n{name}: {args.seeds} seeds, threshold {threshold:.2f}")
            print_table(("model", "min", "mean", "max", "threshold", "passed", "s/run"), rows)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
