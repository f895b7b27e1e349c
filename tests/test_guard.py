"""The address guard (issue 9): no request of any kind of run reaches a loopback, private or
link-local address unless the list names that origin, however the address is spelled.

Hostile redirects and links are served by a listed server on 127.0.0.1; "victim" listeners on
other loopback ports and addresses count every connection they get. Names resolve through an
injected resolver, and every connection goes through a tripwire backend that records it and
never connects anywhere but loopback, so nothing here can leave the machine.
"""

from __future__ import annotations

import html
import ipaddress
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Self
from urllib.parse import quote

import pytest
from support.loopback import LoopbackServer
from support.network import FakeResolver, Tripwire

from ocwwatch.config import Config, Settings
from ocwwatch.fetch import Fetcher, FetchPolicy, Recording, normalise_url
from ocwwatch.fetch.guard import (
    AddressGuard,
    AddressRefusedError,
    address_problem,
    system_resolver,
)
from ocwwatch.models import (
    FailureKind,
    LinkState,
    Metadata,
    Observation,
    Outcome,
    PageKind,
    Resource,
    ResourceKind,
    Suggestion,
)
from ocwwatch.pipeline import Outcomes, run_check, safe_suggestions
from ocwwatch.store import Store
from ocwwatch.urls import parse_url

pytestmark = pytest.mark.anyio
T0 = datetime(2026, 3, 1, tzinfo=UTC)


# --- address rule: a table of spellings, judged without any lookup ----------------------------

REFUSED_LITERALS = [
    "http://127.0.0.1/",
    "http://2130706433/",  # decimal
    "http://0x7f.1/",  # hex, short
    "http://0x7f000001/",
    "http://0177.0.0.1/",  # octal
    "http://127.1/",  # short
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
    "http://[::ffff:a9fe:a9fe]/",
    "http://[::127.0.0.1]/",  # IPv4-compatible
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64
    "http://[2002:a9fe:a9fe::1]/",  # 6to4
    "http://0.0.0.0/",
    "http://0/",
    "http://localhost/",
    "http://sub.localhost./",
    "http://ocw.mit.edu@169.254.169.254/",  # user info that looks like a host
    "http://169。254。169。254/",  # ideographic full stops
    "http://１２７.０.０.１/",  # full-width digits
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # shared address space (CGNAT)
    "http://224.0.0.1/",  # multicast
    "http://240.0.0.1/",  # reserved
    "http://255.255.255.255/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[fec0::1]/",  # site-local
    "http://[ff02::1]/",
]


@pytest.mark.parametrize("url", REFUSED_LITERALS)
def test_private_spellings_are_refused_without_a_lookup(url: str) -> None:
    """Every spelling of a non-public address is read as a browser reads it, then refused."""
    guard = AddressGuard(resolver=None)
    refusal = guard.refusal(parse_url(url))
    assert refusal is not None
    assert "refused" in refusal.reason


@pytest.mark.parametrize(
    "url", ["https://ocw.mit.edu/", "http://18.9.22.169/", "http://[2606:4700::1111]/"]
)
def test_public_hosts_pass(url: str) -> None:
    """Public names and public literals are not refused."""
    assert AddressGuard(resolver=None).refusal(parse_url(url)) is None


def test_an_allowed_origin_is_one_scheme_host_and_port() -> None:
    """An origin the list names may be private; another port of the same host may not."""
    guard = AddressGuard(["http://127.0.0.1:8000/list/"], resolver=None)
    assert guard.refusal(parse_url("http://127.0.0.1:8000/other")) is None
    assert guard.refusal(parse_url("http://2130706433:8000/")) is None  # the same origin
    assert guard.refusal(parse_url("http://127.0.0.1:8001/")) is not None
    assert guard.refusal(parse_url("http://127.0.0.1/")) is not None


@pytest.mark.parametrize(
    "url",
    ["https://127.0.0.1:8000/", "HTTPS://127.0.0.1:8000/other", "https://2130706433:8000/"],
)
def test_another_scheme_of_an_allowed_host_and_port_is_refused(url: str) -> None:
    """`http://h:p` allowed is not `https://h:p` allowed: an origin includes its scheme."""
    guard = AddressGuard(["http://127.0.0.1:8000/list/"], resolver=None)
    assert guard.is_allowed(parse_url("http://127.0.0.1:8000/x"))
    assert not guard.is_allowed(parse_url(url))
    refusal = guard.refusal(parse_url(url))
    assert refusal is not None
    assert "127.0.0.1 is a loopback address; refused" in refusal.reason


