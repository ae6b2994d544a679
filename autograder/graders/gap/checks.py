"""gap checks (grading process): image pre-processing, a convolutional head, Flatten+Dense vs global average pooling."""
from __future__ import annotations

import functools

import numpy as np

from autograder.core.i18n import Text, tr
from autograder.core.spec import Assignment, CheckFailed
from autograder.core.wire import describe
from autograder.graders.common import models
from autograder.graders.common.checks import pair_spec, value_range
from autograder.graders.common.contract import shapes
from autograder.graders.common.models import real_numbers
from autograder.graders.gap.contract import HEAD_OUTPUT_100, N_FLAT, TRAIN_SIZE, calls, reference_head
from autograder.host import modelspec

ASSIGNMENT = Assignment(
    id="gap",
    title=tr("Convolutional head, Flatten + Dense classifier and global average pooling"),
    student_names=("pre_process_image", "build_head", "build_standard_classifier", "add_gap"),
)

DEFAULT_SIZE = 100
HEAD_SIZES = (40, 44, 48, 52, 56, 64)  # build_head(<drawn>) -> (3, 3, 64) ... (6, 6, 64)
DROPOUT_RATES = (0.15, 0.25, 0.35, 0.4, 0.45)  # build_standard_classifier(dropout_rate=<drawn>); never 0.5 or 0.3
HEAD_PARAMETERS, HEAD_TRAINABLE = 29_152, 28_896
CLASSIFIER_PARAMETERS = 676_301
HEAD_LAYERS = [op for filters in (32, 32, 64) for op in
               (f"Conv2D({filters}, 3x3, valid)", "BatchNormalization", "ReLU", "MaxPooling2D(2x2, strides 2)")]
CLASSIFIER_LAYERS = ["Flatten", "BatchNormalization", "Dense(100)", "ReLU", "BatchNormalization", "Dense(100)",
                     "ReLU", "Dense(1)", "Sigmoid"]
GAP_LAYERS = ["GlobalAveragePooling2D", "Dense(1)", "Sigmoid"]
GAP_ADDED_PARAMETERS = 65  # Dense(1) on the 64 averages: 64 weights and a bias (pooling has none)
MIN_ACCURACY, N_TRAIN, N_TEST, EPOCHS, BATCH, MAX_TRAIN_PARAMETERS = 0.80, 400, 200, 2, 16, 200_000


def head_output_size(size: int) -> int:
    for _ in range(3):
        size = (size - 2) // 2
    return size


# ----------------------------------------------------------------- pre_process_image
PICTURE_SIZES = ((37, 53), (64, 64), (120, 90))  # smooth pictures: wide, square, tall
SMALL_SIZES = (16, 20, 24, 28, 32, 40, 48)        # pre_process_image(..., image_size=<drawn>)
SCALE_TOLERANCE = 0.02                            # what any interpolation may add to a smooth picture's range
FLAT_TOLERANCE = 1e-3                             # what resizing may change in a one-colour picture (float32 rounding)


def _smooth_images(seed: int) -> dict:
    """Smooth uint8 pictures of different shapes, one-colour pictures, their labels and drawn sizes.

    The smooth pictures' ranges differ: the first spans 0-255, the second's largest pixel is drawn
    from 150-230 and the third is dark (largest pixel 20-60), so scaling by a picture's own range
    instead of by 255 shows. Any sensible interpolation keeps a smooth picture's range and a
    one-colour picture's colour (also when it crops), so the scale is judged without knowing how
    the picture was resized.
    """
    rng = np.random.default_rng(seed + 303)
    inputs: dict = {}
    highs = (255, int(rng.integers(150, 231)), int(rng.integers(20, 61)))
    for k, ((h, w), high) in enumerate(zip(PICTURE_SIZES, highs)):
        y, x = np.mgrid[0:h, 0:w] / max(h, w)
        phases = rng.uniform(0, 2 * np.pi, size=(3, 2))
        channels = [0.5 + 0.4 * np.sin(2 * np.pi * (1.3 * y + p[0])) * np.cos(2 * np.pi * (0.9 * x + p[1]))
                    for p in phases]
        image = np.stack(channels, axis=-1)
        image[0, 0] = (0.0, 1.0, 0.5)  # both ends of the picture's range occur
        inputs[f"image{k}"] = np.clip(np.rint(image * high), 0, 255).astype(np.uint8)
    for k, high in enumerate((int(rng.integers(120, 231)), int(rng.integers(20, 61)))):
        h = int(rng.integers(max(SMALL_SIZES) + 2, 90))  # larger than any drawn size: cropping never pads
        w = h + int(rng.integers(5, 30))                  # never square
        colour = rng.integers(0, high + 1, size=3)
        colour[rng.integers(3)] = high
        inputs[f"flat{k}"] = np.broadcast_to(colour.astype(np.uint8), (h, w, 3)).copy()
    labels = rng.integers(0, 2, size=3 + N_FLAT)
    labels[:2] = (0, 1)
    inputs["labels"] = rng.permutation(labels).astype(np.int64)
    inputs["sizes"] = [int(v) for v in rng.choice(SMALL_SIZES, size=3, replace=False)]
    return inputs


