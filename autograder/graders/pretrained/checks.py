"""pretrained checks (grading process): loading pictures, preprocess_input, decoding predictions, VGG16 features.

Nothing here needs ImageNet weights: predictions are judged on a small model
whose outputs the kit knows, and the feature extractor on VGG16 with
``weights=None``. Decoding class names needs ImageNet's class index, which the
kit hands to the sandbox offline (see :mod:`autograder.host.imagenet`). The probes
declared here by name run in the sandbox worker (``probes.py``).
"""
from __future__ import annotations

import numpy as np

from autograder.core.i18n import tr
from autograder.core.spec import Assignment, CheckFailed
from autograder.core.wire import describe
from autograder.graders.common import checks as common, models
from autograder.graders.common.contract import shapes
from autograder.graders.common.models import real_numbers
from autograder.graders.pretrained.contract import (BATCHES, FEATURE_BATCHES, FEATURE_INPUT, KNOWN_INPUT,
                                                    MODEL_NAMES, N_CLASSES, TARGET, features_model, top_calls)

ASSIGNMENT = Assignment(
    id="pretrained",
    title=tr("Pre-trained ResNet50 and VGG16: predictions and feature extraction"),
    student_names=("load_image_batch", "preprocess", "top_predictions", "build_feature_extractor",
                   "extract_features"),
)

PICTURE_SHAPE = (40, 56, 3)
OTHER_TARGETS = ((36, 20), (30, 18), (40, 28), (28, 22))  # tall, where TARGET is wide
DEFAULT_TARGET = (224, 224)
UNKNOWN_NAMES = ("mobilenet", "inception_v3", "vgg19", "resnet101", "efficientnet")
# top_predictions(..., top=<drawn>) is called with one of each besides the default and 5: one above 5, the default
# of decode_predictions, so that slicing its five rows ([:top]) shows whatever the seed
FEWER_TOPS, MORE_TOPS = (1, 2, 4), (6, 7, 8, 10)
VGG_PARAMETERS = 14_714_688


# ----------------------------------------------------------------- load_image_batch
def _picture(seed: int) -> dict:
    """Two smooth pictures: one with a saturated pixel, one dim (its largest pixel drawn from 120-200), and a drawn
    second target_size that is tall where TARGET is wide."""
    rng = np.random.default_rng(seed + 505)
    h, w, _ = PICTURE_SHAPE
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    pictures = {}
    for name, high in (("picture", 255), ("dim_picture", int(rng.integers(120, 201)))):
        channels = [0.5 + 0.45 * np.sin(2 * np.pi * (a * y + b * x + c)) for a, b, c in rng.uniform(0.3, 1.2, (3, 3))]
        picture = np.stack(channels, -1)
        picture[0, 0] = (1.0, 0.0, 0.5)  # both ends of the picture's range occur
        pictures[name] = np.clip(np.rint(picture * high), 0, 255).astype(np.uint8)
    target = OTHER_TARGETS[int(rng.integers(len(OTHER_TARGETS)))]
    return {**pictures, "other_target": [int(target[0]), int(target[1])]}


ASSIGNMENT.probe("image_batch", uses="load_image_batch", inputs=_picture)


# (observation key, picture, target_size) of the calls with a target_size
def _loads(evidence) -> list[tuple[str, str, tuple[int, int]]]:
    return [("small", "picture", TARGET), ("other", "dim_picture", tuple(evidence.inputs["other_target"]))]


def _loaded(evidence, key="small") -> np.ndarray:
    value = evidence.get(key)
    if isinstance(value, str):
        raise CheckFailed(tr("load_image_batch should return an array; it returned {found}.", found=value))
    return evidence.array(key, tr("the loaded batch"))


@ASSIGNMENT.check("image_batch", points=1, title=tr("load_image_batch returns a float32 NumPy array"),
                  hint=tr("keras.utils.img_to_array gives float32; np.expand_dims keeps it a NumPy array."))
def image_batch_type(evidence, ctx):
    for key, _, _ in _loads(evidence):
        batch = _loaded(evidence, key)
        kind = evidence.get(f"{key}_type")
        if kind != "numpy.ndarray":
            raise CheckFailed(tr("load_image_batch returned a {found}; expected a numpy.ndarray.", found=kind))
        if batch.dtype != np.float32:
            raise CheckFailed(tr("The batch has dtype {dtype}; expected float32.", dtype=str(batch.dtype)))


