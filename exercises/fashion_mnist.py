# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # ফ্যাশন MNIST: ডেন্স নিউরাল নেটওয়ার্ক দিয়ে পোশাকের ছবি চেনা
#
# এই অনুশীলনে আমরা ২৮×২৮ পিক্সেলের সাদাকালো ছবি দেখে বলতে শিখব ছবিটা কোন ধরনের পণ্যের:
# টি-শার্ট, ট্রাউজার, পুলওভার, ড্রেস, কোট, স্যান্ডেল, শার্ট, স্নিকার, ব্যাগ নাকি অ্যাঙ্কল বুট।
# মোট ১০টি ক্লাস, প্রতিটির একটা নম্বর (০ থেকে ৯)। আসল ডেটাসেটে ট্রেনিংয়ের জন্য ৬০,০০০ আর
# পরীক্ষার জন্য ১০,০০০ ছবি আছে।
#
# তোমাকে তিনটি জিনিস লিখতে হবে:
#
# 1. `normalize` — পিক্সেলের মানকে ০ থেকে ১-এর মধ্যে আনা;
# 2. `build_dense_classifier` — একটা ছোট ডেন্স নেটওয়ার্ক বানিয়ে কম্পাইল করা;
# 3. `AccuracyCallback.on_epoch_end` — অ্যাকুরেসি যথেষ্ট ভালো হলে ট্রেনিং থামিয়ে দেওয়া।
#
# যেখানে `raise NotImplementedError(...)` আছে, সেই লাইনটা মুছে তোমার কোড লেখো। ফাংশনের নাম,
# প্যারামিটার আর ডকস্ট্রিংয়ে লেখা নিয়ম বদলাবে না — গ্রেডার ঠিক সেগুলোই পরীক্ষা করে।
# নিজে যাচাই করতে চাইলে চালাও: `pytest exercises/`
#
# **English:** In this exercise you teach a network to look at a 28×28 grayscale picture and say
# which of 10 kinds of clothing or footwear it shows (T-shirt/top, trouser, pullover, dress, coat,
# sandal, shirt, sneaker, bag, ankle boot), each identified by a class number 0–9. The real dataset
# has 60,000 training and 10,000 test images. You will write three pieces: `normalize` (scale
# pixels into [0, 1]), `build_dense_classifier` (build and compile a small dense network) and
# `AccuracyCallback.on_epoch_end` (stop training once accuracy is good enough). Replace each
# `raise NotImplementedError(...)` line with your code; keep the names, parameters and the rules
# written in the docstrings, because the grader checks exactly those. Run `pytest exercises/` to
# check yourself.

# %%
import os

import numpy as np
import tensorflow as tf
import keras
from keras import layers

# %% [markdown]
# ## ধাপ ১: ছবির মান ০ থেকে ১-এর মধ্যে আনা
#
# প্রতিটা পিক্সেল একটা `uint8` সংখ্যা: ০ মানে পুরো কালো, ২৫৫ মানে পুরো সাদা। নেটওয়ার্কের
# ওজনগুলো শুরুতে ছোট ছোট র‍্যান্ডম সংখ্যা, আর গ্রেডিয়েন্ট ডিসেন্ট সবচেয়ে ভালো কাজ করে যখন ইনপুটও
# ছোট আর কাছাকাছি স্কেলে থাকে। ০–২৫৫ এর বড় সংখ্যা সরাসরি দিলে শুরুর আউটপুট আর গ্রেডিয়েন্ট অনেক বড়
# হয়ে যায়, শেখা ধীর আর অস্থির হয়। তাই প্রতিটা পিক্সেলকে ২৫৫ দিয়ে ভাগ করে ০ থেকে ১-এর মধ্যে আনি।
#
# একটা খেয়াল রাখার বিষয়: `uint8` পূর্ণসংখ্যা, তাই ভাগ করার আগে `float32`-এ বদলাতে হবে
# (`tf.cast`)। আমরা `tf`-এর অপারেশন ব্যবহার করব, যাতে একই ফাংশন NumPy অ্যারেতেও চলে, আবার
# `tf.data.Dataset.map` এর ভেতরে টেন্সরের উপরেও চলে। লেবেল (ক্লাস নম্বর) যেমন আছে তেমনই ফেরত যাবে।
#
# **English:** Each pixel is a `uint8` from 0 (black) to 255 (white). The network starts with
# small random weights, and gradient descent behaves best when the inputs are also small and on a
# similar scale; raw values up to 255 make the first activations and gradients large, so training
# is slower and less stable. We therefore divide by 255 to bring every pixel into [0, 1]. Because
# `uint8` is an integer type, cast to `float32` first (`tf.cast`). Using TensorFlow operations
# means the same function works on NumPy arrays and on tensors inside `tf.data.Dataset.map`. The
# labels (class numbers) are passed through untouched.

