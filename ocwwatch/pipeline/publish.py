"""Publishing a finished run: render every format, store the texts, write the report files.

The database keeps each report's exact text (so `ocwwatch report` reproduces it byte for byte);
the files under the reports folder are copies of it, plus the index page and the Atom feed.
Writes nothing outside the reports folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import asdict
from functools import partial
from pathlib import Path

from ocwwatch.errors import FileWriteError, ReportFilesError, StoreError
from ocwwatch.files import copy_file, install_file, stage_file, write_chunks, write_file
from ocwwatch.judge import News, news_since
from ocwwatch.models import Report, Run, Validators
from ocwwatch.report import (
    FILE_SUFFIX,
    IN_PIECES,
    RENDERERS,
    FeedEntry,
    render_feed,
    render_index,
    report_filename,
    summarize_report,
)
from ocwwatch.store import Store

log = logging.getLogger(__name__)

SUMMARY = "summary"  # the stored one-paragraph summary the feed shows for each run
NEWS = "news"  # the stored findings standing after each run, and which were new or recovered
# Stored for a replay run only, holding the scenario's name: `baseline accept` refuses such a
# run even where a database holds it by mistake (issue 16).
REPLAY = "replay"


def publish_run(
    store: Store,
    report: Report,
    reports_dir: Path,
    reports_url: str | None,
    validators: Mapping[str, Validators] | None = None,
) -> Run:
    """Store every rendering, mark the run complete, then write the files; returns the run.

    One rendering at a time, and the files are written from the store: a deep run's reports
    run to megabytes each, and holding all of them at once was most of its peak memory.
    """
    run = report.run
    assert run.finished_at is not None, "only finished runs are published"
    staged: dict[str, Path] = {}
    try:
        stage_reports(store, report, reports_dir, staged)
        store.save_report(run.id, SUMMARY, summarize_report(report))
        news = news_of(store, report)
        store.save_report(run.id, NEWS, json.dumps(asdict(news), ensure_ascii=False))
        if run.replay is not None:
            store.save_report(run.id, REPLAY, run.replay)
        finished = store.finish_run(run.id, run.finished_at, run.counts, run.offline, validators)
    except BaseException:
        for temporary in staged.values():  # a full disk wants its space back now
            temporary.unlink(missing_ok=True)
        raise
    try:
        write_run_files(store, reports_dir, finished, staged)
        restore_run_files(store, reports_dir, run.id)
        write_listings(store, reports_dir, reports_url, replay=run.replay is not None)
    except (FileWriteError, OSError) as exc:
        # Complete is complete (issue 11): the files are copies of what the store holds.
        raise ReportFilesError(
            f"{exc}; run {run.id} is stored complete (`ocwwatch report {run.id}` prints it)"
        ) from exc
    return finished


def news_of(store: Store, report: Report) -> News:
    """What this run found new and what recovered, against the findings standing after the
    last complete run (an offline run changes nothing: it judged nothing)."""
    before: dict[str, str] = {}
    for run in store.list_runs():
        stored = store.load_report(run.id, NEWS) if run.id < report.run.id else None
        if stored is not None:
            before = json.loads(stored)["standing"]
            break
    if report.run.offline:
        return News(standing=before, new={}, recovered={})
    return news_since(report, before)


def stored_news(store: Store, run: Run) -> News | None:
    stored = store.load_report(run.id, NEWS)
    return None if stored is None else News(**json.loads(stored))


def stage_reports(store: Store, report: Report, reports_dir: Path, staged: dict[str, Path]) -> None:
    """Store every rendering and write each to a hidden file beside its report file, before
    the run is marked complete: a full disk then fails the run, never leaves a complete run
    without its files (issue 11); after it, making them the report files is only renames.

    A rendering written in pieces goes to its hidden file first and into the store from there
    (a crash leaves the hidden file to the next publish to remove)."""
    run = report.run
    try:
        reports_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FileWriteError(f"{reports_dir}: cannot create the reports folder: {exc}") from exc
    for name, render in RENDERERS.items():
        target = reports_dir / report_filename(run, name)
        in_pieces = IN_PIECES.get(name)
        if in_pieces is None:
            text = render(report)
            store.save_report(run.id, name, text)
            with stage_file(target, what="the report") as (temporary, out):
                out.write(text.encode("utf-8"))
            staged[name] = temporary
            continue
        with stage_file(target, what="the report") as (temporary, out):
            out.writelines(piece.encode("utf-8") for piece in in_pieces(report))
        staged[name] = temporary
        store.save_report_file(run.id, name, temporary)


def restore_run_files(store: Store, reports_dir: Path, current: int) -> None:
    """Rewrite the report files a crash kept from being written, drop stale temporaries.

    Only a crash after `complete` and before the files leaves a run without them, and only the
    newest runs: those after the newest earlier run whose files are all there (or, if none is,
    the newest earlier run). Older runs' missing files were removed on purpose (by hand, or
    by retention) and are never brought back (issue 11).
    """
    for leftover in reports_dir.glob(".*.tmp"):
        leftover.unlink(missing_ok=True)
    unwritten = []
    for run in store.list_runs():  # newest first
        if run.id == current:
            continue
        if all((reports_dir / report_filename(run, name)).exists() for name in RENDERERS):
            break
        unwritten.append(run)
    else:
        unwritten = unwritten[:1]  # no earlier run has its files: only the newest is a crash's
    for run in unwritten:
        for name in RENDERERS:
            path = reports_dir / report_filename(run, name)
            chunks = None if path.exists() else store.report_chunks(run.id, name)
            if chunks is not None:
                log.info("restoring %s from the database", path.name)
                write_chunks(path, chunks, what="the report")


def write_run_files(
    store: Store, reports_dir: Path, run: Run, staged: Mapping[str, Path] | None = None
) -> None:
    """`run-<id>.<suffix>` for every format, and `latest.<suffix>` with the same text, as
    stored: moved from `staged` where the report was written there, else from the store (as
    UTF-8 bytes, never decoded)."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    # Every run file first (renames of staged files need no space), the `latest` copies after.
    for name in RENDERERS:
        path = reports_dir / report_filename(run, name)
        if staged and name in staged:
            install_file(staged[name], path, what="the report")
            continue
        chunks = store.report_chunks(run.id, name)
        if chunks is None:
            raise StoreError(f"{store.path}: run {run.id} has no stored {name} report")
        write_chunks(path, chunks, what="the report")
    for name in RENDERERS:
        latest = reports_dir / f"latest.{FILE_SUFFIX[name]}"
        copy_file(reports_dir / report_filename(run, name), latest, what="the report")


