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
# # ফ্যাশন MNIST: কনভলিউশনাল নিউরাল নেটওয়ার্ক (CNN) আর `tf.data` পাইপলাইন
#
# আগের অনুশীলনে ডেন্স নেটওয়ার্ক ছবিটাকে শুরুতেই ৭৮৪টা সংখ্যার সারিতে খুলে ফেলেছিল, ফলে কোন পিক্সেল
# কার পাশে ছিল সেই তথ্য হারিয়ে গিয়েছিল। কনভলিউশনাল নেটওয়ার্ক ছবির দ্বিমাত্রিক গঠন ধরে রেখে ছোট ছোট
# স্থানীয় প্যাটার্ন (কিনারা, কোণা, টেক্সচার) খোঁজে, তাই ছবি চেনায় সাধারণত আরও ভালো করে।
#
# এবার ডেটা আসবে `tensorflow_datasets` থেকে `tf.data.Dataset` হিসেবে: প্রতিটা উপাদান একটা
# `(image, label)` জোড়া, ছবির আকার `(28, 28, 1)` আর ধরন `uint8`, লেবেল `int64` ক্লাস নম্বর।
#
# তোমাকে লিখতে হবে:
#
# 1. `normalize` — পিক্সেলকে ০ থেকে ১-এর মধ্যে আনা;
# 2. `make_batches` — ট্রেনিং আর টেস্ট ডেটাকে নরমালাইজ করে ব্যাচে ভাগ করা;
# 3. `build_cnn` — CNN মডেল বানিয়ে কম্পাইল করা।
#
# যেখানে `raise NotImplementedError(...)` আছে, সেখানে তোমার কোড লেখো; নাম, প্যারামিটার আর
# ডকস্ট্রিংয়ের নিয়ম বদলাবে না। নিজে যাচাই করতে: `pytest exercises/`
#
# **English:** The dense network of the previous exercise flattened each picture into 784 numbers
# right away, throwing away which pixel was next to which. A convolutional network keeps the 2-D
# layout and looks for small local patterns (edges, corners, textures), which usually makes it
# better at recognising images. This time the data comes from `tensorflow_datasets` as a
# `tf.data.Dataset` whose elements are `(image, label)` pairs: images of shape `(28, 28, 1)` and
# type `uint8`, labels as `int64` class numbers. You will write `normalize`, `make_batches` (scale
# and batch the training and test data) and `build_cnn` (build and compile the CNN). Replace each
# `raise NotImplementedError(...)` with your code and keep the names, parameters and docstring
# rules. Check yourself with `pytest exercises/`.

# %%
import os

import numpy as np
import tensorflow as tf
import keras
from keras import layers

# %% [markdown]
# ## ধাপ ১: নরমালাইজ করা
#
# আগের মতোই: `uint8` পিক্সেল (০–২৫৫) কে `tf.cast` দিয়ে `float32` করে ২৫৫ দিয়ে ভাগ করো, যাতে মান
# ০ থেকে ১-এর মধ্যে আসে — ছোট, একই স্কেলের ইনপুটে ওজনগুলো স্থিরভাবে শেখে। এই ফাংশনটা আমরা
# `dataset.map(normalize)` দিয়ে ডেটাসেটের প্রতিটা `(image, label)` জোড়ার উপর চালাব, তাই এতে শুধু
# TensorFlow অপারেশন ব্যবহার করো। ছবির আকার `(28, 28, 1)` যেমন আছে তেমনই থাকবে, লেবেলও অপরিবর্তিত।
#
# **English:** Same idea as before: cast the `uint8` pixels (0–255) to `float32` with `tf.cast`
# and divide by 255 so they land in [0, 1]; small inputs on a common scale keep learning stable.
# The function will be applied to every `(image, label)` pair with `dataset.map(normalize)`, so use
# TensorFlow operations only. The `(28, 28, 1)` shape stays as it is and the label is unchanged.

# %%
def normalize(images, labels):
    """ছবিকে float32 করে ০–২৫৫ থেকে ০–১ স্কেলে আনে; লেবেল অপরিবর্তিত ফেরত দেয়।

    Cast ``images`` (e.g. a ``(28, 28, 1)`` uint8 tensor) to ``tf.float32`` and divide by 255.0,
    so values in [0, 255] become values in [0, 1]; the shape is kept. Return
    ``(images, labels)`` with ``labels`` unchanged. Must work on NumPy arrays and inside
    ``tf.data.Dataset.map``.
    """
    images = tf.cast(images, tf.float32) / 255.0
    return images, labels


