"""Each Dask worker's zygote (:mod:`autograder.host.zygote`), as ``grade-all --cluster local`` has one: a worker
plugin, so the zygote lives as long as its worker does, not in a global.

The worker's first grading task starts it (in the task's thread, not the worker's event loop, which a start of a few
seconds would stall); every grading on that worker is then forked from it, without a Python and TensorFlow start
per student. It closes with the worker and dies with it however the worker ends (``PR_SET_PDEATHSIG``). Where it
cannot start, gradings start as processes of their own, said on the worker's stderr. Imported only on the Dask
path: it needs ``distributed``.
"""
from __future__ import annotations

import sys
import threading
from typing import Mapping

from distributed import WorkerPlugin

ZYGOTE_PLUGIN = "tf2-kit-zygote"


class ZygotePlugin(WorkerPlugin):
    def setup(self, worker=None) -> None:
        self._lock, self._zygote, self._unavailable = threading.Lock(), None, False

    def zygote(self, environ: Mapping[str, str]):
        """This worker's zygote, started with ``environ`` the first time (or again, if it ended); None where it cannot
        start."""
        from autograder.host.zygote import Zygote, ZygoteUnavailable

        with self._lock:
            if (self._zygote is None or self._zygote.ended) and not self._unavailable:
                try:
                    self._zygote = Zygote(environ=environ)
                except (ZygoteUnavailable, OSError) as exc:
                    self._zygote, self._unavailable = None, True
                    print(f"note: grading processes start without the zygote ({exc})", file=sys.stderr)
            return self._zygote

    def teardown(self, worker=None) -> None:
        with self._lock:
            if self._zygote is not None:
                self._zygote.close()


def worker_zygote(worker, environ: Mapping[str, str]):
    """``worker``'s zygote (None where grade-all registered no plugin, or it cannot start)."""
    plugin = worker.plugins.get(ZYGOTE_PLUGIN)
    return plugin.zygote(environ) if isinstance(plugin, ZygotePlugin) else None