# %%
def normalize(images, labels):
    """ছবিকে float32 করে ০–২৫৫ থেকে ০–১ স্কেলে আনে; লেবেল অপরিবর্তিত ফেরত দেয়।

    Cast ``images`` to ``tf.float32`` and divide by 255.0, so values in [0, 255] become values in
    [0, 1]. Return the pair ``(images, labels)`` with ``labels`` returned unchanged. Must work both
    on NumPy arrays and on tensors inside ``tf.data.Dataset.map`` (use ``tf.cast``).
    """
    raise NotImplementedError("এখানে আপনার কোড লিখুন / Write your code here")


# %% [markdown]
# ## ধাপ ২: ডেন্স ক্লাসিফায়ার বানানো
#
# মডেলটা তিনটা লেয়ারের একটা সরল সারি:
#
# * **`keras.Input((28, 28))`** — মডেলকে জানায় প্রতিটা ইনপুট ২৮×২৮ এর একটা ছবি।
# * **`Flatten`** — ২৮×২৮ গ্রিডকে ৭৮৪টা সংখ্যার একটা লম্বা সারিতে খুলে দেয়। এর কোনো শেখার মতো
#   প্যারামিটার নেই; শুধু আকার বদলায়, কারণ `Dense` লেয়ার একমাত্রিক ইনপুট আশা করে।
# * **`Dense(128, activation="relu")`** — ১২৮টা নিউরন, প্রতিটা ৭৮৪টা ইনপুটের সবগুলোর সাথে যুক্ত।
#   প্রতিটা নিউরন একটা ওজনযুক্ত যোগফল আর একটা বায়াস হিসাব করে, তারপর ReLU ঋণাত্মক মানকে ০ করে দেয়।
#   এই অরৈখিকতার জন্যই নেটওয়ার্ক সরলরেখার চেয়ে জটিল প্যাটার্ন শিখতে পারে।
#   প্যারামিটার: ৭৮৪ × ১২৮ + ১২৮ = **১,০০,৪৮০**।
# * **`Dense(10, activation="softmax")`** — প্রতিটা ক্লাসের জন্য একটা করে নিউরন। সফটম্যাক্স ১০টা
#   কাঁচা স্কোরকে এমন ১০টা সংখ্যায় বদলায় যেগুলো ঋণাত্মক নয় আর যোগফল ১ — অর্থাৎ প্রতিটা ক্লাসের
#   সম্ভাবনা। সবচেয়ে বড় সম্ভাবনার ক্লাসটাই মডেলের উত্তর। প্যারামিটার: ১২৮ × ১০ + ১০ = **১,২৯০**।
#
# মোট প্যারামিটার **১,০১,৭৭০**, আর আউটপুটের আকার `(None, 10)` (`None` মানে ব্যাচে যত ছবি)।
#
# **কম্পাইল করা।** `compile` মডেলকে বলে কীভাবে শিখবে:
#
# * **অপটিমাইজার `Adam`** — লস কমানোর দিকে ওজনগুলো ধাপে ধাপে সরায়, প্রতিটা ওজনের জন্য ধাপের মাপ
#   নিজে থেকে মানিয়ে নেয়। (নতুন Keras-এ লার্নিং রেট দিতে চাইলে `learning_rate=` লিখতে হয়, পুরোনো
#   `lr=` আর চলে না; এখানে ডিফল্টই যথেষ্ট।)
# * **লস `"sparse_categorical_crossentropy"`** — ক্রস-এনট্রপি দেখে সঠিক ক্লাসকে মডেল কত সম্ভাবনা
#   দিয়েছে: সম্ভাবনা ১-এর কাছে হলে লস প্রায় ০, খুব ছোট হলে লস অনেক বড়। নামের "sparse" অংশের মানে হলো
#   লেবেলগুলো সরাসরি ক্লাস নম্বর (যেমন `9`), ১০ ঘরের ওয়ান-হট ভেক্টর নয়। আমাদের ডেটার লেবেল ঠিক এভাবেই
#   আসে, তাই আলাদা করে ওয়ান-হট বানাতে হয় না। (ওয়ান-হট লেবেল থাকলে লাগত `categorical_crossentropy`।)
# * **মেট্রিক `["accuracy"]`** — কত শতাংশ ছবি ঠিক ক্লাসে গেল, তা ট্রেনিংয়ের সময় দেখায়।
#
# **English:** The model is a plain stack. `keras.Input((28, 28))` declares the input shape.
# `Flatten` unrolls the 28×28 grid into a vector of 784 numbers; it has no trainable parameters and
# only reshapes, because a `Dense` layer expects a flat input. `Dense(128, activation="relu")` has
# 128 neurons, each connected to all 784 inputs; each computes a weighted sum plus a bias and ReLU
# turns negative results into 0, and that non-linearity is what lets the network learn more than
# straight-line patterns (784 × 128 + 128 = **100,480** parameters). `Dense(10,
# activation="softmax")` has one neuron per class; softmax turns the 10 raw scores into 10
# non-negative numbers that add up to 1, i.e. a probability for every class, and the largest one is
# the prediction (128 × 10 + 10 = **1,290** parameters). In total **101,770** parameters, output
# shape `(None, 10)` (`None` is the batch size).
#
# Compile with the `Adam` optimizer (it moves the weights downhill on the loss and adapts the step
# size for each weight; in Keras 3 a custom rate is passed as `learning_rate=`, the old `lr=` is
# gone, but the default is fine here), the loss `"sparse_categorical_crossentropy"` and the metric
# `["accuracy"]`. Cross-entropy measures how much probability the model gave to the correct class:
# close to 1 gives a loss near 0, close to 0 gives a large loss. "Sparse" means the labels are plain
# class numbers such as `9` rather than one-hot vectors of length 10; that is exactly how our labels
# come, so no conversion is needed (one-hot labels would need `categorical_crossentropy`).

