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
# # প্রি-ট্রেইনড মডেল: ResNet50 দিয়ে ছবি চেনা আর VGG16 দিয়ে ফিচার বের করা
#
# বড় একটা ছবি-চেনার নেটওয়ার্ক শূন্য থেকে ট্রেন করতে শক্তিশালী GPU-তেও দিনের পর দিন লেগে যায়, আর
# লাগে লাখ লাখ লেবেল দেওয়া ছবি। **প্রি-ট্রেইনড মডেল** হলো এমন একটা নেটওয়ার্ক, যাকে অন্য কেউ আগেই
# ট্রেন করে তার ওজনগুলো (weights) ফাইলে সেভ করে রেখেছে; আমরা সেই ফাইল নামিয়ে মডেলটা সরাসরি
# ব্যবহার করি। Keras-এর `keras.applications`-এ এমন অনেক মডেল আছে (ResNet50, VGG16, InceptionV3,
# MobileNetV2 ...)। মডেলের গঠন (আর্কিটেকচার) Keras-এর কোডেই লেখা থাকে, কিন্তু ওজনের ফাইল বড় বলে
# সেটা নামে প্রথমবার `weights="imagenet"` দিয়ে মডেল বানানোর সময়, তারপর জমা থাকে `~/.keras/models/`
# ফোল্ডারে। যেমন ResNet50-এর ওজনের ফাইল প্রায় ৯৮ MB, আর মডেলে মোট **২,৫৬,৩৬,৭১২**টা প্যারামিটার।
#
# **ImageNet প্রি-ট্রেনিং কী দেয়?** এই মডেলগুলো ImageNet (ILSVRC) ডেটাসেটের প্রায় ১২ লাখ ছবিতে
# **১০০০টা ক্লাস** (হাতি, কুকুরের নানা জাত, গাড়ি, কফির মগ ...) আলাদা করতে শিখেছে। এত বৈচিত্র্যময়
# ছবি থেকে শিখতে গিয়ে প্রথম দিকের লেয়ারগুলো কিনারা, রং আর টেক্সচার চিনতে শেখে, মাঝের লেয়ারগুলো
# আকার আর বস্তুর অংশ (চোখ, চাকা, পাতা), আর শেষের লেয়ারগুলো পুরো বস্তু। ফলে দুইভাবে কাজে লাগে:
#
# * **সরাসরি অনুমান:** ছবি দিলেই মডেল ১০০০টা ক্লাসের সম্ভাবনা বলে দেয় — কোনো ট্রেনিং ছাড়াই;
# * **ফিচার এক্সট্রাকশন:** শেষের শ্রেণিবিভাগকারী অংশ বাদ দিয়ে মাঝের "ফিচার ম্যাপ" নিই, আর সেগুলোকে
#   নিজের কাজের (যেমন নিজের ১০ ধরনের ফুল চেনা) ছোট একটা মডেলের ইনপুট বানাই। একটা কাজে শেখা জ্ঞান
#   অন্য কাজে লাগানোর এই ধারণাকেই বলে **ট্রান্সফার লার্নিং** — পরের অধ্যায়ের বিষয়।
#
# বড় মেশিনে একবার ট্রেন হওয়া মডেল তাই ছোট মেশিনেও (ল্যাপটপ, মোবাইল) শুধু অনুমানের কাজে চালানো যায়।
#
# তোমাকে লিখতে হবে:
#
# 1. `load_image_batch` — ছবির ফাইল পড়ে মডেলের উপযোগী এক-ছবির ব্যাচ বানানো;
# 2. `preprocess` — মডেল অনুযায়ী ঠিক `preprocess_input` চালানো, মূল অ্যারে না বদলে;
# 3. `top_predictions` — মডেলের ১০০০টা স্কোর থেকে সেরা কয়েকটা ক্লাসের নাম বের করা;
# 4. `build_feature_extractor` — শ্রেণিবিভাগের অংশ ছাড়া VGG16 বানানো;
# 5. `extract_features` — একটা ব্যাচ থেকে ফিচার ম্যাপ বের করা।
#
# যেখানে `raise NotImplementedError(...)` আছে, সেখানে তোমার কোড লেখো; নাম, প্যারামিটার আর
# ডকস্ট্রিংয়ের নিয়ম বদলাবে না। নিজে যাচাই করতে: `pytest exercises/` (স্ব-পরীক্ষাগুলো কিছুই
# ডাউনলোড করে না: এলোমেলো ওজনের মডেল, `weights=None`, আর ছোট ছবি ব্যবহার করে)।
#
# **English:** Training a large image network from scratch takes days even on strong GPUs and
# needs millions of labelled pictures. A **pre-trained model** is a network somebody has already
# trained and whose weights were saved to a file; we download that file and use the model
# directly. `keras.applications` offers many of them (ResNet50, VGG16, InceptionV3, MobileNetV2,
# ...). The architecture is part of Keras' code, but the weight files are large, so they are
# downloaded the first time you create a model with `weights="imagenet"` and then kept in
# `~/.keras/models/`; ResNet50's file is about 98 MB and the model has **25,636,712** parameters.
#
# **What does ImageNet pre-training give you?** These models learned to tell apart **1000
# classes** (elephants, many dog breeds, cars, coffee mugs, ...) from about 1.2 million ImageNet
# (ILSVRC) pictures. Learning from such varied pictures makes the early layers detect edges,
# colours and textures, the middle layers shapes and object parts (eyes, wheels, leaves) and the
# late layers whole objects. You can use that in two ways: **prediction out of the box** (give a
# picture, get the probabilities of the 1000 classes, no training at all), and **feature
# extraction** (cut off the classifier at the end, keep the intermediate "feature maps" and feed
# them to a small model for your own task, e.g. recognising your own 10 kinds of flowers). Reusing
# what was learned on one task for another is called **transfer learning**, the topic of the next
# chapter. A model trained once on a big machine can therefore run predictions on small ones.
#
# You will write `load_image_batch` (read an image file into a one-image batch), `preprocess`
# (apply the right model's `preprocess_input` without touching the caller's array),
# `top_predictions` (turn the 1000 scores into the best few class names),
# `build_feature_extractor` (VGG16 without its classifier) and `extract_features` (feature maps
# for a batch). Replace each `raise NotImplementedError(...)` with your code and keep the names,
# parameters and docstring rules. Check yourself with `pytest exercises/`; the self-checks never
# download anything (they use random weights, `weights=None`, and small images).

