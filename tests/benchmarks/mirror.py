"""A synthetic OCW mirror for bench_deep.py: course sites built from the recorded course-v2 pages
(tests/fixtures/pages/18.01sc), with a known answer key of broken links and redirects, served on
127.0.0.1-4 with a fixed latency per response. Imported, it plans and renders; run as a script
(`python mirror.py --courses 4 ...`) it serves and prints its origins as one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import json
import re
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path

PAGES = Path(__file__).resolve().parents[1] / "fixtures" / "pages"
FIXTURE_SLUG = "18-01sc-single-variable-calculus-fall-2010"
TEMPLATES = {
    "home": "18.01sc/home.html",
    "page": "18.01sc/session-1-introduction-to-derivatives.html",
    "resource": "18.01sc/resource-mit18_01scf10_ses1a.html",
}
ROLES = ("ocw", "archive", "video", "web")  # served on 127.0.0.1, .2, .3, .4
OCW_404 = (PAGES / "errors" / "404.html").read_bytes()
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
SMALL = b"<html><head><title>Elsewhere</title></head><body><p>A page.</p></body></html>"
ROBOTS = b"User-agent: *\nAllow: /\n"
LAST_MODIFIED = "Tue, 01 Oct 2024 12:00:00 GMT"
MARKER = 'id="course-content-section">'
# Absolute and protocol-relative URLs, plain or JSON-escaped (JSON-LD writes https:\/\/...):
# each is pointed at a loopback origin, and `loopback_only` checks that none is left, so that
# no checker run against the mirror ever resolves a real name.
ABSOLUTE = re.compile(r"(?:https?:)?(?://|\\/\\/)([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})")


@dataclass(frozen=True)
class Size:
    """How big the mirror is: courses x units x sessions, and resources per session.

    `direct` (0 or 1): a session page links its files itself, as most pages of a course site
    link their PDFs, instead of through one resource page per file (pages x files, issue 15).
    """

    courses: int = 4
    units: int = 6
    sessions: int = 8
    resources: int = 5
    direct: int = 0


@dataclass(frozen=True)
class Answer:
    """What one path answers: a status, how to render it, and the links injected into it."""

    status: int
    kind: str  # home | page | resource | file | soft404 | redirect | mp4 | small
    links: tuple[str, ...] = ()
    location: str | None = None
    refuses_head: bool = False


@dataclass
class Key:
    """What a perfect checker reports: broken links with their state, and redirects."""

    broken: dict[str, str] = field(default_factory=dict)  # url -> dead | soft404
    blocked: dict[str, str] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)  # url -> final url
    pages: list[str] = field(default_factory=list)  # every HTML page of the course sites
    homes: list[str] = field(default_factory=list)


def slug_of(course: int) -> str:
    return f"mirror-{course:02d}-single-variable-calculus"


def etag_of(path: str) -> str:
    return '"' + hashlib.sha1(path.encode()).hexdigest()[:16] + '"'


class Mirror:
    """The plan of every URL of the mirror, the answer key, and each response's bytes."""

    def __init__(self, size: Size, origins: dict[str, str]) -> None:
        self.size = size
        self.origins = origins
        self.key = Key()
        self.plan: dict[tuple[str, str], Answer] = {}
        self._templates: dict[tuple[str, str], tuple[bytes, bytes]] = {}
        self._raw = {
            name: (PAGES / path).read_text(encoding="utf-8") for name, path in TEMPLATES.items()
        }
        self.not_found = ABSOLUTE.sub(self._rewrite, OCW_404.decode()).encode()
        for course in range(1, size.courses + 1):
            self._plan_course(course)
        self.loopback_only()

    def loopback_only(self) -> None:
        """Refuse to serve if a rendered template still names a host off the loopback."""
        texts = [self.not_found.decode()]
        texts += [b"".join(self._template(slug_of(1), name)).decode() for name in TEMPLATES]
        left = {host for text in texts for host in ABSOLUTE.findall(text)}
        if left:
            raise SystemExit(f"mirror: URLs to {sorted(left)} left in the templates; not serving")

    # --- planning --------------------------------------------------------------------------

    def url(self, role: str, path: str) -> str:
        return self.origins[role] + path

    def _add(self, role: str, path: str, answer: Answer) -> None:
        self.plan.setdefault((role, path), answer)

    def _plan_course(self, c: int) -> None:
        base = f"/courses/{slug_of(c)}/"
        size = self.size
        units = [f"{base}pages/unit-{u}/" for u in range(1, size.units + 1)]
        self._page(base, "home", units)
        self.key.homes.append(self.url("ocw", base))
        for u in range(1, size.units + 1):
            sessions = [f"{base}pages/unit-{u}/session-{s}/" for s in range(1, size.sessions + 1)]
            self._page(f"{base}pages/unit-{u}/", "page", sessions)
            for s in range(1, size.sessions + 1):
                self._plan_session(c, u, s, base)
        self._plan_template_links(base)

    def _page(self, path: str, kind: str, links: list[str]) -> None:
        absolute = tuple(link if "://" in link else self.url("ocw", link) for link in links)
        self._add("ocw", path, Answer(200, kind, absolute))
        self.key.pages.append(self.url("ocw", path))

    def _plan_session(self, c: int, u: int, s: int, base: str) -> None:
        links: list[str] = []
        for r in range(1, self.size.resources + 1):
            page, file = f"{base}resources/res-{u}-{s}-{r}/", f"{base}files/res-{u}-{s}-{r}.pdf"
            self._add("ocw", file, Answer(200, "file"))
            if self.size.direct:
                links.append(file)
                continue
            self._page(page, "resource", [file])
            links += [page, file]
        video, mp4, embed = (
            f"{base}resources/video-{u}-{s}/",
            f"/MIT-{c}/{u}-{s}.mp4",
            f"/embed/{c}-{u}-{s}",
        )
        refuses = (u * 7 + s) % 10 == 0  # one in ten media hosts' files refuse HEAD (405)
        self._add("archive", mp4, Answer(200, "mp4", refuses_head=refuses))
        self._add("video", embed, Answer(200, "small"))
        self._page(video, "resource", [self.url("video", embed), self.url("archive", mp4)])
        reference = self.url("web", f"/www.example.edu/reading/{c}-{u}-{s}")
        self._add("web", f"/www.example.edu/reading/{c}-{u}-{s}", Answer(200, "small"))
        links += [video, self.url("archive", mp4), self.url("video", embed), reference]
        links += self._breakage(base, u, s)
        self._page(f"{base}pages/unit-{u}/session-{s}/", "page", links)

    def _breakage(self, base: str, u: int, s: int) -> list[str]:
        """The answer key's links: one kind of breakage per session number (1-8)."""
        unit = f"{base}pages/unit-{u}/"
        web = f"/gone.example.org/{base.strip('/').replace('/', '-')}-{u}"
        cases: dict[int, tuple[str, str, Answer, str | None]] = {
            1: ("ocw", f"{unit}missing/", Answer(404, "notfound"), "dead"),
            2: ("ocw", f"{base}files/missing-{u}.pdf", Answer(404, "notfound"), "dead"),
            3: (
                "ocw",
                f"{unit}old-session-3/",
                Answer(301, "redirect", location=f"{unit}session-3/"),
                None,
            ),
            4: ("ocw", f"{unit}retired/", Answer(200, "soft404"), "soft404"),
            5: (
                "ocw",
                f"{base}files/old-notes-{u}.pdf",
                Answer(301, "redirect", location=unit),
                "dead",
            ),
            6: ("web", web, Answer(410, "notfound"), "dead"),
            7: ("ocw", f"{unit}moved-home/", Answer(302, "redirect", location="/"), "soft404"),
            8: ("web", web.replace("gone.", "blocked."), Answer(403, "small"), None),
        }
        if s not in cases:
            return []
        role, path, answer, state = cases[s]
        self._add(role, path, answer)
        url = self.url(role, path)
        if state is not None:
            self.key.broken[url] = state
        elif answer.status == 403:
            self.key.blocked[url] = "blocked"
        else:
            assert answer.location is not None
            self.key.redirects[url] = self.url(role, answer.location)
        return [url]

    def _plan_template_links(self, base: str) -> None:
        """Every link the recorded chrome has into the course must answer too."""
        prefix = f"/courses/{FIXTURE_SLUG}/"
        for text in self._raw.values():
            for match in re.finditer(
                r'(?:href|src|srcset)="(?:https://ocw\.mit\.edu)?(/courses/[^"#? ]*)', text
            ):
                path = base + match.group(1).removeprefix(prefix)
                if not match.group(1).startswith(prefix) or ("ocw", path) in self.plan:
                    continue
                if "." in path.rsplit("/", 1)[-1]:
                    self._add("ocw", path, Answer(200, "file"))
                else:
                    self._page(path, "page", [])

    # --- rendering -------------------------------------------------------------------------

    def _template(self, course_slug: str, name: str) -> tuple[bytes, bytes]:
        cache_key = (course_slug, name)
        if cache_key not in self._templates:
            text = self._raw[name].replace(FIXTURE_SLUG, course_slug)
            text = ABSOLUTE.sub(self._rewrite, text)
            cut = text.index(MARKER) + len(MARKER) if MARKER in text else text.rindex("</body>")
            self._templates[cache_key] = (text[:cut].encode(), text[cut:].encode())
        return self._templates[cache_key]

    def _rewrite(self, match: re.Match[str]) -> str:
        host = match.group(1).lower()
        if host == "ocw.mit.edu":
            return self.origins["ocw"]
        return f"{self.origins['web']}/{host}"

    def render(self, role: str, path: str) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body of one response (GET; the server drops HEAD bodies)."""
        answer = self.plan.get((role, path)) or self._default(role, path)
        headers = {"etag": etag_of(path), "last-modified": LAST_MODIFIED}
        if answer.kind in {"home", "page", "resource"}:
            slug = path.split("/")[2]
            before, after = self._template(slug, "home" if answer.kind == "home" else answer.kind)
            block = "".join(
                f'<p><a href="{link}">{link.rsplit("/", 2)[-2]}</a></p>' for link in answer.links
            )
            return (
                200,
                headers | {"content-type": "text/html; charset=utf-8"},
                before + block.encode() + after,
            )
        if answer.kind == "redirect":
            return answer.status, {"location": self.url(role, answer.location or "/")}, b""
        if answer.kind in {"soft404", "notfound"}:
            return answer.status, {"content-type": "text/html"}, self.not_found
        if answer.kind == "file":
            return 200, headers | {"content-type": "application/pdf"}, PDF
        if answer.kind == "mp4":
            return 200, headers | {"content-type": "video/mp4"}, b"\x00" * 64
        return answer.status, headers | {"content-type": "text/html"}, SMALL

    def _default(self, role: str, path: str) -> Answer:
        """Unplanned paths: 404 inside a course site, a small page anywhere else."""
        if path == "/robots.txt":
            return Answer(200, "robots")
        if role == "ocw" and path.startswith("/courses/mirror-"):
            return Answer(404, "notfound")
        return Answer(200, "small")


# --- serving ---------------------------------------------------------------------------------
# One asyncio loop serves the four hosts: a coroutine per connection, HTTP/1.1 keep-alive, so
# that no thread switching or GIL handover is added to the latency the benchmark sets (the
# thread-per-connection server it replaces cost 10-13% over the limit by itself, and a client
# opening hundreds of connections made hundreds of threads).

REASONS = {status.value: status.phrase for status in HTTPStatus}


class BadRequestError(Exception):
    """A request this minimal HTTP/1.1 reader does not understand: answered 400, then closed."""


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]

    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return connection == "keep-alive"
        return connection != "close"


async def read_request(reader: asyncio.StreamReader, line: bytes) -> Request:
    """The rest of a request whose request line has arrived: headers, and any body (read and
    ignored, so that the next request on the connection starts where it should)."""
    parts = line.decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequestError(line[:80])
    headers: dict[str, str] = {}
    while (header := await reader.readline()) not in {b"\r\n", b"\n", b""}:
        name, colon, value = header.decode("latin-1").partition(":")
        if not colon:
            raise BadRequestError(header[:80])
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise BadRequestError(b"chunked request bodies are not read")
    length = headers.get("content-length", "0")
    if not length.isdigit():
        raise BadRequestError(length.encode()[:80])
    if int(length):
        await reader.readexactly(int(length))
    return Request(parts[0].upper(), parts[1], parts[2], headers)


def response_bytes(
    status: int, headers: dict[str, str], body: bytes, length: int, *, close: bool
) -> bytes:
    """Status line, headers and body in one buffer: one write, so Nagle never holds the body."""
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, '')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"content-length: {length}")
    lines.append("linkchecker: allow")  # LinkChecker's opt-in to more than 10 req/s
    if close:
        lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Counters:
    """What the four hosts answered: `role METHOD status` and `bytes` (body bytes sent)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        # Wall-clock times (time.time()) of the first request taken up and the last answer
        # counted since the reset: where a tool's run starts and stops asking (`/__times`).
        self.first = self.last = 0.0
        # Per host, requests being answered now, and the sum of that over time (request
        # seconds) since the reset: divided by the asking time, how many of its places a
        # client kept busy on average (`/__times`' `in_use`).
        self.answering: Counter[str] = Counter()
        self.busy: dict[str, float] = {}
        self.changed: dict[str, float] = {}

    def answering_changes(self, role: str, by: int) -> None:
        now = time.time()
        spent = self.answering[role] * (now - self.changed.get(role, now))
        self.busy[role] = self.busy.get(role, 0.0) + spent
        self.answering[role] += by
        self.changed[role] = now

    def in_use(self) -> dict[str, float]:
        """Each host's mean requests answered at once between the first request and the last
        answer (0 before any)."""
        span = self.last - self.first
        return {role: busy / span if span > 0 else 0.0 for role, busy in self.busy.items()}

    def count(self, role: str, method: str, status: int, sent: int) -> None:
        self.counts[f"{role} {method} {status}"] += 1
        self.counts["bytes"] += sent
        self.last = time.time()

    def clear(self) -> None:
        self.counts.clear()
        self.first = self.last = 0.0
        self.busy.clear()
        self.changed.clear()


