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
# # বিড়াল না কুকুর? কনভলিউশনাল হেড, Flatten + Dense ক্লাসিফায়ার আর গ্লোবাল অ্যাভারেজ পুলিং
#
# এই অনুশীলনে মডেল একটা রঙিন ছবি দেখে বলবে সেখানে বিড়াল (লেবেল ০) আছে নাকি কুকুর (লেবেল ১)।
# ডেটা আসবে `tensorflow_datasets`-এর `cats_vs_dogs` থেকে: মোট ২৩,২৬২টা ছবি, প্রতিটা `uint8`
# RGB ছবি, কিন্তু সবগুলোর মাপ আলাদা। একই কনভলিউশনাল অংশের ("হেড") পেছনে আমরা দুই রকম শেষ অংশ
# বসিয়ে তুলনা করব: পুরোনো ধাঁচের Flatten + Dense ক্লাসিফায়ার (প্রায় ৬.৮ লাখ প্যারামিটার), আর
# গ্লোবাল অ্যাভারেজ পুলিং (GAP), যার শেষ অংশে মাত্র ৬৫টা প্যারামিটার — তবু সে ওভারফিট কম করে।
#
# তোমাকে লিখতে হবে:
#
# 1. `pre_process_image` — ছবিকে ০ থেকে ১ স্কেলে এনে একই মাপে (১০০×১০০) বদলানো;
# 2. `build_head` — তিনটা কনভলিউশন ব্লক দিয়ে বানানো "হেড";
# 3. `build_standard_classifier` — Flatten + Dense ক্লাসিফায়ার, চাইলে ড্রপআউটসহ;
# 4. `add_gap` — হেডের পরে গ্লোবাল অ্যাভারেজ পুলিং আর একটা আউটপুট নিউরন বসিয়ে কম্পাইল করা।
#
# যেখানে `raise NotImplementedError(...)` আছে, সেখানে তোমার কোড লেখো; নাম, প্যারামিটার আর
# ডকস্ট্রিংয়ের নিয়ম বদলাবে না। নিজে যাচাই করতে: `pytest exercises/`
#
# **English:** In this exercise a model looks at a colour photo and says whether it shows a cat
# (label 0) or a dog (label 1). The data is `cats_vs_dogs` from `tensorflow_datasets`: 23,262
# `uint8` RGB photos, all of different sizes. On top of one and the same convolutional part (the
# "head") we put two different endings and compare them: the classic Flatten + Dense classifier
# (about 676 thousand parameters) and global average pooling (GAP), whose ending has only 65
# parameters and still overfits less. You will write `pre_process_image` (scale to [0, 1] and
# resize to 100×100), `build_head` (three convolution blocks), `build_standard_classifier` (Flatten
# + Dense, optionally with dropout) and `add_gap` (GAP plus one output neuron after the head,
# compiled). Replace each `raise NotImplementedError(...)` with your code and keep the names,
# parameters and docstring rules. Check yourself with `pytest exercises/`.

# %%
import os

import numpy as np
import tensorflow as tf
import keras
from keras import layers

IMAGE_SIZE = 100  # বই যে মাপে ছবি ছোট করেছে / the side length the book resizes every photo to

# %% [markdown]
# ## ধাপ ১: সব ছবিকে এক মাপে আনা
#
# `cats_vs_dogs`-এ শুধু একটা `"train"` স্প্লিট আছে, তাই আমরা নিজেরাই ভাগ করি:
# `split=["train[:80%]", "train[80%:90%]", "train[90%:]"]` — ৮০% ট্রেনিং, ১০% ভ্যালিডেশন, ১০% টেস্ট।
# `as_supervised=True` দিলে প্রতিটা উপাদান একটা `(image, label)` জোড়া।
#
# ছবিগুলো মানুষের তোলা আসল ছবি: কোনোটা চওড়া, কোনোটা লম্বা, কোনোটা বড়, কোনোটা ছোট। কিন্তু একটা
# ব্যাচের সব ছবির আকার এক হতে হয়, আর মডেলের ইনপুটও একটা নির্দিষ্ট মাপ (`(100, 100, 3)`) আশা করে।
# তাই ব্যাচ বানানোর **আগেই** প্রতিটা ছবিকে `tf.image.resize` দিয়ে `image_size × image_size` করে নাও।
# ১০০×১০০ বেছে নেওয়া হয়েছে গতির জন্য: ছোট ছবিতে কিছু খুঁটিনাটি হারায়, অ্যাকুরেসি একটু কমতে পারে,
# কিন্তু ট্রেনিং অনেক দ্রুত হয়।
#
# সাথে আগের অনুশীলনগুলোর মতো নরমালাইজ করো: `tf.cast` দিয়ে `float32` করে ২৫৫ দিয়ে ভাগ, যাতে মান ০
# থেকে ১-এর মধ্যে আসে। `tf.image.resize` ডিফল্টভাবে বাইলিনিয়ার পদ্ধতিতে আশপাশের পিক্সেলের ওজনদার গড়
# নেয়, তাই ০–১-এর মান ০–১-এর মধ্যেই থাকে। লেবেল (০ = বিড়াল, ১ = কুকুর) যেমন আছে তেমনই ফেরত দাও।
#
# ফাংশনটা চলবে `dataset.map(pre_process_image)`-এর ভেতরে, যেখানে ছবির উচ্চতা-প্রস্থ আগে থেকে জানা
# নেই (আকার `(None, None, 3)`)। তাই শুধু TensorFlow অপারেশন ব্যবহার করো, NumPy নয়। `image_size`
# প্যারামিটার দিয়ে অন্য মাপও চাওয়া যায় (শেষের ডেমো দ্রুত চলার জন্য ছোট মাপ নেয়)।
#
# **English:** `cats_vs_dogs` has a single `"train"` split, so we slice it ourselves:
# `split=["train[:80%]", "train[80%:90%]", "train[90%:]"]` gives 80% training, 10% validation and
# 10% test data, and `as_supervised=True` makes every element an `(image, label)` pair. The
# photos come in all shapes and sizes, but all images in a batch must have the same shape and the
# model expects a fixed input (`(100, 100, 3)`), so every photo is resized to
# `image_size × image_size` with `tf.image.resize` **before** batching. 100×100 is chosen for
# speed: a smaller picture loses some detail and maybe a little accuracy, but trains much faster.
# Normalise as in the earlier exercises: `tf.cast` to `float32` and divide by 255 so the values
# lie in [0, 1]. `tf.image.resize` uses bilinear interpolation by default, a weighted average of
# neighbouring pixels, so values in [0, 1] stay in [0, 1]. Return the label (0 = cat, 1 = dog)
# unchanged. The function runs inside `dataset.map(pre_process_image)`, where height and width are
# unknown in advance (shape `(None, None, 3)`), so use TensorFlow operations only, not NumPy. The
# `image_size` argument asks for another size (the demo at the end uses a smaller one for speed).

