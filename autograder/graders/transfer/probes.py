"""transfer probes (sandbox worker side): load_vgg_base, freeze_vgg, build_transfer_model, unfreeze_from and
compile_for_fine_tuning, each given the kit's VGG16 base (:func:`contract.reference_base`).
"""
from __future__ import annotations

import numpy as np

from autograder.core.spec import ProbeSet
from autograder.core.wire import describe
from autograder.graders.common.contract import shapes
from autograder.graders.common.probes import built_for_shapes, failure_kept, shippable, weights_requested
from autograder.graders.transfer.contract import (FIRST_UNFROZEN, SIZE, TRAIN_SIZE, compiled_transfer_model,
                                                  reference_base, reference_transfer_model, weight_layers)

PROBES = ProbeSet()
# load_vgg_base(weights="imagenet") is called at 224: the one size VGG16 *with* its top accepts ImageNet's weights at,
# so a base built with include_top=True (another check's mistake) still shows whether it passes weights on.
IMAGENET_SIZE = 224


# ----------------------------------------------------------------- load_vgg_base
def _shapes_or_description(value):
    """A returned model's input and output shapes as JSON, or a description of what came back instead."""
    import keras

    return shapes(value) if isinstance(value, keras.Model) else describe(value)


@PROBES.register
def vgg_base(student, inputs, ctx):
    small = student.call("load_vgg_base", image_size=SIZE, weights=None)  # shipped: its weights as built
    other = built_for_shapes(lambda: student.call("load_vgg_base", image_size=inputs["other_size"], weights=None))
    default = built_for_shapes(lambda: student.call("load_vgg_base", weights=None))
    observed = {"model": shippable(small), "other": _shapes_or_description(other),
                "default": _shapes_or_description(default)}
    observed["imagenet_requested"] = weights_requested(
        observed, "imagenet", lambda: student.call("load_vgg_base", image_size=IMAGENET_SIZE, weights="imagenet"))
    return observed


# ----------------------------------------------------------------- freeze_vgg
def _small_model():
    """Another Keras model to freeze: freeze_vgg must freeze whatever model it is given, not only VGG16's layers."""
    import keras
    from keras import layers

    return keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(4, 3), layers.BatchNormalization(),
                             layers.ReLU(), layers.GlobalAveragePooling2D(), layers.Dense(2)], name="small")


@PROBES.register
def freeze(student, inputs, ctx):
    base = reference_base(TRAIN_SIZE)
    returned = student.call("freeze_vgg", base)
    other = _small_model()
    other_returned = student.call("freeze_vgg", other)
    return {"model": shippable(returned), "same_object": returned is base,
            "other_same_object": other_returned is other,
            "other_trainable": [layer.name for layer in other.layers if layer.trainable_weights]}


# ----------------------------------------------------------------- build_transfer_model
@PROBES.register
def transfer_model(student, inputs, ctx):
    base = reference_base(TRAIN_SIZE, trainable=False)
    kernel = np.array(base.get_layer("block1_conv1").kernel.numpy())
    model = student.call("build_transfer_model", base)
    return {"model": shippable(model), "base_kernel": kernel}


# ----------------------------------------------------------------- unfreeze_from
@PROBES.register
def unfreeze(student, inputs, ctx):
    frozen = reference_base(TRAIN_SIZE, trainable=False)  # as left by freeze_vgg
    model = reference_transfer_model(frozen)
    returned = student.call("unfreeze_from", frozen)
    observed = {"model": model, "same_object": returned is frozen}
    for k, name in enumerate(inputs["layer_names"]):
        base = reference_base(TRAIN_SIZE, trainable=k % 2 == 1)  # frozen as freeze_vgg leaves it, or trainable
        # a failure here costs only the layer_name check
        failure_kept(observed, f"named{k}", lambda: student.call("unfreeze_from", base, layer_name=name))
        if f"named{k}_error" in observed:
            continue
        observed[f"named{k}_trainable"] = {layer.name: bool(layer.trainable) for layer in weight_layers(base)}
    return observed


# ----------------------------------------------------------------- compile_for_fine_tuning
@PROBES.register
def fine_tuning(student, inputs, ctx):
    def compiled(**kwargs):
        base = reference_base(TRAIN_SIZE)
        for layer in base.layers[:base.layers.index(base.get_layer(FIRST_UNFROZEN))]:
            layer.trainable = False
        # compiled as build_transfer_model left it (the assignment's flow): compile_for_fine_tuning compiles again
        return shippable(student.call("compile_for_fine_tuning", compiled_transfer_model(base), **kwargs))

    observed = {"model": compiled()}
    # without base_learning_rate written, only the check of base_learning_rate is lost
    observed["other"] = failure_kept(observed, "other", lambda: compiled(base_learning_rate=inputs["other_rate"]))
    return observed
