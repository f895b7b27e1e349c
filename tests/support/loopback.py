"""A real HTTP server on 127.0.0.1 serving recorded responses, for end-to-end tests and benchmarks.

Owns only the loopback socket: routes are a mapping of path (with query) to Recording; rewriting a
recorded host to this server is the caller's job (`serve_scenario` does it for one origin).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

from ocwwatch.fetch.replay import Recording, Scenario, respond
from ocwwatch.fetch.urls import normalise_url

NOT_FOUND = Recording(url="", status=404, headers={"content-type": "text/plain"}, body=b"no route")


class LoopbackServer:
    """Threaded HTTP/1.1 server on an ephemeral 127.0.0.1 port; use it as a context manager.

    `latency_seconds` delays every response before its headers; `chunk_bytes` with
    `chunk_delay_seconds` trickles bodies. `requests` and `bytes_sent` count per path.
    """

    def __init__(
        self,
        routes: Mapping[str, Recording] | None = None,
        *,
        latency_seconds: float = 0.0,
        chunk_bytes: int | None = None,
        chunk_delay_seconds: float = 0.0,
    ) -> None:
        self.routes: dict[str, Recording] = dict(routes or {})
        self.latency_seconds = latency_seconds
        self.chunk_bytes = chunk_bytes
        self.chunk_delay_seconds = chunk_delay_seconds
        self.requests: Counter[str] = Counter()
        self.bytes_sent: Counter[str] = Counter()
        self.request_log: list[tuple[str, str, dict[str, str]]] = []  # method, path, headers
        self.arrived: dict[str, float] = {}  # path: time.monotonic() its last request arrived
        self._lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`, without a trailing slash."""
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def start(self) -> Self:
        self._httpd = _Server(("127.0.0.1", 0), _Handler, owner=self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def serve_scenario(self, scenario: Scenario, origin: str) -> dict[str, str]:
        """Serve the GET recordings under `origin` (e.g. `https://ocw.mit.edu`) from here.

        Location headers pointing into `origin` are rewritten to this server. Returns the map
        from each recorded URL to its loopback URL, for the caller to rewrite its own inputs.
        """
        prefix = normalise_url(origin.rstrip("/") + "/").rstrip("/")
        mapping: dict[str, str] = {}
        for recording in scenario.recordings:
            url = normalise_url(recording.url)
            if recording.method != "GET" or not url.startswith(prefix + "/"):
                continue
            path = url[len(prefix) :]
            headers = dict(recording.headers)
            location = headers.get("location", "")
            if location.startswith(origin.rstrip("/") + "/"):
                headers["location"] = self.base_url + location[len(origin.rstrip("/")) :]
            self.routes[path] = Recording(
                url=recording.url, status=recording.status, headers=headers, body=recording.body
            )
            mapping[recording.url] = self.url(path)
        return mapping

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.bytes_sent.clear()
            self.request_log.clear()
            self.arrived.clear()

    def _count(self, method: str, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests[path] += 1
            self.request_log.append((method, path, headers))
            self.arrived[path] = time.monotonic()

    def _count_bytes(self, path: str, sent: int) -> None:
        with self._lock:
            self.bytes_sent[path] += sent


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a trickling handler must not keep stop() waiting

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        owner: LoopbackServer,
    ) -> None:
        self.owner = owner
        super().__init__(address, handler)

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients hanging up mid-body is what some tests are about; stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._answer("GET")

    def do_HEAD(self) -> None:
        self._answer("HEAD")

    def log_message(self, format: str, *args: object) -> None:
        """Silence the per-request log line on stderr."""

    def _answer(self, method: str) -> None:
        owner = self.server.owner
        owner._count(method, self.path, {k.lower(): v for k, v in self.headers.items()})
        recording = owner.routes.get(self.path, NOT_FOUND)
        if owner.latency_seconds:
            time.sleep(owner.latency_seconds)
        status, headers, body = respond(
            recording,
            method=method,
            if_none_match=self.headers.get("if-none-match"),
            if_modified_since=self.headers.get("if-modified-since"),
        )
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self._write_body(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _write_body(self, body: bytes) -> None:
        owner = self.server.owner
        step = owner.chunk_bytes or len(body) or 1
        for start in range(0, len(body), step):
            if start and owner.chunk_delay_seconds:
                time.sleep(owner.chunk_delay_seconds)
            chunk = body[start : start + step]
            self.wfile.write(chunk)
            self.wfile.flush()
            owner._count_bytes(self.path, len(chunk))
