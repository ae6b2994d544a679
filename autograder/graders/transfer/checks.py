"""transfer checks (grading process): a frozen VGG16 base, a GAP + logit head, and fine-tuning its top blocks.

VGG16's structure and parameter counts do not depend on the image size, so the
kit grades at 32x32 (64x64 where a size must show) to stay fast on a laptop CPU.
Without ImageNet weights in the Keras cache the base is VGG16 with random
He-normal weights (Keras' default initialisation shrinks the signal through 13
layers); the training task is chosen so that a frozen random base still
separates its classes (see ``autograder.student.datasets.synthetic_two_class``).
The probes declared here by name run in the sandbox worker (``probes.py``).
"""
from __future__ import annotations

import numpy as np

from autograder.core.i18n import Text, tr
from autograder.core.spec import Assignment, CheckFailed
from autograder.graders.common import checks as common, models
from autograder.graders.transfer.contract import (FIRST_UNFROZEN, SIZE, TRAIN_SIZE, reference_transfer_model,
                                                  weight_layers)
from autograder.host import modelspec
from autograder.host.context import error_summary

ASSIGNMENT = Assignment(
    id="transfer",
    title=tr("Transfer learning and fine-tuning with VGG16"),
    student_names=("load_vgg_base", "freeze_vgg", "build_transfer_model", "unfreeze_from", "compile_for_fine_tuning"),
)

DEFAULT_SIZE = 160
VGG_PARAMETERS = 14_714_688
HEAD_PARAMETERS = 513
FINE_TUNE_TRAINABLE, FINE_TUNE_FROZEN = 12_979_713, 1_735_488
# unfreeze_from(vgg, layer_name=...) is also asked for a drawn layer of the first, the middle and the last blocks
# (pooling layers included), so that code that special-cases a layer's name shows wherever the name sits.
LAYER_NAME_CHOICES = (("block1_conv1", "block1_conv2", "block1_pool", "block2_conv1", "block2_conv2"),
                      ("block3_conv1", "block3_conv2", "block3_conv3", "block3_pool", "block4_conv2", "block4_conv3"),
                      ("block5_conv2", "block5_conv3"))
BASE_LEARNING_RATE = 1e-4
OTHER_BASE_LEARNING_RATES = (3e-4, 5e-4, 1e-3, 2e-3, 5e-3)  # compile_for_fine_tuning(..., base_learning_rate=<drawn>)
OTHER_SIZES = (32, 48, 96, 128)  # load_vgg_base(image_size=<drawn>) besides SIZE and the default
MIN_ACCURACY, N_TRAIN, N_TEST, EPOCHS, BATCH = 0.75, 240, 100, 4, 16
MAX_TRAIN_PARAMETERS = 20_000_000


def vgg_layer_names() -> list[str]:
    names = []
    for block, convs in enumerate((2, 2, 3, 3, 3), start=1):
        names += [f"block{block}_conv{i}" for i in range(1, convs + 1)] + [f"block{block}_pool"]
    return names


VGG_OPS = [op for name in vgg_layer_names() for op in (
    ["MaxPooling2D(2x2, strides 2)"] if name.endswith("pool") else
    [f"Conv2D({64 * 2 ** min(int(name[5]) - 1, 3)}, 3x3, same)", "ReLU"])]


def _on_head(base):
    """The contract's head on a returned base, or CheckFailed when that base cannot carry it."""
    try:
        return reference_transfer_model(base)
    except Exception as exc:  # noqa: BLE001 - a returned model that is not a convolutional base
        raise CheckFailed(tr("The returned model cannot be followed by GlobalAveragePooling2D and Dense(1): {error}",
                             error=error_summary(exc))) from exc


def model_inputs(images: np.ndarray) -> np.ndarray:
    """What the grading runs feed VGG16: its own ("caffe") preprocessing of 0-255 pixels."""
    import keras

    return keras.applications.vgg16.preprocess_input(images.astype(np.float32))


