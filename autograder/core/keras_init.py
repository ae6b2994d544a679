"""Building Keras layers whose weights are replaced right after: without the random draws nobody would see.

Loading a saved model (the grading process) and building the kit's VGG16 base before setting its fixed
weights (both sides) create every weight with its initializer first: 14.7 million random draws for a VGG16
base, 0.08 of the 0.14 s its build takes, thrown away at once. Inside :func:`random_draws_skipped` a weight
that a random initializer would fill starts as zeros instead. What else is random is untouched: Keras drew
each initializer's seed when the layer was made, and the draws themselves are stateless, so the random
streams after the block are the ones a plain build leaves (tests/test_units.py).

Use it only where every weight made inside the block is then set from elsewhere.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

RANDOM_INITIALIZERS = ("VarianceScaling", "RandomNormal", "RandomUniform", "TruncatedNormal", "Orthogonal")


def random_initializer_classes(keras) -> tuple[type, ...]:
    """Keras's public initializers that draw random values (Glorot, He and LeCun are VarianceScaling)."""
    return tuple(getattr(keras.initializers, name) for name in RANDOM_INITIALIZERS
                 if hasattr(keras.initializers, name))


@contextlib.contextmanager
def initialization_wrapped(wrap) -> Iterator[bool]:
    """Within the block, Keras makes every new weight through ``wrap(original)(variable, initializer)``, where
    ``original`` is how it made them before; yields False, changing nothing, for a Keras without that hook.
    Blocks nest; each restores what was there when it began."""
    import keras

    variable_class = getattr(keras, "Variable", None)
    original = getattr(variable_class, "_initialize_with_initializer", None)
    if original is None:
        yield False
        return
    had_own = "_initialize_with_initializer" in vars(variable_class)
    variable_class._initialize_with_initializer = wrap(original)
    try:
        yield True
    finally:
        if had_own:
            variable_class._initialize_with_initializer = original
        else:
            del variable_class._initialize_with_initializer


@contextlib.contextmanager
def random_draws_skipped() -> Iterator[None]:
    """Within the block, weights that a random initializer would fill start as zeros."""
    import keras

    random_initializers = random_initializer_classes(keras)

    def zeros_for_random(original):
        def initialize(variable, initializer):
            if isinstance(initializer, random_initializers):
                initializer = keras.initializers.Zeros()
            return original(variable, initializer)
        return initialize

    with initialization_wrapped(zeros_for_random):  # another Keras: built as usual
        yield