async def test_a_named_origin_allows_its_scheme_only_and_connections_to_its_port() -> None:
    """For a name, `admit` holds to the scheme; a connection, which knows only host and port,
    may still use the private address for the allowed origin's port, and for no other."""
    resolver = FakeResolver({"wiki.intranet": ["10.0.0.5"]})
    guard = AddressGuard(["http://wiki.intranet:8080"], resolver=resolver)
    assert await guard.admit(parse_url("http://wiki.intranet:8080/page")) is None
    refusal = await guard.admit(parse_url("https://wiki.intranet:8080/page"))
    assert refusal is not None
    assert "wiki.intranet resolves to 10.0.0.5, which is a private address" in refusal.reason
    assert await guard.addresses("wiki.intranet", 8080) == ("10.0.0.5",)
    with pytest.raises(AddressRefusedError):
        await guard.addresses("wiki.intranet", 8081)


async def test_a_redirect_to_another_scheme_of_the_listed_origin_is_refused() -> None:
    """The listed http server redirects to https on its own host and port: refused before any
    connection, not tried (it was, as one origin, when origins had no scheme)."""
    with LoopbackServer() as listed:
        port = int(listed.base_url.rsplit(":", 1)[1])
        listed.routes["/start"] = Recording(
            url="", status=302, headers={"location": f"https://127.0.0.1:{port}/admin"}, body=b""
        )
        tripwire = Tripwire({port})
        policy = FetchPolicy(retries=0, allowed_origins=(listed.url("/start"),))
        async with Fetcher(policy, resolver=FakeResolver({}), network_backend=tripwire) as fetcher:
            result = await fetcher.fetch(listed.url("/start"))
    assert result.failure is FailureKind.BLOCKED_ADDRESS
    assert "127.0.0.1 is a loopback address; refused" in (result.failure_detail or "")
    assert tripwire.attempts == [("127.0.0.1", port)]  # the listed request's one connection


def test_address_problems_name_the_kind_of_address() -> None:
    """The reason says what kind of address it was, also through an IPv6 wrapping."""
    assert address_problem(ipaddress.ip_address("127.0.0.1")) == "a loopback address"
    assert address_problem(ipaddress.ip_address("169.254.169.254")) == "a link-local address"
    mapped = address_problem(ipaddress.ip_address("::ffff:10.0.0.1"))
    assert mapped == "a private address written as IPv6"
    assert address_problem(ipaddress.ip_address("8.8.8.8")) is None


async def test_a_name_that_resolves_to_a_private_address_is_refused() -> None:
    """Names are judged by the addresses they resolve to."""
    resolver = FakeResolver({"intranet.example": ["10.1.2.3"]})
    guard = AddressGuard(resolver=resolver)
    refusal = await guard.admit(parse_url("http://intranet.example/"))
    assert refusal is not None
    assert "intranet.example resolves to 10.1.2.3, which is a private address" in refusal.reason


async def test_only_public_hosts_are_public() -> None:
    """is_public (what may be named to a third party) needs every resolved address public."""
    resolver = FakeResolver({"pub.example": ["93.184.216.34"], "mixed.example": ["1.1.1.1", "::1"]})
    guard = AddressGuard(["http://127.0.0.1:9"], resolver=resolver)
    assert await guard.is_public("https://pub.example/x")
    assert not await guard.is_public("https://mixed.example/x")
    assert not await guard.is_public("http://127.0.0.1:9/")  # allowed, but not public
    assert not await guard.is_public("http://nowhere.example/")  # does not resolve


# --- the harness: resolver, tripwire, victims ------------------------------------------------


class Victim:
    """A TCP listener that counts the connections it is offered (there must be none)."""

    def __init__(self, family: socket.AddressFamily, host: str) -> None:
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.close()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc: type[BaseException] | None, val: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def hostile_targets(p2: int, p3: int, p4: int) -> list[str]:
    """Origins no request may reach: other ports and addresses of loopback in every spelling,
    private and special ranges, and names that resolve to them."""
    return [
        f"http://127.0.0.1:{p2}",
        f"http://2130706433:{p2}",
        f"http://0x7f.1:{p2}",
        f"http://0177.0.0.1:{p2}",
        f"http://127.1:{p2}",
        f"http://[::ffff:127.0.0.1]:{p2}",
        f"http://[::ffff:7f00:1]:{p2}",
        f"http://0.0.0.0:{p2}",
        f"http://0:{p2}",
        f"http://localhost:{p2}",
        f"http://ocw.mit.edu@127.0.0.1:{p2}",
        f"http://127。0。0。1:{p2}",
        f"http://１２７.０.０.１:{p2}",
        f"http://127.0.0.2:{p3}",
        f"http://[::1]:{p4}",
        "http://169.254.169.254",
        "http://169。254。169。254",
        "http://[::ffff:a9fe:a9fe]",
        "http://[64:ff9b::a9fe:a9fe]",
        "http://10.0.0.1",
        "http://192.168.0.1",
        "http://100.64.0.1",
        "http://[fe80::1]",
        "http://[fc00::1]",
        f"http://internal.example:{p2}",  # resolves to 127.0.0.1
        "http://metadata.example",  # resolves to 169.254.169.254
        f"http://mixed.example:{p2}",  # resolves to 10.0.0.1 and 127.0.0.1
        f"http://rebind.example:{p2}",  # public at the check, loopback at a second lookup
    ]


