"""GAP অনুশীলনের স্ব-পরীক্ষা / Self-check tests for the global-average-pooling exercise.

চালাও / Run:  pytest exercises/
এগুলো পাস করা মানে চুক্তির মূল অংশ ঠিক আছে; চূড়ান্ত গ্রেড আরও কিছু যাচাই করতে পারে।
Passing these means the main parts of the contract hold; the final grade may check more.
সব পরীক্ষা অফলাইনে চলে, ছোট কৃত্রিম ছবি দিয়ে / Everything runs offline on small made-up images.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest
import tensorflow as tf
import keras

from autograder.student.selfcheck_support import call, not_implemented
from gap import add_gap, build_head, build_standard_classifier, pre_process_image

HEAD_KINDS = ["Conv2D", "BatchNormalization", "ReLU", "MaxPooling2D"] * 3
CLASSIFIER_KINDS = ["Flatten", "BatchNormalization", "Dense", "ReLU",
                    "BatchNormalization", "Dense", "ReLU", "Dense", "sigmoid"]
CLASSIFIER_KINDS_WITH_DROPOUT = CLASSIFIER_KINDS[:4] + ["Dropout"] + CLASSIFIER_KINDS[4:]


def random_photo(height, width, seed=0):
    """মসৃণ রঙিন ছবি, যাতে যেকোনো রিসাইজ পদ্ধতিতে প্রায় একই ফল আসে।
    A smooth colour picture, so every sensible resize method gives nearly the same result."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    channels = [0.5 + 0.45 * np.sin(2 * np.pi * (a * y + b * x + c)) for a, b, c in rng.uniform(0.3, 1.2, (3, 3))]
    image = np.clip(np.rint(np.stack(channels, axis=-1) * 255), 0, 255).astype(np.uint8)
    image[0, 0] = (0, 255, 0)  # নিশ্চিতভাবে ০ আর ২৫৫ দুটোই থাকবে / make sure 0 and 255 both occur
    return image


def expected_image(image, size):
    """রেফারেন্স: ২৫৫ দিয়ে ভাগ, তারপর রিসাইজ / reference: divide by 255, then resize."""
    return tf.image.resize(tf.cast(image, tf.float32) / 255.0, (size, size)).numpy()


def assert_same_picture(found, expected, message):
    """গড় পার্থক্য ছোট হলেই চলবে: bilinear, nearest বা area — যেকোনো রিসাইজ ঠিক আছে।
    A small average difference is enough: bilinear, nearest or area resizing are all fine."""
    found = np.asarray(found, dtype=np.float64)
    assert found.shape == expected.shape, f"{message} (shape {found.shape}, expected {expected.shape})"
    difference = float(np.mean(np.abs(found - expected)))
    assert difference < 0.03, f"{message} (average difference {difference:.3f} on a 0-1 scale)"


def layer_kinds(model):
    """লেয়ারের ধরনগুলো; ReLU/sigmoid অ্যাক্টিভেশন আলাদা ধাপ হিসেবে দেখায়।
    The kinds of layers in order; a relu/sigmoid activation shows as its own step, so
    ReLU(), Activation("relu") and Dense(..., activation="relu") all read as "...", "ReLU"."""
    kinds = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.layers.ReLU):
            kinds.append("ReLU")
            continue
        activation = getattr(getattr(layer, "activation", None), "__name__", "linear")
        step = {"relu": "ReLU", "sigmoid": "sigmoid"}.get(activation, activation)
        if not isinstance(layer, keras.layers.Activation):
            kinds.append(type(layer).__name__)
            if activation == "linear":
                continue
        kinds.append(step)
    return kinds


def count_weights(weights):
    return int(sum(np.prod(w.shape) for w in weights))


def model_shape(model, what, attribute="output_shape"):
    """Sequential মডেলের input_shape / output_shape; মডেল তৈরি না হলে বুঝিয়ে ফেল করায়।
    The input_shape / output_shape of a Sequential model; fails with an explanation if unknown."""
    try:
        return tuple(getattr(model, attribute))
    except (AttributeError, ValueError, TypeError):
        pass
    pytest.fail(
        f"{what}-এর আকার জানা গেল না / The {attribute} of {what} is unknown: start the model with "
        "keras.Input((image_size, image_size, 3)).",
        pytrace=False,
    )


