"""The Fetcher: HTTP politeness, redirects hop by hop, retries, conditional requests, body cap.

Owns the httpx transports (one per origin: fetch/pools.py) and every httpx exception: whatever goes
wrong comes back as a FetchResult with `failure` set. It must not parse bodies or judge links;
that is extract's and diff's work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncGenerator, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import Self, cast

import httpcore
import httpx

from ocwwatch.clock import Clock, Monotonic, Sleep, utc_now
from ocwwatch.fetch.decode import ACCEPT_ENCODING, BodyDecodeError, BodyDecoder
from ocwwatch.fetch.failures import classify_error
from ocwwatch.fetch.guard import (
    AddressGuard,
    AddressRefusedError,
    GuardedBackend,
    Resolver,
    system_resolver,
)
from ocwwatch.fetch.h1 import H1Transport
from ocwwatch.fetch.policy import FetchPolicy
from ocwwatch.fetch.politeness import HOST_FAULT_URLS, HostGate, WaitBudget
from ocwwatch.fetch.pools import OriginTransports, environment_proxy
from ocwwatch.fetch.retry import backoff_seconds, is_transient, parse_retry_after
from ocwwatch.fetch.sockets import AsyncioBackend
from ocwwatch.fetch.urls import is_reserved_invalid, normalise_url, parsed_url, request_host
from ocwwatch.models import FailureKind, FetchResult, Hop, Validators
from ocwwatch.tls import context as tls_context
from ocwwatch.urls import InvalidURLError, parse_url, redact_url

logger = logging.getLogger(__name__)
# One INFO line per request and its answer, shown with -v (issue 16); its own name so that the
# daemon, which logs at INFO, can leave it out.
requests_log = logging.getLogger("ocwwatch.requests")


REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Loop turns a request woken by a freed place takes to put its bytes on the wire. Through our
# own transport (h1.py) one: nothing between the place and the socket's send waits. Through
# httpx's (a proxy) the pool's connection event, the connection's lock and the stream's
# checkpoint are one each; one more to spare. test_fetch checks both are out in time.
TURNS_TO_THE_WIRE = 4
_METHODS = frozenset({"GET", "HEAD"})
_VALIDATOR_HEADERS = frozenset({"etag", "last-modified"})


@dataclass
class _Answer:
    """What one request produced: a response, a failure, or a response with a failure."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    truncated: bool = False
    failure: FailureKind | None = None
    detail: str | None = None


@dataclass
class _Chain:
    """One fetch in progress: where it is, where it has been, how many tries it took."""

    url: str
    current: str  # as recorded: credentials redacted
    started: float
    fetched_at: datetime
    redirects: list[Hop] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    attempts: int = 1
    conditional: bool = False  # validators were sent for `current`
    headers: Mapping[str, str] | None = None  # the caller's, sent on every hop
    first_bytes: int | None = None  # read no more of the final body than this
    request_url: str = ""  # `current` as asked for on the wire: no user info, no fragment
    waited_seconds: float = 0.0  # spent on retry waits, against the policy's per-URL budget


