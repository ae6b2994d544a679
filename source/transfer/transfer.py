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
# # ট্রান্সফার লার্নিং: ইমেজনেটে শেখা VGG16 দিয়ে বিড়াল আর কুকুর
#
# একটা বড় CNN-কে একদম শূন্য থেকে শেখাতে লাখ লাখ ছবি আর অনেক দিনের হিসাব লাগে। কিন্তু ইমেজনেটে
# (প্রায় ১৪ লাখ ছবি, ১,০০০টা ক্লাস) আগে থেকে শেখানো একটা নেটওয়ার্ক ইতিমধ্যে ছবির সাধারণ "ভাষা" জানে:
# প্রথম দিকের লেয়ারগুলো কিনারা, রং আর টেক্সচার চেনে, পরের লেয়ারগুলো চোখ, কান, লোমের মতো জটিল অংশ।
# নতুন কাজ (বিড়াল না কুকুর?) আলাদা হলেও এই ফিচারগুলো সেখানেও কাজে লাগে। তাই আমরা নেটওয়ার্কের
# **কনভলিউশন বেস** (ফিচার বের করার অংশ) রেখে দিয়ে শুধু শেষের **ক্লাসিফায়ার হেড** বদলে ফেলি। অল্প ডেটা
# আর অল্প সময়েও এতে ভালো ফল আসে — এটাই ট্রান্সফার লার্নিং।
#
# এখানে আমরা অক্সফোর্ডের ভিজ্যুয়াল জিওমেট্রি গ্রুপের **VGG16** ব্যবহার করব, দুই ধাপে:
#
# * **ফিচার এক্সট্র্যাকশন** — পুরো VGG16 জমিয়ে (freeze) রেখে শুধু নতুন হেড শেখানো;
# * **ফাইন-টিউনিং** — তারপর VGG16-এর উপরের দুটো ব্লক খুলে দিয়ে খুব ছোট লার্নিং রেটে একসাথে শেখানো।
#
# তোমাকে লিখতে হবে:
#
# 1. `load_vgg_base` — টপ (ক্লাসিফায়ার) ছাড়া VGG16 লোড করা;
# 2. `freeze_vgg` — বেসের সব ওজন জমিয়ে দেওয়া;
# 3. `build_transfer_model` — বেসের উপর নতুন হেড বসিয়ে কম্পাইল করা;
# 4. `unfreeze_from` — একটা নির্দিষ্ট লেয়ার থেকে শেষ পর্যন্ত আবার শেখার যোগ্য করা;
# 5. `compile_for_fine_tuning` — ফাইন-টিউনিংয়ের জন্য ছোট লার্নিং রেটে আবার কম্পাইল করা।
#
# যেখানে `raise NotImplementedError(...)` আছে, সেখানে তোমার কোড লেখো; নাম, প্যারামিটার আর
# ডকস্ট্রিংয়ের নিয়ম বদলাবে না। নিজে যাচাই করতে: `pytest exercises/` (এই পরীক্ষাগুলো ইন্টারনেট ছাড়াই
# চলে: এরা `weights=None` দিয়ে ছোট ছবির মাপে VGG16 বানায়, ইমেজনেটের ওজন নামায় না)।
#
# **English:** Training a large CNN from scratch takes millions of images and days of computing.
# A network already trained on ImageNet (about 1.4 million images in 1,000 classes), however,
# already speaks the general "language" of pictures: its early layers detect edges, colours and
# textures, its later layers more complex parts such as eyes, ears and fur. Those features stay
# useful for a different task (cat or dog?), so we keep the network's **convolutional base** (the
# feature extractor) and replace only the **classifier head** on top. This gives good results with
# little data and little time; that is transfer learning. We use **VGG16** from Oxford's Visual
# Geometry Group in two stages: **feature extraction** (the whole VGG16 frozen, only the new head
# learns) and **fine-tuning** (the top two VGG16 blocks unfrozen and trained together with the head
# at a very small learning rate). You will write `load_vgg_base` (VGG16 without its top),
# `freeze_vgg` (freeze every weight of the base), `build_transfer_model` (put a new head on the
# base and compile), `unfreeze_from` (make everything from a given layer on trainable again) and
# `compile_for_fine_tuning` (compile again with a small learning rate). Replace each
# `raise NotImplementedError(...)` with your code and keep the names, parameters and docstring
# rules. Check yourself with `pytest exercises/`; the checks run offline, building VGG16 with
# `weights=None` at small image sizes instead of downloading the ImageNet weights.

# %%
import os

import numpy as np
import tensorflow as tf
import keras
from keras import layers

IMAGE_SIZE = 160

