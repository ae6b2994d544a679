"""Checks shared by assignments (grading process): ``normalize`` and compiled Keras classifiers.

Each ``add_*`` function declares probes (by name: their code is in ``probes.py``, run by the
sandbox worker) and the checks that judge what they observed, so the graded properties are
declared once and read the same in every assignment.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from autograder.core.i18n import tr
from autograder.core.spec import Assignment, CheckFailed
from autograder.core.wire import describe
from autograder.graders.common import models
from autograder.graders.common.contract import N_CLASSES, NUMPY_CALLS
from autograder.graders.common.models import real_numbers
from autograder.host import modelspec


def expect_pair(evidence, function: str, prefix: str = "") -> None:
    """CheckFailed unless the call observed under ``prefix`` returned a pair."""
    if not evidence.get(f"{prefix}is_pair", False):
        raise CheckFailed(tr("`{function}` should return a pair (images, labels); it returned {returned}.",
                             function=function, returned=evidence.get(f"{prefix}returned")))


def expect_weights_requested(evidence, call: str) -> None:
    """CheckFailed unless ``call`` (given weights="imagenet") asked Keras for pre-trained weights
    (``probes.weights_requested``): a builder that ignores its ``weights`` argument returns random filters. Which
    weights, and which model, the other checks judge."""
    requested = evidence.get("imagenet_requested")
    if not (isinstance(requested, list) and all(isinstance(name, str) for name in requested)):
        raise CheckFailed(tr("{what}: expected {expected}, got {found}.", what=tr("the weight files asked for"),
                             expected=tr("a list of file names"), found=describe(requested)))
    if not requested:
        models.raise_failed_call(evidence, "imagenet")
        raise CheckFailed(tr("{call} returned a model without asking Keras for ImageNet's weights: its filters are "
                             "random, whatever weights it is given.", call=call))


def value_range(array: np.ndarray) -> tuple[float, float]:
    """(smallest, largest) value of a non-empty real array (NaN when it holds NaN)."""
    values = np.asarray(array, dtype=np.float64)
    return float(np.min(values)), float(np.max(values))


def tensor_spec(entry: Any) -> tuple[str, list | None] | None:
    """(dtype, shape) of one ``spec_to_json`` entry, or None when it is not the spec of a single tensor."""
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape"} or not isinstance(entry["dtype"], str):
        return None
    shape = entry["shape"]
    if shape is not None and not (isinstance(shape, list) and all(d is None or type(d) is int for d in shape)):
        return None
    return entry["dtype"], shape


def pair_spec(spec: Any) -> tuple[tuple[str, list | None], tuple[str, list | None]] | None:
    """The (images, labels) specs of a dataset's element_spec, or None when an element is not a pair of tensors."""
    if not (isinstance(spec, list) and len(spec) == 2):
        return None
    first, second = tensor_spec(spec[0]), tensor_spec(spec[1])
    return (first, second) if first is not None and second is not None else None


# How far a normalized pixel may be from pixel / 255: half a grey level. float16's rounding (at most 2.5e-4 below 1)
# stays within it, so a dtype mistake costs only the dtype checks; every scaling mistake lies beyond it (pixel / 256
# is 1/256 off at 255, an image's own maximum or range far more).
PIXEL_TOLERANCE = 0.5 / 255


def first_mismatch(found: np.ndarray, expected: np.ndarray, atol: float = PIXEL_TOLERANCE) -> int | None:
    """Index of the first item (along axis 0) of two same-shape real arrays that differs, or None."""
    close = np.isclose(found.astype(np.float64), expected.astype(np.float64), atol=atol, rtol=0.0)
    wrong = ~close.reshape(len(close), -1).all(axis=1)
    return int(np.argmax(wrong)) if wrong.any() else None


def scaling_mismatch(given: np.ndarray, found: np.ndarray, expected: np.ndarray, where) -> CheckFailed:
    """The failure of one image whose values ``found`` are not ``expected`` (its uint8 pixels ``given`` / 255).

    ``where`` names the input image, e.g. "In a batch of 12 images, image 3". The message gives the image's ranges
    of values when they differ as printed, else the pixel furthest from pixel / 255 (off by more than the tolerance,
    so different in six significant digits): it never shows two equal numbers as a mismatch."""
    low, high = value_range(found)
    expected_low, expected_high = float(expected.min()), float(expected.max())
    if f"{low:.4g} {high:.4g}" != f"{expected_low:.4g} {expected_high:.4g}":
        return CheckFailed(tr("{where} has pixels from {given_low} to {given_high}; they became values from {low:.4g} "
                              "to {high:.4g}, but pixel / 255 gives {expected_low:.4g} to {expected_high:.4g}.",
                              where=where, given_low=int(given.min()), given_high=int(given.max()), low=low,
                              high=high, expected_low=expected_low, expected_high=expected_high))
    with np.errstate(invalid="ignore"):
        error = np.abs(found.astype(np.float64) - expected).reshape(-1)
    worst = int(np.argmax(np.nan_to_num(error, nan=np.inf)))
    return CheckFailed(tr("{where}: a pixel of {pixel} became {found:.6g}, but pixel / 255 gives {expected:.6g}.",
                          where=where, pixel=int(given.reshape(-1)[worst]), found=float(found.reshape(-1)[worst]),
                          expected=float(expected.reshape(-1)[worst])))


