"""cnn checks (grading process): normalize, a tf.data input pipeline and a small CNN."""
from __future__ import annotations

import numpy as np

from autograder.core.i18n import tr
from autograder.core.spec import Assignment, CheckFailed
from autograder.core.wire import describe
from autograder.graders.cnn.contract import N_TEST, N_TRAIN
from autograder.graders.common.checks import (add_classifier_checks, add_normalize_checks, first_mismatch, pair_spec,
                                              scaling_mismatch)
from autograder.graders.common import models
from autograder.graders.common.models import real_numbers

ASSIGNMENT = Assignment(
    id="cnn",
    title=tr("Fashion-MNIST with a convolutional network and tf.data"),
    student_names=("normalize", "make_batches", "build_cnn"),
)

add_normalize_checks(ASSIGNMENT, image_shape=(28, 28, 1))

OTHER_BATCH_SIZES = (8, 10, 12, 16, 20, 24, 25, 40, 50)  # make_batches(..., batch_size=<drawn>)
SAME_IMAGE = 0.99  # correlation above which a pipeline's image is taken to be a (rescaled) input image


def _pipeline_inputs(seed: int) -> dict:
    """Random uint8 images whose pixel ranges vary (most span 0-255, some are dim or dark) and a drawn batch size.

    Examples are traced through the pipeline by their content (see ``_example_ids``), so no pixel
    carries an index and a normalization that depends on an image's own range shows in the batches.
    """
    rng = np.random.default_rng(seed + 202)

    def images(n: int) -> np.ndarray:
        batch = np.empty((n, 28 * 28), np.uint8)
        dim = rng.choice(n, size=max(3, n // 4), replace=False)
        for k in range(n):
            high = int(rng.integers(20, 231)) if k in dim else 255
            batch[k] = rng.integers(0, high + 1, size=28 * 28)
            batch[k, rng.integers(28 * 28)] = high
        return batch.reshape(n, 28, 28, 1)

    return {"train_images": images(N_TRAIN), "train_labels": rng.integers(0, 10, N_TRAIN).astype(np.int64),
            "test_images": images(N_TEST), "test_labels": rng.integers(0, 10, N_TEST).astype(np.int64),
            "batch_size": int(rng.choice(OTHER_BATCH_SIZES))}


ASSIGNMENT.probe("pipeline", uses=("make_batches", "normalize"), inputs=_pipeline_inputs)


SPLITS = {"epoch1": tr("the training batches"), "epoch2": tr("the training batches"), "test": tr("the test batches")}


def _datasets(evidence) -> None:
    if not evidence.get("is_pair"):
        raise CheckFailed(tr("make_batches should return (train_batches, test_batches); it returned {returned}.",
                             returned=evidence.get("returned")))
    if not evidence.get("are_datasets"):
        raise CheckFailed(tr("make_batches should return two tf.data.Dataset objects; it returned {returned}.",
                             returned=evidence.get("parts")))


def _counts(evidence, key: str) -> list[int]:
    counts = evidence.get(f"{key}_counts")
    if not (isinstance(counts, list) and all(type(c) is int for c in counts)):
        raise CheckFailed(tr("{what}: expected {expected}, got {found}.", what=tr("the batch sizes"),
                             expected=tr("a list of whole numbers"), found=str(counts)[:120]))
    return counts


def _examples_of(evidence, key: str) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The examples one pass gave, in order (whatever the batching), and how many each element held."""
    _datasets(evidence)
    split = SPLITS[key]
    if not evidence.get(f"{key}_is_pair"):
        raise CheckFailed(tr("Each element of {split} should be an (images, labels) pair; one was {found}.",
                             split=split, found=evidence.get(f"{key}_returned")))
    kind = evidence.get(f"{key}_kind")
    element = evidence.get(f"{key}_element")
    if kind == "mismatch":
        raise CheckFailed(tr("In {split} the images and labels do not line up one label per image: an element holds "
                             "{element}.", split=split, element=element))
    counts = _counts(evidence, key)
    if not counts:
        raise CheckFailed(tr("One pass over {split} gave no elements at all.", split=split))
    if evidence.get(f"{key}_uniform") is not True:
        raise CheckFailed(tr("The elements of {split} differ in shape or dtype from one another (the first holds "
                             "{element}).", split=split, element=element))
    return (evidence.array(f"{key}_images", tr("the batched images")),
            evidence.array(f"{key}_labels", tr("the labels")), counts)


def _batch_sizes(evidence, key: str) -> list[int]:
    """The sizes of the batches one pass gave; CheckFailed unless every element is one batch of examples."""
    _, _, counts = _examples_of(evidence, key)
    kind, element, split = evidence.get(f"{key}_kind"), evidence.get(f"{key}_element"), SPLITS[key]
    if kind == "unbatched":
        raise CheckFailed(tr("One pass over {split} gave single examples, not batches (an element holds {element}); "
                             "call .batch(batch_size).", split=split, element=element))
    if kind == "nested":
        raise CheckFailed(tr("One pass over {split} gave batches of batches (an element holds {element}); call "
                             ".batch(batch_size) once.", split=split, element=element))
    if kind != "batched":
        raise CheckFailed(tr("One pass over {split} gave a mix of batches and single examples (the first element "
                             "holds {element}).", split=split, element=element))
    return counts


def _example_ids(images: np.ndarray, given: np.ndarray) -> np.ndarray:
    """For each image, the index of the input image it shows (any positive rescaling allowed), or -1.

    Random images are nearly uncorrelated, so the correlation of an example with its own input is
    1 whatever affine scaling was applied, and about 0.1 at most with any other.
    """
    found = images.reshape(len(images), -1)
    inputs = given.reshape(len(given), -1).astype(np.float64)
    if not len(found) or not real_numbers(found) or found.shape[1] != inputs.shape[1]:
        return np.full(len(found), -1)
    found = found.astype(np.float64)
    found = found - found.mean(axis=1, keepdims=True)
    inputs = inputs - inputs.mean(axis=1, keepdims=True)
    with np.errstate(all="ignore"):
        correlation = (found @ inputs.T) / np.outer(np.linalg.norm(found, axis=1), np.linalg.norm(inputs, axis=1))
    correlation = np.nan_to_num(correlation, nan=-1.0)
    ids = np.argmax(correlation, axis=1)
    ids[correlation[np.arange(len(found)), ids] < SAME_IMAGE] = -1
    return ids


def _expected_sizes(n: int, batch: int) -> list[int]:
    return [batch] * (n // batch) + ([n % batch] if n % batch else [])


@ASSIGNMENT.check("pipeline", points=1,
                  title=tr("batches have float32 images of shape (None, 28, 28, 1) and integer labels"),
                  hint=tr("Map normalize over both datasets, then batch them."))
def batches_element_spec(evidence, ctx):
    _datasets(evidence)
    for name in ("train_spec", "test_spec"):
        spec = evidence.value(name, tr("the element_spec"))
        pair = pair_spec(spec)
        if pair is None:
            raise CheckFailed(tr("Each element should be an (images, labels) pair; the element_spec is {spec}.",
                                 spec=str(spec)[:300]))
        (images_dtype, images_shape), (labels_dtype, labels_shape) = pair
        if images_dtype == "float32" and _fixed_batch(images_shape):  # .batch(..., drop_remainder=True)
            if name == "train_spec":
                raise CheckFailed(tr("The train batches all have {size} images (shape {shape}): "
                                     ".batch(..., drop_remainder=True) leaves out the last, smaller batch, so its "
                                     "images are never trained on; expected [None, 28, 28, 1].",
                                     size=images_shape[0], shape=images_shape))
            raise CheckFailed(tr("The test batches all have {size} images (shape {shape}): "
                                 ".batch(..., drop_remainder=True) leaves out the last, smaller batch, so its images "
                                 "are never evaluated; expected [None, 28, 28, 1].",
                                 size=images_shape[0], shape=images_shape))
        if images_dtype != "float32" or images_shape != [None, 28, 28, 1]:
            if name == "train_spec":
                raise CheckFailed(tr("The train images have dtype {dtype} and shape {shape}; expected float32 and "
                                     "[None, 28, 28, 1].", dtype=images_dtype, shape=images_shape))
            raise CheckFailed(tr("The test images have dtype {dtype} and shape {shape}; expected float32 and "
                                 "[None, 28, 28, 1].", dtype=images_dtype, shape=images_shape))
        if not labels_dtype.startswith(("int", "uint")) or labels_shape != [None]:
            if name == "train_spec":
                raise CheckFailed(tr("The train labels have dtype {dtype} and shape {shape}; expected integers of "
                                     "shape [None].", dtype=labels_dtype, shape=labels_shape))
            raise CheckFailed(tr("The test labels have dtype {dtype} and shape {shape}; expected integers of "
                                 "shape [None].", dtype=labels_dtype, shape=labels_shape))


def _fixed_batch(shape) -> bool:
    """A batched (28, 28, 1) image spec whose batch dimension is a number: every batch has that size."""
    return isinstance(shape, list) and len(shape) == 4 and shape[1:] == [28, 28, 1] and isinstance(shape[0], int)


@ASSIGNMENT.check("pipeline", points=1, title=tr("batch_size is honoured (32 by default)"),
                  hint=tr("Call .batch(batch_size) with the function's argument on both datasets."))
def batches_batch_size(evidence, ctx):
    train_sizes, test_sizes = _batch_sizes(evidence, "epoch1"), _batch_sizes(evidence, "test")
    # Sizes are compared as a multiset: the order of batches is the shuffle checks' business.
    if sorted(train_sizes) != sorted(_expected_sizes(N_TRAIN, 32)) or test_sizes != _expected_sizes(N_TEST, 32):
        raise CheckFailed(tr("With the default batch size, {n_train} training and {n_test} test images gave "
                             "batches of {train_sizes} and {test_sizes}; expected {expected_train} and "
                             "{expected_test}.",
                             n_train=N_TRAIN, n_test=N_TEST, train_sizes=train_sizes[:6], test_sizes=test_sizes[:6],
                             expected_train=_expected_sizes(N_TRAIN, 32), expected_test=_expected_sizes(N_TEST, 32)))
    models.raise_failed_call(evidence, "other")
    size = evidence.inputs["batch_size"]
    expected = (_expected_sizes(N_TRAIN, size), _expected_sizes(N_TEST, size))
    found = (evidence.get("other_train_counts"), evidence.get("other_test_counts"))
    if not all(isinstance(f, list) and all(type(c) is int for c in f) for f in found) or (
            sorted(found[0]), found[1]) != (sorted(expected[0]), expected[1]):
        described = [str(f[:6]) if isinstance(f, list) else str(evidence.get(f"{key}_element"))
                     for f, key in zip(found, ("other_train", "other_test"))]
        raise CheckFailed(tr("make_batches(..., batch_size={size}) gave training batches of {train_sizes} and test "
                             "batches of {test_sizes}; expected {expected_train} and {expected_test}.", size=size,
                             train_sizes=described[0], test_sizes=described[1], expected_train=expected[0][:6],
                             expected_test=expected[1]))


@ASSIGNMENT.check("pipeline", points=1, title=tr("every training example appears exactly once per epoch (no repeat())"),
                  hint=tr("Do not call .repeat() (Keras runs the epochs itself), and keep every example: no "
                          "drop_remainder=True, take() or filter()."))
def batches_no_repeat(evidence, ctx):
    images, _, counts = _examples_of(evidence, "epoch1")
    if sum(counts) > N_TRAIN:
        raise CheckFailed(tr("One pass over the training batches gave more than {n_train} examples: the dataset "
                             "repeats.", n_train=N_TRAIN))
    if sum(counts) < N_TRAIN:
        raise CheckFailed(tr("One pass over the training batches gave {found} of the {n_train} examples: the "
                             "others were left out.", found=sum(counts), n_train=N_TRAIN))
    if sorted(_example_ids(images, evidence.inputs["train_images"]).tolist()) != list(range(N_TRAIN)):
        raise CheckFailed(tr("One pass should contain each of the {n_train} training examples once.", n_train=N_TRAIN))


@ASSIGNMENT.check("pipeline", points=1, title=tr("batched images are normalized to [0, 1] with their labels"),
                  hint=tr("Apply normalize with dataset.map(normalize) before batching, to the training and the test "
                          "set alike."))
def batches_normalized(evidence, ctx):
    for key, split in (("epoch1", "train"), ("test", "test")):
        _expect_normalized(evidence, key, evidence.inputs[f"{split}_images"], evidence.inputs[f"{split}_labels"])


def _expect_normalized(evidence, key: str, given: np.ndarray, given_labels: np.ndarray) -> None:
    """One pass's examples are ``given``'s images / 255 (in any order), each with its own label."""
    images, labels, _ = _examples_of(evidence, key)
    split = SPLITS[key]
    if not real_numbers(images) or images.size == 0:
        raise CheckFailed(tr("The images of {split} are not numbers ({found}).", split=split, found=describe(images)))
    if float(np.max(images)) > 1.0 + 1e-6:
        raise CheckFailed(tr("Pixel values in {split} go up to {found:.4g}: normalize was not applied to them.",
                             split=split, found=float(np.max(images))))
    ids = _example_ids(images, given)
    if images.shape[1:] != given.shape[1:] or np.any(ids < 0):
        raise CheckFailed(tr("The images of {split} are not the normalized input images.", split=split))
    expected = given[ids].astype(np.float64) / 255.0
    index = first_mismatch(images, expected)
    if index is not None:
        raise scaling_mismatch(given[ids[index]], images[index], expected[index],
                               tr("An image going into {split}", split=split))
    if labels.shape != ids.shape or not np.array_equal(labels, given_labels[ids]):
        raise CheckFailed(tr("The images of {split} or their labels do not match the normalized inputs.", split=split))


def _furthest_ahead(ids: np.ndarray) -> int | None:
    """How far ahead of its position in the input an example came out, at most, over the pass's first N_TRAIN
    examples; None when some example was not recognised (the batches' contents are another check's business).

    ``shuffle(buffer)`` draws each example from a buffer filled in input order, so the k-th one out lies before
    input position buffer + k. A buffer holding the whole dataset sends out some example at least 57 places
    ahead of its position in every one of 200,000 simulated passes over 100 examples.
    """
    ids = ids[:N_TRAIN]
    return None if (ids < 0).any() else int(np.max(ids - np.arange(len(ids))))


@ASSIGNMENT.check("pipeline", points=1, title=tr("the training examples are shuffled before batching"),
                  hint=tr("Call .shuffle(buffer_size) on the examples before .batch(...), with a buffer as large as "
                          "the dataset; shuffling after batching only reorders whole batches."))
def batches_train_shuffled(evidence, ctx):
    images, _, counts = _examples_of(evidence, "epoch1")
    ids = _example_ids(images, evidence.inputs["train_images"])
    if np.array_equal(ids, np.arange(len(ids))):
        raise CheckFailed(tr("The training examples come out in their original order."))
    start, contiguous = 0, any(count > 1 for count in counts)
    for count in counts:
        block = np.sort(ids[start:start + count])
        contiguous &= bool(np.array_equal(block, np.arange(block[0], block[0] + count))) if count else True
        start += count
    if contiguous:
        raise CheckFailed(tr("Each batch holds consecutive examples: the batches were shuffled, not the examples."))
    passes = [ids]
    try:  # the second pass is judged by the reshuffle check; here it only adds evidence when it is readable
        passes.append(_example_ids(_examples_of(evidence, "epoch2")[0], evidence.inputs["train_images"]))
    except CheckFailed:
        pass
    ahead = [_furthest_ahead(found) for found in passes]
    if None not in ahead and max(ahead) < N_TRAIN // 2:
        raise CheckFailed(tr("In every pass no training example came out {places} or more places ahead of its "
                             "position in the dataset: the shuffle buffer holds only part of the {n} examples, so "
                             "they stay near their original order. Shuffle with a buffer as large as the dataset "
                             "(train_dataset.cardinality(), or 10,000 when that is unknown).",
                             places=N_TRAIN // 2, n=N_TRAIN))


@ASSIGNMENT.check("pipeline", points=1, title=tr("the training order changes from epoch to epoch"),
                  hint=tr("Keep reshuffle_each_iteration at its default, and cache() before shuffle(), not after."))
def batches_reshuffled_each_epoch(evidence, ctx):
    first, _, _ = _examples_of(evidence, "epoch1")
    second, _, _ = _examples_of(evidence, "epoch2")
    given = evidence.inputs["train_images"]
    if np.array_equal(_example_ids(first, given), _example_ids(second, given)):
        raise CheckFailed(tr("Two passes over the training batches gave the same order."))


@ASSIGNMENT.check("pipeline", points=1, title=tr("the test set keeps its order"),
                  hint=tr("Do not shuffle the test dataset: evaluation results should line up with the labels."))
def batches_test_in_order(evidence, ctx):
    """The order only: examples left out (drop_remainder=True) lose the batch checks, and labels of another form
    (one-hot) the element-spec check, not this one."""
    images, labels, _ = _examples_of(evidence, "test")
    ids = _example_ids(images, evidence.inputs["test_images"])  # at least one: _examples_of refuses none
    if not np.array_equal(ids, np.arange(len(ids))):
        raise CheckFailed(tr("The test examples come out in a different order from the one they went in."))
    given = evidence.inputs["test_labels"][:len(ids)]
    if labels.shape == given.shape and not np.array_equal(labels, given):
        raise CheckFailed(tr("The test labels are not in their original order."))


add_classifier_checks(
    ASSIGNMENT, builder="build_cnn", input_shape=(28, 28, 1),
    layers=["Conv2D(32, 3x3, same)", "ReLU", "MaxPooling2D(2x2, strides 2)", "Conv2D(64, 3x3, same)", "ReLU",
            "MaxPooling2D(2x2, strides 2)", "Flatten", "Dense(128)", "ReLU", "Dense(10)", "Softmax"],
    parameters=421_642, min_accuracy=0.85, train_size=1000, test_size=500, epochs=2, prefix="cnn",
)