# %% [markdown]
# ## ধাপ ১: টপ ছাড়া VGG16 — কনভলিউশন বেস
#
# পুরো VGG16-এ ১৩টা কনভলিউশন লেয়ার (সবই ৩×৩ ফিল্টার, `padding="same"`, ReLU) পাঁচটা **ব্লকে** ভাগ করা;
# প্রতিটা ব্লকের শেষে একটা ২×২ ম্যাক্স-পুলিং উচ্চতা-প্রস্থ অর্ধেক করে। তার উপরে থাকে "টপ": `Flatten`,
# ৪,০৯৬ ইউনিটের দুটো `Dense` আর ইমেজনেটের ১,০০০ ক্লাসের জন্য একটা `Dense(1000)`। ওই টপটা ইমেজনেটের
# ক্লাসগুলোর জন্যই বানানো, আমাদের কাজে লাগবে না, তাই `include_top=False` দিয়ে সেটা বাদ দিই — থাকে শুধু
# কনভলিউশন বেস। টপ না থাকায় ইনপুটের মাপ আমরা নিজেরাই ঠিক করতে পারি: `input_shape=(160, 160, 3)`।
#
# লেয়ারগুলোর নাম ব্লক ধরে: `block1_conv1`, `block1_conv2`, `block1_pool`, … , `block4_conv1`, … ,
# `block5_pool`। একটা কনভলিউশন লেয়ারের প্যারামিটার = ৩ × ৩ × (ইনপুট চ্যানেল) × (ফিল্টার) + ফিল্টার
# (প্রতিটা ফিল্টারের একটা বায়াস)। যেমন `block1_conv1`: ৩ × ৩ × ৩ × ৬৪ + ৬৪ = ১,৭৯২। ১৬০×১৬০ ছবির জন্য
# পুরো হিসাব নিচের টেবিলে; পাঁচবার অর্ধেক হয়ে ১৬০ → ৮০ → ৪০ → ২০ → ১০ → ৫, তাই বেসের আউটপুট
# `(None, 5, 5, 512)`। মোট প্যারামিটার **১,৪৭,১৪,৬৮৮**। (৬৪×৬৪ ছবিতে আউটপুট হতো `(None, 2, 2, 512)`,
# কিন্তু প্যারামিটার একই — কনভলিউশনের ওজন ছবির মাপের উপর নির্ভর করে না।)
#
# | block | layers (filters) | output for 160×160 | parameters per conv layer | block total |
# | --- | --- | --- | --- | --- |
# | 1 | `block1_conv1`, `block1_conv2` (64), `block1_pool` | 160×160×64 → 80×80×64 | 1,792; 36,928 | 38,720 |
# | 2 | `block2_conv1`, `block2_conv2` (128), `block2_pool` | 80×80×128 → 40×40×128 | 73,856; 147,584 | 221,440 |
# | 3 | `block3_conv1..3` (256), `block3_pool` | 40×40×256 → 20×20×256 | 295,168; 590,080; 590,080 | 1,475,328 |
# | 4 | `block4_conv1..3` (512), `block4_pool` | 20×20×512 → 10×10×512 | 1,180,160; 2,359,808; 2,359,808 | 5,899,776 |
# | 5 | `block5_conv1..3` (512), `block5_pool` | 10×10×512 → 5×5×512 | 2,359,808 × 3 | 7,079,424 |
# | | | | **total** | **14,714,688** |
#
# `weights="imagenet"` দিলে Keras ইমেজনেটে শেখা ওজন (প্রায় ৫৮ MB) নামিয়ে আনে; `weights=None` দিলে
# ওজন র‍্যান্ডম থাকে, কিছু নামায় না — পরীক্ষাগুলো তাই করে। `weights` আর্গুমেন্টটা সোজা VGG16-কে দিয়ে দাও।
#
# **English:** VGG16 has 13 convolutional layers (all 3×3 filters with `padding="same"` and
# ReLU) grouped into five **blocks**; each block ends with a 2×2 max-pooling that halves height and
# width. On top sits the "top": `Flatten`, two `Dense` layers of 4,096 units and a `Dense(1000)`
# for the 1,000 ImageNet classes. That top is made for ImageNet's classes and is useless to us, so
# `include_top=False` drops it and keeps only the convolutional base; without the top we may also
# choose the input size ourselves: `input_shape=(160, 160, 3)`. Layer names follow the blocks:
# `block1_conv1`, `block1_conv2`, `block1_pool`, …, `block4_conv1`, …, `block5_pool`. A
# convolutional layer has 3 × 3 × (input channels) × (filters) + filters parameters (one bias per
# filter), e.g. `block1_conv1`: 3·3·3·64 + 64 = 1,792; the table above has them all. Halving five
# times takes 160 → 80 → 40 → 20 → 10 → 5, so the base outputs `(None, 5, 5, 512)`, and it has
# **14,714,688** parameters in total. (A 64×64 input would give `(None, 2, 2, 512)` with the same
# number of parameters: convolution weights do not depend on the image size.)
# `weights="imagenet"` downloads the ImageNet weights (about 58 MB); `weights=None` leaves them
# random and downloads nothing, which is what the checks use. Pass the `weights` argument straight
# on to VGG16.