# %%
import os

import numpy as np
import keras

# %% [markdown]
# ## ধাপ ১: ছবির ফাইল থেকে ব্যাচ
#
# * `keras.utils.load_img(path, target_size=(224, 224))` ছবিটা খোলে আর `(উচ্চতা, প্রস্থ)` =
#   `target_size` মাপে বদলে একটা PIL ছবি দেয়। ইন্টারনেটের ছবি যেকোনো মাপের হতে পারে, কিন্তু
#   ResNet50 আর VGG16 ট্রেন হয়েছে ২২৪×২২৪ ছবিতে, তাই এই মাপ।
# * `keras.utils.img_to_array(image)` সেটাকে NumPy অ্যারে বানায়: আকার `(224, 224, 3)` (উচ্চতা,
#   প্রস্থ, RGB তিনটা রঙের চ্যানেল), ধরন `float32`, মান ০ থেকে ২৫৫ — **এখানে কোনো ভাগ করা হয় না**।
# * **ব্যাচের মাত্রা কেন?** Keras মডেল সবসময় একসাথে কয়েকটা ছবির একটা ব্যাচ নেয়, তাই ইনপুটের
#   প্রথম মাত্রা হলো "কয়টা ছবি": `(ব্যাচ, উচ্চতা, প্রস্থ, চ্যানেল)`। একটা মাত্র ছবি হলেও তাকে এক-ছবির
#   ব্যাচে রাখতে হয়: `np.expand_dims(array, axis=0)` সামনে একটা মাত্রা যোগ করে `(224, 224, 3)`
#   থেকে `(1, 224, 224, 3)` বানায়। তিন-মাত্রার অ্যারে দিলে মডেল প্রথম মাত্রাকে (২২৪) ব্যাচ ভেবে
#   আকার মেলাতে না পেরে ভুল দেখায়। আউটপুটও ব্যাচ আকারে আসে: ResNet50-এর `predict` দেয় `(1, 1000)`।
#
# **English:** `keras.utils.load_img(path, target_size=(224, 224))` opens the picture and resizes
# it to `(height, width) = target_size`, returning a PIL image; pictures from the internet come in
# any size, but ResNet50 and VGG16 were trained on 224×224 images. `keras.utils.img_to_array`
# turns it into a NumPy array of shape `(224, 224, 3)` (height, width, the three RGB channels),
# type `float32`, values 0–255: **nothing is divided here**. **Why the batch dimension?** A Keras
# model always takes a batch of images, so the first axis of its input counts the images:
# `(batch, height, width, channels)`. Even a single picture has to be a batch of one:
# `np.expand_dims(array, axis=0)` adds a leading axis, turning `(224, 224, 3)` into
# `(1, 224, 224, 3)`. Pass a 3-D array and the model takes the 224 rows for a batch and fails on
# the shapes. Outputs come in batches too: ResNet50's `predict` gives `(1, 1000)`.

