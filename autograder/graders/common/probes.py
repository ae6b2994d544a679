"""Probes shared by assignments (sandbox worker side): calls to ``normalize`` and a classifier builder.

A probe is ``fn(student, inputs, ctx) -> dict`` of plain observations; it judges nothing.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from autograder.core.i18n import message_of
from autograder.core.spec import StudentError
from autograder.core.wire import describe
from autograder.graders.common.contract import MAX_SHIPPED_PARAMETERS, NUMPY_CALLS


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


def failure_kept(observed: dict, key: str, call: Callable[[], Any]) -> Any:
    """``call()``, a call of student code whose failure costs only the checks that read ``key``: the student's
    error is kept as ``observed[key + "_error"]`` (read by the checks' ``models.raise_failed_call``) and None
    returned, so that a function written without one of its optional parameters, say, loses the check of that
    parameter alone. A NotAttempted (the stub's NotImplementedError) still ends the probe."""
    try:
        return call()
    except StudentError as failure:
        observed[f"{key}_error"] = message_of(failure).to_json()
        return None


class _WeightsRequested(OSError):
    """Raised in place of a download: the call asked Keras for a weights file, which is all a probe needs to know."""


def weights_requested(observed: dict, key: str, call: Callable[[], Any]) -> list[str]:
    """The names of the weight files ``call()`` asks Keras to fetch (``VGG16(weights="imagenet")`` asks for
    ImageNet's through ``file_utils.get_file``), fetching none: the first request ends the call, whether or not
    the file is in the Keras cache, so the probe costs one model build and never a download or a load (nor the
    random draws of that build's weights: see :func:`built_for_shapes`). A call that fails before asking keeps its
    error as :func:`failure_kept` does."""
    from keras.src.utils import file_utils  # where keras.applications fetch weights (no public hook)

    requested: list[str] = []

    def request(fname=None, origin=None, *args, **kwargs):
        requested.append(str(fname or origin))
        raise _WeightsRequested("the grader does not download or load pre-trained weights")

    fetch = file_utils.get_file
    file_utils.get_file = request
    try:
        built_for_shapes(lambda: failure_kept(observed, key, call))
    finally:
        file_utils.get_file = fetch
    return requested


def built_for_shapes(call: Callable[[], Any]) -> Any:
    """``call()``, a call of student code whose returned model is read for its shapes alone: its layers' weights
    start as zeros, not as random draws that nobody reads (about 0.1 s for each VGG16 built; see
    :func:`autograder.core.keras_init.random_draws_skipped`, which leaves the random streams as a plain build does)."""
    from autograder.core.keras_init import random_draws_skipped

    with random_draws_skipped():
        return call()


def shippable(value: Any) -> Any:
    """The value itself, unless it is a Keras model too large to hand over: then a short description."""
    import keras

    if isinstance(value, keras.Model) and value.built and value.count_params() > MAX_SHIPPED_PARAMETERS:
        return {"too_large": int(value.count_params()), "layers": [type(layer).__name__ for layer in value.layers]}
    return value


# ----------------------------------------------------------------- normalize
def normalize_numpy(student, inputs, ctx):
    observed = {}
    for prefix, images_key, labels_key in NUMPY_CALLS:
        out = student.call("normalize", inputs[images_key].copy(), inputs[labels_key].copy())
        pair = unpack_pair(out)
        observed.update({f"{prefix}returned": describe(out), f"{prefix}is_pair": pair is not None,
                         f"{prefix}images": pair[0] if pair else None,
                         f"{prefix}labels": pair[1] if pair else None})
    return observed


def normalize_dataset_map(student, inputs, ctx):
    import tensorflow as tf

    images = np.concatenate([inputs["images"], inputs["dim_images"]])
    labels = np.concatenate([inputs["labels"], inputs["dim_labels"].astype(np.int64)])
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    mapped = student.run("`normalize` inside Dataset.map", dataset.map, student.get("normalize"))
    spec = spec_to_json(mapped.element_spec)
    found_images, found_labels = [], []
    for element in student.run("Iterating the mapped dataset", list, mapped):
        pair = unpack_pair(element)
        if pair is None:
            return {"spec": spec, "is_pair": False, "returned": describe(element)}
        found_images.append(np.asarray(pair[0]))
        found_labels.append(np.asarray(pair[1]))
    shapes_found = sorted({str(a.shape) for a in found_images}) + sorted({str(a.shape) for a in found_labels})
    if len({a.shape for a in found_images}) > 1 or len({a.shape for a in found_labels}) > 1:
        return {"spec": spec, "is_pair": True, "returned": "a pair",
                "images": f"different shapes: {', '.join(shapes_found[:6])}"}
    return {"spec": spec, "is_pair": True, "returned": "a pair",
            "images": np.stack(found_images), "labels": np.stack(found_labels)}


NORMALIZE_PROBES = {"normalize_numpy": normalize_numpy, "normalize_dataset_map": normalize_dataset_map}


# ----------------------------------------------------------------- classifiers
def classifier_build(builder: str) -> Callable:
    """The probe that calls ``builder()`` and ships the model it returns."""
    def build(student, inputs, ctx):
        model = student.call(builder)
        return {"model": model, "returned": describe(model)}
    return build
