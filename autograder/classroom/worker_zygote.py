"""Each Dask worker's zygote (:mod:`autograder.host.zygote`), as ``grade-all --cluster local`` has one: a worker
plugin, so the zygote lives as long as the run on its worker does (``grade-all`` registers the plugin at the
start and unregisters it at the end; the worker's own end tears it down too), not in a global. The plugin also
holds the worker's folder of shared frozen-base features (:mod:`autograder.host.feature_cache`), as a
``grade-all`` run on this machine has one.

The worker's first grading task starts it (in the task's thread, not the worker's event loop, which a start of a few
seconds would stall); every grading on that worker is then forked from it, without a Python and TensorFlow start
per student. It closes with the worker and dies with it however the worker ends (``PR_SET_PDEATHSIG``). Where it
cannot start, gradings start as processes of their own, said on the worker's stderr. Imported only on the Dask
path: it needs ``distributed``.
"""
from __future__ import annotations

import contextlib
import sys
import threading
from pathlib import Path
from typing import Mapping

from distributed import WorkerPlugin

ZYGOTE_PLUGIN = "tf2-kit-zygote"


class ZygotePlugin(WorkerPlugin):
    def setup(self, worker=None) -> None:
        self._lock, self._zygote, self._unavailable = threading.Lock(), None, False
        self._folders, self._features = contextlib.ExitStack(), None

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

    def shared_features(self, isolation: str) -> Path | None:
        """This worker's folder of shared features, made the first time (None where ``isolation`` does not
        allow sharing: :func:`autograder.host.feature_cache.may_share`)."""
        from autograder.classroom import workdirs
        from autograder.classroom.cluster import WORKDIR_PREFIX  # swept, after a killed worker, by the next task
        from autograder.host.feature_cache import may_share

        if not may_share(isolation):
            return None
        with self._lock:
            if self._features is None:
                self._features = self._folders.enter_context(workdirs.owned_workdir(WORKDIR_PREFIX))
            return self._features

    def teardown(self, worker=None) -> None:
        with self._lock:
            if self._zygote is not None:
                self._zygote.close()
            self._folders.close()


def worker_zygote(worker, environ: Mapping[str, str]):
    """``worker``'s zygote (None where grade-all registered no plugin, or it cannot start)."""
    plugin = worker.plugins.get(ZYGOTE_PLUGIN)
    return plugin.zygote(environ) if isinstance(plugin, ZygotePlugin) else None


def worker_shared_features(worker, isolation: str) -> Path | None:
    """``worker``'s folder of shared frozen-base features (None where grade-all registered no plugin)."""
    plugin = worker.plugins.get(ZYGOTE_PLUGIN)
    return plugin.shared_features(isolation) if isinstance(plugin, ZygotePlugin) else None