# %%
def pre_process_image(image, label, image_size=IMAGE_SIZE):
    """ছবিকে float32, ০–১ স্কেল আর image_size × image_size মাপে আনে; লেবেল অপরিবর্তিত ফেরত দেয়।

    ``image`` is a ``(height, width, 3)`` uint8 tensor or array of any height and width. Cast it
    to ``tf.float32``, divide by 255.0 and resize it with ``tf.image.resize`` (default bilinear
    method) to ``(image_size, image_size)``. Return ``(image, label)``: a float32 tensor of shape
    ``(image_size, image_size, 3)`` with values in [0, 1], and ``label`` unchanged. Use
    TensorFlow operations only, so that it works inside ``tf.data.Dataset.map`` on images whose
    height and width are unknown.
    """
    raise NotImplementedError("এখানে আপনার কোড লিখুন / Write your code here")


# %% [markdown]
# ## ধাপ ২: কনভলিউশনাল "হেড"
#
# একটা CNN-কে দুই ভাগে ভাবা যায়। প্রথম ভাগটা ছবি প্রক্রিয়া করে: কনভলিউশন আর পুলিং মিলে ছবি থেকে
# অনেকগুলো ফিচার ম্যাপ বানায় — কোথায় কিনারা, কোথায় লোমের টেক্সচার, কোথায় চোখের মতো গোল কিছু।
# দ্বিতীয় ভাগটা সিদ্ধান্ত নেয়: ফিচার ম্যাপগুলো পড়ে বলে "বিড়াল" নাকি "কুকুর"। এই অধ্যায়ে প্রথম
# ভাগটাকে আমরা **হেড** বলছি, কারণ ছবি প্রথমে এখানেই ঢোকে। হেডকে আলাদা একটা `keras.Sequential` মডেল
# হিসেবে বানালে একই হেডের পেছনে ভিন্ন ভিন্ন শেষ অংশ জুড়ে তুলনা করা সহজ হয়।
# (সাবধান: অনেক বই আর লাইব্রেরিতে নামটা উল্টো — সেখানে শেষের ক্লাসিফায়ারকে "classification head"
# আর কনভলিউশনাল অংশকে "base" বা "backbone" বলে। এই অনুশীলনে `build_head` মানে কনভলিউশনাল অংশ।)
#
# হেডে তিনটা একই ধাঁচের ব্লক, ফিল্টারের সংখ্যা যথাক্রমে ৩২, ৩২ আর ৬৪:
#
# `Conv2D(filters, (3, 3))` → `BatchNormalization()` → `ReLU()` → `MaxPooling2D((2, 2))`
#
# **BatchNormalization কেন কনভলিউশন আর ReLU-এর মাঝখানে?** BatchNormalization প্রতিটা ফিচার ম্যাপের
# মানগুলোকে পুরো ব্যাচ জুড়ে গড় ০ আর স্ট্যান্ডার্ড ডেভিয়েশন ১-এ আনে, তারপর দুটো শেখার মতো সংখ্যা γ
# (স্কেল) আর β (সরণ) দিয়ে দরকার মতো বদলায়। ReLU সব ঋণাত্মক মানকে ০ করে দেয়। ReLU-এর আগে
# নরমালাইজ করলে ReLU সবসময় শূন্যের দুই পাশে ছড়ানো মান পায়: কিছু ধনাত্মক, কিছু ঋণাত্মক। তাতে
# কোনো ফিচার ম্যাপ পুরোপুরি "মরে" যায় না (সব মান ঋণাত্মক, তাই সব ০), আবার সব মান ধনাত্মক হয়ে
# ReLU অকেজোও হয়ে পড়ে না। আগের লেয়ারের ওজন বদলালেও পরের লেয়ারের ইনপুটের স্কেল হঠাৎ লাফায় না, তাই
# ট্রেনিং স্থির থাকে আর দ্রুত এগোয়। এ কারণে `Conv2D`-তে `activation` দেবে না (ডিফল্ট: কোনো
# অ্যাক্টিভেশন নেই), আর ReLU বসবে আলাদা লেয়ার হিসেবে, BatchNormalization-এর পরে।
#
# **আউটপুটের আকার।** `padding` না বললে Conv2D হয় "valid": ৩×৩ ফিল্টার শুধু সেখানেই বসে যেখানে
# পুরো ঘরটা ছবির ভেতরে, তাই প্রতিটা কিনারা থেকে ১ পিক্সেল করে কমে: n → n − ২। ২×২ ম্যাক্স পুলিং
# (স্ট্রাইড ২) উচ্চতা-প্রস্থ অর্ধেক করে আর ভাগশেষ ফেলে দেয়: n → ⌊n ÷ ২⌋। ১০০ পিক্সেলের ছবিতে:
#
# ১০০ → (Conv) ৯৮ → (Pool) ৪৯ → (Conv) ৪৭ → (Pool) ২৩ → (Conv) ২১ → (Pool) ১০
#
# অর্থাৎ হেডের আউটপুট `(None, 10, 10, 64)`: ১০×১০ মাপের ৬৪টা ফিচার ম্যাপ (৪৭ আর ২১ বিজোড়, তাই
# পুলিংয়ে শেষ সারি আর কলামটা বাদ পড়ে)। ৪৮ পিক্সেলের ছবিতে একই হিসাবে
# ৪৮ → ৪৬ → ২৩ → ২১ → ১০ → ৮ → ৪, আউটপুট `(None, 4, 4, 64)`।
#
# **প্যারামিটার।** Conv2D-এর প্রতিটা ফিল্টারে ৩ × ৩ × (ইনপুট চ্যানেল)টা ওজন আর একটা বায়াস।
# BatchNormalization প্রতিটা চ্যানেলে ৪টা সংখ্যা রাখে: γ আর β গ্রেডিয়েন্ট দিয়ে শেখা হয়
# (ট্রেইনেবল); চলমান গড় (moving mean) আর চলমান ভ্যারিয়েন্স (moving variance) ট্রেনিংয়ের সময়
# ব্যাচগুলো থেকে হিসাব করে হালনাগাদ হয়, গ্রেডিয়েন্ট দিয়ে নয় (নন-ট্রেইনেবল), আর প্রেডিকশনের সময়
# এগুলোই কাজে লাগে। ReLU আর পুলিংয়ের কোনো প্যারামিটার নেই।
#
# | লেয়ার / layer | আউটপুট / output | প্যারামিটার / parameters |
# | --- | --- | --- |
# | Conv2D(32) | (None, 98, 98, 32) | 3·3·3·32 + 32 = 896 |
# | BatchNormalization | (None, 98, 98, 32) | 4·32 = 128 (64 trainable) |
# | ReLU | (None, 98, 98, 32) | 0 |
# | MaxPooling2D | (None, 49, 49, 32) | 0 |
# | Conv2D(32) | (None, 47, 47, 32) | 3·3·32·32 + 32 = 9,248 |
# | BatchNormalization, ReLU | (None, 47, 47, 32) | 128 (64 trainable) |
# | MaxPooling2D | (None, 23, 23, 32) | 0 |
# | Conv2D(64) | (None, 21, 21, 64) | 3·3·32·64 + 64 = 18,496 |
# | BatchNormalization, ReLU | (None, 21, 21, 64) | 4·64 = 256 (128 trainable) |
# | MaxPooling2D | (None, 10, 10, 64) | 0 |
#
# মোট **২৯,১৫২**, যার মধ্যে ট্রেইনেবল **২৮,৮৯৬** আর নন-ট্রেইনেবল ২৫৬ (= ২ × (৩২ + ৩২ + ৬৪))।
# খেয়াল করো, প্যারামিটারের সংখ্যা ছবির মাপের উপর নির্ভর করে না — ফিল্টার সবসময় ৩×৩ — শুধু
# আউটপুটের মাপ বদলায়। ইনপুট `keras.Input((image_size, image_size, 3))`; শেষের ৩ হলো লাল, সবুজ আর
# নীল চ্যানেল।
#
# **English:** Think of a CNN in two parts. The first part processes the picture: convolutions and
# pooling turn it into many feature maps (where the edges are, where the fur texture is, where
# something round like an eye is). The second part decides: it reads the feature maps and says
# "cat" or "dog". In this chapter the first part is called the **head**, because the picture
# enters there; building it as its own `keras.Sequential` model lets us put different endings
# behind the same head and compare them. (Careful: many books and libraries use the opposite
# naming, calling the final classifier the "classification head" and the convolutional part the
# "base" or "backbone". Here `build_head` means the convolutional part.)
#
# The head has three blocks of `Conv2D(filters, (3, 3))` → `BatchNormalization()` → `ReLU()` →
# `MaxPooling2D((2, 2))` with 32, 32 and 64 filters. **Why BatchNormalization between the
# convolution and ReLU?** It rescales every feature map over the batch to mean 0 and standard
# deviation 1, then adjusts it with two learned numbers, γ (scale) and β (shift). ReLU zeroes every
# negative value. Normalising first means ReLU always receives values spread around zero, some
# positive and some negative, so no feature map "dies" (all negative, hence all 0) and ReLU does not
# become useless either (all positive). The scale of a layer's input no longer jumps whenever the
# weights before it change, so training is steadier and faster. So give `Conv2D` no `activation`
# (the default is none) and add ReLU as its own layer after BatchNormalization.
#
# **Output shapes.** Without `padding`, Conv2D is "valid": the 3×3 filter only sits where the
# whole window lies inside the picture, so one pixel is lost at every border, n → n − 2. 2×2 max
# pooling (stride 2) halves height and width and drops the remainder, n → ⌊n / 2⌋. For 100 pixels:
# 100 → 98 → 49 → 47 → 23 → 21 → 10, so the head outputs `(None, 10, 10, 64)`, 64 feature maps of
# 10×10 (47 and 21 are odd, so pooling drops the last row and column). For 48 pixels:
# 48 → 46 → 23 → 21 → 10 → 8 → 4, output `(None, 4, 4, 64)`.
#
# **Parameters.** Every Conv2D filter has 3 × 3 × (input channels) weights plus one bias.
# BatchNormalization keeps 4 numbers per channel: γ and β are learned by gradient descent
# (trainable); the moving mean and moving variance are updated from the batches during training,
# not by gradients (non-trainable), and are what prediction uses. ReLU and pooling have no
# parameters. The table above adds up to **29,152** parameters, **28,896** of them trainable and
# 256 (= 2 × (32 + 32 + 64)) non-trainable. The count does not depend on the picture size (the
# filters are always 3×3); only the output shape does. The input is
# `keras.Input((image_size, image_size, 3))`, the 3 being the red, green and blue channels.

