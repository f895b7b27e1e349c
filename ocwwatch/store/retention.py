"""Retention in the store (issue 11): which runs the rules may drop, and dropping them with
every row that belongs to them, in one transaction; VACUUM when that freed much.

It applies the rules it is given (how many runs, how many days); it never deletes a file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from ocwwatch.store.base import StoreBase, translated
from ocwwatch.store.rows import format_time

# Runs beyond the newest N and older than a time, unless the latest state points at them, they
# changed something (a change against the previous run, a link that started failing), or they
# are the newest complete run. Parameters: keep_runs, keep_before, keep_before.
_PRUNABLE = """
SELECT id, started_at, status FROM runs
WHERE status != 'running'
  AND id NOT IN (SELECT id FROM runs WHERE status != 'running' ORDER BY id DESC LIMIT ?)
  AND (? IS NULL OR started_at < ?)
  AND id NOT IN (
    SELECT run_id FROM (
      SELECT o.run_id FROM resources AS r
        JOIN observations AS o ON o.id = r.latest_observation_id
      UNION SELECT last_run_id FROM links
      UNION SELECT run_id FROM observations
        WHERE EXISTS (SELECT 1 FROM json_each(observations.changes)
                      WHERE json_extract(value, '$.against') = 'previous')
      UNION SELECT run_id FROM link_checks WHERE failed_runs = 1
      UNION SELECT max(id) FROM runs WHERE status = 'complete'
    ) WHERE run_id IS NOT NULL
  )
ORDER BY id
"""
_ROWS_OF_RUN = """
SELECT (SELECT count(*) FROM observations WHERE run_id = :id)
     + (SELECT count(*) FROM link_checks WHERE run_id = :id)
     + (SELECT count(*) FROM reports WHERE run_id = :id) AS n
"""
# Every row of the runs in the JSON array parameter, children first (foreign keys are on). A
# deep run's working rows are not among them: they live in the working file, which goes once
# no run is running (store/crawl.py), and a run that is running is never pruned.
_DROP_RUNS = (
    "DELETE FROM link_checks WHERE run_id IN (SELECT value FROM json_each(?))",
    "DELETE FROM reports WHERE run_id IN (SELECT value FROM json_each(?))",
    "DELETE FROM observations WHERE run_id IN (SELECT value FROM json_each(?))",
    "DELETE FROM runs WHERE id IN (SELECT value FROM json_each(?))",
)
VACUUM_FREED_SHARE = 0.25  # VACUUM when free pages are at least this share of the file
VACUUM_FREED_BYTES = 64 * 1024 * 1024  # ... or at least this much


@dataclass(frozen=True)
class Prunable:
    """A run the rules drop, with what goes with it (counted for `prune --dry-run`)."""

    run_id: int
    started_at: str
    status: str
    rows: int


class RetentionStore(StoreBase):
    def prunable_runs(self, keep_runs: int, keep_before: datetime | None) -> list[Prunable]:
        """Finished runs beyond the newest `keep_runs` and started before `keep_before`
        (None: age keeps nothing), except the protected ones; oldest first."""
        before = format_time(keep_before) if keep_before is not None else None
        rows = self._select("read prunable runs", _PRUNABLE, [keep_runs, before, before])
        return [
            Prunable(row["id"], row["started_at"], row["status"], self._rows_of(row["id"]))
            for row in rows
        ]

    def _rows_of(self, run_id: int) -> int:
        with translated(self.path, "count a run's rows"):
            return int(next(self._db.query(_ROWS_OF_RUN, {"id": run_id}))["n"])

    def drop_runs(self, run_ids: list[int]) -> None:
        """Delete these runs and every row of theirs, in one transaction."""
        if not run_ids:
            return
        with self._transaction("prune old runs") as db:
            for statement in _DROP_RUNS:
                db.execute(statement, [json.dumps(run_ids)])

    def vacuum_if_worth_it(self, *, share: float | None = None) -> int:
        """VACUUM when free pages are a quarter of the file or 64 MB, or, given `share`, when
        they are at least that share of it; the bytes it freed."""
        rows = self._select(
            "read free pages",
            "SELECT p.page_size * f.freelist_count AS free, p.page_size * c.page_count AS size "
            "FROM pragma_page_size AS p, pragma_freelist_count AS f, pragma_page_count AS c",
        )
        free, size = int(rows[0]["free"]), int(rows[0]["size"])
        if share is not None and free < share * size:
            return 0
        if share is None and free < VACUUM_FREED_BYTES and free < VACUUM_FREED_SHARE * size:
            return 0
        before = self.path.stat().st_size
        self._execute_outside_transaction("vacuum the database", "VACUUM")
        self._execute_outside_transaction(
            "truncate the write-ahead log", "PRAGMA wal_checkpoint(TRUNCATE)"
        )
        return max(0, before - self.path.stat().st_size)
