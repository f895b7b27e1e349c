"""The Fetcher: HTTP politeness, redirects hop by hop, retries, conditional requests, body cap.

Owns the httpx client and every httpx exception: whatever goes wrong comes back as a FetchResult
with `failure` set. It must not parse bodies or judge links; that is extract's and diff's work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Self, cast

import httpx

from ocwwatch.fetch.decode import ACCEPT_ENCODING, BodyDecodeError, BodyDecoder
from ocwwatch.fetch.failures import classify_error
from ocwwatch.fetch.policy import FetchPolicy
from ocwwatch.fetch.urls import check_target, normalise_url
from ocwwatch.models import FailureKind, FetchResult, Hop, Validators

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Now = Callable[[], datetime]
Clock = Callable[[], float]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_RETRYABLE_FAILURES = frozenset({FailureKind.TIMEOUT, FailureKind.CONNECT, FailureKind.RESET})
_METHODS = frozenset({"GET", "HEAD"})
_VALIDATOR_HEADERS = frozenset({"etag", "last-modified"})


def utc_now() -> datetime:
    return datetime.now(UTC)


def is_transient_status(status: int) -> bool:
    """408, 429 and 5xx are worth another try; 501 (method not implemented) never changes."""
    return status in (408, 429) or (500 <= status <= 599 and status != 501)


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
    current: str
    started: float
    fetched_at: datetime
    redirects: list[Hop] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    attempts: int = 1
    conditional: bool = False  # validators were sent for `current`


class _HostGate:
    """Per-host politeness: a semaphore for concurrency, a reserved slot for the interval."""

    def __init__(self, concurrency: int) -> None:
        self.semaphore = asyncio.Semaphore(concurrency)
        self._next_start = float("-inf")

    def reserve(self, now: float, interval_seconds: float) -> float:
        """Book the next start time; return how long to wait for it (no await in between)."""
        start = max(now, self._next_start)
        self._next_start = start + interval_seconds
        return start - now


class Fetcher:
    """Fetches URLs politely; an async context manager that owns one httpx.AsyncClient."""

    def __init__(
        self,
        policy: FetchPolicy | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        now: Now = utc_now,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy or FetchPolicy()
        self._sleep = sleep
        self._now = now
        self._clock = clock
        self._rng = rng or random.Random()
        self._gates: dict[str, _HostGate] = {}
        self._client = httpx.AsyncClient(
            transport=transport,
            follow_redirects=False,
            timeout=httpx.Timeout(self.policy.timeout_seconds),
            headers={"user-agent": self.policy.user_agent, "accept-encoding": ACCEPT_ENCODING},
        )

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
        await self._client.aclose()

    async def fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        validators: Mapping[str, Validators] | None = None,
    ) -> FetchResult:
        """Fetch `url`, following redirects; conditional for every hop found in `validators`."""
        method = method.upper()
        if method not in _METHODS:
            raise ValueError(f"unsupported method {method!r}; use GET or HEAD")
        chain = _Chain(url=url, current=url, started=self._clock(), fetched_at=self._now())
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
        refused = check_target(
            chain.current, allow_private_addresses=self.policy.allow_private_addresses
        )
        if refused is not None:
            kind, detail = refused
            if chain.redirects and kind is FailureKind.PROTOCOL:
                kind = FailureKind.BAD_REDIRECT
            return _Answer(failure=kind, detail=detail)
        headers = _conditional_headers(known.get(_key(chain.current)))
        chain.conditional = bool(headers)
        answer = await self._send_with_retries(chain, method, headers)
        if answer.failure is None and answer.status in REDIRECT_STATUSES:
            return self._follow(chain, answer)
        return answer

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
        chain.current = target
        return None

    async def _send_with_retries(
        self, chain: _Chain, method: str, headers: Mapping[str, str]
    ) -> _Answer:
        """Send until an answer is final: success, a permanent failure, or retries used up."""
        attempt = 0
        while True:
            answer = await self._send_once(method, chain.current, headers)
            delay = self._retry_delay(answer, attempt)
            if delay is None:
                return answer
            logger.info(
                "retrying %s in %.2f s (%s)", chain.current, delay, answer.failure or answer.status
            )
            await self._sleep(delay)
            attempt += 1
            chain.attempts += 1

    def _retry_delay(self, answer: _Answer, attempt: int) -> float | None:
        """Seconds to wait before the next try, or None when this answer is final."""
        if attempt >= self.policy.retries or not _is_transient(answer):
            return None
        retry_after = parse_retry_after(answer.headers.get("retry-after"), self._now())
        if retry_after is not None:
            return min(retry_after, self.policy.max_retry_after_seconds)
        step = self.policy.backoff_base_seconds * 2.0**attempt
        return step / 2 + self._rng.uniform(0, step / 2)  # "equal jitter"

    async def _send_once(self, method: str, url: str, headers: Mapping[str, str]) -> _Answer:
        """One try, inside the host's politeness gate and the policy's total deadline."""
        gate = self._gate(url)
        async with gate.semaphore:
            wait = gate.reserve(self._clock(), self.policy.per_host_interval_seconds)
            if wait > 0:
                await self._sleep(wait)
            head = _Answer()  # filled in once the status line arrives
            try:
                async with asyncio.timeout(self.policy.timeout_seconds):
                    return await self._exchange(method, url, headers, head)
            except TimeoutError:
                # A server that answered but trickled its body did answer: keep its status, so
                # the run is not taken for offline and the verdict can say the body never came.
                what = "no complete answer" if head.status is None else "the body did not arrive"
                detail = f"{what} within {self.policy.timeout_seconds:g} s"
                return replace(head, failure=FailureKind.TIMEOUT, detail=detail)

    async def _exchange(
        self, method: str, url: str, headers: Mapping[str, str], head: _Answer
    ) -> _Answer:
        try:
            request = self._client.build_request(method, url, headers=headers)
            response = await self._client.send(request, stream=True)
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            kind, detail = classify_error(exc, mid_body=False)
            return _Answer(failure=kind, detail=detail)
        head.status, head.headers = response.status_code, dict(response.headers.items())
        try:
            return await self._read(response, method)
        finally:
            await response.aclose()

    async def _read(self, response: httpx.Response, method: str) -> _Answer:
        """Read the body under the byte cap (decoded size), unless there is none worth reading."""
        answer = _Answer(status=response.status_code, headers=dict(response.headers.items()))
        if method == "HEAD" or response.status_code in (*REDIRECT_STATUSES, 304):
            await _drain(response)
            return answer
        try:
            decoder = await self._read_body(response, answer.headers.get("content-encoding"))
        except BodyDecodeError as exc:
            return replace(answer, failure=FailureKind.PROTOCOL, detail=str(exc))
        except (httpx.HTTPError, httpx.StreamError, OSError) as exc:
            kind, detail = classify_error(exc, mid_body=True)
            return replace(answer, failure=kind, detail=detail)
        answer.body = decoder.body
        if decoder.truncated:
            answer.truncated = True
            answer.failure = FailureKind.TOO_LARGE
            answer.detail = f"body over {self.policy.max_bytes} bytes; kept the first ones"
        return answer

    async def _read_body(self, response: httpx.Response, encoding: str | None) -> BodyDecoder:
        if response.is_stream_consumed:
            # A transport that built its Response from `content=` hands it over already read
            # and decoded by httpx; only the cap is left to apply.
            decoder = BodyDecoder(None, self.policy.max_bytes)
            decoder.feed(response.content)
            return decoder
        decoder = BodyDecoder(encoding, self.policy.max_bytes)
        # aiter_raw is an async generator; close it at once when the cap stops the loop.
        raw = cast(AsyncGenerator[bytes, None], response.aiter_raw())
        async with contextlib.aclosing(raw) as chunks:
            async for chunk in chunks:
                if decoder.feed(chunk):
                    break
        decoder.finish()
        return decoder

    def _gate(self, url: str) -> _HostGate:
        host = httpx.URL(url).host.lower()
        gate = self._gates.get(host)
        if gate is None:
            gate = self._gates[host] = _HostGate(self.policy.per_host_concurrency)
        return gate

    def _result(self, chain: _Chain, answer: _Answer) -> FetchResult:
        not_modified = chain.conditional and answer.status == 304 and answer.failure is None
        headers = answer.headers
        if answer.failure is not None:
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


def media_type(content_type: str | None) -> str | None:
    """`text/html; charset=utf-8` -> `text/html`; None when absent or empty."""
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


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


def _is_transient(answer: _Answer) -> bool:
    if answer.failure is not None:
        return answer.failure in _RETRYABLE_FAILURES
    return answer.status is not None and is_transient_status(answer.status)


def _resolve_location(current: str, location: str | None) -> str | _Answer:
    """The absolute target of a Location header, or a BAD_REDIRECT answer explaining why not."""
    if not location or not location.strip():
        return _Answer(failure=FailureKind.BAD_REDIRECT, detail="redirect without Location")
    try:
        target = httpx.URL(current).join(location.strip())
    except (httpx.InvalidURL, ValueError) as exc:
        detail = f"unusable Location {location!r}: {exc}"
        return _Answer(failure=FailureKind.BAD_REDIRECT, detail=detail)
    if target.scheme not in ("http", "https") or not target.host:
        detail = f"redirect to a non-http(s) URL: {location}"
        return _Answer(failure=FailureKind.BAD_REDIRECT, detail=detail)
    return str(target.copy_with(fragment=None))


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
