"""Fixtures shared by the tests."""

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder of the test's own (``$AFFECT_CACHE_DIR``), so that no test reuses what another built."""
    path = tmp_path / "cache"
    monkeypatch.setenv("AFFECT_CACHE_DIR", str(path))
    return path


@pytest.fixture
def dump() -> Callable[..., Path]:
    """``dump(path, obj, protocol=4)``: ``obj`` pickled into ``path``; returns ``path``."""

    def write(path: Path, obj: Any, protocol: int = 4) -> Path:
        with path.open("wb") as fh:
            pickle.dump(obj, fh, protocol=protocol)
        return path

    return write
