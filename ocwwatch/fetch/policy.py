"""FetchPolicy: every knob of the fetch stage, with the polite defaults DESIGN.md asks for.

A frozen record and nothing else: it is read by the Fetcher, built by config; it does no I/O.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

import ocwwatch

MIB = 1024 * 1024

DEFAULT_USER_AGENT = (
    f"ocwwatch/{ocwwatch.__version__} "
    "(+https://github.com/ocwwatch/ocwwatch; link checker for curated course lists)"
)


class FetchPolicy(BaseModel):
    """How politely, how long and how hard one Fetcher tries."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_agent: str = Field(default=DEFAULT_USER_AGENT, min_length=1)
    timeout_seconds: float = Field(default=30.0, gt=0)  # whole request, connect to last byte
    per_host_concurrency: int = Field(default=2, ge=1)
    per_host_interval_seconds: float = Field(default=0.5, ge=0)  # between request starts
    max_redirects: int = Field(default=10, ge=0)
    max_bytes: int = Field(default=100 * MIB, ge=1)  # decoded body cap (the Strang PDF: 30 MB)
    retries: int = Field(default=3, ge=0)  # tries after the first, transient failures only
    backoff_base_seconds: float = Field(default=0.5, ge=0)
    max_retry_after_seconds: float = Field(default=120.0, ge=0)
    # Issue 11: waiting beyond the configured pace is bounded. A URL's retry waits (backoff,
    # Retry-After) stop at the first; everything a run waits beyond its pace (retry waits, a
    # slowed host's pauses and longer intervals) at the second.
    url_wait_budget_seconds: float = Field(default=60.0, ge=0)
    run_wait_budget_seconds: float = Field(default=1800.0, ge=0)
    # Origins (`scheme://host:port`) that may be loopback or private: the list's own and those
    # the settings allow. Every other request is refused such addresses (fetch/guard.py).
    allowed_origins: tuple[str, ...] = ()