ASSIGNMENT.probe("pre_process", uses="pre_process_image", inputs=_smooth_images)


def _expected_resize(image: np.ndarray, size: int) -> np.ndarray:
    import tensorflow as tf

    return tf.image.resize(image.astype(np.float32) / 255.0, (size, size)).numpy()


def _picture_text(image: np.ndarray) -> Text:
    if np.all(image == image[:1, :1]):
        return tr("a {height}x{width} picture of one colour {colour}", height=image.shape[0], width=image.shape[1],
                  colour=tuple(int(c) for c in image[0, 0]))
    return tr("a {height}x{width} picture with pixels from {low} to {high}", height=image.shape[0],
              width=image.shape[1], low=int(image.min()), high=int(image.max()))


def _outputs(evidence) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """(pre-processed image, input picture, image_size) of every call with a drawn image_size."""
    outputs = []
    for key, image_key, size, _ in calls(evidence.inputs):
        if not evidence.get(f"{key}_is_pair"):
            raise CheckFailed(tr("pre_process_image should return a pair (image, label); it returned {returned}.",
                                 returned=evidence.get(f"{key}_returned")))
        outputs.append((evidence.array(key, tr("the pre-processed image")), evidence.inputs[image_key], size))
    return outputs


def _default(evidence) -> np.ndarray:
    if not evidence.get("default_is_pair"):
        raise CheckFailed(tr("pre_process_image should return a pair (image, label); it returned {returned}.",
                             returned=evidence.get("default_returned")))
    default = evidence.array("default", tr("the image pre-processed with the default size"))
    if default.shape != (DEFAULT_SIZE, DEFAULT_SIZE, 3) or not real_numbers(default):
        raise CheckFailed(tr("With the default image_size the image came back as {found}; expected shape "
                             "({size}, {size}, 3).", found=describe(default), size=DEFAULT_SIZE))
    return default


@ASSIGNMENT.check("pre_process", points=1, title=tr("pre_process_image returns float32 images"),
                  hint=tr("tf.cast(image, tf.float32) before dividing; tf.image.resize also returns float32."))
def pre_process_float32(evidence, ctx):
    for image, picture, _ in _outputs(evidence):
        if image.dtype != np.float32:
            raise CheckFailed(tr("Given {picture} (uint8), pre_process_image returned dtype {dtype}, not float32.",
                                 picture=_picture_text(picture), dtype=str(image.dtype)))


@ASSIGNMENT.check("pre_process", points=2, title=tr("pixel values are scaled from [0, 255] to [0, 1]"),
                  hint=tr("Divide by 255.0 (after casting to float32), not by the picture's own largest value."))
def pre_process_scaled(evidence, ctx):
    for image, picture, size in _outputs(evidence):
        if not real_numbers(image) or image.size == 0:
            raise CheckFailed(tr("The image that came back is not numeric pixels ({dtype}, {shape}).",
                                 dtype=str(image.dtype), shape=image.shape))
        low, high = value_range(image)
        expected_low, expected_high = float(picture.min()) / 255.0, float(picture.max()) / 255.0
        inside = expected_low - SCALE_TOLERANCE <= low and high <= expected_high + SCALE_TOLERANCE
        if np.all(picture == picture[:1, :1]) and image.ndim == 3 and image.shape[-1] == 3:
            # one colour: every resize or crop keeps it exactly, so its scale is judged to float precision
            # (dividing by 256 or 254 instead of 255 moves a bright channel by more than 1e-3)
            colour = picture[0, 0].astype(np.float64) / 255.0
            inside = inside and float(np.max(np.abs(image.astype(np.float64) - colour))) <= FLAT_TOLERANCE
        if not inside:
            raise CheckFailed(tr("Given {picture} and image_size={size}, pre_process_image returned values from "
                                 "{low:.4g} to {high:.4g}; pixel / 255 gives {expected_low:.4g} to "
                                 "{expected_high:.4g}.",
                                 picture=_picture_text(picture), size=size, low=low, high=high,
                                 expected_low=expected_low, expected_high=expected_high))