# %%
def build_head(image_size=IMAGE_SIZE):
    """তিনটা Conv2D → BatchNormalization → ReLU → MaxPooling2D ব্লকের হেড (কম্পাইল ছাড়া) ফেরত দেয়।

    Build and return a ``keras.Sequential`` model (a name such as ``"head"`` helps in summaries; it
    is not graded) with input
    ``keras.Input((image_size, image_size, 3))`` followed by three blocks, with 32, 32 and 64
    filters, of ``Conv2D(filters, (3, 3))`` (valid padding, no activation of its own),
    ``BatchNormalization()``, ``ReLU()`` and ``MaxPooling2D((2, 2))``. Do not compile it. For
    ``image_size=100`` the output shape is ``(None, 10, 10, 64)`` and the model has 29,152
    parameters, 28,896 of them trainable; for ``image_size=48`` the output is ``(None, 4, 4, 64)``.
    """
    raise NotImplementedError("এখানে আপনার কোড লিখুন / Write your code here")


# %% [markdown]
# ## ধাপ ৩: পুরোনো ধাঁচের ক্লাসিফায়ার — Flatten + Dense (আর ড্রপআউট)
#
# হেডের `(None, 10, 10, 64)` আউটপুটকে `Flatten` একটা ১০ × ১০ × ৬৪ = ৬,৪০০ সংখ্যার সারিতে খুলে দেয়,
# তারপর একটা সাধারণ ডেন্স নেটওয়ার্ক:
#
# `Flatten` → `BatchNormalization` → `Dense(100)` → `ReLU` → [`Dropout`] → `BatchNormalization` →
# `Dense(100)` → `ReLU` → `Dense(1, activation="sigmoid")`
#
# **দুই ক্লাস, একটা নিউরন।** বিড়াল (০) আর কুকুর (১) — মাত্র দুটো ক্লাস, তাই শেষে একটাই নিউরন
# যথেষ্ট। সিগময়েড σ(z) = ১ ÷ (১ + e^(−z)) যেকোনো সংখ্যাকে ০ আর ১-এর মাঝে আনে; আউটপুট p মানে
# "ছবিটা কুকুর হওয়ার সম্ভাবনা", আর p ≥ ০.৫ হলে উত্তর কুকুর। লস হবে বাইনারি ক্রস-এনট্রপি:
# −[y·log p + (১ − y)·log(১ − p)]। একটা কুকুরের ছবিতে (y = ১) p = ০.৯ হলে লস ≈ ০.১০৫, কিন্তু p = ০.১
# হলে লস ≈ ২.৩০৩ — আত্মবিশ্বাসী ভুলের শাস্তি অনেক বড়।
#
# **খরচ কত?** ১০০ পিক্সেলের হেডের উপর:
#
# | লেয়ার / layer | আউটপুট / output | প্যারামিটার / parameters |
# | --- | --- | --- |
# | Flatten | (None, 6400) | 0 |
# | BatchNormalization | (None, 6400) | 4·6400 = 25,600 (12,800 trainable) |
# | Dense(100) | (None, 100) | 6400·100 + 100 = 640,100 |
# | ReLU | (None, 100) | 0 |
# | BatchNormalization | (None, 100) | 4·100 = 400 (200 trainable) |
# | Dense(100) | (None, 100) | 100·100 + 100 = 10,100 |
# | ReLU | (None, 100) | 0 |
# | Dense(1), sigmoid | (None, 1) | 100·1 + 1 = 101 |
#
# মোট **৬,৭৬,৩০১** — পুরো হেডের (২৯,১৫২) তেইশ গুণেরও বেশি, আর এর প্রায় ৯৫% (৬,৪০,১০০) শুধু প্রথম
# Dense লেয়ারে।
#
# **কেন ওভারফিট করে?** প্রথম Dense-এর প্রতিটা নিউরন ৬,৪০০টা আলাদা ওজন দিয়ে প্রতিটা ফিচার ম্যাপের
# প্রতিটা ঘরকে আলাদা করে দেখে। ২৩,২৬২-এর ৮০%, মানে মোটামুটি ১৮,৬০০ ট্রেনিং ছবির জন্য সাড়ে ছয় লাখ
# ওজন অনেক বেশি স্বাধীনতা: মডেল "এই ছবির ঠিক এই কোণে এই প্যাটার্ন ছিল" ধরনের খুঁটিনাটি মুখস্থ করে
# ফেলতে পারে, যা নতুন ছবিতে কোনো কাজে আসে না। বইয়ের পরীক্ষায় ঠিক এটাই দেখা গেছে: ১০ ইপক পরে
# ট্রেনিং অ্যাকুরেসি প্রায় ৯৯%, অথচ ভ্যালিডেশন অ্যাকুরেসি বেশিরভাগ সময় ৮০–৮৫%-এর মধ্যে আটকে থাকে, আর
# ভ্যালিডেশন লস প্রথম ইপকের ০.৪৩ থেকে শেষে ০.৮৫-এ ওঠে — ওভারফিটিংয়ের পরিষ্কার লক্ষণ।
#
# **ড্রপআউট।** ট্রেনিংয়ের প্রতিটা ধাপে `Dropout(rate)` প্রতিটা নিউরনের আউটপুট `rate` সম্ভাবনায়
# এলোমেলোভাবে ০ করে দেয় (`rate=0.5` হলে গড়ে অর্ধেক), আর বেঁচে থাকাগুলোকে ১ ÷ (১ − rate) দিয়ে গুণ
# করে, যাতে গড়ে মোট মান একই থাকে। কোন নিউরন কখন বাদ পড়বে জানা নেই, তাই কোনো নিউরন অন্য কোনো
# নির্দিষ্ট নিউরনের উপর ভরসা করে থাকতে পারে না; প্রত্যেককে নিজে কাজের কিছু শিখতে হয়, আর মুখস্থ করা
# কঠিন হয়ে যায়। ব্যাপারটা অনেকগুলো "পাতলা" নেটওয়ার্ক একসাথে ট্রেন করে তাদের গড় নেওয়ার মতো।
# প্রেডিকশন বা মূল্যায়নের সময় কিছুই বাদ পড়ে না। ড্রপআউটের নিজের কোনো প্যারামিটার নেই, তাই মোট
# সংখ্যা বদলায় না। `dropout_rate` দেওয়া থাকলে (`None` না হলে) প্রথম ReLU-এর ঠিক পরে একটা
# `Dropout(dropout_rate)` বসাও। বইয়ে ০.৫ ড্রপআউট ভ্যালিডেশন অ্যাকুরেসি কিছুটা বাড়িয়েছিল (সেরা
# প্রায় ৮৭%), তবে ওভারফিটিং পুরোপুরি যায়নি।
#
# **ক্লাসিফায়ারের নিজের ইনপুট নেই।** এখানে `keras.Input` দেবে না: ক্লাসিফায়ার একা চলে না, হেডের
# পেছনে বসে — `keras.Sequential([head, classifier])`। জোড়া লাগানোর সময় Keras হেডের আউটপুটের মাপ
# দেখে Flatten-এর দৈর্ঘ্য (৬,৪০০) ঠিক করে আর ওজন তৈরি করে; তাই প্যারামিটার গোনা যায় জোড়া লাগানোর
# পরেই। একই ক্লাসিফায়ার ৪৮ পিক্সেলের হেডের পেছনে বসালে Flatten হবে ৪ × ৪ × ৬৪ = ১,০২৪, আর প্রথম
# Dense-এ ১,০২,৫০০ প্যারামিটার — ছবির মাপ বদলালে ওজনের মাপও বদলে যায়। কম্পাইল এখানে নয়, জোড়া
# লাগানো মডেলে।
#
# **English:** `Flatten` unrolls the head's `(None, 10, 10, 64)` output into 10 × 10 × 64 = 6,400
# numbers, followed by a plain dense network: `Flatten` → `BatchNormalization` → `Dense(100)` →
# `ReLU` → [`Dropout`] → `BatchNormalization` → `Dense(100)` → `ReLU` →
# `Dense(1, activation="sigmoid")`.
#
# **Two classes, one neuron.** With only cat (0) and dog (1), one output neuron is enough. The
# sigmoid σ(z) = 1 / (1 + e^(−z)) squeezes any number into (0, 1); the output p is "the probability
# that this is a dog", and p ≥ 0.5 means dog. The loss is binary cross-entropy,
# −[y·log p + (1 − y)·log(1 − p)]: for a dog (y = 1), p = 0.9 costs about 0.105 but p = 0.1 costs
# about 2.303, so confident mistakes are punished hard.
#
# **What does it cost?** On the 100-pixel head (table above): BatchNormalization on 6,400 values
# 25,600 (12,800 trainable), the first `Dense(100)` 6,400·100 + 100 = 640,100, the second
# BatchNormalization 400, the second `Dense(100)` 10,100 and `Dense(1)` 101, in all **676,301**
# parameters: more than 23 times the whole head (29,152), about 95% of them in the first Dense.
#
# **Why it overfits.** Every neuron of the first Dense has a separate weight for every position of
# every feature map. For roughly 18,600 training photos (80% of 23,262), six hundred and forty
# thousand weights are a lot of freedom: the model can memorise details such as "this pattern was
# in exactly this corner of this photo", which do not help on new photos. That is what the book
# observed: after 10 epochs the training accuracy was about 99% while the validation accuracy
# stayed mostly between 80% and 85% and the validation loss climbed from 0.43 after the first epoch
# to 0.85 at the end, a clear sign of overfitting.
#
# **Dropout.** At every training step `Dropout(rate)` sets each neuron's output to 0 with
# probability `rate` (half of them on average for 0.5) and multiplies the survivors by
# 1 / (1 − rate) so the expected total stays the same. Since nobody knows which neurons will be
# dropped, no neuron can lean on a particular other one; each must learn something useful by
# itself, and memorising becomes harder. It is like training many "thinned" networks at once and
# averaging them. Nothing is dropped at prediction or evaluation time, and dropout has no
# parameters, so the count stays the same. When `dropout_rate` is given (not `None`), put
# `Dropout(dropout_rate)` right after the first ReLU. In the book a rate of 0.5 raised the
# validation accuracy a little (best about 87%), but did not remove the overfitting.
#
# **The classifier has no input of its own.** Do not give it a `keras.Input`: it never runs alone
# but sits behind the head, `keras.Sequential([head, classifier])`. When they are joined, Keras
# reads the head's output shape, fixes the Flatten length (6,400) and creates the weights, so the
# parameters can only be counted after stacking. Behind a 48-pixel head the same classifier would
# flatten 4 × 4 × 64 = 1,024 values and its first Dense would have 102,500 parameters: change the
# picture size and the weight shapes change too. Do not compile it here; the joined model is
# compiled.

