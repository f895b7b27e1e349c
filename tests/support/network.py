"""Network test helpers: a resolver that answers from a table, and a tripwire backend that
records every connection and never connects anywhere but loopback."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpcore


class FakeResolver:
    """Names to addresses; a list of answers is handed out one per lookup (rebinding)."""

    def __init__(self, names: dict[str, list[str]], rebinding: Sequence[str] = ()) -> None:
        self.names = names
        self.rebinding = list(rebinding)
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append(host)
        if host == "rebind.example" and self.rebinding:
            return [self.rebinding.pop(0)]
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.names[host]


@dataclass
class Tripwire(httpcore.AsyncNetworkBackend):
    """Records every connection attempt; connects only to 127.0.0.1 at the allowed ports."""

    allowed_ports: set[int]
    attempts: list[tuple[str, int]] = field(default_factory=list)
    inner: httpcore.AsyncNetworkBackend = field(default_factory=httpcore.AnyIOBackend)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: object = None,
    ) -> httpcore.AsyncNetworkStream:
        self.attempts.append((host, port))
        if host != "127.0.0.1" or port not in self.allowed_ports:
            raise httpcore.ConnectError(f"tripwire: no connection to {host}:{port}")
        return await self.inner.connect_tcp(host, port, timeout)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
