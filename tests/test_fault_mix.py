"""One host, many faults at once (issue 11): a 4-page course and eight fault URLs on the same
127.0.0.1 server, checked by the real CLI (`ocwwatch check --deep`) with `timeout_seconds = 2`.

A URL's own fault (503, reset, stall) must not slow the rest of its host; a 429 slows the host
for its Retry-After only. The run must finish in bounded time with every fault judged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.crawl import OCW_404, page
from support.faultserver import Behaviour, FaultServer, hang, redirect, reset_mid_body, respond

from ocwwatch.cli import main

HTML = {"content-type": "text/html; charset=utf-8"}
FAULTS = {
    "busy": ("/busy", "page"),  # 429 with Retry-After: 1, always
    "down": ("/down", "page"),  # 503, always
    "reset": ("/reset", "page"),  # reset mid-body, always
    "stall": ("/stall", "page"),  # accepts, never answers
    "soft404": ("/gone", "page"),  # 200 with OCW's "page not found"
    "loop": ("/loop-a", "page"),  # /loop-a -> /loop-b -> /loop-a
    "notpdf": ("/book.pdf", "pdf"),  # a PDF link answering HTML
    "missing": ("/missing", "page"),  # 404
}
BOUND_SECONDS = 30.0


def fault_routes() -> dict[str, list[Behaviour]]:
    """The course's four pages and the eight faults, by path."""
    course = {
        "/course/": page("/course/u1/", "/course/u2/", "/course/u3/", title="Course"),
        "/course/u1/": page("/course/", title="Unit 1"),
        "/course/u2/": page("/course/", title="Unit 2"),
        "/course/u3/": page("/course/", title="Unit 3"),
    }
    routes = {path: [respond(200, HTML, body)] for path, body in course.items()}
    routes |= {
        "/busy": [respond(429, {"retry-after": "1"})],
        "/down": [respond(503, {"content-type": "text/plain"}, b"down")],
        "/reset": [reset_mid_body(100_000, b"<html><head><title>cut", HTML)],
        "/stall": [hang()],
        "/gone": [respond(200, HTML, OCW_404)],
        "/loop-a": [redirect("/loop-b")],
        "/loop-b": [redirect("/loop-a")],
        "/book.pdf": [respond(200, HTML, page(title="Not a PDF"))],
    }
    return routes


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer(fault_routes()) as running:
        yield running


def write_config(folder: Path, server: FaultServer) -> Path:
    lines = ['resources = "resources.toml"', 'database = "data/ocwwatch.db"']
    lines += ['reports_dir = "data/reports"', "", "[http]", "timeout_seconds = 2"]
    lines += ["", "[deep]", "wayback = false"]
    (folder / "ocwwatch.toml").write_text("\n".join(lines) + "\n")
    entries = [("course", server.url("/course/"), "ocw-course")]
    entries += [(rid, server.url(path), kind) for rid, (path, kind) in FAULTS.items()]
    text = "\n".join(
        f'[[resources]]\nid = "{rid}"\nurl = "{url}"\nkind = "{kind}"\n'
        for rid, url, kind in entries
    )
    (folder / "resources.toml").write_text(text)
    return folder / "ocwwatch.toml"


def test_eight_faults_on_one_host_finish_within_the_bound(
    tmp_path: Path, server: FaultServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Eight fault URLs beside a 4-page course on one host: the deep run finishes in < 30 s,
    each fault judged by its own kind, the course's pages all read."""
    config = write_config(tmp_path, server)
    began = time.monotonic()
    code = main(["-q", "check", "--deep", "--config", str(config), "--format", "json"])
    seconds = time.monotonic() - began
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    report = json.loads(out)
    outcomes = {item["id"]: item["outcome"] for item in report["resources"]}
    print(f"eight faults: {seconds:.1f} s, {dict(server.requests)}")
    assert outcomes == {
        "course": outcomes["course"],
        "busy": "unknown",
        "down": "unknown",
        "reset": "unknown",
        "stall": "unknown",
        "soft404": "dead",
        "loop": "dead",
        "notpdf": "dead",
        "missing": "dead",
    }
    assert outcomes["course"] != "unknown"
    assert all(server.requests[f"/course/u{n}/"] >= 1 for n in (1, 2, 3))
    assert report["run"]["offline"] is False
    assert code == 1
    assert seconds < BOUND_SECONDS