# %%
def load_image_batch(path, target_size=(224, 224)):
    """ছবির ফাইল target_size মাপে পড়ে (1, h, w, 3) আকারের float32 ব্যাচ (মান ০–২৫৫) ফেরত দেয়।

    Load the image file at ``path`` resized to ``target_size`` = ``(height, width)`` with
    ``keras.utils.load_img``, convert it with ``keras.utils.img_to_array`` and add a leading batch
    axis. Return a ``float32`` NumPy array of shape ``(1, height, width, 3)`` holding the raw pixel
    values 0–255 (not scaled, not preprocessed). The default gives ``(1, 224, 224, 3)``.
    """
    image = keras.utils.load_img(path, target_size=target_size)
    array = keras.utils.img_to_array(image)  # float32, (h, w, 3), 0..255
    return np.expand_dims(array, axis=0)


# %% [markdown]
# ## ধাপ ২: মডেলের নিজের `preprocess_input`
#
# প্রতিটা প্রি-ট্রেইনড মডেল ট্রেনিংয়ের সময় ছবিকে একটা নির্দিষ্ট উপায়ে সাজানো অবস্থায় দেখেছে; অনুমানের
# সময়ও ছবিকে হুবহু সেভাবেই সাজাতে হয়। তাই প্রতিটা মডেলের মডিউলে তার নিজের `preprocess_input` থাকে।
# ResNet50 আর VGG16 দুটোই মূলত Caffe লাইব্রেরিতে ট্রেন হয়েছিল, তাই দুটোর নিয়ম একই ("caffe" স্টাইল):
#
# 1. রঙের চ্যানেলের ক্রম উল্টানো: RGB → **BGR** (Caffe ছবি পড়ত নীল-সবুজ-লাল ক্রমে);
# 2. প্রতিটা চ্যানেল থেকে ImageNet-এর সেই চ্যানেলের গড় বিয়োগ: নীল থেকে **103.939**, সবুজ থেকে
#    **116.779**, লাল থেকে **123.68**, যাতে মানগুলো শূন্যের আশেপাশে থাকে;
# 3. **কোনো স্কেলিং নেই** — ০–২৫৫ ধরে নিয়েই গড় বিয়োগ করা হয়, ২৫৫ দিয়ে ভাগ করা হয় না।
#
# যেমন লাল `(R, G, B) = (255, 0, 0)` পিক্সেলটা হয়ে যায় `(0 − 103.939, 0 − 116.779, 255 − 123.68)`
# = `(−103.939, −116.779, 131.32)`।
#
# **আগে ০–১-এ স্কেল করা কেন ভুল?** তাহলে সব মান ০ থেকে ১-এর মধ্যে, গড় বিয়োগের পর প্রতিটা পিক্সেল প্রায়
# `(−103.9, −116.8, −123.7)`-এর কাছে চলে যায় — আলো-ছায়ার পার্থক্য ২৫৫ গুণ ছোট হয়ে প্রায় একরঙা
# একটা ছবি। মডেল ট্রেনিংয়ে কখনো এমন ছবি দেখেনি, তাই কোনো error না দেখিয়েই আজেবাজে অনুমান করে।
# সব মডেলের নিয়ম এক নয়: InceptionV3 বা MobileNetV2-এর `preprocess_input` ("tf" স্টাইল) মানগুলোকে
# −১ থেকে ১-এর মধ্যে আনে। নিয়ম মুখস্থ না করে যে মডেল, **তার মডিউলের** `preprocess_input` ব্যবহার করো,
# আর তাকে কাঁচা ০–২৫৫ মানই দাও।
#
# **কপি কেন?** `float` ধরনের NumPy অ্যারে পেলে Keras-এর `preprocess_input` নতুন অ্যারে না বানিয়ে
# **ওই অ্যারেটাকেই বদলে ফেলতে পারে** (in place)। তাহলে যে অ্যারে তুমি দিয়েছিলে সেটাও নষ্ট হয়ে যায়:
# একই ব্যাচ দুই মডেলের জন্য দুবার প্রিপ্রসেস করলে দ্বিতীয়বার আসলে দুবার-প্রিপ্রসেস-করা ছবি যায়।
# তাই আগে `np.array(batch, dtype=np.float32, copy=True)` দিয়ে কপি বানাও, কাজ করো কপির উপর।
#
# মডেলের নাম থেকে ফাংশন খুঁজতে নিচে `PREPROCESSORS` ডিকশনারিটা দেওয়া আছে। অজানা নাম এলে (যেমন
# `"inception"`) চুপচাপ ভুল কিছু না করে একটা স্পষ্ট `ValueError` তোলো, যার বার্তায় পাওয়া মান আর
# গ্রহণযোগ্য নামগুলো (`'resnet50'`, `'vgg16'`) দুটোই থাকবে, যেমন:
# `model_name must be one of ['resnet50', 'vgg16']. Received: 'inception'`।
#
# **English:** Every pre-trained model saw its training pictures prepared in one particular way,
# and at prediction time the pictures must be prepared exactly the same way; that is why each
# model's module has its own `preprocess_input`. ResNet50 and VGG16 were both originally trained
# with the Caffe library and share the "caffe" style: (1) reverse the channel order RGB → **BGR**,
# (2) subtract ImageNet's mean of each channel, **103.939** from blue, **116.779** from green and
# **123.68** from red, so values are centred around zero, (3) **no scaling**: the means are
# subtracted from 0–255 values, nothing is divided by 255. A red pixel `(R, G, B) = (255, 0, 0)`
# becomes `(−103.939, −116.779, 131.32)`. **Why is scaling to [0, 1] first a mistake?** Every value
# would lie in [0, 1], so after subtracting the means each pixel lands near
# `(−103.9, −116.8, −123.7)`: the differences between light and dark shrink 255 times and the
# picture becomes almost a flat colour. The model never saw anything like it and silently predicts
# nonsense, with no error. Models differ: InceptionV3 and MobileNetV2 ("tf" style) map values to
# [−1, 1]. Do not memorise the rules; use the `preprocess_input` of **the model's own module** and
# give it raw 0–255 values.
#
# **Why the copy?** Given a float NumPy array, Keras' `preprocess_input` may **modify that very
# array in place** instead of making a new one, so the array you passed in is spoiled too;
# preprocess the same batch for two models and the second one receives a twice-preprocessed
# picture. So first make a copy with `np.array(batch, dtype=np.float32, copy=True)` and work on
# it. The `PREPROCESSORS` dictionary below maps each model name to its function. For an unknown
# name (e.g. `"inception"`) do not guess: raise a clear `ValueError` whose message contains both
# the value received and the accepted names (`'resnet50'`, `'vgg16'`), for example
# `model_name must be one of ['resnet50', 'vgg16']. Received: 'inception'`.

