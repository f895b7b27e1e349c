"""Settings become option values here, and only here: the fetch policy, the crawl's options,
the archive lookups' options. The stages take these values, never the settings themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from ocwwatch.archive import ArchiveOptions
from ocwwatch.config import MAX_WORKERS, WORKERS_PER_SLOT, DeepSettings, HttpSettings
from ocwwatch.crawl import DeepOptions
from ocwwatch.fetch import FetchPolicy, check_proxy_environment
from ocwwatch.models import ResourceKind


def fetch_policy(
    http: HttpSettings, *, replay: bool, allowed_origins: Sequence[str] = ()
) -> FetchPolicy:
    """The fetcher's rules from the settings (the one place they are read); a replay needs no
    politeness."""
    policy = FetchPolicy(
        allowed_origins=tuple(allowed_origins),
        timeout_seconds=http.timeout_seconds,
        per_host_concurrency=http.per_host_concurrency,
        per_host_interval_seconds=0.0 if replay else http.per_host_interval_seconds,
        max_redirects=http.max_redirects,
        max_bytes=http.max_bytes,
        retries=http.retries,
        url_wait_budget_seconds=http.url_wait_budget_seconds,
        run_wait_budget_seconds=http.run_wait_budget_seconds,
    )
    if http.user_agent:
        policy = policy.model_copy(update={"user_agent": http.user_agent})
    return policy


def check_environment() -> None:
    """The environment's part of the settings (proxy variables): a bad value is a ConfigError
    naming the variable, raised before any run starts (issue 11)."""
    check_proxy_environment()


def deep_options(deep: DeepSettings, per_host_concurrency: int) -> DeepOptions:
    hours = deep.recheck_after_hours
    return DeepOptions(
        workers=deep_workers(deep, per_host_concurrency),
        extract_workers=deep.extract_workers,
        check_external=deep.check_external,
        respect_robots=deep.respect_robots,
        robots_user_agent=deep.robots_user_agent,
        recheck_after=timedelta(hours=hours) if hours else None,
        max_links_per_page=deep.max_links_per_page,
        max_links_per_run=deep.max_links_per_run,
        link_kinds=frozenset(deep.link_kinds),
        check_fragments=deep.check_fragments,
        accept=frozenset(deep.accept),
        accept_hosts={host.lower(): frozenset(codes) for host, codes in deep.accept_hosts.items()},
    )


def deep_workers(deep: DeepSettings, per_host_concurrency: int) -> int:
    """Checks in flight: the setting, or enough for `WORKERS_PER_SLOT` checks per host slot."""
    if deep.workers is not None:
        return deep.workers
    return min(MAX_WORKERS, WORKERS_PER_SLOT * per_host_concurrency)


def archive_options(deep: DeepSettings) -> ArchiveOptions:
    return ArchiveOptions(
        endpoint=deep.wayback_endpoint,
        timeout_seconds=deep.wayback_timeout_seconds,
        max_lookups=deep.wayback_max_lookups,
        miss_retry_days=deep.wayback_miss_retry_days,
    )


def pages_to_crawl(
    deep: DeepSettings, kinds: Mapping[str, ResourceKind], resource_id: str
) -> int | None:
    """How many pages of a resource's site a deep run reads; None leaves it out. A `page`
    resource is read alone: its own links are checked, one level (issue 12)."""
    if not deep.crawls(resource_id):
        return None
    return 1 if kinds.get(resource_id) is ResourceKind.PAGE else deep.max_pages_for(resource_id)