class Host:
    """One of the four hosts: its role in the mirror, its latency and its cap."""

    def __init__(
        self, role: str, mirror: Mirror, latency: float, counters: Counters, cap: int = 0
    ) -> None:
        self.role = role
        self.mirror = mirror
        self.latency = latency
        self.counters = counters
        # Requests answered at once on this host (0: no cap), held from taking the request up
        # to writing its answer, as a front end's worker would be; an idle keep-alive
        # connection holds none.
        self.slots = asyncio.Semaphore(cap) if cap else None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer one connection's requests until the client closes it or asks to."""
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while line := await reader.readline():
                if line.strip() and not await self.take_up(reader, writer, line):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # a client closing mid-request is its business
        finally:
            writer.close()

    async def take_up(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: bytes
    ) -> bool:
        """One request whose line has arrived; whether the connection stays open."""
        if self.slots is not None:
            await self.slots.acquire()
        try:
            # The latency counts from here, so that the server's own work (reading headers,
            # rendering) is inside it, not added to it.
            arrived = time.perf_counter()
            try:
                request = await read_request(reader, line)
            except BadRequestError:
                writer.write(response_bytes(400, {}, b"", 0, close=True))
                await writer.drain()
                return False
            keep = request.keep_alive()
            counted = not request.target.startswith("/__")  # the benchmark's own: at once
            if counted:
                self.counters.answering_changes(self.role, +1)
            status, headers, body, length = self.answer(request)
            try:
                if counted:
                    await asyncio.sleep(max(0.0, arrived + self.latency - time.perf_counter()))
                writer.write(response_bytes(status, headers, body, length, close=not keep))
                await writer.drain()
            finally:
                if counted:
                    self.counters.answering_changes(self.role, -1)
            return keep
        finally:
            if self.slots is not None:
                self.slots.release()

    def answer(self, request: Request) -> tuple[int, dict[str, str], bytes, int]:
        """Status, headers, body to send and the content-length to announce (a HEAD's body
        is not sent; its length is)."""
        if request.target == "/__stats":
            stats = json.dumps(dict(self.counters.counts)).encode()
            return 200, {"content-type": "application/json"}, stats, len(stats)
        if request.target == "/__reset":
            self.counters.clear()
            return 200, {}, b"", 0
        if request.target == "/__times":
            counters = self.counters
            times = json.dumps(
                {"first": counters.first, "last": counters.last, "in_use": counters.in_use()}
            )
            return 200, {"content-type": "application/json"}, times.encode(), len(times)
        self.counters.first = self.counters.first or time.time()
        method = "HEAD" if request.method == "HEAD" else "GET"
        path = request.target.split("#", 1)[0].split("?", 1)[0]
        planned = self.mirror.plan.get((self.role, path))
        if path == "/robots.txt":
            status, headers, body = 200, {"content-type": "text/plain"}, ROBOTS
        elif method == "HEAD" and planned is not None and planned.refuses_head:
            status, headers, body = 405, {"allow": "GET"}, b""
        else:
            status, headers, body = self.mirror.render(self.role, path)
        etag = headers.get("etag")
        if status == 200 and etag is not None and request.headers.get("if-none-match") == etag:
            status, body, headers = 304, b"", {"etag": etag}
        self.counters.count(self.role, method, status, len(body))
        return status, headers, b"" if method == "HEAD" else body, len(body)