# %%
PREPROCESSORS = {
    "resnet50": keras.applications.resnet50.preprocess_input,
    "vgg16": keras.applications.vgg16.preprocess_input,
}


def preprocess(batch, model_name):
    """model_name ("resnet50" বা "vgg16") অনুযায়ী preprocess_input চালায়; মূল অ্যারে বদলায় না।

    ``batch`` is a ``(n, height, width, 3)`` array of raw RGB values 0–255 (e.g. from
    ``load_image_batch``). Apply the ``preprocess_input`` of the model named by ``model_name``
    (``PREPROCESSORS[model_name]``) to a ``float32`` copy and return the result as a NumPy array;
    the caller's ``batch`` must be left unchanged. Both models use the "caffe" style (RGB → BGR,
    subtract the ImageNet channel means, no scaling). Any other ``model_name`` raises
    ``ValueError`` whose message names the value received and the accepted names.
    """
    if model_name not in PREPROCESSORS:
        raise ValueError(f"model_name must be one of {sorted(PREPROCESSORS)}. Received: {model_name!r}")
    return PREPROCESSORS[model_name](np.array(batch, dtype=np.float32, copy=True))


# %% [markdown]
# ## ধাপ ৩: ১০০০টা স্কোর থেকে ক্লাসের নাম
#
# ImageNet মডেলের শেষ লেয়ার `softmax`, তাই `model.predict(batch)` প্রতিটা ছবির জন্য ১০০০টা
# সম্ভাবনা দেয় (যোগফল ১): ব্যাচে একটা ছবি থাকলে আকার `(1, 1000)`। ৫ নম্বর সংখ্যাটা কী বোঝায়, তা
# জানতে লাগে ImageNet-এর **ক্লাস ইনডেক্স**: একটা JSON ফাইল
# `{"0": ["n01440764", "tench"], "1": ["n01443537", "goldfish"], ...}` — প্রতিটা নম্বরের জন্য
# WordNet আইডি আর পড়ার মতো নাম। `decode_predictions` প্রথমবার চললে এই
# `imagenet_class_index.json` ফাইলটা একবার নামিয়ে `~/.keras/models/`-এ রেখে দেয়।
#
# `keras.applications.imagenet_utils.decode_predictions(scores, top=3)` প্রতিটা ছবির সারি বড় থেকে
# ছোট সাজিয়ে সেরা `top`টা নম্বর নেয়, আর প্রতিটার জন্য `(class_id, class_name, score)` টাপল বানায়।
# ফল হলো তালিকার তালিকা — ব্যাচের প্রতিটা ছবির জন্য একটা করে তালিকা — তাই **প্রথম ছবির** ফল `[0]`।
# বইয়ের হাতির ছবিতে ResNet50-এর সেরা তিনটা ছিল `('n02504458', 'African_elephant', 0.67)`,
# `('n01871265', 'tusker', 0.17)` আর `('n02504013', 'Indian_elephant', 0.15)`।
#
# এখানে `batch` **আগেই প্রিপ্রসেস করা** — তুমি আবার `preprocess_input` চালাবে না (দুবার চালালে
# BGR আবার উল্টে RGB হয়, আর গড় দুবার বিয়োগ হয়)।
#
# **English:** The last layer of an ImageNet model is a `softmax`, so `model.predict(batch)` gives
# 1000 probabilities per image (adding up to 1): shape `(1, 1000)` for a batch of one. To know what
# entry number 5 means you need ImageNet's **class index**, a JSON file
# `{"0": ["n01440764", "tench"], "1": ["n01443537", "goldfish"], ...}` giving each number a
# WordNet id and a readable name; the first call of `decode_predictions` downloads this
# `imagenet_class_index.json` once into `~/.keras/models/`.
# `keras.applications.imagenet_utils.decode_predictions(scores, top=3)` sorts each image's row from
# high to low, keeps the best `top` entries and turns each into a `(class_id, class_name, score)`
# tuple. It returns a list of lists, one list per image of the batch, so the **first image's**
# result is `[0]`. On the book's elephant photo ResNet50's best three were
# `('n02504458', 'African_elephant', 0.67)`, `('n01871265', 'tusker', 0.17)` and
# `('n02504013', 'Indian_elephant', 0.15)`. Here `batch` is **already preprocessed**: do not call
# `preprocess_input` again (a second call flips BGR back to RGB and subtracts the means twice).

