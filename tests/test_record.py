"""`ocwwatch record`: a loopback site recorded hop by hop replays into the same report.

The recording is made with the real Fetcher against 127.0.0.1, then `check --replay` with the
site stopped must say exactly what a live `check` said.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support.loopback import LoopbackServer
from test_daemon import PAGE, pdf_bytes

from ocwwatch.cli import main
from ocwwatch.fetch import FetchPolicy, Recording, load_scenario
from ocwwatch.record import record_scenario

HTML = {"content-type": "text/html; charset=utf-8", "etag": '"page-1"'}
VOLATILE = {"started_at", "finished_at", "observed_at", "fetched_at", "first_failed_at"}


@pytest.fixture
def site() -> Iterator[LoopbackServer]:
    """/start -301-> /middle -301-> /page, and /ans/book.pdf -301-> /book.pdf."""
    routes = {
        "/start": Recording(url="", status=301, headers={"location": "/middle"}),
        "/middle": Recording(url="", status=301, headers={"location": "/page"}),
        "/page": Recording(url="", status=200, headers=HTML, body=PAGE),
        "/ans/book.pdf": Recording(url="", status=301, headers={"location": "/book.pdf"}),
        "/book.pdf": Recording(
            url="",
            status=200,
            headers={"content-type": "application/pdf", "set-cookie": "session=secret"},
            body=pdf_bytes(),
        ),
    }
    with LoopbackServer(routes) as server:
        yield server


def write_config(folder: Path, site: LoopbackServer) -> Path:
    folder.mkdir()
    (folder / "resources.toml").write_text(
        f'[[resources]]\nid = "page"\nurl = "{site.url("/start")}"\nkind = "page"\n\n'
        f'[[resources]]\nid = "book"\nurl = "{site.url("/ans/book.pdf")}"\nkind = "pdf"\n'
    )
    settings = folder / "ocwwatch.toml"
    settings.write_text(
        'resources = "resources.toml"\nreports_dir = "reports"\n'
        "[http]\nper_host_interval_seconds = 0\nretries = 0\n"
    )
    return settings


def without_times(value: Any) -> Any:
    """A JSON value without the timestamps that differ between any two runs."""
    if isinstance(value, dict):
        return {k: without_times(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [without_times(item) for item in value]
    return value


def stable(report: Any) -> Any:
    """A JSON report without what differs between any two runs: the run id and the times."""
    report = without_times(report)
    del report["run"]["id"]
    return report


def check_json(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> Any:
    code = main(["-q", "check", *map(str, argv), "--format", "json"])
    out = capsys.readouterr().out
    assert code == 1, out  # both resources moved
    return json.loads(out)


def test_replay_of_a_recording_gives_the_live_report(
    tmp_path: Path, site: LoopbackServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """`record` then `check --replay` reports exactly what a live check reported."""
    config = write_config(tmp_path / "config", site)
    live = check_json(capsys, "--config", config, "--db", tmp_path / "live.db")
    urls = [site.url("/start"), site.url("/ans/book.pdf")]
    assert main(["-q", "record", *urls, "--out", str(tmp_path / "recorded")]) == 0
    assert "wrote" in capsys.readouterr().out
    site.stop()
    replayed = check_json(
        capsys,
        "--config",
        config,
        "--db",
        tmp_path / "replay.db",
        "--replay",
        tmp_path / "recorded",
    )
    assert replayed["run"].pop("replay") == "recorded"  # the one difference: it says so
    assert live["run"].pop("replay") is None
    assert stable(replayed) == stable(live)
    assert [item["outcome"] for item in live["resources"]] == ["moved", "moved"]


def test_recording_holds_every_hop_and_final_response(tmp_path: Path, site: LoopbackServer) -> None:
    """Each redirect hop and each final response is recorded once, bodies as files."""
    now = datetime(2025, 3, 4, 5, 6, tzinfo=UTC)
    urls = [site.url("/start"), site.url("/ans/book.pdf"), site.url("/middle")]
    policy = FetchPolicy(per_host_interval_seconds=0, retries=0)
    recorded = record_scenario(urls, tmp_path / "rec", now=now, policy=policy)
    scenario = load_scenario(tmp_path / "rec")
    assert [(r.url, r.status) for r in scenario.recordings] == [
        (site.url("/start"), 301),
        (site.url("/middle"), 301),
        (site.url("/page"), 200),
        (site.url("/ans/book.pdf"), 301),
        (site.url("/book.pdf"), 200),
    ]
    assert recorded.responses == 5
    assert recorded.unanswered == ()
    by_url = {r.url: r for r in scenario.recordings}
    assert by_url[site.url("/start")].headers["location"] == site.url("/middle")
    assert by_url[site.url("/page")].body == PAGE
    assert by_url[site.url("/page")].headers["etag"] == '"page-1"'
    assert "set-cookie" not in by_url[site.url("/book.pdf")].headers
    assert {r.source for r in scenario.recordings} == {"recorded by ocwwatch record on 2025-03-04"}


def test_recording_says_it_is_not_synthetic(tmp_path: Path, site: LoopbackServer) -> None:
    """Every entry on disk states `synthetic: false` and keeps bodies as separate files."""
    now = datetime(2025, 3, 4, tzinfo=UTC)
    record_scenario([site.url("/start")], tmp_path / "rec", now=now)
    document = json.loads((tmp_path / "rec" / "scenario.json").read_text())
    assert document["name"] == "rec"
    assert [entry["synthetic"] for entry in document["responses"]] == [False, False, False]
    body = document["responses"][-1]["body"]
    assert (tmp_path / "rec" / body).read_bytes() == PAGE


def test_url_without_redirect_is_recorded(tmp_path: Path, site: LoopbackServer) -> None:
    """A URL answering 200 at once gives one recording with its headers and body."""
    record_scenario([site.url("/page")], tmp_path / "rec", now=datetime(2025, 3, 4, tzinfo=UTC))
    (only,) = load_scenario(tmp_path / "rec").recordings
    assert (only.url, only.status, only.body) == (site.url("/page"), 200, PAGE)
    assert only.headers["content-type"] == HTML["content-type"]


def test_unanswered_url_is_reported_and_exit_is_4_when_nothing_answered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A URL nobody answers is named; with no answer at all the exit code is offline (4)."""
    with LoopbackServer() as gone:
        url = gone.url("/x")
    code = main(["-q", "record", url, "--out", str(tmp_path / "rec")])
    assert code == 4
    assert f"no final answer recorded for {url}" in capsys.readouterr().out


def test_recording_into_an_existing_scenario_exits_2(
    tmp_path: Path, site: LoopbackServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """An existing scenario folder is never overwritten."""
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / "scenario.json").write_text("{}")
    assert main(["-q", "record", site.url("/page"), "--out", str(tmp_path / "rec")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "rec" / "scenario.json").read_text() == "{}"


def test_a_url_with_credentials_is_refused_and_nothing_is_recorded(
    tmp_path: Path, site: LoopbackServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """User info on the command line is refused as the list refuses it: exit 2, the error
    shows it as `user:***@`, and no scenario (which would keep the URL) is written."""
    url = site.url("/page").replace("http://", "http://alice:S3CRET@")
    code = main(["-q", "record", url, "--out", str(tmp_path / "rec")])
    err = capsys.readouterr().err
    assert code == 2
    assert "'http://alice:***@127.0.0.1" in err
    assert "holds credentials" in err
    assert "S3CRET" not in err
    assert not (tmp_path / "rec").exists()
    assert sum(site.requests.values()) == 0