@ASSIGNMENT.check("image_batch", points=2, title=tr("the picture comes back as a batch of one at target_size"),
                  hint=tr("Load with target_size=target_size, then add the batch axis: np.expand_dims(array, axis=0) "
                          "gives (1, height, width, 3)."))
def image_batch_shape(evidence, ctx):
    for key, _, target in _loads(evidence):
        batch = _loaded(evidence, key)
        expected = (1, *target, 3)
        if batch.shape == expected[1:]:
            raise CheckFailed(tr("The result has shape {found}: the batch axis is missing (expected {expected}).",
                                 found=batch.shape, expected=expected))
        if batch.shape != expected:
            raise CheckFailed(tr("With target_size={target} the result has shape {found}; expected {expected}.",
                                 target=target, found=batch.shape, expected=expected))


@ASSIGNMENT.check("image_batch", points=1, title=tr("the default target_size is 224 x 224"),
                  hint=tr("Keep the default target_size=(224, 224)."))
def image_batch_default_size(evidence, ctx):
    batch = _loaded(evidence, "default")
    if batch.ndim < 3 or batch.shape[-3:] != (*DEFAULT_TARGET, 3):
        raise CheckFailed(tr("By default the result has shape {found}; expected (1, 224, 224, 3).", found=batch.shape))


@ASSIGNMENT.check("image_batch", points=2, title=tr("pixel values stay in 0-255 and show the picture"),
                  hint=tr("keras.utils.load_img(path, target_size=target_size) resizes the whole picture, and "
                          "img_to_array keeps its 0-255 pixels: each model's preprocess_input expects those."))
def image_batch_values(evidence, ctx):
    import tensorflow as tf

    for key, name, target in _loads(evidence):
        batch = _loaded(evidence, key)
        picture = batch[0] if batch.ndim == 4 and len(batch) == 1 else batch  # the shape is another check's business
        if picture.ndim != 3 or picture.shape[-1] != 3 or 0 in picture.shape or not real_numbers(picture):
            raise CheckFailed(tr("The result is {found}, which does not hold one RGB picture.", found=describe(batch)))
        picture = picture.astype(np.float64)
        given = evidence.inputs[name]
        largest = float(picture.max())
        if largest <= 1.0 + 1e-6:
            raise CheckFailed(tr("The pixel values go up to {largest:.3g}: they were scaled to [0, 1].",
                                 largest=largest))
        expected = tf.image.resize(given.astype(np.float32), picture.shape[:2]).numpy()
        difference = float(np.mean(np.abs(picture - expected)))
        if not difference <= 12.0:
            raise CheckFailed(tr("Loaded with target_size={target}, a picture whose pixels go up to {high} gave pixels "
                                 "up to {largest:.4g} that differ from the picture by {difference:.1f} on average "
                                 "(0-255 scale).", target=target, high=int(given.max()), largest=largest,
                                 difference=difference))


# ----------------------------------------------------------------- preprocess
def _batch_inputs(seed: int) -> dict:
    """Two batches: float32 pixels spanning 0-255, and a float64 batch of another shape whose whole-number pixels
    stay below 255 (largest drawn from 120-200); and two drawn names no model has."""
    rng = np.random.default_rng(seed + 606)
    high = int(rng.integers(120, 201))
    other = rng.integers(0, high + 1, size=(int(rng.integers(1, 4)), 5, 7, 3)).astype(np.float64)
    other.flat[0] = high
    unknown = rng.choice(len(UNKNOWN_NAMES), size=2, replace=False)
    return {"batch": rng.uniform(0, 255, size=(2, 8, 8, 3)).astype(np.float32), "other_batch": other,
            "unknown_names": [UNKNOWN_NAMES[int(k)] for k in unknown]}


ASSIGNMENT.probe("preprocessing", uses="preprocess", inputs=_batch_inputs)


def _expected_preprocessing(name: str, batch: np.ndarray) -> np.ndarray:
    import keras

    module = {"resnet50": keras.applications.resnet50, "vgg16": keras.applications.vgg16}[name]
    return module.preprocess_input(batch.copy())


