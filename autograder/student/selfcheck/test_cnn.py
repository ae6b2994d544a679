"""CNN অনুশীলনের স্ব-পরীক্ষা / Self-check tests for the CNN exercise.

চালাও / Run:  pytest exercises/
এগুলো পাস করা মানে চুক্তির মূল অংশ ঠিক আছে; চূড়ান্ত গ্রেড আরও কিছু যাচাই করতে পারে।
Passing these means the main parts of the contract hold; the final grade may check more.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest
import tensorflow as tf
import keras

from autograder.student.selfcheck_support import call, not_implemented
from cnn import build_cnn, make_batches, normalize


def random_images(n, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28, 1), dtype=np.uint8)
    images[0, 0, 0, 0] = 0      # নিশ্চিতভাবে ০ আর ২৫৫ দুটোই থাকবে / make sure 0 and 255 both occur
    images[0, 0, 1, 0] = 255
    return images


def datasets(n=70, seed=0):
    """n টা ছবি; লেবেল 0..n-1, যাতে ক্রম চেনা যায় / n images labelled 0..n-1 so the order is visible."""
    images = random_images(n, seed)
    labels = np.arange(n, dtype=np.int64)
    train = tf.data.Dataset.from_tensor_slices((images, labels))
    test = tf.data.Dataset.from_tensor_slices((images, labels))
    return images, labels, train, test


def finite_labels(dataset, what):
    infinite = int(dataset.cardinality()) == int(tf.data.INFINITE_CARDINALITY)
    assert not infinite, (
        f"{what} অসীম হয়ে গেছে / The {what} never ends: do not use repeat(); "
        "Keras ends an epoch when a finite dataset runs out."
    )
    return np.concatenate([labels.numpy() for _, labels in dataset])


def test_normalize_numpy():
    images = random_images(4, seed=1)
    labels = np.array([3, 1, 4, 1], dtype=np.int64)
    out_images, out_labels = call(normalize, images, labels)
    out_images = np.asarray(out_images)
    assert out_images.dtype == np.float32, (
        f"ছবিগুলো float32 হওয়া উচিত / Normalized images should be float32, got {out_images.dtype}."
    )
    assert out_images.shape == images.shape, (
        f"ছবির আকার বদলানো যাবে না / The shape must stay {images.shape}, got {out_images.shape}."
    )
    np.testing.assert_allclose(
        out_images, images.astype(np.float32) / 255.0, rtol=1e-6, atol=1e-7,
        err_msg="প্রতিটা পিক্সেলকে ২৫৫ দিয়ে ভাগ করো / Each pixel should be divided by 255.0, giving values in [0, 1].",
    )
    np.testing.assert_array_equal(
        np.asarray(out_labels), labels, err_msg="লেবেল বদলানো যাবে না / Labels must be returned unchanged.",
    )


def test_normalize_inside_dataset_map():
    images, labels, dataset, _ = datasets(5, seed=2)
    call(normalize, images[0], labels[0])  # আগে সাধারণভাবে একবার / first once, outside tf.data
    mapped, problem = None, None
    try:
        mapped = dataset.map(normalize)
    except Exception as error:
        problem = f"{type(error).__name__}: {error}"
    if mapped is None:
        pytest.fail(
            "normalize কে Dataset.map এর ভেতরে চালানো গেল না / normalize does not work inside "
            f"tf.data.Dataset.map ({problem}). Use TensorFlow ops such as tf.cast.",
            pytrace=False,
        )
    image_spec, label_spec = mapped.element_spec
    assert image_spec.dtype == tf.float32 and tuple(image_spec.shape) == (28, 28, 1), (
        "Dataset.map এর পর ছবি (28, 28, 1) float32 হওয়া উচিত / After Dataset.map each image should be "
        f"a (28, 28, 1) float32 tensor, got {tuple(image_spec.shape)} {image_spec.dtype.name}."
    )
    assert label_spec.dtype == tf.int64, (
        f"লেবেলের dtype বদলানো যাবে না / The labels should stay int64, got {label_spec.dtype.name}."
    )
    values = np.stack([image.numpy() for image, _ in mapped])
    np.testing.assert_allclose(
        values, images.astype(np.float32) / 255.0, rtol=1e-6, atol=1e-7,
        err_msg="Dataset.map এর ভেতরে মান ভুল / Wrong values inside Dataset.map: divide by 255.0.",
    )


def test_make_batches_first_batch():
    _, _, train, test = datasets()
    train_batches, test_batches = call(make_batches, train, test)
    for name, batches in (("train_batches", train_batches), ("test_batches", test_batches)):
        images, labels = next(iter(batches))
        assert tuple(images.shape) == (32, 28, 28, 1), (
            f"{name}: প্রথম ব্যাচ (32, 28, 28, 1) হওয়া উচিত / The first batch should have shape "
            f"(32, 28, 28, 1) with the default batch_size=32, got {tuple(images.shape)}."
        )
        assert images.dtype == tf.float32, (
            f"{name}: ব্যাচের ছবি float32 হওয়া উচিত / Batched images should be float32 "
            f"(map normalize), got {images.dtype.name}."
        )
        values = images.numpy()
        assert values.min() >= 0.0 and values.max() <= 1.0, (
            f"{name}: মান ০ থেকে ১-এর মধ্যে থাকা উচিত / Values should be in [0, 1], "
            f"got {values.min()}..{values.max()}. Map normalize over the dataset."
        )
        assert tuple(labels.shape) == (32,), (
            f"{name}: লেবেলের ব্যাচ (32,) হওয়া উচিত / The label batch should have shape (32,), got {tuple(labels.shape)}."
        )

    train_batches, _ = call(make_batches, train, test, batch_size=10)
    images, _ = next(iter(train_batches))
    assert images.shape[0] == 10, (
        f"batch_size মেনে চলো / Use the batch_size argument: batch_size=10 gave a batch of {images.shape[0]}."
    )


def test_make_batches_test_set_in_order():
    images, labels, train, test = datasets()
    _, test_batches = call(make_batches, train, test)
    seen = finite_labels(test_batches, "test_batches")
    assert len(seen) == 70, (
        f"টেস্ট সেটে ৭০টা ছবিই থাকবে / The test batches should hold all 70 images exactly once, got {len(seen)}."
    )
    np.testing.assert_array_equal(
        seen, labels,
        err_msg="টেস্ট সেট এলোমেলো করো না / Keep the test set in its original order (do not shuffle it).",
    )
    sizes = [int(batch.shape[0]) for batch, _ in test_batches]
    assert sizes == [32, 32, 6], (
        f"৭০টা ছবি ৩২-এর ব্যাচে হবে [32, 32, 6] / 70 images in batches of 32 should give sizes [32, 32, 6], got {sizes}."
    )
    all_images = np.concatenate([batch.numpy() for batch, _ in test_batches])
    np.testing.assert_allclose(
        all_images, images.astype(np.float32) / 255.0, rtol=1e-6, atol=1e-7,
        err_msg="টেস্টের ছবি নরমালাইজ করো / The test images should be normalized (divided by 255).",
    )


def test_make_batches_train_set_shuffled_each_epoch():
    _, labels, train, test = datasets()
    train_batches, _ = call(make_batches, train, test)
    first = finite_labels(train_batches, "train_batches")
    second = finite_labels(train_batches, "train_batches")
    for epoch in (first, second):
        assert len(epoch) == 70 and sorted(epoch.tolist()) == labels.tolist(), (
            "প্রতি ইপকে প্রতিটা ছবি ঠিক একবার আসবে / Each pass over train_batches should contain every "
            f"image exactly once (70 images); got {len(epoch)} items."
        )
    never_shuffled = bool(np.array_equal(first, labels) and np.array_equal(second, labels))
    assert not never_shuffled, (
        "ট্রেনিং সেট এলোমেলো করো / Shuffle the training set (before batching)."
    )
    batches = [batch_labels.numpy() for _, batch_labels in train_batches]
    whole_batches_only = all(np.array_equal(b, np.arange(b[0], b[0] + len(b))) for b in batches)
    assert not whole_batches_only, (
        "batch-এর আগে shuffle করো / Shuffle before batch: each batch holds consecutive images, "
        "so only whole batches were reordered."
    )
    same_order_twice = bool(np.array_equal(first, second))
    assert not same_order_twice, (
        "প্রতি ইপকে নতুন করে এলোমেলো হওয়া উচিত / The training set should be reshuffled every epoch: "
        "two passes gave the same order (fixed seed, reshuffle_each_iteration=False, or cache() after shuffle?)."
    )


def test_cnn_architecture():
    model = call(build_cnn)
    assert isinstance(model, keras.Model), f"build_cnn একটা keras.Model ফেরত দেবে / should return a keras.Model, got {type(model)}."
    n = model.count_params()
    assert n == 421_642, (
        "প্যারামিটারের সংখ্যা মিলছে না / The CNN should have 421,642 parameters "
        "(320 + 18,496 + 401,536 + 1,290); "
        f"yours has {n:,}. Check filters, kernel sizes, padding='same' and the pooling strides."
    )
    expected = [(None, 28, 28, 32), (None, 14, 14, 32), (None, 14, 14, 64), (None, 7, 7, 64), (None, 3136)]
    shapes = [tuple(layer.output.shape) for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    assert shapes[: len(expected)] == expected, (
        "লেয়ারের আউটপুটের আকার মিলছে না / The layer output shapes should start with "
        f"{expected}, got {shapes[: len(expected)]}."
    )
    predictions = np.asarray(model.predict(np.zeros((2, 28, 28, 1), np.float32), verbose=0))
    assert predictions.shape == (2, 10), (
        f"দুটো ছবির জন্য আউটপুট (2, 10) হওয়া উচিত / For 2 images the output should be (2, 10), got {predictions.shape}."
    )


def test_cnn_probabilities_and_compile():
    model = call(build_cnn)
    optimizer = getattr(model, "optimizer", None)
    assert isinstance(optimizer, keras.optimizers.Adam), (
        f"মডেলটা Adam দিয়ে কম্পাইল করো / Compile the model with the Adam optimizer; found {type(optimizer).__name__}."
    )
    loss = model.loss
    loss_name = loss if isinstance(loss, str) else getattr(loss, "name", None) or getattr(loss, "__name__", "")
    assert "sparse_categorical_crossentropy" in str(loss_name).lower(), (
        "লস হবে sparse_categorical_crossentropy / The loss should be 'sparse_categorical_crossentropy' "
        f"(labels are class numbers); found {loss!r}."
    )
    images = random_images(8, seed=3).astype(np.float32) / 255.0
    labels = np.arange(8, dtype=np.int64) % 10
    probabilities = np.asarray(model.predict(images, verbose=0))
    assert np.all(probabilities >= 0.0), (
        "আউটপুট ঋণাত্মক হতে পারে না / Outputs must be probabilities: use activation='softmax' on the last layer."
    )
    np.testing.assert_allclose(
        probabilities.sum(axis=1), np.ones(8), atol=1e-5,
        err_msg="প্রতি সারির যোগফল ১ হওয়া উচিত / Each row should add up to 1: use activation='softmax' on the last layer.",
    )
    results = model.evaluate(images, labels, verbose=0, return_dict=True)
    assert "accuracy" in results, (
        f"metrics=['accuracy'] দিয়ে কম্পাইল করো / Compile with metrics=['accuracy']; evaluate returned only {sorted(results)}."
    )