@ASSIGNMENT.check("pre_process", points=2, title=tr("images are resized to image_size x image_size (100 by default)"),
                  hint=tr("tf.image.resize(image, (image_size, image_size)) with the function's argument."))
def pre_process_resized(evidence, ctx):
    for key, _, _, _ in calls(evidence.inputs):
        models.raise_failed_call(evidence, f"{key}_sized")
    for image, picture, size in _outputs(evidence):
        height, width = picture.shape[:2]
        if image.shape != (size, size, 3):
            raise CheckFailed(tr("A {height}x{width} image with image_size={size} came back with shape "
                                 "{shape}; expected ({size}, {size}, 3).",
                                 height=height, width=width, size=size, shape=image.shape))
    if not evidence.get("default_is_pair"):
        raise CheckFailed(tr("pre_process_image should return a pair (image, label); it returned {returned}.",
                             returned=evidence.get("default_returned")))
    default = evidence.array("default", tr("the image pre-processed with the default size"))
    if default.shape != (DEFAULT_SIZE, DEFAULT_SIZE, 3):
        raise CheckFailed(tr("With the default image_size the image has shape {shape}; expected "
                             "({size}, {size}, 3).", shape=default.shape, size=DEFAULT_SIZE))


@ASSIGNMENT.check("pre_process", points=1, title=tr("the resized image shows the same picture"),
                  hint=tr("Resize the whole picture (tf.image.resize); cropping or padding changes what is shown."))
def pre_process_values(evidence, ctx):
    default = _default(evidence)
    expected = _expected_resize(evidence.inputs["image0"], DEFAULT_SIZE)
    scale = 255.0 if float(np.max(default)) > 1.5 else 1.0  # judge the picture, not the scaling
    difference = float(np.mean(np.abs(default.astype(np.float64) / scale - expected)))
    if not difference <= 0.03:
        raise CheckFailed(tr("The resized image differs from the resized input picture by {difference:.3f} on "
                             "average (on a 0-1 scale); the picture itself was changed.", difference=difference))


@ASSIGNMENT.check("pre_process", points=1, title=tr("the label is returned unchanged"),
                  hint=tr("Return the label exactly as it came in."))
def pre_process_label(evidence, ctx):
    _outputs(evidence)
    for key, _, _, index in calls(evidence.inputs):
        label = evidence.array(f"{key}_label", tr("the label"))
        given = int(evidence.inputs["labels"][index])
        if label.shape != () or not np.issubdtype(label.dtype, np.integer) or int(label) != given:
            raise CheckFailed(tr("Label {label} came back as {found}.", label=given,
                                 found=f"{label.tolist()!s:.60} ({label.dtype})"))


@ASSIGNMENT.check("pre_process", points=2, title=tr("pre_process_image works inside Dataset.map on images of any size"),
                  hint=tr("Use TensorFlow operations only (tf.cast, tf.image.resize), no NumPy or .numpy() calls."))
def pre_process_dataset_map(evidence, ctx):
    if evidence.get("mapped_error"):
        raise CheckFailed(Text.from_json(evidence.get("mapped_error")))
    spec = evidence.value("mapped_spec", tr("the mapped dataset's element_spec"))
    pair = pair_spec(spec)
    if pair is None:
        raise CheckFailed(tr("Each mapped element should be an (image, label) pair; the element_spec is {spec}.",
                             spec=str(spec)[:300]))
    if pair[0][0] != "float32":
        raise CheckFailed(tr("After dataset.map the images have dtype {dtype}, not float32.", dtype=pair[0][0]))
    mapped = evidence.get("mapped_images")
    if isinstance(mapped, str):
        raise CheckFailed(tr("Images of different sizes did not all come out as ({size}, {size}, 3) ({found}).",
                             size=DEFAULT_SIZE, found=mapped))
    images = evidence.array("mapped_images", tr("the mapped images"))
    direct = evidence.array("default", tr("the image pre-processed directly"))
    if images.shape[1:] != direct.shape or not (real_numbers(images) and real_numbers(direct)) or not np.allclose(
            images[0], direct, atol=1e-4):
        raise CheckFailed(tr("Inside Dataset.map the result differs from calling pre_process_image directly."))