# %%
def load_vgg_base(image_size=IMAGE_SIZE, weights="imagenet"):
    """টপ ছাড়া VGG16 (শুধু কনভলিউশন বেস) ফেরত দেয়; ইনপুট (image_size, image_size, 3)।

    Return ``keras.applications.VGG16`` built with ``include_top=False`` (no Flatten or Dense
    layers), the given ``weights`` (``"imagenet"`` or ``None``) and
    ``input_shape=(image_size, image_size, 3)``. It keeps the standard layer names
    (``block1_conv1`` … ``block5_pool``) and has 14,714,688 parameters for every image size; for
    ``image_size=160`` its output shape is ``(None, 5, 5, 512)``, for 64 it is ``(None, 2, 2, 512)``.
    """
    ### BEGIN SOLUTION
    return keras.applications.VGG16(
        include_top=False, weights=weights, input_shape=(image_size, image_size, 3)
    )
    ### END SOLUTION


# %% [markdown]
# ## ধাপ ২: বেস জমিয়ে দেওয়া (freeze)
#
# নতুন হেডের `Dense` লেয়ারের ওজন শুরুতে র‍্যান্ডম, তাই প্রথম দিকে তার ভুল অনেক বড়, আর সেই বড় ভুল থেকে
# আসা গ্রেডিয়েন্টও বড় আর এলোমেলো। বেস যদি তখন শেখার যোগ্য থাকে, এই এলোমেলো গ্রেডিয়েন্ট পিছনে গিয়ে
# VGG16-এর যত্ন করে শেখা ফিল্টারগুলো নষ্ট করে দেবে — ইমেজনেট থেকে পাওয়া জ্ঞান হারিয়ে যাবে। তাই প্রথমে
# পুরো বেস জমিয়ে দিই: তখন ১,৪৭,১৪,৬৮৮টা ওজনের কোনোটাই বদলায় না, শেখে শুধু হেডের **৫১৩টা** প্যারামিটার।
# হিসাবও অনেক সস্তা হয়, কারণ জমানো বেসের ভেতর দিয়ে গ্রেডিয়েন্ট হিসাব করতে হয় না।
#
# Keras 3-এ একটা মডেলের `trainable = False` করলে তার ভেতরের **সব** লেয়ারও জমে যায়। জমানোর পর
# `vgg.trainable_weights` একটা খালি তালিকা, আর ১,৪৭,১৪,৬৮৮টা প্যারামিটারই non-trainable। নতুন মডেল
# বানিয়ে নয়, একই `vgg` অবজেক্টটা বদলে সেটাই ফেরত দাও।
#
# **English:** The new head's `Dense` layer starts with random weights, so at first its errors
# are large and the gradients they produce are large and noisy. If the base were trainable at that
# point, those noisy gradients would flow back into VGG16 and wreck its carefully learned filters,
# throwing away what ImageNet taught it. So we freeze the whole base first: none of its 14,714,688
# weights change and only the head's **513** parameters learn. Training also gets much cheaper,
# because no gradients have to be computed inside a frozen base. In Keras 3, setting
# `trainable = False` on a model freezes **all** of its layers as well; afterwards
# `vgg.trainable_weights` is an empty list and all 14,714,688 parameters are non-trainable. Change
# the very `vgg` object you receive and return it (do not build a new model).

# %%
def freeze_vgg(vgg):
    """vgg-এর সব ওজন জমিয়ে দিয়ে (trainable নয়) সেই একই অবজেক্টটা ফেরত দেয়।

    Freeze the given Keras model in place so that it has no trainable weights at all
    (``vgg.trainable_weights == []``; all 14,714,688 VGG16 parameters become non-trainable) and
    return the same object, not a copy.
    """
    ### BEGIN SOLUTION
    vgg.trainable = False
    return vgg
    ### END SOLUTION


