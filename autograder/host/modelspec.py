"""Read a Keras model's structure and compile settings through public Keras 3 APIs.

Layers are turned into a canonical stack of short names so that equivalent
spellings compare equal: ``Dense(128, activation="relu")`` and ``Dense(128)``
followed by ``ReLU()`` or ``Activation("relu")`` both read ``Dense(128) → ReLU``.
"""
from __future__ import annotations

import re

from autograder.core.i18n import Text, tr

_ACTIVATION_NAMES = {"relu": "ReLU", "softmax": "Softmax", "sigmoid": "Sigmoid", "tanh": "Tanh",
                     "linear": None, None: None}


def _activation(name) -> str | None:
    if isinstance(name, dict):  # an unresolvable serialized function: show what it was
        return f"Activation({name.get('config')})"
    return _ACTIVATION_NAMES.get(name, f"Activation({name})")


def _pair(value) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    return tuple(int(v) for v in value)


def _layer_ops(layer) -> list[str]:
    kind = type(layer).__name__
    config = layer.get_config()
    if kind == "InputLayer":
        return []
    if hasattr(layer, "layers") and kind in ("Sequential", "Functional", "Model"):
        return [op for inner in layer.layers for op in _layer_ops(inner)]
    if kind == "Dense":
        return [f"Dense({config['units']})"] + [op for op in [_activation(config.get("activation"))] if op]
    if kind == "Conv2D":
        kh, kw = _pair(config["kernel_size"])
        text = f"Conv2D({config['filters']}, {kh}x{kw}, {config['padding']}"
        if _pair(config["strides"]) != (1, 1):
            text += f", strides {_pair(config['strides'])[0]}"
        return [text + ")"] + [op for op in [_activation(config.get("activation"))] if op]
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        ph, pw = _pair(config["pool_size"])
        strides = _pair(config["strides"] if config.get("strides") is not None else config["pool_size"])
        text = f"{kind}({ph}x{pw}, strides {strides[0]}"
        return [text + (", same)" if config.get("padding") == "same" else ")")]
    if kind == "ReLU":
        plain = (config.get("max_value") is None and not config.get("negative_slope")
                 and not config.get("threshold"))
        return ["ReLU" if plain else "ReLU(modified)"]
    if kind == "Activation":
        return [op for op in [_activation(config.get("activation"))] if op]
    if kind == "Softmax":
        return ["Softmax"]
    if kind == "Dropout":
        return [f"Dropout({config['rate']:g})"]
    return [kind]


def layer_stack(model) -> list[str]:
    """The model's computation as canonical layer names, nested models flattened, inputs dropped."""
    return [op for layer in model.layers for op in _layer_ops(layer)]


def describe_stack_difference(expected: list[str], found: list[str]) -> Text:
    arrow = " → "
    stacks = {"expected": arrow.join(expected), "found": arrow.join(found) or tr("no layers")}
    for position, (want, got) in enumerate(zip(expected, found), start=1):
        if want != got:
            return tr("Expected layers {expected}; found {found}. First difference at step {position}: "
                      "expected {want}, found {got}.", **stacks, position=position, want=want, got=got)
    if len(found) < len(expected):
        return tr("Expected layers {expected}; found {found}. Missing at the end: {missing}.",
                  **stacks, missing=arrow.join(expected[len(found):]))
    return tr("Expected layers {expected}; found {found}. Unexpected extra layers at the end: {extra}.",
              **stacks, extra=arrow.join(found[len(expected):]))


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def compiled_loss(model) -> tuple[str | None, bool]:
    """(canonical loss name, from_logits) from the model's compile config; (None, False) if uncompiled."""
    config = model.get_compile_config() if hasattr(model, "get_compile_config") else None
    loss = (config or {}).get("loss")
    if loss is None:
        return None, False
    if isinstance(loss, str):
        return _snake(loss) if loss[:1].isupper() else loss, False
    if isinstance(loss, dict):
        if loss.get("class_name") == "function":
            return str(loss.get("config")), False
        inner = loss.get("config") or {}
        return _snake(str(loss.get("class_name"))), bool(inner.get("from_logits", False))
    return type(loss).__name__, False


def optimizer_name(model) -> str | None:
    optimizer = getattr(model, "optimizer", None)
    config = model.get_compile_config() if hasattr(model, "get_compile_config") else None
    if optimizer is None or not config:
        return None
    return type(optimizer).__name__


def learning_rate(model) -> float | None:
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    return float(optimizer.learning_rate)


def weight_bytes(weight):
    """``(dtype|shape, bytes)`` of a weight's value: the bytes a flat uint8 NumPy view, read where they lie, for
    hashing; never kept past the next update (the view may share the variable's buffer). Copying a VGG16 base's
    59 MB instead cost 0.4-0.7 s of CPU on the 2-core machine (fresh memory is slow to touch), hashing it 0.04 s."""
    import keras
    import numpy as np

    value = np.ascontiguousarray(np.asarray(keras.ops.convert_to_tensor(weight)))
    return f"{value.dtype.str}|{value.shape}", value.reshape(-1).view(np.uint8)  # any dtype, bfloat16 included