# ----------------------------------------------------------------- normalize
def normalize_inputs(image_shape: tuple[int, ...], seed: int) -> dict[str, np.ndarray]:
    """Two uint8 batches whose pixels vary what the contract leaves free.

    ``images``: 12 images; most span the whole range, but one is dark (its maximum drawn from 20-60),
    one has its maximum drawn from 150-230 and one is bright with its minimum drawn from 60-120, in
    drawn positions. Their batch maximum is 255. ``dim_images``: 4 to 8 images whose largest pixel
    (drawn from 150-230) is below 255, one of them dark. Scaling by an image's or a batch's own
    maximum or range, instead of by 255, shows on both. The labels are int64 and int32.
    """
    rng = np.random.default_rng(seed + 101)
    size = int(np.prod(image_shape))

    def image(low: int, high: int) -> np.ndarray:
        pixels = rng.integers(low, high + 1, size=size)
        pixels[rng.choice(size, 2, replace=False)] = (low, high)  # both ends of its own range occur
        return pixels

    n = 12
    flat = np.stack([image(0, 255) for _ in range(n)])
    flat[1], flat[2] = image(0, int(rng.integers(20, 61))), image(0, int(rng.integers(150, 231)))
    flat[3] = image(int(rng.integers(60, 121)), 255)
    images = flat[rng.permutation(n)].astype(np.uint8).reshape(n, *image_shape)

    m = int(rng.integers(4, 9))
    batch_max = int(rng.integers(150, 231))
    dim = np.stack([image(int(rng.integers(0, 40)), int(rng.integers(80, batch_max + 1))) for _ in range(m)])
    dim[0], dim[1] = image(0, batch_max), image(0, int(rng.integers(20, 61)))
    dim_images = dim[rng.permutation(m)].astype(np.uint8).reshape(m, *image_shape)
    return {"images": images, "labels": rng.integers(0, N_CLASSES, size=n).astype(np.int64),
            "dim_images": dim_images, "dim_labels": rng.integers(0, N_CLASSES, size=m).astype(np.int32)}



def _batch_text(images: np.ndarray):
    return tr("a batch of {count} uint8 images of shape {shape} whose largest pixel is {largest}",
              count=len(images), shape=images.shape[1:], largest=int(images.max()))