class Fetcher:
    """Fetches URLs politely; an async context manager that owns its httpx transports.

    Every request, first URL and every redirect hop, passes the address guard (fetch/guard.py).
    `resolver` replaces the system's name resolution (tests); with a `transport` given from
    outside (a replay, a mock) names are resolved only when a resolver is given.
    `network_backend` is what the guard connects through (tests: a recording one).
    """

    def __init__(
        self,
        policy: FetchPolicy | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        now: Clock = utc_now,
        clock: Monotonic = time.monotonic,
        rng: random.Random | None = None,
        resolver: Resolver | None = None,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.policy = policy or FetchPolicy()
        self._sleep = sleep
        self._now = now
        self._clock = clock
        self._rng = rng or random.Random()
        self._gates: dict[str, HostGate] = {}
        # One Fetcher serves one run: waiting beyond the configured pace is bounded per run.
        self._budget = WaitBudget(self.policy.run_wait_budget_seconds)
        self._budget_told = False
        # The request is handed to the transport directly, not through an httpx.AsyncClient:
        # the client's cookie jar, auth and hooks are not used (a link checker keeps no
        # cookies) and cost a fifth of each request's CPU in a crawl.
        self._headers = {
            "user-agent": self.policy.user_agent,
            "accept": "*/*",
            "accept-encoding": ACCEPT_ENCODING,
        }
        self._extensions = {"timeout": httpx.Timeout(self.policy.timeout_seconds).as_dict()}
        # One TLS context for every origin: loading the CA bundle costs 40-50 ms (tls.py).
        tls = tls_context() if transport is None else None
        concurrency = self.policy.per_host_concurrency
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

        live = transport is None
        self.guard = AddressGuard(
            self.policy.allowed_origins,
            resolver=system_resolver if resolver is None and live else resolver,
            proxied=(lambda url: environment_proxy(url) is not None) if live else _never,
        )

        def make_transport(url: str) -> httpx.AsyncBaseTransport:
            if transport is not None:
                return transport
            proxy = environment_proxy(url)
            if proxy is not None:
                # Through a proxy the proxy resolves and connects (httpx's own transport); the
                # guard then judges the URL before the request (`_vet`).
                return httpx.AsyncHTTPTransport(verify=tls or True, limits=limits, proxy=proxy)
            # Directly: connections only where the guard allows, over asyncio's sockets.
            backend = GuardedBackend(self.guard, network_backend or AsyncioBackend())
            return H1Transport(backend, tls, max_idle=concurrency)

        self._transports = OriginTransports(make_transport, per_origin=transport is None)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._transports.aclose()

    async def fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        validators: Mapping[str, Validators] | None = None,
        headers: Mapping[str, str] | None = None,
        first_bytes: int | None = None,
    ) -> FetchResult:
        """Fetch `url`, following redirects; conditional for every hop found in `validators`.

        `headers` (lower-case names) go with every hop. `first_bytes` is for callers that need
        only the start of a body: reading stops there, and that is no failure (`truncated` says
        it happened); the policy's `max_bytes` still caps it, as a failure.
        """
        method = method.upper()
        if method not in _METHODS:
            raise ValueError(f"unsupported method {method!r}; use GET or HEAD")
        chain = _Chain(
            url=url,
            current=url,
            started=self._clock(),
            fetched_at=self._now(),
            headers=headers,
            first_bytes=first_bytes,
        )
        chain.seen.add(_key(url))
        known = _index_validators(validators)
        while True:
            answer = await self._fetch_hop(chain, method, known)
            if answer is not None:
                return self._result(chain, answer)

    async def fetch_many(
        self,
        urls: Iterable[str],
        *,
        method: str = "GET",
        validators: Mapping[str, Validators] | None = None,
    ) -> list[FetchResult]:
        """Fetch all `urls` concurrently (politeness still per host); results in input order."""
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(self.fetch(url, method=method, validators=validators))
                for url in urls
            ]
        return [task.result() for task in tasks]

    async def _fetch_hop(
        self, chain: _Chain, method: str, known: Mapping[str, Validators]
    ) -> _Answer | None:
        """Ask for `chain.current`; None when a redirect moved the chain on to its next hop."""
        refused = await self._vet(chain)
        if refused is not None:
            return refused
        headers = _conditional_headers(known.get(_key(chain.current)))
        chain.conditional = bool(headers)
        if chain.headers:
            headers = {**chain.headers, **headers}
        answer = await self._send_with_retries(chain, method, headers)
        if answer.failure is None and answer.status in REDIRECT_STATUSES:
            return self._follow(chain, answer)
        return answer

    async def _vet(self, chain: _Chain) -> _Answer | None:
        """Parse `chain.current` as a browser would and let the guard judge it; the answer
        that ends the chain when it must not be fetched."""
        kind = FailureKind.BAD_REDIRECT if chain.redirects else FailureKind.PROTOCOL
        try:
            url = parse_url(chain.current)
        except InvalidURLError as exc:
            return _Answer(failure=kind, detail=str(exc))
        if not url.is_web:
            return _Answer(failure=kind, detail=f"not an http(s) URL: {url.href}")
        if is_reserved_invalid(url.host):
            detail = f"{url.host}: names under .invalid never resolve (RFC 6761, 6.4)"
            return _Answer(failure=FailureKind.DNS, detail=detail)
        refusal = await self.guard.admit(url)
        if refusal is not None:
            return _Answer(failure=FailureKind.BLOCKED_ADDRESS, detail=refusal.reason)
        chain.request_url = url.request_url
        return None

    def _follow(self, chain: _Chain, answer: _Answer) -> _Answer | None:
        """Record the redirect and move to its target, or say why the chain stops here."""
        assert answer.status is not None
        chain.redirects.append(Hop(url=chain.current, status=answer.status))
        target = _resolve_location(chain.current, answer.headers.get("location"))
        if isinstance(target, _Answer):
            return replace(answer, failure=target.failure, detail=target.detail)
        key = _key(target)
        if key in chain.seen:
            detail = f"redirect to {target} again"
            return replace(answer, failure=FailureKind.REDIRECT_LOOP, detail=detail)
        if len(chain.redirects) > self.policy.max_redirects:
            detail = f"more than {self.policy.max_redirects} redirects"
            return replace(answer, failure=FailureKind.TOO_MANY_REDIRECTS, detail=detail)
        chain.seen.add(key)
        chain.current = parse_url(target).request_url  # never keep user info from a Location
        return None

    async def _send_with_retries(
        self, chain: _Chain, method: str, headers: Mapping[str, str]
    ) -> _Answer:
        """Send until an answer is final: success, a permanent failure, retries or budget used."""
        attempt = 0
        while True:
            answer = await self._send_once(method, chain, headers, first_try=attempt == 0)
            delay = self._retry_delay(answer, attempt)
            if delay is None or not self._afford_retry(chain, delay):
                return answer
            logger.info(
                "retrying %s in %.2f s (%s)", chain.current, delay, answer.failure or answer.status
            )
            await self._sleep(delay)
            attempt += 1
            chain.attempts += 1

    def _retry_delay(self, answer: _Answer, attempt: int) -> float | None:
        """Seconds to wait before the next try, or None when this answer is final."""
        if attempt >= self.policy.retries or not is_transient(answer.status, answer.failure):
            return None
        retry_after = parse_retry_after(answer.headers.get("retry-after"), self._now())
        if retry_after is not None:
            return min(retry_after, self.policy.max_retry_after_seconds)
        return backoff_seconds(self.policy.backoff_base_seconds, attempt, self._rng)

    def _afford_retry(self, chain: _Chain, delay: float) -> bool:
        """Whether the URL's and the run's wait budgets both hold `delay` more (issue 11)."""
        if chain.waited_seconds + delay > self.policy.url_wait_budget_seconds:
            logger.info("not retrying %s: its wait budget is spent", chain.current)
            return False
        if not self._budget.spend(delay):
            self._budget_spent()
            return False
        chain.waited_seconds += delay
        return True

    def _budget_spent(self) -> None:
        """Say once per run that waiting stopped: what follows is one try each, no pauses."""
        if not self._budget_told:
            self._budget_told = True
            logger.warning(
                "the run's wait budget (%g s) is spent: no more retries or slowed-down waits",
                self.policy.run_wait_budget_seconds,
            )

    def slow_host(self, host: str, min_interval_seconds: float) -> None:
        """Start requests to `host` at least `min_interval_seconds` apart from now on (a
        robots.txt Crawl-delay); the policy's interval still applies where it is longer."""
        self._gate_of(host.lower()).keep_apart(min_interval_seconds)

    async def _send_once(
        self, method: str, chain: _Chain, headers: Mapping[str, str], *, first_try: bool
    ) -> _Answer:
        """One try, inside the host's politeness gate and the policy's total deadline."""
        url = chain.request_url
        gate = self._gate_of(request_host(url))
        async with gate.place():
            refused = await self._wait_turn(gate)
            if refused is not None:
                return refused
            head = _Answer()  # filled in once the status line arrives
            started = self._clock()
            try:
                async with asyncio.timeout(self.policy.timeout_seconds):
                    answer = await self._exchange(method, url, headers, head, chain.first_bytes)
            except TimeoutError:
                # A server that answered but trickled its body did answer: keep its status, so
                # the run is not taken for offline and the verdict can say the body never came.
                what = "no complete answer" if head.status is None else "the body did not arrive"
                detail = f"{what} within {self.policy.timeout_seconds:g} s"
                answer = replace(head, failure=FailureKind.TIMEOUT, detail=detail)
        # The pace first: a request woken by the freed place must meet a 429's slow-down.
        self._pace(gate, url, answer, first_try=first_try)
        if requests_log.isEnabledFor(logging.INFO):
            seconds = self._clock() - started
            said = answer.status if answer.failure is None else f"{answer.failure}: {answer.detail}"
            requests_log.info("%s %s -> %s (%.2f s)", method, redact_url(url), said, seconds)
        if gate.waiting:
            await hand_over()
        return answer

    async def _wait_turn(self, gate: HostGate) -> _Answer | None:
        """Wait for the host's turn; the answer that ends the try when a slowed-down host would
        hold it back longer than the run's wait budget allows (then it is not asked at all)."""
        while (wait := gate.claim(now := self._clock())) > 0:
            held = gate.held_back_seconds(now)
            if held > 0 and not self._budget.spend(held):
                self._budget_spent()
                detail = (
                    f"not asked: {gate.host} is slowed down for {wait:.1f} s more and "
                    f"the run's wait budget ({self.policy.run_wait_budget_seconds:g} s) is spent"
                )
                return _Answer(failure=FailureKind.TIMEOUT, detail=detail)
            await self._sleep(wait)
        return None

    def _pace(self, gate: HostGate, url: str, answer: _Answer, *, first_try: bool) -> None:
        """Let an answer set its host's pace (issue 11). A 429 or any Retry-After slows the
        host; a 5xx, reset or timeout is the URL's own fault unless several URLs of the host
        fail together; any other answer counts towards speeding the host back up."""
        now = self._clock()
        retry_after = parse_retry_after(answer.headers.get("retry-after"), self._now())
        transient = is_transient(answer.status, answer.failure)
        if answer.status == 429 or retry_after is not None:
            pause = min(retry_after or 0.0, self.policy.max_retry_after_seconds)
            # A URL's own retry meeting the same refusal waits it out; it does not count twice.
            grow = first_try and (answer.status == 429 or transient)
            self._slow(gate, now, pause, str(answer.status), grow=grow)
        elif transient:
            if gate.note_fault(now, url):
                self._slow(gate, now, 0.0, f"{HOST_FAULT_URLS} URLs failing", grow=True)
        elif answer.status is not None:
            gate.note_answer(now)

    def _slow(self, gate: HostGate, now: float, pause: float, why: str, *, grow: bool) -> None:
        was_slowed = gate.slowed
        wait = gate.slow_down(now, pause, grow=grow)
        # Once per slow-down, not once per refused request: a busy host refuses many.
        log = logger.debug if was_slowed else logger.info
        log(
            "slowing down on %s: %s, waiting %.1f s, then %.2f s between requests",
            gate.host,
            why,
            wait,
            gate.interval_seconds,
        )

    async def _exchange(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        head: _Answer,
        first_bytes: int | None,
    ) -> _Answer:
        try:
            target = parsed_url(url)
        except ValueError as exc:  # _vet lets no such URL through; kept as a failure
            return _Answer(failure=FailureKind.PROTOCOL, detail=str(exc))
        async with self._transports.lease(url) as transport:
            try:
                request = httpx.Request(
                    method,
                    target,
                    headers={**self._headers, **headers},
                    extensions=self._extensions,
                )
                response = await transport.handle_async_request(request)
            except AddressRefusedError as exc:
                return _Answer(failure=FailureKind.BLOCKED_ADDRESS, detail=str(exc))
            except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
                kind, detail = classify_error(exc, mid_body=False)
                return _Answer(failure=kind, detail=detail)
            head.status, head.headers = response.status_code, dict(response.headers.items())
            try:
                return await self._read(response, method, first_bytes)
            finally:
                await response.aclose()

    async def _read(
        self, response: httpx.Response, method: str, first_bytes: int | None
    ) -> _Answer:
        """Read the body under the byte cap (decoded size), unless there is none worth reading."""
        answer = _Answer(status=response.status_code, headers=dict(response.headers.items()))
        if method == "HEAD" or response.status_code in (*REDIRECT_STATUSES, 304):
            await _drain(response)
            return answer
        cap = self.policy.max_bytes
        if first_bytes is not None and first_bytes < cap:
            cap = first_bytes
        try:
            decoder = await self._read_body(response, answer.headers.get("content-encoding"), cap)
        except BodyDecodeError as exc:
            return replace(answer, failure=FailureKind.PROTOCOL, detail=str(exc))
        except (httpx.HTTPError, httpx.StreamError, OSError) as exc:
            kind, detail = classify_error(exc, mid_body=True)
            return replace(answer, failure=kind, detail=detail)
        answer.body = decoder.body
        answer.truncated = decoder.truncated
        if decoder.truncated and cap == self.policy.max_bytes:
            answer.failure = FailureKind.TOO_LARGE
            answer.detail = f"body over {self.policy.max_bytes} bytes; kept the first ones"
        return answer

    async def _read_body(
        self, response: httpx.Response, encoding: str | None, cap: int
    ) -> BodyDecoder:
        if response.is_stream_consumed:
            # A transport that built its Response from `content=` hands it over already read
            # and decoded by httpx; only the cap is left to apply.
            decoder = BodyDecoder(None, cap)
            decoder.feed(response.content)
            return decoder
        decoder = BodyDecoder(encoding, cap)
        # aiter_raw is an async generator; close it at once when the cap stops the loop.
        raw = cast(AsyncGenerator[bytes, None], response.aiter_raw())
        async with contextlib.aclosing(raw) as chunks:
            async for chunk in chunks:
                if decoder.feed(chunk):
                    break
        decoder.finish()
        return decoder

    def _gate_of(self, host: str) -> HostGate:
        gate = self._gates.get(host)
        if gate is None:
            policy = self.policy
            gate = HostGate(host, policy.per_host_concurrency, policy.per_host_interval_seconds)
            self._gates[host] = gate
        return gate

    def _result(self, chain: _Chain, answer: _Answer) -> FetchResult:
        not_modified = chain.conditional and answer.status == 304 and answer.failure is None
        headers = answer.headers
        if answer.failure is not None or answer.truncated:
            # A validator vouches for a body. One that was not read whole must not make the next
            # request conditional: its 304 would stand in for bytes nobody has.
            headers = {k: v for k, v in headers.items() if k not in _VALIDATOR_HEADERS}
        return FetchResult(
            url=chain.url,
            final_url=chain.current,
            status=answer.status,
            redirects=tuple(chain.redirects),
            headers=headers,
            body=answer.body,
            content_type=media_type(answer.headers.get("content-type")),
            not_modified=not_modified,
            truncated=answer.truncated,
            failure=answer.failure,
            failure_detail=answer.detail,
            attempts=chain.attempts,
            elapsed_seconds=max(0.0, self._clock() - chain.started),
            fetched_at=chain.fetched_at,
        )