RESOLVER_NAMES = {
    "internal.example": ["127.0.0.1"],
    "metadata.example": ["169.254.169.254"],
    "mixed.example": ["10.0.0.1", "127.0.0.1"],
}


@dataclass
class Hostile:
    """The listed server, the victims and what one run through them produced."""

    listed: LoopbackServer
    victims: list[Victim]
    targets: list[str]
    tripwire: Tripwire
    resolver: FakeResolver

    def run(self, resources: Sequence[Resource], store: Store, *, deep: bool) -> Outcomes:
        import asyncio

        config = Config(settings=Settings(), resources=tuple(resources))
        policy = FetchPolicy(
            per_host_interval_seconds=0.0,
            retries=0,
            timeout_seconds=5.0,
            allowed_origins=config.trusted_origins(),
        )

        async def one() -> Outcomes:
            fetcher = Fetcher(policy, resolver=self.resolver, network_backend=self.tripwire)
            async with fetcher:
                return await run_check(config, store, fetcher, now=lambda: T0, deep=deep)

        return asyncio.run(one())

    def assert_untouched(self) -> None:
        assert [victim.connections for victim in self.victims] == [0] * len(self.victims)
        listed = ("127.0.0.1", int(self.listed.base_url.rsplit(":", 1)[1]))
        # Public addresses (the rebinding name's first answer) reach the tripwire, which
        # refuses them; nothing else but the listed origin may even be tried.
        tried = {attempt for attempt in self.tripwire.attempts if attempt != listed}
        assert all(address_problem(ipaddress.ip_address(host)) is None for host, _ in tried), tried


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    v6 = ipv6_loopback()
    with (
        Victim(socket.AF_INET, "127.0.0.1") as v2,
        Victim(socket.AF_INET, "127.0.0.2") as v3,
        Victim(socket.AF_INET6 if v6 else socket.AF_INET, "::1" if v6 else "127.0.0.1") as v4,
        LoopbackServer() as listed,
    ):
        targets = hostile_targets(v2.port, v3.port, v4.port)
        listed_port = int(listed.base_url.rsplit(":", 1)[1])
        resolver = FakeResolver(RESOLVER_NAMES, rebinding=["93.184.216.34", "127.0.0.1"] * 3)
        yield Hostile(listed, [v2, v3, v4], targets, Tripwire({listed_port}), resolver)


def page(*hrefs: str) -> bytes:
    links = "".join(f'<a href="{html.escape(href)}">link</a>\n' for href in hrefs)
    return f"<!doctype html><html><head><title>t</title></head><body>{links}</body></html>".encode()


def html_ok(body: bytes) -> Recording:
    return Recording(url="", status=200, headers={"content-type": "text/html"}, body=body)


# --- through every kind of request ----------------------------------------------------------


def test_redirects_to_private_targets_are_refused_in_a_plain_check(
    hostile: Hostile, store: Store
) -> None:
    """A listed URL that redirects anywhere private ends refused, with the reason, unreached."""
    resources = []
    for number, target in enumerate(hostile.targets):
        hostile.listed.routes[f"/r/{number}"] = Recording(
            # A header is Latin-1: full-width and ideographic characters go percent-encoded,
            # which a browser's host parser decodes before the IDNA mapping.
            url="",
            status=302,
            headers={"location": quote(target, safe=":/@[]") + "/admin"},
            body=b"",
        )
        resources.append(
            Resource(
                id=f"r{number}", url=hostile.listed.url(f"/r/{number}"), kind=ResourceKind.PAGE
            )
        )
    outcomes = hostile.run(resources, store, deep=False)
    hostile.assert_untouched()
    for observation in outcomes.report.resources:
        if "rebind.example" in (observation.final_url or ""):
            # Public when judged, so connected to that public address (the tripwire's refusal);
            # the loopback answer of a second lookup is never asked for.
            assert observation.outcome is Outcome.UNKNOWN
            continue
        assert observation.outcome is Outcome.ERROR, observation
        assert observation.error is not None
        assert "refused" in observation.error, observation.error
    assert len(outcomes.report.resources) == len(hostile.targets) >= 25


