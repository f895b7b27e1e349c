"""The deep check (issue 4): crawl each watched course site within its URL prefix and check
every link found, politely, remembering failures across runs.

Like `pipeline`, it wires stages (fetch, extract, judge, store) for one purpose; it does not
print, render or decide exit codes. `crawl_sites` is the one entry point.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from ocwwatch.clock import Clock
from ocwwatch.config import DeepSettings
from ocwwatch.crawl.crawler import DeepCrawl, DeepOptions, Progress, Seed
from ocwwatch.crawl.scope import Scope, Site, site_prefix
from ocwwatch.crawl.wayback import suggest_snapshots
from ocwwatch.fetch import Fetcher
from ocwwatch.judge import ANSWERED
from ocwwatch.models import LinkCheck, PageKind, Resource
from ocwwatch.store import Store

__all__ = ["Crawled", "DeepOptions", "Seed", "Site", "crawl_sites", "plan_sites"]

# A home that is one of these is no course site to crawl (a dead course, a file).
UNCRAWLABLE = frozenset({PageKind.NOT_FOUND, PageKind.PDF, PageKind.OTHER})


@dataclass(frozen=True)
class Crawled:
    """What a deep run found: every link judged, and what cut the crawl short (run notes)."""

    links: list[LinkCheck]
    notes: tuple[str, ...] = ()


def plan_sites(seeds: Sequence[Seed], deep: DeepSettings) -> list[Site]:
    """The course sites to crawl: each course home that answered with a page."""
    sites = []
    for seed in seeds:
        if seed.resource_id is None or not deep.crawls(seed.resource_id):
            continue
        result = seed.result
        if result.status not in ANSWERED or seed.metadata.page_kind in UNCRAWLABLE:
            continue
        sites.append(
            Site(
                resource_id=seed.resource_id,
                home=result.final_url,
                prefix=site_prefix(result.final_url),
                max_pages=deep.max_pages_for(seed.resource_id),
            )
        )
    return sites


def options_of(deep: DeepSettings) -> DeepOptions:
    return DeepOptions(
        workers=deep.workers,
        extract_workers=deep.extract_workers,
        check_external=deep.check_external,
        respect_robots=deep.respect_robots,
        robots_user_agent=deep.robots_user_agent,
        recheck_after=timedelta(hours=hours) if (hours := deep.recheck_after_hours) else None,
        max_links_per_page=deep.max_links_per_page,
        max_links_per_run=deep.max_links_per_run,
    )


async def crawl_sites(
    store: Store,
    fetcher: Fetcher,
    run_id: int,
    seeds: Sequence[Seed],
    *,
    deep: DeepSettings,
    resources: Iterable[Resource],
    now: Clock,
    progress: Progress,
) -> Crawled:
    """Crawl the sites of the course homes among `seeds`; every link found, judged and stored.

    `seeds` are what the resource checks fetched (course homes with `resource_id`, the pages
    they followed with `found_on`): none is fetched again. Found links may reach a private
    address only at the origins the fetcher's guard allows (the list's own). Dead links
    that no redirect explains get a Wayback Machine snapshot as suggestion (`deep.wayback`).
    The notes say where `deep.max_links_per_page` or `deep.max_links_per_run` cut the crawl.
    """
    sites = plan_sites(seeds, deep)
    scope = Scope(sites)
    options = options_of(deep)
    crawl = DeepCrawl(store, fetcher, run_id, scope, options, now=now, progress=progress)
    checks = await crawl.run(seeds)
    notes = crawl.cuts.notes(options)
    if not deep.wayback:
        return Crawled(checks, notes)
    checks = await suggest_snapshots(
        store, fetcher, run_id, checks, deep=deep, now=now, progress=progress
    )
    return Crawled(checks, notes)