# %% [markdown]
# ## ধাপ ২: ডেটা পাইপলাইন — এলোমেলো করা আর ব্যাচ বানানো
#
# `model.fit` একটা একটা ছবি নয়, বরং একসাথে কয়েকটা ছবির একটা **ব্যাচ** নিয়ে কাজ করে। প্রতিটা ব্যাচের
# পর গ্রেডিয়েন্ট হিসাব করে ওজন একবার হালনাগাদ হয়। ৩২টার মতো ছোট ব্যাচ মেমরিতে সহজে আঁটে, হিসাবকে
# ভেক্টর আকারে দ্রুত করে, আর প্রতি ইপকে অনেকবার ওজন বদলানোর সুযোগ দেয়। ৬০,০০০ ছবি ৩২-এর ব্যাচে
# ভাগ করলে প্রতি ইপকে ১,৮৭৫টা ধাপ।
#
# **ট্রেনিং সেট এলোমেলো (shuffle) করো।** ডেটা যদি প্রতিবার একই ক্রমে আসে (ধরো, আগে সব টি-শার্ট, পরে
# সব জুতা), তাহলে মডেল পরপর একই ধরনের ব্যাচ দেখে একদিকে হেলে পড়ে, আর ক্রমটাও শিখে ফেলতে পারে।
# প্রতি ইপকে নতুন করে এলোমেলো করলে প্রতিটা ব্যাচ পুরো ডেটার একটা ভালো নমুনা হয়। `shuffle(buffer)`
# একটা বাফারে `buffer`টা উপাদান রেখে সেখান থেকে র‍্যান্ডমভাবে তোলে; বাফার পুরো ডেটাসেটের সমান হলে
# মিশ্রণটা সম্পূর্ণ হয়। ডেটাসেটের মাপ জানা যায় `train_dataset.cardinality()` থেকে; মাপ অজানা
# (ঋণাত্মক) হলে ১০,০০০-এর মতো একটা বাফার নাও। খেয়াল রাখো:
#
# * `shuffle` আগে, `batch` পরে — নইলে শুধু পুরো ব্যাচগুলোর ক্রম বদলাবে, ব্যাচের ভেতরের ছবিগুলো
#   প্রতিবার একই দল হয়ে থাকবে।
# * `shuffle`-এর পরে `cache()` দিও না — তাহলে প্রথম ইপকের ক্রমটাই জমা হয়ে থাকবে, পরের ইপকগুলোতে আর
#   নতুন করে এলোমেলো হবে না।
#
# **টেস্ট সেট ক্রমানুসারে রাখো।** টেস্ট সেট দিয়ে কিছু শেখা হয় না, শুধু মাপা হয়; ক্রম বদলালে ফল বদলায়
# না, কিন্তু ক্রম স্থির থাকলে `model.predict`-এর প্রতিটা সারিকে সহজেই তার আসল লেবেলের সাথে মেলানো যায়,
# আর প্রতিবার একই ফল পাওয়া যায়।
#
# **`repeat()` দরকার নেই।** পুরোনো উদাহরণে ডেটাসেটকে `repeat()` দিয়ে অসীম করে `steps_per_epoch`
# বলে দিতে হতো। এখন Keras সসীম ডেটাসেট শেষ হলেই একটা ইপক শেষ ধরে নেয় আর পরের ইপকে আবার শুরু থেকে
# পড়ে (ট্রেনিং সেট তখন নতুন করে এলোমেলো হয়)। অসীম ডেটাসেটে `fit` বা `evaluate` জানতেই পারে না কখন
# থামতে হবে।
#
# **English:** `model.fit` works on **batches** of images: after each batch it computes the
# gradient and updates the weights once. Small batches such as 32 fit easily in memory, make the
# computation vectorised and fast, and still give many weight updates per epoch (60,000 images in
# batches of 32 are 1,875 steps).
#
# **Shuffle the training set.** If examples always arrive in the same order (say all T-shirts,
# then all shoes), consecutive batches are lopsided and the model drifts towards whatever it saw
# last, and may even pick up the order itself. Reshuffling every epoch makes each batch a fair
# sample of the whole set. `shuffle(buffer)` keeps `buffer` elements in a buffer and draws from it
# at random, so a buffer as large as the dataset gives a full mix; get the size from
# `train_dataset.cardinality()` and fall back to about 10,000 when it is unknown (negative).
# Shuffle **before** `batch` (otherwise only whole batches swap places and their contents stay
# fixed), and never `cache()` after `shuffle` (that would freeze the first epoch's order).
#
# **Keep the test set in order.** Nothing is learned from it, so shuffling brings no benefit, while
# a fixed order lets you line up each row of `model.predict` with its true label and gives
# repeatable results.
#
# **No `repeat()`.** Old code made the dataset infinite with `repeat()` and had to pass
# `steps_per_epoch`. Keras now ends an epoch when a finite dataset runs out and starts it again
# (reshuffled) for the next epoch; with an infinite dataset `fit` and `evaluate` cannot tell when to
# stop.
#
# *সংক্ষেপে / Aside:* `tensorflow_datasets`-এর নতুন split API দিয়ে অংশ নেওয়া যায়, যেমন
# `split=["train[:90%]", "train[90%:]", "test"]` — ট্রেনিং সেটের শেষ ১০% ভ্যালিডেশনের জন্য আলাদা করা।
# The current split API takes slices such as `"train[:90%]"` and `"train[90%:]"`; the demo at the
# end uses them to hold out a validation set.

