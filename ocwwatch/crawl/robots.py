"""robots.txt for the deep check (RFC 9309), read with protego: one fetch per host per run.

Owns protego and the reading of robots.txt answers. It says whether a URL may be fetched and
how far apart the host wants requests (Crawl-delay); it never fetches that URL itself.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from protego import Protego

from ocwwatch.fetch import Fetcher
from ocwwatch.models import FailureKind, FetchResult

log = logging.getLogger(__name__)

MAX_ROBOTS_BYTES = 500 * 1024  # RFC 9309, 2.5: crawlers must read at least 500 KiB
# The longest Crawl-delay honoured: some sites ask for minutes, which would stretch a crawl of
# a 2,000-page course site over days. Requests still start at least this far apart.
MAX_CRAWL_DELAY_SECONDS = 30.0
# The host did not answer at all: its links would fail the same way, so they share the failure.
NO_ANSWER = frozenset(
    {
        FailureKind.DNS,
        FailureKind.DNS_TEMPORARY,
        FailureKind.CONNECT,
        FailureKind.TIMEOUT,
        FailureKind.RESET,
    }
)


@dataclass(frozen=True)
class Permit:
    """May a URL be fetched; if not, why (skipped) or how its host failed (unreachable)."""

    allowed: bool
    reason: str | None = None
    unreachable: FetchResult | None = None


ALLOWED = Permit(allowed=True)


@dataclass(frozen=True)
class HostRules:
    """What one host's robots.txt answer means for its URLs."""

    parser: Protego | None = None  # None: no rules, everything allowed
    refused: str | None = None  # every URL disallowed, and why
    unreachable: FetchResult | None = None

    def permit(self, url: str, user_agent: str) -> Permit:
        if self.unreachable is not None:
            return Permit(allowed=False, unreachable=self.unreachable)
        if self.refused is not None:
            return Permit(allowed=False, reason=self.refused)
        if self.parser is None or self.parser.can_fetch(url, user_agent):
            return ALLOWED
        return Permit(allowed=False, reason=f"disallowed by robots.txt for {user_agent!r}")

    def delay_seconds(self, user_agent: str) -> float | None:
        """The seconds robots.txt asks between requests (Crawl-delay or Request-rate), or None.

        Neither is in RFC 9309; both are common, and asking for them is a host's way to say
        what it can bear.
        """
        if self.parser is None:
            return None
        delays = [self.parser.crawl_delay(user_agent) or 0.0]
        rate = self.parser.request_rate(user_agent)
        if rate is not None and rate.requests > 0:
            delays.append(rate.seconds / rate.requests)
        return max(delays) or None


def read_robots(result: FetchResult) -> HostRules:
    """The rules a robots.txt answer stands for (RFC 9309, 2.3.1)."""
    if result.status is None:
        if result.failure is FailureKind.BLOCKED_ADDRESS:
            # The address guard refused the host: every link to it is skipped, with its reason.
            return HostRules(refused=result.failure_detail or "refused by the address guard")
        # A replay without a recording for robots.txt means the scenario has none.
        if result.failure in NO_ANSWER:
            return HostRules(unreachable=result)
        return HostRules()
    if 200 <= result.status < 300:
        text = result.body[:MAX_ROBOTS_BYTES].decode("utf-8", errors="replace")
        return HostRules(parser=Protego.parse(text))
    if result.status >= 500:
        return HostRules(
            refused=(
                f"robots.txt answers {result.status}; RFC 9309 asks crawlers to assume"
                " everything is disallowed until it can be read"
            )
        )
    return HostRules()  # 4xx: "unavailable", no rules apply


def origin_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


class RobotsBook:
    """Each host's robots.txt, fetched once per run the first time one of its URLs comes up."""

    def __init__(self, fetcher: Fetcher, user_agent: str, *, enabled: bool = True) -> None:
        self.fetcher = fetcher
        self.user_agent = user_agent
        self.enabled = enabled
        self._hosts: dict[str, asyncio.Task[HostRules]] = {}

    async def permit(self, url: str) -> Permit:
        origin = origin_of(url)
        if not self.enabled or origin is None:
            return ALLOWED  # with no origin, the fetch itself will say what is wrong
        task = self._hosts.get(origin)
        if task is None:
            task = self._hosts[origin] = asyncio.create_task(self._load(origin))
        rules = await asyncio.shield(task)
        return rules.permit(url, self.user_agent)

    async def _load(self, origin: str) -> HostRules:
        result = await self.fetcher.fetch(f"{origin}/robots.txt")
        rules = read_robots(result)
        log.debug("robots.txt of %s: %s", origin, result.status or result.failure)
        delay = rules.delay_seconds(self.user_agent)
        if delay is not None:
            self.keep_delay(origin, delay)
        return rules

    def keep_delay(self, origin: str, delay_seconds: float) -> None:
        """Space the host's request starts as its robots.txt asks, up to the cap, for the run."""
        seconds = min(delay_seconds, MAX_CRAWL_DELAY_SECONDS)
        host = urlsplit(origin).hostname
        if host is None or seconds <= self.fetcher.policy.per_host_interval_seconds:
            return  # the usual pace is slower already
        log.info(
            "robots.txt of %s asks for %g s between requests: starting them %g s apart"
            " (Crawl-delay honoured up to %g s)",
            origin,
            delay_seconds,
            seconds,
            MAX_CRAWL_DELAY_SECONDS,
        )
        self.fetcher.slow_host(host, seconds)

    def close(self) -> None:
        """Cancel robots.txt fetches nobody waits for any more."""
        for task in self._hosts.values():
            task.cancel()
