"""Hidden grader for ``cnn``: normalize, a tf.data input pipeline and a small CNN."""
from __future__ import annotations

import numpy as np

from autograder.artifacts import describe
from autograder.graders._common import add_classifier_checks, add_normalize_checks, spec_to_json, unpack_pair
from autograder.i18n import tr
from autograder.spec import Assignment, CheckFailed

ASSIGNMENT = Assignment(
    id="cnn",
    title=tr("Fashion-MNIST with a convolutional network and tf.data"),
    student_names=("normalize", "make_batches", "build_cnn"),
)

add_normalize_checks(ASSIGNMENT, image_shape=(28, 28, 1))

N_TRAIN, N_TEST = 100, 45
ELEMENT_CAP = 3 * N_TRAIN  # more elements than this in one pass means the dataset repeats
_END = object()


def _pipeline_inputs(seed: int) -> dict[str, np.ndarray]:
    """Images whose first pixel is their index, so every example can be traced through the pipeline."""
    rng = np.random.default_rng(seed + 202)
    def images(n):
        batch = rng.integers(0, 256, size=(n, 28, 28, 1), dtype=np.uint8)
        batch[:, 0, 0, 0] = np.arange(n)
        return batch
    return {"train_images": images(N_TRAIN), "train_labels": rng.integers(0, 10, N_TRAIN).astype(np.int64),
            "test_images": images(N_TEST), "test_labels": rng.integers(0, 10, N_TEST).astype(np.int64)}


def _one_pass(student, dataset, label: str) -> dict:
    sizes, images, labels = [], [], []
    iterator = student.run(f"iter({label})", iter, dataset)
    while sum(sizes) <= ELEMENT_CAP:
        batch = student.run(f"Reading {label}", next, iterator, _END)
        if batch is _END:
            break
        pair = unpack_pair(batch)
        if pair is None:
            return {"is_pair": False, "returned": describe(batch)}
        batch_images, batch_labels = np.asarray(pair[0]), np.asarray(pair[1])
        sizes.append(int(batch_images.shape[0]) if batch_images.ndim else 0)
        images.append(batch_images)
        labels.append(batch_labels)
    uniform = len({(i.shape[1:], i.dtype) for i in images}) <= 1
    return {"is_pair": True, "sizes": sizes, "uniform": uniform,
            "images": np.concatenate(images) if images and uniform else None,
            "labels": np.concatenate(labels) if labels and uniform else None}


@ASSIGNMENT.probe(uses=("make_batches", "normalize"), inputs=_pipeline_inputs)
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
    if not observed["are_datasets"]:
        return observed
    observed["train_spec"] = spec_to_json(train.element_spec)
    observed["test_spec"] = spec_to_json(test.element_spec)
    for key, (dataset, label) in {"epoch1": (train, "the training batches"), "epoch2": (train, "the training batches"),
                                  "test": (test, "the test batches")}.items():
        result = _one_pass(student, dataset, label)
        observed[f"{key}_is_pair"] = result["is_pair"]
        observed[f"{key}_sizes"] = result.get("sizes")
        observed[f"{key}_images"] = result.get("images")
        observed[f"{key}_labels"] = result.get("labels")
    small = unpack_pair(student.call("make_batches", *datasets(), batch_size=16))
    if small is not None and all(isinstance(d, tf.data.Dataset) for d in small):
        observed["small_train_sizes"] = _one_pass(student, small[0], "the training batches").get("sizes")
        observed["small_test_sizes"] = _one_pass(student, small[1], "the test batches").get("sizes")
    return observed


def _datasets(evidence) -> None:
    if not evidence.get("is_pair"):
        raise CheckFailed(tr("make_batches should return (train_batches, test_batches); it returned {returned}.",
                             returned=evidence.get("returned")))
    if not evidence.get("are_datasets"):
        raise CheckFailed(tr("make_batches should return two tf.data.Dataset objects."))