# %%
def build_dense_classifier():
    """Flatten → Dense(128, relu) → Dense(10, softmax) মডেল বানিয়ে কম্পাইল করে ফেরত দেয়।

    Build and return a compiled ``keras.Model``: ``keras.Input((28, 28))``, ``Flatten``,
    ``Dense(128, activation="relu")``, ``Dense(10, activation="softmax")``. Compile it with the
    Adam optimizer, loss ``"sparse_categorical_crossentropy"`` and metrics ``["accuracy"]``.
    The model has 101,770 parameters and its output shape is ``(None, 10)``.
    """
    raise NotImplementedError("এখানে আপনার কোড লিখুন / Write your code here")


# %% [markdown]
# ## ধাপ ৩: কলব্যাক দিয়ে সময়মতো ট্রেনিং থামানো
#
# **কলব্যাক** হলো এমন একটা অবজেক্ট যাকে `model.fit` ট্রেনিংয়ের নির্দিষ্ট মুহূর্তে নিজে থেকে ডাকে —
# যেমন প্রতিটা ইপক শেষ হলে `on_epoch_end(epoch, logs)`। `logs` একটা ডিকশনারি, যাতে ওই ইপকের
# ফলাফল থাকে, যেমন `{"loss": 0.27, "accuracy": 0.91}`। কলব্যাকের ভেতরে `self.model` দিয়ে যে মডেলটা
# ট্রেন হচ্ছে সেটা পাওয়া যায়, আর `self.model.stop_training = True` করলে চলতি ইপক শেষে `fit` থেমে যায়।
#
# কেন আগেভাগে থামাব? লক্ষ্যে পৌঁছানোর পরও ট্রেনিং চালালে সময় আর বিদ্যুৎ খরচ হয়, আর মডেল ট্রেনিং
# ডেটা মুখস্থ করতে শুরু করতে পারে (ওভারফিটিং) — তখন নতুন ছবিতে ফল খারাপ হয়। তাই আমরা একটা সীমা
# (`threshold`) ঠিক করব: যে ইপকে ট্রেনিং অ্যাকুরেসি এই সীমার **চেয়ে বেশি** হবে (সমান হলে নয়), সেখানেই
# একটা বার্তা ছাপিয়ে ট্রেনিং থামাবে। `logs` না থাকলে বা তাতে `"accuracy"` না থাকলে কিছুই করবে না।
#
# `__init__` তোমাকে দেওয়া আছে; শুধু `on_epoch_end` লেখো।
#
# **English:** A **callback** is an object that `model.fit` calls at fixed moments of training,
# for example `on_epoch_end(epoch, logs)` after every epoch. `logs` is a dictionary with that
# epoch's results, such as `{"loss": 0.27, "accuracy": 0.91}`. Inside the callback, `self.model` is
# the model being trained, and setting `self.model.stop_training = True` makes `fit` stop after the
# current epoch. Why stop early? Training past the goal wastes time and energy and can let the
# model start memorising the training images (overfitting), which hurts on new images. So we pick
# a `threshold`: at the end of the first epoch whose training accuracy is **strictly greater**
# than it (equal is not enough), print a message and stop training. If `logs` is `None` or has no
# `"accuracy"` entry, do nothing. `__init__` is given; write only `on_epoch_end`.