def _batch(ctx, n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    _, test = ctx.two_class_images(N_TRAIN, N_TEST, TRAIN_SIZE)
    return model_inputs(test.images[:n]), test.labels[:n]


def _base_of(model):
    """The VGG16 part of a model: the nested base, or the model itself when it is the base."""
    for layer in getattr(model, "layers", []):
        if any(inner.name == "block1_conv1" for inner in getattr(layer, "layers", [])):
            return layer
    return model


def _layer_changes(model, x, y) -> dict[str, bool]:
    """Which VGG layers (by name) and which head ('head': every other weight) moved after one trusted training
    step. The base is the nested VGG16 model, or, where the model holds VGG16's layers itself (the book's
    ``keras.Model(vgg.input, Dense(1)(GlobalAveragePooling2D()(vgg.output)))``), the layers named as VGG16's."""
    base = _base_of(model)
    moved = models.changed_after_training_step(model, x, y.reshape(-1, 1).astype(np.float32))
    vgg = weight_layers(base) if base is not model else [
        layer for layer in weight_layers(model) if layer.name in set(vgg_layer_names())]
    changes = {layer.name: any(moved[id(w)] for w in layer.weights) for layer in vgg}
    base_ids = {id(w) for layer in vgg for w in layer.weights}
    changes["head"] = any(changed for key, changed in moved.items() if key not in base_ids)
    return changes


# ----------------------------------------------------------------- load_vgg_base
def _vgg_base_inputs(seed: int) -> dict:
    return {"other_size": int(np.random.default_rng(seed + 910).choice(OTHER_SIZES))}


ASSIGNMENT.probe("vgg_base", uses="load_vgg_base", inputs=_vgg_base_inputs)


def _vgg(evidence):
    return models.model(evidence, "model",
                        tr("the model returned by load_vgg_base(image_size={size}, weights=None)", size=SIZE))


@ASSIGNMENT.check("vgg_base", points=1, title=tr("load_vgg_base returns a Keras model"),
                  hint=tr("Return keras.applications.VGG16(include_top=False, weights=weights, input_shape=...)."))
def vgg_returns_model(evidence, ctx):
    _vgg(evidence)


@ASSIGNMENT.check("vgg_base", points=1, title=tr("the base has no classifier top (include_top=False)"),
                  hint=tr("include_top=False drops VGG16's Flatten and Dense layers; the base ends with block5_pool."))
def vgg_no_top(evidence, ctx):
    extra = models.classifier_top(_vgg(evidence))
    if extra:
        raise CheckFailed(tr("The base contains {layers}: that is the classifier top.", layers=", ".join(extra)))


@ASSIGNMENT.check("vgg_base", points=1, title=tr("the base has {parameters:,} parameters", parameters=VGG_PARAMETERS),
                  hint=tr("VGG16 without its top has 13 convolution layers and 14,714,688 parameters."))
def vgg_parameters(evidence, ctx):
    models.expect_parameter_count(_vgg(evidence), VGG_PARAMETERS, tr("The base"))


@ASSIGNMENT.check("vgg_base", points=1, title=tr("the base takes image_size x image_size RGB images"),
                  hint=tr("input_shape=(image_size, image_size, 3), from the argument."))
def vgg_input_shape(evidence, ctx):
    model = _vgg(evidence)
    found = models.input_shape(model)
    if found != (None, SIZE, SIZE, 3):
        raise CheckFailed(tr("load_vgg_base(image_size={size}) takes inputs of shape {found}; expected "
                             "(None, {size}, {size}, 3).", size=SIZE, found=found))
    batch = np.zeros((1, SIZE, SIZE, 3), np.float32)
    output = models.predict(model, batch, tr("The base"))
    if output.shape != (1, SIZE // 32, SIZE // 32, 512):
        raise CheckFailed(tr("For a {size}x{size} image the base returned shape {found}; expected "
                             "(1, {cells}, {cells}, 512).", size=SIZE, found=output.shape, cells=SIZE // 32))
    size, other = evidence.inputs["other_size"], evidence.get("other")
    if not isinstance(other, dict):
        raise CheckFailed(tr("load_vgg_base(image_size={size}, weights=None) returned {found}, not a Keras model.",
                             size=size, found=str(other)))
    if other.get("input_shape") != [None, size, size, 3] or other.get("output_shape") != [None, size // 32,
                                                                                          size // 32, 512]:
        raise CheckFailed(tr("load_vgg_base(image_size={size}, weights=None) maps {found_input} to {found_output}; "
                             "expected [None, {size}, {size}, 3] to [None, {cells}, {cells}, 512].", size=size,
                             found_input=other.get("input_shape"), found_output=other.get("output_shape"),
                             cells=size // 32))


@ASSIGNMENT.check("vgg_base", points=1, title=tr("by default the base maps 160x160 images to (5, 5, 512)"),
                  hint=tr("Give image_size the default IMAGE_SIZE (160)."))
def vgg_default_size(evidence, ctx):
    default = evidence.get("default")
    if not isinstance(default, dict):
        raise CheckFailed(tr("load_vgg_base(weights=None) returned {found}, not a Keras model.", found=str(default)))
    if default.get("input_shape") != [None, DEFAULT_SIZE, DEFAULT_SIZE, 3] or default.get("output_shape") != [
            None, 5, 5, 512]:
        raise CheckFailed(tr("load_vgg_base(weights=None) maps {found_input} to {found_output}; "
                             "expected [None, 160, 160, 3] to [None, 5, 5, 512].",
                             found_input=default.get("input_shape"), found_output=default.get("output_shape")))


@ASSIGNMENT.check("vgg_base", points=1, title=tr("weights='imagenet' loads VGG16's ImageNet weights"),
                  hint=tr("Pass the weights argument on: VGG16(..., weights=weights)."))
def vgg_weights_passed(evidence, ctx):
    common.expect_weights_requested(evidence, "load_vgg_base(weights='imagenet')")


@ASSIGNMENT.check("vgg_base", points=1, title=tr("the layers keep VGG16's names (block1_conv1 … block5_pool)"),
                  hint=tr("Use keras.applications.VGG16 itself; unfreeze_from finds layers by these names."))
def vgg_layer_names_kept(evidence, ctx):
    found = [layer.name for layer in _vgg(evidence).layers if type(layer).__name__ != "InputLayer"]
    if found != vgg_layer_names():
        missing = [name for name in vgg_layer_names() if name not in found]
        raise CheckFailed(tr("The base's layers are named {found}…; missing: {missing}.",
                             found=str(found[:4]), missing=str(missing[:4])))


# ----------------------------------------------------------------- freeze_vgg
ASSIGNMENT.probe("freeze", uses="freeze_vgg")


def _frozen(evidence, fresh=False):
    return models.model(evidence, "model", tr("the model returned by freeze_vgg(vgg)"), fresh=fresh)


@ASSIGNMENT.check("freeze", points=1, title=tr("freeze_vgg returns the base it was given"),
                  hint=tr("Change the base in place and return it: `return vgg`."))
def freeze_returns_base(evidence, ctx):
    _frozen(evidence)
    if not evidence.get("same_object"):
        raise CheckFailed(tr("freeze_vgg returned a different object from the base it was given."))
    if not evidence.get("other_same_object"):
        raise CheckFailed(tr("Given another small Keras model, freeze_vgg returned a different object from the model "
                             "it was given."))


@ASSIGNMENT.check("freeze", points=2, title=tr("the frozen base has no trainable weights"),
                  hint=tr("vgg.trainable = False freezes every layer of the base at once."))
def freeze_no_trainable_weights(evidence, ctx):
    base = _frozen(evidence)
    trainable = [layer.name for layer in weight_layers(base) if layer.trainable]
    if trainable or base.trainable_weights:
        raise CheckFailed(tr("These layers can still learn: {layers}.",
                             layers=", ".join(trainable) or tr("some weights")))
    other = evidence.value("other_trainable", tr("the layers that can still learn"))
    if other:
        raise CheckFailed(tr("Given another small Keras model, freeze_vgg left these layers able to learn: {layers}.",
                             layers=", ".join(str(name) for name in other) if isinstance(other, list) else str(other)))


@ASSIGNMENT.check("freeze", points=2,
                  title=tr("training a head on the frozen base leaves the base's weights unchanged"),
                  hint=tr("Freeze the whole base (vgg.trainable = False), not just some of its layers."), hidden=True)
def freeze_training_keeps_base(evidence, ctx):
    base = _frozen(evidence, fresh=True)
    x, y = _batch(ctx, 4)
    changes = _layer_changes(_on_head(base), x, y)
    moved = [name for name, changed in changes.items() if changed and name != "head"]
    if moved:
        raise CheckFailed(tr("After one training step these base layers changed: {layers}.", layers=", ".join(moved)))


# ----------------------------------------------------------------- build_transfer_model
ASSIGNMENT.probe("transfer_model", uses="build_transfer_model")


def _transfer(evidence, fresh=False):
    return models.model(evidence, "model", tr("the model returned by build_transfer_model(vgg)"), fresh=fresh)


@ASSIGNMENT.check("transfer_model", points=1, title=tr("build_transfer_model returns a Keras model"),
                  hint=tr("keras.Sequential([vgg, layers.GlobalAveragePooling2D(), layers.Dense(1)]), compiled."))
def transfer_returns_model(evidence, ctx):
    _transfer(evidence)


@ASSIGNMENT.check("transfer_model", points=1, title=tr("the model outputs one value per image"),
                  hint=tr("The last layer is Dense(1)."))
def transfer_output_shape(evidence, ctx):
    x, _ = _batch(ctx, 4)
    models.expect_one_output_per_image(_transfer(evidence), x)


@ASSIGNMENT.check("transfer_model", points=2, title=tr("the base is followed by GlobalAveragePooling2D and Dense(1)"),
                  hint=tr("vgg → layers.GlobalAveragePooling2D() → layers.Dense(1); no Flatten, no extra layers."))
def transfer_layers(evidence, ctx):
    stack = modelspec.layer_stack(_transfer(evidence))
    details = {"layers": {"expected": VGG_OPS + ["GlobalAveragePooling2D", "Dense(1)"], "found": stack}}
    if stack[:len(VGG_OPS)] != VGG_OPS:
        raise CheckFailed(tr("The model does not start with the VGG16 base it was given: {layers} …",
                             layers=" → ".join(stack[:4]) or tr("no layers")), details=details)
    head = stack[len(VGG_OPS):]
    if head[:2] != ["GlobalAveragePooling2D", "Dense(1)"] or head[2:] not in ([], ["Sigmoid"]):
        raise CheckFailed(tr("After the base come {layers}; expected GlobalAveragePooling2D → Dense(1).",
                             layers=" → ".join(head) or tr("no layers")), details=details)


@ASSIGNMENT.check("transfer_model", points=1, title=tr("the output is a logit (Dense(1) without activation)"),
                  hint=tr("Leave out activation='sigmoid': the loss applies the sigmoid itself (from_logits=True)."))
def transfer_logit_output(evidence, ctx):
    stack = modelspec.layer_stack(_transfer(evidence))
    if stack and stack[-1] != "Dense(1)":
        raise CheckFailed(tr("The model ends with {layer}; the last layer should be a plain Dense(1).",
                             layer=stack[-1]))


@ASSIGNMENT.check("transfer_model", points=1,
                  title=tr("the model has {parameters:,} parameters", parameters=VGG_PARAMETERS + HEAD_PARAMETERS),
                  hint=tr("The base's 14,714,688 plus Dense(1) on 512 pooled features: 512 weights and 1 bias."))
def transfer_parameters(evidence, ctx):
    models.expect_parameter_count(_transfer(evidence), VGG_PARAMETERS + HEAD_PARAMETERS)


@ASSIGNMENT.check("transfer_model", points=2,
                  title=tr("with a frozen base exactly {parameters} parameters are trainable",
                           parameters=HEAD_PARAMETERS),
                  hint=tr("Freeze only the base; the new head (Dense(1)) must stay trainable. Do not set "
                          "model.trainable = False on the whole model."))
def transfer_trainable(evidence, ctx):
    _, trainable, _ = models.weight_counts(_transfer(evidence))
    if trainable != HEAD_PARAMETERS:
        raise CheckFailed(tr("{trainable:,} parameters are trainable; expected {expected} (the head only).",
                             trainable=trainable, expected=HEAD_PARAMETERS))


@ASSIGNMENT.check("transfer_model", points=1, title=tr("the model is built on the base it was given"),
                  hint=tr("Use the `vgg` argument; do not load a new VGG16 inside the function."))
def transfer_uses_base(evidence, ctx):
    if not models.holds_weights(_transfer(evidence), evidence.array("base_kernel")):
        raise CheckFailed(tr("The model does not contain the VGG16 base it was given."))


@ASSIGNMENT.check("transfer_model", points=1, title=tr("compiled with the Adam optimizer"),
                  hint=tr("optimizer=keras.optimizers.Adam() (or 'adam')."))
def transfer_optimizer(evidence, ctx):
    models.require_optimizer(_transfer(evidence), "Adam")


@ASSIGNMENT.check("transfer_model", points=1, title=tr("compiled with BinaryCrossentropy(from_logits=True)"),
                  hint=tr("The output is a logit, so use keras.losses.BinaryCrossentropy(from_logits=True)."))
def transfer_loss(evidence, ctx):
    models.require_binary_loss(_transfer(evidence), from_logits=True)


@ASSIGNMENT.check("transfer_model", points=1, title=tr("reports an 'accuracy' metric"),
                  hint=tr("model.compile(..., metrics=['accuracy'])."))
def transfer_accuracy_metric(evidence, ctx):
    x, y = _batch(ctx, 16)
    models.require_accuracy_metric(_transfer(evidence), x, y)


@ASSIGNMENT.check("transfer_model", points=2,
                  title=tr("one training step moves the head and leaves the frozen base alone"),
                  hint=tr("Only the base is frozen; the head must learn."), hidden=True)
def transfer_training_moves_head_only(evidence, ctx):
    x, y = _batch(ctx, 4)
    changes = _layer_changes(_transfer(evidence, fresh=True), x, y)
    moved = [name for name, changed in changes.items() if changed and name != "head"]
    if moved:
        raise CheckFailed(tr("Training changed the frozen base ({layers}).", layers=", ".join(moved[:3])))
    if not changes["head"]:
        raise CheckFailed(tr("Training did not change the head: it cannot learn."))


@ASSIGNMENT.check("transfer_model", points=3,
                  title=tr("with a frozen base, reaches at least {min_accuracy:.0%} test accuracy after a short run",
                           min_accuracy=MIN_ACCURACY),
                  hint=tr("Check that the head can learn, the output is a logit and the loss uses from_logits=True."),
                  threshold=MIN_ACCURACY)
def transfer_trains(evidence, ctx, threshold):
    return models.expect_two_class_accuracy(ctx, _transfer(evidence, fresh=True), image_size=TRAIN_SIZE,
                                            n_train=N_TRAIN, n_test=N_TEST, epochs=EPOCHS, batch_size=BATCH,
                                            max_params=MAX_TRAIN_PARAMETERS, inputs=model_inputs,
                                            min_accuracy=threshold)


# ----------------------------------------------------------------- unfreeze_from
def _unfreeze_inputs(seed: int) -> dict:
    rng = np.random.default_rng(seed + 909)
    return {"layer_names": [str(rng.choice(names)) for names in LAYER_NAME_CHOICES]}


ASSIGNMENT.probe("unfreeze", uses="unfreeze_from", inputs=_unfreeze_inputs)


def _unfrozen(evidence, fresh=False):
    return models.model(evidence, "model", tr("the transfer model after unfreeze_from(vgg)"), fresh=fresh)


def _expected_trainable(first: str) -> dict[str, bool]:
    """Which of VGG16's convolution layers are trainable when unfreezing starts at the layer named ``first``."""
    names = vgg_layer_names()
    return {name: index >= names.index(first) for index, name in enumerate(names) if "conv" in name}


def _wrong_flags(found: dict[str, bool], first: str) -> Text | None:
    """What is frozen or trainable against expectation, or None when every flag is right."""
    expected = _expected_trainable(first)
    found = found if isinstance(found, dict) else {}
    frozen_wrongly = ", ".join(name for name, on in expected.items() if on and not found.get(name))
    trainable_wrongly = ", ".join(name for name, on in expected.items() if not on and found.get(name))
    if frozen_wrongly and trainable_wrongly:
        return tr("frozen but should be trainable: {frozen}; trainable but should stay frozen: {trainable}",
                  frozen=frozen_wrongly, trainable=trainable_wrongly)
    if frozen_wrongly:
        return tr("frozen but should be trainable: {frozen}", frozen=frozen_wrongly)
    if trainable_wrongly:
        return tr("trainable but should stay frozen: {trainable}", trainable=trainable_wrongly)
    return None


@ASSIGNMENT.check("unfreeze", points=1, title=tr("unfreeze_from returns the base it was given"),
                  hint=tr("Change the base in place and return it."))
def unfreeze_returns_base(evidence, ctx):
    _unfrozen(evidence)
    if not evidence.get("same_object"):
        raise CheckFailed(tr("unfreeze_from returned a different object from the base it was given."))


@ASSIGNMENT.check("unfreeze", points=2,
                  title=tr("layers from {layer} on are trainable, earlier ones frozen", layer=FIRST_UNFROZEN),
                  hint=tr("vgg.trainable = True first (a frozen base keeps every inner layer frozen), then set "
                          "trainable = False on every layer before layer_name."))
def unfreeze_flags(evidence, ctx):
    base = _base_of(_unfrozen(evidence))
    if not base.trainable:
        raise CheckFailed(tr("The base itself still says it is frozen (vgg.trainable is False): vgg.trainable_weights "
                             "is empty and vgg.summary() reports no trainable parameters, and with older Keras "
                             "versions none of its layers would learn, whatever their own flags say."))
    found = {layer.name: layer.trainable for layer in weight_layers(base)}
    wrong = _wrong_flags(found, FIRST_UNFROZEN)
    if wrong:
        raise CheckFailed(tr("After unfreeze_from(vgg): {wrong}.", wrong=wrong))


@ASSIGNMENT.check("unfreeze", points=2,
                  title=tr("the transfer model then has {trainable:,} trainable and {frozen:,} non-trainable parameters",
                           trainable=FINE_TUNE_TRAINABLE, frozen=FINE_TUNE_FROZEN),
                  hint=tr("Blocks 4 and 5 (from block4_conv1) plus the head learn; blocks 1 to 3 stay frozen."))
def unfreeze_counts(evidence, ctx):
    _, trainable, frozen = models.weight_counts(_unfrozen(evidence))
    if (trainable, frozen) != (FINE_TUNE_TRAINABLE, FINE_TUNE_FROZEN):
        raise CheckFailed(tr("The transfer model has {trainable:,} trainable and {frozen:,} non-trainable "
                             "parameters; expected {expected_trainable:,} and {expected_frozen:,}.",
                             trainable=trainable, frozen=frozen,
                             expected_trainable=FINE_TUNE_TRAINABLE, expected_frozen=FINE_TUNE_FROZEN))


@ASSIGNMENT.check("unfreeze", points=2, title=tr("layer_name chooses where unfreezing starts"),
                  hint=tr("Find the position of the layer named layer_name; do not hard-code block4_conv1."))
def unfreeze_layer_name(evidence, ctx):
    for k, name in enumerate(evidence.inputs["layer_names"]):
        if evidence.get(f"named{k}_error") is not None:
            raise CheckFailed(tr("unfreeze_from(vgg, layer_name='{layer}') failed: {error}", layer=name,
                                 error=Text.from_json(evidence.get(f"named{k}_error"))))
        found = evidence.value(f"named{k}_trainable", tr("the trainable flags"))
        wrong = _wrong_flags(found, name)
        if wrong:
            raise CheckFailed(tr("After unfreeze_from(vgg, layer_name='{layer}'): {wrong}.", layer=name, wrong=wrong))


@ASSIGNMENT.check("unfreeze", points=2, title=tr("one training step changes exactly the unfrozen layers and the head"),
                  hint=tr("Trainability is what training does: frozen layers must not change, unfrozen ones must."),
                  hidden=True)
def unfreeze_training_step(evidence, ctx):
    x, y = _batch(ctx, 4)
    changes = _layer_changes(_unfrozen(evidence, fresh=True), x, y)
    wrong = _wrong_flags({name: changed for name, changed in changes.items() if name != "head"}, FIRST_UNFROZEN)
    if wrong:
        raise CheckFailed(tr("After one training step, by what changed: {wrong}.", wrong=wrong))


# ----------------------------------------------------------------- compile_for_fine_tuning
def _fine_tuning_inputs(seed: int) -> dict:
    return {"other_rate": float(np.random.default_rng(seed + 911).choice(OTHER_BASE_LEARNING_RATES))}


ASSIGNMENT.probe("fine_tuning", uses="compile_for_fine_tuning", inputs=_fine_tuning_inputs)


def _fine(evidence, key="model"):
    what = (tr("the model returned by compile_for_fine_tuning(model)") if key == "model"
            else tr("the model returned by compile_for_fine_tuning(model, base_learning_rate={rate})",
                    rate=f"{evidence.inputs['other_rate']:g}"))
    return models.model(evidence, key, what)


def _learning_rate(model) -> float:
    if modelspec.optimizer_name(model) is None:
        raise CheckFailed(tr("The model is not compiled."))
    try:
        return modelspec.learning_rate(model)
    except (TypeError, ValueError) as exc:  # a schedule, not one fixed rate
        raise CheckFailed(tr("The learning rate is not a fixed number ({found}).",
                             found=type(model.optimizer.learning_rate).__name__)) from exc


@ASSIGNMENT.check("fine_tuning", points=1, title=tr("compile_for_fine_tuning returns the compiled model"),
                  hint=tr("Call model.compile(...) and return the model."))
def fine_returns_compiled_model(evidence, ctx):
    if modelspec.optimizer_name(_fine(evidence)) is None:
        raise CheckFailed(tr("The returned model is not compiled."))


@ASSIGNMENT.check("fine_tuning", points=1, title=tr("compiled with RMSprop"),
                  hint=tr("optimizer=keras.optimizers.RMSprop(learning_rate=...)."))
def fine_optimizer(evidence, ctx):
    models.require_optimizer(_fine(evidence), "RMSprop")


@ASSIGNMENT.check("fine_tuning", points=1, title=tr("the learning rate is base_learning_rate / 10 (1e-5 by default)"),
                  hint=tr("Fine-tune ten times more gently than the head was trained: "
                          "learning_rate=base_learning_rate / 10."))
def fine_learning_rate(evidence, ctx):
    rate = _learning_rate(_fine(evidence))
    if not np.isclose(rate, BASE_LEARNING_RATE / 10, rtol=1e-3):
        raise CheckFailed(tr("The learning rate is {found:.3g}; expected {expected:.3g}.",
                             found=rate, expected=BASE_LEARNING_RATE / 10))


@ASSIGNMENT.check("fine_tuning", points=1, title=tr("the learning rate follows base_learning_rate"),
                  hint=tr("Compute the rate from the argument; do not hard-code 1e-5."))
def fine_learning_rate_argument(evidence, ctx):
    rate, base = _learning_rate(_fine(evidence, "other")), evidence.inputs["other_rate"]
    if not np.isclose(rate, base / 10, rtol=1e-3):
        raise CheckFailed(tr("With base_learning_rate={base:g} the learning rate is {found:.3g}; expected {expected:.3g}.",
                             base=base, found=rate, expected=base / 10))


@ASSIGNMENT.check("fine_tuning", points=1, title=tr("compiled with BinaryCrossentropy(from_logits=True)"),
                  hint=tr("The model still outputs a logit."))
def fine_loss(evidence, ctx):
    models.require_binary_loss(_fine(evidence), from_logits=True)


@ASSIGNMENT.check("fine_tuning", points=1, title=tr("reports an 'accuracy' metric"),
                  hint=tr("metrics=['accuracy']."))
def fine_accuracy_metric(evidence, ctx):
    x, y = _batch(ctx, 16)
    models.require_accuracy_metric(_fine(evidence), x, y)


@ASSIGNMENT.check("fine_tuning", points=1, title=tr("compiling keeps what was unfrozen"),
                  hint=tr("Only compile here; do not change any layer's trainable flag."), hidden=True)
def fine_keeps_trainability(evidence, ctx):
    _, trainable, frozen = models.weight_counts(_fine(evidence))
    if (trainable, frozen) != (FINE_TUNE_TRAINABLE, FINE_TUNE_FROZEN):
        raise CheckFailed(tr("After compiling, {trainable:,} parameters are trainable and {frozen:,} frozen; expected "
                             "{expected_trainable:,} and {expected_frozen:,} as unfreeze_from left them.",
                             trainable=trainable, frozen=frozen,
                             expected_trainable=FINE_TUNE_TRAINABLE, expected_frozen=FINE_TUNE_FROZEN))
