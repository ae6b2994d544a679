"""Student-like submissions: correct variants and realistic mistakes, each with the checks it must break.

Each mistake is the base submission with one realistic edit. ``breaks`` names
exactly the checks that must lose their points; every other check must pass,
so a mistake costs points where it is made and nowhere else.
"""
from __future__ import annotations

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

BASES = {"fashion_mnist": FASHION_BASE, "cnn": CNN_BASE}


@dataclass(frozen=True)
class Variant:
    name: str
    assignment: str
    edits: tuple[tuple[str, str], ...]
    breaks: frozenset[str] = frozenset()

    def source(self) -> str:
        text = BASES[self.assignment]
        for old, new in self.edits:
            if old not in text:
                raise AssertionError(f"{self.name}: edit target not in the base: {old!r}")
            text = text.replace(old, new)
        return text


def mistake(name, assignment, edits, breaks):
    return Variant(name, assignment, tuple(edits), frozenset(breaks))


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
             "callback_stops_real_fit"}),
    mistake("no stop message", "fashion_mnist", [('            print(f"Accuracy above {self.threshold}: stopping.")\n', "")],
            {"callback_prints_message"}),
    mistake("stops in on_batch_end", "fashion_mnist", [("def on_epoch_end(self, epoch", "def on_batch_end(self, epoch")],
            {"callback_stops_above", "callback_custom_threshold", "callback_prints_message",
             "callback_stops_real_fit"}),
    mistake("repeat() in the training pipeline", "cnn", [(".shuffle(1000).batch", ".shuffle(1000).repeat().batch")],
            {"batches_no_repeat", "batches_batch_size"}),
    mistake("test set shuffled", "cnn", [("test_dataset.map(normalize).batch", "test_dataset.map(normalize).shuffle(100).batch")],
            {"batches_test_in_order"}),
    mistake("batches shuffled instead of examples", "cnn", [(".shuffle(1000).batch(batch_size)", ".batch(batch_size).shuffle(1000)")],
            {"batches_train_shuffled"}),
    mistake("training set not shuffled", "cnn", [(".shuffle(1000).batch", ".batch")],
            {"batches_train_shuffled", "batches_reshuffled_each_epoch"}),
    mistake("batch size hard-coded", "cnn", [(".batch(batch_size)", ".batch(32)")], {"batches_batch_size"}),
    mistake("cache after shuffle", "cnn", [(".shuffle(1000).batch", ".shuffle(1000).cache().batch")],
            {"batches_reshuffled_each_epoch"}),
    mistake("training set not normalized", "cnn", [("train_dataset.map(normalize).shuffle", "train_dataset.shuffle")],
            {"batches_element_spec"}),
    mistake("valid padding", "cnn", [('padding="same"', 'padding="valid"')], {"cnn_parameter_count", "cnn_layers"}),
    mistake("second pooling missing", "cnn",
            [('activation="relu"),\n        layers.MaxPooling2D((2, 2), strides=2),\n        layers.Flatten()',
              'activation="relu"),\n        layers.Flatten()')],
            {"cnn_parameter_count", "cnn_layers"}),
    mistake("from_logits with softmax", "cnn",
            [('loss="sparse_categorical_crossentropy"',
              'loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)')], {"cnn_loss"}),
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
