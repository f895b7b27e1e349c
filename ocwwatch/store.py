"""SQLite storage for ocwwatch (via sqlite-utils): schema migrations, one transaction per run step,
history that is never overwritten, and the one-writer-at-a-time lock.

It stores and returns the records of `ocwwatch.models`; it never fetches, judges or renders.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self, TypeVar

from pydantic import BaseModel
from pydantic_core import to_json
from sqlite_utils import Database

from ocwwatch.errors import StoreBusyError, StoreError
from ocwwatch.models import Counts, LinkCheck, Observation, ResourceKind, Run, Validators

Row = dict[str, Any]
T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000
_LOCK_POLL_SECONDS = 0.05
_ABANDONED = "abandoned: the process stopped before the run finished"

_SCHEMA_1 = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'complete', 'failed')),
    offline INTEGER NOT NULL DEFAULT 0 CHECK (offline IN (0, 1)),
    counts TEXT,
    failed_at TEXT,
    failure TEXT
);
CREATE INDEX runs_by_status ON runs (status, id);
CREATE TABLE observations (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id),
    resource_id TEXT NOT NULL,
    url TEXT NOT NULL,
    final_url TEXT,
    http_status INTEGER,
    redirects TEXT NOT NULL,
    redirect_kind TEXT,
    outcome TEXT NOT NULL,
    metadata TEXT NOT NULL,
    promises TEXT NOT NULL,
    changes TEXT NOT NULL,
    suggestion TEXT,
    error TEXT,
    not_modified INTEGER NOT NULL CHECK (not_modified IN (0, 1)),
    observed_at TEXT NOT NULL,
    UNIQUE (resource_id, run_id)
);
CREATE INDEX observations_by_run ON observations (run_id);
CREATE TABLE resources (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    kind TEXT,
    latest_observation_id INTEGER NOT NULL REFERENCES observations (id)
);
CREATE TABLE link_checks (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id),
    url TEXT NOT NULL,
    found_on TEXT NOT NULL,
    state TEXT NOT NULL,
    http_status INTEGER,
    final_url TEXT,
    first_failed_at TEXT,
    failed_runs INTEGER NOT NULL DEFAULT 0,
    detail TEXT,
    suggestion TEXT,
    UNIQUE (url, run_id)
);
CREATE INDEX link_checks_by_run ON link_checks (run_id);
CREATE TABLE links (
    url TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    http_status INTEGER,
    final_url TEXT,
    first_failed_at TEXT,
    failed_runs INTEGER NOT NULL DEFAULT 0,
    last_run_id INTEGER NOT NULL REFERENCES runs (id)
);
CREATE TABLE validators (
    url TEXT PRIMARY KEY,
    etag TEXT,
    last_modified TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE reports (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    format TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (run_id, format)
);
"""


def _migrate_1_initial(db: Database) -> None:
    db.executescript(_SCHEMA_1)


# Append only: a migration's position (from 1) is the schema version it brings the database to.
MIGRATIONS: tuple[Callable[[Database], None], ...] = (_migrate_1_initial,)

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
_LATEST_COMPLETE_CHECK = """
SELECT c.* FROM link_checks AS c JOIN runs AS r ON r.id = c.run_id
WHERE r.status = 'complete' AND c.url = ? ORDER BY c.run_id DESC LIMIT 1
"""


# --- values <-> rows -----------------------------------------------------------------------


def _format_time(value: datetime) -> str:
    """An aware datetime as stored: ISO-8601 UTC with microseconds and a "Z"."""
    if value.utcoffset() is None:
        raise StoreError(f"cannot store naive datetime {value.isoformat()}: give it a timezone")
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _parse_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    if value.utcoffset() is None:
        raise ValueError(f"time {text!r} has no timezone")
    return value.astimezone(UTC)


def _to_json(value: BaseModel | tuple[BaseModel, ...] | None) -> str | None:
    return None if value is None else to_json(value).decode()


def _from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _observation_row(run_id: int, observation: Observation) -> Row:
    return {
        "run_id": run_id,
        "resource_id": observation.id,
        "url": observation.url,
        "final_url": observation.final_url,
        "http_status": observation.http_status,
        "redirects": _to_json(observation.redirects),
        "redirect_kind": observation.redirect_kind,
        "outcome": observation.outcome.value,
        "metadata": _to_json(observation.metadata),
        "promises": _to_json(observation.promises),
        "changes": _to_json(observation.changes),
        "suggestion": _to_json(observation.suggestion),
        "error": observation.error,
        "not_modified": int(observation.not_modified),
        "observed_at": _format_time(observation.observed_at),
    }


