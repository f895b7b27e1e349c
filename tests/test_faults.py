"""Every fetch failure driven through the real pipeline: `ocwwatch check` against a fault server.

Each test writes a settings file and a curated list naming 127.0.0.1 URLs (or `.invalid` names),
runs `main([... "check" ...])`, and asserts the outcome, the Markdown report's line and the exit
code. No test may resolve a name: `socket.getaddrinfo` refuses anything but 127.0.0.1.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfWriter
from support.faultserver import (
    FaultServer,
    conditional,
    hang,
    never_accepting,
    redirect,
    refused_url,
    reset_mid_body,
    respond,
    trickle,
)

from ocwwatch.cli import main

HTML = {"content-type": "text/html; charset=utf-8"}
PDF = {"content-type": "application/pdf"}
HEALTHY = b"<!doctype html><html><head><title>Healthy page</title></head><body>hi</body></html>"
INVALID = "http://nothing.invalid/"
SLOW_TEST_SECONDS = 5.0  # no single fault may hold a run longer than this


@dataclass
class Checked:
    code: int
    report: dict[str, Any]
    markdown: str
    seconds: float

    def resource(self, resource_id: str) -> dict[str, Any]:
        return next(item for item in self.report["resources"] if item["id"] == resource_id)


@pytest.fixture(autouse=True)
def no_lookups(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Any name lookup but the loopback literal fails the test instead of reaching a resolver."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", b"127.0.0.1"):
            asked.append(str(host))
            raise socket.gaierror(socket.EAI_NONAME, "lookup refused by the test")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield asked
    assert asked == [], f"names were looked up: {asked}"


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer({"/ok": [respond(200, HTML, HEALTHY)]}) as running:
        yield running


def write_config(folder: Path, resources: list[tuple[str, str, str]], **http: object) -> Path:
    """Settings with short timeouts, one retry and no politeness delay, plus the curated list."""
    settings = {"timeout_seconds": 0.5, "retries": 1, "per_host_interval_seconds": 0} | http
    lines = ['resources = "resources.toml"', 'database = "data/ocwwatch.db"']
    lines += ['reports_dir = "data/reports"', "", "[http]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    (folder / "ocwwatch.toml").write_text("\n".join(lines) + "\n")
    entries = [
        f'[[resources]]\nid = "{rid}"\nurl = "{url}"\nkind = "{kind}"\n'
        for rid, url, kind in resources
    ]
    (folder / "resources.toml").write_text("\n".join(entries))
    return folder / "ocwwatch.toml"


def check(
    config: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> Checked:
    """Run `ocwwatch check --format json`; no traceback, no error log, within the time bound."""
    caplog.clear()
    began = time.monotonic()
    with caplog.at_level(logging.INFO):
        code = main(["-q", "check", "--config", str(config), "--format", "json"])
    seconds = time.monotonic() - began
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert seconds < SLOW_TEST_SECONDS
    report = json.loads(out)
    markdown = (config.parent / "data" / "reports" / f"run-{report['run']['id']}.md").read_text()
    return Checked(code=code, report=report, markdown=markdown, seconds=seconds)


@dataclass
class Env:
    """One test's folder, output capture and fault server, with the ways to run a check."""

    tmp_path: Path
    capsys: pytest.CaptureFixture[str]
    caplog: pytest.LogCaptureFixture
    server: FaultServer

    def config(self, resources: list[tuple[str, str, str]], **http: object) -> Path:
        return write_config(self.tmp_path, resources, **http)

    def run(self, config: Path) -> Checked:
        return check(config, self.capsys, self.caplog)

    def check_one(self, url: str, kind: str = "page", **http: object) -> tuple[Checked, Any]:
        """The fault as resource `bad`, beside a healthy page (so the run is never offline)."""
        resources = [("good", self.server.url("/ok"), "page"), ("bad", url, kind)]
        done = self.run(self.config(resources, **http))
        assert done.resource("good")["outcome"] == "ok"
        assert done.report["run"]["offline"] is False
        return done, done.resource("bad")


@pytest.fixture
def env(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    server: FaultServer,
) -> Env:
    return Env(tmp_path, capsys, caplog, server)


def section(markdown: str, title: str) -> str:
    """The text of one `## Title (n)` section of the Markdown report."""
    start = markdown.index(f"## {title} (")
    end = markdown.find("\n## ", start + 1)
    return markdown[start : end if end != -1 else None]