# %%
def build_standard_classifier(dropout_rate=None):
    """Flatten + Dense ক্লাসিফায়ার (ইনপুট আর কম্পাইল ছাড়া); dropout_rate দিলে একটা Dropout যোগ হয়।

    Return a ``keras.Sequential`` (its name, e.g. ``"standard_classifier"``, is not graded) with no
    input of its own
    and not compiled, made of ``Flatten()``, ``BatchNormalization()``, ``Dense(100)``, ``ReLU()``,
    then ``Dropout(dropout_rate)`` only when ``dropout_rate`` is not ``None``, then
    ``BatchNormalization()``, ``Dense(100)``, ``ReLU()`` and ``Dense(1, activation="sigmoid")``.
    It is meant to be stacked on a head, e.g. ``keras.Sequential([build_head(100), classifier])``;
    on the 100-pixel head the classifier then has 676,301 parameters (with or without dropout)
    and the stacked model outputs ``(None, 1)`` probabilities.
    """
    raise NotImplementedError("এখানে আপনার কোড লিখুন / Write your code here")


# %% [markdown]
# ## ধাপ ৪: গ্লোবাল অ্যাভারেজ পুলিং (GAP)
#
# `GlobalAveragePooling2D` প্রতিটা ফিচার ম্যাপের সবগুলো মানের গড় নেয়। হেডের আউটপুটে ৬৪টা ম্যাপ,
# প্রতিটায় ১০ × ১০ = ১০০টা সংখ্যা; প্রতিটা ম্যাপ থেকে একটা গড়, তাই `(None, 10, 10, 64)` →
# `(None, 64)`: প্রতি ফিচার ম্যাপে একটা সংখ্যা, মোট ৬৪টা। কোনো ম্যাপ যদি ধরো "খাড়া কান" খোঁজে, তার
# গড় বলে দেয় ছবির কোথাও সেটা কতটা জোরালোভাবে পাওয়া গেছে — কোথায়, তা নয়। এই লেয়ারের কোনো
# প্যারামিটার নেই। এরপর একটা `Dense(1, activation="sigmoid")`: ৬৪ × ১ + ১ = **৬৫** প্যারামিটার।
#
# কী লাভ হলো?
#
# * **অনেক কম প্যারামিটার:** শেষ অংশে ৬,৭৬,৩০১-এর বদলে মাত্র ৬৫টা — দশ হাজার গুণেরও বেশি কম।
#   ট্রেনিং দ্রুত, মেমরিও কম লাগে। পুরো GAP মডেলে ২৯,১৫২ + ৬৫ = ২৯,২১৭ প্যারামিটার।
# * **ওভারফিটিং কম:** মুখস্থ করার মতো ওজন প্রায় নেই। প্রতিটা ফিচার ম্যাপকেই নিজে কোনো একটা শ্রেণির
#   পক্ষে বা বিপক্ষে প্রমাণ (একরকম "কনফিডেন্স ম্যাপ") হয়ে উঠতে হয়। বইয়ে GAP মডেলের ৭ ইপক পরে ট্রেনিং
#   অ্যাকুরেসি প্রায় ৮৯% আর ভ্যালিডেশন অ্যাকুরেসি প্রায় ৮৪% — দুটোর ফাঁক স্ট্যান্ডার্ড মডেলের চেয়ে
#   অনেক কম।
# * **অবস্থান বদলালেও টলে না:** গড় নেওয়ায় বিড়ালটা ছবির বাঁয়ে থাকুক বা ডানে, ফল প্রায় একই।
# * **যেকোনো মাপের ছবিতে চলে:** ফিচার ম্যাপ ১০×১০ হোক বা ২×২, গড় নেওয়ার পর সবসময় ৬৪টা সংখ্যা, তাই
#   একই ৬৫টা ওজন কাজ করে। Flatten-এর বেলায় ছবির মাপ বদলালে ওজনের মাপও বদলাতে হতো।
#
# বড় মডেলেও এই পরিবর্তন দেখা যায়: VGG16-এর শেষে Flatten (২৫,০৮৮টা সংখ্যা) আর ৪০৯৬ নিউরনের দুটো
# Dense — শুধু প্রথমটাতেই ১০,২৭,৬৪,৫৪৪ প্যারামিটার, পুরো মডেলের (১৩,৮৩,৫৭,৫৪৪) প্রায় তিন-চতুর্থাংশ;
# অথচ ResNet-50-এর আউটপুট লেয়ারের ঠিক আগে একটা `GlobalAveragePooling2D` ("avg_pool") বসানো।
#
# `add_gap(head)` একটা নতুন মডেল বানাবে: `keras.Sequential([head, GlobalAveragePooling2D(),
# Dense(1, activation="sigmoid")])`। হেডটা কপি হয় না, একই লেয়ার নতুন মডেলের অংশ হয়, তাই এই মডেল
# ট্রেন করলে হেডের ওজনও শেখে। কম্পাইল করো `keras.optimizers.Adam()`, লস `"binary_crossentropy"`
# আর `metrics=["accuracy"]` দিয়ে। শেষ লেয়ারে সিগময়েড আছে বলে আউটপুট সম্ভাবনা, আর
# `"binary_crossentropy"` ঠিক সম্ভাবনাই আশা করে। (সিগময়েড না দিলে লসকে
# `keras.losses.BinaryCrossentropy(from_logits=True)` বলতে হতো; এখানে সিগময়েড রাখো।)
#
# **English:** `GlobalAveragePooling2D` averages all values of each feature map. The head outputs
# 64 maps of 10 × 10 = 100 numbers, each map becomes its average, so `(None, 10, 10, 64)` →
# `(None, 64)`: one number per feature map, 64 in all. If a map looks for, say, "pointed ears",
# its average says how strongly they were found anywhere in the picture, not where. The layer has
# no parameters; the `Dense(1, activation="sigmoid")` after it has 64 × 1 + 1 = **65**. What do we
# gain? **Far fewer parameters**: 65 instead of 676,301 in the ending, more than ten thousand times
# fewer, so training is faster and lighter (the whole GAP model has 29,152 + 65 = 29,217).
# **Less overfitting**: there is almost nothing to memorise with, and each feature map itself has
# to become evidence for or against a class (a kind of "confidence map"); in the book the GAP model
# reached about 89% training and 84% validation accuracy after 7 epochs, a much smaller gap than
# the standard model's. **Robust to position**: averaging gives about the same answer whether the
# cat sits left or right. **Any picture size**: whether the maps are 10×10 or 2×2, the average is
# always 64 numbers, so the same 65 weights fit, whereas with Flatten the weight shapes would have
# to change. Big models show the same shift: VGG16 ends with Flatten (25,088 values) and two Dense
# layers of 4096 neurons, the first alone holding 102,764,544 of its 138,357,544 parameters, while
# ResNet-50 has a `GlobalAveragePooling2D` ("avg_pool") right before its output layer.
#
# `add_gap(head)` builds a new model `keras.Sequential([head, GlobalAveragePooling2D(),
# Dense(1, activation="sigmoid")])`. The head is not copied: the same layer becomes part of the new
# model, so training it also trains the head. Compile with `keras.optimizers.Adam()`, the loss
# `"binary_crossentropy"` and `metrics=["accuracy"]`. The sigmoid makes the output a probability,
# which is exactly what `"binary_crossentropy"` expects. (Without the sigmoid the loss would have to
# be `keras.losses.BinaryCrossentropy(from_logits=True)`; keep the sigmoid here.)