def add_normalize_checks(assignment: Assignment, image_shape: tuple[int, ...]) -> None:
    """normalize(images, labels): float32 images in [0, 1], labels untouched, NumPy and Dataset.map."""

    def make_inputs(seed: int) -> dict[str, np.ndarray]:
        return normalize_inputs(image_shape, seed)

    for name in ("normalize_numpy", "normalize_dataset_map"):
        assignment.probe(name, uses="normalize", inputs=make_inputs)

    def normalized(evidence, prefix: str) -> tuple[np.ndarray, np.ndarray]:
        """The images one NumPy call returned, and the images it was given."""
        expect_pair(evidence, "normalize", prefix)
        return evidence.array(f"{prefix}images", tr("the normalized images")), evidence.inputs[f"{prefix}images"]

    @assignment.check("normalize_numpy", points=1,
                      title=tr("normalize returns float32 images for a NumPy uint8 array"),
                      hint=tr("Cast before dividing, e.g. tf.cast(images, tf.float32) / 255.0 or "
                              "images.astype('float32') / 255.0."))
    def normalize_float32(evidence, ctx):
        for prefix, _, _ in NUMPY_CALLS:
            images, given = normalized(evidence, prefix)
            if images.dtype != np.float32:
                raise CheckFailed(tr("Given {batch}, normalize returned dtype {dtype}, not float32.",
                                     batch=_batch_text(given), dtype=str(images.dtype)))

    @assignment.check("normalize_numpy", points=2, title=tr("normalize scales pixel values from [0, 255] to [0, 1]"),
                      hint=tr("Divide every pixel by 255 (not 256, not the image's own maximum)."))
    def normalize_values(evidence, ctx):
        for prefix, _, _ in NUMPY_CALLS:
            images, given = normalized(evidence, prefix)
            if images.shape != given.shape:
                raise CheckFailed(tr("Given {batch}, normalize returned images of shape {after}; the shape should "
                                     "stay {before}.", batch=_batch_text(given), before=given.shape,
                                     after=images.shape))
            if not real_numbers(images):
                raise CheckFailed(tr("The images are not numbers (dtype {dtype}).", dtype=str(images.dtype)))
            expected = given.astype(np.float64) / 255.0
            index = first_mismatch(images, expected)
            if index is not None:
                raise scaling_mismatch(given[index], images[index], expected[index],
                                       tr("In {batch}, image {index}", batch=_batch_text(given), index=index))

    @assignment.check("normalize_numpy", points=1, title=tr("normalize returns the labels unchanged"),
                      hint=tr("Return the labels exactly as they came in; only the images change."))
    def normalize_labels_unchanged(evidence, ctx):
        for prefix, _, labels_key in NUMPY_CALLS:
            expect_pair(evidence, "normalize", prefix)
            labels = evidence.array(f"{prefix}labels", tr("the labels"))
            expected = evidence.inputs[labels_key]
            if labels.shape != expected.shape or not np.array_equal(labels, expected):
                raise CheckFailed(tr("Given the labels {given} ({dtype}), normalize returned {found}.",
                                     given=str(expected.tolist()[:8]), dtype=str(expected.dtype),
                                     found=describe(labels)))
            if labels.dtype != expected.dtype:
                raise CheckFailed(tr("The labels changed dtype from {before} to {after}.",
                                     before=str(expected.dtype), after=str(labels.dtype)))

    @assignment.check("normalize_dataset_map", points=2,
                      title=tr("normalize works inside tf.data.Dataset.map"),
                      hint=tr("Use TensorFlow operations (tf.cast, /) that work on symbolic tensors, not NumPy-only "
                              "methods such as .astype()."))
    def normalize_in_dataset_map(evidence, ctx):
        expect_pair(evidence, "normalize")
        spec = evidence.value("spec", tr("the mapped dataset's element_spec"))
        pair = pair_spec(spec)
        if pair is None:
            raise CheckFailed(tr("After dataset.map(normalize) each element should be an (image, label) pair of "
                                 "tensors; the element_spec is {spec}.", spec=str(spec)[:300]))
        if pair[0][0] != "float32":
            raise CheckFailed(tr("After dataset.map(normalize) the images have dtype {dtype}, not float32.",
                                 dtype=pair[0][0]))
        if isinstance(evidence.get("images"), str):
            raise CheckFailed(tr("After dataset.map(normalize) the elements have {found}.",
                                 found=evidence.get("images")))
        images = evidence.array("images", tr("the mapped images"))
        labels = evidence.array("labels", tr("the mapped labels"))
        given = np.concatenate([evidence.inputs["images"], evidence.inputs["dim_images"]])
        if images.shape != given.shape or not real_numbers(images):
            raise CheckFailed(tr("Inside Dataset.map uint8 images of shape {before} came out with dtype {dtype} and "
                                 "shape {after}.", before=given.shape[1:], dtype=str(images.dtype),
                                 after=images.shape[1:]))
        expected = given / 255.0
        index = first_mismatch(images, expected)
        if index is not None:
            raise scaling_mismatch(given[index], images[index], expected[index],
                                   tr("Inside Dataset.map, image {index}", index=index))
        expected_labels = np.concatenate([evidence.inputs["labels"], evidence.inputs["dim_labels"]])
        if labels.shape != expected_labels.shape or not np.array_equal(labels, expected_labels):
            raise CheckFailed(tr("Inside Dataset.map the labels changed."))