# %%
def make_batches(train_dataset, test_dataset, batch_size=32):
    """দুটো ডেটাসেটকে normalize করে batch_size-এর ব্যাচে ভাগ করে; শুধু ট্রেনিং সেট এলোমেলো হয়।

    ``train_dataset`` and ``test_dataset`` yield ``(image, label)`` pairs. Return
    ``(train_batches, test_batches)``, both mapped through ``normalize`` and batched with
    ``batch_size``. The training set is shuffled before batching with a buffer covering the whole
    dataset (its ``cardinality()``, or 10,000 when that is unknown) and is reshuffled every epoch;
    nothing is cached after the shuffle. The test set keeps its original order. Neither dataset
    uses ``repeat()``, so both stay finite.
    """
    size = int(train_dataset.cardinality())
    buffer_size = size if size > 0 else 10_000
    train_batches = (
        train_dataset.shuffle(buffer_size, reshuffle_each_iteration=True)
        .map(normalize, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size)
    )
    test_batches = test_dataset.map(normalize).batch(batch_size)
    return train_batches, test_batches


# %% [markdown]
# ## ধাপ ৩: CNN মডেল
#
# * **`Conv2D(32, (3, 3), padding="same", activation="relu")`** — ৩২টা ছোট ৩×৩ ফিল্টার ছবির উপর
#   দিয়ে এক পিক্সেল করে সরে সরে যায়; প্রতিটা অবস্থানে ফিল্টার আর নিচের ৩×৩ অংশের গুণফলের যোগফল হলো
#   আউটপুট। প্রতিটা ফিল্টার একেক রকম প্যাটার্ন খোঁজে, তাই একটা ছবি থেকে ৩২টা "ফিচার ম্যাপ" তৈরি হয়।
#   `padding="same"` মানে ছবির চারপাশে শূন্য বসিয়ে কিনারার পিক্সেলেও ফিল্টার বসানো হয়, ফলে উচ্চতা-প্রস্থ
#   বদলায় না: আউটপুট `(None, 28, 28, 32)`। প্যারামিটার: ৩ × ৩ × ১ × ৩২ + ৩২ = **৩২০**।
# * **`MaxPooling2D((2, 2), strides=2)`** — প্রতিটা ফিচার ম্যাপকে পাশাপাশি-না-মেশা ২×২ ঘরে ভাগ করে
#   প্রতিটা ঘরের সবচেয়ে বড় মানটা রাখে। উচ্চতা-প্রস্থ অর্ধেক হয় (`(None, 14, 14, 32)`), হিসাব কমে, আর
#   প্যাটার্নটা ঠিক কোন পিক্সেলে আছে তার ছোটখাটো সরণ মডেলকে কম বিভ্রান্ত করে। শেখার মতো প্যারামিটার নেই।
# * **`Conv2D(64, (3, 3), padding="same", activation="relu")`** — ৬৪টা ফিল্টার, প্রতিটা আগের ৩২টা
#   ম্যাপের সবগুলো একসাথে দেখে আরও জটিল প্যাটার্ন খোঁজে: আউটপুট `(None, 14, 14, 64)`,
#   প্যারামিটার ৩ × ৩ × ৩২ × ৬৪ + ৬৪ = **১৮,৪৯৬**।
# * **`MaxPooling2D((2, 2), strides=2)`** — আবার অর্ধেক: `(None, 7, 7, 64)`।
# * **`Flatten`** — ৭ × ৭ × ৬৪ = ৩,১৩৬টা সংখ্যার সারি: `(None, 3136)`।
# * **`Dense(128, activation="relu")`** — ৩,১৩৬ × ১২৮ + ১২৮ = **৪,০১,৫৩৬** প্যারামিটার।
# * **`Dense(10, activation="softmax")`** — ১০টা ক্লাসের সম্ভাবনা; ১২৮ × ১০ + ১০ = **১,২৯০**।
#
# মোট **৪,২১,৬৪২** প্যারামিটার। ইনপুট `keras.Input((28, 28, 1))` — শেষের ১ হলো রঙের চ্যানেল
# (সাদাকালো ছবিতে একটাই)। কম্পাইল করো আগের মতো: `Adam`, `"sparse_categorical_crossentropy"`
# (লেবেল ক্লাস নম্বর), `metrics=["accuracy"]`।
#
# **English:** `Conv2D(32, (3, 3), padding="same", activation="relu")` slides 32 small 3×3
# filters across the image one pixel at a time; at each position the output is the sum of the
# filter multiplied by the 3×3 patch underneath, so every filter produces its own feature map.
# `padding="same"` surrounds the image with zeros so the filter also sits on border pixels and the
# height and width are kept: output `(None, 28, 28, 32)`, 3·3·1·32 + 32 = **320** parameters.
# `MaxPooling2D((2, 2), strides=2)` cuts every map into non-overlapping 2×2 tiles and keeps the
# largest value of each, halving height and width to `(None, 14, 14, 32)`: less computation, and
# small shifts of a pattern matter less; it has no parameters. The second `Conv2D(64, ...)` looks
# at all 32 maps at once for more complex patterns, `(None, 14, 14, 64)`, 3·3·32·64 + 64 =
# **18,496** parameters, and the second pooling gives `(None, 7, 7, 64)`. `Flatten` gives
# 7·7·64 = 3,136 numbers, `(None, 3136)`; `Dense(128, relu)` has 3,136·128 + 128 = **401,536**
# parameters and `Dense(10, softmax)` 128·10 + 10 = **1,290**. Total: **421,642** parameters. The
# input is `keras.Input((28, 28, 1))` (the trailing 1 is the single grayscale channel). Compile as
# before: `Adam`, `"sparse_categorical_crossentropy"` (labels are class numbers),
# `metrics=["accuracy"]`.