# %%
def top_predictions(model, batch, top=3):
    """প্রথম ছবির সেরা top-টা ImageNet ক্লাস (class_id, class_name, score) টাপল হিসেবে, সেরাটা আগে।

    ``model`` is an ImageNet classifier whose ``predict`` returns ``(n, 1000)`` scores and
    ``batch`` is already preprocessed (do not preprocess it again). Return a list of ``top``
    tuples ``(class_id, class_name, score)`` for the FIRST image of the batch, sorted best first,
    as given by ``keras.applications.imagenet_utils.decode_predictions`` (which looks up the
    ImageNet class index, e.g. class 5 is ``("n01496331", "electric_ray", score)``).
    """
    scores = model.predict(batch, verbose=0)
    return [tuple(item) for item in keras.applications.imagenet_utils.decode_predictions(scores, top=top)[0]]


# %% [markdown]
# ## ধাপ ৪: শ্রেণিবিভাগের অংশ ছাড়া VGG16
#
# VGG16-এর গঠন খুব সরল: ৫টা ব্লক, প্রতিটায় কয়েকটা `Conv2D` (৩×৩ ফিল্টার, `padding="same"`, `relu`)
# আর শেষে একটা `MaxPooling2D` (২×২, স্ট্রাইড ২) যা উচ্চতা-প্রস্থ অর্ধেক করে। প্যারামিটার
# (৩ × ৩ × ইনপুট চ্যানেল × ফিল্টার + ফিল্টার):
#
# | ব্লক / block | লেয়ার / layers | প্রতিটার প্যারামিটার / parameters each | ২২৪×২২৪ ছবিতে আউটপুট / output |
# |---|---|---|---|
# | 1 | `block1_conv1` (64) | 3·3·3·64 + 64 = 1,792 | |
# |   | `block1_conv2` (64) | 3·3·64·64 + 64 = 36,928 | pool → (112, 112, 64) |
# | 2 | `block2_conv1` (128) | 3·3·64·128 + 128 = 73,856 | |
# |   | `block2_conv2` (128) | 3·3·128·128 + 128 = 147,584 | pool → (56, 56, 128) |
# | 3 | `block3_conv1` (256) | 3·3·128·256 + 256 = 295,168 | |
# |   | `block3_conv2`, `block3_conv3` (256) | 3·3·256·256 + 256 = 590,080 | pool → (28, 28, 256) |
# | 4 | `block4_conv1` (512) | 3·3·256·512 + 512 = 1,180,160 | |
# |   | `block4_conv2`, `block4_conv3` (512) | 3·3·512·512 + 512 = 2,359,808 | pool → (14, 14, 512) |
# | 5 | `block5_conv1`–`block5_conv3` (512) | 2,359,808 | pool → **(7, 7, 512)** |
#
# কনভলিউশনের অংশে মোট 1,792 + 36,928 + 73,856 + 147,584 + 295,168 + 2·590,080 + 1,180,160 +
# 5·2,359,808 = **১,৪৭,১৪,৬৮৮** প্যারামিটার। এর উপরে পুরো মডেলে থাকে "টপ" বা শ্রেণিবিভাগকারী অংশ:
# `Flatten` (৭ × ৭ × ৫১২ = ২৫,০৮৮টা সংখ্যা), `fc1` = `Dense(4096)` (25,088 · 4,096 + 4,096 =
# 102,764,544), `fc2` = `Dense(4096)` (4,096 · 4,096 + 4,096 = 16,781,312) আর `predictions` =
# `Dense(1000, softmax)` (4,096 · 1,000 + 1,000 = 4,097,000)। পুরো VGG16-এ তাই ১৩,৮৩,৫৭,৫৪৪টা
# প্যারামিটার, যার প্রায় ৯০% শুধু এই টপে!
#
# `keras.applications.VGG16(weights=..., include_top=False, input_shape=...)` এই `Flatten` আর
# তিনটা `Dense` লেয়ার বাদ দেয়, থাকে শুধু কনভলিউশনের অংশ (১,৪৭,১৪,৬৮৮ প্যারামিটার), যার আউটপুট
# ২২৪×২২৪ ছবির জন্য `(7, 7, 512)` ফিচার ম্যাপ — ৫১২টা ৭×৭ "ছবি", প্রতিটা বলে কোন জায়গায় কোন ধরনের
# প্যাটার্ন আছে। টপ না থাকায় ইনপুটের মাপও ২২৪ হতে হয় না: `input_shape=None` দিলে ইনপুট
# `(None, None, None, 3)`, যেকোনো মাপের (অন্তত ৩২×৩২) ছবি চলে; ৬৪×৬৪ ছবিতে আউটপুট `(2, 2, 512)`
# (৬৪ → ৩২ → ১৬ → ৮ → ৪ → ২)। `weights="imagenet"` শিখে রাখা ওজন নামায় (একবার, প্রায় ৫৯ MB);
# `weights=None` দিলে একই গঠন কিন্তু এলোমেলো ওজন — কিছু নামায় না, তাই টেস্টে সেটাই ব্যবহার করি।
#
# **English:** VGG16 is simple: 5 blocks, each a few `Conv2D` layers (3×3 filters,
# `padding="same"`, `relu`) followed by a `MaxPooling2D` (2×2, stride 2) that halves height and
# width. The table above works out each layer's parameters (3·3·input channels·filters + filters)
# and the shape after each block for a 224×224 picture; the convolutional part adds up to
# **14,714,688** parameters and ends in **(7, 7, 512)**. On top of it the full model has its
# classifier, the "top": `Flatten` (7·7·512 = 25,088 numbers), `fc1` = `Dense(4096)` (102,764,544
# parameters), `fc2` = `Dense(4096)` (16,781,312) and `predictions` = `Dense(1000, softmax)`
# (4,097,000): 138,357,544 parameters in all, about 90% of them in the top.
# `keras.applications.VGG16(weights=..., include_top=False, input_shape=...)` drops the `Flatten`
# and the three `Dense` layers and keeps only the convolutional part (14,714,688 parameters),
# whose output for a 224×224 picture is a `(7, 7, 512)` feature map: 512 small 7×7 "pictures",
# each telling where a certain kind of pattern occurs. Without the top the input size is free:
# with `input_shape=None` the input is `(None, None, None, 3)` and any picture of at least 32×32
# works; 64×64 gives `(2, 2, 512)` (64 → 32 → 16 → 8 → 4 → 2). `weights="imagenet"` downloads the
# learned weights (once, about 59 MB); `weights=None` builds the same architecture with random
# weights and downloads nothing, which is what the tests use.