def _check_preprocessed(evidence, name: str) -> None:
    for prefix, batch in BATCHES:
        key, given = f"{prefix}{name}", evidence.inputs[batch]
        value = evidence.get(key)
        if isinstance(value, str):
            raise CheckFailed(tr("preprocess(batch, '{name}') should return an array; it returned {found}.",
                                 name=name, found=value))
        found = evidence.array(key, tr("the preprocessed batch"))
        expected = _expected_preprocessing(name, given)
        if found.shape != expected.shape:
            raise CheckFailed(tr("preprocess(batch, '{name}') returned shape {found}; expected {expected}.",
                                 name=name, found=found.shape, expected=expected.shape))
        if not real_numbers(found):
            raise CheckFailed(tr("preprocess(batch, '{name}') returned {found}; expected numbers.", name=name,
                                 found=describe(found)))
        found = found.astype(np.float64)
        if np.allclose(found, expected, atol=1e-3):
            continue
        if np.allclose(found, _expected_preprocessing(name, given / 255.0), atol=1e-3):
            raise CheckFailed(tr("The batch was scaled to [0, 1] before {name}'s preprocess_input; it expects 0-255 "
                                 "pixels.", name=name))
        if np.allclose(found, given, atol=1e-3):
            raise CheckFailed(tr("preprocess(batch, '{name}') returned the pixels unchanged.", name=name))
        raise CheckFailed(tr("Given a {dtype} batch of shape {shape} whose pixels go up to {high:.4g}, "
                             "preprocess(batch, '{name}') differs from keras.applications.{name}.preprocess_input "
                             "(largest difference {difference:.3g}).", dtype=str(given.dtype), shape=given.shape,
                             high=float(given.max()), name=name,
                             difference=float(np.max(np.abs(found - expected)))))


@ASSIGNMENT.check("preprocessing", points=2,
                  title=tr("preprocess(batch, '{name}') matches {model}'s preprocess_input", name="resnet50",
                           model="ResNet50"),
                  hint=tr("keras.applications.{name}.preprocess_input on the 0-255 pixels.", name="resnet50"))
def preprocess_resnet50(evidence, ctx):
    _check_preprocessed(evidence, "resnet50")


@ASSIGNMENT.check("preprocessing", points=2,
                  title=tr("preprocess(batch, '{name}') matches {model}'s preprocess_input", name="vgg16",
                           model="VGG16"),
                  hint=tr("keras.applications.{name}.preprocess_input on the 0-255 pixels.", name="vgg16"))
def preprocess_vgg16(evidence, ctx):
    _check_preprocessed(evidence, "vgg16")


@ASSIGNMENT.check("preprocessing", points=2, title=tr("the caller's array is left unchanged"),
                  hint=tr("preprocess_input may change a float array in place: pass it a copy "
                          "(np.array(batch, copy=True))."))
def preprocess_keeps_input(evidence, ctx):
    for prefix, batch in BATCHES:
        for name in MODEL_NAMES:
            after = evidence.array(f"{prefix}{name}_input_after", tr("the caller's array"))
            if not np.array_equal(after, evidence.inputs[batch]):
                raise CheckFailed(tr("After preprocess(batch, '{name}') the caller's {dtype} batch has changed.",
                                     name=name, dtype=str(evidence.inputs[batch].dtype)))


@ASSIGNMENT.check("preprocessing", points=1, title=tr("an unknown model name raises a clear ValueError"),
                  hint=tr("if model_name not in (...): raise ValueError(f\"... Received: {{model_name!r}}\")."))
def preprocess_unknown_name(evidence, ctx):
    for k, unknown in enumerate(evidence.inputs["unknown_names"]):
        outcome = evidence.value(f"unknown{k}", tr("what preprocess did with an unknown name"))
        if not isinstance(outcome, dict) or outcome.get("raised") is None:
            raise CheckFailed(tr("preprocess(batch, '{name}') returned a result instead of raising ValueError.",
                                 name=unknown))
        if outcome["raised"] != "ValueError":
            raise CheckFailed(tr("preprocess(batch, '{name}') raised {raised}, not ValueError.",
                                 name=unknown, raised=str(outcome["raised"])))
        message = str(outcome.get("message", ""))
        if unknown not in message and not all(name in message for name in MODEL_NAMES):
            raise CheckFailed(tr("The ValueError's message ({message!r}) names neither the value received nor the "
                                 "accepted names.", message=message))


