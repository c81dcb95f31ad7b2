"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import reconcile as rc


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[rc.State]:
    """Each state store in turn: a test using it holds for both."""
    if request.param == "memory":
        yield rc.MemoryState()
        return
    state = rc.SQLiteState(tmp_path / "state.db")
    yield state
    state.close()
