"""asyncio's own sockets as an httpcore network backend, for the HTTP/1.1 transport (h1.py).

anyio's streams, httpcore's default, put a cancel scope around every read; these hand out what
the socket brought, with a deadline only when one is asked for. They connect where they are
told: the address guard (guard.py's GuardedBackend) decides where that is.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
from typing import Any, cast

import httpcore

BUFFER_LIMIT = 256 * 1024  # bytes received and not yet read before the socket stops reading


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Connects with asyncio's transports (anyio's streams cost a cancel scope per read)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = None if local_address is None else (local_address, 0)
        try:
            async with asyncio.timeout(timeout):
                _, stream = await loop.create_connection(
                    AsyncioStream, host, port, local_addr=local
                )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"no connection to {host}:{port} in time") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        try:
            for option in socket_options or ():
                stream.get_extra_info("socket").setsockopt(*option)
        except OSError as exc:
            stream.close_now()
            raise httpcore.ConnectError(f"socket option refused: {exc}") from exc
        return stream

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError(f"unix socket {path}: not supported")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class AsyncioStream(asyncio.Protocol, httpcore.AsyncNetworkStream):
    """A connected socket: what arrives is buffered here (up to BUFFER_LIMIT, then the socket
    stops reading until it is read) and handed out by `read`."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._eof = False
        self._lost: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False

    # asyncio.Protocol: called by the event loop

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > BUFFER_LIMIT and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._lost = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # httpcore.AsyncNetworkStream: called by the transport

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if not self._buffer and not self._eof:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                if timeout is None:
                    await self._waiter
                else:
                    async with asyncio.timeout(timeout):
                        await self._waiter
            except TimeoutError as exc:
                raise httpcore.ReadTimeout("no data in time") from exc
            finally:
                self._waiter = None
        if self._buffer:
            data = bytes(self._buffer[:max_bytes])
            del self._buffer[:max_bytes]
            if self._paused and len(self._buffer) <= BUFFER_LIMIT and self._transport is not None:
                self._paused = False
                self._transport.resume_reading()
            return data
        if self._lost is not None:
            raise httpcore.ReadError(str(self._lost) or type(self._lost).__name__) from self._lost
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            lost = self._lost
            raise httpcore.WriteError(str(lost) if lost else "the connection is closed")
        transport.write(buffer)

    async def aclose(self) -> None:
        self.close_now()

    def close_now(self) -> None:
        """Close the socket at once. `close()` on a TLS transport only starts the TLS shutdown
        and keeps the socket until the peer's close_notify (up to 30 s from a silent one);
        HTTP's framing needs no close_notify, and nothing written is left unsent that matters
        once a connection is given up."""
        if self._transport is not None:
            self._transport.abort()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        transport = self._transport
        if transport is None:
            raise httpcore.ConnectError("the connection is closed")
        try:
            async with asyncio.timeout(timeout):
                tls = await loop.start_tls(
                    transport, self, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError as exc:
            transport.close()
            raise httpcore.ConnectTimeout("no TLS handshake in time") from exc
        except (ssl.SSLError, OSError) as exc:
            transport.close()
            raise httpcore.ConnectError(str(exc)) from exc
        if tls is None:
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        self._transport = tls
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return bool(self._buffer) or self._eof
        transport = self._transport
        if transport is None:
            return None
        if info == "client_addr":
            return transport.get_extra_info("sockname")
        if info == "server_addr":
            return transport.get_extra_info("peername")
        if info == "socket":
            return transport.get_extra_info("socket")
        if info == "ssl_object":
            return transport.get_extra_info("ssl_object")
        return None
