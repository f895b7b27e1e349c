"""Issue 14: one status matrix for resources and links (RFC 9110's statuses, 429 and 999), each
row run through a listed resource's check and through a deep check's link, on a MockTransport."""

from __future__ import annotations

import asyncio

import pytest
from support.crawl import HOME, MockSite, config, deep_run, ok, page, status

from ocwwatch.config import Config, DeepSettings, Settings
from ocwwatch.fetch import Recording
from ocwwatch.judge.statuses import judge_status
from ocwwatch.models import LinkState, Outcome, Resource, ResourceKind
from ocwwatch.store import Store

pytestmark = pytest.mark.anyio

L, R = LinkState, Outcome
# status: (a link's state, a listed resource's outcome), each for a request that was neither
# conditional nor ranged (the README's "Statuses" table).
MATRIX: dict[int, tuple[LinkState, Outcome]] = {
    **{code: (L.OK, R.OK) for code in (200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 299)},
    300: (L.OK, R.OK),
    304: (L.UNKNOWN, R.UNKNOWN),  # not conditional: nothing was read
    305: (L.UNKNOWN, R.UNKNOWN),
    306: (L.UNKNOWN, R.UNKNOWN),
    **{code: (L.UNKNOWN, R.UNKNOWN) for code in (400, 402, 405, 406, 408, 409, 411, 412, 413)},
    **{code: (L.UNKNOWN, R.UNKNOWN) for code in (414, 415, 416, 417, 418, 421, 422, 425, 426)},
    **{code: (L.UNKNOWN, R.UNKNOWN) for code in (428, 431, 499)},
    **{code: (L.BLOCKED, R.UNKNOWN) for code in (401, 403, 407, 429, 451, 999)},
    404: (L.DEAD, R.DEAD),
    410: (L.DEAD, R.DEAD),
    **{code: (L.UNKNOWN, R.UNKNOWN) for code in (500, 501, 502, 503, 504, 505, 507, 508, 511)},
    599: (L.UNKNOWN, R.UNKNOWN),
}
EMPTY = frozenset({204, 205, 304})  # answered without a body


def answer(code: int) -> Recording:
    body = b"" if code in EMPTY else page(title=f"Status {code}")
    return status(code, body)


def link_path(code: int) -> str:
    return f"{HOME}s/{code}/"


def all_statuses() -> MockSite:
    routes = {link_path(code): answer(code) for code in MATRIX}
    routes |= {f"/r/{code}": answer(code) for code in MATRIX}
    routes[link_path(301)] = Recording(url="", status=301, headers={})  # no Location
    routes["/r/301"] = Recording(url="", status=301, headers={})
    return MockSite(routes)


Verdicts = tuple[dict[str, LinkState], dict[str, Outcome]]


class VirtualTime:
    """A clock that waits by moving on: 429 and 503 slow the host down for real seconds."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture(scope="module")
def matrix_runs(tmp_path_factory: pytest.TempPathFactory) -> Verdicts:
    """One deep run whose home links every status, and one plain run listing every status as a
    resource: each row below reads its verdicts from these."""

    async def both() -> Verdicts:
        mock = all_statuses()
        mock.routes[HOME] = ok(page(*(link_path(code) for code in (*MATRIX, 301))))
        folder = tmp_path_factory.mktemp("matrix")
        with Store.open(folder / "links.db") as store:
            time = VirtualTime()
            deep = await deep_run(
                config(mock), store, transport=mock.transport(), sleep=time.sleep, clock=time.clock
            )
        links = {link.url: link.state for link in deep.report.links}
        resources = tuple(
            Resource(id=f"s{code}", url=mock.url(f"/r/{code}"), kind=ResourceKind.PAGE)
            for code in (*MATRIX, 301)
        )
        listed = Config(settings=Settings(), resources=resources)
        with Store.open(folder / "resources.db") as store:
            time = VirtualTime()
            plain = await deep_run(
                listed,
                store,
                transport=mock.transport(),
                deep=False,
                sleep=time.sleep,
                clock=time.clock,
            )
        outcomes = {item.id: item.outcome for item in plain.report.resources}
        return links, outcomes

    return asyncio.run(both())


ROWS = sorted(MATRIX.items())


@pytest.mark.parametrize(("code", "verdicts"), ROWS, ids=[str(code) for code, _ in ROWS])
def test_a_status_means_the_same_for_a_link_and_a_resource(
    matrix_runs: Verdicts,
    code: int,
    verdicts: tuple[LinkState, Outcome],
) -> None:
    """The row's link state through a deep check, its outcome through a resource check."""
    links, outcomes = matrix_runs
    url = MockSite.base_url + link_path(code)
    assert (links[url], outcomes[f"s{code}"]) == verdicts


