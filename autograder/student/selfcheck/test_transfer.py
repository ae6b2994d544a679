"""ট্রান্সফার লার্নিং অনুশীলনের স্ব-পরীক্ষা / Self-check tests for the transfer-learning exercise.

চালাও / Run:  pytest exercises/
এগুলো পাস করা মানে চুক্তির মূল অংশ ঠিক আছে; চূড়ান্ত গ্রেড আরও কিছু যাচাই করতে পারে।
Passing these means the main parts of the contract hold; the final grade may check more.
সব পরীক্ষা ইন্টারনেট ছাড়া চলে: VGG16 বানানো হয় weights=None দিয়ে, ছোট ছবির মাপে।
Everything runs offline: VGG16 is built with weights=None at small image sizes.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest
import keras

from autograder.student.selfcheck_support import call, not_implemented
from transfer import (
    build_transfer_model,
    compile_for_fine_tuning,
    freeze_vgg,
    load_vgg_base,
    unfreeze_from,
)

VGG16_PARAMS = 14_714_688
HEAD_PARAMS = 513
FROZEN_BLOCKS_1_TO_3 = 1_735_488
BLOCKS_4_AND_5 = 12_979_200


def vgg_base(image_size=32, frozen=False):
    """পরীক্ষার নিজস্ব VGG16 (অফলাইন) / The tests' own offline VGG16, so each function is checked on its own."""
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(image_size, image_size, 3))
    if frozen:
        vgg.trainable = False
    return vgg


def head_on(vgg):
    """পরীক্ষার নিজস্ব ট্রান্সফার মডেল / The tests' own transfer model: vgg -> GAP -> Dense(1)."""
    return keras.Sequential([vgg, keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(1)])