def test_pre_process_image_odd_size():
    image = random_photo(37, 53, seed=1)
    label = np.int64(1)
    out_image, out_label = call(pre_process_image, image, label)
    out_image = np.asarray(out_image)
    assert out_image.dtype == np.float32, (
        f"ছবি float32 হওয়া উচিত / The image should be float32 (use tf.cast), got {out_image.dtype}."
    )
    assert out_image.shape == (100, 100, 3), (
        "৩৭×৫৩ ছবি ১০০×১০০ হওয়া উচিত / A 37x53x3 image should come back as (100, 100, 3) with the "
        f"default image_size=IMAGE_SIZE; got {out_image.shape}. Resize with tf.image.resize."
    )
    assert out_image.min() >= 0.0 and out_image.max() <= 1.0, (
        "মান ০ থেকে ১-এর মধ্যে থাকা উচিত / Values should lie in [0, 1], got "
        f"{out_image.min():.3f}..{out_image.max():.3f}. Divide by 255.0."
    )
    assert_same_picture(
        out_image, expected_image(image, 100),
        "মান মিলছে না / Wrong values: cast to float32, divide by 255.0 and resize with "
        "tf.image.resize(image, (image_size, image_size)).",
    )
    assert int(np.asarray(out_label)) == 1, (
        f"লেবেল বদলানো যাবে না / The label must be returned unchanged: gave 1, got {out_label!r}."
    )


def test_pre_process_image_size_argument():
    image = random_photo(37, 53, seed=2)
    out_image, _ = call(pre_process_image, image, np.int64(0), image_size=24)
    out_image = np.asarray(out_image)
    assert out_image.shape == (24, 24, 3), (
        "image_size মেনে চলো / Use the image_size argument: image_size=24 should give (24, 24, 3), "
        f"got {out_image.shape}."
    )
    assert_same_picture(
        out_image, expected_image(image, 24),
        "image_size=24 এ মান ভুল / Wrong values for image_size=24: divide by 255.0 and resize "
        "to (image_size, image_size).",
    )


def test_pre_process_image_inside_dataset_map():
    sizes = [(37, 53), (64, 64), (120, 80)]
    photos = [random_photo(h, w, seed=i) for i, (h, w) in enumerate(sizes)]
    labels = [0, 1, 0]
    call(pre_process_image, photos[0], np.int64(labels[0]))  # আগে সাধারণভাবে একবার / first once, outside tf.data

    def generator():
        for photo, label in zip(photos, labels):
            yield photo, np.int64(label)

    dataset = tf.data.Dataset.from_generator(
        generator,
        output_signature=(tf.TensorSpec((None, None, 3), tf.uint8), tf.TensorSpec((), tf.int64)),
    )
    mapped, problem = None, None
    try:
        mapped = dataset.map(pre_process_image)
    except Exception as error:
        problem = f"{type(error).__name__}: {error}"
    if mapped is None:
        pytest.fail(
            "pre_process_image কে Dataset.map এর ভেতরে চালানো গেল না / pre_process_image does not work "
            f"inside tf.data.Dataset.map on images of unknown size ({problem}). Use TensorFlow ops "
            "such as tf.cast and tf.image.resize, not NumPy.",
            pytrace=False,
        )
    image_spec, label_spec = mapped.element_spec
    assert image_spec.dtype == tf.float32 and tuple(image_spec.shape) == (100, 100, 3), (
        "Dataset.map এর পর প্রতিটা ছবি (100, 100, 3) float32 হওয়া উচিত / After Dataset.map every image "
        f"should be a (100, 100, 3) float32 tensor, got {tuple(image_spec.shape)} {image_spec.dtype.name}."
    )
    assert label_spec.dtype == tf.int64, (
        f"লেবেলের dtype বদলানো যাবে না / The labels should stay int64, got {label_spec.dtype.name}."
    )
    batch_images, batch_labels = next(iter(mapped.batch(3)))
    assert tuple(batch_images.shape) == (3, 100, 100, 3), (
        "তিনটা ভিন্ন মাপের ছবি এক ব্যাচে আঁটা উচিত / Three photos of different sizes should fit in one "
        f"batch of shape (3, 100, 100, 3) after resizing, got {tuple(batch_images.shape)}."
    )
    assert_same_picture(
        batch_images.numpy(), np.stack([expected_image(p, 100) for p in photos]),
        "Dataset.map এর ভেতরে মান ভুল / Wrong values inside Dataset.map: divide by 255.0 and resize.",
    )
    np.testing.assert_array_equal(
        batch_labels.numpy(), labels, err_msg="লেবেল বদলানো যাবে না / Labels must be returned unchanged.",
    )