def write_listings(
    store: Store, reports_dir: Path, reports_url: str | None, *, replay: bool = False
) -> None:
    """`index.html` (every run) and `feed.xml` (runs that found something), rebuilt whole.

    Replay runs get an index that says so and no feed: a recording is not news (issue 16).
    """
    runs = store.list_runs()
    summaries = {run.id: store.load_report(run.id, SUMMARY) or "" for run in runs}
    reports_dir.mkdir(parents=True, exist_ok=True)
    href = partial(report_filename, report_format="html")
    index = render_index(runs, report_href=href, replay=replay, summaries=summaries)
    write_text(reports_dir / "index.html", index)
    if replay:
        return
    base = reports_url or reports_dir.resolve().as_uri() + "/"
    entries = [
        FeedEntry(
            run=run,
            summary=summaries[run.id],
            report_href=href(run),
            newsworthy=None if (news := stored_news(store, run)) is None else news.any,
        )
        for run in runs
    ]
    updated = max((run.finished_at or run.started_at for run in runs), default=None)
    if updated is None:
        return
    feed = render_feed(
        entries,
        feed_url=base + "feed.xml",
        reports_base_url=base,
        updated=updated,
        installation=installation_of(runs),
    )
    write_text(reports_dir / "feed.xml", feed)


def installation_of(runs: list[Run]) -> str:
    """A short mark of this database, the same on every rebuild: from its first run's start,
    so two installations that both have a run 7 on the same day give their entries other ids."""
    first = min(runs, key=lambda run: run.id)
    return hashlib.sha256(first.started_at.isoformat().encode()).hexdigest()[:12]


def write_text(path: Path, text: str) -> None:
    """Replace a report file atomically, so a reader never sees half a report."""
    write_bytes(path, text.encode("utf-8"))


def write_bytes(path: Path, data: bytes) -> None:
    """`write_text` of text already encoded."""
    write_file(path, data, what="the report")
