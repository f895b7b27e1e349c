"""HTTP/1.1 to one origin, as an httpx transport: h11 over a few kept-alive connections.

Owns the connections' lifecycle (reuse, closing) and turning h11's and httpcore's errors into
httpx's, as httpx's own transport does, so that fetch/failures.py reads them alike. It must
not decide where to connect: the network backend it is given does (guard.py's GuardedBackend
over sockets.py's AsyncioBackend). Through a proxy the Fetcher uses httpx's own transport.

Why not httpcore's pool: it cost about 0.8 ms of CPU a request in a crawl (locks, pool scans,
anyio's cancel scope around every read, a poll of every idle socket), as much as everything
else a request brings, on the loop that keeps the requests going (issue 15). This does what
the Fetcher needs with the same parser and no more: one request at a time per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from typing import cast

import h11
import httpcore
import httpx

from ocwwatch.clock import Monotonic
from ocwwatch.fetch.sockets import AsyncioStream

# -vv: each connection and each exchange's raw headers, as httpcore's trace shows them (the
# CLI's log filter keeps user info in them out of sight).
log = logging.getLogger(__name__)

READ_BYTES = 64 * 1024  # one read from the socket (httpcore's size)
MAX_HEAD_BYTES = 100 * 1024  # a status line and headers longer than this are refused (httpcore's)
KEEPALIVE_SECONDS = 5.0  # an idle connection older than this is closed, not reused (httpcore's)
DEFAULT_PORTS = {"http": 80, "https": 443}
DISCONNECTED = "Server disconnected without sending a response."


class H1Transport(httpx.AsyncBaseTransport):
    """One origin's HTTP/1.1 requests over at most `max_idle` kept-alive connections.

    A request takes the most recently used idle connection that is still good, else opens one;
    a connection goes back to the idle ones once its answer has been read whole and both sides
    may go on. There is no wait for a free connection: the Fetcher's host gate already holds
    the requests to one origin to its per-host concurrency.
    """

    def __init__(
        self,
        backend: httpcore.AsyncNetworkBackend,
        ssl_context: ssl.SSLContext | None,
        *,
        max_idle: int,
        keepalive_seconds: float = KEEPALIVE_SECONDS,
        clock: Monotonic = time.monotonic,
    ) -> None:
        self._backend = backend
        self._ssl_context = ssl_context
        if ssl_context is not None:
            ssl_context.set_alpn_protocols(["http/1.1"])  # as httpcore does for HTTP/1.1 only
        self._max_idle = max_idle
        self._keepalive_seconds = keepalive_seconds
        self._clock = clock
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = cast(dict[str, float | None], request.extensions.get("timeout", {}))
        with _as_httpx_errors():
            connection = self._take_idle()
            if connection is not None:
                try:
                    return await connection.send(request, timeouts.get("read"))
                except _ClosedUnusedError:
                    pass  # the server closed it as it was reused: once more, on a new one
            connection = await self._connect(request.url, timeouts.get("connect"))
            try:
                return await connection.send(request, timeouts.get("read"))
            except _ClosedUnusedError:
                raise httpcore.RemoteProtocolError(DISCONNECTED) from None

    async def aclose(self) -> None:
        connections, self._idle = list(self._open), []
        self._open.clear()
        await asyncio.gather(*(connection.close() for connection in connections))

    def _take_idle(self) -> _Connection | None:
        now = self._clock()
        while self._idle:
            connection = self._idle.pop()
            if connection.reusable(now - self._keepalive_seconds):
                return connection
            self._forget(connection)
        return None

    async def _connect(self, url: httpx.URL, timeout: float | None) -> _Connection:
        scheme = url.scheme
        port = url.port or DEFAULT_PORTS.get(scheme)
        if port is None:
            raise httpcore.UnsupportedProtocol(f"no connection for a {scheme!r} URL")
        # The host as the URL's ASCII form has it (`xn--` labels), as httpcore took it: httpx's
        # `host` is decoded to Unicode, and encoding it again (Python's IDNA 2003 codec) can
        # name another host (faß.de would become fass.de).
        host = url.raw_host.decode("ascii")
        log.debug("connect %s port %s", host, port)
        stream = await self._backend.connect_tcp(host, port, timeout=timeout)
        if scheme == "https":
            try:
                stream = await stream.start_tls(
                    self._ssl_context or ssl.create_default_context(),
                    server_hostname=host,
                    timeout=timeout,
                )
            except BaseException:
                await _close_quietly(stream)
                raise
        connection = _Connection(self, stream)
        self._open.add(connection)
        return connection

    def _release(self, connection: _Connection) -> None:
        """Take a connection back after its answer: kept idle if it may go on, else closed."""
        if not connection.next_cycle() or len(self._idle) >= self._max_idle:
            self._forget(connection)
            return
        connection.idle_since = self._clock()
        self._idle.append(connection)

    def _forget(self, connection: _Connection) -> None:
        self._open.discard(connection)
        connection.close_now()


class _ClosedUnusedError(Exception):
    """A reused connection was closed by the server before any byte of the answer came."""


class _Connection:
    """One socket and its h11 state; used by one request at a time."""

    def __init__(self, owner: H1Transport, stream: httpcore.AsyncNetworkStream) -> None:
        self.owner = owner
        self.stream = stream
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.idle_since: float | None = None  # None: never used before
        self.closed = False

    def reusable(self, fresh_after: float) -> bool:
        """Whether an idle connection may take a request: used recently, and the server has
        neither closed it nor sent anything unasked since its last answer."""
        if self.closed or self.idle_since is None or self.idle_since < fresh_after:
            return False
        return not self.stream.get_extra_info("is_readable")

    async def send(self, request: httpx.Request, timeout: float | None) -> httpx.Response:
        reused = self.idle_since is not None
        self.idle_since = None
        try:
            await self._send_request(request)
            head = await self._receive_head(timeout, reused=reused)
        except BaseException:
            self.owner._forget(self)
            raise
        if log.isEnabledFor(logging.DEBUG):
            log.debug("request %s %s headers %s", request.method, request.url, request.headers.raw)
            log.debug("response %s headers %s", head.status_code, head.headers.raw_items())
        return httpx.Response(
            head.status_code,
            headers=head.headers.raw_items(),
            stream=_Body(self, timeout),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": head.reason},
        )

    async def _send_request(self, request: httpx.Request) -> None:
        url = request.url
        target = url.raw_path
        event = h11.Request(method=request.method, target=target, headers=request.headers.raw)
        out = bytearray(self.h11.send(event) or b"")
        async for chunk in cast(AsyncIterator[bytes], request.stream):
            if chunk:
                out += self.h11.send(h11.Data(data=chunk)) or b""
        out += self.h11.send(h11.EndOfMessage()) or b""
        await self.stream.write(bytes(out))

    async def _receive_head(self, timeout: float | None, *, reused: bool) -> h11.Response:
        received = False
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                data = await self.stream.read(READ_BYTES, timeout)
                if not data and self.h11.their_state is h11.SEND_RESPONSE:
                    if reused and not received:
                        raise _ClosedUnusedError
                    raise httpcore.RemoteProtocolError(DISCONNECTED)
                received = True
                self.h11.receive_data(data)
            elif isinstance(event, h11.Response):
                return event
            elif isinstance(event, h11.InformationalResponse):
                received = True  # 100 Continue, 103 Early Hints: the answer comes after
            else:
                raise httpcore.RemoteProtocolError(f"unexpected {type(event).__name__}")

    async def body(self, timeout: float | None) -> AsyncIterator[bytes]:
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                self.h11.receive_data(await self.stream.read(READ_BYTES, timeout))
            elif isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self.owner._release(self)
                return
            else:
                raise httpcore.RemoteProtocolError(f"unexpected {type(event).__name__}")

    def next_cycle(self) -> bool:
        """Ready the connection for the next request; False when it must be closed."""
        if self.closed or self.h11.our_state is not h11.DONE:
            return False
        if self.h11.their_state is not h11.DONE:
            return False
        if self.h11.trailing_data[0]:
            return False  # bytes past the answer, unasked: they would pass for the next one's
        self.h11.start_next_cycle()
        return True

    def close_now(self) -> None:
        """Close without waiting (an asyncio socket's close only schedules it)."""
        if self.closed:
            return
        self.closed = True
        if isinstance(self.stream, AsyncioStream):
            self.stream.close_now()
        else:
            task = asyncio.get_running_loop().create_task(_close_quietly(self.stream))
            _closing.add(task)
            task.add_done_callback(_closing.discard)

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await _close_quietly(self.stream)


# Closes of other backends' streams (tests' anyio ones) under way: held so they are not lost.
_closing: set[asyncio.Task[None]] = set()


class _Body(httpx.AsyncByteStream):
    """The answer's body as h11 reads it. The connection goes back once the body has been read
    whole; a body left unread (or broken off) closes it, since its rest would be read as the
    next answer."""

    def __init__(self, connection: _Connection, timeout: float | None) -> None:
        self._connection = connection
        self._timeout = timeout
        self._whole = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            try:
                async for chunk in self._connection.body(self._timeout):
                    yield chunk
            except BaseException:
                self._connection.owner._forget(self._connection)
                raise
        self._whole = True

    async def aclose(self) -> None:
        if not self._whole:
            self._connection.owner._forget(self._connection)


async def _close_quietly(stream: httpcore.AsyncNetworkStream) -> None:
    with contextlib.suppress(Exception):
        await stream.aclose()


# httpcore's and h11's exceptions as the httpx ones fetch/failures.py reads, as httpx's own
# transport maps them.
_HTTPX_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (h11.RemoteProtocolError, httpx.RemoteProtocolError),
    (h11.LocalProtocolError, httpx.LocalProtocolError),
)


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except httpx.HTTPError:
        raise
    except Exception as exc:
        for theirs, ours in _HTTPX_ERRORS:
            if isinstance(exc, theirs):
                raise ours(str(exc)) from exc
        raise