# %%
def add_gap(head):
    """হেডের পরে GlobalAveragePooling2D আর Dense(1, sigmoid) বসিয়ে কম্পাইল করা মডেল ফেরত দেয়।

    Return a new ``keras.Sequential`` made of ``head`` itself (the same object, not a copy),
    ``GlobalAveragePooling2D()`` and ``Dense(1, activation="sigmoid")``, compiled with the Adam
    optimizer, loss ``"binary_crossentropy"`` and metrics ``["accuracy"]``. It adds exactly 65
    parameters to the head (64 weights and 1 bias) and outputs ``(None, 1)`` probabilities for
    a head of any image size.
    """
    raise NotImplementedError("এখানে আপনার কোড লিখুন / Write your code here")


# %% [markdown]
# ## সব একসাথে চালানো
#
# নিচের সেলটা আসল `cats_vs_dogs` লোড করার চেষ্টা করে: আগে ডিস্কে রাখা কপি খোঁজে, না থাকলে
# ইন্টারনেট থেকে নামায় (প্রায় ৮০০ MB)। ইন্টারনেট না থাকলে সাথে সাথে কিটের কৃত্রিম ডেটা নেয়: উষ্ণ
# রঙের "বিড়াল" (০) আর শীতল রঙের "কুকুর" (১), ৬৪×৬৪ মাপে, যাতে CPU-তে এক মিনিটের মতো সময়ে শেষ হয়।
# তারপর ছবিগুলো `pre_process_image` দিয়ে তৈরি করে ব্যাচে ভাগ করে, স্ট্যান্ডার্ড মডেল আর GAP মডেলের
# সারাংশ ও প্যারামিটারের তুলনা দেখায়, GAP মডেল ট্রেন করে আর টেস্ট অ্যাকুরেসি ছাপে। আসল ডেটায়
# (১০০×১০০, ৩ ইপক) প্রতিটা ইপক CPU-তে কয়েক মিনিট নিতে পারে। কৃত্রিম ডেটা সহজ (রংই উত্তর বলে দেয়),
# তাই ট্রেনিং অ্যাকুরেসি প্রথম ইপকেই উঁচুতে ওঠে; কিন্তু ভ্যালিডেশন আর টেস্টে মডেল ব্যাচের নিজস্ব গড়
# নয়, BatchNormalization-এর চলমান গড় আর ভ্যারিয়েন্স ব্যবহার করে, আর সেগুলো প্রতি ধাপে মাত্র ১% করে
# এগোয় (momentum = ০.৯৯)। তাই কৃত্রিম ডেটায় ছোট ব্যাচে (১৬) ৫ ইপক চালানো হয়, যাতে কয়েকশো ধাপে
# সেগুলো বসে যায়; শুরুর দিকে ভ্যালিডেশন লস বেশি থাকে আর ইপকে ইপকে কমে।
#
# **English:** The cell below tries to load the real `cats_vs_dogs`: first a copy already on disk,
# otherwise a download (about 800 MB). Without internet it switches at once to the kit's synthetic
# data, warm-coloured "cats" (0) and cool-coloured "dogs" (1) at 64×64, so it finishes in about a
# minute on a CPU. It prepares and batches the images with `pre_process_image`, shows the
# summaries and parameter counts of the standard and the GAP model, trains the GAP model and prints
# its test accuracy. On the real data (100×100, 3 epochs) each epoch can take a few minutes on a
# CPU. The synthetic data is easy (the colour gives the answer away), so the training accuracy is
# high after the first epoch; but validation and testing use BatchNormalization's moving mean and
# variance instead of the batch's own statistics, and those move only 1% per step
# (momentum = 0.99). So on the synthetic data the demo runs 5 epochs of small batches (16), a few
# hundred steps, to let them settle; the validation loss starts high and falls from epoch to epoch.

