"""mobco2: personal mobility carbon accounting from your own location history, locally.

The library behind the ``mobco2`` command. Names follow the command line::

    import mobco2
    store = mobco2.Store("~/mobco2-store")
    mobco2.ingest.import_paths(store, ["Takeout.zip"], user_id="me")
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mobco2.store import Store

__all__ = ["Store", "__version__"]


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    # DuckDB, pyarrow and numpy load on first use of the store, not when the command line starts
    if name == "Store":
        from mobco2.store import Store

        return Store
    if name == "__version__":  # importlib.metadata costs ~40 ms of every command's start-up: only on demand
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("mobco2")
        except PackageNotFoundError:  # running from a source tree without installation
            found = "0.0.0+unknown"
        globals()["__version__"] = found
        return found
    raise AttributeError(f"module 'mobco2' has no attribute {name!r}")