# %% [markdown]
# ## ধাপ ৩: নতুন হেড — GlobalAveragePooling2D আর Dense(1), আউটপুট একটা লজিট
#
# * **`GlobalAveragePooling2D`** — বেসের `(5, 5, 512)` আউটপুটের প্রতিটা চ্যানেলের ৫×৫ = ২৫টা মানের গড়
#   নিয়ে প্রতি ছবিতে ৫১২টা সংখ্যা দেয়: `(None, 512)`। কোনো প্যারামিটার নেই। `Flatten` দিলে ১২,৮০০টা
#   সংখ্যা হতো আর পরের `Dense`-এর ওজনও ২৫ গুণ বেশি লাগত।
# * **`Dense(1)`, কোনো activation ছাড়া** — ৫১২ × ১ + ১ = **৫১৩** প্যারামিটার। এর আউটপুট একটা যেকোনো
#   বাস্তব সংখ্যা, যাকে বলে **লজিট** (logit): ধনাত্মক মানে "ক্লাস ১" (কুকুর), ঋণাত্মক মানে "ক্লাস ০" (বিড়াল);
#   সম্ভাবনা চাইলে sigmoid(লজিট), আর লজিট > ০ মানেই সম্ভাবনা > ০.৫।
#
# `keras.Sequential([vgg, GlobalAveragePooling2D(), Dense(1)])` — পুরো মডেলে ১,৪৭,১৫,২০১টা প্যারামিটার;
# বেস জমানো থাকলে trainable ৫১৩, non-trainable ১,৪৭,১৪,৬৮৮।
#
# **লস কেন `BinaryCrossentropy(from_logits=True)`?** লস ফাংশনকে জানাতে হয় মডেলের আউটপুট কী ধরনের।
# `from_logits=True` বললে লস নিজেই ভেতরে sigmoid বসিয়ে সংখ্যাগতভাবে স্থির একটা সূত্রে হিসাব করে।
# বইয়ে একটা ভুল আছে: সেখানে activation ছাড়া `Dense(1)`-এর সাথে সাধারণ `'binary_crossentropy'` (মানে
# `from_logits=False`) দেওয়া হয়েছে। তখন লস ধরে নেয় আউটপুটগুলো ০ থেকে ১-এর মধ্যের সম্ভাবনা, আর কাঁচা
# লজিটগুলোকে [১০⁻⁷, ১ − ১০⁻⁷]-এ কেটে (clip) ফেলে: −৩ হয়ে যায় ১০⁻⁷, ৫ হয়ে যায় প্রায় ১। কাটা অংশে
# গ্রেডিয়েন্ট শূন্য, তাই ওই ছবিগুলো থেকে মডেল কিছুই শেখে না, আর ভুল দিকে থাকলে লস ~১৬-এর মতো বিশাল
# মান পায় — ট্রেনিং খারাপ আর অস্থির হয় (বইয়ের লগে লস হঠাৎ লাফিয়ে ওঠা খেয়াল করো)। উল্টো ভুলটাও করা যায়:
# `Dense(1, activation="sigmoid")`-এর সাথে `from_logits=True` দিলে sigmoid দুবার বসে; প্রথম sigmoid-এর
# আউটপুট ০–১, তার উপর আবার sigmoid দিলে সম্ভাবনা সবসময় ০.৫ থেকে ০.৭৩-এর মধ্যে আটকে থাকে, লস কখনো ছোট
# হয় না। নিয়ম: **লিনিয়ার আউটপুট ↔ `from_logits=True`**, **sigmoid আউটপুট ↔ `from_logits=False`**।
# আমরা প্রথমটা নিচ্ছি।
#
# কম্পাইল করো `keras.optimizers.Adam()`, ওই লস আর `metrics=["accuracy"]` দিয়ে। (খেয়াল: Keras-এর
# `"accuracy"` এক-আউটপুটের মডেলে ০.৫-কে সীমা ধরে, লজিটের জন্য ঠিক সীমা ০; তাই নিখুঁত হিসাবের জন্য ডেমোতে
# আমরা নিজেরা `লজিট > ০` দিয়ে অ্যাকুরেসি মাপব।)
#
# **English:** `GlobalAveragePooling2D` averages the 5×5 = 25 values of each of the 512 channels
# of the base's `(5, 5, 512)` output, giving 512 numbers per image, `(None, 512)`, with no
# parameters (`Flatten` would give 12,800 numbers and a 25 times larger `Dense` layer).
# `Dense(1)` **without an activation** has 512 × 1 + 1 = **513** parameters and outputs any real
# number, a **logit**: positive means class 1 (dog), negative class 0 (cat); sigmoid(logit) is the
# probability, and logit > 0 is the same as probability > 0.5. The whole
# `keras.Sequential([vgg, GlobalAveragePooling2D(), Dense(1)])` has 14,715,201 parameters; with the
# base frozen, 513 are trainable and 14,714,688 are not.
#
# **Why `BinaryCrossentropy(from_logits=True)`?** The loss must know what kind of numbers the model
# outputs. With `from_logits=True` it applies the sigmoid itself, inside a numerically stable
# formula. The book gets this wrong: it pairs the linear `Dense(1)` with the plain
# `'binary_crossentropy'` (that is, `from_logits=False`). That loss takes the outputs for
# probabilities in [0, 1] and clips the raw logits to [1e-7, 1 − 1e-7]: −3 becomes 1e-7 and 5
# becomes almost 1. The gradient is zero wherever clipping happened, so those images teach the
# model nothing, and on the wrong side they cost a huge loss of about 16, so training is poor and
# erratic (note the sudden jumps of the loss in the book's log). The opposite mistake is
# `Dense(1, activation="sigmoid")` with `from_logits=True`: the sigmoid is applied twice, the
# second one to a value already in [0, 1], so the predicted probability is stuck between 0.5 and
# 0.73 and the loss can never get small. Rule: **linear output ↔ `from_logits=True`**, **sigmoid
# output ↔ `from_logits=False`**; we use the first pair. Compile with `keras.optimizers.Adam()`,
# that loss and `metrics=["accuracy"]`. (Keras's `"accuracy"` for a single output uses 0.5 as the
# threshold while the right threshold for logits is 0, so the demo measures the exact accuracy
# itself with `logit > 0`.)