def _observation_from_row(row: Row) -> Observation:
    values = {key: row[key] for key in ("url", "final_url", "http_status", "redirect_kind")}
    values |= {key: _from_json(row[key]) for key in ("redirects", "promises", "changes")}
    return Observation.model_validate(
        values
        | {
            "id": row["resource_id"],
            "outcome": row["outcome"],
            "metadata": _from_json(row["metadata"]),
            "suggestion": _from_json(row["suggestion"]),
            "error": row["error"],
            "not_modified": bool(row["not_modified"]),
            "observed_at": _parse_time(row["observed_at"]),
        }
    )


def _link_check_row(run_id: int, check: LinkCheck) -> Row:
    first_failed_at = check.first_failed_at and _format_time(check.first_failed_at)
    return {
        "run_id": run_id,
        "url": check.url,
        "found_on": json.dumps(check.found_on, ensure_ascii=False),
        "state": check.state.value,
        "http_status": check.http_status,
        "final_url": check.final_url,
        "first_failed_at": first_failed_at,
        "failed_runs": check.failed_runs,
        "detail": check.detail,
        "suggestion": _to_json(check.suggestion),
    }


def _link_check_from_row(row: Row) -> LinkCheck:
    values = {key: row[key] for key in ("url", "state", "http_status", "final_url", "detail")}
    return LinkCheck.model_validate(
        values
        | {
            "found_on": _from_json(row["found_on"]),
            "first_failed_at": _parse_time(row["first_failed_at"]),
            "failed_runs": row["failed_runs"],
            "suggestion": _from_json(row["suggestion"]),
        }
    )


def _validators_from_row(row: Row) -> Validators:
    return Validators(etag=row["etag"], last_modified=row["last_modified"])


def _run_from_row(row: Row) -> Run:
    counts = Counts.model_validate_json(row["counts"]) if row["counts"] else Counts()
    return Run.model_validate(
        {
            "id": row["id"],
            "started_at": _parse_time(row["started_at"]),
            "finished_at": _parse_time(row["finished_at"]),
            "offline": bool(row["offline"]),
            "counts": counts,
        }
    )


# --- errors --------------------------------------------------------------------------------


@contextmanager
def _translated(path: Path, action: str) -> Iterator[None]:
    """Turn sqlite3 errors into StoreError (StoreBusyError when SQLite gave up waiting)."""
    try:
        yield
    except sqlite3.Error as exc:
        code = getattr(exc, "sqlite_errorcode", None)
        kind = (
            StoreBusyError if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) else StoreError
        )
        raise kind(f"{path}: cannot {action}: {exc}") from exc


