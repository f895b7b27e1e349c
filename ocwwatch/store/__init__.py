"""SQLite storage for ocwwatch (via sqlite-utils): schema migrations, one transaction per run step,
history that is never overwritten, and the one-writer-at-a-time lock.

It stores and returns the records of `ocwwatch.models`; it never fetches, judges or renders.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlite_utils import Database

from ocwwatch.errors import NoSuchRunError, StoppingError, StoreBusyError, StoreError
from ocwwatch.files import open_lock_file
from ocwwatch.models import Counts, LinkCheck, Observation, ResourceKind, Run, Validators
from ocwwatch.store.base import DEFAULT_BUSY_TIMEOUT_SECONDS, translated
from ocwwatch.store.crawl import CrawlStore
from ocwwatch.store.retention import Prunable, RetentionStore
from ocwwatch.store.rows import (
    format_time,
    link_check_document,
    link_check_from_row,
    link_check_row,
    observation_from_row,
    observation_row,
    run_from_row,
    validators_from_row,
)
from ocwwatch.store.schema import MIGRATIONS
from ocwwatch.store.wayback import WaybackStore
from ocwwatch.store.writer import StoreWriter

__all__ = ["DEFAULT_BUSY_TIMEOUT_SECONDS", "MIGRATIONS", "Prunable", "Store"]

_LOCK_POLL_SECONDS = 0.05
REPORT_CHUNK_BYTES = 1 << 20  # a report file is copied into the database this much at a time
_ABANDONED = "abandoned: the process stopped before the run finished"

_UPSERT_RESOURCE = """
INSERT INTO resources (id, url, kind, latest_observation_id) VALUES (?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET url = excluded.url,
    kind = coalesce(excluded.kind, resources.kind),
    latest_observation_id = excluded.latest_observation_id
"""
_COMPLETE_OBSERVATIONS = """
SELECT o.* FROM observations AS o JOIN runs AS r ON r.id = o.run_id
WHERE r.status = 'complete' AND o.resource_id = ?
"""
# Link checks are selected as one JSON document each (rows.link_check_document).
_LATEST_COMPLETE_CHECK = f"""
SELECT c.id, {link_check_document("c")} FROM link_checks AS c JOIN runs AS r ON r.id = c.run_id
WHERE r.status = 'complete' AND c.url = ? ORDER BY c.run_id DESC LIMIT 1
"""  # noqa: S608 - only the store's own SQL is spliced in
# Where a link was found is left out: it can be thousands of pages, and a streak needs none.
_LATEST_COMPLETE_CHECKS = f"""
SELECT c.id, c.url, {link_check_document("c", pages=False)}
FROM link_checks AS c
WHERE c.url IN (SELECT value FROM json_each(?)) AND c.run_id = (
    SELECT max(c2.run_id) FROM link_checks AS c2 JOIN runs AS r ON r.id = c2.run_id
    WHERE r.status = 'complete' AND c2.url = c.url
)
"""  # noqa: S608 - only the store's own SQL is spliced in
_RUN_CHECKS = f"""
SELECT id, {link_check_document()} FROM link_checks WHERE run_id = ? ORDER BY id
"""  # noqa: S608 - only the store's own SQL is spliced in


class Store(CrawlStore, WaybackStore, RetentionStore):
    """The ocwwatch database. Open with `Store.open`; use as a context manager or `close()`.

    `resources` and `links` point at the latest row written, whatever became of its run; the
    reads that judge (`previous_observation`, `link_state`, `latest_run`...) use complete runs only.
    The deep check's frontier lives in `CrawlStore` (ocwwatch/store/crawl.py).
    """

    # --- writes ----------------------------------------------------------------------------

    def writer(self) -> StoreWriter[Store]:
        """Calls on a thread and a connection of their own, in order (a crawl's many writes)."""
        path, busy = self.path, self.busy_timeout_seconds
        return StoreWriter(lambda: Store.open(path, busy_timeout_seconds=busy))

    def start_run(self, now: datetime) -> int:
        """Record a new run as 'running' and return its id."""
        row = {"started_at": format_time(now), "status": "running"}
        with self._transaction("start a run") as db:
            run_id = db.table("runs").insert(row).last_rowid
        assert isinstance(run_id, int)
        return run_id

    def save_observation(
        self, run_id: int, observation: Observation, *, kind: ResourceKind | None = None
    ) -> None:
        """Add one resource's observation to the history and point `resources` at it."""
        row = observation_row(run_id, observation)
        kind_value = kind.value if kind is not None else None
        with self._transaction(f"save observation of {observation.id!r} in run {run_id}") as db:
            self._require_run(db, run_id, running=True)
            observation_id = db.table("observations").insert(row).last_rowid
            db.execute(
                _UPSERT_RESOURCE, [observation.id, observation.url, kind_value, observation_id]
            )

    def save_link_checks(self, run_id: int, checks: Sequence[LinkCheck]) -> None:
        """Add link checks to the history (one per URL per run) and update `links`."""
        rows = [link_check_row(run_id, check) for check in checks]
        latest_keys = ("url", "state", "http_status", "final_url", "first_failed_at", "failed_runs")
        latest = [{key: row[key] for key in latest_keys} | {"last_run_id": run_id} for row in rows]
        with self._transaction(f"save link checks of run {run_id}") as db:
            self._require_run(db, run_id, running=True)
            db.table("link_checks").insert_all(rows)
            db.table("links").upsert_all(latest, pk="url")

    def save_validators(self, values: Mapping[str, Validators], now: datetime) -> None:
        """Remember each URL's ETag and Last-Modified for the next conditional request."""
        with self._transaction("save validators") as db:
            _upsert_validators(db, values, now)

    def finish_run(
        self,
        run_id: int,
        now: datetime,
        counts: Counts,
        offline: bool,
        validators: Mapping[str, Validators] | None = None,
    ) -> Run:
        """Mark a running run complete with its counts; return it as stored.

        The run's validators are saved in the same transaction: saved earlier, a run killed
        before completing would leave ETags whose 304s stand for bytes no complete run read.
        """
        updates = {
            "finished_at": format_time(now),
            "status": "complete",
            "offline": int(offline),
            "counts": counts.model_dump_json(),
        }
        with self._transaction(f"finish run {run_id}") as db:
            self._require_run(db, run_id, running=True)
            db.table("runs").update(run_id, updates)
            _upsert_validators(db, validators or {}, now)
        return self.load_run(run_id)

    def fail_run(self, run_id: int, now: datetime, reason: str) -> None:
        """Mark a running run failed, with why; it is never reported as complete."""
        updates = {"status": "failed", "failed_at": format_time(now), "failure": reason}
        with self._transaction(f"fail run {run_id}") as db:
            self._require_run(db, run_id, running=True)
            db.table("runs").update(run_id, updates)

    def abandon_stale_runs(self, now: datetime) -> list[int]:
        """Mark failed every run still 'running' (a crash); needs `lock()`. Returns their ids."""
        if not self._locked:
            raise StoreError(f"{self.path}: abandon_stale_runs() must be called inside lock()")
        failed_at = format_time(now)
        with self._transaction("abandon stale runs") as db:
            rows = db.query("SELECT id FROM runs WHERE status = 'running' ORDER BY id")
            run_ids = [int(row["id"]) for row in rows]
            db.execute(
                "UPDATE runs SET status = 'failed', failed_at = ?, failure = ?"
                " WHERE status = 'running'",
                [failed_at, _ABANDONED],
            )
        return run_ids

    def save_report(self, run_id: int, format: str, body: str) -> None:
        """Keep a rendered report exactly as given; saving the same format again replaces it."""
        with self._transaction(f"save the {format} report of run {run_id}") as db:
            self._require_run(db, run_id, running=False)
            db.execute(
                "INSERT OR REPLACE INTO reports (run_id, format, body) VALUES (?, ?, ?)",
                [run_id, format, body],
            )

    def save_report_file(self, run_id: int, format: str, path: Path) -> None:
        """`save_report` of a report rendered into a UTF-8 file, copied in without being read
        whole (SQLite's incremental blob writes).

        The body is stored as the file's UTF-8 bytes (a BLOB), not as TEXT: SQLite has no
        "zero text" to fill in place, and casting a zeroblob to TEXT makes it whole in memory,
        which at 100k links was twice the 80 MB JSON report. Every read here asks for bytes
        (`CAST(body AS BLOB)`), and `CAST(body AS TEXT)` reads it as text in SQL."""
        size = path.stat().st_size
        sql = "INSERT OR REPLACE INTO reports (run_id, format, body) VALUES (?, ?, zeroblob(?))"
        with self._transaction(f"save the {format} report of run {run_id}") as db:
            self._require_run(db, run_id, running=False)
            row_id = db.conn.execute(sql, [run_id, format, size]).lastrowid
            assert row_id is not None  # an INSERT sets it
            with db.conn.blobopen("reports", "body", row_id) as blob, path.open("rb") as source:
                while chunk := source.read(REPORT_CHUNK_BYTES):
                    blob.write(chunk)

    # --- reads -----------------------------------------------------------------------------

    def previous_observation(self, resource_id: str, before_run_id: int) -> Observation | None:
        """The latest observation of a resource from a complete run before `before_run_id`."""
        # A run that could not read the resource (unknown, error) has nothing to compare with.
        sql = (
            f"{_COMPLETE_OBSERVATIONS} AND o.run_id < ? AND o.outcome NOT IN ('unknown', 'error')"
            " ORDER BY o.run_id DESC LIMIT 1"
        )
        rows = self._select("read observations", sql, [resource_id, before_run_id])
        return self._parse("observations", rows[0], observation_from_row) if rows else None

    def resource_history(self, resource_id: str) -> list[Observation]:
        """Every observation of a resource from complete runs, oldest run first."""
        sql = f"{_COMPLETE_OBSERVATIONS} ORDER BY o.run_id"
        rows = self._select("read observations", sql, [resource_id])
        return [self._parse("observations", row, observation_from_row) for row in rows]

    def load_observations(self, run_id: int) -> list[Observation]:
        """The observations of one run, in the order they were saved."""
        sql = "SELECT * FROM observations WHERE run_id = ? ORDER BY id"
        rows = self._select("read observations", sql, [run_id])
        return [self._parse("observations", row, observation_from_row) for row in rows]

    def link_state(self, url: str) -> LinkCheck | None:
        """The latest check of a URL from a complete run (carries failed_runs, first_failed_at)."""
        rows = self._select("read link checks", _LATEST_COMPLETE_CHECK, [url])
        return self._parse("link_checks", rows[0], link_check_from_row) if rows else None

    def link_states(self, urls: Iterable[str]) -> dict[str, LinkCheck]:
        """`link_state` of many URLs in one query, without `found_on`, `anchors` and
        `found_as` (a streak needs none); URLs never checked are absent."""
        rows = self._select("read link checks", _LATEST_COMPLETE_CHECKS, [json.dumps(list(urls))])
        return {row["url"]: self._parse("link_checks", row, link_check_from_row) for row in rows}

    def load_link_checks(self, run_id: int) -> list[LinkCheck]:
        """The link checks of one run, in the order they were saved."""
        sql = _RUN_CHECKS
        rows = self._select("read link checks", sql, [run_id])
        return [self._parse("link_checks", row, link_check_from_row) for row in rows]

    def load_validators(self, urls: Iterable[str] | None = None) -> dict[str, Validators]:
        """Stored validators of those URLs that have any (of every URL when `urls` is None)."""
        if urls is None:
            rows = self._select("read validators", "SELECT * FROM validators")
        else:
            sql = "SELECT * FROM validators WHERE url IN (SELECT value FROM json_each(?))"
            rows = self._select("read validators", sql, [json.dumps(list(urls))])
        return {row["url"]: self._parse("validators", row, validators_from_row) for row in rows}

    def load_run(self, run_id: int) -> Run:
        """One run, whatever its status (`finished_at` is None unless it completed)."""
        rows = self._select("read runs", "SELECT * FROM runs WHERE id = ?", [run_id])
        if not rows:
            raise NoSuchRunError(f"{self.path}: run {run_id} does not exist")
        return self._parse("runs", rows[0], run_from_row)

    def list_runs(self, limit: int | None = None) -> list[Run]:
        """Complete runs, newest first."""
        sql = "SELECT * FROM runs WHERE status = 'complete' ORDER BY id DESC LIMIT ?"
        rows = self._select("read runs", sql, [-1 if limit is None else limit])
        return [self._parse("runs", row, run_from_row) for row in rows]

    def latest_run(self) -> Run | None:
        """The newest complete run, if any."""
        runs = self.list_runs(limit=1)
        return runs[0] if runs else None

    def load_report(self, run_id: int, format: str) -> str | None:
        """A stored report's body, byte for byte as saved."""
        data = self.load_report_bytes(run_id, format)
        return data.decode("utf-8") if data is not None else None

    def load_report_bytes(self, run_id: int, format: str) -> bytes | None:
        """A stored report's body as UTF-8, for writing it out without decoding it."""
        sql = "SELECT CAST(body AS BLOB) AS body FROM reports WHERE run_id = ? AND format = ?"
        rows = self._select("read reports", sql, [run_id, format])
        return bytes(rows[0]["body"]) if rows else None

    def report_chunks(self, run_id: int, format: str) -> Iterator[bytes] | None:
        """A stored report's UTF-8 bytes in pieces of `REPORT_CHUNK_BYTES`, never held whole
        (a deep run's JSON report runs to tens of megabytes); None if there is none. SQLite
        reads a TEXT body as its bytes the same way as a BLOB one."""
        sql = "SELECT rowid AS row_id FROM reports WHERE run_id = ? AND format = ?"
        rows = self._select("read reports", sql, [run_id, format])
        if not rows:
            return None
        return self._blob_chunks(rows[0]["row_id"], f"read the {format} report of run {run_id}")

    def _blob_chunks(self, row_id: int, action: str) -> Iterator[bytes]:
        with (
            translated(self.path, action),
            self._db.conn.blobopen("reports", "body", row_id, readonly=True) as blob,
        ):
            while chunk := blob.read(REPORT_CHUNK_BYTES):
                yield chunk

    # --- the writer lock -------------------------------------------------------------------

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    @contextmanager
    def lock(
        self, timeout_seconds: float, stopping: Callable[[], bool] | None = None
    ) -> Iterator[None]:
        """Hold the exclusive writer lock, waiting up to `timeout_seconds` (StoreBusyError);
        a wait that `stopping` ends raises StoppingError (issue 11: a daemon asked to stop)."""
        with open_lock_file(self.lock_path) as handle:
            self._acquire(handle, timeout_seconds, stopping)
            # The working file this connection attached at opening may have been deleted by
            # the writer it waited for: attach the one there is now.
            self._attach_work(writer=True)
            handle.truncate(0)
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            self._locked = True
            try:
                yield
            finally:
                self._locked = False
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _acquire(
        self, handle: IO[str], timeout_seconds: float, stopping: Callable[[], bool] | None
    ) -> None:
        deadline = time.monotonic() + timeout_seconds
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if stopping is not None and stopping():
                    raise StoppingError(
                        f"stopping while waiting for {self.lock_path}: no run started"
                    ) from None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StoreBusyError(self._busy_message(handle, timeout_seconds)) from None
                time.sleep(min(_LOCK_POLL_SECONDS, remaining))
            except OSError as exc:
                raise StoreError(f"{self.lock_path}: cannot lock: {exc}") from exc
            else:
                return

    def _busy_message(self, handle: IO[str], timeout_seconds: float) -> str:
        # Read through the handle already open: the path could name another file by now.
        try:
            handle.seek(0)
            holder = handle.read(32).strip()
        except (OSError, UnicodeDecodeError):
            holder = ""
        pid = f" (pid {holder})" if holder.isdigit() else ""
        return (
            f"database {self.path} is busy: another ocwwatch check or daemon is running{pid};"
            f" waited {timeout_seconds:g}s for {self.lock_path}. Try again when it has finished."
        )


def _upsert_validators(db: Database, values: Mapping[str, Validators], now: datetime) -> None:
    updated_at = format_time(now)
    rows = [
        {"url": url, "etag": v.etag, "last_modified": v.last_modified, "updated_at": updated_at}
        for url, v in values.items()
    ]
    if rows:
        db.table("validators").upsert_all(rows, pk="url")