# %%
def build_transfer_model(vgg):
    """vgg → GlobalAveragePooling2D → Dense(1) (লজিট, activation নেই); Adam আর from_logits লস দিয়ে কম্পাইল।

    Return ``keras.Sequential([vgg, layers.GlobalAveragePooling2D(), layers.Dense(1)])``: the given
    base (the same object, not a copy), global average pooling and a single output unit with no
    activation, so the model outputs a logit of shape ``(batch, 1)``. Compile it with
    ``keras.optimizers.Adam()``, ``keras.losses.BinaryCrossentropy(from_logits=True)`` and
    ``metrics=["accuracy"]``. With a frozen VGG16 base the model has 513 trainable parameters
    (the head) and 14,714,688 non-trainable ones.
    """
    ### BEGIN SOLUTION
    model = keras.Sequential([vgg, layers.GlobalAveragePooling2D(), layers.Dense(1)])
    model.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model
    ### END SOLUTION


# %% [markdown]
# ## ধাপ ৪: ফাইন-টিউনিং — `block4_conv1` থেকে উপরের লেয়ারগুলো খুলে দেওয়া
#
# হেড কিছুটা শিখে গেলে তার গ্রেডিয়েন্ট আর এলোমেলো থাকে না; তখন বেসের উপরের অংশও একটু করে আমাদের কাজের
# সাথে মানিয়ে নেওয়া যায়। কোন অংশ? নিচের দিকের ব্লকগুলো (১–৩) কিনারা, রং, সরল টেক্সচারের মতো সাধারণ
# ফিচার চেনে, যা প্রায় সব ছবিতেই একই রকম কাজে লাগে — এদের বদলানোর দরকার নেই, আর অল্প ডেটায় বদলাতে গেলে
# ওভারফিটিংয়ের ঝুঁকিও বাড়ে। উপরের ব্লকগুলো (৪ আর ৫) ইমেজনেটের ক্লাসগুলোর জন্য বিশেষ জটিল ফিচার শিখেছে;
# বিড়াল-কুকুরের জন্য এদেরই একটু সমন্বয় দরকার। তাই `block4_conv1` থেকে শেষ (`block5_pool`) পর্যন্ত সব
# লেয়ার trainable, তার আগের সব লেয়ার জমানো।
#
# হিসাব (উপরের টেবিল থেকে): জমানো থাকে ব্লক ১–৩: ৩৮,৭২০ + ২,২১,৪৪০ + ১৪,৭৫,৩২৮ = **১৭,৩৫,৪৮৮**।
# শেখে ব্লক ৪ আর ৫ আর হেড: ৫৮,৯৯,৭৭৬ + ৭০,৭৯,৪২৪ + ৫১৩ = **১,২৯,৭৯,৭১৩**। দুটো মিলে ১,৪৭,১৫,২০১ —
# পুরো মডেল।
#
# **Keras 3-এর একটা ফাঁদ:** ধাপ ২-এ `vgg.trainable = False` দুটো কাজ করেছিল: ভেতরের সব লেয়ার জমিয়েছিল,
# আর `vgg`-কে নিজেকেও "জমানো" চিহ্ন দিয়েছিল। শুধু উপরের লেয়ারগুলোকে `trainable = True` করলে ওই চিহ্ন থেকে
# যায়: `vgg.trainable` তখনো `False`, `vgg.trainable_weights` তখনো খালি — বেস নিজেকে জমানো বলে, অথচ তার
# লেয়ারগুলো বলে উল্টো; এমন গোলমেলে অবস্থায় কোনটা সত্যি শিখছে বোঝা কঠিন। তাই আগে `vgg.trainable = True`
# করো (এতে বেস আর তার সব লেয়ার খুলে যায়), তারপর `layer_name`-এর আগের লেয়ারগুলো এক এক করে আবার
# `trainable = False` করো। শেষে `vgg.trainable_weights`-এ শুধু ব্লক ৪ আর ৫-এর ওজন থাকবে:
# ৫৮,৯৯,৭৭৬ + ৭০,৭৯,৪২৪ = ১,২৯,৭৯,২০০। `vgg.layers`-এ লেয়ারগুলো ক্রমানুসারে থাকে (প্রথমটা ইনপুট লেয়ার);
# নাম দিয়ে সূচক খুঁজে নাও। এমন নাম যা VGG16-এ নেই, তার জন্য বার্তাসহ `ValueError` তোলো। একই `vgg`
# অবজেক্ট ফেরত দাও।
#
# **English:** Once the head has learned something its gradients are no longer noisy, and the top
# of the base may now adapt a little to our task too. Which part? The lower blocks (1–3) detect
# generic features such as edges, colours and simple textures that are useful for almost any
# picture; there is no need to change them, and changing them with little data invites
# overfitting. The upper blocks (4 and 5) learned complex features specific to ImageNet's classes,
# and those are what needs adjusting for cats and dogs. So every layer from `block4_conv1` up to
# the end (`block5_pool`) becomes trainable and every layer before it stays frozen. From the
# table: blocks 1–3 stay frozen, 38,720 + 221,440 + 1,475,328 = **1,735,488** parameters; blocks 4
# and 5 plus the head learn, 5,899,776 + 7,079,424 + 513 = **12,979,713**; together 14,715,201,
# the whole model.
#
# **A Keras 3 trap:** in step 2, `vgg.trainable = False` did two things: it froze every inner
# layer, and it marked `vgg` itself as frozen. Setting `trainable = True` on the top layers alone
# leaves that mark in place: `vgg.trainable` is still `False` and `vgg.trainable_weights` is still
# empty, so the base claims to be frozen while its layers say the opposite, a muddled state in
# which it is hard to tell what really learns. So first set `vgg.trainable = True` (which
# unfreezes the base and every layer in it), then set `trainable = False` again on each layer
# before `layer_name`. Afterwards `vgg.trainable_weights` holds only blocks 4 and 5:
# 5,899,776 + 7,079,424 = 12,979,200 parameters. `vgg.layers` lists the layers in order (the
# first one is the input layer); find the index by name. Raise a `ValueError` with a message for a
# name VGG16 does not have. Return the same `vgg` object.