# %%
class AccuracyCallback(keras.callbacks.Callback):
    """ট্রেনিং অ্যাকুরেসি threshold ছাড়ালে ট্রেনিং থামায় / Stops training once accuracy exceeds a threshold."""

    def __init__(self, threshold=0.9):
        super().__init__()
        self.threshold = threshold

    def on_epoch_end(self, epoch, logs=None):
        """যে ইপকে logs["accuracy"] > self.threshold, সেখানে বার্তা ছাপিয়ে ট্রেনিং থামায়।

        If ``logs`` contains ``"accuracy"`` and that value is strictly greater than
        ``self.threshold``, print a short message and set ``self.model.stop_training = True``.
        Otherwise (lower or equal accuracy, ``logs`` is ``None``, or no ``"accuracy"`` key) do
        nothing. Returns ``None``.
        """
        raise NotImplementedError("এখানে আপনার কোড লিখুন / Write your code here")


# %% [markdown]
# ## সব একসাথে চালানো
#
# নিচের সেলটা আসল ফ্যাশন MNIST (`tensorflow_datasets` থেকে) লোড করার চেষ্টা করে; না পেলে কোর্সের
# কিটের কৃত্রিম (synthetic) ডেটা ব্যবহার করে। তারপর ছবি নরমালাইজ করে, মডেল বানায়, সর্বোচ্চ ১০ ইপক
# ট্রেন করে (অ্যাকুরেসি ৯০% ছাড়ালে কলব্যাক আগেই থামাবে) আর টেস্ট সেটে মূল্যায়ন করে। আসল ডেটায় এই
# মডেল সাধারণত কয়েক ইপকেই ট্রেনিং অ্যাকুরেসি ৯০%-এর কাছে যায়, আর টেস্ট অ্যাকুরেসি থাকে তার একটু নিচে
# — কারণ টেস্টের ছবিগুলো মডেল আগে কখনো দেখেনি।
#
# **English:** The cell below tries to load the real Fashion-MNIST from `tensorflow_datasets` and
# falls back to the kit's synthetic data if that is not available. It normalizes the images, builds
# the model, trains for at most 10 epochs (the callback stops earlier once accuracy passes 90%) and
# evaluates on the test set. On the real data this model usually gets close to 90% training
# accuracy within a few epochs, and test accuracy ends a little lower, because the test images were
# never seen during training.

# %%
# ফাইল বা নোটবুক নিজে চালালে ডেমো চলে, nbgrader গ্রেড করার সময় নয়
# The demo runs when you run the file or notebook yourself, not while nbgrader grades it.
if __name__ == "__main__" and not os.environ.get("NBGRADER_EXECUTION"):
    train_x = train_y = test_x = test_y = None
    try:
        import tensorflow_datasets as tfds

        (train_x, train_y), (test_x, test_y) = tfds.as_numpy(
            tfds.load("fashion_mnist", split=["train", "test"], as_supervised=True, batch_size=-1)
        )
        print("আসল ফ্যাশন MNIST লোড হয়েছে / Loaded the real Fashion-MNIST.")
    except Exception as error:  # no tensorflow_datasets, no local copy, or no internet
        print(f"tensorflow_datasets ব্যবহার করা গেল না / could not use tensorflow_datasets: {error}")
        try:
            from autograder.student.datasets import synthetic_fashion_mnist

            train_split = synthetic_fashion_mnist(6000, seed=0)
            test_split = synthetic_fashion_mnist(1000, seed=1)
            train_x, train_y = train_split.images, train_split.labels
            test_x, test_y = test_split.images, test_split.labels
            print("কৃত্রিম ডেটা ব্যবহার করছি / Using the synthetic data set instead.")
        except ImportError:
            print("কোনো ডেটা পাওয়া যায়নি; ডেমো বাদ / No data available; skipping the demo.")

    if train_x is not None:
        # Dense মডেল (28, 28) আকারের ছবি নেয়, তাই চ্যানেলের মাত্রাটা বাদ দিই।
        # The dense model takes (28, 28) images, so drop the trailing channel axis.
        train_x, train_y = normalize(train_x[..., 0], train_y)
        test_x, test_y = normalize(test_x[..., 0], test_y)

        model = build_dense_classifier()
        model.summary()
        model.fit(train_x, train_y, epochs=10, callbacks=[AccuracyCallback(0.9)])
        test_loss, test_accuracy = model.evaluate(test_x, test_y, verbose=0)
        print(f"টেস্ট অ্যাকুরেসি / Test accuracy: {test_accuracy:.4f}")
