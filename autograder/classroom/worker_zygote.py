"""Each Dask worker's zygote (:mod:`autograder.host.zygote`), as ``grade-all --cluster local`` has one: a worker
plugin, so the zygote lives as long as the run on its worker does (``grade-all`` registers the plugin at the
start and unregisters it at the end; the worker's own end tears it down too), not in a global. The plugin also
holds the worker's folder of shared frozen-base features (:mod:`autograder.host.feature_cache`) and its worker
nursery (:mod:`autograder.host.nursery`), which forks the students' sandbox workers, as a ``grade-all`` run on
this machine has them.

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
        self._nursery, self._no_nursery = None, False

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

    def start_nursery(self, options) -> None:
        """Start this worker's nursery for the run's settings ``options`` the first time (or again, if it ended),
        without waiting for it: it imports TensorFlow while the task starts the zygote."""
        from autograder.classroom.cluster import WORKDIR_PREFIX  # swept, after a killed worker, by the next task
        from autograder.classroom.grade_all import start_run_nursery

        with self._lock:
            if (self._nursery is None or self._nursery.ended) and not self._no_nursery:
                self._nursery = start_run_nursery(options, self._folders, WORKDIR_PREFIX)
                self._no_nursery = self._nursery is None

    def nursery(self):
        """How to ask this worker's nursery for sandbox workers, once it is ready; None where it cannot start."""
        from autograder.classroom.grade_all import run_nursery_ready

        with self._lock:
            ready = run_nursery_ready(self._nursery)
            if ready is None:
                self._nursery, self._no_nursery = None, True
            return ready

    def shared_folder(self, isolation: str) -> Path | None:
        """This worker's folder of shared features and training runs, made the first time (None where
        ``isolation`` does not allow sharing: :func:`autograder.host.shared_folder.may_share`)."""
        from autograder.classroom import workdirs
        from autograder.classroom.cluster import WORKDIR_PREFIX  # swept, after a killed worker, by the next task
        from autograder.host.shared_folder import may_share

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


def start_worker_nursery(worker, options) -> None:
    """Start ``worker``'s nursery for a run with ``options`` (nothing where grade-all registered no plugin)."""
    plugin = worker.plugins.get(ZYGOTE_PLUGIN)
    if isinstance(plugin, ZygotePlugin):
        plugin.start_nursery(options)


def worker_nursery(worker):
    """``worker``'s nursery, ready (None where grade-all registered no plugin, or it cannot start)."""
    plugin = worker.plugins.get(ZYGOTE_PLUGIN)
    return plugin.nursery() if isinstance(plugin, ZygotePlugin) else None


def worker_shared_folder(worker, isolation: str) -> Path | None:
    """``worker``'s folder of shared frozen-base features and training runs (None where grade-all registered no
    plugin)."""
    plugin = worker.plugins.get(ZYGOTE_PLUGIN)
    return plugin.shared_folder(isolation) if isinstance(plugin, ZygotePlugin) else None