# %%
def unfreeze_from(vgg, layer_name="block4_conv1"):
    """layer_name থেকে শেষ পর্যন্ত সব লেয়ার trainable, তার আগের সব জমানো; একই vgg ফেরত দেয়।

    Make ``vgg`` itself trainable again (``vgg.trainable`` is ``True`` afterwards, even if it was
    frozen before), then freeze every layer that comes before the layer called ``layer_name`` in
    ``vgg.layers``; that layer and every later one stay trainable. Work in place and return the
    same object. If ``vgg`` has no layer with that name, raise ``ValueError``. With the default
    ``"block4_conv1"``, ``vgg.trainable_weights`` holds 12,979,200 parameters (blocks 4 and 5) and
    a transfer model built on this base (VGG16 + 513-parameter head) has 12,979,713 trainable and
    1,735,488 non-trainable parameters; with ``"block5_conv1"`` that model has 7,079,937 trainable
    ones.
    """
    ### BEGIN SOLUTION
    names = [layer.name for layer in vgg.layers]
    if layer_name not in names:
        raise ValueError(f"VGG16 has no layer named {layer_name!r}. Received: {layer_name!r}")
    start = names.index(layer_name)
    vgg.trainable = True
    for layer in vgg.layers[:start]:
        layer.trainable = False
    return vgg
    ### END SOLUTION


