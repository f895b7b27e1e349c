"""Credentials are never published (issue 9): not on stdout or stderr, not in a log line, a report
file, the feed or the database. And nothing of a private list is named to a third party.

Runs the real `ocwwatch check --deep` against a loopback site whose redirects and links carry
user info, and greps everything the run left behind.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.loopback import LoopbackServer

from ocwwatch.cli import main
from ocwwatch.fetch import Recording

SECRET = "s3cret-pass"


def html(*hrefs: str) -> Recording:
    links = "".join(f'<a href="{href}">link</a>' for href in hrefs)
    body = f"<!doctype html><html><head><title>c</title></head><body>{links}</body></html>"
    return Recording(url="", status=200, headers={"content-type": "text/html"}, body=body.encode())


def write_config(folder: Path, url: str, wayback: str) -> Path:
    (folder / "resources.toml").write_text(
        f'[[resources]]\nid = "c"\nurl = "{url}"\nkind = "ocw-course"\n', encoding="utf-8"
    )
    settings = folder / "ocwwatch.toml"
    settings.write_text(
        'resources = "resources.toml"\ndatabase = "data/ocwwatch.db"\n'
        'reports_dir = "data/reports"\n\n[http]\nretries = 0\nper_host_interval_seconds = 0\n'
        f'\n[deep]\nwayback_endpoint = "{wayback}"\n',
        encoding="utf-8",
    )
    return settings


def leaked(folder: Path) -> list[Path]:
    """Every file under `folder` holding the secret, bytes as written (database pages too)."""
    return [p for p in folder.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]


@pytest.fixture
def archive() -> Iterator[LoopbackServer]:
    """archive.org's availability API, standing in on loopback; it must never be asked."""
    with LoopbackServer() as server:
        yield server


def test_user_info_from_redirects_and_links_is_published_nowhere(
    tmp_path: Path,
    archive: LoopbackServer,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A Location and found links with user:password: no output or stored byte holds it."""
    with LoopbackServer() as site:
        base = site.base_url
        secret_base = site.base_url.replace("http://", f"http://user:{SECRET}@")
        site.routes["/start"] = Recording(
            url="", status=302, headers={"location": f"{secret_base}/course/"}, body=b""
        )
        site.routes["/course/"] = html(f"{secret_base}/gone", f"{secret_base}/ok#frag", "/ok")
        site.routes["/ok"] = html()
        settings = write_config(tmp_path, site.url("/start"), archive.url("/wayback/available"))
        caplog.set_level(logging.DEBUG)
        caplog.set_level(logging.DEBUG, logger="ocwwatch.fetch.h1")  # an earlier -q may quiet it
        code = main(["-vv", "check", "--deep", "--config", str(settings), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 1  # moved, and a dead link
    assert f"{base}/course/" in out  # the move is reported, without the user info
    assert f"{base}/gone" in out
    logged = caplog.text  # every log line, through the CLI's handlers' filters
    assert "response 302 headers" in logged  # -vv: the transport's lines quote raw headers
    assert "user:***@" in logged
    assert [
        name for name, text in {"out": out, "err": err, "log": logged}.items() if SECRET in text
    ] == []
    assert leaked(tmp_path) == []
    assert list((tmp_path / "data" / "reports").glob("*.json"))  # the reports were written


def test_a_listed_url_with_credentials_is_refused_and_redacted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Credentials in the list are a configuration error that shows them as `user:***@`."""
    settings = write_config(
        tmp_path, f"http://user:{SECRET}@127.0.0.1:9/", "https://archive.org/wayback/available"
    )
    code = main(["check", "--config", str(settings)])
    out, err = capsys.readouterr()
    assert code == 2
    assert "url: 'http://user:***@127.0.0.1:9/' holds credentials" in err
    assert SECRET not in out + err
    assert leaked(tmp_path) == [p for p in [tmp_path / "resources.toml"]]  # only the list


def test_a_deep_run_over_a_loopback_list_names_nothing_to_the_archive(
    tmp_path: Path, archive: LoopbackServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Dead links on a private list get no Wayback lookup: its URLs never leave the machine."""
    with LoopbackServer() as site:
        site.routes["/course/"] = html("/gone", "/also-gone.pdf")
        settings = write_config(tmp_path, site.url("/course/"), archive.url("/wayback/available"))
        code = main(["-q", "check", "--deep", "--config", str(settings), "--format", "json"])
    capsys.readouterr()
    assert code == 1
    assert sum(archive.requests.values()) == 0


TOKEN = "TOK123-secret"
SIGNATURE = "deadbeefSIG"


def test_credential_query_values_are_published_nowhere_but_stored_as_given(
    tmp_path: Path,
    archive: LoopbackServer,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A redirect to a presigned URL: its signature and token are `***` in every report format,
    the GitHub annotations and job summary, stdout, stderr and the log; the database keeps the
    URL as the server gave it (it is the link's identity, and the fix to write)."""
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    signed = f"/file?X-Amz-Signature={SIGNATURE}&access_token={TOKEN}&v=2"
    with LoopbackServer() as site:
        site.routes["/start"] = Recording(
            url="", status=302, headers={"location": signed}, body=b""
        )
        site.routes[signed] = html()  # routes are keyed by path and query
        base = site.base_url
        settings = write_config(tmp_path, site.url("/start"), archive.url("/wayback/available"))
        caplog.set_level(logging.DEBUG)
        caplog.set_level(logging.DEBUG, logger="httpcore")
        code = main(["-vv", "check", "--config", str(settings), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 1  # moved
    assert f"{base}/file?X-Amz-Signature=***&access_token=***&v=2" in out
    reports = sorted((tmp_path / "data" / "reports").glob("run-1.*"))
    assert [p.suffix for p in reports] == [".html", ".json", ".md", ".sarif"]
    published = {p.name: p.read_text(encoding="utf-8") for p in [*reports, summary]}
    published |= {"out": out, "err": err, "log": caplog.text}
    assert [name for name, text in published.items() if TOKEN in text or SIGNATURE in text] == []
    assert "access_token=***" in published["summary.md"]
    with sqlite3.connect(tmp_path / "data" / "ocwwatch.db") as db:
        (final_url,) = db.execute("SELECT final_url FROM observations").fetchone()
    assert final_url == base + signed