# ----------------------------------------------------------------- build_head
def _head_inputs(seed: int) -> dict:
    return {"size": int(np.random.default_rng(seed + 304).choice(HEAD_SIZES))}


ASSIGNMENT.probe("head", uses="build_head", inputs=_head_inputs)


def _head(evidence, key="small"):
    what = "build_head()" if key == "default" else f"build_head({evidence.inputs['size']})"
    return models.model(evidence, key, tr("the model returned by {call}", call=what))


@ASSIGNMENT.check("head", points=1, title=tr("build_head returns a Keras model"),
                  hint=tr("Build a keras.Sequential starting with keras.Input((image_size, image_size, 3))."))
def head_returns_model(evidence, ctx):
    _head(evidence)


@ASSIGNMENT.check("head", points=1, title=tr("the head takes image_size x image_size RGB images"),
                  hint=tr("Use the image_size argument: keras.Input((image_size, image_size, 3))."))
def head_input_shape(evidence, ctx):
    found, size = models.input_shape(_head(evidence)), evidence.inputs["size"]
    if found != (None, size, size, 3):
        raise CheckFailed(tr("build_head({size}) takes inputs of shape {found}; expected (None, {size}, {size}, 3).",
                             size=size, found=found))


@ASSIGNMENT.check("head", points=1, title=tr("the head's output has the shape valid convolutions and pooling give"),
                  hint=tr("3x3 convolutions without padding (padding='valid') shrink each side by 2; 2x2 pooling "
                          "halves it."))
def head_output_shape(evidence, ctx):
    model, size = _head(evidence), evidence.inputs["size"]
    side = head_output_size(size)
    batch = np.random.default_rng(ctx.seed).uniform(0, 1, (2, size, size, 3)).astype(np.float32)
    output = models.predict(model, batch, f"build_head({size})")
    if output.shape != (2, side, side, 64):
        raise CheckFailed(tr("For 2 images of {size}x{size} the head returned shape {shape}; "
                             "expected (2, {side}, {side}, 64).", size=size, shape=output.shape, side=side))


@ASSIGNMENT.check("head", points=1, title=tr("with the default image_size the head maps (100, 100, 3) to (10, 10, 64)"),
                  hint=tr("Give image_size the default value IMAGE_SIZE (100)."))
def head_default_size(evidence, ctx):
    model = _head(evidence, "default")
    found_in = models.input_shape(model)
    shape = shapes(model)["output_shape"]
    found_out = None if shape is None else tuple(shape)
    if found_in != (None, DEFAULT_SIZE, DEFAULT_SIZE, 3) or found_out != (None, *HEAD_OUTPUT_100):
        raise CheckFailed(tr("build_head() maps {found_in} to {found_out}; expected (None, 100, 100, 3) to "
                             "(None, 10, 10, 64).", found_in=found_in, found_out=found_out))


@ASSIGNMENT.check("head", points=2, title=tr("the head has {parameters:,} parameters, {trainable:,} trainable",
                           parameters=HEAD_PARAMETERS, trainable=HEAD_TRAINABLE),
                  hint=tr("Three Conv2D layers with 32, 32 and 64 filters of 3x3, each followed by BatchNormalization "
                          "(whose moving mean and variance are the non-trainable parameters)."))
def head_parameters(evidence, ctx):
    total, trainable, _ = models.weight_counts(_head(evidence, "default"))
    if (total, trainable) != (HEAD_PARAMETERS, HEAD_TRAINABLE):
        raise CheckFailed(tr("The head has {total:,} parameters of which {trainable:,} are trainable; expected "
                             "{expected_total:,} and {expected_trainable:,}.", total=total, trainable=trainable,
                             expected_total=HEAD_PARAMETERS, expected_trainable=HEAD_TRAINABLE))


