"""A flaky resolver is not a dead link (issue 11): EAI_AGAIN is transient, NXDOMAIN is dead, and
a run whose first hops answered is not offline. Names resolve through an injected resolver and
every connection through a tripwire, so nothing leaves the machine."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest
from support.network import FakeResolver, Tripwire

from ocwwatch.fetch import Fetcher, FetchPolicy
from ocwwatch.judge import judge_resource, link_state
from ocwwatch.models import (
    FailureKind,
    FetchResult,
    Hop,
    LinkState,
    Metadata,
    Observation,
    Outcome,
    PageKind,
)
from ocwwatch.pipeline.check import Checked
from ocwwatch.pipeline.run import is_offline

pytestmark = pytest.mark.anyio
NO_PAGE = Metadata(page_kind=PageKind.OTHER)


class FlakyResolver(FakeResolver):
    """Answers "try again later" (EAI_AGAIN) for every name."""

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")


async def fetch_with(resolver: FakeResolver) -> FetchResult:
    policy = FetchPolicy(retries=2, backoff_base_seconds=0.0)
    async with Fetcher(policy, resolver=resolver, network_backend=Tripwire(set())) as fetcher:
        return await fetcher.fetch("https://flaky.example/course/")


async def test_a_temporary_resolver_failure_is_retried_and_unknown() -> None:
    """EAI_AGAIN is dns-temporary: retried, then judged unknown, never dead."""
    resolver = FlakyResolver({})
    result = await fetch_with(resolver)
    assert (result.failure, result.attempts) == (FailureKind.DNS_TEMPORARY, 3)
    assert len(resolver.asked) == 1 + 3  # the guard's look before the request, then one a try
    outcome, _ = judge_resource(result, NO_PAGE, "page", [])  # type: ignore[arg-type]
    assert outcome is Outcome.UNKNOWN
    assert link_state(result, NO_PAGE)[0] is LinkState.UNKNOWN


async def test_a_name_that_does_not_exist_is_dead() -> None:
    """NXDOMAIN (EAI_NONAME) stays a dead link, at once."""
    result = await fetch_with(FakeResolver({}))
    assert (result.failure, result.attempts) == (FailureKind.DNS, 1)
    assert link_state(result, NO_PAGE)[0] is LinkState.DEAD


def test_a_run_whose_first_hops_answered_is_not_offline() -> None:
    """A redirect to an unreachable host proves the network works: the run is judged."""
    at = datetime(2026, 3, 1, tzinfo=UTC)
    unreachable = FetchResult(
        url="https://a.example/",
        final_url="https://b.example/",
        status=None,
        failure=FailureKind.CONNECT,
        fetched_at=at,
    )
    answered_first = unreachable.model_copy(
        update={"redirects": (Hop(url="https://a.example/", status=301),)}
    )
    listed = Observation(
        id="a", url="https://a.example/", outcome=Outcome.UNKNOWN, metadata=NO_PAGE, observed_at=at
    )
    assert is_offline([Checked(observation=listed, result=unreachable)])
    assert not is_offline([Checked(observation=listed, result=answered_first)])