# %%
def build_feature_extractor(weights="imagenet", input_shape=None):
    """শ্রেণিবিভাগের অংশ (Flatten + তিনটা Dense) ছাড়া VGG16 মডেল ফেরত দেয়।

    Return ``keras.applications.VGG16`` built with ``include_top=False`` and the given
    ``weights`` (``"imagenet"`` for the pre-trained weights, ``None`` for random ones) and
    ``input_shape`` (``None`` accepts images of any size, shape ``(None, None, None, 3)``). The
    model has 14,714,688 parameters, no ``Dense`` layers, and maps a 224×224 image to a
    ``(7, 7, 512)`` feature map (``input_shape=(64, 64, 3)`` gives output ``(None, 2, 2, 512)``).
    """
    return keras.applications.VGG16(weights=weights, include_top=False, input_shape=input_shape)


# %% [markdown]
# ## ধাপ ৫: ফিচার বের করা
#
# ফিচার এক্সট্রাক্টর আসলে একটা সাধারণ Keras মডেল, তাই ফিচার পাওয়া মানে শুধু `model.predict(batch)`
# চালানো (`verbose=0` দিলে প্রগ্রেস বার দেখায় না)। ফল একটা NumPy অ্যারে: ২২৪×২২৪ মাপের এক ছবির ব্যাচে
# `(1, 7, 7, 512)` — প্রতি ছবিতে ৭ × ৭ × ৫১২ = ২৫,০৮৮টা সংখ্যা, যার অনেকগুলোই `relu`-এর কারণে ০।
# ব্যাচে যতগুলো ছবি, প্রথম মাত্রায় ততগুলো সারি। ব্যাচটা আগে `preprocess(..., "vgg16")` দিয়ে
# প্রস্তুত করে নেওয়ার দায়িত্ব যে ডাকে তার। পরের অধ্যায়ে এই ফিচারগুলোর উপর ছোট একটা শ্রেণিবিভাগকারী
# ট্রেন করব।
#
# **English:** The feature extractor is an ordinary Keras model, so getting features just means
# `model.predict(batch)` (`verbose=0` hides the progress bar). The result is a NumPy array: for a
# batch of one 224×224 image `(1, 7, 7, 512)`, i.e. 7·7·512 = 25,088 numbers per picture, many of
# them 0 because of the `relu`. There is one row per image of the batch. Preparing the batch with
# `preprocess(..., "vgg16")` beforehand is the caller's job. In the next chapter we train a small
# classifier on top of such features.

