"""Probes and checks shared by assignments: ``normalize`` and compiled Keras classifiers.

Each ``add_*`` function registers probes and checks on an assignment, so the
graded properties are declared once and read the same in every assignment.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from autograder import modelspec
from autograder.artifacts import describe
from autograder.graders import _models
from autograder.i18n import tr
from autograder.spec import Assignment, CheckFailed

N_CLASSES = 10


# ----------------------------------------------------------------- probe helpers
def unpack_pair(value: Any) -> tuple[Any, Any] | None:
    """(first, second) when the student returned a pair, else None."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return value[0], value[1]
    return None


def spec_to_json(spec: Any) -> Any:
    """A ``tf.data`` element_spec as plain JSON (dtype names and shapes)."""
    if isinstance(spec, (tuple, list)):
        return [spec_to_json(item) for item in spec]
    if isinstance(spec, dict):
        return {str(key): spec_to_json(item) for key, item in spec.items()}
    shape = getattr(spec, "shape", None)
    dtype = getattr(spec, "dtype", None)
    if shape is None or dtype is None:
        return describe(spec)
    return {"dtype": dtype.name, "shape": None if shape.rank is None else [d for d in shape.as_list()]}


def expect_pair(evidence, function: str) -> None:
    returned = evidence.get("returned")
    if not evidence.get("is_pair", False):
        raise CheckFailed(tr("`{function}` should return a pair (images, labels); it returned {returned}.",
                             function=function, returned=returned))


# ----------------------------------------------------------------- normalize
def add_normalize_checks(assignment: Assignment, image_shape: tuple[int, ...]) -> None:
    """normalize(images, labels): float32 images in [0, 1], labels untouched, NumPy and Dataset.map."""

    def make_inputs(seed: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed + 101)
        images = rng.integers(0, 256, size=(12, *image_shape), dtype=np.uint8)
        images.reshape(12, -1)[0, :2] = (0, 255)  # both ends of the range are always present
        labels = rng.integers(0, N_CLASSES, size=12).astype(np.int64)
        return {"images": images, "labels": labels}

    @assignment.probe(uses="normalize", inputs=make_inputs)
    def normalize_numpy(student, inputs, ctx):
        out = student.call("normalize", inputs["images"].copy(), inputs["labels"].copy())
        pair = unpack_pair(out)
        return {"returned": describe(out), "is_pair": pair is not None,
                "images": pair[0] if pair else None, "labels": pair[1] if pair else None}

    @assignment.probe(uses="normalize", inputs=make_inputs)
    def normalize_dataset_map(student, inputs, ctx):
        import tensorflow as tf

        dataset = tf.data.Dataset.from_tensor_slices((inputs["images"], inputs["labels"]))
        mapped = student.run("`normalize` inside Dataset.map", dataset.map, student.get("normalize"))
        spec = spec_to_json(mapped.element_spec)
        images, labels = [], []
        for element in student.run("Iterating the mapped dataset", list, mapped):
            pair = unpack_pair(element)
            if pair is None:
                return {"spec": spec, "is_pair": False, "returned": describe(element)}
            images.append(np.asarray(pair[0]))
            labels.append(np.asarray(pair[1]))
        return {"spec": spec, "is_pair": True, "returned": "a pair",
                "images": np.stack(images), "labels": np.stack(labels)}

    @assignment.check("normalize_numpy", points=1,
                      title=tr("normalize returns float32 images for a NumPy uint8 array"),
                      hint=tr("Cast before dividing, e.g. tf.cast(images, tf.float32) / 255.0 or "
                              "images.astype('float32') / 255.0."))
    def normalize_float32(evidence, ctx):
        expect_pair(evidence, "normalize")
        images = evidence.array("images", tr("the normalized images"))
        if images.dtype != np.float32:
            raise CheckFailed(tr("Given uint8 images, normalize returned dtype {dtype}, not float32.",
                                 dtype=str(images.dtype)))

    @assignment.check("normalize_numpy", points=2, title=tr("normalize scales pixel values from [0, 255] to [0, 1]"),
                      hint=tr("Divide every pixel by 255 (not 256, not the image's own maximum)."))
    def normalize_values(evidence, ctx):
        expect_pair(evidence, "normalize")
        images = evidence.array("images", tr("the normalized images"))
        expected = evidence.inputs["images"].astype(np.float64) / 255.0
        if images.shape != expected.shape:
            raise CheckFailed(tr("The images changed shape: {before} went in, {after} came out.",
                                 before=expected.shape, after=images.shape))
        if not np.issubdtype(images.dtype, np.number):
            raise CheckFailed(tr("The images are not numbers (dtype {dtype}).", dtype=str(images.dtype)))
        low, high = float(np.min(images)), float(np.max(images))
        if not np.allclose(images, expected, atol=1e-5):
            raise CheckFailed(tr("Pixel 0 should become 0.0 and pixel 255 should become 1.0; your values "
                                 "range from {low:.4g} to {high:.4g}.", low=low, high=high))

    @assignment.check("normalize_numpy", points=1, title=tr("normalize returns the labels unchanged"),
                      hint=tr("Return the labels exactly as they came in; only the images change."))
    def normalize_labels_unchanged(evidence, ctx):
        expect_pair(evidence, "normalize")
        labels = evidence.array("labels", tr("the labels"))
        expected = evidence.inputs["labels"]
        if labels.shape != expected.shape or not np.array_equal(labels, expected):
            raise CheckFailed(tr("The labels that came back differ from the labels that went in."))
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
        image_dtype = spec[0]["dtype"] if isinstance(spec, list) and isinstance(spec[0], dict) else spec
        if image_dtype != "float32":
            raise CheckFailed(tr("After dataset.map(normalize) the images have dtype {dtype}, not float32.",
                                 dtype=str(image_dtype)))
        images = evidence.array("images", tr("the mapped images"))
        labels = evidence.array("labels", tr("the mapped labels"))
        if images.shape != evidence.inputs["images"].shape or not np.allclose(
                images, evidence.inputs["images"] / 255.0, atol=1e-5):
            raise CheckFailed(tr("Inside Dataset.map the images are not scaled to [0, 1] like image / 255."))
        if not np.array_equal(labels, evidence.inputs["labels"]):
            raise CheckFailed(tr("Inside Dataset.map the labels changed."))


