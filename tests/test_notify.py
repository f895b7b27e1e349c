"""Told once (issue 13): a notification and a feed entry when a run finds something new or sees
something recover, never again for a finding that was already reported."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from support.faultserver import FaultServer, respond

from ocwwatch.cli import main
from ocwwatch.judge import News, news_since
from ocwwatch.models import (
    LinkCheck,
    LinkState,
    Metadata,
    Observation,
    Outcome,
    PageKind,
    Report,
    Run,
)
from ocwwatch.pipeline.run import describe_news

HTML = {"content-type": "text/html; charset=utf-8"}
PAGE = b"<!doctype html><html><head><title>A page</title></head><body>hi</body></html>"
GONE = b"<!doctype html><html><head><title>Not here</title></head><body>404</body></html>"
AT = datetime(2026, 12, 5, 6, 0, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"


class Inbox(ThreadingHTTPServer):
    """What Apprise's `json://` target posts, on 127.0.0.1."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Receive)
        self.received: list[dict[str, Any]] = []


class _Receive(BaseHTTPRequestHandler):
    server: Inbox

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        self.server.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    server = Inbox()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def write_config(folder: Path, server: FaultServer, inbox: Inbox) -> Path:
    port = inbox.server_address[1]
    (folder / "ocwwatch.toml").write_text(
        'resources = "resources.toml"\ndatabase = "data/ocwwatch.db"\n'
        'reports_dir = "data/reports"\n\n[http]\nretries = 0\nper_host_interval_seconds = 0\n\n'
        f'[notify]\nurls = ["json://127.0.0.1:{port}/"]\n',
        encoding="utf-8",
    )
    (folder / "resources.toml").write_text(
        f'[[resources]]\nid = "kept"\nurl = "{server.url("/kept")}"\nkind = "page"\n\n'
        f'[[resources]]\nid = "flaky"\nurl = "{server.url("/flaky")}"\nkind = "page"\n',
        encoding="utf-8",
    )
    return folder / "ocwwatch.toml"


def test_a_finding_is_told_once_and_its_recovery_once(
    tmp_path: Path, inbox: Inbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """First run with a dead page: one notification. The same again: none. The page back:
    one, saying it recovered. The feed has the same two runs, with ids of this installation."""
    with FaultServer({"/kept": [respond(200, HTML, PAGE)]}) as server:
        server.routes["/flaky"] = [respond(404, HTML, GONE)]
        config = write_config(tmp_path, server, inbox)
        assert main(["-q", "check", "--config", str(config)]) == 1
        assert len(inbox.received) == 1
        first = inbox.received[0]
        assert first["title"] == "ocwwatch run 1: 1 new"
        assert "- flaky: dead" in first["message"]
        assert main(["-q", "check", "--config", str(config)]) == 1
        assert len(inbox.received) == 1  # still dead: already told
        server.routes["/flaky"] = [respond(200, HTML, PAGE)]
        assert main(["-q", "check", "--config", str(config)]) == 0
    capsys.readouterr()
    assert len(inbox.received) == 2
    assert inbox.received[1]["title"] == "ocwwatch run 3: 1 recovered"
    assert "Recovered:\n- flaky: dead" in inbox.received[1]["message"]
    feed = ElementTree.parse(tmp_path / "data" / "reports" / "feed.xml").getroot()
    ids = [entry.findtext(f"{ATOM}id") or "" for entry in feed.iter(f"{ATOM}entry")]
    assert [i.rsplit("/", 1)[1] for i in ids] == ["3", "1"]  # run 2 told nothing new
    assert len({i.split(":ocwwatch/")[1].split("/")[0] for i in ids}) == 1  # one installation


def test_a_notification_url_apprise_does_not_know_is_a_config_error(
    tmp_path: Path, inbox: Inbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """Named by position and scheme; the URL itself (it holds a token) is not printed."""
    with FaultServer({"/kept": [respond(200, HTML, PAGE)]}) as server:
        config = write_config(tmp_path, server, inbox)
        text = config.read_text().replace("json://", "nosuchservice://s3cret-token@")
        config.write_text(text)
        assert main(["-q", "check", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "[notify] urls[0]: not a notification URL Apprise knows (scheme 'nosuchservice')" in err
    assert "s3cret" not in err


def observation(resource_id: str, outcome: Outcome) -> Observation:
    return Observation(
        id=resource_id,
        url=f"https://example.org/{resource_id}",
        outcome=outcome,
        metadata=Metadata(page_kind=PageKind.HTML),
        observed_at=AT,
    )


def report(*items: Observation, links: tuple[LinkCheck, ...] = ()) -> Report:
    return Report(run=Run(id=1, started_at=AT), resources=items, links=links)


def test_an_unjudged_finding_is_neither_recovered_nor_news_when_it_returns() -> None:
    dead = news_since(report(observation("a", Outcome.DEAD)), {})
    assert list(dead.new) == ["resource:a:dead"]
    unknown = news_since(report(observation("a", Outcome.UNKNOWN)), dead.standing)
    assert not unknown.any
    assert unknown.standing == dead.standing
    again = news_since(report(observation("a", Outcome.DEAD)), unknown.standing)
    assert not again.any


def test_a_dead_link_stands_through_a_plain_run_and_a_removed_entry_is_dropped() -> None:
    link = LinkCheck(url="https://example.org/x", state=LinkState.DEAD)
    deep = news_since(report(observation("a", Outcome.DEAD), links=(link,)), {})
    assert set(deep.new) == {"resource:a:dead", "link:https://example.org/x:dead"}
    plain = news_since(report(observation("b", Outcome.OK)), deep.standing)
    assert plain.recovered == {}  # the link was not checked; `a` left the list
    assert set(plain.standing) == {"link:https://example.org/x:dead"}
    fixed = news_since(
        report(links=(link.model_copy(update={"state": LinkState.OK}),)), plain.standing
    )
    assert list(fixed.recovered) == ["link:https://example.org/x:dead"]


def test_a_notification_line_from_a_server_is_inert() -> None:
    """A fix URL or name a server supplied cannot add lines or terminal escapes to a message."""
    hostile = "a: dead; fix: https://example.org/\x1b[31mred\n- forged: recovered"
    news = News(standing={}, new={"resource:a:dead": hostile}, recovered={})
    title, body = describe_news(Run(id=4, started_at=AT), news, None)
    assert title == "ocwwatch run 4: 1 new"
    assert body.splitlines() == [
        "New:",
        "- a: dead; fix: https://example.org/red - forged: recovered",
    ]


def test_a_notification_names_no_credential_of_a_fix_url() -> None:
    """A fix URL's token or signature (a presigned URL a server redirected to) is told as
    `***`; the rest of the URL stays, to find the link by."""
    line = "a: moved; fix: https://b.example/f?X-Amz-Signature=SIG&access_token=TOK&v=2"
    news = News(standing={}, new={"resource:a:moved": line}, recovered={})
    _title, body = describe_news(Run(id=4, started_at=AT), news, None)
    assert body.splitlines()[1] == (
        "- a: moved; fix: https://b.example/f?X-Amz-Signature=***&access_token=***&v=2"
    )