# %%
def extract_features(model, batch):
    """ফিচার এক্সট্রাক্টর মডেল দিয়ে ব্যাচের ফিচার ম্যাপ (NumPy অ্যারে) ফেরত দেয়।

    Run ``model`` (e.g. from ``build_feature_extractor``) on ``batch`` (already preprocessed) and
    return its output as a NumPy array with one row per image: ``(1, 7, 7, 512)`` for one
    224×224 image with VGG16, ``(2, 2, 2, 512)`` for two 64×64 images.
    """
    return model.predict(batch, verbose=0)


# %% [markdown]
# ## সব একসাথে চালানো
#
# নিচের সেলটা আগে `tensorflow_datasets`-এর `tf_flowers` থেকে একটা আসল ফুলের ছবি নেওয়ার চেষ্টা করে
# (শুধু কম্পিউটারে আগে থেকে নামানো থাকলে — ডেমো নিজে ২২০ MB-এর ডেটাসেট নামায় না; নামাতে চাইলে
# একবার `tfds.load("tf_flowers")` চালাও), না পেলে কিটের কৃত্রিম একটা ছবি নেয়; নিজের ছবি দিতে চাইলে
# `python pretrained.py elephant.jpg`। ছবিটা PNG ফাইলে লিখে `load_image_batch` দিয়ে পড়ে। তারপর
# ImageNet ওজনসহ ResNet50 দিয়ে সেরা তিনটা অনুমান দেখায় (ইন্টারনেট না থাকলে জানিয়ে বাদ দেয়), আর
# VGG16 ফিচার এক্সট্রাক্টর দিয়ে ফিচার ম্যাপের আকার দেখায় (ওজন নামানো না গেলে এলোমেলো ওজন দিয়ে)।
# কৃত্রিম ছবিটা আসলে রঙিন একটা ডিম্বাকার দাগ, তাই ResNet50 যা-ই বলুক, অবাক হয়ো না!
#
# **English:** The cell below first tries to take a real flower photo from the `tf_flowers` data
# set of `tensorflow_datasets` (only if it is already on this computer; the demo does not download
# the 220 MB data set itself, run `tfds.load("tf_flowers")` once for that), and otherwise uses a
# synthetic picture from the kit; to use your own picture run `python pretrained.py elephant.jpg`.
# The picture is written to a PNG file and read back with `load_image_batch`. Then ResNet50 with
# ImageNet weights prints its best three guesses (skipped with a message when there is no
# internet), and the VGG16 feature extractor prints the shape of the feature map (with random
# weights when the pre-trained ones cannot be downloaded). The synthetic picture is just a
# coloured blob, so do not be surprised by whatever ResNet50 makes of it!