# %%
def build_cnn():
    """দুই জোড়া Conv2D/MaxPooling2D, তারপর Flatten আর দুটো Dense — কম্পাইল করা মডেল ফেরত দেয়।

    Build and return a compiled ``keras.Model``: ``keras.Input((28, 28, 1))``,
    ``Conv2D(32, (3, 3), padding="same", activation="relu")``, ``MaxPooling2D((2, 2), strides=2)``,
    ``Conv2D(64, (3, 3), padding="same", activation="relu")``, ``MaxPooling2D((2, 2), strides=2)``,
    ``Flatten``, ``Dense(128, activation="relu")``, ``Dense(10, activation="softmax")``. Compile it
    with the Adam optimizer, loss ``"sparse_categorical_crossentropy"`` and metrics
    ``["accuracy"]``. The model has 421,642 parameters and its output shape is ``(None, 10)``.
    """
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, (3, 3), padding="same", activation="relu"),
            layers.MaxPooling2D((2, 2), strides=2),
            layers.Conv2D(64, (3, 3), padding="same", activation="relu"),
            layers.MaxPooling2D((2, 2), strides=2),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


# %% [markdown]
# ## সব একসাথে চালানো
#
# নিচের সেলটা আসল ফ্যাশন MNIST লোড করার চেষ্টা করে (ট্রেনিং সেটের ৯০% ট্রেনিংয়ে, বাকি ১০%
# ভ্যালিডেশনে); না পেলে কিটের কৃত্রিম ডেটা নেয়। তারপর ব্যাচ বানিয়ে ৫ ইপক ট্রেন করে আর টেস্ট সেটে
# মাপে। CPU-তে আসল ডেটায় প্রতিটা ইপক কয়েক মিনিট নিতে পারে। আসল ডেটায় এই মডেলের ট্রেনিং
# অ্যাকুরেসি কয়েক ইপকেই ৯০%-এর উপরে ওঠে, আর টেস্ট অ্যাকুরেসি ডেন্স মডেলের চেয়ে ভালো হয়; তবে বেশি ইপক
# চালালে ট্রেনিং আর টেস্ট অ্যাকুরেসির ফাঁক বাড়তে থাকে — ওভারফিটিংয়ের লক্ষণ।
#
# **English:** The cell below tries to load the real Fashion-MNIST (90% of the training split for
# training, the last 10% for validation) and falls back to the kit's synthetic data. It then makes
# the batches, trains for 5 epochs and measures the test accuracy; on a CPU each epoch of the real
# data can take a few minutes. On the real data the training accuracy passes 90% within a few
# epochs and the test accuracy beats the dense model, but with many more epochs the gap between
# training and test accuracy keeps growing, a sign of overfitting.

