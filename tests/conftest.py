"""Fixtures shared by the tests: the anyio backend, a fresh store, a private copy of config/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import schema
from support.fetching import FakeTime

from ocwwatch.store import Store

schema.install()  # every JSON report a test renders is checked against the shipped schema


@pytest.fixture
def anyio_backend() -> str:
    """Run `pytest.mark.anyio` tests on asyncio only: the fetcher is asyncio code."""
    return "asyncio"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An empty database in the test's own folder."""
    with Store.open(tmp_path / "ocwwatch.db") as opened:
        yield opened


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A private copy of the repository's config/, with data/ beside it."""
    shutil.copytree(Path(__file__).resolve().parent.parent / "config", tmp_path / "config")
    return tmp_path / "config" / "ocwwatch.toml"


@pytest.fixture
def fake() -> FakeTime:
    """Fake time for a Fetcher (support/fetching.py): sleeps move the clock at once."""
    return FakeTime()
