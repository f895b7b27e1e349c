"""The Atom 1.0 feed of runs that found something new or saw something recover, newest first,
each linking its HTML report: a finding is announced once, not every day while it stands.

It owns the feed's shape and its stable entry ids (tag: URIs, RFC 4151, unique per
installation). It must not read the
clock (the caller passes `updated`) nor decide where reports are stored (the caller passes hrefs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit
from xml.etree import ElementTree

from ocwwatch.models import SEVERITY, LinkState, Outcome, Report, Run
from ocwwatch.report.json_report import format_timestamp
from ocwwatch.report.markdown import clean_text

ATOM_NAMESPACE = "http://www.w3.org/2005/Atom"
FEED_TITLE = "ocwwatch: changes to the curated list"
_FALLBACK_AUTHORITY = "ocwwatch.invalid"
_DEAD_LINK_STATES = (LinkState.DEAD, LinkState.SOFT404)


@dataclass(frozen=True)
class FeedEntry:
    """One run as the feed shows it: its record, a one-paragraph summary, its report's href."""

    run: Run
    summary: str
    report_href: str  # relative to the feed's reports_base_url, or absolute
    # Whether the run found something new or saw something recover; None for runs stored
    # before that was recorded, which are shown when they found anything.
    newsworthy: bool | None = None

    @property
    def shown(self) -> bool:
        if self.run.offline:
            return False
        return self.run.has_findings if self.newsworthy is None else self.newsworthy


def summarize_report(report: Report) -> str:
    """One plain-text paragraph naming the resources of each finding, most severe first."""
    parts: list[str] = []
    for outcome in SEVERITY:
        if outcome is Outcome.OK:
            continue
        ids = sorted(item.id for item in report.resources if item.outcome is outcome)
        if ids:
            parts.append(f"{outcome.value.capitalize()}: {', '.join(ids)}.")
    dead_links = sum(1 for _link in report.links.where(_DEAD_LINK_STATES))
    if dead_links:
        parts.append(f"Dead links: {dead_links}.")
    return clean_text(" ".join(parts) or "Nothing to report.")


def feed_entry(report: Report, report_href: str) -> FeedEntry:
    """The feed entry for one report, summarised from its resources and links."""
    return FeedEntry(run=report.run, summary=summarize_report(report), report_href=report_href)


def render_feed(
    entries: Sequence[FeedEntry],
    *,
    feed_url: str,
    reports_base_url: str,
    updated: datetime,
    installation: str = "",
) -> str:
    """An Atom document with one entry per run that found something new (or saw something
    recover), newest first; `installation` keeps entry ids apart across databases."""
    # Plain names plus an explicit xmlns: ElementTree's default_namespace option refuses the
    # unqualified attributes (rel, href) that Atom uses.
    feed = ElementTree.Element("feed", {"xmlns": ATOM_NAMESPACE})
    _text(feed, "id", feed_url)
    _text(feed, "title", FEED_TITLE)
    _text(feed, "updated", format_timestamp(updated))
    _link(feed, feed_url, rel="self", media_type="application/atom+xml")
    _link(feed, _base(reports_base_url), rel="alternate", media_type="text/html")
    author = ElementTree.SubElement(feed, "author")
    _text(author, "name", "ocwwatch")
    _text(feed, "generator", "ocwwatch")
    chosen = [entry for entry in entries if entry.shown]
    chosen.sort(key=lambda entry: (entry.run.started_at, entry.run.id), reverse=True)
    for entry in chosen:
        _entry(
            feed,
            entry,
            feed_url=feed_url,
            reports_base_url=reports_base_url,
            installation=installation,
        )
    ElementTree.indent(feed)
    body = ElementTree.tostring(feed, encoding="unicode")
    return f'<?xml version="1.0" encoding="utf-8"?>\n{body}\n'


def entry_id(run: Run, feed_url: str, installation: str = "") -> str:
    """A tag: URI for a run that stays the same however often the feed is rebuilt, and differs
    between installations that publish under the same host."""
    authority = urlsplit(feed_url).hostname or _FALLBACK_AUTHORITY
    day = run.started_at.astimezone(UTC).date().isoformat()
    where = f"{installation}/" if installation else ""
    return f"tag:{authority},{day}:ocwwatch/{where}run/{run.id}"


def _entry(
    feed: ElementTree.Element,
    entry: FeedEntry,
    *,
    feed_url: str,
    reports_base_url: str,
    installation: str,
) -> None:
    run = entry.run
    element = ElementTree.SubElement(feed, "entry")
    _text(element, "id", entry_id(run, feed_url, installation))
    _text(element, "title", _entry_title(run))
    _text(element, "published", format_timestamp(run.started_at))
    _text(element, "updated", format_timestamp(run.finished_at or run.started_at))
    href = urljoin(_base(reports_base_url), entry.report_href)
    _link(element, href, rel="alternate", media_type="text/html")
    summary = _text(element, "summary", entry.summary)
    summary.set("type", "text")


def _entry_title(run: Run) -> str:
    counts = run.counts
    return f"Run {run.id}: {counts.dead} dead, {counts.moved} moved, {counts.changed} changed"


def _text(parent: ElementTree.Element, name: str, value: str | None) -> ElementTree.Element:
    element = ElementTree.SubElement(parent, name)
    element.text = clean_text(value or "")
    return element


def _link(parent: ElementTree.Element, href: str, *, rel: str, media_type: str) -> None:
    ElementTree.SubElement(
        parent, "link", {"rel": rel, "type": media_type, "href": clean_text(href)}
    )


def _base(reports_base_url: str) -> str:
    """The reports folder's URL with a trailing slash, so relative hrefs resolve inside it."""
    return reports_base_url if reports_base_url.endswith("/") else f"{reports_base_url}/"
