"""One demo store per test module: the bundled sample imported and segmented, as `mobco2 demo` does."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    from mobco2.demo import DEMO_USER, sample_files
    from mobco2.ingest import import_paths
    from mobco2.segment import segment
    from mobco2.store import Store

    root = tmp_path_factory.mktemp("demo_store")
    with pytest.MonkeyPatch.context() as mp:  # module fixtures run before the autouse isolation
        mp.setenv("MOBCO2_HOME", str(tmp_path_factory.mktemp("demo_home")))
        for key in list(os.environ):
            if key.startswith("MOBCO2_") and key != "MOBCO2_HOME":
                mp.delenv(key)
        store = Store(root, lock_timeout_s=30)
        import_paths(store, sample_files(), user_id=DEMO_USER)
        segment(store, user_id=DEMO_USER)
    return store