@ASSIGNMENT.check("head", points=2, title=tr("each block is Conv2D → BatchNormalization → ReLU → MaxPooling2D"),
                  hint=tr("Normalize the convolution's output before the activation: Conv2D without activation, "
                          "then BatchNormalization, then ReLU, then MaxPooling2D((2, 2))."))
def head_layers(evidence, ctx):
    models.expect_stack(modelspec.layer_stack(_head(evidence)), HEAD_LAYERS)


# ----------------------------------------------------------------- build_standard_classifier
def _classifier_inputs(seed: int) -> dict:
    return {"dropout_rate": float(np.random.default_rng(seed + 305).choice(DROPOUT_RATES))}


ASSIGNMENT.probe("classifier", uses="build_standard_classifier", inputs=_classifier_inputs)


def _classifier(evidence, key="plain"):
    call = (f"build_standard_classifier(dropout_rate={evidence.inputs['dropout_rate']:g})" if key == "dropout"
            else "build_standard_classifier()")
    return models.model(evidence, key, tr("the model returned by {call}", call=call))


@ASSIGNMENT.check("classifier", points=1, title=tr("build_standard_classifier returns a Keras model"),
                  hint=tr("Return keras.Sequential([...]) without an Input: it is stacked on the head."))
def classifier_returns_model(evidence, ctx):
    _classifier(evidence)


@ASSIGNMENT.check("classifier", points=2, title=tr("the classifier's layers are the ones asked for, in order"),
                  hint=tr("Flatten → BatchNormalization → Dense(100) → ReLU → BatchNormalization → Dense(100) → ReLU "
                          "→ Dense(1) → sigmoid; without dropout_rate there is no Dropout layer."))
def classifier_layers(evidence, ctx):
    models.expect_stack(modelspec.layer_stack(_classifier(evidence)), CLASSIFIER_LAYERS)


@ASSIGNMENT.check("classifier", points=2,
                  title=tr("on the 100-pixel head's output the classifier has {parameters:,} parameters",
                           parameters=CLASSIFIER_PARAMETERS),
                  hint=tr("Flatten gives 10·10·64 = 6,400 values; BatchNormalization on them has 4·6,400 parameters and "
                          "Dense(100) 6,400·100 + 100."))
def classifier_parameters(evidence, ctx):
    total, _, _ = models.weight_counts(_classifier(evidence))
    if total != CLASSIFIER_PARAMETERS:
        raise CheckFailed(tr("Built on (10, 10, 64) features the classifier has {total:,} parameters; expected "
                             "{expected:,}.", total=total, expected=CLASSIFIER_PARAMETERS))


@ASSIGNMENT.check("classifier", points=1, title=tr("the classifier outputs one probability per image (sigmoid)"),
                  hint=tr("The last layer is Dense(1, activation='sigmoid')."))
def classifier_probability(evidence, ctx):
    model = _classifier(evidence)
    features = np.random.default_rng(ctx.seed).normal(0, 3, (16, *HEAD_OUTPUT_100)).astype(np.float32)
    output = models.predict(model, features, tr("The classifier"))
    if output.shape != (16, 1):
        raise CheckFailed(tr("For 16 feature maps the classifier returned shape {shape}; expected (16, 1).",
                             shape=output.shape))
    if np.any(output < 0) or np.any(output > 1) or np.ptp(output) < 1e-6:
        raise CheckFailed(tr("The outputs range from {low:.3g} to {high:.3g}; a sigmoid gives varying values "
                             "between 0 and 1.", low=float(output.min()), high=float(output.max())))


@ASSIGNMENT.check("classifier", points=2, title=tr("dropout_rate adds Dropout(dropout_rate) after the first ReLU"), hidden=True,
                  hint=tr("if dropout_rate is not None: add layers.Dropout(dropout_rate) right after the first "
                          "Dense(100)'s ReLU; use the argument, not a fixed rate."))
