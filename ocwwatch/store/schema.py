"""The database schema as an append-only list of migrations; a migration's position is its version.

It owns table definitions only: no reads, no writes of records (those are the Store's).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlite_utils import Database

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

# Issue 4, the deep check. The frontier and the sources of one run are working state, streamed
# so that memory does not grow with the number of links; a run's rows are cleared once it is over.
# `crawled_pages` keeps, per page, the validators and the links read from the body they
# validate, so that a 304 can stand for the page in the next run.
_SCHEMA_2 = """
ALTER TABLE link_checks ADD COLUMN kind TEXT;
ALTER TABLE link_checks ADD COLUMN redirects TEXT NOT NULL DEFAULT '[]';
ALTER TABLE link_checks ADD COLUMN anchors TEXT NOT NULL DEFAULT '[]';
CREATE TABLE crawl_frontier (
    seq INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id),
    url_key TEXT NOT NULL,
    url TEXT NOT NULL,
    kind TEXT NOT NULL,
    resource_id TEXT,
    depth INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'claimed', 'done')),
    final_url TEXT,
    http_status INTEGER,
    redirects TEXT,
    content_type TEXT,
    page_kind TEXT,
    failure TEXT,
    failure_detail TEXT,
    verdict TEXT,
    verdict_detail TEXT,
    method TEXT,
    fetched_at TEXT,
    UNIQUE (run_id, url_key)
);
CREATE INDEX crawl_frontier_queue ON crawl_frontier (run_id, state, seq);
CREATE TABLE crawl_sources (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id),
    url_key TEXT NOT NULL,
    found_on TEXT NOT NULL,
    anchor_text TEXT NOT NULL DEFAULT '',
    UNIQUE (run_id, url_key, found_on)
);
CREATE TABLE crawled_pages (
    url TEXT PRIMARY KEY,
    final_url TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    page_kind TEXT NOT NULL,
    links TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"""

# Issue 4, item 5: what the Wayback Machine's availability API answered for a dead link, so that
# a run asks again only for a miss older than `deep.wayback_miss_retry_days`. A hit keeps its
# snapshot (archived copies stay); a miss has no snapshot. Failed lookups are not stored.
_SCHEMA_3 = """
CREATE TABLE wayback_lookups (
    url TEXT PRIMARY KEY,
    looked_up_at TEXT NOT NULL,
    snapshot_url TEXT,
    snapshot_time TEXT,
    CHECK ((snapshot_url IS NULL) = (snapshot_time IS NULL))
);
"""

# When a link's verdict was last decided by a request (not taken over from an earlier run by
# `deep.recheck_after_hours`): the recheck window counts from there, never from a run that
# only repeated it.
_SCHEMA_4 = """
ALTER TABLE links ADD COLUMN asked_at TEXT;
"""


# Issue 16: views for the questions people ask of the database in Datasette or sqlite3, with
# the JSON columns' few readable fields pulled out (rows stay one line high). Complete runs
# only, as every report. Views hold no data: dropping them loses nothing.
_SCHEMA_5 = """
CREATE VIEW run_summary AS
SELECT id AS run_id, started_at, finished_at, offline,
    json_extract(counts, '$.resources') AS resources,
    json_extract(counts, '$.links') AS links,
    json_extract(counts, '$.dead') AS dead,
    json_extract(counts, '$.replaced') AS replaced,
    json_extract(counts, '$.moved') AS moved,
    json_extract(counts, '$.changed') AS changed
FROM runs WHERE status = 'complete';
CREATE VIEW resource_timeline AS
SELECT o.resource_id, o.run_id, o.observed_at, o.outcome, o.http_status, o.url, o.final_url,
    (SELECT group_concat(field, ', ') FROM (
        SELECT DISTINCT json_extract(value, '$.field') AS field FROM json_each(o.changes)
    )) AS changed_fields,
    json_extract(o.suggestion, '$.url') AS fix_url, o.error
FROM observations AS o JOIN runs ON runs.id = o.run_id AND runs.status = 'complete';
CREATE VIEW current_state AS
SELECT t.resource_id, r.kind, t.outcome, t.http_status, t.url, t.final_url, t.fix_url,
    json_extract(o.metadata, '$.title') AS title,
    json_extract(o.metadata, '$.course_number') AS course_number,
    json_extract(o.metadata, '$.term') AS term,
    t.changed_fields, t.error, t.observed_at, t.run_id
FROM resource_timeline AS t
JOIN observations AS o ON o.resource_id = t.resource_id AND o.run_id = t.run_id
LEFT JOIN resources AS r ON r.id = t.resource_id
WHERE t.run_id = (
    SELECT max(run_id) FROM resource_timeline AS later WHERE later.resource_id = t.resource_id
);
CREATE VIEW dead_links AS
SELECT c.url, c.state, c.http_status, c.final_url,
    json_extract(c.found_on, '$[0]') AS found_on_first, json_array_length(c.found_on) AS pages,
    c.first_failed_at, c.failed_runs, json_extract(c.suggestion, '$.url') AS fix_url,
    c.detail, c.run_id
FROM link_checks AS c
WHERE c.state IN ('dead', 'soft404')
    AND c.run_id = (SELECT max(id) FROM runs WHERE status = 'complete');
"""


# Issue 14: the element and attribute each found link was read from (`img[src]`,
# `link[href]`...), so that a report can say an image or a stylesheet is broken; and what a
# link's `#fragment` can name on a page read (its ids), so that a 304 can stand for them too.
_SCHEMA_6 = """
ALTER TABLE crawl_sources ADD COLUMN element TEXT NOT NULL DEFAULT 'a[href]';
ALTER TABLE crawled_pages ADD COLUMN targets TEXT NOT NULL DEFAULT '[]';
"""


# Issue 14, in the reports: what each found link was for on its pages (`link[href]` alone is a
# stylesheet or an icon), and, in each link's check (which outlives the working tables), the
# distinct elements it was found in, `[{"element": "img[src]", "kind": "image"}, ...]` in the
# order found, so that a report, now or later, can say "image" or "stylesheet". `dead_links`
# shows them (a view is recreated to change: it holds no data).
_SCHEMA_7 = """
ALTER TABLE crawl_sources ADD COLUMN kind TEXT NOT NULL DEFAULT 'link';
ALTER TABLE link_checks ADD COLUMN elements TEXT NOT NULL DEFAULT '[]';
DROP VIEW dead_links;
CREATE VIEW dead_links AS
SELECT c.url, c.state, c.http_status, c.final_url,
    json_extract(c.found_on, '$[0]') AS found_on_first, json_array_length(c.found_on) AS pages,
    coalesce((SELECT group_concat(element, ', ') FROM (
        SELECT DISTINCT json_extract(value, '$.element') AS element FROM json_each(c.elements)
    )), 'a[href]') AS elements,
    c.first_failed_at, c.failed_runs, json_extract(c.suggestion, '$.url') AS fix_url,
    c.detail, c.run_id
FROM link_checks AS c
WHERE c.state IN ('dead', 'soft404')
    AND c.run_id = (SELECT max(id) FROM runs WHERE status = 'complete');
"""


# Issue 15: a working link keeps only the first pages it was found on (`found_on`, `anchors`),
# and this count of all of them; a link to fix keeps every page. A site's menu link is on every
# page, and copying each page into each run's checks made a 3,300-link run's database 124 MB.
# NULL: `found_on` is complete (every row before this migration, and every plain check).
_SCHEMA_8 = """
ALTER TABLE link_checks ADD COLUMN found_on_count INTEGER;
"""


# Issue 15: a deep run's working rows (its frontier and where each link was found) move to a
# file of their own beside the database (`WORK_TABLES`), deleted whole once the run is over:
# deleting them row by row and giving the space back (VACUUM) took 1.8 s of a 20k-link run.
_SCHEMA_9 = """
DROP TABLE IF EXISTS crawl_sources;
DROP TABLE IF EXISTS crawl_frontier;
"""

# The working file's tables, attached as schema `crawl` (base.WORK_SCHEMA): created when the
# file is, never migrated (a new file is started whenever no run is running). No foreign keys:
# SQLite has none across files, and nothing outlives the run that wrote them.
WORK_TABLES = (
    """
CREATE TABLE IF NOT EXISTS crawl.crawl_frontier (
    seq INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL,
    url_key TEXT NOT NULL,
    url TEXT NOT NULL,
    kind TEXT NOT NULL,
    resource_id TEXT,
    depth INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'claimed', 'done')),
    final_url TEXT,
    http_status INTEGER,
    redirects TEXT,
    content_type TEXT,
    page_kind TEXT,
    failure TEXT,
    failure_detail TEXT,
    verdict TEXT,
    verdict_detail TEXT,
    method TEXT,
    fetched_at TEXT,
    UNIQUE (run_id, url_key)
)""",
    "CREATE INDEX IF NOT EXISTS crawl.crawl_frontier_queue ON crawl_frontier (run_id, state, seq)",
    """