class Store:
    """The ocwwatch database. Open with `Store.open`; use as a context manager or `close()`.

    `resources` and `links` point at the latest row written, whatever became of its run; the
    reads that judge (`previous_observation`, `link_state`, `latest_run`...) use complete runs only.
    """

    def __init__(self, path: Path, db: Database) -> None:
        self.path = path
        self._db = db
        self._locked = False

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (creating it and its folder if needed) and migrate the database at `path`."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{path}: cannot create its folder: {exc}") from exc
        with _translated(path, "open the database"):
            db = Database(path, execute_plugins=False)
        store = cls(path, db)
        try:
            store._configure()
            store._migrate()
        except BaseException:
            db.close()
            raise
        return store

    def close(self) -> None:
        with _translated(self.path, "close the database"):
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- setup -----------------------------------------------------------------------------

    def _configure(self) -> None:
        with _translated(self.path, "configure the database"):
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.enable_wal()

    def _migrate(self) -> None:
        with self._transaction("migrate the schema") as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS migrations "
                "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            applied = {row["version"] for row in db.query("SELECT version FROM migrations")}
            newest = max(applied, default=0)
            if newest > len(MIGRATIONS):
                raise StoreError(
                    f"{self.path}: schema version {newest} is newer than this ocwwatch knows"
                    f" ({len(MIGRATIONS)}); upgrade ocwwatch or use another database"
                )
            for version, migrate in enumerate(MIGRATIONS, start=1):
                if version not in applied:
                    migrate(db)
                    db.table("migrations").insert(
                        {"version": version, "applied_at": _format_time(datetime.now(UTC))}
                    )

    def schema_version(self) -> int:
        """The newest migration applied to this database."""
        rows = self._select("read the schema version", "SELECT max(version) AS v FROM migrations")
        return int(rows[0]["v"] or 0)

    # --- plumbing --------------------------------------------------------------------------

    @contextmanager
    def _transaction(self, action: str) -> Iterator[Database]:
        """One write transaction; IMMEDIATE so that it waits for other writers up front."""
        with _translated(self.path, action):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.commit()
            except BaseException:
                self._db.rollback()
                raise

    def _select(self, action: str, sql: str, params: Sequence[object] = ()) -> list[Row]:
        with _translated(self.path, action):
            return list(self._db.query(sql, list(params)))

    def _parse(self, table: str, row: Row, build: Callable[[Row], T]) -> T:
        try:
            return build(row)
        except (ValueError, TypeError, KeyError) as exc:
            row_id = row.get("id", row.get("url"))
            raise StoreError(
                f"{self.path}: {table} row {row_id} does not read back (edited by hand?): {exc}"
            ) from exc

    def _require_run(self, db: Database, run_id: int, *, running: bool) -> None:
        row = next(db.query("SELECT status FROM runs WHERE id = ?", [run_id]), None)
        if row is None:
            raise StoreError(f"{self.path}: run {run_id} does not exist")
        if running and row["status"] != "running":
            raise StoreError(f"{self.path}: run {run_id} is {row['status']}, no longer running")

    # --- writes ----------------------------------------------------------------------------

    def start_run(self, now: datetime) -> int:
        """Record a new run as 'running' and return its id."""
        row = {"started_at": _format_time(now), "status": "running"}
        with self._transaction("start a run") as db:
            run_id = db.table("runs").insert(row).last_rowid
        assert isinstance(run_id, int)
        return run_id

    def save_observation(
        self, run_id: int, observation: Observation, *, kind: ResourceKind | None = None
    ) -> None:
        """Add one resource's observation to the history and point `resources` at it."""
        row = _observation_row(run_id, observation)
        kind_value = kind.value if kind is not None else None
        with self._transaction(f"save observation of {observation.id!r} in run {run_id}") as db:
            self._require_run(db, run_id, running=True)
            observation_id = db.table("observations").insert(row).last_rowid
            db.execute(
                _UPSERT_RESOURCE, [observation.id, observation.url, kind_value, observation_id]
            )

    def save_link_checks(self, run_id: int, checks: Sequence[LinkCheck]) -> None:
        """Add link checks to the history (one per URL per run) and update `links`."""
        rows = [_link_check_row(run_id, check) for check in checks]
        latest_keys = ("url", "state", "http_status", "final_url", "first_failed_at", "failed_runs")
        latest = [{key: row[key] for key in latest_keys} | {"last_run_id": run_id} for row in rows]
        with self._transaction(f"save link checks of run {run_id}") as db:
            self._require_run(db, run_id, running=True)
            db.table("link_checks").insert_all(rows)
            db.table("links").upsert_all(latest, pk="url")

    def save_validators(self, values: Mapping[str, Validators], now: datetime) -> None:
        """Remember each URL's ETag and Last-Modified for the next conditional request."""
        updated_at = _format_time(now)
        rows = [
            {"url": url, "etag": v.etag, "last_modified": v.last_modified, "updated_at": updated_at}
            for url, v in values.items()
        ]
        with self._transaction("save validators") as db:
            db.table("validators").upsert_all(rows, pk="url")

    def finish_run(self, run_id: int, now: datetime, counts: Counts, offline: bool) -> Run:
        """Mark a running run complete with its counts; return it as stored."""
        updates = {
            "finished_at": _format_time(now),
            "status": "complete",
            "offline": int(offline),
            "counts": counts.model_dump_json(),
        }
        with self._transaction(f"finish run {run_id}") as db:
            self._require_run(db, run_id, running=True)
            db.table("runs").update(run_id, updates)
        return self.load_run(run_id)

    def fail_run(self, run_id: int, now: datetime, reason: str) -> None:
        """Mark a running run failed, with why; it is never reported as complete."""
        updates = {"status": "failed", "failed_at": _format_time(now), "failure": reason}
        with self._transaction(f"fail run {run_id}") as db:
            self._require_run(db, run_id, running=True)
            db.table("runs").update(run_id, updates)

    def abandon_stale_runs(self, now: datetime) -> list[int]:
        """Mark failed every run still 'running' (a crash); needs `lock()`. Returns their ids."""
        if not self._locked:
            raise StoreError(f"{self.path}: abandon_stale_runs() must be called inside lock()")
        failed_at = _format_time(now)
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
        row = {"run_id": run_id, "format": format, "body": body}
        with self._transaction(f"save the {format} report of run {run_id}") as db:
            self._require_run(db, run_id, running=False)
            db.table("reports").upsert(row, pk=("run_id", "format"))

    # --- reads -----------------------------------------------------------------------------

    def previous_observation(self, resource_id: str, before_run_id: int) -> Observation | None:
        """The latest observation of a resource from a complete run before `before_run_id`."""
        sql = f"{_COMPLETE_OBSERVATIONS} AND o.run_id < ? ORDER BY o.run_id DESC LIMIT 1"
        rows = self._select("read observations", sql, [resource_id, before_run_id])
        return self._parse("observations", rows[0], _observation_from_row) if rows else None

    def resource_history(self, resource_id: str) -> list[Observation]:
        """Every observation of a resource from complete runs, oldest run first."""
        sql = f"{_COMPLETE_OBSERVATIONS} ORDER BY o.run_id"
        rows = self._select("read observations", sql, [resource_id])
        return [self._parse("observations", row, _observation_from_row) for row in rows]

    def load_observations(self, run_id: int) -> list[Observation]:
        """The observations of one run, in the order they were saved."""
        sql = "SELECT * FROM observations WHERE run_id = ? ORDER BY id"
        rows = self._select("read observations", sql, [run_id])
        return [self._parse("observations", row, _observation_from_row) for row in rows]

    def link_state(self, url: str) -> LinkCheck | None:
        """The latest check of a URL from a complete run (carries failed_runs, first_failed_at)."""
        rows = self._select("read link checks", _LATEST_COMPLETE_CHECK, [url])
        return self._parse("link_checks", rows[0], _link_check_from_row) if rows else None

    def load_link_checks(self, run_id: int) -> list[LinkCheck]:
        """The link checks of one run, in the order they were saved."""
        sql = "SELECT * FROM link_checks WHERE run_id = ? ORDER BY id"
        rows = self._select("read link checks", sql, [run_id])
        return [self._parse("link_checks", row, _link_check_from_row) for row in rows]

    def load_validators(self, urls: Iterable[str] | None = None) -> dict[str, Validators]:
        """Stored validators of those URLs that have any (of every URL when `urls` is None)."""
        if urls is None:
            rows = self._select("read validators", "SELECT * FROM validators")
        else:
            sql = "SELECT * FROM validators WHERE url IN (SELECT value FROM json_each(?))"
            rows = self._select("read validators", sql, [json.dumps(list(urls))])
        return {row["url"]: self._parse("validators", row, _validators_from_row) for row in rows}

    def load_run(self, run_id: int) -> Run:
        """One run, whatever its status (`finished_at` is None unless it completed)."""
        rows = self._select("read runs", "SELECT * FROM runs WHERE id = ?", [run_id])
        if not rows:
            raise StoreError(f"{self.path}: run {run_id} does not exist")
        return self._parse("runs", rows[0], _run_from_row)

    def list_runs(self, limit: int | None = None) -> list[Run]:
        """Complete runs, newest first."""
        sql = "SELECT * FROM runs WHERE status = 'complete' ORDER BY id DESC LIMIT ?"
        rows = self._select("read runs", sql, [-1 if limit is None else limit])
        return [self._parse("runs", row, _run_from_row) for row in rows]

    def latest_run(self) -> Run | None:
        """The newest complete run, if any."""
        runs = self.list_runs(limit=1)
        return runs[0] if runs else None

    def load_report(self, run_id: int, format: str) -> str | None:
        """A stored report's body, byte for byte as saved."""
        sql = "SELECT body FROM reports WHERE run_id = ? AND format = ?"
        rows = self._select("read reports", sql, [run_id, format])
        return str(rows[0]["body"]) if rows else None

    # --- the writer lock -------------------------------------------------------------------

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    @contextmanager
    def lock(self, timeout_seconds: float) -> Iterator[None]:
        """Hold the exclusive writer lock, waiting up to `timeout_seconds` (StoreBusyError)."""
        try:
            handle = self.lock_path.open("a+", encoding="utf-8")
        except OSError as exc:
            raise StoreError(f"{self.lock_path}: cannot open the lock file: {exc}") from exc
        with handle:
            self._acquire(handle, timeout_seconds)
            handle.truncate(0)
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            self._locked = True
            try:
                yield
            finally:
                self._locked = False
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _acquire(self, handle: IO[str], timeout_seconds: float) -> None:
        deadline = time.monotonic() + timeout_seconds
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StoreBusyError(self._busy_message(timeout_seconds)) from None
                time.sleep(min(_LOCK_POLL_SECONDS, remaining))
            except OSError as exc:
                raise StoreError(f"{self.lock_path}: cannot lock: {exc}") from exc
            else:
                return

    def _busy_message(self, timeout_seconds: float) -> str:
        try:
            holder = self.lock_path.read_text(encoding="utf-8").strip()
        except OSError:
            holder = ""
        pid = f" (pid {holder})" if holder.isdigit() else ""
        return (
            f"database {self.path} is busy: another ocwwatch check or daemon is running{pid};"
            f" waited {timeout_seconds:g}s for {self.lock_path}. Try again when it has finished."
        )
