"""প্রি-ট্রেইনড মডেল অনুশীলনের স্ব-পরীক্ষা / Self-check tests for the pre-trained models exercise.

চালাও / Run:  pytest exercises/
এগুলো পাস করা মানে চুক্তির মূল অংশ ঠিক আছে; চূড়ান্ত গ্রেড আরও কিছু যাচাই করতে পারে।
Passing these means the main parts of the contract hold; the final grade may check more.

এই টেস্টগুলো কিছুই ডাউনলোড করে না: মডেলগুলো weights=None (এলোমেলো ওজন) বা ছোট হাতে-বানানো মডেল।
ImageNet-এর ক্লাস ইনডেক্স লাগে শুধু top_predictions-এর টেস্টে; সেটা নেওয়া হয় পরিবেশ চলক
AUTOGRADER_IMAGENET_CLASS_INDEX-এ দেওয়া ফাইল থেকে, নইলে ~/.keras/models/imagenet_class_index.json থেকে।
These tests download nothing: models use weights=None (random weights) or are tiny hand-made ones.
Only the top_predictions tests need ImageNet's class index: from the file named by the environment
variable AUTOGRADER_IMAGENET_CLASS_INDEX, or else ~/.keras/models/imagenet_class_index.json.
"""
import inspect
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest
import keras
from keras import layers
import keras.src.applications.imagenet_utils as imagenet_utils

from autograder.student.selfcheck_support import call, not_implemented
from pretrained import build_feature_extractor, extract_features, load_image_batch, preprocess, top_predictions

VGG16_NOTOP_PARAMS = 14_714_688
CLASS_INDEX_ENV = "AUTOGRADER_IMAGENET_CLASS_INDEX"


# ---------------------------------------------------------------------------------------------
# সহায়ক / Helpers
# ---------------------------------------------------------------------------------------------

def known_picture():
    """৩০×৪০ মাপের চেনা uint8 ছবি, যাতে ০ আর ২৫৫ দুটোই আছে / A known 30x40 uint8 picture with 0 and 255."""
    rng = np.random.default_rng(0)
    picture = rng.integers(0, 256, size=(30, 40, 3), dtype=np.uint8)
    picture[0, 0] = 0
    picture[0, 1] = 255
    return picture


def raw_batch(n=2, size=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 255.0, size=(n, size, size, 3)).astype(np.float32)


def load_class_index():
    """ImageNet ক্লাস ইনডেক্স Keras-এ বসায় (কখনো ডাউনলোড না করে); না পেলে None।
    Put ImageNet's class index into Keras without ever downloading it; None when it is not available."""
    if imagenet_utils.CLASS_INDEX is not None:
        return imagenet_utils.CLASS_INDEX
    candidates = []
    if os.environ.get(CLASS_INDEX_ENV):
        candidates.append(Path(os.environ[CLASS_INDEX_ENV]).expanduser())
    keras_home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    candidates.append(keras_home / "models" / "imagenet_class_index.json")
    for path in candidates:
        try:
            index = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(index, dict) and len(index) == 1000:
            imagenet_utils.CLASS_INDEX = index
            return index
    return None


def class_index_or_stand_in(monkeypatch):
    """আসল ইনডেক্স, নইলে (None, নকল ইনডেক্স বসিয়ে) — যাতে কোড চালানো যায় কিন্তু কিছু নামে না।
    The real index; otherwise None, with a stand-in installed so code can run without downloading."""
    index = load_class_index()
    if index is None:
        stand_in = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
        monkeypatch.setattr(imagenet_utils, "CLASS_INDEX", stand_in)
    return index


def skip_without_index():
    pytest.skip(
        "ImageNet-এর ক্লাস ইনডেক্স অফলাইনে পাওয়া যায়নি, তাই ক্লাসের নাম যাচাই বাদ / ImageNet's class "
        f"index is not available offline, so the class names cannot be checked: set {CLASS_INDEX_ENV} "
        "to a copy of imagenet_class_index.json (or put it in ~/.keras/models/)."
    )


def softmax(logits):
    exps = np.exp(logits - logits.max())
    return exps / exps.sum()