def _never(_url: str) -> bool:
    return False


def media_type(content_type: str | None) -> str | None:
    """`text/html; charset=utf-8` -> `text/html`; None when absent or empty."""
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def _resolve_location(current: str, location: str | None) -> str | _Answer:
    """The absolute target of a Location header (resolved as a browser would), or a
    BAD_REDIRECT answer explaining why not."""
    if not location or not location.strip():
        return _Answer(failure=FailureKind.BAD_REDIRECT, detail="redirect without Location")
    try:
        target = parse_url(location.strip(), current)
    except InvalidURLError as exc:
        detail = f"unusable Location {redact_url(location)!r}: {exc}"
        return _Answer(failure=FailureKind.BAD_REDIRECT, detail=detail)
    if not target.is_web:
        detail = f"redirect to a non-http(s) URL: {redact_url(location)}"
        return _Answer(failure=FailureKind.BAD_REDIRECT, detail=detail)
    return target.href.split("#", 1)[0]


def _conditional_headers(known: Validators | None) -> dict[str, str]:
    if known is None:
        return {}
    headers = {}
    if known.etag:
        headers["if-none-match"] = known.etag
    if known.last_modified:
        headers["if-modified-since"] = known.last_modified
    return headers


def _index_validators(validators: Mapping[str, Validators] | None) -> dict[str, Validators]:
    index = {}
    for url, known in (validators or {}).items():
        with contextlib.suppress(ValueError):
            index[normalise_url(url)] = known
    return index


def _key(url: str) -> str:
    try:
        return normalise_url(url)
    except ValueError:
        return url


DRAIN_LIMIT_BYTES = 64 * 1024


async def hand_over() -> None:
    """Let the request that a freed place just woke reach the wire before this answer's own
    work goes on: whatever comes next (parsing a page, judging, saving) holds the loop, and every
    millisecond it holds it before the next request is sent is a millisecond the host's place
    stands idle. At 20 ms per answer that was about 7 % of a crawl's time (issue 15)."""
    for _ in range(TURNS_TO_THE_WIRE):
        await asyncio.sleep(0)


async def _drain(response: httpx.Response) -> None:
    """Read the little a bodiless answer carries, so its connection returns to the pool.

    Closing an unread response makes httpcore drop the connection: without this, every
    redirect, 304 and HEAD cost a new TCP (and TLS) handshake.
    """
    seen = 0
    try:
        async for chunk in response.aiter_raw():
            seen += len(chunk)
            if seen > DRAIN_LIMIT_BYTES:
                return
    except (httpx.HTTPError, httpx.StreamError, OSError):
        return  # a broken bodiless answer changes nothing about the answer itself
