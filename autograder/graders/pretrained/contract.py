"""Values and the two small known models both sides of the pretrained grader use (imports nothing from either side).

The known models are built in the sandbox worker (the student's code is given them) and again in
the grading process (the checks compute what their outputs should be).
"""
from __future__ import annotations

import numpy as np

TARGET = (24, 32)
MODEL_NAMES = ("resnet50", "vgg16")
FEATURE_INPUT = (64, 64, 3)
KNOWN_INPUT = (4, 4, 3)
N_CLASSES = 1000
# preprocess(batch, name) is called on two batches: (prefix of the observations, batch input)
BATCHES = (("", "batch"), ("other_", "other_batch"))
# extract_features(model, batch) is called on two batches: (observation key, batch input)
FEATURE_BATCHES = (("features", "batch"), ("other_features", "other_batch"))


def top_calls(tops: list[int]) -> list[tuple[str, int]]:
    """top_predictions(..., top=<top>) calls besides the default: (observation key, top), for 5 and the two drawn
    tops (one below 5, one above: decode_predictions' own default is 5)."""
    fewer, more = (int(top) for top in tops)
    return [("five", 5), ("fewer", fewer), ("more", more)]


def features_model(kernel: np.ndarray, bias: np.ndarray):
    """A small convolutional feature extractor with known weights (VGG16's shape of output, in miniature)."""
    import keras
    from keras import layers

    model = keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(8, 3, padding="same", activation="relu"),
                              layers.MaxPooling2D(2)])
    model.layers[0].set_weights([kernel, bias])
    return model