def classifier_dropout(evidence, ctx):
    plain = modelspec.layer_stack(_classifier(evidence))
    with_dropout = modelspec.layer_stack(_classifier(evidence, "dropout"))
    if any(op.startswith("Dropout") for op in plain):
        raise CheckFailed(tr("Without dropout_rate the classifier should have no Dropout layer."))
    if "ReLU" not in plain:
        raise CheckFailed(tr("The classifier has no ReLU after its first Dense layer."))
    position = plain.index("ReLU") + 1
    rate = evidence.inputs["dropout_rate"]
    expected = plain[:position] + [f"Dropout({rate:g})"] + plain[position:]
    if with_dropout != expected:
        raise CheckFailed(tr("With dropout_rate={rate} the layers are {found}; expected {expected}.",
                             rate=f"{rate:g}", found=" → ".join(with_dropout), expected=" → ".join(expected)),
                          details={"layers": {"expected": expected, "found": with_dropout}})


# ----------------------------------------------------------------- add_gap
ASSIGNMENT.probe("gap_model", uses="add_gap")


def _gap(evidence, fresh=False):
    return models.model(evidence, "model", tr("the model returned by {call}", call="add_gap(head)"), fresh=fresh)


def model_inputs(images: np.ndarray) -> np.ndarray:
    """What the grading runs feed the GAP model: pixels scaled to [0, 1], as pre_process_image does."""
    return images.astype(np.float32) / 255.0


def _images(ctx, n=32):
    _, test = ctx.two_class_images(N_TRAIN, N_TEST, TRAIN_SIZE)
    return model_inputs(test.images[:n]), test.labels[:n]


@ASSIGNMENT.check("gap_model", points=1, title=tr("add_gap returns a Keras model"),
                  hint=tr("Stack the head, GlobalAveragePooling2D and Dense(1, activation='sigmoid'), compile, return."))
def gap_returns_model(evidence, ctx):
    _gap(evidence)


@ASSIGNMENT.check("gap_model", points=1, title=tr("the model outputs one value per image"),
                  hint=tr("The last layer is Dense(1, ...)."))
def gap_output_shape(evidence, ctx):
    x, _ = _images(ctx, 4)
    models.expect_one_output_per_image(_gap(evidence), x)


@ASSIGNMENT.check("gap_model", points=2, title=tr("the head is followed by GlobalAveragePooling2D and Dense(1, sigmoid)"),
                  hint=tr("head → layers.GlobalAveragePooling2D() → layers.Dense(1, activation='sigmoid'); no Flatten."))
def gap_layers(evidence, ctx):
    models.expect_stack(modelspec.layer_stack(_gap(evidence)), HEAD_LAYERS + GAP_LAYERS)


@functools.cache
def _given_head_parameters() -> int:
    """The parameters of the head the gap_model probe hands add_gap: the kit's own head, so counted here. A count
    the worker reported could be forged by student code running beside it (a red-team submission patched
    Layer.count_params to earn this check with a Flatten model)."""
    return int(reference_head(TRAIN_SIZE).count_params())


@functools.cache
def _given_head_trainable() -> int:
    """The head's parameters that training updates (all but BatchNormalization's moving averages), counted here as
    :func:`_given_head_parameters` is."""
    return models.weight_counts(reference_head(TRAIN_SIZE))[1]


@ASSIGNMENT.check("gap_model", points=2, title=tr("global average pooling adds only 65 parameters to the head"),
                  hint=tr("Pooling has no parameters; Dense(1) on 64 averages has 64 weights and 1 bias."))
def gap_parameters(evidence, ctx):
    total, _, _ = models.weight_counts(_gap(evidence))
    added = total - _given_head_parameters()
    if added != GAP_ADDED_PARAMETERS:
        raise CheckFailed(tr("The model adds {added:,} parameters to the head; expected {expected}.", added=added,
                             expected=GAP_ADDED_PARAMETERS))


@ASSIGNMENT.check("gap_model", points=1, title=tr("the model is built on the head it was given"),
                  hint=tr("Use the `head` argument (for example keras.Sequential([head, ...])); do not build a new one."))
def gap_uses_head(evidence, ctx):
    if not models.holds_weights(_gap(evidence), evidence.array("head_kernel")):
        raise CheckFailed(tr("The model does not contain the head's layers it was given."))


def _trainable_shortfall(evidence) -> tuple[int, int] | None:
    """(trainable, expected) where the model trains fewer parameters than the head it is given and the 65 new ones
    (a frozen part: the head, most often); None where it trains them all."""
    _, trainable, _ = models.weight_counts(_gap(evidence))
    expected = _given_head_trainable() + GAP_ADDED_PARAMETERS
    return (trainable, expected) if trainable < expected else None


