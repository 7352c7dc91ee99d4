"""mobco2: personal mobility carbon accounting from your own location history, locally.

The library behind the ``mobco2`` command. Names follow the command line::

    import mobco2
    store = mobco2.Store("~/mobco2-store")
    mobco2.ingest.import_paths(store, ["Takeout.zip"], user_id="me")
"""

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mobco2.store import Store

try:
    __version__ = version("mobco2")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["Store", "__version__"]


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    # DuckDB, pyarrow and numpy load on first use of the store, not when the command line starts
    if name == "Store":
        from mobco2.store import Store

        return Store
    raise AttributeError(f"module 'mobco2' has no attribute {name!r}")