# %%
# ফাইল বা নোটবুক নিজে চালালে ডেমো চলে, nbgrader গ্রেড করার সময় নয়
# The demo runs when you run the file or notebook yourself, not while nbgrader grades it.
if __name__ == "__main__" and not os.environ.get("NBGRADER_EXECUTION"):
    train_dataset = validation_dataset = test_dataset = None
    try:
        import tensorflow_datasets as tfds

        train_dataset, validation_dataset, test_dataset = tfds.load(
            "fashion_mnist", split=["train[:90%]", "train[90%:]", "test"], as_supervised=True
        )
        print("আসল ফ্যাশন MNIST লোড হয়েছে / Loaded the real Fashion-MNIST.")
    except Exception as error:  # no tensorflow_datasets, no local copy, or no internet
        print(f"tensorflow_datasets ব্যবহার করা গেল না / could not use tensorflow_datasets: {error}")
        try:
            from autograder.student.datasets import synthetic_fashion_mnist

            def as_dataset(split):
                return tf.data.Dataset.from_tensor_slices((split.images, split.labels))

            train_dataset = as_dataset(synthetic_fashion_mnist(5400, seed=0))
            validation_dataset = as_dataset(synthetic_fashion_mnist(600, seed=1))
            test_dataset = as_dataset(synthetic_fashion_mnist(1000, seed=2))
            print("কৃত্রিম ডেটা ব্যবহার করছি / Using the synthetic data set instead.")
        except ImportError:
            print("কোনো ডেটা পাওয়া যায়নি; ডেমো বাদ / No data available; skipping the demo.")

    if train_dataset is not None:
        train_batches, test_batches = make_batches(train_dataset, test_dataset, batch_size=32)
        validation_batches = validation_dataset.map(normalize).batch(32)

        model = build_cnn()
        model.summary()
        model.fit(train_batches, validation_data=validation_batches, epochs=5)
        test_loss, test_accuracy = model.evaluate(test_batches, verbose=0)
        print(f"টেস্ট অ্যাকুরেসি / Test accuracy: {test_accuracy:.4f}")

        # টেস্ট সেট ক্রমানুসারে, তাই প্রথম ছবির অনুমান তার আসল লেবেলের সাথে মেলানো যায়।
        # The test set is in order, so the first prediction lines up with the first label.
        first_images, first_labels = next(iter(test_batches))
        predicted = np.argmax(model.predict(first_images, verbose=0), axis=1)
        print("অনুমান / predicted:", predicted[:10], " আসল / true:", first_labels.numpy()[:10])
