"""pretrained probes (sandbox worker side): load_image_batch, preprocess, top_predictions and VGG16 features.

Decoding class names needs ImageNet's class index, which the kit hands to the sandbox offline
(see :mod:`autograder.worker.main`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from autograder.core.i18n import tr
from autograder.core.spec import NotAttempted, ProbeSet
from autograder.core.wire import describe
from autograder.graders.common.contract import shapes
from autograder.graders.common.probes import built_for_shapes, failure_kept, shippable, weights_requested
from autograder.graders.pretrained.contract import (BATCHES, FEATURE_BATCHES, FEATURE_INPUT, KNOWN_INPUT,
                                                    MODEL_NAMES, N_CLASSES, TARGET, features_model, top_calls)

PROBES = ProbeSet()


def _as_array(value):
    """Arrays and tensors as themselves; anything else described, so checks can say what came back."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return value
    return describe(value)


def _type_name(value) -> str:
    return type(value).__module__.split(".")[0] + "." + type(value).__name__


@PROBES.register
def image_batch(student, inputs, ctx):
    from PIL import Image

    paths = {}
    for name, file in (("picture", "photo.png"), ("dim_picture", "dim photo.png")):
        paths[name] = Path(ctx.scratch) / file
        Image.fromarray(inputs[name]).save(paths[name])
    small = student.call("load_image_batch", str(paths["picture"]), target_size=TARGET)
    other = student.call("load_image_batch", str(paths["dim_picture"]), target_size=tuple(inputs["other_target"]))
    default = student.call("load_image_batch", str(paths["picture"]))
    return {"small": _as_array(small), "small_type": _type_name(small), "other": _as_array(other),
            "other_type": _type_name(other), "default": _as_array(default)}


# ----------------------------------------------------------------- preprocess
@PROBES.register
def preprocessing(student, inputs, ctx):
    observed = {}
    for prefix, batch in BATCHES:
        for name in MODEL_NAMES:
            given = inputs[batch].copy()
            observed[f"{prefix}{name}"] = _as_array(student.call("preprocess", given, name))
            observed[f"{prefix}{name}_input_after"] = given
    fn = student.get("preprocess")
    for k, unknown in enumerate(inputs["unknown_names"]):
        try:
            fn(inputs["batch"].copy(), unknown)
            observed[f"unknown{k}"] = {"raised": None}
        except NotImplementedError as exc:
            raise NotAttempted(tr("`{name}` is not implemented yet (it raises NotImplementedError).",
                                  name="preprocess")) from exc
        except Exception as exc:  # noqa: BLE001 - what the student raises is the observation
            observed[f"unknown{k}"] = {"raised": type(exc).__name__, "message": str(exc)[:300]}
    return observed


# ----------------------------------------------------------------- top_predictions
def known_model(kernel: np.ndarray, bias: np.ndarray):
    import keras
    from keras import layers

    model = keras.Sequential([keras.Input(KNOWN_INPUT), layers.Flatten(), layers.Dense(N_CLASSES, activation="softmax")])
    model.layers[-1].set_weights([kernel, bias])
    return model


def _as_rows(value) -> list | str:
    if not isinstance(value, (list, tuple)):
        return describe(value)
    rows = []
    for item in value:
        if isinstance(item, (list, tuple)) and len(item) == 3:
            try:
                rows.append([str(item[0]), str(item[1]), float(item[2])])
                continue
            except (TypeError, ValueError):
                pass
        rows.append(describe(item))
    return rows


@PROBES.register
def predictions(student, inputs, ctx):
    model = known_model(inputs["kernel"], inputs["bias"])
    observed = {"default": _as_rows(student.call("top_predictions", model, inputs["batch"].copy())),
                "swapped": _as_rows(student.call("top_predictions", model, inputs["batch"][::-1].copy()))}
    for key, top in top_calls(inputs["tops"]):  # without top written, only its check is lost
        observed[key] = failure_kept(observed, key, lambda top=top: _as_rows(
            student.call("top_predictions", model, inputs["batch"].copy(), top=top)))
    return observed


# ----------------------------------------------------------------- build_feature_extractor
@PROBES.register
def feature_extractor(student, inputs, ctx):
    import keras

    sized = student.call("build_feature_extractor", weights=None, input_shape=FEATURE_INPUT)  # shipped as built
    default = built_for_shapes(lambda: student.call("build_feature_extractor", weights=None))
    observed = {"model": shippable(sized),
                "default": shapes(default) if isinstance(default, keras.Model) else describe(default)}
    observed["imagenet_requested"] = weights_requested(
        observed, "imagenet", lambda: student.call("build_feature_extractor", weights="imagenet"))
    return observed


# ----------------------------------------------------------------- extract_features
@PROBES.register
def features(student, inputs, ctx):
    model = features_model(inputs["kernel"], inputs["bias"])
    return {key: _as_array(student.call("extract_features", model, inputs[batch].copy()))
            for key, batch in FEATURE_BATCHES}