async def serve_hosts(size: Size, latency: float, cap: int) -> None:
    """Listen on 127.0.0.1-4, print the origins as one JSON line, and serve until killed."""
    counters = Counters()
    hosts: dict[str, Host] = {}
    servers: dict[str, asyncio.Server] = {}

    async def connected(role: str, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await hosts[role].serve(r, w)

    for index, role in enumerate(ROLES, start=1):
        servers[role] = await asyncio.start_server(
            functools.partial(connected, role), f"127.0.0.{index}", 0, backlog=1024
        )
    origins = {
        role: "http://{}:{}".format(*server.sockets[0].getsockname()[:2])
        for role, server in servers.items()
    }
    mirror = Mirror(size, origins)
    hosts.update({role: Host(role, mirror, latency, counters, cap) for role in ROLES})
    print(json.dumps({"origins": origins, "urls": len(mirror.plan)}), flush=True)
    await asyncio.gather(*(server.serve_forever() for server in servers.values()))


def serve(size: Size, latency: float, cap: int = 0) -> None:
    """Serve the mirror on 127.0.0.1-4 until killed; print the origins as one JSON line."""
    # epoll, asyncio's default here: its timeouts are whole milliseconds, rounded up, which adds
    # up to 1 ms to a 20 ms answer when nothing else wakes the loop (about 1.05 x the limit for
    # a bare socket client instead of 1.03 with select()). select() was tried and dropped: it
    # cannot watch a file descriptor past 1023, and linkinator holds more connections than that.
    asyncio.run(serve_hosts(size, latency, cap))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name, default in vars(Size()).items():
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per response")
    parser.add_argument(
        "--server-cap", type=int, default=0, help="requests answered at once per host (0: no cap)"
    )
    args = parser.parse_args(argv)
    size = Size(args.courses, args.units, args.sessions, args.resources, args.direct)
    serve(size, args.latency, args.server_cap)


if __name__ == "__main__":
    main(sys.argv[1:])