# ----------------------------------------------------------------- top_predictions
def _known_model_inputs(seed: int) -> dict[str, np.ndarray]:
    """Weights of a Flatten → Dense(1000, softmax) model whose two images have distinct, untied top classes."""
    rng = np.random.default_rng(seed + 707)
    features = int(np.prod(KNOWN_INPUT))
    kernel = rng.normal(0, 0.02, size=(features, N_CLASSES)).astype(np.float32)
    bias = rng.normal(0, 0.5, size=N_CLASSES).astype(np.float32)
    favourites = rng.choice(N_CLASSES, size=10, replace=False)
    bias[favourites[:5]] += np.array([6.0, 5.5, 5.0, 4.5, 4.0], np.float32)   # first image's top five
    batch = rng.uniform(0, 1, size=(2, *KNOWN_INPUT)).astype(np.float32)
    batch[1] += 3.0
    kernel[:, favourites[5:]] += np.array([0.2, 0.19, 0.18, 0.17, 0.16], np.float32)  # second image differs
    return {"kernel": kernel, "bias": bias, "batch": batch,
            "tops": [int(rng.choice(FEWER_TOPS)), int(rng.choice(MORE_TOPS))]}


ASSIGNMENT.probe("predictions", uses="top_predictions", inputs=_known_model_inputs)


def _scores(evidence) -> np.ndarray:
    flat = evidence.inputs["batch"].reshape(len(evidence.inputs["batch"]), -1).astype(np.float64)
    logits = flat @ evidence.inputs["kernel"] + evidence.inputs["bias"]
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def _expected_rows(evidence, ctx, image: int, top: int) -> list[list]:
    index = ctx.imagenet_class_index()
    probabilities = _scores(evidence)[image]
    best = np.argsort(probabilities)[::-1][:top]
    return [[*index[str(int(k))], float(probabilities[k])] for k in best]


def _rows(evidence, key: str) -> list[list]:
    models.raise_failed_call(evidence, key)
    rows = evidence.value(key, tr("the predictions"))
    if not isinstance(rows, list):
        raise CheckFailed(tr("top_predictions should return a list of tuples; it returned {found}.", found=str(rows)))
    bad = [row for row in rows if not (isinstance(row, list) and len(row) == 3 and isinstance(row[0], str)
                                       and isinstance(row[1], str) and isinstance(row[2], (int, float)))]
    if bad:
        raise CheckFailed(tr("Each prediction should be a (class_id, class_name, score) tuple; found {found}. "
                           "Return decode_predictions(...)[0], the list for the first image.", found=bad[0]))
    return rows


def _same(found: list[list], expected: list[list]) -> bool:
    return len(found) == len(expected) and all(
        f[0] == e[0] and f[1] == e[1] and abs(f[2] - e[2]) < 1e-4 for f, e in zip(found, expected))


@ASSIGNMENT.check("predictions", points=1, title=tr("top_predictions returns 3 (class_id, class_name, score) tuples by default"),
                  hint=tr("Keep the default top=3 and return the list for the first image."))
def predictions_default_top(evidence, ctx):
    rows = _rows(evidence, "default")
    if len(rows) != 3:
        raise CheckFailed(tr("By default top_predictions returned {count} predictions; expected 3.", count=len(rows)))


@ASSIGNMENT.check("predictions", points=1, title=tr("top_predictions honours top"),
                  hint=tr("Pass top=top to decode_predictions."))
def predictions_top_argument(evidence, ctx):
    for key, top in top_calls(evidence.inputs["tops"]):
        rows = _rows(evidence, key)
        if len(rows) != top:
            raise CheckFailed(tr("With top={top} top_predictions returned {count} predictions.", top=top,
                                 count=len(rows)))


@ASSIGNMENT.check("predictions", points=2, title=tr("the classes are the model's best for the first image, best first"),
                  hint=tr("scores = model.predict(batch); decode_predictions(scores, top=top)[0]. Use the batch and "
                          "the scores as they come: the batch arrives preprocessed, and the scores are already "
                          "probabilities."))