def known_scores_model():
    """যেকোনো ইনপুটে ক্লাস 5 > 17 > 300 > 42 > 999 — বাকি সব পেছনে।
    For any input, class 5 > 17 > 300 > 42 > 999, everything else behind."""
    model = keras.Sequential([keras.Input((4, 4, 3)), layers.Flatten(), layers.Dense(1000, activation="softmax")])
    bias = np.zeros(1000, np.float32)
    bias[[5, 17, 300, 42, 999]] = [8.0, 7.0, 6.0, 5.0, 4.0]
    model.layers[-1].set_weights([np.zeros((48, 1000), np.float32), bias])
    return model, softmax(bias)


def colour_model():
    """১×১ ছবি: প্রথম চ্যানেল বড় হলে ক্লাস 10, তৃতীয় চ্যানেল বড় হলে ক্লাস 20।
    A 1x1 picture: a large first channel means class 10, a large third channel class 20."""
    model = keras.Sequential([keras.Input((1, 1, 3)), layers.Flatten(), layers.Dense(1000, activation="softmax")])
    kernel = np.zeros((3, 1000), np.float32)
    kernel[0, 10] = 0.05
    kernel[2, 20] = 0.05
    model.layers[-1].set_weights([kernel, np.zeros(1000, np.float32)])
    return model


# ---------------------------------------------------------------------------------------------
# load_image_batch
# ---------------------------------------------------------------------------------------------

def test_load_image_batch_shape_and_raw_values(tmp_path):
    picture = known_picture()
    path = tmp_path / "picture.png"
    keras.utils.save_img(str(path), picture, scale=False)

    batch = call(load_image_batch, str(path))
    assert isinstance(batch, np.ndarray), (
        f"NumPy অ্যারে ফেরত দাও / Return a NumPy array (img_to_array + np.expand_dims), got {type(batch).__name__}."
    )
    assert batch.shape == (1, 224, 224, 3), (
        "ডিফল্টে আকার (1, 224, 224, 3) হওয়া উচিত / By default the batch should have shape (1, 224, 224, 3), "
        f"got {batch.shape}. Load with target_size and add the batch axis with np.expand_dims(..., axis=0)."
    )
    assert batch.dtype == np.float32, (
        f"ধরন float32 হওয়া উচিত / The batch should be float32 (img_to_array gives it), got {batch.dtype}."
    )
    assert batch.min() >= 0.0 and 1.0 < batch.max() <= 255.0, (
        "মান ০–২৫৫ থাকবে, ভাগ করবে না / Pixel values should stay in 0..255 (do not divide by 255 or "
        f"preprocess here), got {batch.min():.3f}..{batch.max():.3f}."
    )

    small = call(load_image_batch, str(path), target_size=(20, 30))
    assert np.asarray(small).shape == (1, 20, 30, 3), (
        "target_size=(20, 30) মানে উচ্চতা ২০, প্রস্থ ৩০ / target_size=(20, 30) means height 20 and width 30: "
        f"expected shape (1, 20, 30, 3), got {np.asarray(small).shape}. Pass target_size on to load_img."
    )

    same_size = np.asarray(call(load_image_batch, str(path), target_size=(30, 40)))
    np.testing.assert_array_equal(
        same_size[0], picture.astype(np.float32),
        err_msg="মূল মাপে পড়লে পিক্সেল হুবহু মিলবে / Loaded at its own size (30, 40) the pixels should equal "
                "the saved picture exactly (RGB order, values 0..255, no scaling).",
    )


# ---------------------------------------------------------------------------------------------
# preprocess
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model_name", ["vgg16", "resnet50"])
def test_preprocess_matches_keras_and_keeps_input(model_name):
    module = getattr(keras.applications, model_name)
    batch = raw_batch()
    original = batch.copy()
    result = call(preprocess, batch, model_name)
    assert isinstance(result, np.ndarray), (
        f"NumPy অ্যারে ফেরত দাও / preprocess should return a NumPy array, got {type(result).__name__}."
    )
    assert result.shape == batch.shape, (
        f"আকার বদলাবে না / The shape must stay {batch.shape}, got {result.shape}."
    )
    np.testing.assert_array_equal(
        batch, original,
        err_msg="তোমার ফাংশন ডাকা-অ্যারেটা বদলে ফেলেছে / preprocess changed the caller's array: "
                "preprocess_input works in place on float arrays, so give it a copy "
                "(np.array(batch, dtype=np.float32, copy=True)).",
    )
    expected = module.preprocess_input(original.copy())
    np.testing.assert_allclose(
        result, expected, rtol=1e-5, atol=1e-3,
        err_msg=f"{model_name}-এর নিজের preprocess_input চালাও / Use keras.applications.{model_name}."
                "preprocess_input on the raw 0..255 values (do not scale to [0, 1] first).",
    )
    # caffe স্টাইল: প্রথম চ্যানেল = নীল − 103.939 / caffe style: first channel = blue − 103.939
    np.testing.assert_allclose(
        result[..., 0], original[..., 2] - 103.939, rtol=1e-5, atol=1e-3,
        err_msg="প্রথম চ্যানেল হওয়া উচিত নীল − 103.939 / Channel 0 should be blue − 103.939 (RGB → BGR, then "
                "subtract the ImageNet means, no scaling).",
    )


