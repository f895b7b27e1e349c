"""`page#id` links (issue 14, `[deep] check_fragments`): which ids each page read names, which
links ask for one, and, once the crawl has read every page, each such link's verdict.

A fragment is judged only against a page this run read (or a 304 stood for): a page of another
site, a file or a failing page has no ids to judge by, and its link is judged as a link alone.
Memory holds one set of ids per page read and one reference per `page#id` link found.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ocwwatch.models import (
    CrawlStep,
    ElementKind,
    FrontierEntry,
    LinkKind,
    LinkProbe,
    LinkState,
)

# What a browser scrolls to even when no element has that id (HTML standard, "find a potential
# indicated element"): the empty fragment and `top` are the top of the page.
ALWAYS_THERE = frozenset({"", "top"})
METHOD = "fragment"  # the probe's method: decided from the ids of the page read, no request


@dataclass(frozen=True)
class FragmentLink:
    """One `page#id` link as found: the page's key and URL, the id, and where it was."""

    key: str
    url: str
    fragment: str
    found_on: str
    text: str
    element: str
    kind: ElementKind
    resource_id: str | None


class Fragments:
    """The ids of the pages read, and the `page#id` links found, during one crawl."""

    def __init__(self) -> None:
        self.targets: dict[str, frozenset[str]] = {}
        self.links: list[FragmentLink] = []

    def note_page(self, keys: Iterable[str], targets: Iterable[str]) -> None:
        """A page read (under each of its URL keys: asked for, and landed on)."""
        ids = frozenset(targets)
        for key in keys:
            self.targets[key] = ids

    def note_link(self, link: FragmentLink) -> None:
        self.links.append(link)

    def settle(self, step: CrawlStep, now: datetime) -> int:
        """Judge every `page#id` link whose page was read, into `step` (as a found link with
        its sources); how many were judged."""
        judged: set[str] = set()
        for link in self.links:
            ids = self.targets.get(link.key)
            if ids is None:
                continue  # the page was not read: nothing to judge the id by
            key = f"{link.key}#{link.fragment}"
            step.sources.append((key, link.found_on, link.text, link.element, link.kind.value))
            if key in judged:
                continue
            judged.add(key)
            entry = FrontierEntry(
                url=f"{link.url}#{link.fragment}",
                key=key,
                kind=LinkKind.PAGE,
                resource_id=link.resource_id,
            )
            step.settled.append((entry, probe_of(entry, link.fragment, ids, now)))
        return len(judged)


def probe_of(entry: FrontierEntry, fragment: str, ids: frozenset[str], now: datetime) -> LinkProbe:
    """A `page#id` link's verdict: ok when the page has that id (or `name`d anchor)."""
    if fragment in ids or fragment.lower() in ALWAYS_THERE:
        state, detail = LinkState.OK, None
    else:
        state = LinkState.MISSING_FRAGMENT
        detail = f"the page has no element with id or name {fragment!r}"
    return LinkProbe(
        key=entry.key,
        final_url=entry.url,
        state=state,
        detail=detail,
        method=METHOD,
        fetched_at=now,
    )
