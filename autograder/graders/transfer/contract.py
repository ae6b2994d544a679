"""What both sides of the transfer grader use (imports nothing from either side): the kit's VGG16 base and head.

The sandbox worker hands the student the kit's base (``reference_base``); the grading process
builds it too (the calibration in ``benchmarks/calibrate_binary.py``) and puts the contract's head
(``reference_transfer_model``) on the bases students return.
"""
from __future__ import annotations

import functools

import numpy as np

from autograder.core.keras_cache import cached_vgg16_weights
from autograder.core.keras_init import random_draws_skipped

SIZE, TRAIN_SIZE = 64, 32
FIRST_UNFROZEN = "block4_conv1"
RANDOM_BASE_SEED, FIRST_LAYER_SCALE = 3, 0.05


def reference_base(image_size: int, *, trainable: bool = True):
    """VGG16 without its top, built by the kit: ImageNet weights when cached, else fixed He-normal weights.

    The random weights are the same for every grading seed (the seed still varies the
    data, the head's initial weights and the shuffling): one fixed base keeps the task
    the thresholds were calibrated on (``benchmarks/calibrate_binary.py``).
    """
    import keras

    weights = cached_vgg16_weights()
    with random_draws_skipped():  # every weight is set below, or loaded from the cache
        base = keras.applications.VGG16(include_top=False, weights=weights, input_shape=(image_size, image_size, 3))
    if weights is None:
        layers = [layer for layer in base.layers if layer.weights]
        drawn = _random_weights(tuple((layer.name, tuple(layer.kernel.shape), tuple(layer.bias.shape))
                                      for layer in layers))
        for layer, values in zip(layers, drawn):
            layer.set_weights(list(values))
    base.trainable = trainable
    return base


@functools.lru_cache(maxsize=1)  # a probe builds the base up to five times: 14.7M draws once (0.2 s each time)
def _random_weights(shapes: tuple) -> tuple:
    """The fixed He-normal weights, (kernel, bias) per (name, kernel shape, bias shape), read-only."""
    rng = np.random.default_rng(RANDOM_BASE_SEED)
    drawn = []
    for name, kernel_shape, bias_shape in shapes:
        fan_in = int(np.prod(kernel_shape[:3]))
        # The first layer also scales 0-255 ("caffe") inputs down, so the features are of order 1.
        std = np.sqrt(2.0 / fan_in) * (FIRST_LAYER_SCALE if name == "block1_conv1" else 1.0)
        kernel, bias = rng.normal(0.0, std, kernel_shape).astype(np.float32), np.zeros(bias_shape, np.float32)
        kernel.setflags(write=False)
        bias.setflags(write=False)
        drawn.append((kernel, bias))
    return tuple(drawn)


def reference_transfer_model(base):
    import keras
    from keras import layers

    return keras.Sequential([base, layers.GlobalAveragePooling2D(), layers.Dense(1)])


def compiled_transfer_model(base):
    """The contract's model on ``base``, compiled as build_transfer_model compiles it: what compile_for_fine_tuning
    is given in the assignment's flow, so a student's compile may reuse what is there (``loss=model.loss``)."""
    import keras

    model = reference_transfer_model(base)
    model.compile(optimizer=keras.optimizers.Adam(), loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def weight_layers(base) -> list:
    """The layers of a base that hold weights (VGG16's convolutions), in order."""
    return [layer for layer in base.layers if layer.weights]