CREATE TABLE IF NOT EXISTS crawl.crawl_sources (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL,
    url_key TEXT NOT NULL,
    found_on TEXT NOT NULL,
    anchor_text TEXT NOT NULL DEFAULT '',
    element TEXT NOT NULL DEFAULT 'a[href]',
    kind TEXT NOT NULL DEFAULT 'link',
    UNIQUE (run_id, url_key, found_on)
)""",
    # A link's sources in the order found, so that its first pages are read without the rest.
    "CREATE INDEX IF NOT EXISTS crawl.crawl_sources_by_link ON crawl_sources (run_id, url_key)",
    # Per link, how many pages it was found on and the distinct elements it was found in, in
    # the order found, kept up as sources arrive (on the store's thread, during the crawl):
    # counting them once the crawl was over held up a 20k-link run's end by a second.
    """
CREATE TABLE IF NOT EXISTS crawl.crawl_found (
    run_id INTEGER NOT NULL,
    url_key TEXT NOT NULL,
    sources INTEGER NOT NULL,
    elements TEXT NOT NULL,
    PRIMARY KEY (run_id, url_key)
) WITHOUT ROWID""",
    """
CREATE TRIGGER IF NOT EXISTS crawl.crawl_sources_found AFTER INSERT ON crawl_sources BEGIN
    INSERT INTO crawl_found (run_id, url_key, sources, elements)
    VALUES (
        new.run_id, new.url_key, 1,
        json_array(json_object('element', new.element, 'kind', new.kind))
    )
    ON CONFLICT (run_id, url_key) DO UPDATE SET
        sources = sources + 1,
        elements = CASE
            WHEN EXISTS (
                SELECT 1 FROM json_each(elements)
                WHERE value ->> 'element' = new.element AND value ->> 'kind' = new.kind
            ) THEN elements
            ELSE json_insert(
                elements, '$[#]', json_object('element', new.element, 'kind', new.kind)
            )
        END;