def count(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


def loss_from_logits(loss):
    if isinstance(loss, str):
        return False
    flag = getattr(loss, "from_logits", None)
    if flag is None and hasattr(loss, "get_config"):
        flag = loss.get_config().get("from_logits")
    return bool(flag)


def check_logit_loss(model, where):
    loss = getattr(model, "loss", None)
    assert loss_from_logits(loss), (
        f"{where}: লস হবে BinaryCrossentropy(from_logits=True) / The loss should be "
        "keras.losses.BinaryCrossentropy(from_logits=True), because Dense(1) has no activation and outputs "
        f"a logit; found {loss!r}. The plain 'binary_crossentropy' treats the outputs as probabilities and clips them."
    )


def check_accuracy_metric(model, image_size, where):
    images = np.random.default_rng(0).uniform(-1.0, 1.0, size=(4, image_size, image_size, 3)).astype(np.float32)
    labels = np.array([0, 1, 0, 1], dtype=np.float32)
    results = model.evaluate(images, labels, verbose=0, return_dict=True)
    assert "accuracy" in results, (
        f"{where}: metrics=['accuracy'] দিয়ে কম্পাইল করো / Compile with metrics=['accuracy']; "
        f"evaluate returned only {sorted(results)}."
    )


def test_load_vgg_base_small_image():
    vgg = call(load_vgg_base, image_size=64, weights=None)
    assert isinstance(vgg, keras.Model), (
        f"load_vgg_base একটা keras.Model ফেরত দেবে / should return a keras.Model, got {type(vgg).__name__}."
    )
    n = vgg.count_params()
    assert n == VGG16_PARAMS, (
        f"টপ ছাড়া VGG16-এ ১,৪৭,১৪,৬৮৮ প্যারামিটার / VGG16 without its top has {VGG16_PARAMS:,} parameters; "
        f"yours has {n:,}. Use keras.applications.VGG16(include_top=False, ...)."
    )
    dense = [layer.name for layer in vgg.layers if isinstance(layer, (keras.layers.Dense, keras.layers.Flatten))]
    assert not dense, (
        f"বেসে Flatten/Dense থাকবে না / The base must have no Flatten or Dense layers (include_top=False); found {dense}."
    )
    assert tuple(vgg.input.shape) == (None, 64, 64, 3), (
        f"image_size=64 হলে ইনপুট (None, 64, 64, 3) / With image_size=64 the input should be (None, 64, 64, 3), "
        f"got {tuple(vgg.input.shape)}. Pass input_shape=(image_size, image_size, 3)."
    )
    assert tuple(vgg.output.shape) == (None, 2, 2, 512), (
        f"৬৪ পিক্সেলে আউটপুট (None, 2, 2, 512) / For 64x64 images the output should be (None, 2, 2, 512) "
        f"(64 halved five times), got {tuple(vgg.output.shape)}."
    )
    names = [layer.name for layer in vgg.layers]
    assert "block4_conv1" in names and "block5_pool" in names, (
        "VGG16-এর আসল লেয়ারের নাম থাকা উচিত / The standard VGG16 layer names (block1_conv1 ... block5_pool) "
        f"should be there; found {names}."
    )


def test_load_vgg_base_default_size():
    vgg = call(load_vgg_base, weights=None)
    assert tuple(vgg.input.shape) == (None, 160, 160, 3), (
        f"ডিফল্ট ইনপুট (None, 160, 160, 3) / By default (image_size=IMAGE_SIZE=160) the input should be "
        f"(None, 160, 160, 3), got {tuple(vgg.input.shape)}."
    )
    assert tuple(vgg.output.shape) == (None, 5, 5, 512), (
        f"১৬০ পিক্সেলে আউটপুট (None, 5, 5, 512) / For 160x160 images the output should be (None, 5, 5, 512), "
        f"got {tuple(vgg.output.shape)}."
    )


def test_freeze_vgg():
    vgg = vgg_base()
    result = call(freeze_vgg, vgg)
    assert result is vgg, (
        "একই vgg অবজেক্ট ফেরত দাও / Return the same vgg object you were given (freeze it in place), "
        f"not {type(result).__name__}."
    )
    trainable = count(vgg.trainable_weights)
    assert trainable == 0, (
        f"জমানো বেসে কোনো trainable ওজন থাকবে না / A frozen base has no trainable weights; {trainable:,} "
        "parameters are still trainable. Set vgg.trainable = False."
    )
    frozen = count(vgg.non_trainable_weights)
    assert frozen == VGG16_PARAMS, (
        f"সব {VGG16_PARAMS:,} প্যারামিটার non-trainable হওয়া উচিত / All {VGG16_PARAMS:,} parameters should be "
        f"non-trainable, got {frozen:,}."
    )


def test_transfer_model_head_and_parameters():
    vgg = vgg_base(frozen=True)
    model = call(build_transfer_model, vgg)
    assert isinstance(model, keras.Model), (
        f"build_transfer_model একটা keras.Model ফেরত দেবে / should return a keras.Model, got {type(model).__name__}."
    )
    kernel = vgg.get_layer("block1_conv1").kernel
    assert any(w is kernel for w in model.weights), (
        "দেওয়া vgg-টাই মডেলের ভেতরে থাকবে / The model must be built on the vgg you were given "
        "(keras.Sequential([vgg, ...])), not on a new VGG16."
    )
    assert any(isinstance(layer, keras.layers.GlobalAveragePooling2D) for layer in model.layers), (
        "হেডে GlobalAveragePooling2D লাগবে / The head needs layers.GlobalAveragePooling2D() after the base; found "
        f"{[type(layer).__name__ for layer in model.layers]}."
    )
    trainable, frozen = count(model.trainable_weights), count(model.non_trainable_weights)
    assert (trainable, frozen) == (HEAD_PARAMS, VGG16_PARAMS), (
        "জমানো বেসে শুধু হেডের ৫১৩টা প্যারামিটার শেখে / With a frozen base only the head learns: expected "
        f"{HEAD_PARAMS} trainable (512 x 1 + 1) and {VGG16_PARAMS:,} non-trainable parameters, got "
        f"{trainable:,} and {frozen:,}. Use GlobalAveragePooling2D and a single Dense(1)."
    )
    outputs = np.asarray(model.predict(np.zeros((3, 32, 32, 3), np.float32), verbose=0))
    assert outputs.shape == (3, 1), (
        f"তিনটা ছবির জন্য আউটপুট (3, 1) / For 3 images the output should be (3, 1), got {outputs.shape}."
    )


def test_transfer_model_outputs_logits():
    model = call(build_transfer_model, vgg_base(frozen=True))
    last = model.layers[-1]
    assert isinstance(last, keras.layers.Dense) and last.units == 1, (
        f"শেষ লেয়ার Dense(1) / The last layer should be Dense(1), got {type(last).__name__}."
    )
    activation = getattr(getattr(last, "activation", None), "__name__", str(getattr(last, "activation", None)))
    assert activation == "linear", (
        "শেষ Dense(1)-এ activation দিও না / The last Dense(1) must have no activation (it outputs a logit); "
        f"found activation={activation!r}. Write layers.Dense(1)."
    )
    images = np.zeros((2, 32, 32, 3), np.float32)
    kernel, bias = last.get_weights()
    for value in (-3.0, 2.5):
        last.set_weights([np.zeros_like(kernel), np.full_like(bias, value)])
        outputs = np.asarray(model.predict(images, verbose=0)).ravel()
        np.testing.assert_allclose(
            outputs, [value, value], atol=1e-5,
            err_msg=(
                f"লজিট ঋণাত্মক বা ১-এর বেশি হতে পারে / With bias {value} and zero weights the logit should be {value}: "
                "the output must not be squashed into [0, 1] (no sigmoid)."
            ),
        )


def test_transfer_model_compile():
    model = call(build_transfer_model, vgg_base(frozen=True))
    optimizer = getattr(model, "optimizer", None)
    assert isinstance(optimizer, keras.optimizers.Adam), (
        f"মডেলটা Adam দিয়ে কম্পাইল করো / Compile the model with keras.optimizers.Adam(); found {type(optimizer).__name__}."
    )
    check_logit_loss(model, "build_transfer_model")
    check_accuracy_metric(model, 32, "build_transfer_model")


def test_unfreeze_from_block4_conv1():
    vgg = vgg_base(frozen=True)
    model = head_on(vgg)
    result = call(unfreeze_from, vgg)
    assert result is vgg, (
        "একই vgg অবজেক্ট ফেরত দাও / Return the same vgg object you were given (change it in place), "
        f"not {type(result).__name__}."
    )
    frozen_layer, open_layer = vgg.get_layer("block3_conv3"), vgg.get_layer("block4_conv1")
    assert not frozen_layer.trainable, (
        "block3_conv3 জমানোই থাকবে / block3_conv3 comes before block4_conv1 and must stay frozen (trainable=False)."
    )
    assert open_layer.trainable, (
        "block4_conv1 থেকে শেখার যোগ্য / block4_conv1 and every later layer must be trainable."
    )
    in_base = count(vgg.trainable_weights)
    assert in_base == BLOCKS_4_AND_5, (
        f"vgg.trainable_weights-এ ব্লক ৪ আর ৫ থাকবে / vgg.trainable_weights should hold blocks 4 and 5, "
        f"{BLOCKS_4_AND_5:,} parameters, got {in_base:,}. In Keras 3 a base frozen with vgg.trainable = False "
        "reports no trainable weights until you set vgg.trainable = True; do that first, then freeze the layers "
        "before layer_name."
    )
    trainable, frozen = count(model.trainable_weights), count(model.non_trainable_weights)
    assert (trainable, frozen) == (BLOCKS_4_AND_5 + HEAD_PARAMS, FROZEN_BLOCKS_1_TO_3), (
        "ফাইন-টিউনিংয়ে ১,২৯,৭৯,৭১৩ trainable আর ১৭,৩৫,৪৮৮ non-trainable / After unfreeze_from the transfer model "
        f"should have 12,979,713 trainable and 1,735,488 non-trainable parameters, got {trainable:,} and {frozen:,}."
    )


def test_unfreeze_from_other_layer_and_bad_name():
    vgg = vgg_base(frozen=True)
    model = head_on(vgg)
    call(unfreeze_from, vgg, "block5_conv1")
    trainable = count(model.trainable_weights)
    assert trainable == 7_079_937, (
        "layer_name মেনে চলো / Use the layer_name argument: from block5_conv1 on, the model should have "
        f"7,079,937 trainable parameters (block 5 + head), got {trainable:,}."
    )
    assert not vgg.get_layer("block4_conv3").trainable, (
        "layer_name-এর আগের সব জমানো / Every layer before layer_name must be frozen: block4_conv3 is still trainable."
    )
    try:
        call(unfreeze_from, vgg_base(frozen=True), "block9_conv1")
    except ValueError:
        return
    pytest.fail(
        "অচেনা নামে ValueError তোলো / unfreeze_from(vgg, 'block9_conv1') should raise ValueError: VGG16 has no such layer.",
        pytrace=False,
    )


def test_compile_for_fine_tuning():
    model = head_on(vgg_base(frozen=True))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    result = call(compile_for_fine_tuning, model)
    assert result is model, "একই মডেল ফেরত দাও / Return the same model after compiling it again."
    optimizer = getattr(model, "optimizer", None)
    assert isinstance(optimizer, keras.optimizers.RMSprop), (
        f"ফাইন-টিউনিংয়ে RMSprop / Compile with keras.optimizers.RMSprop for fine-tuning; found {type(optimizer).__name__}."
    )
    rate = float(optimizer.learning_rate)
    assert rate == pytest.approx(1e-5, rel=1e-3), (
        f"লার্নিং রেট base_learning_rate / 10 = 1e-5 / The learning rate should be base_learning_rate / 10 = 1e-5 "
        f"by default, got {rate:g}."
    )
    check_logit_loss(model, "compile_for_fine_tuning")
    check_accuracy_metric(model, 32, "compile_for_fine_tuning")

    call(compile_for_fine_tuning, model, base_learning_rate=1e-3)
    rate = float(model.optimizer.learning_rate)
    assert rate == pytest.approx(1e-4, rel=1e-3), (
        "base_learning_rate মেনে চলো / Use the base_learning_rate argument: base_learning_rate=1e-3 should give "
        f"1e-4, got {rate:g}."
    )
