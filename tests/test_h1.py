"""The HTTP/1.1 transport (fetch/h1.py) against a scripted server on 127.0.0.1: connections
kept alive and reused, closed when they cannot go on, a server that closes an idle connection,
bodies by length, chunks and close, flow control, TLS, and errors as httpx's."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ocwwatch.fetch.failures import classify_error
from ocwwatch.fetch.h1 import H1Transport
from ocwwatch.fetch.sockets import BUFFER_LIMIT, AsyncioBackend
from ocwwatch.models import FailureKind

# What the server does with the n-th request on a connection: the bytes it sends back, and
# whether it then closes the connection.
Script = Callable[[str, int], tuple[bytes, bool]]


def answer(status: int, body: bytes = b"", *, close: bool = False, extra: str = "") -> bytes:
    head = f"HTTP/1.1 {status} Status\r\ncontent-length: {len(body)}\r\n{extra}"
    if close:
        head += "connection: close\r\n"
    return (head + "\r\n").encode() + body


@dataclass
class Server:
    port: int
    connections: int = 0
    requests: list[str] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)


@asynccontextmanager
async def serving(script: Script, tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    server = Server(0)

    handlers: list[asyncio.Task[None] | None] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())
        server.connections += 1
        server.writers.append(writer)
        n = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line = head.split(b"\r\n", 1)[0].decode()
                server.requests.append(line)
                data, close = script(line, n)
                n += 1
                writer.write(data)
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    listening = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    server.port = listening.sockets[0].getsockname()[1]
    async with listening:
        yield server
        for writer in server.writers:
            writer.close()
        await asyncio.gather(*(task for task in handlers if task), return_exceptions=True)


def transport(**kwargs: object) -> H1Transport:
    return H1Transport(AsyncioBackend(), None, max_idle=4, **kwargs)  # type: ignore[arg-type]


async def get(client: H1Transport, url: str, method: str = "GET") -> tuple[int, bytes]:
    request = httpx.Request(method, url, extensions={"timeout": {"connect": 5, "read": 5}})
    response = await client.handle_async_request(request)
    try:
        body = b"".join([chunk async for chunk in response.aiter_raw()])
    finally:
        await response.aclose()
    return response.status_code, body


def test_a_kept_alive_connection_serves_one_request_after_another() -> None:
    async def scenario() -> Server:
        async with serving(lambda line, n: (answer(200, f"{line} #{n}".encode()), False)) as s:
            client = transport()
            for path in ("/a", "/b", "/c"):
                status, body = await get(client, f"http://127.0.0.1:{s.port}{path}")
                assert (status, body.decode()) == (
                    200,
                    f"GET {path} HTTP/1.1 #{'abc'.index(path[1])}",
                )
            await client.aclose()
            return s

    server = asyncio.run(scenario())
    assert server.connections == 1
    assert server.requests == ["GET /a HTTP/1.1", "GET /b HTTP/1.1", "GET /c HTTP/1.1"]


def test_connection_close_and_http_1_0_answers_are_not_reused() -> None:
    def script(line: str, n: int) -> tuple[bytes, bool]:
        if "/old" in line:
            return b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok", False
        return answer(200, b"ok", close=True), True

    async def scenario() -> Server:
        async with serving(script) as s:
            client = transport()
            for path in ("/close", "/close", "/old", "/old"):
                assert await get(client, f"http://127.0.0.1:{s.port}{path}") == (200, b"ok")
            await client.aclose()
            return s

    assert asyncio.run(scenario()).connections == 4


def test_a_body_left_unread_closes_its_connection() -> None:
    """Its rest would otherwise be read as the next answer."""

    async def scenario() -> tuple[Server, bytes]:
        async with serving(lambda line, n: (answer(200, line.encode() * 100), False)) as s:
            client = transport()
            url = f"http://127.0.0.1:{s.port}"
            request = httpx.Request("GET", f"{url}/big")
            response = await client.handle_async_request(request)
            async for _chunk in response.aiter_raw():
                break
            await response.aclose()
            _, body = await get(client, f"{url}/next")
            await client.aclose()
            return s, body

    server, body = asyncio.run(scenario())
    assert server.connections == 2
    assert body == b"GET /next HTTP/1.1" * 100


def test_a_connection_the_server_closed_while_idle_is_replaced_at_once() -> None:
    """A server closing a kept-alive connection just as it is reused costs no failure."""

    async def scenario() -> tuple[Server, list[tuple[int, bytes]]]:
        async with serving(lambda line, n: (answer(200, b"ok"), False)) as s:
            client = transport()
            url = f"http://127.0.0.1:{s.port}/"
            got = [await get(client, url)]
            for writer in s.writers:
                writer.close()  # the server's keep-alive timeout, as the request leaves
            await asyncio.sleep(0.05)
            got.append(await get(client, url))
            await client.aclose()
            return s, got

    server, got = asyncio.run(scenario())
    assert got == [(200, b"ok"), (200, b"ok")]
    assert server.connections == 2


def test_a_reused_connection_closed_before_any_answer_byte_is_replaced_once() -> None:
    """The race of a keep-alive timeout: the request went out, the server had just closed."""

    def script(line: str, n: int) -> tuple[bytes, bool]:
        return (answer(200, b"ok"), False) if n == 0 else (b"", True)

    async def scenario() -> tuple[Server, list[tuple[int, bytes]]]:
        async with serving(script) as s:
            client = transport()
            url = f"http://127.0.0.1:{s.port}/"
            got = [await get(client, url), await get(client, url)]
            await client.aclose()
            return s, got

    server, got = asyncio.run(scenario())
    assert got == [(200, b"ok"), (200, b"ok")]
    assert server.connections == 2
    assert len(server.requests) == 3  # asked twice on the first, once more on the second


def test_an_idle_connection_past_its_keepalive_is_not_reused() -> None:
    now = [0.0]

    async def scenario() -> Server:
        async with serving(lambda line, n: (answer(200, b"ok"), False)) as s:
            client = transport(clock=lambda: now[0], keepalive_seconds=5.0)
            url = f"http://127.0.0.1:{s.port}/"
            await get(client, url)
            now[0] = 4.0
            await get(client, url)  # 4 s idle: reused
            now[0] = 9.5
            await get(client, url)  # 5.5 s idle: a new one
            await client.aclose()
            return s

    assert asyncio.run(scenario()).connections == 2


def test_unasked_bytes_on_an_idle_connection_make_it_unusable() -> None:
    """A server's stray answer (a 408 before closing) must not pass for the next one's."""

    asked: list[str] = []

    def script(line: str, n: int) -> tuple[bytes, bool]:
        asked.append(line)
        if len(asked) == 1:
            return answer(200, b"first") + answer(408, b"stray"), False
        return answer(200, b"fresh"), False

    async def scenario() -> list[tuple[int, bytes]]:
        async with serving(script) as s:
            client = transport()
            url = f"http://127.0.0.1:{s.port}/"
            got = [await get(client, url)]
            await asyncio.sleep(0.05)
            got.append(await get(client, url))
            await client.aclose()
            return got

    assert asyncio.run(scenario()) == [(200, b"first"), (200, b"fresh")]
    assert len(asked) == 2


def test_chunked_and_close_delimited_bodies_and_bodiless_answers() -> None:
    def script(line: str, n: int) -> tuple[bytes, bool]:
        if "/chunked" in line:
            head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
            return head + b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", False
        if "/until-close" in line:
            return b"HTTP/1.1 200 OK\r\n\r\nall of it", True
        if line.startswith("HEAD"):
            return b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n", False
        if "/continue" in line:
            return b"HTTP/1.1 103 Early Hints\r\nlink: </s.css>\r\n\r\n" + answer(
                200, b"after"
            ), False
        return answer(304), False

    async def scenario() -> list[tuple[int, bytes]]:
        async with serving(script) as s:
            client = transport()
            url = f"http://127.0.0.1:{s.port}"
            got = [
                await get(client, f"{url}/chunked"),
                await get(client, f"{url}/page", "HEAD"),
                await get(client, f"{url}/continue"),
                await get(client, f"{url}/same"),
                await get(client, f"{url}/until-close"),
            ]
            await client.aclose()
            return got

    assert asyncio.run(scenario()) == [
        (200, b"abcde"),
        (200, b""),
        (200, b"after"),
        (304, b""),
        (200, b"all of it"),
    ]


def test_a_body_larger_than_the_buffer_arrives_whole() -> None:
    """The socket stops reading while the buffer is full and goes on as it is read."""
    big = bytes(range(256)) * (BUFFER_LIMIT // 64)

    async def scenario() -> tuple[int, bytes]:
        async with serving(lambda line, n: (answer(200, big), False)) as s:
            client = transport()
            request = httpx.Request("GET", f"http://127.0.0.1:{s.port}/")
            response = await client.handle_async_request(request)
            chunks = []
            async for chunk in response.aiter_raw():
                chunks.append(chunk)
                await asyncio.sleep(0.001)  # a slow reader: the buffer fills
            await response.aclose()
            await client.aclose()
            return len(chunks), b"".join(chunks)

    count, body = asyncio.run(scenario())
    assert body == big
    assert count > 1


@pytest.mark.parametrize(
    ("script", "kind"),
    [
        (lambda line, n: (b"", True), FailureKind.CONNECT),
        (
            lambda line, n: (b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc", True),
            FailureKind.RESET,
        ),
        (lambda line, n: (b"NOT HTTP AT ALL\r\n\r\n", True), FailureKind.PROTOCOL),
        (
            lambda line, n: (b"HTTP/1.1 200 OK\r\n" + b"x: y\r\n" * 50_000, True),
            FailureKind.PROTOCOL,
        ),
    ],
    ids=["hung-up-before-answering", "body-cut-short", "not-http", "headers-without-end"],
)
def test_broken_answers_come_out_as_httpx_errors(script: Script, kind: FailureKind) -> None:
    async def scenario() -> BaseException:
        async with serving(script) as s:
            client = transport()
            try:
                await get(client, f"http://127.0.0.1:{s.port}/")
            except httpx.TransportError as exc:
                return exc
            finally:
                await client.aclose()
        raise AssertionError("no error")

    error = asyncio.run(scenario())
    body_started = kind is FailureKind.RESET
    assert classify_error(error, mid_body=body_started)[0] is kind


def test_a_refused_connection_is_a_connect_error_with_the_os_reason() -> None:
    async def scenario() -> BaseException:
        async with serving(lambda line, n: (b"", True)) as s:
            port = s.port
        client = transport()
        try:
            await get(client, f"http://127.0.0.1:{port}/")
        except httpx.TransportError as exc:
            return exc
        raise AssertionError("no error")

    error = asyncio.run(scenario())
    assert isinstance(error, httpx.ConnectError)
    kind, detail = classify_error(error, mid_body=False)
    assert kind is FailureKind.CONNECT
    assert "refused" in detail.lower()


# --- TLS, with a certificate authority made for the test ---------------------------------------


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate it signed for 127.0.0.1: (ca.pem, cert.pem, key.pem)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ocwwatch test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def test_https_verifies_the_certificate_and_keeps_the_connection(tmp_path: Path) -> None:
    ca, cert, key = _certificates(tmp_path)
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(ca))

    async def scenario() -> tuple[Server, list[tuple[int, bytes]], BaseException]:
        async with serving(lambda line, n: (answer(200, b"secure"), False), served) as s:
            url = f"https://127.0.0.1:{s.port}/"
            client = H1Transport(AsyncioBackend(), trusting, max_idle=2)
            got = [await get(client, url), await get(client, url)]
            await client.aclose()
            stranger = H1Transport(AsyncioBackend(), ssl.create_default_context(), max_idle=2)
            try:
                await get(stranger, url)
            except httpx.ConnectError as exc:
                refused: BaseException = exc
            else:
                raise AssertionError("an unknown CA was trusted")
            await stranger.aclose()
            return s, got, refused

    server, got, refused = asyncio.run(scenario())
    assert got == [(200, b"secure"), (200, b"secure")]
    assert server.connections == 1  # kept alive for both; the refused one never got to talk
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused)


def test_an_international_name_is_connected_to_in_its_ascii_form() -> None:
    """httpx's `host` is Unicode; IDNA 2003 would make faß.de fass.de, another host."""

    class Recording(httpcore.AsyncNetworkBackend):
        def __init__(self) -> None:
            self.hosts: list[str] = []

        async def connect_tcp(self, host: str, port: int, *args: object, **kw: object) -> Any:
            self.hosts.append(host)
            raise httpcore.ConnectError("recorded, not connected")

    async def scenario() -> list[str]:
        backend = Recording()
        client = H1Transport(backend, None, max_idle=1)
        with pytest.raises(httpx.ConnectError):
            await get(client, "https://faß.de/x")
        return backend.hosts

    assert asyncio.run(scenario()) == ["xn--fa-hia.de"]