def test_the_pdf_chase_follows_no_private_link(hostile: Hostile, store: Store) -> None:
    """A PDF link that lands on HTML: that page's private links are never requested."""
    resources = []
    for number, target in enumerate(hostile.targets):
        path = f"/landing/{number}"
        hostile.listed.routes[path] = html_ok(page(target + "/book.pdf"))
        resources.append(Resource(id=f"p{number}", url=hostile.listed.url(path), kind="pdf"))
    outcomes = hostile.run(resources, store, deep=False)
    hostile.assert_untouched()
    assert all(
        o.outcome is Outcome.DEAD and o.suggestion is None for o in outcomes.report.resources
    )
    followed = {link.url: link for link in outcomes.report.links}
    # Each spelling was chased and refused; the report keys them as a browser does (one link
    # for the spellings of one URL).
    assert len(followed) == len({normalise_url(t + "/book.pdf") for t in hostile.targets})
    for link in followed.values():
        expected = "tripwire" if "rebind.example" in link.url else "refused"
        assert expected in (link.detail or ""), link


def test_a_deep_check_reaches_no_private_link(hostile: Hostile, store: Store) -> None:
    """Every found link to a private target is skipped with the guard's reason, unreached."""
    hostile.listed.routes["/course/"] = html_ok(page(*(t + "/x" for t in hostile.targets)))
    course = Resource(id="c", url=hostile.listed.url("/course/"), kind=ResourceKind.OCW_COURSE)
    outcomes = hostile.run([course], store, deep=True)
    hostile.assert_untouched()
    found = [link for link in outcomes.report.links if "/course/" not in link.url]
    # Spellings that name the same URL (user info dropped, IDNA-mapped) are one link.
    assert len(found) == len({normalise_url(t + "/x") for t in hostile.targets})
    for link in found:
        if "rebind.example" in link.url:
            assert "tripwire" in (link.detail or ""), link
            continue
        assert link.state is LinkState.SKIPPED, link
        assert "refused" in (link.detail or ""), link


async def test_a_rebinding_name_connects_only_to_the_address_judged() -> None:
    """The address checked is the address connected to: a second lookup is never made."""
    resolver = FakeResolver({}, rebinding=["93.184.216.34", "127.0.0.1"])
    tripwire = Tripwire(set())
    fetcher = Fetcher(FetchPolicy(retries=0), resolver=resolver, network_backend=tripwire)
    async with fetcher:
        result = await fetcher.fetch("http://rebind.example:8080/")
    assert resolver.asked == ["rebind.example"]
    assert tripwire.attempts == [("93.184.216.34", 8080)]  # refused by the tripwire, not sent
    assert result.failure is FailureKind.CONNECT


def test_accept_never_writes_a_url_the_guard_refuses() -> None:
    """A stored suggestion of a private address is left out of `baseline accept`, with why."""
    listed = Resource(id="a", url="https://ocw.example/old", kind=ResourceKind.PAGE)
    config = Config(settings=Settings(), resources=(listed,))

    def observed(url: str) -> Observation:
        suggestion = Suggestion(url=url, reason="permanent redirect (301; 1 hop)")
        return Observation(
            id="a",
            url=listed.url,
            outcome=Outcome.MOVED,
            metadata=Metadata(page_kind=PageKind.OTHER),
            suggestion=suggestion,
            observed_at=T0,
        )

    kept, refused = safe_suggestions(config, {"a": observed("http://0x7f.1:8080/admin")})
    assert kept["a"].suggestion is None
    assert refused == [
        "a: 127.0.0.1 is a loopback address; refused (to check an internal site on purpose, "
        "name its origin in [http] allowed_private_hosts)"
    ]
    kept, refused = safe_suggestions(config, {"a": observed("https://ocw.example/new")})
    assert kept["a"].suggestion is not None
    assert refused == []


@pytest.mark.parametrize("host", ["a..example", "x" * 64 + ".example"])
async def test_a_name_no_resolver_takes_fails_as_a_name_and_crashes_nothing(host: str) -> None:
    """The WHATWG parser lets an empty label or one of 64+ characters through; Python's IDNA
    codec refuses it before any lookup. That is a name that does not resolve (DNS), not an
    exception out of `fetch` (which in `fetch_many` cancelled every fetch beside it)."""
    with pytest.raises(socket.gaierror):
        await system_resolver(host, 80)
    tripwire = Tripwire(set())
    async with Fetcher(FetchPolicy(retries=0), network_backend=tripwire) as fetcher:
        results = await fetcher.fetch_many([f"http://{host}/", "http://other..example/"])
    assert [result.failure for result in results] == [FailureKind.DNS, FailureKind.DNS]
    assert tripwire.attempts == []
