"""The stand-ins a notebook's extracted program binds for names it cannot give a value
(:mod:`autograder.host.notebook_code`).

The program runs in the sandbox worker, which imports nothing of the kit's for it: the stand-ins are Python
source that the program's first line compiles into a namespace of its own. Using a stand-in raises an error
that says why the name has no value (a module the grader cannot import, a value computed at top level, or a
top-level computation that failed), located at the student's line that used it.
"""
from __future__ import annotations

# The stand-ins the program binds for names it cannot give a value. Compiled under its own file
# name, so an error it raises is located at the student's line that used the name.
STAND_INS_FILE = "<grader: notebook stand-ins>"
STAND_INS = r'''
import sys

_FAILING = ("__call__", "__iter__", "__next__", "__len__", "__getitem__", "__setitem__", "__delitem__",
            "__contains__", "__bool__", "__int__", "__float__", "__complex__", "__index__", "__array__",
            "__enter__", "__exit__", "__await__", "__aiter__", "__neg__", "__pos__", "__abs__", "__invert__",
            "__lt__", "__le__", "__gt__", "__ge__", "__add__", "__radd__", "__sub__", "__rsub__", "__mul__",
            "__rmul__", "__truediv__", "__rtruediv__", "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__",
            "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__and__", "__rand__", "__or__", "__ror__",
            "__xor__", "__rxor__", "__lshift__", "__rshift__", "__delattr__")


class Unavailable:
    """A name the grader has no value for: using it raises an error that says why."""

    __slots__ = ("_why", "_error", "_lazy")

    def __init__(self, why, error, lazy):
        object.__setattr__(self, "_why", why)
        object.__setattr__(self, "_error", error)
        object.__setattr__(self, "_lazy", lazy)

    def _fail(self, *args, **kwargs):
        raise self._error(self._why)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(self._why)
        if self._lazy:  # drive.mount is still the missing module: calling it is what fails
            return Unavailable(self._why, self._error, True)
        raise self._error(self._why)

    def __setattr__(self, name, value):
        raise self._error(self._why)

    def __mro_entries__(self, bases):  # class MyCallback(wandb.keras.WandbCallback): fails when made, not defined
        why, error = self._why, self._error

        class Unavailable:
            def __init__(self, *args, **kwargs):
                raise error(why)

        return (Unavailable,)

    def __repr__(self):
        return "<not available in the grader: " + self._why + ">"

    __str__ = __repr__


for _name in _FAILING:
    setattr(Unavailable, _name, Unavailable._fail)


class StandIns:
    def missing(self, namespace, imports, error):
        """After a failed import: each name it would bind, unless its module did load, is a stand-in."""
        for name, module, attribute in imports:
            loaded = sys.modules.get(module)
            if loaded is not None and (attribute is None or hasattr(loaded, attribute)):
                continue
            namespace[name] = Unavailable(
                "`%s` comes from `%s`, which the grader cannot import (%s: %s); a graded function must "
                "not need it." % (name, module, type(error).__name__, str(error)[:150]), ImportError, True)

    def not_run(self, namespace, names, where):
        for name in names:
            namespace[name] = Unavailable(
                "`%s` has no value in the grader: your notebook computes it at top level (%s), and the "
                "grader does not run top-level code; pass it as an argument or compute it inside the "
                "function." % (name, where), NameError, False)

    def failed(self, namespace, names, where, error):
        for name in names:
            namespace[name] = Unavailable(
                "`%s` has no value in the grader: computing it at top level (%s) failed there with %s: %s"
                % (name, where, type(error).__name__, str(error)[:150]), NameError, False)
'''
PRELUDE = (f"_tf2kit_stand_ins = (lambda space: (exec(compile({STAND_INS!r}, {STAND_INS_FILE!r}, 'exec'), "
            "space), space['StandIns']())[1])({})")
ERROR = "_tf2kit_error"  # the name the program gives a failed statement's exception
