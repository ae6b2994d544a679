"""Student-like submissions: correct variants and realistic mistakes, each with the checks it must break.

Each mistake is the base submission with one realistic edit. ``breaks`` names
exactly the checks that must lose their points; every other check must pass,
so a mistake costs points where it is made and nowhere else.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

FASHION_BASE = '''
import tensorflow as tf
import keras
from keras import layers


def normalize(images, labels):
    images = tf.cast(images, tf.float32) / 255.0
    return images, labels


def build_dense_classifier():
    model = keras.Sequential([
        keras.Input(shape=(28, 28)),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class AccuracyCallback(keras.callbacks.Callback):
    def __init__(self, threshold=0.9):
        super().__init__()
        self.threshold = threshold

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if logs.get("accuracy", 0.0) > self.threshold:
            print(f"Accuracy above {self.threshold}: stopping.")
            self.model.stop_training = True
'''

CNN_BASE = '''
import tensorflow as tf
import keras
from keras import layers


def normalize(images, labels):
    return tf.cast(images, tf.float32) / 255.0, labels


def make_batches(train_dataset, test_dataset, batch_size=32):
    train_batches = train_dataset.map(normalize).shuffle(1000).batch(batch_size)
    test_batches = test_dataset.map(normalize).batch(batch_size)
    return train_batches, test_batches


def build_cnn():
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, (3, 3), padding="same", activation="relu"),
        layers.MaxPooling2D((2, 2), strides=2),
        layers.Conv2D(64, (3, 3), padding="same", activation="relu"),
        layers.MaxPooling2D((2, 2), strides=2),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
'''

GAP_BASE = '''
import tensorflow as tf
import keras
from keras import layers

IMAGE_SIZE = 100


def pre_process_image(image, label, image_size=IMAGE_SIZE):
    image = tf.cast(image, tf.float32) / 255.0
    image = tf.image.resize(image, (image_size, image_size))
    return image, label


def build_head(image_size=IMAGE_SIZE):
    model = keras.Sequential([keras.Input((image_size, image_size, 3))])
    for filters in (32, 32, 64):
        model.add(layers.Conv2D(filters, (3, 3)))
        model.add(layers.BatchNormalization())
        model.add(layers.ReLU())
        model.add(layers.MaxPooling2D((2, 2)))
    return model


def build_standard_classifier(dropout_rate=None):
    stack = [layers.Flatten(), layers.BatchNormalization(), layers.Dense(100), layers.ReLU()]
    if dropout_rate is not None:
        stack.append(layers.Dropout(dropout_rate))
    stack += [layers.BatchNormalization(), layers.Dense(100), layers.ReLU(), layers.Dense(1, activation="sigmoid")]
    return keras.Sequential(stack)


def add_gap(head):
    model = keras.Sequential([head, layers.GlobalAveragePooling2D(), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model
'''

TRANSFER_BASE = '''
import keras
from keras import layers

IMAGE_SIZE = 160


def load_vgg_base(image_size=IMAGE_SIZE, weights="imagenet"):
    return keras.applications.VGG16(include_top=False, weights=weights, input_shape=(image_size, image_size, 3))


def freeze_vgg(vgg):
    vgg.trainable = False
    return vgg


def build_transfer_model(vgg):
    model = keras.Sequential([vgg, layers.GlobalAveragePooling2D(), layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def unfreeze_from(vgg, layer_name="block4_conv1"):
    names = [layer.name for layer in vgg.layers]
    start = names.index(layer_name)
    vgg.trainable = True
    for layer in vgg.layers[:start]:
        layer.trainable = False
    return vgg


def compile_for_fine_tuning(model, base_learning_rate=1e-4):
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=base_learning_rate / 10),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True), metrics=["accuracy"])
    return model
'''

PRETRAINED_BASE = '''
import numpy as np
import keras

PREPROCESSORS = {"resnet50": keras.applications.resnet50.preprocess_input,
                 "vgg16": keras.applications.vgg16.preprocess_input}


def load_image_batch(path, target_size=(224, 224)):
    image = keras.utils.load_img(path, target_size=target_size)
    array = keras.utils.img_to_array(image)
    return np.expand_dims(array, axis=0)


def preprocess(batch, model_name):
    if model_name not in PREPROCESSORS:
        raise ValueError(f"model_name must be one of {sorted(PREPROCESSORS)}. Received: {model_name!r}")
    return PREPROCESSORS[model_name](np.array(batch, dtype=np.float32, copy=True))


def top_predictions(model, batch, top=3):
    scores = model.predict(batch, verbose=0)
    return keras.applications.imagenet_utils.decode_predictions(scores, top=top)[0]


def build_feature_extractor(weights="imagenet", input_shape=None):
    return keras.applications.VGG16(weights=weights, include_top=False, input_shape=input_shape)


def extract_features(model, batch):
    return model.predict(batch, verbose=0)
'''

BASES = {"fashion_mnist": FASHION_BASE, "cnn": CNN_BASE, "gap": GAP_BASE, "transfer": TRANSFER_BASE,
         "pretrained": PRETRAINED_BASE}

# A grading that never ends by itself and takes no core: it waits, where a test needs a hang, not the CPU it burns.
SLEEPS_IN_BUILD = FASHION_BASE.replace("def build_dense_classifier():\n",
                                       "def build_dense_classifier():\n    import time\n    time.sleep(3600)\n")


@dataclass(frozen=True)
class Variant:
    name: str
    assignment: str
    edits: tuple[tuple[str, str], ...]
    breaks: frozenset[str] = frozenset()
    may_break: frozenset[str] = frozenset()  # lost on some seeds only (calibration shows which)
    says: tuple[tuple[str, str], ...] = ()  # (check, words its English message must hold): the failure is named

    def source(self) -> str:
        text = BASES[self.assignment]
        for old, new in self.edits:
            if old not in text:
                raise AssertionError(f"{self.name}: edit target not in the base: {old!r}")
            text = text.replace(old, new)
        return text


    def edited_names(self) -> set[str] | None:
        """Top-level functions and classes this variant changes; None when it changes module-level code."""
        def parts(text):
            body = ast.parse(text).body
            named = {node.name: ast.dump(node) for node in body
                     if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
            rest = [ast.dump(node) for node in body if not isinstance(node, (ast.FunctionDef, ast.ClassDef))]
            return named, rest
        base_named, base_rest = parts(BASES[self.assignment])
        named, rest = parts(self.source())
        if rest != base_rest or set(named) != set(base_named):
            return None
        return {name for name in named if named[name] != base_named[name]}


def mistake(name, assignment, edits, breaks, may_break=(), says=None):
    return Variant(name, assignment, tuple(edits), frozenset(breaks), frozenset(may_break),
                   tuple(sorted((says or {}).items())))


def correct(name, assignment, edits):
    return Variant(name, assignment, tuple(edits))


NORMALIZE_BODY = "images = tf.cast(images, tf.float32) / 255.0"
MISTAKES = [
    mistake("divides by 256", "fashion_mnist", [(NORMALIZE_BODY, "images = tf.cast(images, tf.float32) / 256.0")],
            {"normalize_values", "normalize_in_dataset_map"}),
    mistake("no float32 cast on NumPy input", "fashion_mnist", [(NORMALIZE_BODY, "images = images / 255.0")],
            {"normalize_float32", "normalize_in_dataset_map"}),  # TF refuses uint8 / float
    mistake("labels cast to float", "fashion_mnist",
            [("return images, labels", "return images, tf.cast(labels, tf.float32)")],
            {"normalize_labels_unchanged"}),
    mistake("NumPy-only normalize", "fashion_mnist",
            [(NORMALIZE_BODY, "images = images.astype('float32') / 255.0")], {"normalize_in_dataset_map"}),
    mistake("64 hidden units", "fashion_mnist", [("Dense(128", "Dense(64")],
            {"dense_parameter_count", "dense_layers"}),
    mistake("no softmax on the output", "fashion_mnist", [('Dense(10, activation="softmax")', "Dense(10)")],
            {"dense_layers", "dense_softmax_output", "dense_trains"}),
    mistake("categorical instead of sparse loss", "fashion_mnist",
            [('"sparse_categorical_crossentropy"', '"categorical_crossentropy"')],
            {"dense_loss", "dense_accuracy_metric", "dense_trains"}),
    mistake("no accuracy metric", "fashion_mnist", [(', metrics=["accuracy"]', "")], {"dense_accuracy_metric"}),
    mistake("SGD optimizer", "fashion_mnist", [('optimizer="adam"', 'optimizer="rmsprop"')], {"dense_optimizer"}),
    mistake("input with a channel axis", "fashion_mnist", [("keras.Input(shape=(28, 28))", "keras.Input(shape=(28, 28, 1))")],
            {"dense_input_shape"}),
    mistake("not compiled", "fashion_mnist",
            [('    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])\n', "")],
            {"dense_optimizer", "dense_loss", "dense_accuracy_metric", "dense_trains"}),
    mistake(">= instead of >", "fashion_mnist", [("> self.threshold", ">= self.threshold")],
            {"callback_strictly_greater", "callback_custom_threshold"}),
    mistake("threshold ignored", "fashion_mnist", [("> self.threshold", "> 0.9")], {"callback_custom_threshold"}),
    mistake("reads logs['acc']", "fashion_mnist", [('logs.get("accuracy", 0.0)', 'logs.get("acc", 0.0)')],
            {"callback_stops_above", "callback_custom_threshold", "callback_prints_message",
             "callback_stops_real_fit",
             # a callback that never stops earns nothing for "not stopping" (nor would a forged report say so)
             "callback_is_keras_callback", "callback_without_accuracy", "callback_continues_below", "callback_strictly_greater"}),
    mistake("no stop message", "fashion_mnist", [('            print(f"Accuracy above {self.threshold}: stopping.")\n', "")],
            {"callback_prints_message"}),
    mistake("stops in on_batch_end", "fashion_mnist", [("def on_epoch_end(self, epoch", "def on_batch_end(self, epoch")],
            {"callback_stops_above", "callback_custom_threshold", "callback_prints_message",
             "callback_stops_real_fit",
             # a callback that never stops earns nothing for "not stopping" (nor would a forged report say so)
             "callback_is_keras_callback", "callback_without_accuracy", "callback_continues_below", "callback_strictly_greater"}),
    mistake("repeat() in the training pipeline", "cnn", [(".shuffle(1000).batch", ".shuffle(1000).repeat().batch")],
            {"batches_no_repeat", "batches_batch_size"}),
    mistake("test set shuffled", "cnn", [("test_dataset.map(normalize).batch", "test_dataset.map(normalize).shuffle(100).batch")],
            {"batches_test_in_order"}),
    mistake("batches shuffled instead of examples", "cnn", [(".shuffle(1000).batch(batch_size)", ".batch(batch_size).shuffle(1000)")],
            {"batches_train_shuffled"}),
    mistake("training set not shuffled", "cnn", [(".shuffle(1000).batch", ".batch")],
            {"batches_train_shuffled", "batches_reshuffled_each_epoch"}),
    mistake("batch size hard-coded", "cnn", [(".batch(batch_size)", ".batch(32)")], {"batches_batch_size"}),
    mistake("shuffle buffer of one batch", "cnn", [(".shuffle(1000).batch(batch_size)",
                                                     ".shuffle(batch_size).batch(batch_size)")],
            {"batches_train_shuffled"}),
    mistake("last, smaller training batch dropped", "cnn",
            [(".shuffle(1000).batch(batch_size)", ".shuffle(1000).batch(batch_size, drop_remainder=True)")],
            {"batches_element_spec", "batches_batch_size", "batches_no_repeat"}),
    mistake("last, smaller test batch dropped", "cnn",
            [("test_dataset.map(normalize).batch(batch_size)",
              "test_dataset.map(normalize).batch(batch_size, drop_remainder=True)")],
            {"batches_element_spec", "batches_batch_size"}),
    mistake("cache after shuffle", "cnn", [(".shuffle(1000).batch", ".shuffle(1000).cache().batch")],
            {"batches_reshuffled_each_epoch"}),
    mistake("training set not normalized", "cnn", [("train_dataset.map(normalize).shuffle", "train_dataset.shuffle")],
            {"batches_element_spec", "batches_normalized"}),
    mistake("valid padding", "cnn", [('padding="same"', 'padding="valid"')], {"cnn_parameter_count", "cnn_layers"}),
    mistake("second pooling missing", "cnn",
            [('activation="relu"),\n        layers.MaxPooling2D((2, 2), strides=2),\n        layers.Flatten()',
              'activation="relu"),\n        layers.Flatten()')],
            {"cnn_parameter_count", "cnn_layers"}),
    mistake("from_logits with softmax", "cnn",
            [('loss="sparse_categorical_crossentropy"',
              'loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)')], {"cnn_loss"}),
]

GAP_HEAD_BLOCK = """        model.add(layers.Conv2D(filters, (3, 3)))
        model.add(layers.BatchNormalization())
        model.add(layers.ReLU())"""
GAP_OUTPUT = 'layers.Dense(1, activation="sigmoid")])'
MISTAKES += [
    mistake("pre_process without scaling", "gap", [("tf.cast(image, tf.float32) / 255.0", "tf.cast(image, tf.float32)")],
            {"pre_process_scaled"}),
    mistake("pre_process ignores image_size", "gap",
            [("tf.image.resize(image, (image_size, image_size))", "tf.image.resize(image, (IMAGE_SIZE, IMAGE_SIZE))")],
            {"pre_process_resized"}),
    mistake("crop or pad instead of resize", "gap",
            [("tf.image.resize(image, (image_size, image_size))",
              "tf.image.resize_with_crop_or_pad(image, image_size, image_size)")],
            {"pre_process_values"}),
    mistake("NumPy inside pre_process", "gap",
            [("image = tf.cast(image, tf.float32) / 255.0", "image = image.numpy().astype('float32') / 255.0")],
            {"pre_process_dataset_map"}),
    mistake("one-hot label", "gap", [("    return image, label", "    return image, tf.one_hot(label, 2)")],
            {"pre_process_label"}),
    mistake("head with same padding", "gap",
            [("layers.Conv2D(filters, (3, 3))", 'layers.Conv2D(filters, (3, 3), padding="same")')],
            {"head_output_shape", "head_default_size", "head_layers"}),
    mistake("BatchNormalization after ReLU in the head", "gap",
            [(GAP_HEAD_BLOCK, """        model.add(layers.Conv2D(filters, (3, 3), activation="relu"))
        model.add(layers.BatchNormalization())""")],
            {"head_layers"}),
    mistake("head filters 32, 64, 128", "gap", [("for filters in (32, 32, 64):", "for filters in (32, 64, 128):")],
            {"head_output_shape", "head_default_size", "head_parameters", "head_layers"}),
    mistake("head ignores image_size", "gap",
            [("keras.Input((image_size, image_size, 3))", "keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3))")],
            {"head_input_shape"}),  # Keras 3 still runs the convolutions on 48x48 batches
    mistake("BatchNormalization after ReLU in the classifier", "gap",
            [("stack += [layers.BatchNormalization(), layers.Dense(100), layers.ReLU(),",
              "stack += [layers.Dense(100), layers.ReLU(), layers.BatchNormalization(),")],
            {"classifier_layers"}),
    mistake("dropout always 0.5", "gap",
            [("    if dropout_rate is not None:\n        stack.append(layers.Dropout(dropout_rate))",
              "    stack.append(layers.Dropout(0.5))")],
            {"classifier_layers", "classifier_dropout"}),
    mistake("classifier without sigmoid", "gap",
            [('layers.ReLU(), layers.Dense(1, activation="sigmoid")]', "layers.ReLU(), layers.Dense(1)]")],
            {"classifier_layers", "classifier_probability"}),
    mistake("Flatten instead of global average pooling", "gap",
            [("[head, layers.GlobalAveragePooling2D(),", "[head, layers.Flatten(),")],
            {"gap_layers", "gap_parameters"}),
    mistake("softmax on one unit", "gap", [(GAP_OUTPUT, 'layers.Dense(1, activation="softmax")])')],
            {"gap_layers", "gap_probability", "gap_trains"}),
    mistake("sigmoid output with a from-logits loss", "gap",
            [('loss="binary_crossentropy"', "loss=keras.losses.BinaryCrossentropy(from_logits=True)")],
            {"gap_loss", "gap_trains"}),
    mistake("add_gap not compiled", "gap",
            [('    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])\n', "")],
            {"gap_optimizer", "gap_loss", "gap_accuracy_metric", "gap_trains"}),

    mistake("VGG16 with its classifier top", "transfer", [("VGG16(include_top=False,", "VGG16(include_top=True,")],
            {"vgg_no_top", "vgg_parameters", "vgg_input_shape", "vgg_default_size", "vgg_layer_names_kept"}),
    mistake("base ignores image_size", "transfer",
            [("input_shape=(image_size, image_size, 3)", "input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3)")],
            {"vgg_input_shape"}),
    mistake("freezes only the first blocks", "transfer",
            [("    vgg.trainable = False\n    return vgg",
              "    for layer in vgg.layers[:-4]:\n        layer.trainable = False\n    return vgg")],
            {"freeze_no_trainable_weights", "freeze_training_keeps_base"}),
    mistake("freezes the outer model", "transfer",
            [("    model.compile(optimizer=keras.optimizers.Adam(),",
              "    model.trainable = False\n    model.compile(optimizer=keras.optimizers.Adam(),")],
            {"transfer_trainable", "transfer_training_moves_head_only", "transfer_trains"}),
    mistake("sigmoid output with a from-logits loss", "transfer",
            [("layers.GlobalAveragePooling2D(), layers.Dense(1)])",
              'layers.GlobalAveragePooling2D(), layers.Dense(1, activation="sigmoid")])')],
            {"transfer_logit_output", "transfer_trains"}),
    mistake("the book's pairing: a linear output with a probability loss", "transfer",
            [("    model.compile(optimizer=keras.optimizers.Adam(),\n"
              "                  loss=keras.losses.BinaryCrossentropy(from_logits=True), metrics=[\"accuracy\"])",
              "    model.compile(optimizer=keras.optimizers.Adam(), loss=\"binary_crossentropy\", metrics=[\"accuracy\"])")],
            {"transfer_loss"}, may_break={"transfer_trains"}),  # trains on 5 of 20 seeds (calibrate_binary.py)
    mistake("Flatten instead of global average pooling", "transfer",
            [("[vgg, layers.GlobalAveragePooling2D(),", "[vgg, layers.Flatten(),")],
            {"transfer_layers"}),
    mistake("unfreezes every layer", "transfer",
            [("    for layer in vgg.layers[:start]:\n        layer.trainable = False\n", "")],
            {"unfreeze_flags", "unfreeze_counts", "unfreeze_layer_name", "unfreeze_training_step"}),
    mistake("forgets to make the base trainable again", "transfer",
            [("    vgg.trainable = True\n    for layer in vgg.layers[:start]:\n        layer.trainable = False\n",
              "    for position, layer in enumerate(vgg.layers):\n        layer.trainable = position >= start\n")],
            {"unfreeze_flags"}),  # Keras 3 trains the inner layers through the outer model all the same
    mistake("always unfreezes from block4_conv1", "transfer",
            [("start = names.index(layer_name)", 'start = names.index("block4_conv1")')],
            {"unfreeze_layer_name"}),
    mistake("unfreezes from the layer after layer_name", "transfer",
            [("vgg.layers[:start]:", "vgg.layers[:start + 1]:")],
            {"unfreeze_flags", "unfreeze_counts", "unfreeze_layer_name", "unfreeze_training_step"}),
    mistake("fine-tuning rate not divided by 10", "transfer",
            [("learning_rate=base_learning_rate / 10", "learning_rate=base_learning_rate")],
            {"fine_learning_rate", "fine_learning_rate_argument"}),
    mistake("fine-tuning rate hard-coded", "transfer",
            [("learning_rate=base_learning_rate / 10", "learning_rate=1e-5")],
            {"fine_learning_rate_argument"}),
    mistake("Adam for fine-tuning", "transfer",
            [("keras.optimizers.RMSprop(learning_rate=", "keras.optimizers.Adam(learning_rate=")],
            {"fine_optimizer"}),
    mistake("re-freezes the base before fine-tuning", "transfer",
            [("    model.compile(optimizer=keras.optimizers.RMSprop(",
              "    model.layers[0].trainable = False\n    model.compile(optimizer=keras.optimizers.RMSprop(")],
            {"fine_keeps_trainability"}),

    mistake("missing batch dimension", "pretrained", [("return np.expand_dims(array, axis=0)", "return array")],
            {"image_batch_shape"}),
    mistake("pixels scaled to [0, 1] when loading", "pretrained",
            [("return np.expand_dims(array, axis=0)", "return np.expand_dims(array / 255.0, axis=0)")],
            {"image_batch_values"}),
    mistake("load_image_batch ignores target_size", "pretrained",
            [("load_img(path, target_size=target_size)", "load_img(path, target_size=(224, 224))")],
            {"image_batch_shape"}),
    mistake("load_image_batch returns a tensor", "pretrained",
            [("return np.expand_dims(array, axis=0)", "import tensorflow as tf\n    return tf.expand_dims(array, 0)")],
            {"image_batch_type"}),
    mistake("preprocess changes the caller's array", "pretrained",
            [("PREPROCESSORS[model_name](np.array(batch, dtype=np.float32, copy=True))",
              "PREPROCESSORS[model_name](batch)")],
            {"preprocess_keeps_input"}),
    mistake("scales to [0, 1] before preprocess_input", "pretrained",
            [("np.array(batch, dtype=np.float32, copy=True))", "np.array(batch, dtype=np.float32) / 255.0)")],
            {"preprocess_resnet50", "preprocess_vgg16"}),
    mistake("unknown model name falls back to VGG16", "pretrained",
            [("    if model_name not in PREPROCESSORS:\n        raise ValueError(", "    if False:\n        raise ValueError("),
             ("PREPROCESSORS[model_name](", "PREPROCESSORS.get(model_name, keras.applications.vgg16.preprocess_input)(")],
            {"preprocess_unknown_name"}),
    mistake("ResNet50V2's preprocessing for ResNet50", "pretrained",
            [('"resnet50": keras.applications.resnet50.preprocess_input',
              '"resnet50": keras.applications.resnet_v2.preprocess_input')],
            {"preprocess_resnet50"}),
    mistake("top_predictions ignores top", "pretrained", [("decode_predictions(scores, top=top)", "decode_predictions(scores, top=3)")],
            {"predictions_top_argument"}),
    mistake("returns the predictions of every image", "pretrained",
            [("decode_predictions(scores, top=top)[0]", "decode_predictions(scores, top=top)")],
            {"predictions_default_top", "predictions_top_argument", "predictions_classes", "predictions_tuple_fields"}),
    mistake("predictions for the second image", "pretrained",
            [("decode_predictions(scores, top=top)[0]", "decode_predictions(scores, top=top)[1]")],
            {"predictions_classes"}),
    mistake("preprocesses again inside top_predictions", "pretrained",
            [("scores = model.predict(batch, verbose=0)",
              "scores = model.predict(keras.applications.resnet50.preprocess_input(batch.copy()), verbose=0)")],
            {"predictions_classes"}),
    mistake("feature extractor keeps the top", "pretrained",
            [("VGG16(weights=weights, include_top=False,", "VGG16(weights=weights, include_top=True,")],
            {"extractor_no_top", "extractor_parameters", "extractor_input_shape", "extractor_default_input"}),
    mistake("feature extractor ignores input_shape", "pretrained",
            [("include_top=False, input_shape=input_shape)", "include_top=False, input_shape=(224, 224, 3))")],
            {"extractor_input_shape", "extractor_default_input"}),
    mistake("features of the first image only", "pretrained",
            [("return model.predict(batch, verbose=0)", "return model.predict(batch, verbose=0)[0]")],
            {"features_shape"}),
]

# Mistakes that keep every check honest: every check of every assignment is lost by at least one
# entry (test_every_check_is_broken_by_some_mistake), so a check whose body stopped checking shows.
DENSE_CHECKS = {"dense_returns_model", "dense_input_shape", "dense_output_shape", "dense_parameter_count",
                "dense_layers", "dense_softmax_output", "dense_optimizer", "dense_loss", "dense_accuracy_metric",
                "dense_trains"}
CNN_CHECKS = {check.replace("dense_", "cnn_") for check in DENSE_CHECKS}
DENSE_COMPILE = '    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])\n'
UNFREEZE_BODY = """    names = [layer.name for layer in vgg.layers]
    start = names.index(layer_name)
    vgg.trainable = True
    for layer in vgg.layers[:start]:
        layer.trainable = False"""
FINE_COMPILE_TAIL = ('/ 10),\n'
                     '                  loss=keras.losses.BinaryCrossentropy(from_logits=True), metrics=["accuracy"])')
MISTAKES += [
    mistake("build_dense_classifier without return", "fashion_mnist",
            [(DENSE_COMPILE + "    return model\n", DENSE_COMPILE)], DENSE_CHECKS),
    mistake("no Flatten before the dense layers", "fashion_mnist", [("        layers.Flatten(),\n", "")],
            {"dense_output_shape", "dense_parameter_count", "dense_layers", "dense_softmax_output",
             "dense_accuracy_metric", "dense_trains"}),  # evaluate and fit refuse (None, 28, 10) outputs
    mistake("stop_training set outside the if", "fashion_mnist",
            [("            self.model.stop_training = True", "        self.model.stop_training = True")],
            {"callback_continues_below", "callback_strictly_greater", "callback_custom_threshold",
             "callback_stops_real_fit", "callback_without_accuracy"}),
    mistake("AccuracyCallback without the Callback base class", "fashion_mnist",
            [("class AccuracyCallback(keras.callbacks.Callback):", "class AccuracyCallback:")],
            {"callback_is_keras_callback", "callback_without_accuracy", "callback_continues_below", "callback_strictly_greater",
             "callback_stops_above", "callback_custom_threshold", "callback_prints_message",
             "callback_stops_real_fit"}),

    mistake("divides uint8 images by 255 without a cast", "cnn",
            [("return tf.cast(images, tf.float32) / 255.0, labels", "return images / 255, labels")],
            {"normalize_float32"}),  # NumPy makes float64; TensorFlow's uint8 / int is float32, so map and batches pass
    mistake("divides by 256", "cnn", [("tf.cast(images, tf.float32) / 255.0", "tf.cast(images, tf.float32) / 256.0")],
            {"normalize_values", "normalize_in_dataset_map", "batches_normalized"}),
    mistake("labels cast to float", "cnn", [("/ 255.0, labels", "/ 255.0, tf.cast(labels, tf.float32)")],
            {"normalize_labels_unchanged", "batches_element_spec"}),
    mistake("build_cnn returns model.summary()", "cnn", [("    return model\n", "    return model.summary()\n")],
            CNN_CHECKS),
    mistake("28x28 input reshaped inside the model", "cnn",
            [("keras.Input(shape=(28, 28, 1)),", "keras.Input(shape=(28, 28)),\n        layers.Reshape((28, 28, 1)),")],
            {"cnn_input_shape", "cnn_layers"}),
    mistake("no Flatten before the dense layers", "cnn", [("        layers.Flatten(),\n", "")],
            {"cnn_output_shape", "cnn_parameter_count", "cnn_layers", "cnn_softmax_output", "cnn_accuracy_metric",
             "cnn_trains"}),  # evaluate and fit refuse (None, 7, 7, 10) outputs
    mistake("ReLU on the output layer", "cnn", [('Dense(10, activation="softmax")', 'Dense(10, activation="relu")')],
            {"cnn_layers", "cnn_softmax_output", "cnn_trains"}),  # about 10% test accuracy
    mistake("build_cnn not compiled", "cnn", [(DENSE_COMPILE, "")],
            {"cnn_optimizer", "cnn_loss", "cnn_accuracy_metric", "cnn_trains"}),

    mistake("pre_process_image returns only the image", "gap", [("    return image, label", "    return image")],
            {"pre_process_float32", "pre_process_scaled", "pre_process_resized", "pre_process_values",
             "pre_process_label", "pre_process_dataset_map"}),
    mistake("build_head without return", "gap",
            [("        model.add(layers.MaxPooling2D((2, 2)))\n    return model\n",
              "        model.add(layers.MaxPooling2D((2, 2)))\n")],
            {"head_returns_model", "head_input_shape", "head_output_shape", "head_default_size", "head_parameters",
             "head_layers"}),
    mistake("classifier returns its list of layers", "gap",
            [("    return keras.Sequential(stack)", "    return stack")],
            {"classifier_returns_model", "classifier_layers", "classifier_parameters", "classifier_probability",
             "classifier_dropout"}),
    mistake("first BatchNormalization of the classifier missing", "gap",
            [("[layers.Flatten(), layers.BatchNormalization(), layers.Dense(100)",
              "[layers.Flatten(), layers.Dense(100)")],
            {"classifier_layers", "classifier_parameters"}),
    mistake("add_gap returns model.compile(...)", "gap",
            [('    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])\n    return model',
              '    return model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])')],
            {"gap_returns_model", "gap_output_shape", "gap_layers", "gap_parameters", "gap_uses_head",
             "gap_head_trainable", "gap_probability", "gap_optimizer", "gap_loss", "gap_accuracy_metric",
             "gap_trains"}),
    mistake("two softmax outputs with a binary loss", "gap", [(GAP_OUTPUT, 'layers.Dense(2, activation="softmax")])')],
            {"gap_output_shape", "gap_layers", "gap_parameters", "gap_accuracy_metric",
             "gap_trains"}),  # evaluate and fit refuse (None, 2) outputs for (None,) labels
    mistake("add_gap builds a new head", "gap", [("keras.Sequential([head, ", "keras.Sequential([build_head(), ")],
            {"gap_uses_head"}),  # Keras 3 runs the 100-pixel head on the 32-pixel images; it trains as well

    mistake("default target_size None", "pretrained",
            [("def load_image_batch(path, target_size=(224, 224)):", "def load_image_batch(path, target_size=None):")],
            {"image_batch_default_size"}),
    mistake("feature extractor returns the output tensor", "pretrained",
            [("include_top=False, input_shape=input_shape)", "include_top=False, input_shape=input_shape).output")],
            {"extractor_returns_model", "extractor_no_top", "extractor_parameters", "extractor_input_shape",
             "extractor_default_input"}),
    mistake("features as a list of per-image arrays", "pretrained",
            [("return model.predict(batch, verbose=0)",
              "return [model.predict(image[np.newaxis], verbose=0)[0] for image in batch]")],
            {"features_returns_array", "features_shape", "features_values"}),
    mistake("preprocesses again inside extract_features", "pretrained",
            [("return model.predict(batch, verbose=0)",
              "return model.predict(keras.applications.vgg16.preprocess_input(batch.copy()), verbose=0)")],
            {"features_values"}),

    mistake("load_vgg_base without return", "transfer",
            [("    return keras.applications.VGG16(include_top=False,",
              "    base = keras.applications.VGG16(include_top=False,")],
            {"vgg_returns_model", "vgg_no_top", "vgg_parameters", "vgg_input_shape", "vgg_default_size",
             "vgg_layer_names_kept"}),
    mistake("freeze_vgg without return", "transfer",
            [("    vgg.trainable = False\n    return vgg", "    vgg.trainable = False")],
            {"freeze_returns_base", "freeze_no_trainable_weights", "freeze_training_keeps_base"}),
    mistake("build_transfer_model returns model.summary()", "transfer",
            [("    return model\n\n\ndef unfreeze_from", "    return model.summary()\n\n\ndef unfreeze_from")],
            {"transfer_returns_model", "transfer_output_shape", "transfer_layers", "transfer_logit_output",
             "transfer_parameters", "transfer_trainable", "transfer_uses_base", "transfer_optimizer", "transfer_loss",
             "transfer_accuracy_metric", "transfer_training_moves_head_only", "transfer_trains"}),
    mistake("no pooling between the base and Dense(1)", "transfer",
            [("[vgg, layers.GlobalAveragePooling2D(), layers.Dense(1)]", "[vgg, layers.Dense(1)]")],
            {"transfer_output_shape", "transfer_layers", "transfer_accuracy_metric",
             "transfer_trains"}),  # evaluate and fit refuse (None, 1, 1, 1) outputs
    mistake("hidden Dense(256) in the head", "transfer",
            [("layers.GlobalAveragePooling2D(), layers.Dense(1)]",
              'layers.GlobalAveragePooling2D(), layers.Dense(256, activation="relu"), layers.Dense(1)]')],
            {"transfer_layers", "transfer_parameters", "transfer_trainable"}),
    mistake("build_transfer_model not compiled", "transfer",
            [("    model.compile(optimizer=keras.optimizers.Adam(),\n"
              "                  loss=keras.losses.BinaryCrossentropy(from_logits=True), metrics=[\"accuracy\"])\n", "")],
            {"transfer_optimizer", "transfer_loss", "transfer_accuracy_metric", "transfer_trains"}),
    mistake("unfreeze_from without return", "transfer",
            [("        layer.trainable = False\n    return vgg\n", "        layer.trainable = False\n")],
            {"unfreeze_returns_base"}),  # the base is changed in place, so only the returned object is wrong
    mistake("compile_for_fine_tuning without return", "transfer",
            [(FINE_COMPILE_TAIL + "\n    return model\n", FINE_COMPILE_TAIL + "\n")],
            {"fine_returns_compiled_model", "fine_optimizer", "fine_learning_rate", "fine_learning_rate_argument",
             "fine_loss", "fine_accuracy_metric", "fine_keeps_trainability"}),
    mistake("fine-tuning with a probability loss", "transfer",
            [(FINE_COMPILE_TAIL, FINE_COMPILE_TAIL.replace("keras.losses.BinaryCrossentropy(from_logits=True)",
                                                           '"binary_crossentropy"'))],
            {"fine_loss"}),
    mistake("metrics=['acc'] for fine-tuning", "transfer",
            [(FINE_COMPILE_TAIL, FINE_COMPILE_TAIL.replace('"accuracy"', '"acc"'))],
            {"fine_accuracy_metric"}),  # Keras 3 names the metric as written: logs["acc"], not logs["accuracy"]
    # Content-varied probes (issue 15): mistakes that fixed, friendly inputs could not tell apart.
    mistake("normalize scales by the images' own maximum", "fashion_mnist",
            [(NORMALIZE_BODY, "images = tf.cast(images, tf.float32)\n    images = images / tf.reduce_max(images)")],
            {"normalize_values", "normalize_in_dataset_map"}),
    mistake("normalize scales by the images' own maximum", "cnn",
            [("return tf.cast(images, tf.float32) / 255.0, labels",
              "images = tf.cast(images, tf.float32)\n    return images / tf.reduce_max(images), labels")],
            {"normalize_values", "normalize_in_dataset_map", "batches_normalized"}),
    mistake("pre_process_image scales by the picture's own maximum", "gap",
            [("image = tf.cast(image, tf.float32) / 255.0",
              "image = tf.cast(image, tf.float32)\n    image = image / tf.reduce_max(image)")],
            {"pre_process_scaled"}),
    mistake("pre_process_image divides by 256", "gap",
            [("image = tf.cast(image, tf.float32) / 255.0", "image = tf.cast(image, tf.float32) / 256.0")],
            {"pre_process_scaled"}),
    mistake("unfreeze_from keeps the book's block5_conv1 in its condition", "transfer",
            [(UNFREEZE_BODY, """    vgg.trainable = True
    set_trainable = False
    for layer in vgg.layers:
        if layer.name == layer_name or layer.name == "block5_conv1":
            set_trainable = True
        layer.trainable = set_trainable""")],
            {"unfreeze_layer_name"}),
    # The contract: logs that are None, empty or without "accuracy" make the callback do nothing.
    mistake("callback reads logs['accuracy'] without a guard", "fashion_mnist",
            [("""        logs = logs or {}
        if logs.get("accuracy", 0.0) > self.threshold:""", """        if logs["accuracy"] > self.threshold:""")],
            {"callback_without_accuracy"}),
    mistake("callback assumes logs is never None", "fashion_mnist",
            [("        logs = logs or {}\n", "")], {"callback_without_accuracy"}),
    # A metric named "accuracy" that measures something else (exact equality of output and label).
    mistake("gap compiled with keras.metrics.Accuracy()", "gap",
            [('loss="binary_crossentropy", metrics=["accuracy"])',
              'loss="binary_crossentropy", metrics=[keras.metrics.Accuracy()])')],
            {"gap_accuracy_metric"}),
    mistake("transfer model compiled with keras.metrics.Accuracy()", "transfer",
            [("""    model.compile(optimizer=keras.optimizers.Adam(),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True), metrics=["accuracy"])""",
              """    model.compile(optimizer=keras.optimizers.Adam(),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True), metrics=[keras.metrics.Accuracy()])""")],
            {"transfer_accuracy_metric"}),
    mistake("fine-tuning compiled with keras.metrics.Accuracy()", "transfer",
            [(FINE_COMPILE_TAIL, FINE_COMPILE_TAIL.replace('["accuracy"]', "[keras.metrics.Accuracy()]"))],
            {"fine_accuracy_metric"}),
    mistake("test split left unbatched", "cnn",
            [("test_batches = test_dataset.map(normalize).batch(batch_size)", "test_batches = test_dataset.map(normalize)")],
            {"batches_element_spec", "batches_batch_size"}),
]

# A function written without one of its optional parameters loses the check of that parameter alone (each probe
# keeps the failure of the call that passes it: graders.common.probes.failure_kept), and the training pipeline is
# judged as normalized as the test pipeline.
MISTAKES += [
    mistake("training images cast but not scaled", "cnn",
            [("train_dataset.map(normalize).shuffle", "train_dataset.map(lambda x, y: (tf.cast(x, tf.float32), y)).shuffle")],
            {"batches_normalized"}),
    mistake("one-hot labels in both pipelines", "cnn",
            [("map(normalize).", "map(normalize).map(lambda x, y: (x, tf.one_hot(y, 10))).")],
            {"batches_element_spec", "batches_normalized"}),
    mistake("make_batches without batch_size", "cnn",
            [("def make_batches(train_dataset, test_dataset, batch_size=32):", "def make_batches(train_dataset, test_dataset):"),
             (".batch(batch_size)", ".batch(32)")], {"batches_batch_size"}),
    mistake("AccuracyCallback without a default threshold", "fashion_mnist",
            [("def __init__(self, threshold=0.9):", "def __init__(self, threshold):")],
            {"callback_continues_below", "callback_strictly_greater", "callback_stops_above", "callback_without_accuracy"}),
    mistake("pre_process_image without image_size", "gap",
            [("def pre_process_image(image, label, image_size=IMAGE_SIZE):", "def pre_process_image(image, label):"),
             ("tf.image.resize(image, (image_size, image_size))", "tf.image.resize(image, (IMAGE_SIZE, IMAGE_SIZE))")],
            {"pre_process_resized"}),
    mistake("build_standard_classifier without dropout_rate", "gap",
            [("def build_standard_classifier(dropout_rate=None):", "def build_standard_classifier():"),
             ("    if dropout_rate is not None:\n        stack.append(layers.Dropout(dropout_rate))\n", "")],
            {"classifier_dropout"}),
    mistake("compile_for_fine_tuning without base_learning_rate", "transfer",
            [("def compile_for_fine_tuning(model, base_learning_rate=1e-4):", "def compile_for_fine_tuning(model):"),
             ("learning_rate=base_learning_rate / 10", "learning_rate=1e-5")],
            {"fine_learning_rate_argument"}),
    mistake("sigmoid output with a probability loss in the transfer model", "transfer",
            [("layers.Dense(1)])\n    model.compile(optimizer=keras.optimizers.Adam(),\n"
              "                  loss=keras.losses.BinaryCrossentropy(from_logits=True)",
              "layers.Dense(1, activation=\"sigmoid\")])\n    model.compile(optimizer=keras.optimizers.Adam(),\n"
              "                  loss=keras.losses.BinaryCrossentropy(from_logits=False)")],
            {"transfer_logit_output", "transfer_loss"}),
    mistake("top_predictions without top", "pretrained",
            [("def top_predictions(model, batch, top=3):", "def top_predictions(model, batch):"),
             ("decode_predictions(scores, top=top)", "decode_predictions(scores, top=3)")],
            {"predictions_top_argument"}),
    mistake("base built with weights=None whatever it is given", "transfer",
            [("include_top=False, weights=weights, input_shape=(image_size", "include_top=False, weights=None, input_shape=(image_size")],
            {"vgg_weights_passed"}),
    mistake("feature extractor built with weights=None whatever it is given", "pretrained",
            [("VGG16(weights=weights, include_top=False,", "VGG16(weights=None, include_top=False,")],
            {"extractor_weights_passed"}),
]

# Round r35: a verdict or a message that named the wrong thing.
MISTAKES += [
    # decode_predictions' own default is top=5: slicing its rows shows only with a top above 5, which is always tried
    mistake("top_predictions slices decode_predictions' default five rows", "pretrained",
            [("decode_predictions(scores, top=top)[0]", "decode_predictions(scores)[0][:top]")],
            {"predictions_top_argument"}),
    mistake("softmax applied to the model's probabilities again", "pretrained",
            [("scores = model.predict(batch, verbose=0)",
              "scores = keras.ops.convert_to_numpy(keras.ops.softmax(model.predict(batch, verbose=0)))")],
            {"predictions_classes"}, says={"predictions_classes": "the scores are not the model's probabilities"}),
    mistake("load_img keeps the aspect ratio", "pretrained",
            [("load_img(path, target_size=target_size)",
              "load_img(path, target_size=target_size, keep_aspect_ratio=True)")],
            {"image_batch_values"}),
    # float16 rounds pixel / 255 by up to 2.5e-4: a dtype mistake, which costs the dtype checks and not the values
    mistake("normalize casts to float16", "cnn",
            [("tf.cast(images, tf.float32) / 255.0", "tf.cast(images, tf.float16) / 255.0")],
            {"normalize_float32", "normalize_in_dataset_map", "batches_element_spec"}),
    # the ranges stay 0 to 1, so the message names a pixel instead of printing two equal ranges as a mismatch
    mistake("normalize rounds to two decimals", "cnn",
            [("return tf.cast(images, tf.float32) / 255.0, labels",
              "return tf.round(tf.cast(images, tf.float32) / 255.0 * 100.0) / 100.0, labels")],
            {"normalize_values", "normalize_in_dataset_map", "batches_normalized"},
            says={"normalize_values": "a pixel of", "normalize_in_dataset_map": "a pixel of",
                  "batches_normalized": "a pixel of"}),
    mistake("add_gap freezes the head", "gap",
            [("def add_gap(head):\n", "def add_gap(head):\n    head.trainable = False\n")],
            {"gap_head_trainable"}, may_break={"gap_trains"},  # passes it on 3 of 20 seeds (calibrate_binary.py)
            says={"gap_head_trainable": "is the head frozen?"}),
    # compile_for_fine_tuning gets the model as build_transfer_model compiled it; a missing loss costs only fine_loss
    mistake("fine-tuning compiled without a loss", "transfer",
            [(FINE_COMPILE_TAIL,
              FINE_COMPILE_TAIL.replace("loss=keras.losses.BinaryCrossentropy(from_logits=True), ", ""))],
            {"fine_loss"}),
]

CORRECT = [
    correct("functional API with ReLU layers", "fashion_mnist", [(
        '''    model = keras.Sequential([
        keras.Input(shape=(28, 28)),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])''',
        '''    inputs = keras.Input((28, 28))
    x = layers.Flatten()(inputs)
    x = layers.ReLU()(layers.Dense(128)(x))
    outputs = layers.Softmax()(layers.Dense(10)(x))
    model = keras.Model(inputs=inputs, outputs=outputs)''')]),
    correct("book style: tf.keras, tf.nn activations, loss objects", "fashion_mnist", [
        ('layers.Dense(128, activation="relu")', "tf.keras.layers.Dense(128, activation=tf.nn.relu)"),
        ('layers.Dense(10, activation="softmax")', "tf.keras.layers.Dense(10, activation=tf.nn.softmax)"),
        ('optimizer="adam", loss="sparse_categorical_crossentropy"',
         "optimizer=tf.keras.optimizers.Adam(), loss=keras.losses.SparseCategoricalCrossentropy()"),
        (NORMALIZE_BODY, "images = tf.cast(images, tf.float32)\n    images /= 255"),
        ('print(f"Accuracy above {self.threshold}: stopping.")', 'print("\\nReached the target accuracy, so training stops!")'),
    ]),
    correct("Activation layers and cache/prefetch pipeline", "cnn", [
        ("train_dataset.map(normalize).shuffle(1000).batch(batch_size)",
         "train_dataset.map(normalize).cache().shuffle(60000).batch(batch_size).prefetch(tf.data.AUTOTUNE)"),
        ("test_dataset.map(normalize).batch(batch_size)", "test_dataset.map(normalize).cache().batch(batch_size).prefetch(1)"),
        ('layers.Conv2D(32, (3, 3), padding="same", activation="relu")',
         'layers.Conv2D(32, 3, padding="same"),\n        layers.Activation("relu")'),
        ("layers.MaxPooling2D((2, 2), strides=2),\n        layers.Flatten()", "layers.MaxPool2D(2),\n        layers.Flatten()"),
    ]),
    correct("normalize with x / 255.0 on tensors", "cnn", [
        ("return tf.cast(images, tf.float32) / 255.0, labels",
         "images = tf.convert_to_tensor(images)\n    return tf.cast(images, tf.float32) * (1.0 / 255.0), labels"),
    ]),
]

CORRECT += [
    correct("functional head, Activation layers, head.add and convert_image_dtype", "gap", [
        ("    image = tf.cast(image, tf.float32) / 255.0\n    image = tf.image.resize(image, (image_size, image_size))",
         "    image = tf.image.convert_image_dtype(image, tf.float32)\n"
         "    image = tf.image.resize(image, [image_size, image_size], method='nearest')"),
        ("""    model = keras.Sequential([keras.Input((image_size, image_size, 3))])
    for filters in (32, 32, 64):
        model.add(layers.Conv2D(filters, (3, 3)))
        model.add(layers.BatchNormalization())
        model.add(layers.ReLU())
        model.add(layers.MaxPooling2D((2, 2)))
    return model""", """    inputs = keras.Input(shape=(image_size, image_size, 3))
    x = inputs
    for filters in [32, 32, 64]:
        x = layers.Conv2D(filters, 3, padding="valid")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.MaxPool2D(pool_size=2)(x)
    return keras.Model(inputs, x)"""),
        ("layers.Dense(100), layers.ReLU()]", 'layers.Dense(100, activation="relu")]'),
        ("""    model = keras.Sequential([head, layers.GlobalAveragePooling2D(), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])""",
         """    x = layers.GlobalAvgPool2D()(head.outputs[0])
    x = layers.Dense(1)(x)
    model = keras.Model(head.inputs, layers.Activation("sigmoid")(x))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001),
                  loss=keras.losses.BinaryCrossentropy(), metrics=["accuracy"])"""),
    ]),
    correct("book style: tf.keras, head.add and stacked Sequential", "gap", [
        ("import keras\n", "import keras\nfrom tensorflow.keras import layers as tfl\n"),
        ("""    model = keras.Sequential([head, layers.GlobalAveragePooling2D(), layers.Dense(1, activation="sigmoid")])""",
         """    head.add(tfl.GlobalAveragePooling2D())
    head.add(tfl.Dense(1, activation=tf.nn.sigmoid))
    model = head"""),
        ("    return image, label", "    return (image, label)"),
    ]),
    correct("functional model, per-layer freezing and the book's set_trainable loop", "transfer", [
        ("""    vgg.trainable = False
    return vgg""", """    for layer in vgg.layers:
        layer.trainable = False
    return vgg"""),
        ("""    model = keras.Sequential([vgg, layers.GlobalAveragePooling2D(), layers.Dense(1)])""",
         """    inputs = keras.Input(shape=tuple(vgg.inputs[0].shape[1:]))
    features = vgg(inputs, training=False)
    pooled = layers.GlobalAveragePooling2D()(features)
    model = keras.Model(inputs, layers.Dense(1, activation=None)(pooled))"""),
        (UNFREEZE_BODY, """    vgg.trainable = True
    set_trainable = False
    for layer in vgg.layers:
        if layer.name == layer_name:
            set_trainable = True
        layer.trainable = set_trainable"""),
    ]),
    correct("tf.keras spelling and string losses", "transfer", [
        ("import keras\n", "import keras\nimport tensorflow as tf\n"),
        ("keras.optimizers.RMSprop(learning_rate=base_learning_rate / 10)",
         "tf.keras.optimizers.RMSprop(learning_rate=base_learning_rate * 0.1)"),
        ("optimizer=keras.optimizers.Adam(),", 'optimizer="adam",'),
        ("return keras.applications.VGG16(include_top=False, weights=weights, input_shape=(image_size, image_size, 3))",
         "base = tf.keras.applications.vgg16.VGG16(weights=weights, include_top=False,\n"
         "                                           input_shape=(image_size, image_size, 3))\n    return base"),
    ]),
    correct("PIL loading, if/elif preprocessing, model() call", "pretrained", [
        ("""    image = keras.utils.load_img(path, target_size=target_size)
    array = keras.utils.img_to_array(image)
    return np.expand_dims(array, axis=0)""", """    from PIL import Image
    height, width = target_size
    image = Image.open(path).convert("RGB").resize((width, height))
    return np.asarray(image, dtype=np.float32)[np.newaxis, ...]"""),
        ("""    if model_name not in PREPROCESSORS:
        raise ValueError(f"model_name must be one of {sorted(PREPROCESSORS)}. Received: {model_name!r}")
    return PREPROCESSORS[model_name](np.array(batch, dtype=np.float32, copy=True))""",
         """    batch = np.copy(batch)
    if model_name == "resnet50":
        return keras.applications.resnet50.preprocess_input(batch)
    elif model_name == "vgg16":
        return keras.applications.vgg16.preprocess_input(batch)
    raise ValueError("unknown model: " + model_name)"""),
        ("""    scores = model.predict(batch, verbose=0)
    return keras.applications.imagenet_utils.decode_predictions(scores, top=top)[0]""",
         """    scores = model.predict(batch)
    decoded = keras.applications.resnet50.decode_predictions(scores, top=top)
    return [(wnid, name, float(score)) for wnid, name, score in decoded[0]]"""),
        ("return model.predict(batch, verbose=0)", "return np.asarray(model(batch))"),
    ]),
    correct("BinaryAccuracy named accuracy", "gap",
            [('metrics=["accuracy"])', 'metrics=[keras.metrics.BinaryAccuracy(name="accuracy")])')]),
    correct("vgg16 module and explicit imagenet_utils caffe mode", "pretrained", [
        ("return keras.applications.VGG16(weights=weights, include_top=False, input_shape=input_shape)",
         "from keras.applications import vgg16\n    return vgg16.VGG16(include_top=False, weights=weights, input_shape=input_shape)"),
        ("PREPROCESSORS[model_name](np.array(batch, dtype=np.float32, copy=True))",
         "keras.applications.imagenet_utils.preprocess_input(np.array(batch, dtype='float32'), mode='caffe')"),
    ]),
]

CORRECT += [
    correct("stop message with tf.print on standard output", "fashion_mnist", [
        ("import tensorflow as tf\n", "import sys\n\nimport tensorflow as tf\n"),
        ('print(f"Accuracy above {self.threshold}: stopping.")',
         'tf.print("Accuracy above", self.threshold, ": stopping.", output_stream=sys.stdout)'),
    ]),
    correct("stop message with tf.print on standard error (its default)", "fashion_mnist", [
        ('print(f"Accuracy above {self.threshold}: stopping.")',
         'tf.print("Accuracy above", self.threshold, ": stopping.")'),
    ]),
    correct("stop message logged with logging.warning", "fashion_mnist", [
        ("import tensorflow as tf\n", "import logging\n\nimport tensorflow as tf\n"),
        ('print(f"Accuracy above {self.threshold}: stopping.")',
         'logging.warning("Accuracy above %s: stopping.", self.threshold)'),
    ]),
    correct("fine-tuning reuses the loss build_transfer_model compiled", "transfer", [
        (FINE_COMPILE_TAIL, FINE_COMPILE_TAIL.replace("loss=keras.losses.BinaryCrossentropy(from_logits=True)",
                                                      "loss=model.loss")),
    ]),
    correct("the book's functional model on vgg.output (VGG16's layers not nested)", "transfer", [
        ("""    model = keras.Sequential([vgg, layers.GlobalAveragePooling2D(), layers.Dense(1)])""",
         """    pooled = layers.GlobalAveragePooling2D()(vgg.output)
    model = keras.Model(vgg.input, layers.Dense(1)(pooled))"""),
    ]),
]
