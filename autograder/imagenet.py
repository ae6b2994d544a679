"""Offline ImageNet resources: the class index ``decode_predictions`` needs, and cached VGG16 weights.

Keras downloads both on first use. Grading never downloads, so the kit looks for
them where they may already be: Keras' own cache (``$KERAS_HOME`` or ``~/.keras``),
then the file named by ``AUTOGRADER_IMAGENET_CLASS_INDEX``, then the course's shared
data folder beside the checkout (``../shared/data``), which is how ``make test`` and
CI find it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from autograder.i18n import tr
from autograder.spec import MissingResource

CLASS_INDEX_ENV = "AUTOGRADER_IMAGENET_CLASS_INDEX"
CLASS_INDEX_FILE = "imagenet_class_index.json"
VGG16_NOTOP_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
_SHARED_COPY = Path(__file__).resolve().parents[1].parent / "shared" / "data" / CLASS_INDEX_FILE


def keras_cache_dir() -> Path:
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "models"


def class_index_path() -> Path | None:
    """Where the 1000-class index is, or None when it is nowhere offline."""
    candidates = [keras_cache_dir() / CLASS_INDEX_FILE]
    if os.environ.get(CLASS_INDEX_ENV):
        candidates.append(Path(os.environ[CLASS_INDEX_ENV]).expanduser())
    candidates.append(_SHARED_COPY)
    return next((path for path in candidates if path.is_file()), None)


def load_class_index(path: Path | None) -> dict[str, list[str]]:
    """The class index at ``path`` as ``{"0": ["n01440764", "tench"], ...}``; MissingResource says what to do."""
    if path is None:
        raise MissingResource(tr(
            "The ImageNet class index ({file}) is not available offline, so predictions cannot be decoded. Set the "
            "environment variable {variable} to a copy of the file (or put it in {cache}). This is a setup problem "
            "of the grading machine, not your fault.",
            file=CLASS_INDEX_FILE, variable=CLASS_INDEX_ENV, cache=str(keras_cache_dir())))
    try:
        index = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MissingResource(tr("{path} is not a readable ImageNet class index ({error}); check {variable}.",
                                 path=str(path), error=str(exc), variable=CLASS_INDEX_ENV)) from exc
    if not isinstance(index, dict) or len(index) != 1000:
        raise MissingResource(tr("{path} does not hold 1000 ImageNet classes; check {variable}.",
                                 path=str(path), variable=CLASS_INDEX_ENV))
    return index


def cached_vgg16_weights() -> str | None:
    """``"imagenet"`` when VGG16's no-top weights are in the Keras cache, else None (random weights)."""
    return "imagenet" if (keras_cache_dir() / VGG16_NOTOP_FILE).is_file() else None