# %% [markdown]
# ## ধাপ ৫: ছোট লার্নিং রেটে আবার কম্পাইল
#
# খুলে দেওয়া লেয়ারগুলোর ওজন ইতিমধ্যে ভালো; আমরা এদের একটু ঘষামাজা করতে চাই, নতুন করে শেখাতে নয়। বড় ধাপে
# হালনাগাদ করলে ভালো ফিচারগুলো দ্রুত নষ্ট হয়ে যাবে, আর এক কোটির বেশি ওজন মাত্র কয়েক হাজার ছবিতে সহজেই
# ওভারফিট করবে। তাই লার্নিং রেট ১০ গুণ ছোট: বইয়ের মতো `base_learning_rate = 1e-4` হলে
# `RMSprop(learning_rate=base_learning_rate / 10)`, মানে ১e-৫। লস আগের মতোই
# `BinaryCrossentropy(from_logits=True)`, মেট্রিক `["accuracy"]`।
#
# **আবার কম্পাইল কেন জরুরি?** কোন ওজনগুলো শিখবে, সেটা ট্রেনিংয়ের ধাপ তৈরির সময় (কম্পাইল আর প্রথম `fit`-এ)
# ঠিক হয়ে যায়; অপটিমাইজারও তখন ওই ওজনগুলোর জন্যই নিজের অবস্থা বানায়। পরে `trainable` বদলালে তা কার্যকর
# করতে আবার `compile` ডাকতে হয় — নইলে মডেল হয় পুরোনো নিয়মেই শিখবে, নয়তো অপটিমাইজার নতুন ওজনগুলো চিনবে না।
# নতুন কম্পাইলে অপটিমাইজারও নতুন হয়, আর আমরা সেটাই চাই: ছোট লার্নিং রেটের RMSprop। এই ফাংশন মডেলটা
# নিজের জায়গায় কম্পাইল করে সেটাই ফেরত দেয়।
#
# **English:** The unfrozen weights are already good; we want to polish them, not learn them anew.
# Big update steps would quickly destroy the good features, and more than ten million weights
# overfit a few thousand images easily. So the learning rate is 10 times smaller: with the book's
# `base_learning_rate = 1e-4`, `RMSprop(learning_rate=base_learning_rate / 10)`, i.e. 1e-5. The
# loss stays `BinaryCrossentropy(from_logits=True)` and the metric `["accuracy"]`. **Why compile
# again?** Which weights learn is fixed when the training step is built (at `compile` and the
# first `fit`), and the optimizer creates its state for exactly those weights. A later change of
# `trainable` only takes effect after you call `compile` again; otherwise the model keeps learning
# by the old rules or the optimizer does not know the new weights. Compiling again also brings a
# fresh optimizer, which is what we want: RMSprop with the small learning rate. The function
# compiles the model in place and returns it.

# %%
def compile_for_fine_tuning(model, base_learning_rate=1e-4):
    """RMSprop(learning_rate=base_learning_rate / 10), from_logits লস আর accuracy দিয়ে আবার কম্পাইল।

    Compile ``model`` again, in place, with
    ``keras.optimizers.RMSprop(learning_rate=base_learning_rate / 10)``,
    ``keras.losses.BinaryCrossentropy(from_logits=True)`` and ``metrics=["accuracy"]``, and return
    the same model. By default the learning rate is 1e-5; ``base_learning_rate=1e-3`` gives 1e-4.
    """
    ### BEGIN SOLUTION
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=base_learning_rate / 10),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model
    ### END SOLUTION


# %% [markdown]
# ## সব একসাথে চালানো
#
# নিচের সেলটা আগে কম্পিউটারে রাখা আসল `cats_vs_dogs` খোঁজে (ট্রেনিং স্প্লিটের ৮০% ট্রেনিং, ১০%
# ভ্যালিডেশন, ১০% টেস্ট — `"train[:80%]"`, `"train[80%:90%]"`, `"train[90%:]"`) আর ইমেজনেটের ওজন নেয়।
# প্রথমবার ডেটা (প্রায় ৮০০ MB) নামাতে `DOWNLOAD_REAL_DATA = True` করো। ডেটা বা ওজন না পেলে (যেমন ইন্টারনেট
# নেই) কিটের কৃত্রিম দুই-ক্লাসের রঙিন ছবি, ছোট মাপ (৩২×৩২) আর `weights=None` নিয়ে চলে, যাতে CPU-তে
# দু-এক মিনিটে শেষ হয়; র‍্যান্ডম ওজনের VGG16 তেমন কিছু জানে না, তাই ওই ফলকে আসল ট্রান্সফার লার্নিংয়ের মাপ
# ধরবে না। ছবিগুলো `keras.applications.vgg16.preprocess_input` দিয়ে তৈরি করা হয় — ইমেজনেটের ওজন যে
# স্কেলে (BGR, প্রতিটা রঙের গড় বাদ দিয়ে) শিখেছিল, ইনপুটও সেই স্কেলে দিতে হয়। তারপর: জমানো বেসে হেড
# শেখানো, `unfreeze_from` আর `compile_for_fine_tuning`, আরেক ইপক ফাইন-টিউনিং, শেষে টেস্ট অ্যাকুরেসি
# (`লজিট > ০` মানে ক্লাস ১)। আসল ডেটা আর ইমেজনেটের ওজনে বইয়ে জমানো বেসে অ্যাকুরেসি ~৯৩%, ফাইন-টিউনিংয়ের
# পর ~৯৭–৯৮% হয়েছিল।
#
# **English:** The cell below looks for a local copy of the real `cats_vs_dogs` (80% of the train
# split for training, 10% for validation and 10% for testing: `"train[:80%]"`,
# `"train[80%:90%]"`, `"train[90%:]"`) and uses the ImageNet weights; set
# `DOWNLOAD_REAL_DATA = True` to download the data (about 800 MB) the first time. Without the data
# or the weights (no internet, say) it uses the kit's synthetic two-class colour images at a small
# size (32×32) with `weights=None`, so it finishes in a minute or two on a CPU; a VGG16 with
# random weights knows little, so do not read that result as a measure of real transfer learning.
# Images go through `keras.applications.vgg16.preprocess_input`, because the input must be on the
# scale the ImageNet weights were trained on (BGR with each colour's mean subtracted). Then the
# head is trained on the frozen base, `unfreeze_from` and `compile_for_fine_tuning` are applied,
# one more epoch fine-tunes, and the test accuracy is printed (logit > 0 means class 1). On the
# real data with ImageNet weights the book reached about 93% with the frozen base and about 97–98%
# after fine-tuning.