def test_head_layers_shape_and_parameters():
    head = call(build_head)
    assert isinstance(head, keras.Model), (
        f"build_head একটা keras.Sequential ফেরত দেবে / build_head should return a keras.Sequential, got {type(head)}."
    )
    kinds = layer_kinds(head)
    assert kinds == HEAD_KINDS, (
        "হেডের লেয়ারের ক্রম মিলছে না / The head should be three blocks of Conv2D -> BatchNormalization "
        f"-> ReLU -> MaxPooling2D (no activation inside Conv2D);\n expected {HEAD_KINDS}\n got      {kinds}"
    )
    shape = model_shape(head, "build_head()")
    assert shape == (None, 10, 10, 64), (
        "১০০ পিক্সেলে হেডের আউটপুট (None, 10, 10, 64) হওয়া উচিত / For 100-pixel input the head should "
        f"output (None, 10, 10, 64) (100 -> 98 -> 49 -> 47 -> 23 -> 21 -> 10), got {shape}. Use 3x3 "
        "kernels with the default 'valid' padding, 2x2 pooling and 32, 32, 64 filters."
    )
    total, trainable = head.count_params(), count_weights(head.trainable_weights)
    assert (total, trainable) == (29_152, 28_896), (
        "হেডের প্যারামিটার মিলছে না / The head should have 29,152 parameters, 28,896 trainable "
        "(896 + 9,248 + 18,496 for the convolutions, 128 + 128 + 256 for BatchNormalization); "
        f"yours has {total:,}, {trainable:,} trainable."
    )
    features = np.asarray(head(np.zeros((2, 100, 100, 3), np.float32), training=False))
    assert features.shape == (2, 10, 10, 64), (
        f"দুটো ছবিতে আউটপুট (2, 10, 10, 64) হওয়া উচিত / Two images should give (2, 10, 10, 64), got {features.shape}."
    )


def test_head_other_image_size():
    head = call(build_head, 48)
    shape = model_shape(head, "build_head(48)")
    assert shape == (None, 4, 4, 64), (
        "৪৮ পিক্সেলে আউটপুট (None, 4, 4, 64) হওয়া উচিত / build_head(48) should output (None, 4, 4, 64) "
        f"(48 -> 46 -> 23 -> 21 -> 10 -> 8 -> 4), got {shape}. Use image_size for the input shape."
    )
    input_shape = model_shape(head, "build_head(48)", "input_shape")
    assert input_shape == (None, 48, 48, 3), (
        f"ইনপুট (None, 48, 48, 3) হওয়া উচিত / The input should be (None, 48, 48, 3), got {input_shape}."
    )


def test_standard_classifier_on_head():
    head = call(build_head, 100)
    classifier = call(build_standard_classifier)
    kinds = layer_kinds(classifier)
    assert kinds == CLASSIFIER_KINDS, (
        "ক্লাসিফায়ারের লেয়ারের ক্রম মিলছে না / The classifier layers (without dropout_rate) should be\n"
        f" expected {CLASSIFIER_KINDS}\n got      {kinds}\n(no Dropout unless dropout_rate is given)."
    )
    problem = None
    try:
        model = keras.Sequential([head, classifier])
        probabilities = np.asarray(model.predict(np.random.default_rng(0).random((3, 100, 100, 3)), verbose=0))
    except Exception as error:
        problem = f"{type(error).__name__}: {error}"
    if problem:
        pytest.fail(
            "ক্লাসিফায়ারকে হেডের উপর বসানো গেল না / keras.Sequential([head, classifier]) failed "
            f"({problem}). The classifier must not have its own keras.Input.",
            pytrace=False,
        )
    n = classifier.count_params()
    assert n == 676_301, (
        "হেডের উপর ক্লাসিফায়ারের প্যারামিটার ৬,৭৬,৩০১ হওয়া উচিত / On the 100-pixel head the classifier "
        "should have 676,301 parameters (BatchNormalization 25,600 + Dense 640,100 + BatchNormalization "
        f"400 + Dense 10,100 + Dense 101); yours has {n:,}."
    )
    assert probabilities.shape == (3, 1), (
        f"তিনটা ছবিতে আউটপুট (3, 1) হওয়া উচিত / Three images should give (3, 1), got {probabilities.shape}."
    )
    assert np.all((probabilities >= 0.0) & (probabilities <= 1.0)), (
        "আউটপুট ০ থেকে ১-এর মধ্যে সম্ভাবনা হওয়া উচিত / Outputs should be probabilities in [0, 1]: end with "
        "Dense(1, activation='sigmoid')."
    )


