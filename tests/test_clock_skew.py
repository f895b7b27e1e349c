"""Times in the future are stale (issue 11): after the clock is set back (or a run stored by a
machine whose clock ran ahead), a link found ok "later than now" is asked again, not trusted
for as long as the skew lasts.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from support.crawl import HOME, T0, by_path, config, deep_run, ok, page, pdf
from support.loopback import LoopbackServer

from ocwwatch.models import LinkState
from ocwwatch.store import Store

pytestmark = pytest.mark.anyio


async def test_a_link_checked_in_the_future_is_asked_again(store: Store) -> None:
    """Run 1 at T0 + 5 h finds notes.pdf ok; run 2 at T0 (the clock set back) asks it again
    and sees that it is gone, instead of keeping run 1's `ok` unasked."""
    routes = {HOME: ok(page("notes.pdf")), HOME + "notes.pdf": pdf()}
    with LoopbackServer(routes) as server:
        cfg = config(server, recheck_after_hours=20)
        first = await deep_run(cfg, store, at=T0 + timedelta(hours=5))
        assert by_path(first, server)[HOME + "notes.pdf"].state is LinkState.OK
        del server.routes[HOME + "notes.pdf"]
        server.reset_counts()
        second = await deep_run(cfg, store, at=T0)
        assert server.requests[HOME + "notes.pdf"] >= 1
        assert by_path(second, server)[HOME + "notes.pdf"].state is LinkState.DEAD


async def test_a_link_checked_within_the_window_is_still_trusted(store: Store) -> None:
    """The same two runs in the right order (T0, then T0 + 5 h): notes.pdf is not asked."""
    routes = {HOME: ok(page("notes.pdf")), HOME + "notes.pdf": pdf()}
    with LoopbackServer(routes) as server:
        cfg = config(server, recheck_after_hours=20)
        await deep_run(cfg, store, at=T0)
        server.reset_counts()
        await deep_run(cfg, store, at=T0 + timedelta(hours=5))
    assert server.requests[HOME + "notes.pdf"] == 0
