"""Modules that Keras imports as it is imported, but that nothing uses until later: loaded at their first use.

``import keras`` imports ``matplotlib`` and ``matplotlib.pyplot`` and ``matplotlib.patches`` (for
``keras.visualization``) and ``IPython`` (for ``keras.saving.KerasFileEditor``'s display): about 0.14 s of CPU of a
2.7 s start, paid by every sandbox worker and grading process, although neither draws or displays anything.
Imported inside :func:`loaded_on_first_use`, such a module is registered as usual but runs
(``importlib.util.LazyLoader``) only when one of its attributes is first read: by a student's plot in the worker,
say, which then gets the same module as a plain import gives.

Reading the module's import metadata (``__file__``, ``__spec__``...) does not run it: TensorFlow's autograph reads
``__file__`` of every module in ``sys.modules`` each time it converts a function (``dataset.map(normalize)``),
which with the standard library's lazy module alone ran pyplot (0.3 s of a worker) after all. Nor does reading a
waiting package's deferred submodule (``from matplotlib import patches``): that gives the waiting submodule, and
the package runs when the submodule does, as its first import makes it.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Iterator

DEFERRED = frozenset({"matplotlib", "matplotlib.pyplot", "matplotlib.patches", "IPython"})
# What the import system set before the module ran: answered from the waiting module itself.
IMPORT_METADATA = frozenset({"__name__", "__file__", "__cached__", "__spec__", "__loader__", "__package__",
                             "__path__", "__class__"})


# The standard library's lazy module (private); a Python without it gets the plain LazyLoader's behaviour.
_LazyModule = getattr(importlib.util, "_LazyModule", None)


class _WaitingModule(_LazyModule or types.ModuleType):
    """A lazily loaded module that runs at the first read of anything but its import metadata."""

    def __getattribute__(self, attr):
        if attr in IMPORT_METADATA:
            return object.__getattribute__(self, attr)
        submodule = f"{object.__getattribute__(self, '__spec__').name}.{attr}"
        if submodule in DEFERRED:  # from package import submodule: the submodule, waiting if imported in the block
            return importlib.import_module(submodule)
        return super().__getattribute__(attr)


class _WaitingLoader(importlib.util.LazyLoader):
    def exec_module(self, module):
        super().exec_module(module)
        if _LazyModule is not None and type(module) is _LazyModule:
            module.__class__ = _WaitingModule


class _DeferringFinder(importlib.abc.MetaPathFinder):
    """Finds the modules of :data:`DEFERRED` as the path finder does, with a loader that waits for their first use."""

    def find_spec(self, name, path, target=None):
        if name not in DEFERRED:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _WaitingLoader(spec.loader)
        return spec


@contextlib.contextmanager
def loaded_on_first_use() -> Iterator[None]:
    """Within the block, the modules of :data:`DEFERRED` are imported lazily; imports after it are plain ones."""
    finder = _DeferringFinder()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
