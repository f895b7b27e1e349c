"""The database connection under every Store: opening, configuring, migrating, transactions.

It owns the one place sqlite3 errors become StoreError. It knows no records: the Store's
methods (in `ocwwatch.store` and `ocwwatch.store.crawl`) read and write those.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

from sqlite_utils import Database

from ocwwatch.errors import ForeignDatabaseError, StoreBusyError, StoreError
from ocwwatch.store.rows import Row, format_time
from ocwwatch.store.schema import MIGRATIONS, WORK_TABLES

T = TypeVar("T")
log = logging.getLogger(__name__)

DEFAULT_BUSY_TIMEOUT_SECONDS = 30.0  # [store] busy_timeout_seconds
# PRAGMA application_id: "ocww" in ASCII. A database without it that holds tables other than
# ocwwatch's is another program's, and is refused rather than extended (issue 11).
APPLICATION_ID = 0x6F637777
LOW_SPACE_BYTES = 1024 * 1024  # free space under which a write failure is blamed on the disk
WORK_SCHEMA = "crawl"  # the working file's name in SQL (schema.WORK_TABLES)
WORK_SUFFIX = "-crawl"


def work_path(path: Path) -> Path:
    """The file beside the database that holds a deep run's working rows while it lasts."""
    return path.with_name(path.name + WORK_SUFFIX)


@contextmanager
def translated(path: Path, action: str) -> Iterator[None]:
    """Turn sqlite3 errors into StoreError (StoreBusyError when SQLite gave up waiting)."""
    try:
        yield
    except sqlite3.Error as exc:
        code = getattr(exc, "sqlite_errorcode", None)
        kind = (
            StoreBusyError if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) else StoreError
        )
        note = _damage_note(code, path) or _disk_space_note(path, exc)
        raise kind(f"{path}: cannot {action}: {exc}{note}") from exc


def _damage_note(code: int | None, path: Path) -> str:
    """A damaged or foreign file: say what to do, not only SQLite's words (issue 11)."""
    primary = None if code is None else code & 0xFF  # extended codes keep the primary below
    if primary not in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return ""
    if path.name.endswith(WORK_SUFFIX):
        return "; it is a deep run's working file: delete it while no check runs"
    if primary == sqlite3.SQLITE_CORRUPT:
        return (
            "; the file is damaged: restore it from a backup, or move it aside (with its -wal"
            " and -shm files) and a new history starts (if the damage is in the deep run's"
            f" working file {path.name}{WORK_SUFFIX}, deleting that one while no check runs is"
            " enough)"
        )
    return "; it is no SQLite database: name another file in `database` or with --db"


