"""Retries: which answers are worth another try, and how long to wait before it.

Transient failures only (timeouts, refused or reset connections, 408, 429 and 5xx but 501),
with "equal jitter" exponential backoff, or the server's own Retry-After, capped. Pure functions.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from ocwwatch.models import FailureKind

RETRYABLE_FAILURES = frozenset(
    {FailureKind.TIMEOUT, FailureKind.CONNECT, FailureKind.RESET, FailureKind.DNS_TEMPORARY}
)


def is_transient_status(status: int) -> bool:
    """408, 429 and 5xx are worth another try; 501 (method not implemented) never changes."""
    return status in (408, 429) or (500 <= status <= 599 and status != 501)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from `now` (delta-seconds or HTTP-date); None when unusable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def is_transient(status: int | None, failure: FailureKind | None) -> bool:
    if failure is not None:
        return failure in RETRYABLE_FAILURES
    return status is not None and is_transient_status(status)


def backoff_seconds(base_seconds: float, attempt: int, rng: random.Random) -> float:
    """The wait before try `attempt + 1`: half fixed, half random ("equal jitter")."""
    step = base_seconds * 2.0**attempt
    return step / 2 + rng.uniform(0, step / 2)