# %%
# ফাইল বা নোটবুক নিজে চালালে ডেমো চলে, nbgrader গ্রেড করার সময় নয়
# The demo runs when you run the file or notebook yourself, not while nbgrader grades it.
if __name__ == "__main__" and not os.environ.get("NBGRADER_EXECUTION"):
    DOWNLOAD_REAL_DATA = False  # True: download cats_vs_dogs (about 800 MB) the first time
    BATCH_SIZE = 32

    def trainable_counts(model):
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        frozen = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
        return trainable, frozen

    image_size, weights, datasets = IMAGE_SIZE, "imagenet", None
    try:
        import tensorflow_datasets as tfds

        datasets = tfds.load(
            "cats_vs_dogs",
            split=["train[:80%]", "train[80%:90%]", "train[90%:]"],
            as_supervised=True,
            download=DOWNLOAD_REAL_DATA,
        )
        vgg = load_vgg_base(image_size, weights=weights)
        print("আসল cats_vs_dogs আর ইমেজনেটের ওজন / Loaded the real cats_vs_dogs and the ImageNet weights.")
    except Exception as error:  # no tensorflow_datasets, no local copy, or no internet
        print(f"আসল ডেটা বা ওজন পাওয়া গেল না / could not get the real data or weights: {error}")
        datasets = None
        try:
            from autograder.student.datasets import synthetic_two_class

            image_size, weights = 32, None

            def as_dataset(split):
                return tf.data.Dataset.from_tensor_slices((split.images, split.labels))

            datasets = [
                as_dataset(synthetic_two_class(320, image_size, seed=0)),
                as_dataset(synthetic_two_class(64, image_size, seed=1)),
                as_dataset(synthetic_two_class(128, image_size, seed=2)),
            ]
            vgg = load_vgg_base(image_size, weights=weights)
            print(
                f"কৃত্রিম ডেটা, {image_size}×{image_size}, weights=None ব্যবহার করছি / "
                f"Using the synthetic data at {image_size}x{image_size} with weights=None instead."
            )
        except ImportError:
            print("কোনো ডেটা পাওয়া যায়নি; ডেমো বাদ / No data available; skipping the demo.")

    if datasets is not None:

        def prepare(image, label):
            image = tf.image.resize(tf.cast(image, tf.float32), (image_size, image_size))
            return keras.applications.vgg16.preprocess_input(image), label

        train_data, validation_data, test_data = datasets
        train_batches = train_data.shuffle(1000).map(prepare).batch(BATCH_SIZE)
        validation_batches = validation_data.map(prepare).batch(BATCH_SIZE)
        test_batches = test_data.map(prepare).batch(BATCH_SIZE)

        # ধাপ ১–৩: জমানো বেস, শুধু হেড শেখে / steps 1-3: frozen base, only the head learns
        model = build_transfer_model(freeze_vgg(vgg))
        print("জমানো বেস / frozen base: trainable=%d, non-trainable=%d" % trainable_counts(model))
        initial_epochs = 2
        history = model.fit(train_batches, epochs=initial_epochs, validation_data=validation_batches)

        # ধাপ ৪–৫: ব্লক ৪ আর ৫ খুলে ছোট লার্নিং রেটে / steps 4-5: unfreeze blocks 4-5, small learning rate
        unfreeze_from(vgg, "block4_conv1")
        compile_for_fine_tuning(model, base_learning_rate=1e-4)
        print("ফাইন-টিউনিং / fine-tuning: trainable=%d, non-trainable=%d" % trainable_counts(model))
        model.fit(
            train_batches,
            epochs=initial_epochs + 1,
            initial_epoch=history.epoch[-1] + 1,
            validation_data=validation_batches,
        )

        # লজিট > ০ মানে ক্লাস ১ / a logit above 0 means class 1
        logits = np.concatenate([model.predict(images, verbose=0)[:, 0] for images, _ in test_batches])
        labels = np.concatenate([batch_labels.numpy() for _, batch_labels in test_batches])
        accuracy = float(np.mean((logits > 0).astype(np.int64) == labels))
        print(f"টেস্ট অ্যাকুরেসি / Test accuracy: {accuracy:.4f}")