def test_preprocess_rejects_unknown_model():
    batch = raw_batch(n=1)
    try:
        call(preprocess, batch, "inception")
    except ValueError as error:
        message = str(error)
        assert "inception" in message and "resnet50" in message and "vgg16" in message, (
            "ValueError-এর বার্তায় পাওয়া মান আর গ্রহণযোগ্য নাম থাকবে / The ValueError message should name "
            f"the value received ('inception') and the accepted names ('resnet50', 'vgg16'); got {message!r}."
        )
        return
    pytest.fail(
        "অজানা model_name-এ ValueError তোলো / preprocess(batch, 'inception') should raise ValueError, "
        "but it returned normally. Check model_name against the accepted names first.",
        pytrace=False,
    )


# ---------------------------------------------------------------------------------------------
# top_predictions
# ---------------------------------------------------------------------------------------------

def test_top_predictions_known_scores(monkeypatch):
    index = class_index_or_stand_in(monkeypatch)
    model, probabilities = known_scores_model()
    batch = np.random.default_rng(1).uniform(-120, 150, size=(1, 4, 4, 3)).astype(np.float32)
    result = call(top_predictions, model, batch)
    if index is None:
        skip_without_index()

    assert isinstance(result, list) and len(result) == 3, (
        "ডিফল্টে ৩টা টাপলের list / With the default top=3 return a list of 3 tuples, "
        f"got {type(result).__name__} of length {len(result) if hasattr(result, '__len__') else '?'}. "
        "Take decode_predictions(...)[0], the first image's list."
    )
    for item in result:
        assert isinstance(item, tuple) and len(item) == 3, (
            "প্রতিটা উপাদান (class_id, class_name, score) টাপল / Each item should be a "
            f"(class_id, class_name, score) tuple, got {item!r}."
        )
    expected_classes = [5, 17, 300]
    expected = [(index[str(c)][0], index[str(c)][1]) for c in expected_classes]
    found = [(item[0], item[1]) for item in result]
    assert found == expected, (
        "ক্লাস বা তাদের ক্রম মিলছে না / Wrong classes or order: this model's best classes are 5, 17, 300, "
        f"so expected {expected}, got {found}. Use decode_predictions on model.predict(batch), best first."
    )
    for item, c in zip(result, expected_classes):
        score = item[2]
        assert isinstance(score, (float, np.floating)), (
            f"score একটা সংখ্যা (float) / Each score should be a float, got {type(score).__name__}."
        )
        assert abs(float(score) - probabilities[c]) < 1e-4, (
            f"ক্লাস {c}-এর স্কোর মিলছে না / The score of class {c} should be the model's probability "
            f"{probabilities[c]:.5f}, got {float(score):.5f}."
        )

    five = call(top_predictions, model, batch, top=5)
    five_ids = [item[0] for item in five]
    expected_ids = [index[str(c)][0] for c in [5, 17, 300, 42, 999]]
    assert five_ids == expected_ids, (
        "top=5 দিলে সেরা ৫টা / top=5 should give the best five classes "
        f"{expected_ids}, got {five_ids}. Pass top on to decode_predictions."
    )


def test_top_predictions_first_image_as_given(monkeypatch):
    index = class_index_or_stand_in(monkeypatch)
    model = colour_model()
    red = np.array([[[[200.0, 0.0, 0.0]]]], np.float32)
    blue = np.array([[[[0.0, 0.0, 200.0]]]], np.float32)
    result = call(top_predictions, model, red, top=1)
    if index is None:
        skip_without_index()

    class_10, class_20 = index["10"][0], index["20"][0]
    assert result[0][0] == class_10, (
        "ব্যাচটা আবার প্রিপ্রসেস করো না / Do not preprocess the batch again: it is already preprocessed. "
        f"This model's best class for the given input is 10 ({class_10}), got {result[0][0]}."
    )
    first_red = call(top_predictions, model, np.concatenate([red, blue]), top=1)
    first_blue = call(top_predictions, model, np.concatenate([blue, red]), top=1)
    assert first_red[0][0] == class_10 and first_blue[0][0] == class_20, (
        "ব্যাচের প্রথম ছবির ফল দাও / Return the result of the FIRST image (decode_predictions(...)[0]): "
        f"expected {class_10} then {class_20}, got {first_red[0][0]} then {first_blue[0][0]}."
    )


