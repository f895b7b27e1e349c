"""A misbehaving HTTP/1.1 server on 127.0.0.1, for driving every fetch failure end to end.

Raw sockets, one thread per connection, so that it can do what http.server will not: hang,
trickle, reset mid-body, lie about lengths. Routes map a path to a list of behaviours, one per
request (the last one repeats). It never talks to any address but 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

LOOPBACK = "127.0.0.1"
REASONS = {200: "OK", 304: "Not Modified", 301: "Moved Permanently", 302: "Found", 404: "Not Found"}
REASONS |= {429: "Too Many Requests", 503: "Service Unavailable"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]


Behaviour = Callable[[socket.socket, Request, threading.Event], None]


def head_bytes(status: int, headers: Mapping[str, str]) -> bytes:
    """A status line and header block; `connection: close` keeps one request per connection."""
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}"]
    lines += [f"{name}: {value}" for name, value in {**headers, "connection": "close"}.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def respond(status: int, headers: Mapping[str, str] | None = None, body: bytes = b"") -> Behaviour:
    """An ordinary, complete answer with a correct Content-Length."""
    sent = {**(headers or {}), "content-length": str(len(body))}

    def act(conn: socket.socket, request: Request, stop: threading.Event) -> None:
        conn.sendall(head_bytes(status, sent) + (b"" if request.method == "HEAD" else body))

    return act


def redirect(location: str, status: int = 302) -> Behaviour:
    return respond(status, {"location": location})


def conditional(etag: str, body: bytes, headers: Mapping[str, str] | None = None) -> Behaviour:
    """200 with `etag`, or 304 with no body when the request's If-None-Match names it."""
    full = respond(200, {**(headers or {}), "etag": etag}, body)
    unchanged = respond(304, {"etag": etag})

    def act(conn: socket.socket, request: Request, stop: threading.Event) -> None:
        matched = request.headers.get("if-none-match") == etag
        (unchanged if matched else full)(conn, request, stop)

    return act


def hang() -> Behaviour:
    """Read the request, then never answer (until the server stops)."""

    def act(conn: socket.socket, request: Request, stop: threading.Event) -> None:
        stop.wait()

    return act


def reset_mid_body(
    declared: int, sent: bytes, headers: Mapping[str, str] | None = None
) -> Behaviour:
    """Promise `declared` bytes, send `sent`, then abort the connection with a TCP RST."""

    def act(conn: socket.socket, request: Request, stop: threading.Event) -> None:
        conn.sendall(head_bytes(200, {**(headers or {}), "content-length": str(declared)}) + sent)
        # SO_LINGER with a zero timeout turns close() into an abortive close (RST, not FIN).
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    return act


def trickle(
    body: bytes, delay_seconds: float, headers: Mapping[str, str] | None = None
) -> Behaviour:
    """Send the head at once, then the body one byte per `delay_seconds`."""
    sent = {**(headers or {}), "content-length": str(len(body))}

    def act(conn: socket.socket, request: Request, stop: threading.Event) -> None:
        conn.sendall(head_bytes(200, sent))
        for index in range(len(body)):
            if stop.wait(delay_seconds):
                return
            conn.sendall(body[index : index + 1])

    return act


class FaultServer:
    """A raw HTTP server on an ephemeral 127.0.0.1 port; a context manager.

    `routes` maps a path to behaviours used in turn, one per request; the last one repeats.
    Unknown paths answer 404. `requests` counts requests per path.
    """

    def __init__(self, routes: Mapping[str, Sequence[Behaviour]] | None = None) -> None:
        self.routes: dict[str, list[Behaviour]] = {k: list(v) for k, v in (routes or {}).items()}
        self.requests: Counter[str] = Counter()
        self.request_log: list[Request] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        if self._listener is None:
            raise RuntimeError("the server is not running")
        return int(self._listener.getsockname()[1])

    def url(self, path: str) -> str:
        return f"http://{LOOPBACK}:{self.port}{path}"

    def start(self) -> Self:
        self._listener = socket.create_server((LOOPBACK, 0))
        self._listener.settimeout(0.05)
        self._spawn(self._accept_loop)
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(5)
            request = read_request(conn)
            if request is None:
                return
            self._behaviour(request)(conn, request, self._stop)

    def _behaviour(self, request: Request) -> Behaviour:
        with self._lock:
            self.requests[request.path] += 1
            self.request_log.append(request)
            queue = self.routes.get(request.path)
            if not queue:
                return respond(404, {"content-type": "text/plain"}, b"no route")
            return queue.pop(0) if len(queue) > 1 else queue[0]


def read_request(conn: socket.socket) -> Request | None:
    """The request line and headers (bodies are not expected); None if the client left."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    method, path, _ = head[0].split(" ", 2)
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Request(method=method, path=path, headers=headers)


def refused_url(path: str = "/") -> str:
    """A loopback URL on a port nobody listens on: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port = probe.getsockname()[1]
    return f"http://{LOOPBACK}:{port}{path}"


@contextlib.contextmanager
def never_accepting() -> Iterator[str]:
    """A listening socket whose accept queue is full: a new connect hangs (SYN dropped)."""
    with socket.socket() as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        # With backlog 0 Linux queues one connection; that one filler makes the queue full.
        with socket.create_connection((LOOPBACK, port), timeout=1):
            yield f"http://{LOOPBACK}:{port}/"