def make_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=72, height=72)
    writer.add_metadata({"/Title": "Calculus"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# --- no answer ------------------------------------------------------------------------------


def test_refused_connection_is_unknown(env: Env) -> None:
    """A refused connection is retried, then `unknown` with the reason; exit 0."""
    done, bad = env.check_one(refused_url())
    assert (bad["outcome"], bad["http_status"]) == ("unknown", None)
    assert "no answer" in bad["error"]
    assert bad["error"].endswith("(Connection refused)")
    assert "- Why: no answer: ConnectError" in section(done.markdown, "Unknown")
    assert done.code == 0


def test_invalid_name_is_dead_without_a_lookup(env: Env) -> None:
    """`nothing.invalid` is dead at once, never asked of a resolver (RFC 6761 6.4); exit 1."""
    done, bad = env.check_one(INVALID)
    assert bad["outcome"] == "dead"
    assert "RFC 6761" in bad["error"]
    assert "- Why: the host name does not resolve" in section(done.markdown, "Dead")
    assert done.code == 1
    assert done.report["run"]["counts"]["dead"] == 1


def test_connect_timeout_is_unknown(env: Env) -> None:
    """A listener whose accept queue is full never completes the handshake: `unknown`, exit 0."""
    with never_accepting() as url:
        done, bad = env.check_one(url)
    assert (bad["outcome"], bad["http_status"]) == ("unknown", None)
    assert "- Why: no answer:" in section(done.markdown, "Unknown")
    assert done.code == 0


def test_read_timeout_before_headers_is_unknown(env: Env) -> None:
    """A server that accepts and never answers times out twice (one retry): `unknown`, exit 0."""
    env.server.routes["/hang"] = [hang()]
    done, bad = env.check_one(env.server.url("/hang"))
    assert (bad["outcome"], bad["http_status"]) == ("unknown", None)
    assert bad["error"] == "no answer: no complete answer within 0.5 s"
    assert "- Why: no answer: no complete answer within 0.5 s" in done.markdown
    assert env.server.requests["/hang"] == 2
    assert done.code == 0


# --- answers that break off -----------------------------------------------------------------


def test_reset_mid_body_is_unknown_not_ok(env: Env) -> None:
    """A body cut by a TCP reset is retried, then `unknown` (HTTP 200 kept), not judged ok."""
    env.server.routes["/reset"] = [reset_mid_body(100_000, HEALTHY[:40], HTML)]
    done, bad = env.check_one(env.server.url("/reset"))
    assert (bad["outcome"], bad["http_status"]) == ("unknown", 200)
    assert bad["error"].startswith("the answer broke off (reset:")
    assert "- Why: the answer broke off (reset:" in section(done.markdown, "Unknown")
    assert bad["changes"] == []
    assert env.server.requests["/reset"] == 2
    assert done.code == 0


def test_trickling_body_hits_the_total_deadline(env: Env) -> None:
    """A body trickling past the whole-request deadline is `unknown` in bounded time."""
    env.server.routes["/slow"] = [trickle(HEALTHY * 10, 0.05, HTML)]
    done, bad = env.check_one(env.server.url("/slow"))
    assert (bad["outcome"], bad["http_status"]) == ("unknown", 200)
    assert bad["error"] == ("the answer broke off (timeout: the body did not arrive within 0.5 s)")
    assert "- Why: the answer broke off (timeout:" in section(done.markdown, "Unknown")
    assert done.code == 0


# --- retries --------------------------------------------------------------------------------


def test_429_with_retry_after_seconds_is_retried_then_ok(env: Env) -> None:
    """429 with `Retry-After: 1` waits a second, asks again and judges the 200: ok, exit 0."""
    busy = respond(429, {"retry-after": "1"})
    env.server.routes["/busy"] = [busy, respond(200, HTML, HEALTHY)]
    done, bad = env.check_one(env.server.url("/busy"))
    assert (bad["outcome"], bad["http_status"]) == ("ok", 200)
    assert env.server.requests["/busy"] == 2
    assert done.seconds >= 1.0
    assert f"`bad` <{env.server.url('/busy')}>" in section(done.markdown, "OK")
    assert done.code == 0


def test_429_with_retry_after_date_is_retried_then_unknown(env: Env) -> None:
    """429 with an HTTP-date Retry-After is honoured; still 429 after the retry: unknown."""
    when = datetime.now(UTC) + timedelta(seconds=2)
    env.server.routes["/busy"] = [respond(429, {"retry-after": format_datetime(when, usegmt=True)})]
    done, bad = env.check_one(env.server.url("/busy"))
    assert (bad["outcome"], bad["http_status"]) == ("unknown", 429)
    assert "- Why: the server answers 429" in section(done.markdown, "Unknown")
    assert env.server.requests["/busy"] == 2
    assert done.seconds >= 0.9  # the date is whole seconds, so the wait is between 1 and 2 s
    assert done.code == 0


def test_503_is_retried_then_unknown(env: Env) -> None:
    """A lasting 503 is asked twice (one retry), then `unknown`: never dead; exit 0."""
    env.server.routes["/down"] = [respond(503, {"content-type": "text/plain"}, b"down")]
    done, bad = env.check_one(env.server.url("/down"))
    assert (bad["outcome"], bad["http_status"]) == ("unknown", 503)
    assert "- Why: the server answers 503" in section(done.markdown, "Unknown")
    assert env.server.requests["/down"] == 2
    assert done.code == 0


# --- redirects ------------------------------------------------------------------------------


def test_redirect_loop_is_dead(env: Env) -> None:
    """/a -> /b -> /a is stopped at the repeat and judged dead; exit 1."""
    env.server.routes["/a"] = [redirect("/b")]
    env.server.routes["/b"] = [redirect("/a")]
    done, bad = env.check_one(env.server.url("/a"))
    assert bad["outcome"] == "dead"
    assert bad["error"] == "the redirects never end (redirect-loop)"
    assert [hop["status"] for hop in bad["redirects"]] == [302, 302]
    assert "- Why: the redirects never end (redirect-loop)" in section(done.markdown, "Dead")
    assert done.code == 1


def test_redirect_chain_over_the_limit_is_dead(env: Env) -> None:
    """A chain longer than `max_redirects` (3) stops there and is judged dead; exit 1."""
    for hop in range(6):
        env.server.routes[f"/r{hop}"] = [redirect(f"/r{hop + 1}", 301)]
    done, bad = env.check_one(env.server.url("/r0"), max_redirects=3)
    assert bad["outcome"] == "dead"
    assert bad["error"] == "the redirects never end (too-many-redirects)"
    assert len(bad["redirects"]) == 4
    assert env.server.requests["/r4"] == 0
    assert "(too-many-redirects)" in section(done.markdown, "Dead")
    assert done.code == 1


def test_redirect_to_a_non_http_scheme_is_an_error(env: Env) -> None:
    """A Location of `ftp://…` is not followed; `error` names it (not "the server answers 302")."""
    env.server.routes["/ftp"] = [redirect("ftp://127.0.0.1/book.pdf")]
    done, bad = env.check_one(env.server.url("/ftp"))
    assert bad["outcome"] == "error"
    assert bad["error"] == "bad-redirect: redirect to a non-http(s) URL: ftp://127.0.0.1/book.pdf"
    assert "- Why: bad-redirect: redirect to a non-http(s) URL" in section(done.markdown, "Error")
    assert done.code == 0


# --- bodies ---------------------------------------------------------------------------------


def test_oversized_body_stops_at_the_cap(env: Env) -> None:
    """A body over `max_bytes` is cut at the cap and judged `unknown`, not ok; exit 0."""
    big = HEALTHY[:-14] + b"x" * 50_000 + b"</body></html>"
    env.server.routes["/big"] = [respond(200, HTML, big)]
    done, bad = env.check_one(env.server.url("/big"), max_bytes=4096)
    assert (bad["outcome"], bad["http_status"]) == ("unknown", 200)
    assert bad["metadata"]["size_bytes"] == 4096
    assert bad["metadata"]["title"] == "Healthy page"
    assert "- Why: the body is larger than the cap" in section(done.markdown, "Unknown")
    assert done.code == 0


def test_gzip_bomb_is_capped_on_decoded_size(env: Env) -> None:
    """20 MB of gzip-compressed spaces (~20 kB sent) stops at the decoded cap, quickly."""
    bomb = gzip.compress(b"<html><head><title>Bomb</title></head><body>" + b" " * 20_000_000)
    env.server.routes["/bomb"] = [respond(200, {**HTML, "content-encoding": "gzip"}, bomb)]
    done, bad = env.check_one(env.server.url("/bomb"), max_bytes=65_536)
    assert len(bomb) < 100_000
    assert (bad["outcome"], bad["metadata"]["size_bytes"]) == ("unknown", 65_536)
    assert bad["metadata"]["title"] == "Bomb"
    assert "- Why: the body is larger than the cap" in section(done.markdown, "Unknown")
    assert done.seconds < 2.0
    assert done.code == 0


def test_invalid_utf8_keeps_a_sane_title(env: Env) -> None:
    """Bytes invalid in the declared UTF-8 are replaced; the title keeps its readable words."""
    body = b'<html><head><meta charset="utf-8"><title>Calculus \xff\xfe Made Easy</title></head>'
    env.server.routes["/bytes"] = [respond(200, HTML, body)]
    done, bad = env.check_one(env.server.url("/bytes"))
    assert bad["outcome"] == "ok"
    assert bad["metadata"]["title"] == "Calculus \ufffd\ufffd Made Easy"
    assert done.code == 0


def test_wrong_charset_header_still_reads_the_title(env: Env) -> None:
    """A windows-1252 page served as `charset=utf-8` is read as windows-1252: the dash survives."""
    body = "<html><head><title>Thompson – Calculus Made Easy</title></head></html>".encode("cp1252")
    env.server.routes["/cp1252"] = [respond(200, HTML, body)]
    done, bad = env.check_one(env.server.url("/cp1252"))
    assert bad["outcome"] == "ok"
    assert bad["metadata"]["title"] == "Thompson – Calculus Made Easy"
    assert done.code == 0


def test_meta_charset_utf16_in_ascii_page_is_read_as_utf8(env: Env) -> None:
    """A page declaring utf-16 from inside 8-bit bytes is not decoded into CJK noise."""
    body = b'<html><head><meta charset="utf-16"><title>Highlights of Calculus</title></head>'
    env.server.routes["/u16"] = [respond(200, {"content-type": "text/html; charset=utf-16"}, body)]
    done, bad = env.check_one(env.server.url("/u16"))
    assert (bad["outcome"], bad["metadata"]["title"]) == ("ok", "Highlights of Calculus")
    assert done.code == 0


def test_malformed_html_is_read_without_a_crash(env: Env) -> None:
    """Unclosed tags, stray brackets and a NUL still give a title and an ok outcome."""
    body = b"<html><head><title>Broken page</head><body><div><p>open <a href='/x' <<>> \x00 </td>"
    env.server.routes["/broken"] = [respond(200, HTML, body)]
    done, bad = env.check_one(env.server.url("/broken"))
    assert bad["outcome"] == "ok"
    assert bad["metadata"]["title"].startswith("Broken page")
    assert done.code == 0


def test_empty_200_is_unknown(env: Env) -> None:
    """A 200 with an empty body offers nothing to judge: `unknown` with the reason, exit 0."""
    env.server.routes["/empty"] = [respond(200, HTML, b"")]
    done, bad = env.check_one(env.server.url("/empty"))
    assert (bad["outcome"], bad["http_status"]) == ("unknown", 200)
    assert "- Why: the server answered 200 with an empty body" in done.markdown
    assert done.code == 0


def test_html_where_a_pdf_is_expected_is_dead(env: Env) -> None:
    """A `pdf` resource answering 200 with HTML is dead, and the report says why; exit 1."""
    env.server.routes["/book.pdf"] = [respond(200, HTML, HEALTHY)]
    done, bad = env.check_one(env.server.url("/book.pdf"), "pdf")
    assert (bad["outcome"], bad["http_status"]) == ("dead", 200)
    assert bad["error"] == "the PDF link now lands on text/html, not a PDF"
    assert "- Why: the PDF link now lands on text/html, not a PDF" in done.markdown
    assert done.code == 1


def test_truncated_pdf_is_a_problem_not_a_crash(env: Env) -> None:
    """A PDF cut in half is read without a crash and reported as damaged (`unknown`), exit 0."""
    whole = make_pdf()
    env.server.routes["/whole.pdf"] = [respond(200, PDF, whole)]
    env.server.routes["/cut.pdf"] = [respond(200, PDF, whole[: len(whole) // 2])]
    resources = [
        ("whole", env.server.url("/whole.pdf"), "pdf"),
        ("cut", env.server.url("/cut.pdf"), "pdf"),
    ]
    done = env.run(env.config(resources))
    assert (done.resource("whole")["outcome"], done.resource("whole")["metadata"]["pages"]) == (
        "ok",
        1,
    )
    cut = done.resource("cut")
    assert cut["outcome"] == "unknown"
    assert cut["error"].startswith("the PDF cannot be read: PDF is truncated")
    assert "- Why: the PDF cannot be read: PDF is truncated" in section(done.markdown, "Unknown")
    assert done.code == 0


# --- offline --------------------------------------------------------------------------------


def test_no_host_answering_is_offline_exit_4(env: Env) -> None:
    """Refused, unresolvable and silent hosts only: offline, nothing dead, exit 4, said plainly."""
    env.server.routes["/hang"] = [hang()]
    resources = [
        ("refused", refused_url(), "page"),
        ("invalid", INVALID, "page"),
        ("silent", env.server.url("/hang"), "page"),
    ]
    done = env.run(env.config(resources))
    assert done.report["run"]["offline"] is True
    assert {item["outcome"] for item in done.report["resources"]} == {"unknown"}
    assert done.report["run"]["counts"]["dead"] == 0
    assert "**Offline run: nothing was judged.** No host answered" in done.markdown
    assert "## Dead" not in done.markdown
    assert done.code == 4


def test_one_dead_among_healthy_is_not_offline(env: Env) -> None:
    """One unresolvable resource beside a healthy one is a finding (exit 1), not an offline run."""
    resources = [("good", env.server.url("/ok"), "page"), ("gone", INVALID, "page")]
    done = env.run(env.config(resources))
    assert done.report["run"]["offline"] is False
    assert done.resource("gone")["outcome"] == "dead"
    assert "Offline run" not in done.markdown
    assert done.code == 1


# --- nothing stored is lost -----------------------------------------------------------------


def faulty_then_healthy(server: FaultServer) -> None:
    """/page: good ("Version one"), then reset mid-body twice (one run), then "Version two"."""
    first = b"<html><head><title>Version one</title></head><body>a</body></html>"
    second = b"<html><head><title>Version two</title></head><body>b</body></html>"
    tagged = {**HTML, "etag": '"v2"'}
    server.routes["/page"] = [
        respond(200, {**HTML, "etag": '"v1"'}, first),
        reset_mid_body(10_000, second[:20], tagged),
        reset_mid_body(10_000, second[:20], tagged),
        respond(200, tagged, second),
    ]


def test_healthy_run_after_a_faulty_one_keeps_everything(env: Env) -> None:
    """After a faulty run the next one completes; every run stays stored and reportable."""
    faulty_then_healthy(env.server)
    config = env.config([("page", env.server.url("/page"), "page")])
    runs = [env.run(config) for _ in range(3)]
    assert [run.resource("page")["outcome"] for run in runs][:2] == ["ok", "unknown"]
    assert runs[2].resource("page")["metadata"]["title"] == "Version two"
    assert env.server.request_log[-1].headers.get("if-none-match") != '"v2"'  # v2 was never read
    assert main(["history", "page", "--config", str(config)]) == 0
    assert len(env.capsys.readouterr().out.splitlines()) == 3
    assert main(["report", "1", "--config", str(config)]) == 0
    assert "Version one" not in env.capsys.readouterr().err


def test_previous_run_comparison_skips_the_faulty_run(env: Env) -> None:
    """Good, faulty, good with a new title: the last run reports title changed from the first."""
    faulty_then_healthy(env.server)
    config = env.config([("page", env.server.url("/page"), "page")])
    runs = [env.run(config) for _ in range(3)]
    assert [c for c in runs[2].resource("page")["changes"] if c["against"] == "previous"] == [
        {
            "field": "title",
            "kind": "changed",
            "before": "Version one",
            "after": "Version two",
            "against": "previous",
        },
        # the body changed too, and a page's main text is watched (issue 12)
        {"field": "text", "kind": "changed", "before": "a", "after": "b", "against": "previous"},
    ]


def test_304_after_a_faulty_run_stands_for_the_last_good_read(env: Env) -> None:
    """Good, then reset mid-body, then 304: the page is still what the good run read."""
    page = b"<html><head><title>Version one</title></head><body>a</body></html>"
    env.server.routes["/page"] = [
        conditional('"v1"', page, HTML),
        reset_mid_body(10_000, page[:20], HTML),
        reset_mid_body(10_000, page[:20], HTML),
        conditional('"v1"', page, HTML),
    ]
    config = env.config([("page", env.server.url("/page"), "page")])
    runs = [env.run(config) for _ in range(3)]
    last = runs[2].resource("page")
    assert last["http_status"] == 304
    assert (last["outcome"], last["metadata"]["title"]) == ("ok", "Version one")
    assert runs[2].code == 0