# ---------------------------------------------------------------------------------------------
# build_feature_extractor
# ---------------------------------------------------------------------------------------------

def test_feature_extractor_is_vgg16_without_top():
    model = call(build_feature_extractor, weights=None, input_shape=(64, 64, 3))
    assert isinstance(model, keras.Model), (
        f"keras.Model ফেরত দাও / build_feature_extractor should return a keras.Model, got {type(model).__name__}."
    )
    n = model.count_params()
    assert n == VGG16_NOTOP_PARAMS, (
        "প্যারামিটারের সংখ্যা মিলছে না / VGG16 without its top has 14,714,688 parameters (the 13 Conv2D "
        f"layers); yours has {n:,}. Use keras.applications.VGG16(..., include_top=False)."
    )
    heads = [layer.name for layer in model.layers if isinstance(layer, (layers.Dense, layers.Flatten))]
    assert not heads, (
        "Flatten/Dense থাকবে না / The classifier top must be removed (include_top=False), "
        f"but these layers are still there: {heads}."
    )
    shape = tuple(model.output.shape)
    assert shape == (None, 2, 2, 512), (
        "৬৪×৬৪ ছবিতে আউটপুট (None, 2, 2, 512) / For input_shape=(64, 64, 3) the output should be "
        f"(None, 2, 2, 512) (64 → 32 → 16 → 8 → 4 → 2), got {shape}. Pass input_shape on to VGG16."
    )


def test_feature_extractor_accepts_any_size():
    model = call(build_feature_extractor, weights=None)
    shape = tuple(model.input.shape)
    assert shape == (None, None, None, 3), (
        "input_shape=None হলে যেকোনো মাপের ছবি চলবে / With input_shape=None the input should be "
        f"(None, None, None, 3), got {shape}."
    )
    features = np.asarray(model.predict(np.zeros((1, 32, 48, 3), np.float32), verbose=0))
    assert features.shape == (1, 1, 1, 512), (
        f"৩২×৪৮ ছবিতে (1, 1, 1, 512) / A 32x48 picture should give (1, 1, 1, 512), got {features.shape}."
    )
    default = inspect.signature(build_feature_extractor).parameters["weights"].default
    assert default == "imagenet", (
        f"weights-এর ডিফল্ট 'imagenet' / The default of weights should be 'imagenet', got {default!r}."
    )


# ---------------------------------------------------------------------------------------------
# extract_features
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def vgg16_random():
    return keras.applications.VGG16(weights=None, include_top=False)


def test_extract_features_shapes_and_values(vgg16_random):
    batch = raw_batch(n=2, size=64, seed=2) - 110.0  # মোটামুটি প্রিপ্রসেস করা মান / roughly preprocessed values
    features = call(extract_features, vgg16_random, batch)
    assert isinstance(features, np.ndarray), (
        f"NumPy অ্যারে ফেরত দাও / Return a NumPy array (model.predict), got {type(features).__name__}."
    )
    assert features.shape == (2, 2, 2, 512), (
        "দুটো ৬৪×৬৪ ছবিতে (2, 2, 2, 512) / Two 64x64 pictures should give (2, 2, 2, 512), "
        f"got {features.shape}."
    )
    np.testing.assert_allclose(
        features, vgg16_random.predict(batch, verbose=0), rtol=1e-4, atol=1e-4,
        err_msg="ফিচার মানে model.predict(batch) / The features should be exactly model.predict(batch); "
                "do not preprocess or change the batch again.",
    )
    one = np.asarray(call(extract_features, vgg16_random, np.zeros((1, 224, 224, 3), np.float32)))
    assert one.shape == (1, 7, 7, 512), (
        f"২২৪×২২৪ ছবিতে (1, 7, 7, 512) / One 224x224 picture should give (1, 7, 7, 512), got {one.shape}."
    )
