"""Report renderers: a Report (or a list of runs) in, a `str` out, in Markdown, JSON, HTML, Atom.

Pure: no files, no clock, no printing. The caller picks file names (see `report_filename`) and
writes what these functions return.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from ocwwatch.models import Report, Run
from ocwwatch.report.feed import FeedEntry, feed_entry, render_feed, summarize_report
from ocwwatch.report.html import html_parts, render_html
from ocwwatch.report.index import render_index
from ocwwatch.report.json_report import format_timestamp, json_parts, render_json
from ocwwatch.report.markdown import render_markdown
from ocwwatch.report.sarif import render_sarif, sarif_parts

RENDERERS: Mapping[str, Callable[[Report], str]] = {
    "markdown": render_markdown,
    "json": render_json,
    "html": render_html,
    "sarif": render_sarif,
}

# Formats that can also be rendered in pieces, to be written out without being held whole (a
# deep run's JSON report is tens of megabytes, its HTML page megabytes). Markdown lists only
# the findings, and is rendered whole.
IN_PIECES: Mapping[str, Callable[[Report], Iterable[str]]] = {
    "json": json_parts,
    "html": html_parts,
    "sarif": sarif_parts,
}

FILE_SUFFIX: Mapping[str, str] = {
    "markdown": "md",
    "json": "json",
    "html": "html",
    "sarif": "sarif",
}


def report_filename(run: Run, report_format: str) -> str:
    """The file name of one run's report in one format, e.g. `run-7.html`."""
    return f"run-{run.id}.{FILE_SUFFIX[report_format]}"


__all__ = [
    "FILE_SUFFIX",
    "IN_PIECES",
    "RENDERERS",
    "FeedEntry",
    "feed_entry",
    "format_timestamp",
    "render_feed",
    "render_html",
    "render_index",
    "render_json",
    "render_markdown",
    "render_sarif",
    "report_filename",
    "summarize_report",
]
