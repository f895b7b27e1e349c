"""URL rules of the fetch stage: the one key used to compare URLs, httpx's parse of a URL to
request, and names that must never be looked up. Which addresses may be reached is the address
guard's (fetch/guard.py). Pure functions of the text; nothing here resolves or connects.
"""

from __future__ import annotations

from functools import lru_cache

import httpx

from ocwwatch.urls import parse_url

CACHED_URLS = 8192  # URLs whose normal form and host are remembered (about 2 MB)


def normalise_url(url: str) -> str:
    """The one key of a URL: as a browser reads it (WHATWG), without user info or fragment.

    Raises ValueError when a browser would reject the text.
    """
    return parse_url(url).request_url


@lru_cache(maxsize=CACHED_URLS // 4)  # an httpx.URL weighs about 1 kB; recent ones suffice
def parsed_url(url: str) -> httpx.URL:
    """`url` parsed by httpx (immutable, so shared): a redirect, a retry or the next check of
    the same URL does not parse it again. Raises ValueError when httpx cannot parse it."""
    return _parse(url)


def request_host(url: str) -> str:
    """The lower-case host httpx will connect to for `url` (politeness is per host).

    Raises ValueError when the text is not a URL httpx can parse.
    """
    return parsed_url(url).host.lower()


def is_reserved_invalid(host: str) -> bool:
    """True for `invalid` and every name under it, which must fail without a lookup.

    RFC 6761, section 6.4: applications "SHOULD recognize 'invalid' names as special and SHOULD
    NOT attempt to look up" them; asking the resolver would send a query for nothing.
    """
    name = host.lower().rstrip(".")
    return name == "invalid" or name.endswith(".invalid")


def _parse(url: str) -> httpx.URL:
    try:
        return httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"not a valid URL: {url!r} ({exc})") from exc