def _pass(evidence, key: str) -> tuple[np.ndarray, np.ndarray, list[int]]:
    _datasets(evidence)
    if not evidence.get(f"{key}_is_pair"):
        raise CheckFailed(tr("Each batch should be an (images, labels) pair."))
    return (evidence.array(f"{key}_images", tr("the batched images")),
            evidence.array(f"{key}_labels", tr("the labels")),
            evidence.value(f"{key}_sizes", tr("the batch sizes")))


def _example_ids(images: np.ndarray) -> np.ndarray:
    scale = 255.0 if float(np.max(images)) <= 1.0 + 1e-6 else 1.0
    return np.rint(images.reshape(len(images), -1)[:, 0].astype(np.float64) * scale).astype(np.int64)


def _expected_sizes(n: int, batch: int) -> list[int]:
    return [batch] * (n // batch) + ([n % batch] if n % batch else [])


@ASSIGNMENT.check("pipeline", points=1,
                  title=tr("batches have float32 images of shape (None, 28, 28, 1) and integer labels"),
                  hint=tr("Map normalize over both datasets, then batch them."))
def batches_element_spec(evidence, ctx):
    _datasets(evidence)
    for name in ("train_spec", "test_spec"):
        spec = evidence.value(name, tr("the element_spec"))
        if not (isinstance(spec, list) and len(spec) == 2 and all(isinstance(s, dict) for s in spec)):
            raise CheckFailed(tr("Each element should be an (images, labels) pair; the element_spec is {spec}.",
                                 spec=spec))
        images, labels = spec
        if images["dtype"] != "float32" or images["shape"] != [None, 28, 28, 1]:
            if name == "train_spec":
                raise CheckFailed(tr("The train images have dtype {dtype} and shape {shape}; expected float32 and "
                                     "[None, 28, 28, 1].", dtype=images["dtype"], shape=images["shape"]))
            raise CheckFailed(tr("The test images have dtype {dtype} and shape {shape}; expected float32 and "
                                 "[None, 28, 28, 1].", dtype=images["dtype"], shape=images["shape"]))
        if not labels["dtype"].startswith(("int", "uint")) or labels["shape"] != [None]:
            if name == "train_spec":
                raise CheckFailed(tr("The train labels have dtype {dtype} and shape {shape}; expected integers of "
                                     "shape [None].", dtype=labels["dtype"], shape=labels["shape"]))
            raise CheckFailed(tr("The test labels have dtype {dtype} and shape {shape}; expected integers of "
                                 "shape [None].", dtype=labels["dtype"], shape=labels["shape"]))


@ASSIGNMENT.check("pipeline", points=1, title=tr("batch_size is honoured (32 by default)"),
                  hint=tr("Call .batch(batch_size) with the function's argument on both datasets."))
def batches_batch_size(evidence, ctx):
    _, _, train_sizes = _pass(evidence, "epoch1")
    _, _, test_sizes = _pass(evidence, "test")
    # Sizes are compared as a multiset: the order of batches is the shuffle checks' business.
    if sorted(train_sizes) != sorted(_expected_sizes(N_TRAIN, 32)) or test_sizes != _expected_sizes(N_TEST, 32):
        raise CheckFailed(tr("With the default batch size, {n_train} training and {n_test} test images gave "
                             "batches of {train_sizes} and {test_sizes}; expected {expected_train} and "
                             "{expected_test}.",
                             n_train=N_TRAIN, n_test=N_TEST, train_sizes=train_sizes[:6], test_sizes=test_sizes[:6],
                             expected_train=_expected_sizes(N_TRAIN, 32), expected_test=_expected_sizes(N_TEST, 32)))
    small = (evidence.get("small_train_sizes"), evidence.get("small_test_sizes"))
    if small[0] is None or (sorted(small[0]), small[1]) != (sorted(_expected_sizes(N_TRAIN, 16)),
                                                           _expected_sizes(N_TEST, 16)):
        raise CheckFailed(tr("make_batches(..., batch_size=16) did not make batches of 16."))


@ASSIGNMENT.check("pipeline", points=1, title=tr("every training example appears exactly once per epoch (no repeat())"),
                  hint=tr("Do not call .repeat(): Keras runs the epochs itself."))
def batches_no_repeat(evidence, ctx):
    images, _, sizes = _pass(evidence, "epoch1")
    if sum(sizes) > N_TRAIN:
        raise CheckFailed(tr("One pass over the training batches gave more than {n_train} examples: the dataset "
                             "repeats.", n_train=N_TRAIN))
    if sorted(_example_ids(images).tolist()) != list(range(N_TRAIN)):
        raise CheckFailed(tr("One pass should contain each of the {n_train} training examples once.", n_train=N_TRAIN))


@ASSIGNMENT.check("pipeline", points=1, title=tr("batched images are normalized to [0, 1] with their labels"),
                  hint=tr("Apply normalize with dataset.map(normalize) before batching."))
def batches_normalized(evidence, ctx):
    images, labels, _ = _pass(evidence, "test")
    expected = evidence.inputs["test_images"].astype(np.float64) / 255.0
    if float(np.max(images)) > 1.0 + 1e-6:
        raise CheckFailed(tr("Batched pixel values go up to {found:.4g}: normalize was not applied.",
                             found=float(np.max(images))))
    ids = _example_ids(images)
    if images.shape[1:] != expected.shape[1:] or np.any(ids >= N_TEST) or np.any(ids < 0):
        raise CheckFailed(tr("The batched test images are not the normalized input images."))
    if not np.allclose(images, expected[ids], atol=1e-5) or not np.array_equal(labels, evidence.inputs["test_labels"][ids]):
        raise CheckFailed(tr("The batched images or their labels do not match the normalized inputs."))


@ASSIGNMENT.check("pipeline", points=1, title=tr("the training examples are shuffled before batching"),
                  hint=tr("Call .shuffle(buffer_size) on the examples before .batch(...); shuffling after batching "
                          "only reorders whole batches."))
def batches_train_shuffled(evidence, ctx):
    images, _, sizes = _pass(evidence, "epoch1")
    ids = _example_ids(images)
    if np.array_equal(ids, np.arange(len(ids))):
        raise CheckFailed(tr("The training examples come out in their original order."))
    start, contiguous = 0, True
    for size in sizes:
        block = np.sort(ids[start:start + size])
        contiguous &= bool(np.array_equal(block, np.arange(block[0], block[0] + size))) if size else True
        start += size
    if contiguous:
        raise CheckFailed(tr("Each batch holds consecutive examples: the batches were shuffled, not the examples."))


@ASSIGNMENT.check("pipeline", points=1, title=tr("the training order changes from epoch to epoch"),
                  hint=tr("Keep reshuffle_each_iteration at its default, and cache() before shuffle(), not after."))
def batches_reshuffled_each_epoch(evidence, ctx):
    first, _, _ = _pass(evidence, "epoch1")
    second, _, _ = _pass(evidence, "epoch2")
    if np.array_equal(_example_ids(first), _example_ids(second)):
        raise CheckFailed(tr("Two passes over the training batches gave the same order."))


@ASSIGNMENT.check("pipeline", points=1, title=tr("the test set keeps its order"),
                  hint=tr("Do not shuffle the test dataset: evaluation results should line up with the labels."))
def batches_test_in_order(evidence, ctx):
    images, labels, _ = _pass(evidence, "test")
    if not np.array_equal(_example_ids(images), np.arange(N_TEST)):
        raise CheckFailed(tr("The test examples come out in a different order from the one they went in."))
    if not np.array_equal(labels, evidence.inputs["test_labels"]):
        raise CheckFailed(tr("The test labels are not in their original order."))


add_classifier_checks(
    ASSIGNMENT, builder="build_cnn", input_shape=(28, 28, 1),
    layers=["Conv2D(32, 3x3, same)", "ReLU", "MaxPooling2D(2x2, strides 2)", "Conv2D(64, 3x3, same)", "ReLU",
            "MaxPooling2D(2x2, strides 2)", "Flatten", "Dense(128)", "ReLU", "Dense(10)", "Softmax"],
    parameters=421_642, min_accuracy=0.85, train_size=2000, test_size=500, epochs=2, prefix="cnn",
)
