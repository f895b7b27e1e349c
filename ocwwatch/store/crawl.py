"""The deep check's tables (issue 4): the crawl frontier, where each link was found, and the
links read from each page last time. Streams them through SQLite so memory stays flat.

It stores and returns records of `ocwwatch.models`; it never fetches, judges or decides scope.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

from ocwwatch.errors import StoreError
from ocwwatch.models import (
    WORKING_LINKS,
    CrawledPage,
    CrawlProgress,
    CrawlStep,
    FoundCheck,
    FoundLink,
    FrontierEntry,
    Link,
    LinkCheck,
    LinkProbe,
    LinkState,
    Validators,
)
from ocwwatch.store.base import StoreBase, damaged, translated
from ocwwatch.store.rows import (
    Row,
    dump_json,
    format_time,
    link_check_document,
    link_check_from_row,
    parse_time,
)

# Where a link was found: its URL key, the page, the anchor's text there. A plain tuple, not an
# `Anchor`: a crawl records one per link per page (hundreds of thousands), kept cheap to make.

# The running run's frontier, counted; read on a connection of its own beside the crawl.
_PROGRESS = """
SELECT count(*) AS found,
    coalesce(sum(state = 'done'), 0) AS checked,
    coalesce(sum(state = 'done' AND kind = 'page' AND page_kind IS NOT NULL), 0) AS pages,
    coalesce(sum(state = 'done' AND (http_status IN (404, 410) OR verdict IN ('dead', 'soft404'))),
        0) AS dead