def test_a_tls_connection_given_up_closes_its_socket_at_once(tmp_path: Path) -> None:
    """A TLS transport's close() waits for the peer's close_notify (up to 30 s from a silent
    peer, a file descriptor held all the while); a connection given up is cut instead."""
    ca, cert, key = _certificates(tmp_path)
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def silent_peer() -> None:
        """Answers one request, then neither reads nor closes until the test is over."""
        conn, _ = listener.accept()
        with served.wrap_socket(conn, server_side=True) as tls:
            tls.recv(65536)
            tls.sendall(answer(200, b"ok"))
            done.wait(10)

    thread = threading.Thread(target=silent_peer, daemon=True)
    thread.start()
    port = listener.getsockname()[1]

    async def scenario() -> int:
        client = H1Transport(
            AsyncioBackend(), ssl.create_default_context(cafile=str(ca)), max_idle=1
        )
        assert await get(client, f"https://127.0.0.1:{port}/") == (200, b"ok")
        sockets: list[socket.socket] = [c.stream.get_extra_info("socket") for c in client._open]
        await client.aclose()
        await asyncio.sleep(0.2)
        return sockets[0].fileno()

    try:
        assert asyncio.run(scenario()) == -1
    finally:
        done.set()
        thread.join(5)
        listener.close()


def test_a_socket_option_refused_is_a_connect_error_and_closes_the_socket() -> None:
    """No file descriptor outlives the refused connection (Linux: /proc/self/fd)."""

    def open_fds() -> int:
        return len(list(Path("/proc/self/fd").iterdir()))

    async def scenario() -> tuple[int, int]:
        async with serving(lambda line, n: (answer(200), False)) as s:
            await asyncio.sleep(0)
            before = open_fds()
            refused = [(socket.SOL_SOCKET, -1, 1)]
            with pytest.raises(httpcore.ConnectError, match="socket option refused"):
                await AsyncioBackend().connect_tcp("127.0.0.1", s.port, socket_options=refused)
            await asyncio.sleep(0.05)
            for writer in s.writers:  # the server's side of it
                writer.close()
            await asyncio.sleep(0.05)
            return before, open_fds()

    before, after = asyncio.run(scenario())
    assert after == before
