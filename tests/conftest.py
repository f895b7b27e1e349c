"""Fixtures shared by the async tests: the anyio backend, and a fresh store per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ocwwatch.store import Store


@pytest.fixture
def anyio_backend() -> str:
    """Run `pytest.mark.anyio` tests on asyncio only: the fetcher is asyncio code."""
    return "asyncio"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An empty database in the test's own folder."""
    with Store.open(tmp_path / "ocwwatch.db") as opened:
        yield opened
