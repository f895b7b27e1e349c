"""The deep check (issue 4): crawl each watched course site within its URL prefix and check
every link found, politely, remembering failures across runs.

A stage with a narrow door: option values in (DeepOptions, the sites), the frontier as a
protocol (crawl/frontier.py), no settings and no store imported. It does not print, render or
decide exit codes. `crawl_sites` is the one entry point; the pipeline plans and calls it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ocwwatch.clock import Clock
from ocwwatch.crawl.crawler import DeepCrawl, DeepOptions, Progress, Seed
from ocwwatch.crawl.frontier import Frontier
from ocwwatch.crawl.scope import Scope, Site, site_prefix
from ocwwatch.fetch import Fetcher
from ocwwatch.judge import ANSWERED
from ocwwatch.models import LinkChecks, PageKind

__all__ = ["Crawled", "DeepOptions", "Frontier", "Seed", "Site", "crawl_sites", "plan_sites"]

# A home that is one of these is no course site to crawl (a dead course, a file).
UNCRAWLABLE = frozenset({PageKind.NOT_FOUND, PageKind.PDF, PageKind.OTHER})


@dataclass(frozen=True)
class Crawled:
    """What a deep run found: every link judged, and what cut the crawl short (run notes)."""

    links: LinkChecks
    notes: tuple[str, ...] = ()


def plan_sites(seeds: Sequence[Seed], max_pages: Callable[[str], int | None]) -> list[Site]:
    """The course sites to crawl: each course home that answered with a page, with the pages
    it may be read to (`max_pages(resource_id)`; None leaves the course out)."""
    sites = []
    for seed in seeds:
        limit = max_pages(seed.resource_id) if seed.resource_id is not None else None
        if seed.resource_id is None or limit is None:
            continue
        result = seed.result
        if result.status not in ANSWERED or seed.metadata.page_kind in UNCRAWLABLE:
            continue
        home = result.final_url
        sites.append(Site(seed.resource_id, home, site_prefix(home), limit))
    return sites


async def crawl_sites(
    frontier: Frontier,
    fetcher: Fetcher,
    run_id: int,
    seeds: Sequence[Seed],
    *,
    sites: Sequence[Site],
    options: DeepOptions,
    now: Clock,
    progress: Progress,
) -> Crawled:
    """Crawl `sites` from `seeds`; every link found, judged and stored in the frontier.

    `seeds` are what the resource checks fetched (course homes with `resource_id`, the pages
    they followed with `found_on`): none is fetched again. Which addresses may be reached is
    the fetcher's address guard's to say. The notes say where `options.max_links_per_page` or
    `options.max_links_per_run` cut the crawl.
    """
    crawl = DeepCrawl(frontier, fetcher, run_id, Scope(sites), options, now=now, progress=progress)
    checks = await crawl.run(seeds)
    return Crawled(checks, crawl.cuts.notes(options))
