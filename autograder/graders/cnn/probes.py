"""cnn probes (sandbox worker side): make_batches on drawn datasets, each pass read example by example."""
from __future__ import annotations

import numpy as np

from autograder.core.spec import ProbeSet
from autograder.core.wire import describe
from autograder.graders.cnn.contract import N_TRAIN
from autograder.graders.common.probes import (NORMALIZE_PROBES, classifier_build, failure_kept, spec_to_json,
                                              unpack_pair)

PROBES = ProbeSet(NORMALIZE_PROBES)

ELEMENT_CAP = 3 * N_TRAIN  # more examples (or elements) than this in one pass means the dataset repeats
_END = object()


def _element_text(images: np.ndarray, labels: np.ndarray) -> str:
    return f"images {tuple(images.shape)} {images.dtype}, labels {tuple(labels.shape)} {labels.dtype}"


def _examples(images: np.ndarray, labels: np.ndarray) -> tuple[str, np.ndarray, np.ndarray] | None:
    """How one element holds its examples ("unbatched", "batched", "nested") and the examples, one per row.

    None when its images and labels do not line up one label per image.
    """
    if labels.ndim == 0:
        return "unbatched", images[np.newaxis], labels[np.newaxis]
    lead = labels.ndim if images.shape[:labels.ndim] == labels.shape else (
        1 if images.ndim and images.shape[0] == labels.shape[0] else 0)
    if lead == 0:
        return None
    return ("batched" if lead == 1 else "nested", images.reshape(-1, *images.shape[lead:]),
            labels.reshape(-1, *labels.shape[lead:]))


def _one_pass(student, dataset, label: str) -> dict:
    """One pass over a dataset, described: how its elements hold examples, and the examples in order.

    The pass stops after ``ELEMENT_CAP`` examples or elements (a repeating dataset never ends).
    """
    kinds, counts, images, labels = [], [], [], []
    first = ""
    iterator = student.run(f"iter({label})", iter, dataset)
    while sum(counts) <= ELEMENT_CAP and len(counts) < ELEMENT_CAP:
        element = student.run(f"Reading {label}", next, iterator, _END)
        if element is _END:
            break
        pair = unpack_pair(element)
        if pair is None:
            return {"is_pair": False, "returned": describe(element)}
        batch_images, batch_labels = np.asarray(pair[0]), np.asarray(pair[1])
        first = first or _element_text(batch_images, batch_labels)
        examples = _examples(batch_images, batch_labels)
        if examples is None:
            return {"is_pair": True, "kind": "mismatch", "element": _element_text(batch_images, batch_labels),
                    "counts": counts}
        kinds.append(examples[0])
        counts.append(int(len(examples[2])))
        images.append(examples[1])
        labels.append(examples[2])
    uniform = len({(i.shape[1:], i.dtype.str, l.shape[1:], l.dtype.str) for i, l in zip(images, labels)}) == 1
    kind = kinds[0] if len(set(kinds)) == 1 else ("empty" if not kinds else "mixed")
    return {"is_pair": True, "kind": kind, "element": first, "counts": counts, "uniform": uniform,
            "images": np.concatenate(images) if uniform else None,
            "labels": np.concatenate(labels) if uniform else None}


@PROBES.register
def pipeline(student, inputs, ctx):
    import tensorflow as tf

    def datasets():
        return (tf.data.Dataset.from_tensor_slices((inputs["train_images"], inputs["train_labels"])),
                tf.data.Dataset.from_tensor_slices((inputs["test_images"], inputs["test_labels"])))

    out = student.call("make_batches", *datasets())
    pair = unpack_pair(out)
    observed = {"returned": describe(out), "is_pair": pair is not None}
    if pair is None:
        return observed
    train, test = pair
    observed["are_datasets"] = all(isinstance(d, tf.data.Dataset) for d in pair)
    observed["parts"] = f"({describe(train)}, {describe(test)})"
    if not observed["are_datasets"]:
        return observed
    observed["train_spec"] = spec_to_json(train.element_spec)
    observed["test_spec"] = spec_to_json(test.element_spec)
    for key, (dataset, label) in {"epoch1": (train, "the training batches"), "epoch2": (train, "the training batches"),
                                  "test": (test, "the test batches")}.items():
        observed.update({f"{key}_{name}": value for name, value in _one_pass(student, dataset, label).items()})
    size = inputs["batch_size"]
    other = unpack_pair(failure_kept(observed, "other", lambda: student.call("make_batches", *datasets(),
                                                                             batch_size=size)))
    if other is not None and all(isinstance(d, tf.data.Dataset) for d in other):
        for key, dataset in (("other_train", other[0]), ("other_test", other[1])):
            result = _one_pass(student, dataset, f"the batches of make_batches(..., batch_size={size})")
            observed[f"{key}_counts"] = result.get("counts") if result.get("kind") == "batched" else None
            observed[f"{key}_element"] = result.get("element", result.get("returned"))
    return observed


PROBES.add("cnn_build", classifier_build("build_cnn"))
