"""Shared fixtures: real third-party samples from ../shared, real stores in temporary folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = (REPO.parent / "shared" / "sample-inputs").resolve()


@pytest.fixture(scope="session")
def samples() -> Path:
    """The folder of real sample files (never copied into the repo)."""
    if not SAMPLES.is_dir():
        raise RuntimeError(f"sample inputs not found at {SAMPLES}: the repo must sit beside shared/")
    return SAMPLES


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory, monkeypatch):
    """No test reads or writes the developer's real store or config."""
    home = tmp_path_factory.mktemp("mobco2_home")
    monkeypatch.setenv("MOBCO2_HOME", str(home))
    for key in list(os.environ):
        if key.startswith("MOBCO2_") and key != "MOBCO2_HOME":
            monkeypatch.delenv(key)
    monkeypatch.setenv("MOBCO2_STORE_LOCK_TIMEOUT_S", "5")