def test_a_redirect_without_location_is_not_ok_either_way(
    matrix_runs: Verdicts,
) -> None:
    """A 301 with no Location: an unknown link, a resource in error (nothing was fetched)."""
    links, outcomes = matrix_runs
    assert links[MockSite.base_url + link_path(301)] is LinkState.UNKNOWN
    assert outcomes["s301"] is Outcome.ERROR


@pytest.mark.parametrize(
    ("code", "conditional", "ranged", "state"),
    [
        (304, True, False, LinkState.OK),  # stands for the 200 read before
        (416, False, True, LinkState.OK),  # an empty file
        (100, False, False, LinkState.UNKNOWN),
        (103, False, False, LinkState.UNKNOWN),
        (600, False, False, LinkState.UNKNOWN),
        (42, False, False, LinkState.UNKNOWN),
    ],
)
def test_how_a_request_was_made_decides_304_and_416(
    code: int, conditional: bool, ranged: bool, state: LinkState
) -> None:
    """A 304 to our validators and a 416 to our range are fine; interim and made-up statuses are
    not (the rows a MockTransport cannot serve)."""
    assert judge_status(code, conditional=conditional, ranged=ranged).link is state


async def test_file_checks_judge_304_and_416_by_the_request(store: Store) -> None:
    """A file whose HEAD answers 304 unasked is unknown; one whose ranged GET answers 416 (an
    empty file) is ok."""
    mock = MockSite(
        {
            HOME + "a.bin": status(304),
            HOME + "empty.bin": status(416),
        }
    )
    mock.routes[HOME] = ok(page(HOME + "a.bin", HOME + "empty.bin"))
    outcomes = await deep_run(config(mock), store, transport=mock.transport())
    states = {
        link.url.removeprefix(MockSite.base_url): link.state for link in outcomes.report.links
    }
    assert states == {HOME + "a.bin": LinkState.UNKNOWN, HOME + "empty.bin": LinkState.OK}
    assert ("GET", HOME + "empty.bin") in mock.requests


async def test_accepted_statuses_make_a_link_ok_everywhere_or_per_host(store: Store) -> None:
    """`accept = [403]` and `accept_hosts = {"127.0.0.1" = [999]}`: those answers are ok, with
    the reason; a 404 stays dead."""
    mock = MockSite({"/x403": answer(403), "/x999": answer(999), "/x404": answer(404)})
    mock.routes[HOME] = ok(page("/x403", "/x999", "/x404"))
    cfg = config(mock, accept=[403], accept_hosts={"127.0.0.1": [999]})
    outcomes = await deep_run(cfg, store, transport=mock.transport())
    links = {link.url.removeprefix(mock.base_url): link for link in outcomes.report.links}
    assert {path: link.state for path, link in links.items()} == {
        "/x403": LinkState.OK,
        "/x999": LinkState.OK,
        "/x404": LinkState.DEAD,
    }
    assert "accepted by the settings" in (links["/x403"].detail or "")


def test_an_accepted_status_must_be_a_status() -> None:
    """`accept = [1000]` is a configuration error, not a silent no-op."""
    with pytest.raises(ValueError, match="accept"):
        DeepSettings(accept=[1000])