def predictions_classes(evidence, ctx):
    for key, first in (("default", 0), ("swapped", 1)):  # "swapped": the same two images in the other order
        found = _rows(evidence, key)
        count = min(len(found), N_CLASSES) or 3
        expected = _expected_rows(evidence, ctx, first, count)
        if _same(found, expected):
            continue
        if _same(found, _expected_rows(evidence, ctx, 1 - first, count)):
            raise CheckFailed(tr("These are the predictions for the second image; return those of the first ([0])."))
        if _same(found[::-1], expected):
            raise CheckFailed(tr("The predictions are in reverse order; the best class comes first."))
        if [row[:2] for row in found] == [row[:2] for row in expected]:  # the classes are right, the scores not
            raise CheckFailed(tr("The classes are right ({names}), but the scores are not the model's probabilities: "
                                 "expected {expected}, got {found}. Give decode_predictions the scores "
                                 "model.predict returns, unchanged: the model already ends in softmax.",
                                 names=[row[1] for row in found], expected=[round(row[2], 5) for row in expected],
                                 found=[round(row[2], 5) for row in found]))
        names = [row[1] for row in found]
        raise CheckFailed(tr("Expected {expected} with scores {scores}; got {found}.",
                             expected=[row[1] for row in expected], scores=[round(row[2], 4) for row in expected],
                             found=names))


@ASSIGNMENT.check("predictions", points=1, title=tr("class ids are WordNet ids and scores are the model's probabilities"),
                  hint=tr("Keep decode_predictions' tuples as they are: (wnid such as 'n01440764', name, score)."))
def predictions_tuple_fields(evidence, ctx):
    index = ctx.imagenet_class_index()
    wnids = {entry[0] for entry in index.values()}
    found = _rows(evidence, "default")
    if any(row[0] not in wnids for row in found):
        raise CheckFailed(tr("The first field should be an ImageNet WordNet id; found {found!r}.", found=found[0][0]))
    if any(not 0.0 <= row[2] <= 1.0 for row in found):
        raise CheckFailed(tr("The scores should be probabilities between 0 and 1; found {scores}.",
                           scores=[row[2] for row in found]))


# ----------------------------------------------------------------- build_feature_extractor
ASSIGNMENT.probe("feature_extractor", uses="build_feature_extractor")


def _extractor(evidence):
    return models.model(evidence, "model",
                        tr("the model returned by build_feature_extractor(weights=None, input_shape={shape})",
                           shape=FEATURE_INPUT))


@ASSIGNMENT.check("feature_extractor", points=1, title=tr("build_feature_extractor returns a Keras model"),
                  hint=tr("keras.applications.VGG16(weights=weights, include_top=False, input_shape=input_shape)."))
def extractor_returns_model(evidence, ctx):
    _extractor(evidence)


@ASSIGNMENT.check("feature_extractor", points=2, title=tr("the classifier top is left out"),
                  hint=tr("include_top=False: no Flatten or Dense layers; the output is a stack of feature maps."))
def extractor_no_top(evidence, ctx):
    model = _extractor(evidence)
    extra = models.classifier_top(model)
    if extra:
        raise CheckFailed(tr("The model ends in {layers}: that is the classifier top.", layers=", ".join(extra)))
    output = shapes(model)["output_shape"]
    if output is None:
        raise CheckFailed(tr("The model has no input shape yet, so Keras has not built it."))
    if len(output) != 4:
        raise CheckFailed(tr("The model ends in a flat output: that is the classifier top."))


@ASSIGNMENT.check("feature_extractor", points=1,
                  title=tr("VGG16 without its top: {expected:,} parameters", expected=VGG_PARAMETERS),
                  hint=tr("Use VGG16 (not ResNet50) with include_top=False."))
def extractor_parameters(evidence, ctx):
    models.expect_parameter_count(_extractor(evidence), VGG_PARAMETERS)


@ASSIGNMENT.check("feature_extractor", points=1, title=tr("input_shape is honoured"),
                  hint=tr("Pass input_shape=input_shape to VGG16."))
def extractor_input_shape(evidence, ctx):
    model = _extractor(evidence)
    found = models.input_shape(model)
    if found != (None, *FEATURE_INPUT):
        raise CheckFailed(tr("With input_shape={shape} the model takes {found}.", shape=FEATURE_INPUT, found=found))
    output = models.predict(model, np.zeros((1, *FEATURE_INPUT), np.float32), tr("The feature extractor"))
    if output.shape != (1, 2, 2, 512):
        raise CheckFailed(tr("A 64x64 image gives features of shape {found}; expected (1, 2, 2, 512).",
                             found=output.shape))


@ASSIGNMENT.check("feature_extractor", points=1, title=tr("weights='imagenet' loads VGG16's ImageNet weights"),
                  hint=tr("Pass the weights argument on: VGG16(weights=weights, ...)."))