def damaged(exc: StoreError) -> bool:
    """Whether SQLite found the file damaged or no database at all (not busy, not full)."""
    code = getattr(exc.__cause__, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _disk_space_note(path: Path, exc: sqlite3.Error) -> str:
    """SQLite calls a full disk "disk I/O error" when it cannot even create its -shm file:
    say so when the disk is (nearly) full, the cause a reader can act on."""
    if "disk" not in str(exc):
        return ""
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        return ""
    if free >= LOW_SPACE_BYTES:
        return ""
    return f" (its disk is full: {free // 1024} kB free)"


class StoreBase:
    """An open, migrated database and the plumbing its readers and writers share."""

    def __init__(
        self, path: Path, db: Database, busy_timeout_seconds: float = DEFAULT_BUSY_TIMEOUT_SECONDS
    ) -> None:
        self.path = path
        self._db = db
        self._locked = False
        self.busy_timeout_seconds = busy_timeout_seconds

    @classmethod
    def open(
        cls, path: Path, *, busy_timeout_seconds: float = DEFAULT_BUSY_TIMEOUT_SECONDS
    ) -> Self:
        """Open (creating it and its folder if needed) and migrate the database at `path`.

        `busy_timeout_seconds`: how long a statement waits for another connection's lock."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{path}: cannot create its folder: {exc}") from exc
        with translated(path, "open the database"):
            db = Database(path, execute_plugins=False)
        store = cls(path, db, busy_timeout_seconds)
        try:
            store._configure()
            store._refuse_foreign()
            store._migrate()
            store._attach_work()
        except BaseException:
            db.close()
            raise
        return store

    @classmethod
    def open_read_only(cls, path: Path) -> Self:
        """Open the database at `path` for reading only (`report`, `history`): no migration,
        no write lock, so it works beside a running check and on a read-only mount (issue 11).
        """
        if not path.is_file():
            raise StoreError(f"{path}: no database yet; run `ocwwatch check` first")
        db = _connect_read_only(path)
        store = cls(path, db)
        try:
            store._refuse_foreign()
            store._attach_work_read_only()
            with translated(path, "read the schema version"):
                rows = list(db.query("SELECT max(version) AS newest FROM migrations"))
        except BaseException:
            db.close()
            raise
        newest = rows[0]["newest"]
        if newest != len(MIGRATIONS):
            db.close()
            fix = (
                "upgrade ocwwatch or use another database"
                if isinstance(newest, int) and newest > len(MIGRATIONS)
                else "run `ocwwatch check` once to bring it up to date"
            )
            versions = f"schema version {newest} is not this ocwwatch's ({len(MIGRATIONS)})"
            raise StoreError(f"{path}: {versions}; {fix}")
        return store

    def close(self) -> None:
        with translated(self.path, "close the database"):
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
        with translated(self.path, "configure the database"):
            self._db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_seconds * 1000)}")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.enable_wal()
            # WAL's own recommendation: no fsync per commit (a deep run commits every few
            # hundred links); a crash of this process loses nothing committed, a power cut may
            # roll back the last transactions but never corrupts the file (issue 15).
            self._db.execute("PRAGMA synchronous = NORMAL")

    @property
    def work_path(self) -> Path:
        return work_path(self.path)

    def _attach_work(self, *, writer: bool = False) -> None:
        """Attach the working file (creating it and its tables if need be), afresh: another
        process may have replaced it since this connection last looked (`lock` calls this
        again, with `writer`, once the store is this process's to write).

        A file that does not read (a power cut in the middle of a write: it is never fsynced)
        is started anew when its rows are worth nothing: no run is running, or this process
        holds the writer lock, so that any run still marked running is one a crash left. Else
        it is left unattached until then, and only a deep check's own steps need it."""
        try:
            self._open_work()
        except StoreError as exc:
            if not damaged(exc):
                raise
            self._detach_work()
            if not writer and self._running_run():
                log.warning("%s; it is started anew once a check holds the lock", exc)
                return
            log.warning("%s; started anew", exc)
            self._delete_work_file()
            self._open_work()

    def _open_work(self) -> None:
        with translated(self.work_path, "open the crawl's working file"):
            self._detach_work()
            self._db.execute(f"ATTACH DATABASE ? AS {WORK_SCHEMA}", [str(self.work_path)])
            # Working rows need no durability: a crash abandons the run they belong to, so
            # nothing is fsynced. The journal lets a failed transaction roll back; on disk, not
            # in memory, where a step's journal of the pages it changed cost 8 MB of peak RSS.
            self._db.execute(f"PRAGMA {WORK_SCHEMA}.journal_mode = TRUNCATE").fetchall()
            self._db.execute(f"PRAGMA {WORK_SCHEMA}.synchronous = OFF")
            for sql in WORK_TABLES:
                self._db.execute(sql)

    def _attach_work_read_only(self) -> None:
        """Attach the working file, if there is one, for reading (a running deep check's
        progress); without it, the crawl's tables are simply absent."""
        path = self.work_path
        if not path.is_file():
            return
        uri = path.resolve().as_uri() + "?mode=ro"
        # A connection that cannot attach it (an immutable one) reads no progress.
        with contextlib.suppress(sqlite3.Error):
            self._db.execute(f"ATTACH DATABASE ? AS {WORK_SCHEMA}", [uri])

    def _detach_work(self) -> None:
        attached = {row[1] for row in self._db.execute("PRAGMA database_list").fetchall()}
        if WORK_SCHEMA in attached:
            self._db.execute(f"DETACH DATABASE {WORK_SCHEMA}")

    def _delete_work_file(self) -> None:
        for path in (self.work_path, self.work_path.with_name(self.work_path.name + "-journal")):
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                raise StoreError(f"{path}: cannot delete the crawl's working file: {exc}") from exc

    def _running_run(self) -> bool:
        with translated(self.path, "read which run is running"):
            sql = "SELECT 1 FROM runs WHERE status = 'running' LIMIT 1"
            return self._db.execute(sql).fetchone() is not None

    def has_work_tables(self) -> bool:
        """Whether the crawl's working tables can be read on this connection."""
        names = {row[1] for row in self._db.execute("PRAGMA database_list").fetchall()}
        return WORK_SCHEMA in names

    def _refuse_foreign(self) -> None:
        """Refuse another program's SQLite file: one not marked ocwwatch's (application_id)
        that holds tables, unless they are an ocwwatch schema from before the mark."""
        with translated(self.path, "read what the database is"):
            mark = next(self._db.query("PRAGMA application_id"))["application_id"]
            tables = set(self._db.table_names())
        if mark == APPLICATION_ID or (
            mark == 0 and (not tables or {"migrations", "runs"} <= tables)
        ):
            return
        named = ", ".join(sorted(tables)[:5]) or "none"
        whose = f"application id {mark:#x}" if mark else f"no ocwwatch mark, tables: {named}"
        raise ForeignDatabaseError(
            f"{self.path}: not an ocwwatch database ({whose}); it is left untouched: "
            "name a new file in the settings' `database` or with --db"
        )

    def _migrate(self) -> None:
        with self._transaction("migrate the schema") as db:
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
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
                        {"version": version, "applied_at": format_time(datetime.now(UTC))}
                    )
            db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")

    def schema_version(self) -> int:
        """The newest migration applied to this database."""
        rows = self._select("read the schema version", "SELECT max(version) AS v FROM migrations")
        return int(rows[0]["v"] or 0)

    # --- plumbing --------------------------------------------------------------------------

    @contextmanager
    def _transaction(self, action: str) -> Iterator[Database]:
        """One write transaction; IMMEDIATE so that it waits for other writers up front."""
        with translated(self.path, action):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.commit()
            except BaseException:
                self._db.rollback()
                raise

    def _execute_outside_transaction(self, action: str, sql: str) -> None:
        """A statement SQLite will not run inside a transaction (VACUUM, a checkpoint)."""
        with translated(self.path, action):
            self._db.execute(sql)

    def _select(self, action: str, sql: str, params: Sequence[object] = ()) -> list[Row]:
        with translated(self.path, action):
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


def _connect_read_only(path: Path) -> Database:
    """A read-only connection. Reading a WAL database needs its -shm file, which a full disk or
    a read-only mount cannot create: then, if no writer left a -wal file, the file is opened as
    immutable (SQLite's way to read such media), else the error stands."""
    uri = path.resolve().as_uri()
    with translated(path, "open the database for reading"):
        connection = sqlite3.connect(f"{uri}?mode=ro", uri=True)
        try:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            connection.close()
            wal = path.with_name(path.name + "-wal")
            if wal.exists() and wal.stat().st_size > 0:
                raise
            connection = sqlite3.connect(f"{uri}?immutable=1", uri=True)
    return Database(connection, execute_plugins=False)