# ----------------------------------------------------------------- classifiers
def add_classifier_checks(assignment: Assignment, *, builder: str, input_shape: tuple[int, ...],
                          layers: list[str], parameters: int, min_accuracy: float,
                          train_size: int, test_size: int, epochs: int, prefix: str) -> None:
    """A compiled 10-class softmax classifier: structure, compile settings and a training run."""

    probe_name = f"{prefix}_build"

    @assignment.probe(uses=builder, name=probe_name)
    def build(student, inputs, ctx):
        model = student.call(builder)
        return {"model": model, "returned": describe(model)}

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
        found = _models.input_shape(evidence.model("model", what))
        if found != (None, *input_shape):
            raise CheckFailed(tr("The model's input shape is {found}; expected {expected}.", found=found,
                                 expected=shape_text))

    @register("output_shape", 1, tr("the model outputs 10 class scores per image"),
              tr("The last layer must be Dense(10)."))
    def model_output_shape(evidence, ctx):
        model = evidence.model("model", what)
        batch, _ = sample_batch(ctx, model, 4)
        output = _models.predict(model, batch, tr("The model"))
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
        _models.expect_parameter_count(model, parameters)

    @register("layers", 2, tr("the layers are the ones asked for, in order"),
              tr("Follow the layer list in the instructions; an activation may be a layer or an argument."))
    def layer_order(evidence, ctx):
        _models.expect_stack(modelspec.layer_stack(evidence.model("model", what)), layers)

    @register("softmax_output", 1, tr("the output layer gives probabilities (softmax)"),
              tr("Give the last Dense layer activation='softmax'."))
    def softmax_output(evidence, ctx):
        model = evidence.model("model", what)
        batch, _ = sample_batch(ctx, model, 8)
        output = _models.predict(model, batch, tr("The model")).astype(np.float64)
        if output.ndim != 2 or np.any(output < -1e-6) or not np.allclose(output.sum(axis=1), 1.0, atol=1e-4):
            raise CheckFailed(tr("The outputs are not probabilities: each row should be non-negative and sum to 1."))

    @register("optimizer", 1, tr("compiled with the Adam optimizer"),
              tr("model.compile(optimizer='adam', ...) or optimizer=keras.optimizers.Adam()."))
    def optimizer(evidence, ctx):
        _models.require_optimizer(evidence.model("model", what), "Adam")

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
        scores = _models.require_accuracy_metric(model, batch, labels)
        predicted = np.argmax(_models.predict(model, batch, tr("The model")), axis=1)
        if abs(float(scores["accuracy"]) - float(np.mean(predicted == labels))) > 1e-4:
            raise CheckFailed(tr("The metric named 'accuracy' does not match the share of correctly classified "
                                 "images."))

    @register("trains", 3, tr("reaches at least {min_accuracy:.0%} test accuracy after a short training run",
                              min_accuracy=min_accuracy),
              tr("Check the activations, the loss and the optimizer: a correct model learns this data quickly."),
              threshold=min_accuracy)
    def trains(evidence, ctx, threshold):
        fresh = evidence.model("model", what, fresh=True)  # training must not change what other checks see
        train, test = ctx.fashion_mnist(train_size, test_size)
        run = ctx.train_and_evaluate(fresh, train, test, epochs=epochs, batch_size=32,
                                     max_params=20 * parameters)
        return _models.require_accuracy(run, threshold, epochs=epochs, n_train=train_size)
