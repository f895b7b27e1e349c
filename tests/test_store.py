"""Tests of ocwwatch.store: schema and migrations, round trips, history, locking, failures."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

import ocwwatch.store as store_module
from ocwwatch.errors import StoreBusyError, StoreError
from ocwwatch.models import (
    Against,
    Anchor,
    Change,
    ChangeKind,
    Counts,
    CrawledPage,
    CrawlProgress,
    CrawlStep,
    ElementKind,
    FoundAs,
    FrontierEntry,
    Hop,
    Link,
    LinkCheck,
    LinkKind,
    LinkProbe,
    LinkState,
    Metadata,
    NavItem,
    Observation,
    Outcome,
    PageKind,
    PromiseCheck,
    ResourceKind,
    Suggestion,
    Validators,
)
from ocwwatch.pipeline.run import crawl_rows_cleared
from ocwwatch.store import MIGRATIONS, Store
from ocwwatch.store.base import work_path

GOLDEN_SCHEMA = Path(__file__).parent / "fixtures" / "golden" / "schema.sql"
T0 = datetime(2024, 5, 1, 6, 17, tzinfo=UTC)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "ocwwatch.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    with Store.open(db_path) as opened:
        yield opened


def at(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


def observation(
    resource_id: str = "18.01sc", title: str = "Single Variable Calculus", hours: int = 0
) -> Observation:
    return Observation(
        id=resource_id,
        url=f"https://ocw.mit.edu/{resource_id}/",
        outcome=Outcome.OK,
        metadata=Metadata(page_kind=PageKind.OCW_COURSE, title=title),
        observed_at=at(hours),
    )


def full_metadata() -> Metadata:
    return Metadata(
        page_kind=PageKind.OCW_COURSE,
        title="Single Variable Calculus — 微積分",
        course_number="18.01SC",
        term="Fall 2010",
        level=("Undergraduate",),
        instructors=("Prof. David Jerison",),
        departments=("Mathematics",),
        topics=("Calculus", "Differential Equations"),
        units=("Unit 1: Differentiation", "Unit 2: Applications"),
        resource_types=("Lecture Videos", "Problem Sets with Solutions"),
        nav=(NavItem(title="Syllabus", url="/syllabus/", children=(NavItem(title="Calendar"),)),),
        canonical_url="https://ocw.mit.edu/courses/18-01sc/",
        parent_url="https://ocw.mit.edu/courses/",
        file_url="https://ocw.mit.edu/file.pdf",
        content_type="text/html",
        size_bytes=123456,
        sha256="ab" * 32,
        pages=42,
        problems=("nav rendered twice",),
    )


def full_observation() -> Observation:
    return Observation(
        id="18.01sc",
        url="https://ocw.mit.edu/courses/mathematics/18-01sc/",
        final_url="https://ocw.mit.edu/courses/18-01sc/",
        http_status=200,
        redirects=(Hop(url="https://ocw.mit.edu/courses/mathematics/18-01sc/", status=301),),
        redirect_kind="permanent",
        outcome=Outcome.MOVED,
        metadata=full_metadata(),
        promises=(PromiseCheck(text="Mathlets", holds=False, missing=("Java applets",)),),
        changes=(
            Change(
                field="units",
                kind=ChangeKind.ADDED,
                before=None,
                after="Unit 2",
                against=Against.PREVIOUS,
            ),
        ),
        suggestion=Suggestion(url="https://ocw.mit.edu/courses/18-01sc/", reason="moved (301)"),
        error="partial read",
        not_modified=True,
        observed_at=datetime(2024, 5, 1, 8, 17, 3, 250, tzinfo=timezone(timedelta(hours=2))),
    )


def full_link_check() -> LinkCheck:
    return LinkCheck(
        url="https://ocw.mit.edu/ans7870/resources/Strang/Edited/Calculus/Calculus.pdf",
        found_on=("https://example.org/list", "https://example.org/other"),
        http_status=200,
        state=LinkState.DEAD,
        final_url="https://ocw.mit.edu/courses/res-18-001-calculus-fall-2023/pages/textbook/",
        first_failed_at=at(-24),
        failed_runs=2,
        suggestion=Suggestion(url="https://ocw.mit.edu/full_book.pdf", reason="the PDF moved"),
        detail="PDF link lands on HTML",
        kind=LinkKind.FILE,
        redirects=(Hop(url="https://ocw.mit.edu/ans7870/Calculus.pdf", status=301),),
        anchors=(Anchor(page="https://example.org/list", text="Strang’s Calculus (PDF)"),),
        found_as=(FoundAs(), FoundAs(element="embed[src]", kind=ElementKind.OBJECT)),
    )


def complete_run(store: Store, hours: int, *observations: Observation) -> int:
    run_id = store.start_run(at(hours))
    for item in observations:
        store.save_observation(run_id, item)
    store.finish_run(run_id, at(hours) + timedelta(minutes=1), Counts(), offline=False)
    return run_id


def schema_sql(path: Path) -> str:
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
    return "".join(f"{sql};\n\n" for sql in sorted(row[0] for row in rows))


def query(path: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


# --- opening, schema, migrations -----------------------------------------------------------


def test_open_creates_the_folder_and_uses_wal(db_path: Path) -> None:
    """A new database is created with its folder and left in WAL journal mode."""
    Store.open(db_path).close()
    assert query(db_path, "PRAGMA journal_mode") == [("wal",)]


def test_commits_do_not_fsync(store: Store) -> None:
    """Issue 15: WAL with synchronous NORMAL (1), not FULL (2): no fsync per crawl step."""
    assert [row["synchronous"] for row in store._db.query("PRAGMA synchronous")] == [1]


def test_migrations_are_idempotent(db_path: Path) -> None:
    """Opening a migrated database again applies nothing and leaves the schema unchanged."""
    Store.open(db_path).close()
    before = schema_sql(db_path)
    with Store.open(db_path) as store:
        assert store.schema_version() == len(MIGRATIONS)
    assert schema_sql(db_path) == before
    versions = [(n,) for n in range(1, len(MIGRATIONS) + 1)]
    assert query(db_path, "SELECT version FROM migrations ORDER BY version") == versions


def test_schema_matches_golden(db_path: Path) -> None:
    """The migrated schema equals tests/fixtures/golden/schema.sql (OCWWATCH_REGEN_GOLDEN=1)."""
    Store.open(db_path).close()
    # The database's schema, then that of the file beside it for a deep run's working rows.
    actual = schema_sql(db_path) + "-- " + work_path(db_path).name + "\n\n"
    actual += schema_sql(work_path(db_path))
    if os.environ.get("OCWWATCH_REGEN_GOLDEN") == "1":
        GOLDEN_SCHEMA.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN_SCHEMA.write_text(actual, encoding="utf-8")
    assert actual == GOLDEN_SCHEMA.read_text(encoding="utf-8")


def test_newer_schema_version_is_refused(db_path: Path) -> None:
    """A database migrated by a newer ocwwatch gives a StoreError naming both versions."""
    Store.open(db_path).close()
    with closing(sqlite3.connect(db_path)) as conn, conn:
        conn.execute("INSERT INTO migrations VALUES (99, '2030-01-01T00:00:00.000000Z')")
    newest = rf"schema version 99 is newer .*\({len(MIGRATIONS)}\)"
    with pytest.raises(StoreError, match=newest) as caught:
        Store.open(db_path)
    assert str(db_path) in str(caught.value)
    # `report` and `history` read it as it is: they too say to upgrade, not to run a check
    # that refuses it.
    with pytest.raises(StoreError, match="upgrade ocwwatch or use another database"):
        Store.open_read_only(db_path)


def test_garbage_file_gives_store_error_naming_the_path(db_path: Path) -> None:
    """A file that is not a SQLite database gives a StoreError naming it."""
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is not a database\n" * 100)
    with pytest.raises(StoreError, match="not a database") as caught:
        Store.open(db_path)
    assert str(db_path) in str(caught.value)


def test_unopenable_path_gives_store_error_naming_the_path(tmp_path: Path) -> None:
    """A path SQLite cannot open (here a folder) gives a StoreError naming it."""
    with pytest.raises(StoreError) as caught:
        Store.open(tmp_path)
    assert str(tmp_path) in str(caught.value)


# --- round trips ---------------------------------------------------------------------------


def test_observation_round_trips_with_every_field(store: Store) -> None:
    """An observation with every field set reads back equal, its time as aware UTC."""
    saved = full_observation()
    run_id = store.start_run(T0)
    store.save_observation(run_id, saved, kind=ResourceKind.OCW_COURSE)
    [loaded] = store.load_observations(run_id)
    assert loaded == saved
    assert loaded.observed_at.tzinfo == UTC


def test_link_check_round_trips_with_every_field(store: Store) -> None:
    """A link check with every field set reads back equal."""
    saved = full_link_check()
    run_id = store.start_run(T0)
    store.save_link_checks(run_id, [saved])
    assert store.load_link_checks(run_id) == [saved]


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("first_failed_at", "2024-05-01T06:17:00", "has no timezone"),
        ("state", "fine", "state"),
        ("found_on", '{"not": "a list"}', "found_on"),
        ("found_on", "not json", "found_on"),
        ("suggestion", '{"url": ', "suggestion"),
    ],
)
def test_a_link_check_edited_by_hand_is_named_not_read_as_something_else(
    store: Store, column: str, value: str, reason: str
) -> None:
    """A row that no longer reads as a check is a StoreError naming the table and the row,
    whether it is read with the others or by a report's pass over the kept checks; a JSON
    column that is not JSON at all too (SQLite's own error would name no row)."""
    run_id = store.start_run(T0)
    store.save_link_checks(run_id, [full_link_check()])
    with sqlite3.connect(store.path) as db:
        db.execute(f"UPDATE link_checks SET {column} = ?", [value])
    with pytest.raises(StoreError, match=f"(?s)link_checks row 1 does not read back.*{reason}"):
        store.load_link_checks(run_id)
    with pytest.raises(StoreError, match="does not read back"):
        list(store.kept_checks(run_id).all(anchors=False))


def test_validators_round_trip(store: Store) -> None:
    """Saved validators load back for the URLs asked; unknown URLs are absent."""
    values = {
        "https://a.example/": Validators(etag='W/"abc"', last_modified=None),
        "https://b.example/": Validators(etag=None, last_modified="Wed, 01 May 2024 06:17:00 GMT"),
    }
    store.save_validators(values, T0)
    loaded = store.load_validators(["https://a.example/", "https://b.example/", "https://c/"])
    assert loaded == values


def test_all_validators_load_without_a_url_list(store: Store) -> None:
    """load_validators() with no URLs returns every stored URL's validators."""
    values = {"https://a.example/": Validators(etag='"1"'), "https://b.example/": Validators()}
    store.save_validators(values, T0)
    assert store.load_validators() == values


def test_validators_are_replaced_by_newer_ones(store: Store) -> None:
    """Saving validators for a URL again replaces the old ones."""
    store.save_validators({"https://a.example/": Validators(etag='"1"')}, T0)
    store.save_validators({"https://a.example/": Validators(etag='"2"')}, at(1))
    assert store.load_validators(["https://a.example/"]) == {
        "https://a.example/": Validators(etag='"2"')
    }


def test_report_is_stored_byte_for_byte(store: Store) -> None:
    """A report body with non-ASCII text and CRLF line ends reads back identical."""
    body = "# Änderungen — 微積分\r\n\r\n* moved: 18.01SC\n\ttab\u00a0nbsp\r\n"
    run_id = complete_run(store, 0)
    store.save_report(run_id, "markdown", body)
    loaded = store.load_report(run_id, "markdown")
    assert loaded is not None
    assert loaded.encode("utf-8") == body.encode("utf-8")


def test_report_saved_from_a_file_reads_back_identical(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report copied in from its file, in chunks, reads back byte for byte, as text, as
    bytes and in pieces, and replaces an earlier save of the same format. It is stored as its
    UTF-8 bytes, so that it is never made whole in memory, and reads as text in SQL."""
    monkeypatch.setattr(store_module, "REPORT_CHUNK_BYTES", 7)  # many chunks, some mid-character
    body = '{\n  "title": "Änderungen — 微積分"\r\n}\n' * 50
    staged = tmp_path / "report.json"
    staged.write_bytes(body.encode("utf-8"))
    run_id = complete_run(store, 0)
    store.save_report(run_id, "json", "an earlier rendering")
    store.save_report_file(run_id, "json", staged)
    assert store.load_report(run_id, "json") == body
    assert store.load_report_bytes(run_id, "json") == body.encode("utf-8")
    pieces = list(store.report_chunks(run_id, "json") or ())
    assert len(pieces) > 1
    assert b"".join(pieces) == body.encode("utf-8")
    with closing(sqlite3.connect(store.path)) as db:
        assert db.execute("SELECT typeof(body) FROM reports").fetchone() == ("blob",)
        assert db.execute("SELECT CAST(body AS TEXT) FROM reports").fetchone() == (body,)


def test_report_saved_whole_reads_back_in_pieces(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report saved as text reads back in pieces too; a format never saved gives None."""
    monkeypatch.setattr(store_module, "REPORT_CHUNK_BYTES", 5)
    run_id = complete_run(store, 0)
    store.save_report(run_id, "markdown", "# Réport\n")
    assert b"".join(store.report_chunks(run_id, "markdown") or ()) == "# Réport\n".encode()
    assert store.report_chunks(run_id, "html") is None


def test_missing_report_is_none(store: Store) -> None:
    """Asking for a report format that was never saved gives None."""
    run_id = complete_run(store, 0)
    assert store.load_report(run_id, "html") is None


# --- history and runs ----------------------------------------------------------------------


def test_history_keeps_every_run_and_points_resources_at_the_latest(
    store: Store, db_path: Path
) -> None:
    """Two runs keep two observation rows; `resources` points at the newer one."""
    complete_run(store, 0, observation(title="Old title"))
    second = complete_run(store, 24, observation(title="New title", hours=24))
    history = store.resource_history("18.01sc")
    assert [item.metadata.title for item in history] == ["Old title", "New title"]
    latest = query(db_path, "SELECT latest_observation_id FROM resources WHERE id = '18.01sc'")
    newest = query(db_path, f"SELECT id FROM observations WHERE run_id = {second}")
    assert latest == newest


def test_previous_observation_ignores_incomplete_and_later_runs(store: Store) -> None:
    """Only complete runs before the given one count: not crashed, failed or later runs."""
    complete_run(store, 0, observation(title="complete"))
    crashed = store.start_run(at(1))
    store.save_observation(crashed, observation(title="crashed"))
    failed = store.start_run(at(2))
    store.save_observation(failed, observation(title="failed"))
    store.fail_run(failed, at(2), "disk full")
    current = store.start_run(at(3))
    complete_run(store, 4, observation(title="later"))
    previous = store.previous_observation("18.01sc", before_run_id=current)
    assert previous is not None
    assert previous.metadata.title == "complete"


def test_previous_observation_is_none_without_a_complete_run(store: Store) -> None:
    """A resource never observed in a complete run has no previous observation."""
    crashed = store.start_run(T0)
    store.save_observation(crashed, observation())
    assert store.previous_observation("18.01sc", before_run_id=crashed + 1) is None


def test_link_state_is_the_latest_check_of_a_complete_run(store: Store) -> None:
    """link_state returns the newest check from a complete run, ignoring a running one."""
    first = store.start_run(T0)
    store.save_link_checks(first, [full_link_check()])
    store.finish_run(first, at(1), Counts(links=1, dead=1), offline=False)
    running = store.start_run(at(2))
    store.save_link_checks(running, [full_link_check().model_copy(update={"failed_runs": 3})])
    assert store.link_state(full_link_check().url) == full_link_check()
    assert store.link_state("https://never.example/") is None


def test_finish_run_returns_the_stored_run(store: Store) -> None:
    """finish_run stores counts, offline and finish time, and returns the run as stored."""
    run_id = store.start_run(T0)
    counts = Counts(resources=7, links=2, dead=1, moved=5, changed=1)
    run = store.finish_run(run_id, at(1), counts, offline=True)
    assert (run.id, run.started_at, run.finished_at) == (run_id, T0, at(1))
    assert (run.counts, run.offline) == (counts, True)
    assert store.load_run(run_id) == run


def test_list_runs_gives_complete_runs_newest_first(store: Store) -> None:
    """list_runs and latest_run skip running and failed runs; limit caps the list."""
    first = complete_run(store, 0)
    store.start_run(at(1))
    second = complete_run(store, 2)
    store.fail_run(store.start_run(at(3)), at(3), "boom")
    assert [run.id for run in store.list_runs()] == [second, first]
    assert [run.id for run in store.list_runs(limit=1)] == [second]
    latest = store.latest_run()
    assert latest is not None
    assert latest.id == second


def test_no_complete_run_means_no_latest_run(store: Store) -> None:
    """A database whose only run is still running has no latest run."""
    store.start_run(T0)
    assert store.latest_run() is None


def test_abandon_stale_runs_marks_running_runs_failed(store: Store, db_path: Path) -> None:
    """Runs left 'running' by a crash become 'failed' with a reason and are never complete."""
    complete_run(store, 0)
    crashed = store.start_run(at(1))
    with store.lock(timeout_seconds=1):
        assert store.abandon_stale_runs(at(2)) == [crashed]
    status = query(db_path, f"SELECT status, failure FROM runs WHERE id = {crashed}")
    assert status == [("failed", "abandoned: the process stopped before the run finished")]
    assert store.load_run(crashed).finished_at is None
    assert crashed not in [run.id for run in store.list_runs()]


def test_abandon_stale_runs_needs_the_lock(store: Store) -> None:
    """Abandoning runs without the writer lock is refused: another process may own them."""
    with pytest.raises(StoreError, match="lock"):
        store.abandon_stale_runs(T0)


def test_writes_to_a_finished_run_are_refused(store: Store) -> None:
    """A complete run takes no further observations."""
    run_id = complete_run(store, 0)
    with pytest.raises(StoreError, match=f"run {run_id} is complete"):
        store.save_observation(run_id, observation())


def test_unknown_run_gives_store_error(store: Store) -> None:
    """Loading a run that does not exist gives a StoreError."""
    with pytest.raises(StoreError, match="run 42 does not exist"):
        store.load_run(42)


def test_naive_datetime_is_refused(store: Store) -> None:
    """A datetime without a timezone is refused rather than stored ambiguously."""
    with pytest.raises(StoreError, match="naive datetime"):
        store.start_run(datetime(2024, 5, 1, 6, 17))  # noqa: DTZ001


# --- failures ------------------------------------------------------------------------------


def test_failed_write_leaves_earlier_data_intact(store: Store, db_path: Path) -> None:
    """Saving to a run that does not exist fails; stored rows survive and the DB is sound."""
    run_id = complete_run(store, 0, observation())
    with pytest.raises(StoreError, match="run 999 does not exist"):
        store.save_observation(999, observation("18.02sc"))
    assert store.load_observations(run_id) == [observation()]
    assert query(db_path, "PRAGMA integrity_check") == [("ok",)]


def test_failed_batch_is_rolled_back_whole(store: Store) -> None:
    """A batch of link checks that fails half way stores none of them."""
    run_id = store.start_run(T0)
    store.save_link_checks(run_id, [full_link_check()])
    other = full_link_check().model_copy(update={"url": "https://other.example/"})
    with pytest.raises(StoreError, match="UNIQUE"):
        store.save_link_checks(run_id, [other, full_link_check()])
    assert store.load_link_checks(run_id) == [full_link_check()]


def test_hand_edited_row_gives_store_error_naming_table_and_row(
    store: Store, db_path: Path
) -> None:
    """A row that no longer parses into its record names its table and row id."""
    run_id = complete_run(store, 0, observation())
    with closing(sqlite3.connect(db_path)) as conn, conn:
        conn.execute("UPDATE observations SET outcome = 'splendid' WHERE run_id = ?", (run_id,))
    with pytest.raises(StoreError, match="observations row 1 "):
        store.load_observations(run_id)


# --- the writer lock -----------------------------------------------------------------------


def test_second_lock_times_out_with_store_busy_error(db_path: Path) -> None:
    """A second writer gives up after its timeout, naming the busy database and why."""
    with (
        Store.open(db_path) as first,
        Store.open(db_path) as second,
        first.lock(timeout_seconds=1),
        pytest.raises(StoreBusyError) as caught,
        second.lock(timeout_seconds=0.1),
    ):
        pytest.fail("the second lock must not be granted")
    message = str(caught.value)
    assert str(db_path) in message
    assert "another ocwwatch check or daemon is running" in message
    assert f"pid {os.getpid()}" in message


def test_lock_is_granted_once_the_holder_releases(db_path: Path) -> None:
    """A waiting writer gets the lock as soon as the holder lets go."""
    held = threading.Event()

    def hold() -> None:  # a store is used in the thread that opened it, as the daemon does
        with Store.open(db_path) as first, first.lock(timeout_seconds=1):
            held.set()
            threading.Event().wait(0.2)

    with Store.open(db_path) as second:
        holder = threading.Thread(target=hold)
        holder.start()
        held.wait(5)
        with second.lock(timeout_seconds=5):
            assert not holder.is_alive()
        holder.join()


# --- the deep check's frontier (issue 4) ----------------------------------------------------

SITE = "https://ocw.mit.edu/courses/c1/"


def entry(path: str, kind: LinkKind = LinkKind.PAGE) -> FrontierEntry:
    return FrontierEntry(url=SITE + path, key=SITE + path, kind=kind, resource_id="c1")


def probe(path: str, status: int = 200) -> LinkProbe:
    return LinkProbe(key=SITE + path, final_url=SITE + path, status=status, fetched_at=T0)


def test_frontier_is_claimed_in_the_order_found_and_once(store: Store) -> None:
    """Queued entries come back in order; a key queued twice is one entry; claimed ones stay out."""
    run_id = store.start_run(T0)
    store.save_crawl_step(run_id, T0, CrawlStep(found=[entry("a/"), entry("b/"), entry("a/")]))
    assert [e.url for e in store.claim_frontier(run_id, 10)] == [SITE + "a/", SITE + "b/"]
    assert store.claim_frontier(run_id, 10) == []
    assert store.count_frontier(run_id) == {"queued": 0, "claimed": 2, "done": 0}


def test_first_result_of_a_run_wins(store: Store) -> None:
    """Settling an entry already done keeps the first probe (a redirect target recorded early)."""
    run_id = store.start_run(T0)
    store.save_crawl_step(run_id, T0, CrawlStep(settled=[(entry("a/"), probe("a/", 200))]))
    store.save_crawl_step(run_id, T0, CrawlStep(settled=[(entry("a/"), probe("a/", 500))]))
    store.save_crawl_step(
        run_id, T0, CrawlStep(sources=[(SITE + "a/", SITE, "", "a[href]", "link")])
    )
    [found] = store.load_found_links(run_id, 0, 10)
    assert found.probe.status == 200


def test_sources_read_back_in_the_order_found(store: Store) -> None:
    """Where a checked link was found reads back page by page, first found first, once each."""
    run_id = store.start_run(T0)
    sources = [
        (SITE + "x.pdf", SITE, "Notes", "a[href]", "link"),
        (SITE + "y.pdf", SITE, "Other", "a[href]", "link"),
        (SITE + "x.pdf", SITE + "a/", "Lecture notes", "a[href]", "link"),
        (SITE + "x.pdf", SITE, "Notes again", "a[href]", "link"),
    ]
    settled = [(entry("x.pdf", LinkKind.FILE), probe("x.pdf"))]
    store.save_crawl_step(run_id, T0, CrawlStep(sources=sources, settled=settled))
    [found] = store.load_found_links(run_id, 0, 10)
    assert found.entry.kind is LinkKind.FILE
    check = LinkCheck(url=SITE + "x.pdf", state=LinkState.OK)
    store.save_found_checks(run_id, [(SITE + "x.pdf", check, T0, False)], kept=1)
    [stored] = store.load_link_checks(run_id)
    # One source per page (the second anchor on SITE is not another place), the first kept.
    assert (stored.found_on, stored.found_on_count) == ((SITE,), 2)
    assert [anchor.text for anchor in stored.anchors] == ["Notes"]


def test_found_checks_are_stored_with_their_anchors(store: Store) -> None:
    """A found link's stored check gets its pages, anchor texts and elements from the sources,
    and the distinct elements it was found in (with what for), in the order found."""
    run_id = store.start_run(T0)
    sources = [
        (SITE + "x.pdf", SITE, "Notes", "a[href]", "link"),
        (SITE + "x.pdf", SITE + "a/", "Lecture notes — 微積分", "embed[src]", "object"),
        (SITE + "x.pdf", SITE + "b/", "", "a[href]", "link"),
    ]
    store.save_crawl_step(run_id, T0, CrawlStep(sources=sources))
    check = LinkCheck(url=SITE + "x.pdf", state=LinkState.OK)
    store.save_found_checks(run_id, [(SITE + "x.pdf", check, T0, True)], kept=1)
    [stored] = store.load_link_checks(run_id)
    anchors = tuple(Anchor(page=p, text=t, element=e) for _key, p, t, e, _kind in sources)
    pages = (SITE, SITE + "a/", SITE + "b/")
    found_as = (
        FoundAs(element="a[href]", kind=ElementKind.LINK),
        FoundAs(element="embed[src]", kind=ElementKind.OBJECT),
    )
    update = {"found_on": pages, "anchors": anchors, "found_as": found_as, "found_on_count": 3}
    assert stored == check.model_copy(update=update)
    assert stored.nouns == ("link", "embedded object")


def test_a_batch_of_found_checks_keeps_its_order_and_updates_links(
    store: Store, db_path: Path
) -> None:
    """A batch goes in as one statement: its checks keep the batch's order, a working one keeps
    its first `kept` pages and one to fix all of them, and `links` holds each URL's latest."""
    urls = [SITE + name for name in ("c.pdf", "a.pdf", "b.pdf")]
    pages = [SITE, SITE + "p/", SITE + "q/"]
    sources = [(url, page, "", "a[href]", "link") for page in pages for url in urls]
    failed = LinkCheck(url=urls[1], state=LinkState.DEAD, http_status=404, first_failed_at=T0)
    checks = [
        (urls[0], LinkCheck(url=urls[0], state=LinkState.OK, http_status=200), T0, False),
        (urls[1], failed, T0, True),
        (urls[2], LinkCheck(url=urls[2], state=LinkState.OK, http_status=200), None, False),
    ]
    for later, run_at in enumerate((T0, T0 + timedelta(days=1))):
        run_id = store.start_run(run_at)
        store.save_crawl_step(run_id, run_at, CrawlStep(sources=sources))
        if later:  # the second run finds b.pdf dead too
            checks[2] = (urls[2], failed.model_copy(update={"url": urls[2]}), run_at, True)
        store.save_found_checks(run_id, checks, kept=2)
        saved = store.load_link_checks(run_id)
        assert [check.url for check in saved] == urls
        assert [len(check.found_on) for check in saved] == [2, 3, 3 if later else 2]
        assert {check.found_on_count for check in saved} == {3}
        store.finish_run(run_id, run_at, Counts(), offline=False)
    with closing(sqlite3.connect(db_path)) as db:
        links = db.execute("SELECT url, state, http_status, asked_at FROM links ORDER BY url")
        assert list(links) == [
            (urls[1], "dead", 404, "2024-05-01T06:17:00.000000Z"),
            (urls[2], "dead", 404, "2024-05-02T06:17:00.000000Z"),
            (urls[0], "ok", 200, "2024-05-01T06:17:00.000000Z"),
        ]


@pytest.mark.parametrize("stand_in", ["", "\ufdd0"], ids=["plain", "stand-in-taken"])
def test_a_found_check_keeps_a_nul_in_its_texts(store: Store, db_path: Path, stand_in: str) -> None:
    """Sources and checks go to SQLite as JSON, whose `->>` ends a text at an escaped NUL: the
    texts come back whole, also when the batch already holds the stand-in used for NUL."""
    url = SITE + "x" + stand_in
    check = LinkCheck(
        url=url,
        state=LinkState.DEAD,
        http_status=404,
        final_url=SITE + "y\x00z",
        detail="server said\x00 404" + stand_in,
        first_failed_at=T0,
    )
    run_id = store.start_run(T0)
    source = (url, SITE, "a\x00b" + stand_in, "a[href]", "link")
    store.save_crawl_step(run_id, T0, CrawlStep(sources=[source]))
    store.save_found_checks(run_id, [(url, check, T0, True)], kept=3)
    [back] = store.load_link_checks(run_id)
    assert (back.url, back.final_url, back.detail) == (url, check.final_url, check.detail)
    assert back.anchors == (Anchor(page=SITE, text="a\x00b" + stand_in),)
    with closing(sqlite3.connect(db_path)) as db:
        assert list(db.execute("SELECT url, final_url FROM links")) == [(url, check.final_url)]


def test_links_found_on_no_page_are_not_returned(store: Store) -> None:
    """A checked entry nobody linked (a resource's own URL) is not a found link."""
    run_id = store.start_run(T0)
    store.save_crawl_step(run_id, T0, CrawlStep(settled=[(entry("a/"), probe("a/"))]))
    assert store.load_found_links(run_id, 0, 10) == []


def test_clearing_the_crawl_drops_the_rows_of_runs_that_are_over(
    store: Store, db_path: Path
) -> None:
    """The frontier and sources of complete and failed runs go; the running run's stay."""
    step = CrawlStep(found=[entry("a/")], sources=[(SITE + "a/", SITE, "", "a[href]", "link")])
    done = store.start_run(T0)
    store.save_crawl_step(done, T0, step)
    store.finish_run(done, at(1), Counts(), offline=False)
    failed = store.start_run(at(2))
    store.save_crawl_step(failed, T0, step)
    store.fail_run(failed, at(3), "interrupted")
    running = store.start_run(at(4))
    store.save_crawl_step(running, T0, step)
    work = work_path(db_path)
    store.clear_crawl_rows()
    assert query(work, "SELECT DISTINCT run_id FROM crawl_frontier") == [(running,)]
    assert query(work, "SELECT DISTINCT run_id FROM crawl_sources") == [(running,)]
    store.finish_run(running, at(5), Counts(), offline=False)
    grown = work.stat().st_size
    store.clear_crawl_rows()  # no run running: the working file is started anew
    assert query(work, "SELECT count(*) FROM crawl_frontier") == [(0,)]
    assert query(work, "SELECT count(*) FROM crawl_sources") == [(0,)]
    assert work.stat().st_size <= grown
    # The store goes on with the new file.
    later = store.start_run(at(6))
    store.save_crawl_step(later, T0, step)
    assert query(work, "SELECT DISTINCT run_id FROM crawl_sources") == [(later,)]


def test_the_space_of_cleared_crawl_rows_goes_back_to_the_disk(store: Store, db_path: Path) -> None:
    """A deep run's sources (here 4 MB of them) live in the working file beside the database,
    which is started anew once the run is over: the database does not grow with them, and
    their space is back on the disk at once (issue 15: a 20k-link run's sources are hundreds
    of MB; deleting them and VACUUM took 1.8 s)."""
    work = work_path(db_path)
    before = db_path.stat().st_size
    run_id = store.start_run(T0)
    sources = [
        (SITE + f"a/{n}", SITE + f"p/{n % 50}/", "x" * 150, "a[href]", "link")
        for n in range(20_000)
    ]
    store.save_crawl_step(run_id, T0, CrawlStep(sources=sources))
    store.finish_run(run_id, at(1), Counts(), offline=False)
    assert work.stat().st_size > 4_000_000
    with crawl_rows_cleared(store):
        pass
    assert query(work, "SELECT count(*) FROM crawl_sources") == [(0,)]
    assert work.stat().st_size < 100_000
    assert db_path.stat().st_size < before + 1_000_000
    with crawl_rows_cleared(store):  # nothing to clear: nothing written
        pass
    assert query(work, "SELECT count(*) FROM crawl_sources") == [(0,)]


def test_a_working_file_that_does_not_read_is_started_anew(db_path: Path) -> None:
    """A working file left garbled (a power cut: it is never fsynced) is replaced when no run
    is running; the database is untouched."""
    Store.open(db_path).close()
    work_path(db_path).write_bytes(b"not a database at all" * 300)
    with Store.open(db_path) as store:
        run_id = store.start_run(T0)
        store.save_crawl_step(run_id, T0, CrawlStep(found=[entry("a/")]))
        assert store.count_frontier(run_id)["queued"] == 1


def test_a_garbled_working_file_of_a_crashed_run_is_started_anew_under_the_lock(
    db_path: Path,
) -> None:
    """A power cut leaves a run marked running and its working file garbled: opening the store
    still works (the file is left alone: the run may be another process's), and once the store
    holds the writer lock, the run is one a crash left, so the file is started anew."""
    with Store.open(db_path) as store:
        store.start_run(T0)  # never finished: the crash
    work_path(db_path).write_bytes(b"not a database at all" * 300)
    with Store.open(db_path) as store:
        assert not store.has_work_tables()
        assert store.crawl_progress() == CrawlProgress()
        with store.lock(1.0):
            assert store.has_work_tables()
            store.abandon_stale_runs(at(1))
            later = store.start_run(at(2))
            store.save_crawl_step(later, T0, CrawlStep(found=[entry("a/")]))
            assert store.count_frontier(later)["queued"] == 1


def test_a_garbled_working_file_is_cleared_without_being_read(store: Store, db_path: Path) -> None:
    """Clearing once no run is running deletes the working file whatever it holds, even when
    it no longer reads (a run's end must not fail on it, nor keep it for the next run)."""
    run_id = store.start_run(T0)
    store.save_crawl_step(run_id, T0, CrawlStep(found=[entry("a/")]))
    store.finish_run(run_id, at(1), Counts(), offline=False)
    with open(work_path(db_path), "r+b") as garbled:  # the header and first pages overwritten
        garbled.write(bytes(range(256)) * 64)
    assert store.clear_crawl_rows()
    assert query(work_path(db_path), "SELECT count(*) FROM crawl_frontier") == [(0,)]


def test_a_writer_that_waited_for_the_lock_uses_the_new_working_file(db_path: Path) -> None:
    """Another process's run deletes the working file once over: a store opened before that
    attaches the new one when it gets the lock, instead of writing to the deleted file."""
    waiting = Store.open(db_path)
    with Store.open(db_path) as first:
        run_id = first.start_run(T0)
        first.save_crawl_step(run_id, T0, CrawlStep(found=[entry("a/")]))
        first.finish_run(run_id, at(1), Counts(), offline=False)
        assert first.clear_crawl_rows()
    with waiting, waiting.lock(1.0):
        later = waiting.start_run(at(2))
        waiting.save_crawl_step(later, T0, CrawlStep(found=[entry("b/")]))
        assert waiting.count_frontier(later)["queued"] == 1
    assert query(work_path(db_path), "SELECT count(*) FROM crawl_frontier") == [(1,)]


def test_a_crawled_pages_links_are_kept_packed_and_old_text_ones_still_read(
    store: Store, db_path: Path
) -> None:
    """A page's links are stored zlib-packed (issue 15: a course page's 16 kB of JSON repeats
    itself); a row stored as JSON text before that reads back the same."""
    links = tuple(Link(url=SITE + f"pages/unit-{n}/", text="Unit — 微積分") for n in range(200))
    page = CrawledPage(
        url=SITE + "a/",
        final_url=SITE + "a/",
        validators=Validators(etag='"a1"'),
        page_kind=PageKind.OCW_PAGE,
        links=links,
    )
    run_id = store.start_run(T0)
    store.save_crawl_step(run_id, T0, CrawlStep(pages=[page]))
    [(kind, size)] = query(db_path, "SELECT typeof(links), length(links) FROM crawled_pages")
    text = json.dumps([link.to_row() for link in links], ensure_ascii=False)
    assert kind == "blob"
    assert isinstance(size, int)
    assert size < len(text.encode()) / 4
    with closing(sqlite3.connect(db_path)) as db, db:
        db.execute("UPDATE crawled_pages SET links = ?", [text])
    assert store.load_crawled_page(SITE + "a/") == page


def test_crawled_page_round_trips(store: Store) -> None:
    """A page's validators and links read back as saved, replaced by a newer read."""
    page = CrawledPage(
        url=SITE + "a/",
        final_url=SITE + "a/",
        validators=Validators(etag='"a1"'),
        page_kind=PageKind.OCW_PAGE,
        links=(Link(url=SITE + "b/", text="Unit B — 微積分"),),
    )
    run_id = store.start_run(T0)
    store.save_crawl_step(run_id, T0, CrawlStep(pages=[page]))
    assert store.load_crawled_page(SITE + "a/") == page
    newer = page.model_copy(update={"validators": Validators(etag='"a2"'), "links": ()})
    store.save_crawl_step(run_id, T0, CrawlStep(pages=[newer]))
    assert store.load_crawled_page(SITE + "a/") == newer
    assert store.load_crawled_page(SITE + "never/") is None


def test_link_states_reads_many_latest_checks_at_once(store: Store) -> None:
    """link_states gives each URL's latest complete check, like link_state, minus its pages."""
    first = store.start_run(T0)
    store.save_link_checks(first, [full_link_check()])
    store.finish_run(first, at(1), Counts(), offline=False)
    second = store.start_run(at(24))
    newer = full_link_check().model_copy(update={"failed_runs": 3})
    store.save_link_checks(second, [newer])
    store.finish_run(second, at(25), Counts(), offline=False)
    running = store.start_run(at(48))
    store.save_link_checks(running, [newer.model_copy(update={"failed_runs": 9})])
    states = store.link_states([full_link_check().url, "https://never.example/"])
    unplaced = {"found_on": (), "anchors": (), "found_as": ()}
    assert states == {newer.url: newer.model_copy(update=unplaced)}


def test_version_1_database_migrates_and_keeps_its_link_checks(db_path: Path) -> None:
    """A database of schema 1 gains the deep-check tables; old link checks read back."""
    from ocwwatch.store.schema import MIGRATIONS as STEPS

    db_path.parent.mkdir(parents=True)
    with closing(sqlite3.connect(db_path)) as conn, conn:
        conn.execute("CREATE TABLE migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
        conn.execute("INSERT INTO migrations VALUES (1, '2025-01-01T00:00:00.000000Z')")
    from sqlite_utils import Database

    STEPS[0](Database(db_path))
    with closing(sqlite3.connect(db_path)) as conn, conn:
        conn.execute("INSERT INTO runs (id, started_at) VALUES (1, '2025-01-01T00:00:00Z')")
        conn.execute(
            "INSERT INTO link_checks (run_id, url, found_on, state)"
            " VALUES (1, 'https://a/', '[]', 'ok')"
        )
    with Store.open(db_path) as store:
        assert store.schema_version() == len(MIGRATIONS)
        [check] = store.load_link_checks(1)
    assert (check.url, check.state, check.kind, check.anchors) == (
        "https://a/",
        LinkState.OK,
        None,
        (),
    )


def test_version_6_database_migrates_and_its_link_checks_read_as_links(db_path: Path) -> None:
    """A database of schema 6 gains the elements of link checks; its old checks (and the
    dead_links view over them) read back as `<a href>` links, as they were found."""
    from sqlite_utils import Database

    from ocwwatch.store.schema import MIGRATIONS as STEPS

    db_path.parent.mkdir(parents=True)
    with closing(sqlite3.connect(db_path)) as conn, conn:
        conn.execute("CREATE TABLE migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
        conn.executemany(
            "INSERT INTO migrations VALUES (?, '2026-01-01T00:00:00.000000Z')",
            [(version,) for version in range(1, 7)],
        )
    for step in STEPS[:6]:
        step(Database(db_path))
    anchors = '[{"page": "https://a/p", "text": "", "element": "img[src]"}]'
    with closing(sqlite3.connect(db_path)) as conn, conn:
        conn.execute(
            "INSERT INTO runs (id, started_at, status)"
            " VALUES (1, '2026-01-01T00:00:00Z', 'complete')"
        )
        conn.execute(
            "INSERT INTO link_checks (run_id, url, found_on, state, http_status, anchors)"
            " VALUES (1, 'https://a/x.png', '[\"https://a/p\"]', 'dead', 404, ?)",
            [anchors],
        )
    with Store.open(db_path) as store:
        assert store.schema_version() == len(MIGRATIONS) == 9
        [check] = store.load_link_checks(1)
    assert (check.state, check.found_on, check.found_as, check.nouns) == (
        LinkState.DEAD,
        ("https://a/p",),
        (),
        ("link",),
    )
    assert check.anchors == (Anchor(page="https://a/p", element="img[src]"),)
    dead = query(db_path, "SELECT url, found_on_first, elements FROM dead_links")
    assert dead == [("https://a/x.png", "https://a/p", "a[href]")]


# --- views for Datasette and sqlite3 (issue 16) ----------------------------------------------


def test_views_answer_the_usual_questions_from_complete_runs(store: Store, db_path: Path) -> None:
    """current_state: each resource's latest complete outcome with its fix and identity, one
    row each; resource_timeline: one row per observation with the fields that changed;
    dead_links: the latest complete run's dead links; run_summary: counts as columns. A run
    that never completed shows nowhere."""
    first = complete_run(store, 0, observation("18.01sc"), observation("highlights"))
    moved = full_observation()
    second = store.start_run(at(1))
    store.save_observation(second, moved, kind=ResourceKind.OCW_COURSE)
    store.save_observation(second, observation("highlights", hours=1))
    store.save_link_checks(second, [full_link_check()])
    counts = Counts(resources=2, links=1, dead=1, moved=1)
    store.finish_run(second, at(1) + timedelta(minutes=1), counts, offline=False)
    crashed = store.start_run(at(2))
    store.save_observation(crashed, observation("18.01sc", title="crashed", hours=2))

    current = query(
        db_path,
        "SELECT resource_id, kind, outcome, fix_url, title, course_number, changed_fields, run_id"
        " FROM current_state ORDER BY resource_id",
    )
    assert current == [
        ("18.01sc", "ocw-course", "moved", "https://ocw.mit.edu/courses/18-01sc/",
         "Single Variable Calculus — 微積分", "18.01SC", "units", second),
        ("highlights", None, "ok", None, "Single Variable Calculus", None, None, second),
    ]  # fmt: skip
    timeline = query(
        db_path, "SELECT run_id, outcome FROM resource_timeline WHERE resource_id = '18.01sc'"
    )
    assert timeline == [(first, "ok"), (second, "moved")]
    dead = query(
        db_path,
        "SELECT url, state, found_on_first, pages, elements, fix_url, run_id FROM dead_links",
    )
    assert dead == [
        (full_link_check().url, "dead", "https://example.org/list", 2, "a[href], embed[src]",
         "https://ocw.mit.edu/full_book.pdf", second),
    ]  # fmt: skip
    summary = query(db_path, "SELECT run_id, resources, links, dead, moved FROM run_summary")
    assert summary == [(first, 0, 0, 0, 0), (second, 2, 1, 1, 1)]
