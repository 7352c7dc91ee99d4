"""Keep pyarrow from importing pandas on a command that never uses it (0.2–0.4 s of start-up).

pyarrow asks "is pandas installed?" on its first array or table — by importing pandas — in two
places. Its Python-level shim asks once: once pyarrow has loaded, that question is asked with
``pandas`` made unimportable, so the shim notes "no pandas"; it asks again by itself whenever it
needs pandas (``to_pandas``), and as soon as anything imports pandas the note is corrected, so a
pandas object handed to pyarrow afterwards is recognised as before. Its C++ converter of Python
sequences asks on every call, through ``__import__`` from no ``import`` statement: that request
is refused until pandas is loaded (the converter then goes on without pandas types, which it
only needs to recognise pandas values, and there are none before pandas is loaded).

The command line installs it (:func:`install`); the library leaves pyarrow as it is.
"""

from __future__ import annotations

import builtins
import dis
import importlib.abc
import sys
from collections.abc import Callable
from types import ModuleType


class _Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):  # type: ignore[no-untyped-def]
        if name == "pandas":
            raise ModuleNotFoundError("pandas is loaded only when a command needs it", name=name)
        return None


def _pyarrow_loaded() -> None:
    if "pandas" in sys.modules:  # loaded already (or loading, and it imports pyarrow): nothing to save
        return
    shim = sys.modules["pyarrow"].lib._pandas_api
    refuse = _Refuse()
    sys.meta_path.insert(0, refuse)
    try:
        _ = shim.have_pandas  # pyarrow tries the import once, fails, and notes "no pandas"
    finally:
        sys.meta_path.remove(refuse)


def _pandas_loaded() -> None:
    pa = sys.modules.get("pyarrow")
    if pa is not None and hasattr(pa, "lib"):
        _ = pa.lib._pandas_api.pd  # pyarrow imports pandas again (now at hand) and notes it is there


class _Watch(importlib.abc.MetaPathFinder):
    """Runs a callback once a watched top-level module has finished loading."""

    def __init__(self, after: dict[str, Callable[[], None]]) -> None:
        self.after = after

    def find_spec(self, name, path=None, target=None):  # type: ignore[no-untyped-def]
        callback = self.after.get(name)
        if callback is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            callback()

        loader.exec_module = exec_module  # type: ignore[method-assign]  # this module's loader only
        return spec


_IMPORT_NAME = dis.opmap["IMPORT_NAME"]
_import = builtins.__import__


def _guarded_import(name, globals=None, locals=None, fromlist=(), level=0):  # type: ignore[no-untyped-def]
    if name == "pandas" and level == 0 and "pandas" not in sys.modules:
        caller = sys._getframe(1)
        if caller.f_code.co_code[caller.f_lasti] != _IMPORT_NAME:  # C code asking, not an import statement
            raise ModuleNotFoundError("pandas is not loaded yet", name="pandas")
    return _import(name, globals, locals, fromlist, level)


def install() -> None:
    """Watch for pyarrow and pandas (idempotent; a no-op when pyarrow has loaded already)."""
    if "pyarrow" in sys.modules or any(isinstance(f, _Watch) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _Watch({"pyarrow": _pyarrow_loaded, "pandas": _pandas_loaded}))
    builtins.__import__ = _guarded_import