# %%
# ফাইল বা নোটবুক নিজে চালালে ডেমো চলে, nbgrader গ্রেড করার সময় নয়
# The demo runs when you run the file or notebook yourself, not while nbgrader grades it.
if __name__ == "__main__" and not os.environ.get("NBGRADER_EXECUTION"):
    import socket

    SPLITS = ["train[:80%]", "train[80%:90%]", "train[90%:]"]
    train_dataset = validation_dataset = test_dataset = None
    image_size, batch_size, epochs = IMAGE_SIZE, 64, 3
    try:
        import tensorflow_datasets as tfds

        try:
            # আগে থেকে ডিস্কে থাকলে সেটাই / a copy that is already on disk
            loaded = tfds.load("cats_vs_dogs", split=SPLITS, as_supervised=True, download=False)
        except Exception:
            # ইন্টারনেট না থাকলে এখানেই থামি, লম্বা সময় ধরে আবার চেষ্টা না করে
            # stop here when offline instead of retrying the download for minutes
            socket.create_connection(("download.microsoft.com", 443), timeout=5).close()
            loaded = tfds.load("cats_vs_dogs", split=SPLITS, as_supervised=True)
        train_dataset, validation_dataset, test_dataset = loaded
        print("আসল cats_vs_dogs লোড হয়েছে / Loaded the real cats_vs_dogs.")
    except Exception as error:  # no tensorflow_datasets, no local copy, or no internet
        print(f"tensorflow_datasets ব্যবহার করা গেল না / could not use tensorflow_datasets: {error}")
        try:
            from autograder.student.datasets import synthetic_two_class

            def as_dataset(split):
                return tf.data.Dataset.from_tensor_slices((split.images, split.labels))

            # ছোট ছবি, ছোট ব্যাচ, বেশি ধাপ / small pictures, small batches, more steps
            image_size, batch_size, epochs = 64, 16, 5
            train_dataset = as_dataset(synthetic_two_class(1000, image_size, seed=0))
            validation_dataset = as_dataset(synthetic_two_class(200, image_size, seed=1))
            test_dataset = as_dataset(synthetic_two_class(200, image_size, seed=2))
            print("কৃত্রিম ডেটা ব্যবহার করছি / Using the synthetic data set instead.")
        except ImportError:
            print("কোনো ডেটা পাওয়া যায়নি; ডেমো বাদ / No data available; skipping the demo.")

    if train_dataset is not None:
        keras.utils.set_random_seed(0)  # প্রতিবার একই ফল / the same result on every run

        def prepare(image, label):
            return pre_process_image(image, label, image_size=image_size)

        train_batches = train_dataset.shuffle(1000).map(prepare).batch(batch_size)
        validation_batches = validation_dataset.map(prepare).batch(batch_size)
        test_batches = test_dataset.map(prepare).batch(batch_size)

        # বইয়ের মাপে (১০০ পিক্সেল) দুই রকম শেষ অংশের খরচ / the two endings at the book's 100 pixels
        standard_100 = keras.Sequential([build_head(IMAGE_SIZE), build_standard_classifier()])
        gap_head_100 = build_head(IMAGE_SIZE)
        gap_100 = add_gap(gap_head_100)
        print(f"১০০ পিক্সেল / 100 pixels: Flatten + Dense ending "
              f"{standard_100.layers[-1].count_params():,} parameters, GAP ending "
              f"{gap_100.count_params() - gap_head_100.count_params():,} parameters")

        # ট্রেনিংয়ের মাপে দুটো মডেল, আলাদা আলাদা হেড নিয়ে / both models at the training size, separate heads
        standard_model = keras.Sequential(
            [build_head(image_size), build_standard_classifier(dropout_rate=0.5)], name="standard_model"
        )
        standard_model.summary()
        head = build_head(image_size)
        gap_model = add_gap(head)
        gap_model.summary()

        gap_model.fit(train_batches, validation_data=validation_batches, epochs=epochs, verbose=2)
        test_loss, test_accuracy = gap_model.evaluate(test_batches, verbose=0)
        print(f"GAP মডেলের টেস্ট অ্যাকুরেসি / GAP model test accuracy: {test_accuracy:.4f}")

        # প্রথম কয়েকটা টেস্ট ছবির অনুমান: p ≥ 0.5 মানে কুকুর / first test predictions: p >= 0.5 means dog
        images, labels = next(iter(test_batches))
        probabilities = gap_model.predict(images, verbose=0)[:8, 0]
        print("কুকুরের সম্ভাবনা / P(dog):", np.round(probabilities, 2),
              " আসল / true:", labels.numpy()[:8])
