"""The fetch stage: HTTP with politeness, redirects, retries, conditional requests and a byte cap.

Owns httpx (no other package imports it) and turns every transport problem into a FetchResult.
It must not parse what it fetched: bodies go to extract untouched.
"""

from ocwwatch.fetch.client import Fetcher, media_type
from ocwwatch.fetch.failures import NoRecordingError
from ocwwatch.fetch.policy import DEFAULT_USER_AGENT, FetchPolicy
from ocwwatch.fetch.pools import check_proxy_environment
from ocwwatch.fetch.replay import (
    Recording,
    Scenario,
    UnexpectedRequestError,
    find_scenario,
    load_scenario,
    open_fetcher,
    recordings_from_result,
    replay_transport,
    save_scenario,
    shipped_scenarios,
)
from ocwwatch.fetch.retry import parse_retry_after
from ocwwatch.fetch.urls import normalise_url

__all__ = [
    "DEFAULT_USER_AGENT",
    "FetchPolicy",
    "Fetcher",
    "NoRecordingError",
    "Recording",
    "Scenario",
    "UnexpectedRequestError",
    "check_proxy_environment",
    "find_scenario",
    "load_scenario",
    "media_type",
    "normalise_url",
    "open_fetcher",
    "parse_retry_after",
    "recordings_from_result",
    "replay_transport",
    "save_scenario",
    "shipped_scenarios",
]
