"""A synthetic OCW mirror for bench_deep.py: course sites built from the recorded course-v2 pages
(tests/fixtures/pages/18.01sc), with a known answer key of broken links and redirects, served on
127.0.0.1-4 with a fixed latency per response. Imported, it plans and renders; run as a script
(`python mirror.py --courses 4 ...`) it serves and prints its origins as one JSON line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes; with Nagle's algorithm on, the body would wait for
    # the client's delayed ACK of the headers (about 40 ms on Linux) and every response with
    # a body would take latency + 40 ms instead of the latency the benchmark sets.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """No per-request log line."""

    def handle_one_request(self) -> None:
        self.held = False
        try:
            super().handle_one_request()
        finally:
            if self.held:
                self.server.slots.release()

    def parse_request(self) -> bool:
        # The request line has arrived. With --server-cap, it waits for one of the host's
        # slots (held until the answer is written, as a front end's worker would be); an
        # idle keep-alive connection holds none. The fixed latency counts from when the
        # request is taken up, so that the server's own work (parsing headers, rendering) is
        # inside it, not added to it.
        if self.server.cap:
            self.server.slots.acquire()
            self.held = True
        self.arrived = time.perf_counter()
        return super().parse_request()

    def do_HEAD(self) -> None:
        self._answer("HEAD")

    def do_GET(self) -> None:
        if self.path == "/__stats":
            self._send(
                200, {"content-type": "application/json"}, json.dumps(self.server.stats()).encode()
            )
            return
        if self.path == "/__reset":
            self.server.reset()
            self._send(200, {}, b"")
            return
        self._answer("GET")

    def _answer(self, method: str) -> None:
        server = self.server
        path = self.path.split("#", 1)[0].split("?", 1)[0]
        mirror, role = server.mirror, server.role
        answer = mirror.plan.get((role, path))
        if path == "/robots.txt":
            status, headers, body = 200, {"content-type": "text/plain"}, ROBOTS
        elif method == "HEAD" and answer is not None and answer.refuses_head:
            status, headers, body = 405, {"allow": "GET"}, b""
        else:
            status, headers, body = mirror.render(role, path)
        etag = headers.get("etag")
        if status == 200 and etag is not None and self.headers.get("if-none-match") == etag:
            status, body = 304, b""
            headers = {"etag": etag}
        server.count(method, status, len(body))
        time.sleep(max(0.0, self.arrived + server.latency - time.perf_counter()))
        self._send(status, headers, b"" if method == "HEAD" else body, len(body))

    def _send(
        self, status: int, headers: dict[str, str], body: bytes, length: int | None = None
    ) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body) if length is None else length))
        self.send_header("linkchecker", "allow")  # LinkChecker's opt-in to more than 10 req/s
        self.end_headers()
        if body:
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(
        self,
        address: tuple[str, int],
        role: str,
        latency: float,
        counters: Counter[str],
        cap: int = 0,
    ) -> None:
        super().__init__(address, _Handler)
        self.role = role
        self.latency = latency
        self.cap = cap  # requests answered at once on this host; 0: no cap
        self.slots = threading.BoundedSemaphore(max(cap, 1))
        self.counters = counters
        self.mirror: Mirror
        self.lock = threading.Lock()
        self.peers: list[_Server] = []

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients closing idle keep-alive connections are not errors worth a traceback."""

    def count(self, method: str, status: int, sent: int) -> None:
        with self.lock:
            self.counters[f"{self.role} {method} {status}"] += 1
            self.counters["bytes"] += sent

    def stats(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counters)

    def reset(self) -> None:
        with self.lock:
            self.counters.clear()


def serve(size: Size, latency: float, cap: int = 0) -> None:
    """Serve the mirror on 127.0.0.1-4 until killed; print the origins as one JSON line."""
    counters: Counter[str] = Counter()
    servers = {
        role: _Server((f"127.0.0.{index}", 0), role, latency, counters, cap)
        for index, role in enumerate(ROLES, start=1)
    }
    origins = {
        role: f"http://{s.server_address[0]!s}:{s.server_address[1]}" for role, s in servers.items()
    }
    mirror = Mirror(size, origins)
    for server in servers.values():
        server.mirror = mirror
        server.lock = servers["ocw"].lock
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"origins": origins, "urls": len(mirror.plan)}), flush=True)
    threading.Event().wait()


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