def test_standard_classifier_dropout():
    classifier = call(build_standard_classifier, dropout_rate=0.5)
    kinds = layer_kinds(classifier)
    assert kinds == CLASSIFIER_KINDS_WITH_DROPOUT, (
        "dropout_rate দিলে প্রথম ReLU-এর পরে একটা Dropout বসবে / With dropout_rate, one Dropout goes "
        f"right after the first ReLU;\n expected {CLASSIFIER_KINDS_WITH_DROPOUT}\n got      {kinds}"
    )
    rates = [layer.rate for layer in classifier.layers if isinstance(layer, keras.layers.Dropout)]
    assert rates == [0.5], (
        f"Dropout-এর rate হবে dropout_rate / The Dropout rate should be dropout_rate=0.5, got {rates}."
    )


def test_add_gap_parameters_and_output():
    head = call(build_head, 32)
    parameters_before = head.count_params()
    model = call(add_gap, head)
    assert isinstance(model, keras.Model), (
        f"add_gap একটা keras.Model ফেরত দেবে / add_gap should return a keras.Model, got {type(model)}."
    )
    pooling = [layer for layer in model.layers if isinstance(layer, keras.layers.GlobalAveragePooling2D)]
    assert pooling, (
        "GlobalAveragePooling2D লেয়ার নেই / Use layers.GlobalAveragePooling2D() after the head "
        "(not Flatten)."
    )
    shared = {id(w) for w in head.weights} <= {id(w) for w in model.weights}
    assert shared, (
        "দেওয়া হেডটাই ব্যবহার করো / Put the given head itself first in the model; do not build a new head."
    )
    added = model.count_params() - parameters_before
    assert added == 65, (
        "GAP অংশে ৬৫টা প্যারামিটার হওয়া উচিত / GlobalAveragePooling2D + Dense(1) should add 65 "
        f"parameters to the head (64 weights + 1 bias); yours adds {added:,}."
    )
    probabilities = np.asarray(model.predict(np.random.default_rng(1).random((4, 32, 32, 3)), verbose=0))
    assert probabilities.shape == (4, 1), (
        f"চারটা ছবিতে আউটপুট (4, 1) হওয়া উচিত / Four images should give (4, 1), got {probabilities.shape}."
    )
    assert np.all((probabilities >= 0.0) & (probabilities <= 1.0)), (
        "আউটপুট ০ থেকে ১-এর মধ্যে সম্ভাবনা হওয়া উচিত / Outputs should be probabilities in [0, 1]: use "
        "Dense(1, activation='sigmoid')."
    )


def test_add_gap_is_compiled():
    head = call(build_head, 32)
    model = call(add_gap, head)
    optimizer = getattr(model, "optimizer", None)
    assert isinstance(optimizer, keras.optimizers.Adam), (
        "মডেলটা Adam দিয়ে কম্পাইল করো / Compile the model inside add_gap with the Adam optimizer; found "
        f"{type(optimizer).__name__}."
    )
    loss = model.loss
    loss_name = loss if isinstance(loss, str) else getattr(loss, "name", None) or getattr(loss, "__name__", "")
    assert "binary_crossentropy" in str(loss_name).lower(), (
        "লস হবে binary_crossentropy / The loss should be 'binary_crossentropy' (two classes, one "
        f"sigmoid output); found {loss!r}."
    )
    images = np.random.default_rng(2).random((4, 32, 32, 3)).astype(np.float32)
    labels = np.array([0, 1, 0, 1], dtype=np.int64)
    results = model.evaluate(images, labels, verbose=0, return_dict=True)
    assert "accuracy" in results, (
        f"metrics=['accuracy'] দিয়ে কম্পাইল করো / Compile with metrics=['accuracy']; evaluate returned only {sorted(results)}."
    )