def extractor_weights_passed(evidence, ctx):
    common.expect_weights_requested(evidence, "build_feature_extractor(weights='imagenet')")


@ASSIGNMENT.check("feature_extractor", points=1, title=tr("without input_shape it accepts images of any size"),
                  hint=tr("Keep the default input_shape=None and pass it on: VGG16 then takes (None, None, 3) images."))
def extractor_default_input(evidence, ctx):
    default = evidence.get("default")
    if not isinstance(default, dict):
        raise CheckFailed(tr("build_feature_extractor(weights=None) returned {found}, not a Keras model.", found=default))
    if default.get("input_shape") != [None, None, None, 3]:
        raise CheckFailed(tr("build_feature_extractor(weights=None) takes inputs of shape {found}; "
                           "expected [None, None, None, 3].", found=default.get("input_shape")))


# ----------------------------------------------------------------- extract_features
def _feature_inputs(seed: int) -> dict[str, np.ndarray]:
    """A model's weights and two batches: two images in [-1, 1], and 1 to 5 images on the scale VGG16's own
    preprocessing gives (about -124 to 152)."""
    rng = np.random.default_rng(seed + 808)
    return {"kernel": rng.normal(0, 0.3, size=(3, 3, 3, 8)).astype(np.float32),
            "bias": rng.normal(0, 0.1, size=8).astype(np.float32),
            "batch": rng.uniform(-1, 1, size=(2, 8, 8, 3)).astype(np.float32),
            "other_batch": rng.uniform(-124, 152, size=(int(rng.integers(1, 6)), 8, 8, 3)).astype(np.float32)}


ASSIGNMENT.probe("features", uses="extract_features", inputs=_feature_inputs)


def _features(evidence, key: str = "features") -> np.ndarray:
    value = evidence.get(key)
    if isinstance(value, str):
        raise CheckFailed(tr("extract_features should return an array; it returned {found}.", found=value))
    found = evidence.array(key, tr("the features"))
    if not real_numbers(found):
        raise CheckFailed(tr("extract_features returned {found}; expected numbers.", found=describe(found)))
    return found.astype(np.float64)


def _expected_features(evidence, batch: str = "batch") -> np.ndarray:
    model = features_model(evidence.inputs["kernel"], evidence.inputs["bias"])
    return np.asarray(model.predict(evidence.inputs[batch], verbose=0), np.float64)


@ASSIGNMENT.check("features", points=1, title=tr("extract_features returns an array"),
                  hint=tr("return model.predict(batch)."))
def features_returns_array(evidence, ctx):
    for key, _ in FEATURE_BATCHES:
        _features(evidence, key)


@ASSIGNMENT.check("features", points=2, title=tr("one stack of feature maps per image in the batch"),
                  hint=tr("Keep the batch axis and the maps' shape: do not index [0], flatten or pool them."))
def features_shape(evidence, ctx):
    for key, batch in FEATURE_BATCHES:
        found, expected = _features(evidence, key), _expected_features(evidence, batch)
        if found.shape != expected.shape:
            raise CheckFailed(tr("For a batch of {count} images the features have shape {found}; expected "
                                 "{expected}.", count=expected.shape[0], found=found.shape, expected=expected.shape))


@ASSIGNMENT.check("features", points=2, title=tr("the features are the model's output for the batch as given"),
                  hint=tr("The batch is already preprocessed: return model.predict(batch) without changing it."))
def features_values(evidence, ctx):
    for key, batch in FEATURE_BATCHES:
        found, expected = _features(evidence, key), _expected_features(evidence, batch)
        if found.shape == expected.shape[1:]:  # the batch axis was dropped: shape's business; judge the values
            expected = expected[0]
        elif found.shape != expected.shape and found.size == expected.size:
            found = found.reshape(expected.shape)
        if found.shape != expected.shape:
            raise CheckFailed(tr("The features have shape {found}, so their values cannot be compared with "
                                 "model.predict(batch) of shape {expected}.", found=found.shape,
                                 expected=expected.shape))
        if not np.allclose(found, expected, atol=1e-4, rtol=1e-4):
            given = evidence.inputs[batch]
            raise CheckFailed(tr("For a batch of {count} images with values from {low:.3g} to {high:.3g}, the "
                                 "features differ from model.predict(batch) by up to {difference:.3g}.",
                                 count=len(given), low=float(given.min()), high=float(given.max()),
                                 difference=float(np.max(np.abs(found - expected)))))