# %%
# ফাইল বা নোটবুক নিজে চালালে ডেমো চলে, nbgrader গ্রেড করার সময় নয়
# The demo runs when you run the file or notebook yourself, not while nbgrader grades it.
if __name__ == "__main__" and not os.environ.get("NBGRADER_EXECUTION"):
    import os
    import sys
    import tempfile

    picture, image_path = None, None
    if len(sys.argv) > 1:
        image_path = sys.argv[1]
        print(f"তোমার ছবি / Your picture: {image_path}")
    else:
        try:
            import tensorflow_datasets as tfds

            flowers = tfds.load("tf_flowers", split="train[:1]", as_supervised=True, download=False)
            picture = next(iter(tfds.as_numpy(flowers)))[0]
            print("tf_flowers থেকে আসল ছবি / A real photo from tf_flowers.")
        except Exception as error:  # no tensorflow_datasets or no local copy of tf_flowers
            print(f"tf_flowers পাওয়া গেল না / tf_flowers is not available: {str(error)[:120]}")
            try:
                from autograder.student.datasets import synthetic_two_class

                picture = synthetic_two_class(1, 224, seed=0).images[0]
                print("কৃত্রিম ছবি ব্যবহার করছি / Using a synthetic picture instead.")
            except ImportError:
                rows, cols = np.mgrid[0:224, 0:224]
                picture = np.stack([cols, rows, (rows + cols) // 2], axis=-1).astype(np.uint8)
                print("কিট নেই, রঙের ঢাল ব্যবহার করছি / No kit; using a colour gradient instead.")

    with tempfile.TemporaryDirectory() as folder:
        if image_path is None:
            image_path = os.path.join(folder, "picture.png")
            keras.utils.save_img(image_path, picture, scale=False)
        batch = load_image_batch(image_path)
    print(f"ব্যাচ / batch: shape={batch.shape}, dtype={batch.dtype}, "
          f"values {batch.min():.0f}..{batch.max():.0f}")

    resnet_batch = preprocess(batch, "resnet50")
    print(f"প্রিপ্রসেসের পর / after preprocess: values {resnet_batch.min():.1f}..{resnet_batch.max():.1f} "
          f"(the original batch still reaches {batch.max():.0f})")

    try:
        resnet = keras.applications.ResNet50(weights="imagenet")
        print(f"ResNet50: {resnet.count_params():,} parameters")
        for class_id, class_name, score in top_predictions(resnet, resnet_batch, top=3):
            print(f"  {class_id}  {class_name:<25} {score:.4f}")
    except Exception as error:  # offline: the weights or the class index cannot be downloaded
        print(f"ResNet50-এর ওজন বা ক্লাস ইনডেক্স নামানো গেল না / could not download ResNet50's weights "
              f"or the class index, skipping predictions: {str(error)[:160]}")

    try:
        extractor = build_feature_extractor(weights="imagenet")
    except Exception as error:
        print(f"VGG16-এর ওজন নামানো গেল না, এলোমেলো ওজন নিচ্ছি / could not download VGG16's weights, "
              f"using random ones: {str(error)[:160]}")
        extractor = build_feature_extractor(weights=None)
    print(f"VGG16 without top: {extractor.count_params():,} parameters")
    features = extract_features(extractor, preprocess(batch, "vgg16"))
    print(f"ফিচার ম্যাপ / feature maps: {features.shape}, "
          f"{np.mean(features == 0):.0%} of the values are 0")
