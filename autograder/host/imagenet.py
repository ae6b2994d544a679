"""ImageNet class names for ``decode_predictions``: the kit's own for grading, the real ones for demos.

Grading never needs the real 1000 ImageNet names: the checks only ask whether the student's
``top_predictions`` returns what ``decode_predictions`` makes of the model's scores. So every
grading hands the sandbox worker a class index the kit generates itself (:func:`grading_class_index`:
1000 deterministic WordNet-shaped ids and names) and judges against that same index. Nothing
outside the repository and the installed packages is read, and nothing is downloaded.

The real index matters only where a person reads class names: the public self-checks and the
notebooks' demos look for it themselves (Keras' cache, or ``AUTOGRADER_IMAGENET_CLASS_INDEX``).
"""
from __future__ import annotations

import random
from functools import lru_cache

CLASS_INDEX_FILE = "imagenet_class_index.json"
N_CLASSES = 1000

# 40 x 25 = 1000 distinct two-word names; shuffled per position so neighbouring classes differ.
_ADJECTIVES = ("amber", "brisk", "calm", "dusky", "eager", "faded", "gentle", "hardy", "icy", "jolly", "keen",
               "lofty", "mellow", "nimble", "olive", "plain", "quiet", "rusty", "sandy", "tawny", "umber", "vivid",
               "wiry", "young", "zesty", "bold", "coral", "dapper", "early", "fuzzy", "glossy", "hollow", "inky",
               "jade", "knotty", "lunar", "misty", "noble", "ochre", "pale")
_NOUNS = ("heron", "otter", "lynx", "finch", "badger", "marten", "gecko", "ibex", "koi", "lemur", "mantis", "newt",
          "oriole", "puffin", "quail", "raven", "stoat", "tapir", "urchin", "vole", "wombat", "yak", "zebu", "bison",
          "civet")


@lru_cache(maxsize=1)
def grading_class_index() -> dict[str, list[str]]:
    """The kit's own 1000-class index, ``{"0": ["n03517468", "amber_heron"], ...}``; the same on every machine."""
    rng = random.Random(20240611)  # fixed: the index is part of the grader, not of a grading's seed
    wnids = rng.sample(range(1_000_000, 10_000_000), N_CLASSES)
    names = [f"{adjective}_{noun}" for adjective in _ADJECTIVES for noun in _NOUNS]
    rng.shuffle(names)
    return {str(i): [f"n{wnids[i]:08d}", names[i]] for i in range(N_CLASSES)}


