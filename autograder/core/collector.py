"""The cyclic garbage collector around the kit's own start (TensorFlow's and Keras' import, once per process), and
after each probe of the sandbox worker."""
from __future__ import annotations

import contextlib
import gc
import os
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


# After a probe, the collector runs (about 40 ms with Keras loaded) only once the worker has grown by this much since it
# last ran: a probe's models hold reference cycles, and a VGG16 base is 59 MB, but a small dense model is not worth it.
COLLECT_AFTER_GROWTH_BYTES = 64 * 2**20


class CollectAfterGrowth:
    """Collects reference cycles after a probe when the process grew past COLLECT_AFTER_GROWTH_BYTES since the last
    collection (or when its size cannot be read), so large models are freed before the next probe builds its own."""

    def __init__(self) -> None:
        self.collected_at = resident_bytes()

    def after_probe(self) -> None:
        resident = resident_bytes()
        if resident is None or self.collected_at is None or resident - self.collected_at > COLLECT_AFTER_GROWTH_BYTES:
            gc.collect()
            self.collected_at = resident_bytes()


def resident_bytes() -> int | None:
    """This process's resident memory (Linux /proc), or None where it cannot be read."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None