END""",
)


def _migrate_1_initial(db: Database) -> None:
    db.executescript(_SCHEMA_1)


def _migrate_2_deep_check(db: Database) -> None:
    db.executescript(_SCHEMA_2)


def _migrate_3_wayback_lookups(db: Database) -> None:
    db.executescript(_SCHEMA_3)


def _migrate_4_links_asked_at(db: Database) -> None:
    db.executescript(_SCHEMA_4)


def _migrate_5_views(db: Database) -> None:
    db.executescript(_SCHEMA_5)


def _migrate_6_source_elements(db: Database) -> None:
    db.executescript(_SCHEMA_6)


def _migrate_7_link_check_elements(db: Database) -> None:
    db.executescript(_SCHEMA_7)


def _migrate_8_found_on_count(db: Database) -> None:
    db.executescript(_SCHEMA_8)


def _migrate_9_working_file(db: Database) -> None:
    db.executescript(_SCHEMA_9)


# Append only: a migration's position (from 1) is the schema version it brings the database to.
MIGRATIONS: tuple[Callable[[Database], None], ...] = (
    _migrate_1_initial,
    _migrate_2_deep_check,
    _migrate_3_wayback_lookups,
    _migrate_4_links_asked_at,
    _migrate_5_views,
    _migrate_6_source_elements,
    _migrate_7_link_check_elements,
    _migrate_8_found_on_count,
    _migrate_9_working_file,
)