@ASSIGNMENT.check("gap_model", points=1, title=tr("the model trains the head it was given (the head is not frozen)"),
                  hint=tr("Leave head.trainable as it is: add_gap's model trains the head and the new Dense layer "
                          "together."))
def gap_head_trainable(evidence, ctx):
    """Structural, not left to gap_trains: a frozen head reaches its threshold on some seeds (benchmarks/
    calibrate_binary.py's frozen-head variant: 3 of 20 with 2 epochs, 11 of 20 with 4), so there only some
    courses' seeds would catch it."""
    shortfall = _trainable_shortfall(evidence)
    if shortfall is not None:
        raise CheckFailed(tr("Only {trainable:,} of the model's parameters are trainable, where the head and the new "
                             "layers have {expected:,} to train: is the head frozen?", trainable=shortfall[0],
                             expected=shortfall[1]))


@ASSIGNMENT.check("gap_model", points=1, title=tr("the output is a probability (sigmoid)"),
                  hint=tr("Dense(1, activation='sigmoid'): softmax over one unit is always 1."))
def gap_probability(evidence, ctx):
    x, _ = _images(ctx, 16)
    output = models.predict(_gap(evidence), x, tr("The model"))
    if output.size == 0:
        raise CheckFailed(tr("For {n} images the model returned shape {shape}; expected ({n}, 1).", n=len(x),
                             shape=output.shape))
    if not np.all(np.isfinite(output)) or np.any(output < 0) or np.any(output > 1):
        raise CheckFailed(tr("The outputs range from {low:.3g} to {high:.3g}, outside [0, 1].",
                             low=float(output.min()), high=float(output.max())))
    if np.ptp(output) < 1e-6:
        raise CheckFailed(tr("The output is {value:.3g} for every image.", value=float(output.flat[0])))


@ASSIGNMENT.check("gap_model", points=1, title=tr("compiled with the Adam optimizer"),
                  hint=tr("model.compile(optimizer='adam', ...)."))
def gap_optimizer(evidence, ctx):
    models.require_optimizer(_gap(evidence), "Adam")


@ASSIGNMENT.check("gap_model", points=1, title=tr("compiled with binary cross-entropy on probabilities"),
                  hint=tr("loss='binary_crossentropy' (from_logits stays False: the sigmoid outputs probabilities)."))
def gap_loss(evidence, ctx):
    models.require_binary_loss(_gap(evidence), from_logits=False)


@ASSIGNMENT.check("gap_model", points=1, title=tr("reports an 'accuracy' metric"),
                  hint=tr("model.compile(..., metrics=['accuracy'])."))
def gap_accuracy_metric(evidence, ctx):
    x, y = _images(ctx)
    models.require_accuracy_metric(_gap(evidence), x, y)


@ASSIGNMENT.check("gap_model", points=3,
                  title=tr("reaches at least {min_accuracy:.0%} test accuracy after a short training run",
                           min_accuracy=MIN_ACCURACY),
                  hint=tr("Check the output activation, the loss and the optimizer, and leave the head trainable: a "
                          "correct model learns this quickly."),
                  threshold=MIN_ACCURACY)
def gap_trains(evidence, ctx, threshold=MIN_ACCURACY):
    try:
        return models.expect_two_class_accuracy(ctx, _gap(evidence, fresh=True), image_size=TRAIN_SIZE,
                                                n_train=N_TRAIN, n_test=N_TEST, epochs=EPOCHS, batch_size=BATCH,
                                                max_params=MAX_TRAIN_PARAMETERS, inputs=model_inputs,
                                                min_accuracy=threshold)
    except CheckFailed as failure:
        shortfall = _trainable_shortfall(evidence)  # the likeliest reason the run fell short, where there is one
        if shortfall is None:
            raise
        raise CheckFailed(tr("{failure} Only {trainable:,} of the model's parameters are trainable, where the head "
                             "and the new layers have {expected:,} to train: is the head frozen? add_gap's model "
                             "must train the head too.", failure=failure.message, trainable=shortfall[0],
                             expected=shortfall[1]), failure.details) from failure