# ----------------------------------------------------------------- classifiers
def add_classifier_checks(assignment: Assignment, *, builder: str, input_shape: tuple[int, ...],
                          layers: list[str], parameters: int, min_accuracy: float,
                          train_size: int, test_size: int, epochs: int, prefix: str) -> None:
    """A compiled 10-class softmax classifier: structure, compile settings and a training run."""

    probe_name = f"{prefix}_build"

    assignment.probe(probe_name, uses=builder)

    what = tr("the model returned by {builder}()", builder=builder)
    shape_text = "(None, " + ", ".join(str(d) for d in input_shape) + ")"

    def register(check_id: str, points: float, title, hint="", **options):
        return assignment.check(probe_name, points=points, title=title, hint=hint, id=f"{prefix}_{check_id}",
                                **options)

    def sample_batch(ctx, model, n: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Normalized images shaped for the model's own input, so each check judges one property."""
        _, test = ctx.fashion_mnist(64, n)
        return ctx.fit_to_input(model, test.images), test.labels

    @register("returns_model", 1, tr("{builder}() returns a Keras model", builder=builder),
              tr("Build the model with keras.Sequential([...]) or keras.Model(inputs, outputs) and return it."))
    def returns_model(evidence, ctx):
        evidence.model("model", what)

    @register("input_shape", 1, tr("the model takes {shape} inputs", shape=shape_text),
              tr("Start with keras.Input(shape={shape}) (or give the first layer that input shape).",
                 shape=input_shape))
    def model_input_shape(evidence, ctx):
        found = models.input_shape(evidence.model("model", what))
        if found != (None, *input_shape):
            raise CheckFailed(tr("The model's input shape is {found}; expected {expected}.", found=found,
                                 expected=shape_text))

    @register("output_shape", 1, tr("the model outputs 10 class scores per image"),
              tr("The last layer must be Dense(10)."))
    def model_output_shape(evidence, ctx):
        model = evidence.model("model", what)
        batch, _ = sample_batch(ctx, model, 4)
        output = models.predict(model, batch, tr("The model"))
        if output.shape != (4, N_CLASSES):
            raise CheckFailed(tr("For 4 images the model returned shape {shape}; expected (4, 10).",
                                 shape=output.shape))

    @register("parameter_count", 2, tr("the model has {parameters:,} parameters", parameters=parameters),
              tr("Compare your layers and their sizes with the instructions; model.summary() shows the count "
                 "per layer."))
    def parameter_count(evidence, ctx):
        model = evidence.model("model", what)
        if not model.built:
            raise CheckFailed(tr("The model has no weights yet (no input shape), so it has 0 parameters."))
        models.expect_parameter_count(model, parameters)

    @register("layers", 2, tr("the layers are the ones asked for, in order"),
              tr("Follow the layer list in the instructions; an activation may be a layer or an argument."))
    def layer_order(evidence, ctx):
        models.expect_stack(modelspec.layer_stack(evidence.model("model", what)), layers)

    @register("softmax_output", 1, tr("the output layer gives probabilities (softmax)"),
              tr("Give the last Dense layer activation='softmax'."))
    def softmax_output(evidence, ctx):
        model = evidence.model("model", what)
        batch, _ = sample_batch(ctx, model, 8)
        output = models.predict(model, batch, tr("The model")).astype(np.float64)
        if (output.ndim != 2 or output.size == 0 or np.any(output < -1e-6)
                or not np.allclose(output.sum(axis=1), 1.0, atol=1e-4)):
            raise CheckFailed(tr("The outputs are not probabilities: each row should be non-negative and sum to 1."))

    @register("optimizer", 1, tr("compiled with the Adam optimizer"),
              tr("model.compile(optimizer='adam', ...) or optimizer=keras.optimizers.Adam()."))
    def optimizer(evidence, ctx):
        models.require_optimizer(evidence.model("model", what), "Adam")

    @register("loss", 1, tr("compiled with sparse categorical cross-entropy on probabilities"),
              tr("Labels are class numbers (0-9), so use loss='sparse_categorical_crossentropy' "
                 "(from_logits stays False because the model already applies softmax)."))
    def loss(evidence, ctx):
        name, from_logits = modelspec.compiled_loss(evidence.model("model", what))
        if name is None:
            raise CheckFailed(tr("The model is not compiled with a loss."))
        if name != "sparse_categorical_crossentropy":
            raise CheckFailed(tr("The loss is {found}.", found=name))
        if from_logits:
            raise CheckFailed(tr("The loss has from_logits=True, but the model's outputs are already probabilities."))

    @register("accuracy_metric", 1, tr("reports an 'accuracy' metric that measures classification accuracy"),
              tr("model.compile(..., metrics=['accuracy']); the callback reads logs['accuracy']."))
    def accuracy_metric(evidence, ctx):
        model = evidence.model("model", what)
        batch, labels = sample_batch(ctx, model, 64)
        output = models.predict(model, batch, tr("The model"))
        if output.shape != (len(batch), N_CLASSES):
            raise CheckFailed(tr("For {n} images the model returned shape {shape}; expected ({n}, 10).",
                                 n=len(batch), shape=output.shape))
        models.require_accuracy_metric(model, batch, labels)

    @register("trains", 3, tr("reaches at least {min_accuracy:.0%} test accuracy after a short training run",
                              min_accuracy=min_accuracy),
              tr("Check the activations, the loss and the optimizer: a correct model learns this data quickly."),
              threshold=min_accuracy)
    def trains(evidence, ctx, threshold):
        fresh = evidence.model("model", what, fresh=True)  # training must not change what other checks see
        train, test = ctx.fashion_mnist(train_size, test_size)
        run = ctx.train_and_evaluate(fresh, train, test, epochs=epochs, batch_size=32,
                                     max_params=20 * parameters)
        return models.require_accuracy(run, threshold, epochs=epochs, n_train=train_size)
