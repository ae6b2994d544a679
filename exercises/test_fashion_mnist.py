"""ফ্যাশন MNIST অনুশীলনের স্ব-পরীক্ষা / Self-check tests for the Fashion-MNIST exercise.

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
from keras import layers

from autograder.student.selfcheck_support import call, not_implemented
from fashion_mnist import AccuracyCallback, build_dense_classifier, normalize


def random_images(n, seed=0, shape=(28, 28)):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    images[0].flat[0] = 0      # নিশ্চিতভাবে ০ আর ২৫৫ দুটোই থাকবে / make sure 0 and 255 both occur
    images[0].flat[1] = 255
    labels = rng.integers(0, 10, size=n).astype(np.int64)
    return images, labels


def test_normalize_numpy():
    images, labels = random_images(6)
    out_images, out_labels = call(normalize, images, labels)
    out_images = np.asarray(out_images)
    assert out_images.dtype == np.float32, (
        f"ছবিগুলো float32 হওয়া উচিত / Normalized images should be float32, got {out_images.dtype}. "
        "Use tf.cast(images, tf.float32) before dividing."
    )
    assert out_images.shape == images.shape, (
        f"ছবির আকার বদলানো যাবে না / The shape must stay {images.shape}, got {out_images.shape}."
    )
    assert out_images.min() >= 0.0 and out_images.max() <= 1.0, (
        "মান ০ থেকে ১-এর মধ্যে থাকা উচিত / Values should lie in [0, 1]; "
        f"yours range from {out_images.min()} to {out_images.max()}. Divide by 255."
    )
    np.testing.assert_allclose(
        out_images, images.astype(np.float32) / 255.0, rtol=1e-6, atol=1e-7,
        err_msg="প্রতিটা পিক্সেলকে ২৫৫ দিয়ে ভাগ করো / Each pixel should be divided by 255.0.",
    )
    np.testing.assert_array_equal(
        np.asarray(out_labels), labels,
        err_msg="লেবেল বদলানো যাবে না / Labels must be returned unchanged.",
    )


def test_normalize_inside_dataset_map():
    images, labels = random_images(5, seed=1)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    call(normalize, images[0], labels[0])  # আগে সাধারণভাবে একবার / first once, outside tf.data
    mapped, problem = None, None
    try:
        mapped = dataset.map(normalize)
    except Exception as error:
        problem = f"{type(error).__name__}: {error}"
    if mapped is None:
        pytest.fail(
            "normalize কে Dataset.map এর ভেতরে চালানো গেল না / normalize does not work inside "
            f"tf.data.Dataset.map ({problem}). Use TensorFlow ops such as "
            "tf.cast instead of NumPy-only code.",
            pytrace=False,
        )
    assert mapped.element_spec[0].dtype == tf.float32, (
        "Dataset.map এর পর ছবি float32 হওয়া উচিত / After Dataset.map the images should be "
        f"tf.float32, got {mapped.element_spec[0].dtype}."
    )
    assert mapped.element_spec[1].dtype == tf.int64, (
        "লেবেলের dtype বদলানো যাবে না / The labels' dtype must stay int64, got "
        f"{mapped.element_spec[1].dtype}."
    )
    for (image, label), original, original_label in zip(mapped, images, labels):
        np.testing.assert_allclose(
            image.numpy(), original.astype(np.float32) / 255.0, rtol=1e-6, atol=1e-7,
            err_msg="Dataset.map এর ভেতরে মান ভুল / Wrong values inside Dataset.map: divide by 255.0.",
        )
        assert int(label) == int(original_label), "লেবেল বদলানো যাবে না / Labels must be unchanged."


def test_dense_classifier_parameters_and_output_shape():
    model = call(build_dense_classifier)
    assert isinstance(model, keras.Model), (
        f"build_dense_classifier একটা keras.Model ফেরত দেবে / should return a keras.Model, got {type(model)}."
    )
    n = model.count_params()
    assert n == 101_770, (
        "প্যারামিটারের সংখ্যা মিলছে না / The model should have 101,770 parameters "
        f"(Dense 128: 100,480 + Dense 10: 1,290); yours has {n:,}. "
        "Check keras.Input((28, 28)), Flatten, Dense(128) and Dense(10)."
    )
    predictions = np.asarray(model.predict(np.zeros((2, 28, 28), np.float32), verbose=0))
    assert predictions.shape == (2, 10), (
        f"দুটো ছবির জন্য আউটপুট (2, 10) হওয়া উচিত / For 2 images the output should be (2, 10), got {predictions.shape}."
    )


def test_dense_classifier_outputs_probabilities():
    model = call(build_dense_classifier)
    images, _ = random_images(4, seed=2)
    probabilities = np.asarray(model.predict(images.astype(np.float32) / 255.0, verbose=0))
    assert np.all(probabilities >= 0.0), (
        "আউটপুট ঋণাত্মক হতে পারে না / Outputs must be non-negative probabilities: "
        "use activation='softmax' on the last Dense layer."
    )
    np.testing.assert_allclose(
        probabilities.sum(axis=1), np.ones(4), atol=1e-5,
        err_msg="প্রতি সারির যোগফল ১ হওয়া উচিত / Each row should add up to 1: "
                "use activation='softmax' on the last Dense layer.",
    )


def test_dense_classifier_is_compiled():
    model = call(build_dense_classifier)
    optimizer = getattr(model, "optimizer", None)
    assert isinstance(optimizer, keras.optimizers.Adam), (
        "মডেলটা Adam দিয়ে কম্পাইল করো / Compile the model with the Adam optimizer; "
        f"found {type(optimizer).__name__}."
    )
    loss = model.loss
    loss_name = loss if isinstance(loss, str) else getattr(loss, "name", None) or getattr(loss, "__name__", "")
    assert "sparse_categorical_crossentropy" in str(loss_name).lower(), (
        "লস হবে sparse_categorical_crossentropy / The loss should be 'sparse_categorical_crossentropy' "
        f"(labels are class numbers); found {loss!r}."
    )
    images, labels = random_images(8, seed=3)
    results = model.evaluate(images.astype(np.float32) / 255.0, labels, verbose=0, return_dict=True)
    assert "accuracy" in results, (
        "metrics=['accuracy'] দিয়ে কম্পাইল করো / Compile with metrics=['accuracy']; "
        f"evaluate returned only {sorted(results)}."
    )


def _scripted_callback(threshold):
    callback = AccuracyCallback(threshold)
    model = keras.Sequential([keras.Input((1,)), layers.Dense(1)])
    callback.set_model(model)
    model.stop_training = False
    return callback, model


def test_callback_stops_only_above_threshold():
    callback, model = _scripted_callback(0.9)
    call(callback.on_epoch_end, 0, {"loss": 0.4, "accuracy": 0.85})
    assert model.stop_training is False, (
        "অ্যাকুরেসি 0.85 < 0.9, ট্রেনিং চলা উচিত / With accuracy 0.85 and threshold 0.9 training must go on."
    )
    call(callback.on_epoch_end, 1, {"loss": 0.3, "accuracy": 0.9})
    assert model.stop_training is False, (
        "ঠিক 0.9 হলে থামবে না / Accuracy equal to the threshold is not enough: use a strict '>'."
    )
    call(callback.on_epoch_end, 2, {"loss": 0.2, "accuracy": 0.95})
    assert model.stop_training is True, (
        "অ্যাকুরেসি 0.95 > 0.9, ট্রেনিং থামা উচিত / With accuracy 0.95 and threshold 0.9 set "
        "self.model.stop_training = True."
    )

    callback, model = _scripted_callback(0.5)
    call(callback.on_epoch_end, 0, {"accuracy": 0.6})
    assert model.stop_training is True, (
        "self.threshold ব্যবহার করো / Compare with self.threshold, not a fixed 0.9: threshold 0.5 and "
        "accuracy 0.6 should stop training."
    )


def test_callback_ignores_missing_logs():
    callback, model = _scripted_callback(0.9)
    call(callback.on_epoch_end, 0, None)
    call(callback.on_epoch_end, 1, {})
    call(callback.on_epoch_end, 2, {"loss": 0.1})
    assert model.stop_training is False, (
        "logs না থাকলে কিছু করবে না / With no logs or no 'accuracy' key the callback should do nothing."
    )


def test_callback_stops_fit():
    images, labels = random_images(16, seed=4)
    model = keras.Sequential([keras.Input((28, 28)), layers.Flatten(), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callback = AccuracyCallback(threshold=-1.0)  # যেকোনো অ্যাকুরেসিই বেশি / any accuracy exceeds it
    history = None
    try:
        history = model.fit(images / 255.0, labels, epochs=3, batch_size=16, callbacks=[callback], verbose=0)
    except NotImplementedError:
        pass
    if history is None:
        not_implemented("on_epoch_end")
    epochs_run = len(history.history["loss"])
    assert epochs_run == 1, (
        "কলব্যাক প্রথম ইপকেই fit থামাবে / With threshold -1 the callback should stop model.fit "
        f"after the first epoch, but {epochs_run} epochs ran."
    )
