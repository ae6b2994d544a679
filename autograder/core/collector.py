"""The cyclic garbage collector around the kit's own start: TensorFlow's and Keras' import, once per process."""
from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def imports_then_frozen() -> Iterator[None]:
    """Run the block (the kit's imports of TensorFlow and Keras) with the collector paused, then collect once
    and put what is left out of the collector's reach for good (``gc.freeze``).

    Why paused: those imports make some 500,000 objects, nearly all alive until the process ends, and each
    collection the allocations trigger midway scans the heap built so far again (about 0.3 s of a 2 s start).
    Why frozen: every later collection (after each probe's models are released) then scans only what grading
    made since. What is collected is unchanged: the one collection after the block finds what the skipped
    ones would have. The collector's state before the block (enabled or not) is restored, also on an error.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        gc.collect()
        gc.freeze()
    finally:
        if was_enabled:
            gc.enable()
