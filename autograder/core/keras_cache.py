"""Where Keras keeps downloaded weights, and whether VGG16's no-top weights are there.

Both sides read this: the grading process decides whether to hand the cache to the sandbox
(read-only), and the kit's VGG16 base (built in the worker and in the grading process) uses the
weights when they are cached. Nothing is ever downloaded while grading.
"""
from __future__ import annotations

import os
from pathlib import Path

VGG16_NOTOP_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"


def keras_cache_dir() -> Path:
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "models"


def cached_vgg16_weights() -> str | None:
    """``"imagenet"`` when VGG16's no-top weights are in the Keras cache, else None (random weights)."""
    return "imagenet" if (keras_cache_dir() / VGG16_NOTOP_FILE).is_file() else None
