"""Train a model whose first stage is a frozen, fixed feature extractor by computing its features once.

Keras runs a frozen base forward on every batch of every epoch, although its output for an image never
changes: for transfer's VGG16 that is two thirds of the training check's time. When a model computes
``head(base(x))``, with ``base`` frozen and made only of layers whose output depends on nothing but their
input and weights (the same in training and in inference), fitting the model is fitting ``head`` on
``base(x)``: the same trainable weights, the same loss, the same batches. :func:`split` finds such a base
and builds that head from the model's own layers (shared, not copied), or answers None; the training run
then trains the whole model, as it always could.
"""
from __future__ import annotations

import numpy as np


def _fixed_layer_types() -> tuple:
    """Layers whose output is a fixed function of their input once frozen: no randomness, no training-mode
    behaviour, no state that a forward pass updates (not Dropout, BatchNormalization, augmentation...)."""
    from keras import layers

    return layers.InputLayer, layers.Conv2D, layers.MaxPooling2D


def _regularized(layer) -> bool:
    """A regularizer adds a term to the model's loss, which the head alone would not report."""
    config = layer.get_config()
    return any(config.get(key) for key in ("kernel_regularizer", "bias_regularizer", "activity_regularizer"))


def is_fixed_extractor(layer) -> bool:
    """Whether ``layer`` is a nested model that is frozen and made only of fixed layers (VGG16 as a base)."""
    import keras

    inner = getattr(layer, "layers", None)
    return (isinstance(layer, keras.Model) and bool(inner) and layer.built and not layer.trainable_weights
            and len(layer.inputs) == 1 and len(layer.outputs) == 1
            and all(type(sub) in _fixed_layer_types() and not _regularized(sub) for sub in inner))


MAX_FEATURE_BYTES = 64 * 2 ** 20  # the features of every image are held at once; a full run holds a batch's


def split(model, images: int):
    """``(base, head)`` when ``model`` is ``head(base(x))`` with ``base`` a fixed extractor, else None.

    ``head`` shares the model's layers and weights and carries its compile settings, so fitting it on
    ``base.predict(x)`` trains the model's trainable weights exactly as fitting the model on ``x`` would.
    ``images`` is how many images the features are computed for, to keep them within MAX_FEATURE_BYTES.
    """
    import keras

    if not (model.trainable and model.built and getattr(model, "layers", None)):
        return None
    if _stepped(getattr(model, "optimizer", None)):  # the head gets a new optimizer from the compile settings
        return None
    first = next((layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)), None)
    inputs, outputs = getattr(model, "inputs", None) or [], getattr(model, "outputs", None) or []
    if len(inputs) != 1 or len(outputs) != 1 or not is_fixed_extractor(first):
        return None
    base = first
    per_image = base.outputs[0].shape[1:]
    if None in per_image or images * int(np.prod(per_image)) * 4 > MAX_FEATURE_BYTES:
        return None
    try:
        if isinstance(model, keras.Sequential):
            head = _sequential_head(model, base)
        elif isinstance(model, keras.Model) and type(model).__name__ == "Functional":
            head = _functional_head(model, base)
        else:
            return None
        if head is None or not head.trainable_weights:
            return None
        head.compile_from_config(model.get_compile_config())
    except (ValueError, TypeError):  # a graph Keras cannot rebuild on the features: trained whole
        return None
    return base, head


def _stepped(optimizer) -> bool:
    """Whether the optimizer has state of its own (it took steps before it was saved): a new one would not."""
    iterations = getattr(optimizer, "iterations", None)
    return iterations is not None and int(np.asarray(iterations)) != 0


def _sequential_head(model, base):
    import keras

    if len(model.layers) < 2:
        return None
    return keras.Sequential([keras.Input(batch_shape=base.outputs[0].shape), *model.layers[1:]], name="head")


def _functional_head(model, base):
    """The model's graph on a features input, where ``base`` was called once, on the model's input alone."""
    import keras
    from keras import tree

    def rebuilt(on, call):
        return keras.models.clone_model(model, input_tensors=tree.map_structure(lambda _: on, model.input),
                                        clone_function=lambda layer: layer, call_function=call)

    raw = keras.Input(batch_shape=model.inputs[0].shape, dtype=model.inputs[0].dtype)
    readers = []  # pass 1, on the raw input: which layers read it, and with what

    def trace(layer, *args, **kwargs):
        tensors = [x for x in tree.flatten((args, kwargs)) if isinstance(x, keras.KerasTensor)]
        if any(x is raw for x in tensors):
            readers.append((layer, len(tensors)))
        return layer(*args, **kwargs)

    features = keras.Input(batch_shape=base.outputs[0].shape)
    rebuilt(raw, trace)
    if readers != [(base, 1)]:  # the base alone reads the input, once, and nothing else with it
        return None
    return rebuilt(features, lambda layer, *args, **kwargs: features if layer is base else layer(*args, **kwargs))