FROM crawl_frontier
WHERE run_id = (SELECT max(id) FROM runs WHERE status = 'running')
"""
PACK_LEVEL = 1  # zlib's fastest: 5.3 times smaller on OCW pages' links, 6 at its default
_ANY_WORKING_ROW = (
    "SELECT 1 WHERE EXISTS (SELECT 1 FROM crawl_sources) OR EXISTS (SELECT 1 FROM crawl_frontier)"
)
# The working rows of runs no longer running (a crash's abandoned run's too), sources first,
# when another run is running; else the whole working file goes.
_CLEAR_OVER = (
    "DELETE FROM crawl_found WHERE run_id NOT IN (SELECT id FROM runs WHERE status = 'running')",
    "DELETE FROM crawl_sources WHERE run_id NOT IN (SELECT id FROM runs WHERE status = 'running')",
    "DELETE FROM crawl_frontier WHERE run_id NOT IN (SELECT id FROM runs WHERE status = 'running')",
)
_QUEUE = """
INSERT OR IGNORE INTO crawl_frontier (run_id, url_key, url, kind, resource_id, depth, state)
VALUES (?, ?, ?, ?, ?, ?, 'queued')
"""
# A probe lands on its entry whatever became of it, except that the first result of a run wins
# (a redirect target recorded as done is not overwritten by a later visit of the same URL).
_SETTLE = """
INSERT INTO crawl_frontier (
    run_id, url_key, url, kind, resource_id, depth, state,
    final_url, http_status, redirects, content_type, page_kind, failure, failure_detail,
    verdict, verdict_detail, method, fetched_at
) VALUES (?, ?, ?, ?, ?, ?, 'done', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (run_id, url_key) DO UPDATE SET
    state = 'done', final_url = excluded.final_url, http_status = excluded.http_status,
    redirects = excluded.redirects, content_type = excluded.content_type,
    page_kind = excluded.page_kind, failure = excluded.failure,
    failure_detail = excluded.failure_detail, verdict = excluded.verdict,
    verdict_detail = excluded.verdict_detail, method = excluded.method,
    fetched_at = excluded.fetched_at
WHERE crawl_frontier.state != 'done'
"""
# A step's sources go in as one JSON array, unpacked by SQLite: binding a crawl's hundred
# thousand rows one by one from Python held the GIL the event loop needs.
_SOURCES = f"""
INSERT OR IGNORE INTO crawl_sources (run_id, url_key, found_on, anchor_text, element, kind)
SELECT :run_id, {", ".join(f"replace(value ->> {n}, :nul, char(0))" for n in range(5))}
FROM json_each(:batch) ORDER BY key
"""  # noqa: S608 - only the store's own SQL is spliced in
# Each as one JSON document, for pydantic-core to read in one pass (as rows.link_check_document).
_FOUND = """
SELECT f.seq, f.url, json_object(
    'entry', json_object(
        'url', f.url, 'key', f.url_key, 'kind', f.kind, 'resource_id', f.resource_id,
        'depth', f.depth, 'seq', f.seq
    ),
    'probe', json_object(
        'key', f.url_key, 'final_url', f.final_url, 'status', f.http_status,
        'redirects', coalesce(json(f.redirects), json('[]')), 'content_type', f.content_type,
        'page_kind', f.page_kind, 'failure', f.failure, 'failure_detail', f.failure_detail,
        'state', f.verdict, 'detail', f.verdict_detail, 'method', f.method,
        'fetched_at', f.fetched_at
    )
) AS document
FROM crawl_frontier AS f
WHERE f.run_id = ? AND f.seq > ? AND f.state = 'done' AND EXISTS (
    SELECT 1 FROM crawl_sources AS s WHERE s.run_id = f.run_id AND s.url_key = f.url_key
)
ORDER BY f.seq LIMIT ?
"""
# A batch of found links' checks is bound as one JSON array of arrays, `_FOUND_CHECK` columns
# each, and unpacked by SQLite: with `executemany`, the store's thread took the GIL back for
# every row, and beside an event loop busy in Python each row waited for it (issue 15: 5,929
# checks saved in 2.5-6.8 s beside a spinning thread, against 0.75-0.83 s so).
_FOUND_CHECK = (
    "url_key", "every", "url", "state", "http_status", "final_url", "first_failed_at",
    "failed_runs", "detail", "suggestion", "kind", "redirects", "asked_at",
)  # fmt: skip


_NUMBERS = frozenset({"every", "http_status", "failed_runs"})


def _column(name: str, of: str = "value") -> str:
    """A batch row's column, a text with its NULs put back (`_packed`; `replace` returns the
    text as it is when `:nul` is empty)."""
    value = f"{of} ->> {_FOUND_CHECK.index(name)}"
    return value if name in _NUMBERS else f"replace({value}, :nul, char(0))"


def _found_on(columns: str, aggregate: str) -> str:
    """The pages a batch row `b` was found on, as `aggregate` of `columns` of its sources in the
    order found: every one, or the first `:kept`. (SQLite's LIMIT cannot name a column of the
    outer row, so the two are two subqueries; each reads the sources' index in order and stops.)
    Only the store's own SQL is spliced in."""
    cut = f"""SELECT {columns} FROM crawl_sources AS s
        WHERE s.run_id = :run_id AND s.url_key = b.url_key ORDER BY s.id"""  # noqa: S608
    return f"""CASE WHEN b.every
        THEN (SELECT {aggregate} FROM ({cut}))
        ELSE (SELECT {aggregate} FROM ({cut} LIMIT :kept)) END"""  # noqa: S608


# A found link's check, with where it was found (pages, anchors, elements) copied from the
# sources in SQL: a link on every page of a site has thousands, which need never pass through
# Python. Its pages and anchors: all or the first `:kept` in the order found, and the count of
# all (issue 15: a working link keeps a few, one to fix every one).
_CHECK_COLUMNS = (
    "state", "http_status", "final_url", "first_failed_at", "failed_runs", "detail", "suggestion",
    "kind", "redirects",
)  # fmt: skip
_ANCHOR = "json_object('page', found_on, 'text', anchor_text, 'element', element)"
_SAVE_FOUND = f"""
WITH batch AS MATERIALIZED (
    SELECT key AS n, {_column("url_key")} AS url_key, {_column("every")} AS every, value AS v
    FROM json_each(:batch)
)
INSERT INTO link_checks (
    run_id, url, found_on, state, http_status, final_url, first_failed_at, failed_runs, detail,
    suggestion, kind, redirects, anchors, elements, found_on_count
)
SELECT
    :run_id, {_column("url", "b.v")}, {_found_on("found_on", "json_group_array(found_on)")},
    {", ".join(_column(name, "b.v") for name in _CHECK_COLUMNS)},
    {_found_on("found_on, anchor_text, element", f"json_group_array({_ANCHOR})")},
    coalesce(json(c.elements), '[]'), coalesce(c.sources, 0)
FROM batch AS b LEFT JOIN crawl_found AS c ON c.run_id = :run_id AND c.url_key = b.url_key
ORDER BY b.n
"""  # noqa: S608 - only the store's own SQL is spliced in
# Link checks are selected as one JSON document each (rows.link_check_document).
_TO_FIX = f"""
SELECT id, {link_check_document()} FROM link_checks
WHERE run_id = ? AND state NOT IN (?, ?) ORDER BY id
"""  # noqa: S608 - only the store's own SQL is spliced in
_CHECKS_AFTER = f"""
SELECT id, {link_check_document()} FROM link_checks
WHERE run_id = ? AND id > ? ORDER BY id LIMIT 500
"""  # noqa: S608 - only the store's own SQL is spliced in
# The same without the anchors, a third of a deep run's stored checks by size (models.KeptChecks).
_LISTED_AFTER = f"""
SELECT id, {link_check_document(anchors=False)} FROM link_checks
WHERE run_id = ? AND id > ? ORDER BY id LIMIT 500
"""  # noqa: S608 - only the store's own SQL is spliced in
_STATES_OF = """
SELECT url, state FROM link_checks WHERE run_id = ? AND url IN (SELECT value FROM json_each(?))
"""
_FIRST_BY_URL = f"""
SELECT id, {link_check_document()} FROM link_checks
WHERE run_id = ? AND state IN (SELECT value FROM json_each(?))
ORDER BY url LIMIT ?
"""  # noqa: S608 - only the store's own SQL is spliced in
# Links whose latest check said `ok`, made by a complete run, asked between two times. A time
# after `now` (a clock that was set back, another machine's skew) is stale, never fresh: else a
# dead link would keep that `ok` for as long as the skew lasts (issue 11).
_FRESH = """
SELECT l.url, l.http_status, l.asked_at FROM links AS l JOIN runs AS r ON r.id = l.last_run_id
WHERE l.url IN (SELECT value FROM json_each(?)) AND l.state = 'ok'
    AND r.status = 'complete' AND l.asked_at >= ? AND l.asked_at <= ?
"""
# Of files' URLs, those whose HEAD the last verdict could not believe (`probe.trusts_head`): a
# failing status, which only a GET may confirm, or a web page where the file should be, read.
_DOUBTED = """
SELECT url FROM links WHERE url IN (SELECT value FROM json_each(?))
    AND ((http_status >= 400 AND http_status != 429) OR state = 'soft404')
"""
_UPSERT_LINK = f"""
INSERT INTO links (
    url, state, http_status, final_url, first_failed_at, failed_runs, last_run_id, asked_at
)
SELECT {_column("url")}, {_column("state")}, {_column("http_status")}, {_column("final_url")},
    {_column("first_failed_at")}, {_column("failed_runs")}, :run_id, {_column("asked_at")}
FROM json_each(:batch) WHERE true ORDER BY key
ON CONFLICT (url) DO UPDATE SET state = excluded.state, http_status = excluded.http_status,
    final_url = excluded.final_url, first_failed_at = excluded.first_failed_at,
    failed_runs = excluded.failed_runs, last_run_id = excluded.last_run_id,
    asked_at = excluded.asked_at
"""  # noqa: S608 - only the store's own SQL is spliced in


def _entry_values(run_id: int, entry: FrontierEntry) -> list[object]:
    return [run_id, entry.key, entry.url, entry.kind.value, entry.resource_id, entry.depth]


def _found_check_values(
    key: str, check: LinkCheck, asked: datetime | None, every: bool
) -> list[object]:
    """A found check's `_FOUND_CHECK` columns."""
    return [
        key,
        every,
        check.url,
        check.state.value,
        check.http_status,
        check.final_url,
        check.first_failed_at and format_time(check.first_failed_at),
        check.failed_runs,
        check.detail,
        dump_json(check.suggestion),
        check.kind and check.kind.value,
        dump_json(check.redirects),
        asked and format_time(asked),
    ]


def _packed(rows: Sequence[Sequence[object]]) -> tuple[str, str]:
    """`rows` as one JSON array for SQLite to unpack, and the stand-in for NUL in their texts
    ("" when none holds one, as nearly always). SQLite's `->>` ends a text at an escaped NUL,
    so each NUL is sent as a stand-in that no text of theirs holds, for the SQL to put back
    (`replace(value ->> n, :nul, char(0))`). No network path delivers a NUL (h11 refuses one
    in a header, a URL's parse percent-encodes it, an HTML parser drops it from text, a detail
    quotes it); the store keeps what it is given anyway."""
    batch = json.dumps(rows, ensure_ascii=False)
    if "\\u0000" not in batch:
        return batch, ""
    stand_in = "\ufdd0"  # a noncharacter: never in a page's or a server's text by right
    while stand_in in batch:
        stand_in += "\ufdd0"
    rows = [[_replaced(value, stand_in) for value in row] for row in rows]
    return json.dumps(rows, ensure_ascii=False), stand_in


def _replaced(value: object, stand_in: str) -> object:
    return value.replace("\x00", stand_in) if isinstance(value, str) else value


def _probe_values(probe: LinkProbe) -> list[object]:
    return [
        probe.final_url,
        probe.status,
        dump_json(probe.redirects),
        probe.content_type,
        probe.page_kind and probe.page_kind.value,
        probe.failure and probe.failure.value,
        probe.failure_detail,
        probe.state and probe.state.value,
        probe.detail,
        probe.method,
        probe.fetched_at and format_time(probe.fetched_at),
    ]


def _entry_from_row(row: Row) -> FrontierEntry:
    return FrontierEntry(
        url=row["url"],
        key=row["url_key"],
        kind=row["kind"],
        resource_id=row["resource_id"],
        depth=row["depth"],
        seq=row["seq"],
    )


def _found_from_row(row: Row) -> FoundLink:
    found = FoundLink.model_validate_json(row["document"])
    fetched_at = found.probe.fetched_at
    if fetched_at is not None and fetched_at.utcoffset() is None:
        raise ValueError(f"time {fetched_at.isoformat()!r} has no timezone")
    return found


def _page_from_row(row: Row) -> CrawledPage:
    return CrawledPage(
        url=row["url"],
        final_url=row["final_url"],
        validators=Validators(etag=row["etag"], last_modified=row["last_modified"]),
        page_kind=row["page_kind"],
        links=tuple(Link.from_row(item) for item in json.loads(_unpacked(row["links"]))),
        **_targets(json.loads(row["targets"])),
    )


def _targets(stored: object) -> dict[str, tuple[str, ...]]:
    """A remembered page's ids and own fragments: `{"ids": [...], "own": [...]}`."""
    if not isinstance(stored, dict):
        return {}
    return {
        "targets": tuple(str(target) for target in stored.get("ids", ())),
        "own_fragments": tuple(str(fragment) for fragment in stored.get("own", ())),
    }


def _unpacked(links: str | bytes) -> str | bytes:
    """A page's stored links: zlib-packed JSON, or JSON text as stored before issue 15."""
    return zlib.decompress(links) if isinstance(links, bytes) else links


def _page_values(page: CrawledPage, updated_at: str) -> list[object]:
    # Packed: a course page's links are 16 kB of JSON that repeats itself (the same site, the
    # same menus), 3 kB with zlib's fastest level (0.1 ms on the writer thread); kept for
    # every page a deep check reads, they were most of a 100k-link database at rest.
    links = zlib.compress(
        json.dumps([link.to_row() for link in page.links], ensure_ascii=False).encode(),
        PACK_LEVEL,
    )
    return [
        page.url,
        page.final_url,
        page.validators.etag,
        page.validators.last_modified,
        page.page_kind.value,
        links,
        updated_at,
        json.dumps({"ids": page.targets, "own": page.own_fragments}, ensure_ascii=False),
    ]


class CrawlStore(StoreBase):
    """Reads and writes of the deep check's frontier, sources and page cache."""

    def crawl_progress(self) -> CrawlProgress:
        """The running run's frontier, counted (zeros before a deep check queues anything).
        Its rows arrive batch by batch, so the counts trail the crawl by a batch or so."""
        if not self.has_work_tables():
            return CrawlProgress()
        [row] = self._select("count the crawl's progress", _PROGRESS)
        return CrawlProgress.model_validate(dict(row))

    def clear_crawl_rows(self) -> bool:
        """Drop the frontier and sources of every run that is over, complete or failed (issue
        16): a crawl's working state, read by nothing once its run has stored its verdicts in
        `link_checks` and `links`. Whether there was anything to drop.

        They live in a file of their own (`work_path`): when no run is running, that file is
        deleted and a new one started, at once whatever its size (issue 15: emptying tables of
        a 20k-link run and giving their space back took 1.8 s). Beside a running run, the rows
        of the others are deleted."""
        action = "clear the crawl's working rows"
        if self._running_run():
            if not self.has_work_tables() or not self._select(action, _ANY_WORKING_ROW):
                return False
            with self._transaction(action) as db:
                for sql in _CLEAR_OVER:
                    db.execute(sql)
            return True
        try:
            if self.has_work_tables() and not self._select(action, _ANY_WORKING_ROW):
                return False  # nothing to clear (a run that was not deep): nothing is written
        except StoreError as exc:
            if not damaged(exc):
                raise
            # A file that does not read goes like any other.
        with translated(self.work_path, action):
            self._detach_work()
        self._delete_work_file()
        self._attach_work()
        return True

    def save_crawl_step(self, run_id: int, now: datetime, step: CrawlStep) -> None:
        """In one transaction: queue new links (a known key is ignored), record where links
        were found (`Source`: the link's key, the page, the anchor text and element there),
        settle checked entries with their probes, and remember pages read."""
        found, sources, settled, pages = step.found, step.sources, step.settled, step.pages
        updated_at = format_time(now)
        with self._transaction(f"save a crawl step of run {run_id}") as db:
            conn = db.conn
            conn.executemany(_QUEUE, [_entry_values(run_id, entry) for entry in found])
            if sources:
                batch, nul = _packed(sources)
                conn.execute(_SOURCES, {"run_id": run_id, "batch": batch, "nul": nul})
            conn.executemany(
                _SETTLE,
                [_entry_values(run_id, e) + _probe_values(p) for e, p in settled],
            )
            conn.executemany(
                "INSERT OR REPLACE INTO crawled_pages VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [_page_values(page, updated_at) for page in pages],
            )

    def claim_frontier(self, run_id: int, limit: int) -> list[FrontierEntry]:
        """The next queued entries in the order they were found, marked claimed."""
        with self._transaction(f"claim frontier entries of run {run_id}") as db:
            rows = list(
                db.query(
                    "SELECT * FROM crawl_frontier WHERE run_id = ? AND state = 'queued'"
                    " ORDER BY seq LIMIT ?",
                    [run_id, limit],
                )
            )
            db.conn.executemany(
                "UPDATE crawl_frontier SET state = 'claimed' WHERE seq = ?",
                [[row["seq"]] for row in rows],
            )
        return [self._parse("crawl_frontier", row, _entry_from_row) for row in rows]

    def count_frontier(self, run_id: int) -> dict[str, int]:
        """How many entries of this run are queued, claimed and done."""
        sql = "SELECT state, count(*) AS n FROM crawl_frontier WHERE run_id = ? GROUP BY state"
        rows = self._select("count the crawl frontier", sql, [run_id])
        counts = {"queued": 0, "claimed": 0, "done": 0}
        counts.update({row["state"]: int(row["n"]) for row in rows})
        return counts

    def load_found_links(self, run_id: int, after_seq: int, limit: int) -> list[FoundLink]:
        """Checked entries found on at least one page, in frontier order, after `after_seq`."""
        rows = self._select("read found links", _FOUND, [run_id, after_seq, limit])
        return [self._parse("crawl_frontier", row, _found_from_row) for row in rows]

    def link_checks_to_fix(self, run_id: int) -> list[LinkCheck]:
        """This run's stored checks of links that do not work, in the order saved."""
        rows = self._select("read link checks", _TO_FIX, [run_id, *sorted(WORKING_LINKS)])
        return [self._parse("link_checks", row, link_check_from_row) for row in rows]

    def save_found_checks(self, run_id: int, checks: Sequence[FoundCheck], *, kept: int) -> None:
        """Store the checks of found links (key, check, when a request last decided it, whether
        to keep every page it was found on, else the first `kept`), their pages and anchors
        taken from the sources, and point `links` at them, in one transaction."""
        batch, nul = _packed([_found_check_values(*check) for check in checks])
        params = {"run_id": run_id, "batch": batch, "kept": kept, "nul": nul}
        with self._transaction(f"save link checks of run {run_id}") as db:
            self._require_run(db, run_id, running=True)
            db.conn.execute(_SAVE_FOUND, params)
            db.conn.execute(_UPSERT_LINK, params)

    def kept_checks(self, run_id: int) -> KeptLinkChecks:
        """This run's link checks as kept here, to be asked again (models.KeptChecks)."""
        return KeptLinkChecks(self.path, run_id, type(self).open_read_only)

    def fresh_links(
        self, urls: Sequence[str], since: datetime, now: datetime
    ) -> dict[str, tuple[int | None, datetime]]:
        """Of `urls`, those whose latest verdict, `ok` in a complete run, was decided by a
        request between `since` and `now`: their status then and when it was asked."""
        params = [json.dumps(list(urls)), format_time(since), format_time(now)]
        fresh = {}
        for row in self._select("read recent link checks", _FRESH, params):
            asked = parse_time(row["asked_at"])
            if asked is not None:
                fresh[row["url"]] = (row["http_status"], asked)
        return fresh

    def doubted_heads(self, urls: Sequence[str]) -> set[str]:
        """Of `urls`, those whose latest verdict a GET had to decide because their HEAD could
        not be believed: the next check goes to that GET at once (`_DOUBTED`)."""
        rows = self._select("read failing links", _DOUBTED, [json.dumps(list(urls))])
        return {row["url"] for row in rows}

    def load_crawled_page(self, url_key: str) -> CrawledPage | None:
        """A page's last crawl (validators and links), if it was read before."""
        sql = "SELECT * FROM crawled_pages WHERE url = ?"
        rows = self._select("read crawled pages", sql, [url_key])
        return self._parse("crawled_pages", rows[0], _page_from_row) if rows else None


class KeptLinkChecks:
    """One run's link checks in the store (models.KeptChecks), each question asked on a
    read-only connection of its own: a report can go over them after the store that wrote them
    has closed, and only a batch of 500 is held at a time (issue 15)."""

    def __init__(self, path: Path, run_id: int, opener: Callable[[Path], StoreBase]) -> None:
        self.path, self.run_id, self.opener = path, run_id, opener

    def all(self, *, anchors: bool = True) -> Iterator[LinkCheck]:
        sql = _CHECKS_AFTER if anchors else _LISTED_AFTER
        with self.opener(self.path) as store:
            after = 0
            while rows := store._select("read link checks", sql, [self.run_id, after]):
                yield from (store._parse("link_checks", r, link_check_from_row) for r in rows)
                after = rows[-1]["id"]

    def first_by_url(self, count: int, states: frozenset[LinkState]) -> list[LinkCheck]:
        # SQLite keeps only `count` rows while it sorts; a pass in Python would parse them all.
        params = [self.run_id, json.dumps(sorted(states)), count]
        with self.opener(self.path) as store:
            rows = store._select("read link checks", _FIRST_BY_URL, params)
            return [store._parse("link_checks", r, link_check_from_row) for r in rows]

    def states_of(self, urls: frozenset[str]) -> dict[str, LinkState]:
        params = [self.run_id, json.dumps(sorted(urls))]
        with self.opener(self.path) as store:
            rows = store._select("read link states", _STATES_OF, params)
            return {row["url"]: LinkState(row["state"]) for row in rows}
