"""The Wayback Machine cache of the deep check (issue 4, item 5): what archive.org answered for
each dead link, and the suggestions a run's stored link checks get from it.

It stores and returns records; it never asks archive.org or decides which link needs a snapshot.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

from ocwwatch.models import Suggestion, WaybackLookup
from ocwwatch.store.base import StoreBase
from ocwwatch.store.rows import Row, dump_json, format_time, parse_time

_UPSERT_LOOKUP = """
INSERT INTO wayback_lookups (url, looked_up_at, snapshot_url, snapshot_time) VALUES (?, ?, ?, ?)
ON CONFLICT (url) DO UPDATE SET looked_up_at = excluded.looked_up_at,
    snapshot_url = excluded.snapshot_url, snapshot_time = excluded.snapshot_time
"""


def _lookup_from_row(row: Row) -> WaybackLookup:
    snapshot = None
    if row["snapshot_url"] is not None:
        snapshot = {"url": row["snapshot_url"], "taken_at": parse_time(row["snapshot_time"])}
    return WaybackLookup.model_validate(
        {"url": row["url"], "looked_up_at": parse_time(row["looked_up_at"]), "snapshot": snapshot}
    )


def _lookup_values(lookup: WaybackLookup) -> list[object]:
    snapshot = lookup.snapshot
    return [
        lookup.url,
        format_time(lookup.looked_up_at),
        snapshot and snapshot.url,
        snapshot and format_time(snapshot.taken_at),
    ]


class WaybackStore(StoreBase):
    """Reads and writes of the Wayback lookups cache and of the suggestions it gives."""

    def load_wayback_lookups(self, urls: Iterable[str]) -> dict[str, WaybackLookup]:
        """The cached lookups of those `urls` that were looked up before, hits and misses."""
        sql = "SELECT * FROM wayback_lookups WHERE url IN (SELECT value FROM json_each(?))"
        rows = self._select("read Wayback lookups", sql, [json.dumps(list(urls))])
        return {row["url"]: self._parse("wayback_lookups", row, _lookup_from_row) for row in rows}

    def save_wayback_lookups(self, lookups: Sequence[WaybackLookup]) -> None:
        """Remember lookups that got an answer; a URL looked up again replaces its row."""
        with self._transaction("save Wayback lookups") as db:
            db.conn.executemany(_UPSERT_LOOKUP, [_lookup_values(lookup) for lookup in lookups])

    def set_link_suggestions(self, run_id: int, suggestions: Mapping[str, Suggestion]) -> None:
        """Give this run's stored checks of the URLs in `suggestions` their suggestion."""
        values = [[dump_json(s), run_id, url] for url, s in suggestions.items()]
        with self._transaction(f"save link suggestions of run {run_id}") as db:
            self._require_run(db, run_id, running=True)
            db.conn.executemany(
                "UPDATE link_checks SET suggestion = ? WHERE run_id = ? AND url = ?", values
            )
