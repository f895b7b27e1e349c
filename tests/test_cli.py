"""The command line end to end, on recorded scenarios: exit codes, reports, accept, bad input."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support.cli import OCW, RENAMED, REPO, TODAY, by_id, check_json, live_site, run

from ocwwatch import cli, tls
from ocwwatch.cli import InertLogFilter, build_parser, main
from ocwwatch.config import HttpSettings, load_config
from ocwwatch.fetch.guard import AddressGuard
from ocwwatch.store import Store
from ocwwatch.store.base import work_path
from ocwwatch.urls import parse_url


def replay_db(config: Path) -> Path:
    """Where `check --replay` keeps its runs: apart from the live database (issue 16)."""
    return config.parent.parent / "data" / "replay" / "ocwwatch.db"


def test_today_scenario_reports_every_move_and_the_pdf(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    """The 2020 list against OCW today: four moves, the 2005 textbook replaced by the 2023
    course (another term), the PDF dead with its new URL, exit 1."""
    code, report = check_json(capsys, config, TODAY)
    assert code == 1
    resources = by_id(report)
    outcomes = {key: item["outcome"] for key, item in resources.items()}
    assert outcomes == {
        "18.01sc": "moved",
        "18.02sc": "moved",
        "18.03sc": "moved",
        "strang-calculus": "replaced",
        "strang-calculus-pdf": "dead",
        "highlights": "moved",
        "calculus-made-easy": "ok",
    }
    assert "term 'Spring 2005' -> 'Fall 2023'" in resources["strang-calculus"]["error"]
    course = resources["18.01sc"]["metadata"]  # what was extracted travels in the report
    assert course["page_kind"] == "ocw-course"
    assert [entry["title"] for entry in course["nav"]][:2] == course["units"][:2]
    assert resources["18.01sc"]["suggestion"]["url"] == (
        OCW + "18-01sc-single-variable-calculus-fall-2010/"
    )
    assert (
        resources["strang-calculus"]["suggestion"]["url"] == OCW + "res-18-001-calculus-fall-2023/"
    )
    assert resources["highlights"]["redirects"] == [
        {
            "url": "https://ocw.mit.edu/resources/res-18-005-highlights-of-calculus-spring-2010/",
            "status": 301,
        }
    ]
    pdf = resources["strang-calculus-pdf"]
    assert pdf["http_status"] == 200
    assert pdf["metadata"]["content_type"] == "text/html"
    assert pdf["suggestion"]["url"] == (
        OCW + "res-18-001-calculus-fall-2023/mitres_18_001_f17_full_book.pdf"
    )
    assert report["run"]["counts"] == {
        "resources": 7,
        "links": 3,
        "dead": 1,
        "moved": 4,
        "changed": 0,
        "replaced": 1,
    }


def test_today_scenario_reports_metadata_and_broken_promises(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    """Each course's metadata is as its page shows it; the Java applets promise is broken."""
    _, report = check_json(capsys, config, TODAY)
    course = by_id(report)["18.03sc"]
    metadata = course["metadata"]
    assert (metadata["title"], metadata["course_number"], metadata["term"]) == (
        "Differential Equations",
        "18.03SC",
        "Fall 2011",
    )
    assert metadata["units"][0] == "Syllabus"
    assert "Simulations" in metadata["resource_types"]
    broken = [p["text"] for p in course["promises"] if not p["holds"]]
    assert broken == ['Interactive Java applets ("Mathlets") to reinforce key concepts']
    assert {
        "field": "promises",
        "kind": "removed",
        "before": broken[0],
        "after": None,
        "against": "baseline",
    } in course["changes"]
    chapters = by_id(report)["strang-calculus"]["promises"]
    assert [(p["text"], p["holds"]) for p in chapters] == [
        ("The 16 chapters of the textbook", True)
    ]


def test_accept_then_check_is_clean_and_keeps_comments(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    """After `baseline accept` the same site answers a clean check (exit 0), and the list's
    comments survive."""
    resources = config.parent / "resources.toml"
    comments = [line for line in resources.read_text().splitlines() if line.startswith("#")]
    with live_site(config):
        assert run(capsys, "check", "--config", config)[0] == 1
        code, out, _ = run(capsys, "baseline", "accept", "--replaced", "--config", config)
        assert code == 0
        assert "strang-calculus-pdf: url" in out
        code, out, _ = run(capsys, "check", "--config", config)
    assert code == 0, out
    assert "all fine" in out
    after = [line for line in resources.read_text().splitlines() if line.startswith("#")]
    assert after == comments


def test_a_replay_run_is_kept_apart_from_live_runs(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    """`check --replay` stores and publishes under replay/ (issue 16): its reports say so, the
    live database, index and feed stay untouched, and `baseline accept` refuses the run even
    when pointed at the replay database; the list is not rewritten."""
    data = config.parent.parent / "data"
    resources = config.parent / "resources.toml"
    before = resources.read_text()
    code, out, _ = run(capsys, "check", "--config", config, "--replay", TODAY)
    assert code == 1
    assert "**Replay** of the recorded scenario `ocw-today`: nothing was fetched live" in out
    assert not (data / "ocwwatch.db").exists()
    assert not (data / "reports" / "index.html").exists()
    replays = data / "reports" / "replay"
    assert "recorded scenario <code>ocw-today</code>" in (replays / "run-1.html").read_text()
    assert "replay runs" in (replays / "index.html").read_text()
    assert not (replays / "feed.xml").exists()
    code, _, err = run(capsys, "baseline", "accept", "--config", config)
    assert code == 2
    assert "no complete run to accept" in err
    replay_db = data / "replay" / "ocwwatch.db"
    code, _, err = run(capsys, "baseline", "accept", "--config", config, "--db", replay_db)
    assert code == 2
    assert "run 1 replayed the recorded scenario 'ocw-today'" in err
    assert resources.read_text() == before
    code, out, _ = run(capsys, "report", "--config", config, "--db", replay_db)
    assert code == 0
    assert out.startswith("# ocwwatch report: run 1")


def test_accept_without_a_config_never_edits_the_packaged_list(tmp_path: Path) -> None:
    """In a folder without config/, `baseline accept` refuses the list shipped inside the
    package with one line that says to run `ocwwatch init`; exit 2, nothing written."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "ocwwatch", "baseline", "accept"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    assert "the list shipped inside ocwwatch" in line
    assert "run `ocwwatch init`" in line
    assert list(tmp_path.iterdir()) == []


COLLECTOR_PROBE = """
import gc, sys
from ocwwatch import cli
cli.hold_collector()
held = gc.isenabled()
code = cli.main(["init", sys.argv[1]])
print(code, held, gc.isenabled(), gc.get_freeze_count() > 0, gc.get_threshold()[0])
"""


def test_the_console_script_collects_less_often_once_its_imports_are_done(tmp_path: Path) -> None:
    """`entry` holds the collector while a command's modules are imported, then freezes what
    they made and collects at GC_THRESHOLD; `main` called alone changes none of it."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-c", COLLECTOR_PROBE, str(tmp_path / "site")]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=True)
    code, held, enabled, frozen, threshold = done.stdout.splitlines()[-1].split()
    assert (code, held, enabled, frozen) == ("0", "False", "True", "True")
    assert threshold == str(cli.GC_THRESHOLD)
    before = (gc.get_threshold(), gc.get_freeze_count(), gc.isenabled())
    assert main(["init", str(tmp_path / "again")]) == 0
    assert (gc.get_threshold(), gc.get_freeze_count(), gc.isenabled()) == before


def test_second_run_is_answered_by_304s(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    """A second run sends conditional requests; unchanged pages answer 304 and nothing changes."""
    check_json(capsys, config, TODAY)
    code, report = check_json(capsys, config, TODAY)
    assert code == 1  # the list still names the old URLs
    statuses = {item["id"]: item["http_status"] for item in report["resources"]}
    assert statuses["18.01sc"] == 304
    pdf = by_id(report)["strang-calculus-pdf"]  # its landing page answered 304 too
    assert (pdf["http_status"], pdf["outcome"]) == (304, "dead")
    assert pdf["suggestion"]["url"].endswith("mitres_18_001_f17_full_book.pdf")
    assert statuses["calculus-made-easy"] == 304
    assert all(c["against"] == "baseline" for item in report["resources"] for c in item["changes"])


def write_course_baseline(config: Path, units: list[str], types: list[str]) -> None:
    (config.parent / "resources.toml").write_text(
        "# one course, with the units and types it had when accepted\n"
        "[[resources]]\n"
        'id = "18.03sc"\n'
        f'url = "{OCW}18-03sc-differential-equations-fall-2011/"\n'
        'kind = "ocw-course"\n\n'
        "[resources.expected]\n"
        f"units = {json.dumps(units)}\n"
        f"resource_types = {json.dumps(types)}\n"
    )


def test_renamed_unit_and_dropped_type_are_exactly_the_changes(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    """A course that renamed a unit and dropped a type reports exactly that, both ways."""
    write_course_baseline(config, [], [])
    _, first = check_json(capsys, config, TODAY)
    metadata = by_id(first)["18.03sc"]["metadata"]
    write_course_baseline(config, metadata["units"], metadata["resource_types"])
    code, _ = check_json(capsys, config, TODAY)
    assert code == 0
    code, report = check_json(capsys, config, RENAMED)
    assert code == 1
    course = by_id(report)["18.03sc"]
    assert course["outcome"] == "changed"
    got = {
        (c["field"], c["kind"], c["before"], c["after"], c["against"]) for c in course["changes"]
    }
    expected = set()
    for against in ("baseline", "previous"):
        expected |= {
            ("units", "removed", "Unit III: Fourier Series and Laplace Transform", None, against),
            ("units", "added", None, "Unit III: Fourier Series and the Laplace Transform", against),
            ("resource_types", "removed", "Simulations", None, against),
        }
    assert got == expected


def test_no_host_answering_is_offline_exit_4(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    """When nothing answers the run is offline: exit 4, nothing judged dead."""
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "scenario.json").write_text('{"name": "unplugged", "responses": []}')
    code, out, _ = run(capsys, "check", "--config", config, "--replay", empty, "--format", "json")
    assert code == 4
    report = json.loads(out)
    assert report["run"]["offline"] is True
    assert {item["outcome"] for item in report["resources"]} == {"unknown"}


def test_report_command_reproduces_the_stored_report(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    """`ocwwatch report 1` prints run 1's report byte for byte as written at the time."""
    run(capsys, "check", "--config", config, "--replay", TODAY)
    written = (config.parent.parent / "data" / "reports" / "replay" / "run-1.md").read_text()
    code, out, _ = run(capsys, "report", "1", "--config", config, "--db", replay_db(config))
    assert code == 0
    assert out == written
    assert (config.parent.parent / "data" / "reports" / "replay" / "latest.html").is_file()


def test_history_shows_the_timeline(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    """`ocwwatch history ID` lists one line per run for that resource."""
    run(capsys, "check", "--config", config, "--replay", TODAY)
    run(capsys, "check", "--config", config, "--replay", TODAY)
    code, out, _ = run(
        capsys, "history", "strang-calculus-pdf", "--config", config, "--db", replay_db(config)
    )
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 2
    assert all("dead" in line for line in lines)
    assert lines[0].endswith("changed: content_type, size_bytes")  # what changed, by name


BAD_CONFIGS = [
    ("ocwwatch.toml", "colour = 1\n", "colour: unknown key"),
    ("ocwwatch.toml", "[http]\nper_host_concurrency = -1\n", "http.per_host_concurrency"),
    ("ocwwatch.toml", '[schedule]\ncron = "daily"\n', "schedule.cron"),
    ("ocwwatch.toml", '[schedule]\ntimezone = "Nowhere/City"\n', "schedule.timezone"),
    ("ocwwatch.toml", 'database = "x.db"\nresources = "m.toml"\n', "not valid TOML"),
    ("ocwwatch.toml", "lock_timeout_seconds = -1\n", "lock_timeout_seconds"),
    ("ocwwatch.toml", "[deep\n", "not valid TOML"),
    ("resources.toml", '[[resources]]\nid = "a"\nkind = "page"\n', "url: Field required"),
    ("resources.toml", '[[resources]]\nurl = "https://x.org/"\nkind = "page"\n', "id: Field"),
    ("resources.toml", '[[resources]]\nid = "a"\nurl = "gopher://x/"\nkind = "page"\n', "url:"),
    ("resources.toml", '[[resources]]\nid = "a"\nurl = "https://x.org/"\nkind = "book"\n', "kind"),
    (
        "resources.toml",
        '[[resources]]\nid = "a"\nurl = "https://x.org/"\nkind = "page"\n' * 2,
        "used twice",
    ),
    ("resources.toml", "\x00\x01", "not valid TOML"),
]


@pytest.mark.parametrize(("name", "text", "named"), BAD_CONFIGS)
def test_bad_config_exits_2_naming_the_problem_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], config: Path, name: str, text: str, named: str
) -> None:
    """A broken settings file or list exits 2 with a short message and no database."""
    path = config.parent / name
    settings = 'resources = "resources.toml"\n'
    path.write_text(text if name == "resources.toml" else settings + text)
    code, out, err = run(capsys, "check", "--config", config, "--replay", TODAY)
    assert code == 2
    assert out == ""
    assert named in err
    assert "Traceback" not in err
    assert not (config.parent.parent / "data").exists()


def test_unreadable_config_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A settings path that does not exist is named in the message."""
    code, _, err = run(capsys, "check", "--config", tmp_path / "nope.toml")
    assert code == 2
    assert "nope.toml: file not found" in err


def test_deep_checks_the_links_inside_the_course_sites(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    """--deep reports every link found on the crawled pages; unrecorded ones are not dead."""
    code, out, _ = run(
        capsys, "check", "--config", config, "--replay", TODAY, "--deep", "--format", "json"
    )
    assert code == 1
    links = json.loads(out)["links"]
    assert len(links) > 100
    by_url = {link["url"]: link for link in links}
    home = by_url[OCW + "18-03sc-differential-equations-fall-2011/"]
    assert home["state"] == "ok"
    unrecorded = [link for link in links if link["state"] == "unknown"]
    assert unrecorded
    assert all(link["failed_runs"] == 1 for link in unrecorded)
    assert not [link for link in links if link["state"] in {"dead", "soft404"}]


def test_a_deep_run_leaves_no_crawl_working_rows(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    """Once `check --deep` completes, crawl_frontier and crawl_sources are empty (issue 16);
    the run's links stay, and `report 1` prints what the check printed."""
    code, out, _ = run(
        capsys, "check", "--config", config, "--replay", TODAY, "--deep", "--format", "json"
    )
    assert code == 1
    database = replay_db(config)
    with sqlite3.connect(work_path(database)) as db:
        for table in ("crawl_frontier", "crawl_sources"):
            assert db.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM link_checks").fetchone()[0] > 100
    shown = run(capsys, "report", "1", "--config", config, "--db", database, "--format", "json")
    assert shown[:2] == (0, out)


def test_every_command_has_help() -> None:
    """Each command and sub-command explains itself in --help."""
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name, sub in action.choices.items():
        assert sub.description, name
        assert sub.format_help().strip(), name


def test_installed_entry_point_runs_the_readme_command(tmp_path: Path) -> None:
    """`ocwwatch check --replay …` from a folder without config/ uses the packaged list."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "ocwwatch", "check", "--replay", str(TODAY)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "## Dead (1)" in done.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["data"]
    with sqlite3.connect(tmp_path / "data" / "replay" / "ocwwatch.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(*) FROM runs WHERE status = 'complete'").fetchone() == (1,)


class ExitNowError(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def test_the_entry_point_flushes_and_ends_without_teardown(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alone, the console script hands `main`'s code to `os._exit`, after flushing what is
    still buffered; with another thread alive it exits the usual way, teardown and all."""
    flushed: list[str] = []

    class Buffered:
        def __init__(self) -> None:
            self.text = ""

        def write(self, text: str) -> int:
            self.text += text
            return len(text)

        def flush(self) -> None:
            flushed.append(self.text)

        def fileno(self) -> int:
            raise OSError("not a file")

    def exit_now(code: int) -> None:
        raise ExitNowError(code)

    monkeypatch.setattr(cli, "main", lambda: print("done", end="") or 2)
    monkeypatch.setattr("os._exit", exit_now)
    monkeypatch.setattr("sys.stdout", Buffered())
    with pytest.raises(ExitNowError) as alone:
        cli.entry()
    assert alone.value.code == 2
    assert flushed[0] == "done"  # flushed before the exit, not lost with the buffer

    monkeypatch.setattr("threading.active_count", lambda: 2)
    with pytest.raises(SystemExit) as shared:
        cli.entry()
    assert shared.value.code == 2


def test_a_check_that_fails_before_asking_waits_for_its_ca_bundle_then_exits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A live check starts reading the CA bundle and may fail before it takes it (the
    database busy, a newer schema): the console script waits for that read to end, then exits
    as usual. Exiting under it crashed in OpenSSL's exit handlers (SIGSEGV, exit 139)."""

    def slow_build() -> object:
        time.sleep(0.2)
        return object()

    def exit_now(code: int) -> None:
        raise ExitNowError(code)

    def fails_early() -> int:
        tls.prepare()
        return 2

    monkeypatch.setattr(tls, "_prepared", [])
    monkeypatch.setattr(tls, "build", slow_build)
    monkeypatch.setattr(cli, "main", fails_early)
    monkeypatch.setattr("os._exit", exit_now)
    with pytest.raises(ExitNowError) as ended:
        cli.entry()
    assert ended.value.code == 2
    assert [t.name for t in threading.enumerate() if t.name == "ocwwatch-tls"] == []


def test_a_bug_in_one_resource_is_exit_3_and_the_run_goes_on(
    capsys: pytest.CaptureFixture[str], config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An extractor crash on one page marks that resource `error`, finishes the run, exits 3."""
    from ocwwatch.extract import extract_page as real

    def flaky(body: bytes, url: str, content_type: str | None) -> Any:
        if "gutenberg" in url:
            raise RuntimeError("boom")
        return real(body, url, content_type)

    monkeypatch.setattr("ocwwatch.pipeline.check.extract_page", flaky)
    (config.parent / "resources.toml").write_text(
        '[[resources]]\nid = "cme"\nurl = "https://www.gutenberg.org/ebooks/33283"\nkind = "page"\n'
    )
    code, out, _ = run(capsys, "check", "--config", config, "--replay", TODAY, "--format", "json")
    assert code == 3
    (item,) = json.loads(out)["resources"]
    assert item["outcome"] == "error"
    assert "RuntimeError: boom" in item["error"]


def test_report_of_an_unfinished_run_is_refused(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    """A run that never completed (killed, failed) is not printed as if it were a report."""
    run(capsys, "check", "--config", config, "--replay", TODAY)
    with Store.open(replay_db(config)) as store:
        unfinished = store.start_run(datetime(2026, 11, 25, tzinfo=UTC))
    code, out, err = run(
        capsys, "report", str(unfinished), "--config", config, "--db", replay_db(config)
    )
    assert (code, out) == (2, "")
    assert f"run {unfinished} did not complete" in err


def test_publishing_restores_missing_report_files(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    """A complete run's lost report file is rewritten from the database; stray temps go."""
    reports = config.parent.parent / "data" / "reports" / "replay"
    run(capsys, "check", "--config", config, "--replay", TODAY)
    written = (reports / "run-1.md").read_text()
    (reports / "run-1.md").unlink()
    (reports / ".latest.md.tmp").write_text("half a report")
    run(capsys, "check", "--config", config, "--replay", TODAY)
    assert (reports / "run-1.md").read_text() == written
    assert not (reports / ".latest.md.tmp").exists()


def test_log_lines_carry_no_terminal_escapes() -> None:
    """A page title with escape sequences reaches the log without them."""
    record = logging.LogRecord(
        "ocwwatch", logging.INFO, __file__, 1, "title %s", ("\x1b[2Jx",), None
    )
    assert InertLogFilter().filter(record)
    assert record.getMessage() == "title [2Jx"


def test_a_logged_traceback_is_inert_and_keeps_no_secret_and_no_line_is_forged() -> None:
    """The traceback the formatter appends goes through the same filter as the message; a line
    break in a message cannot start a record of its own."""
    try:
        raise ValueError(
            "fetch http://user:hunter2@h/?access_token=SECRET123 \x1b[2J\u202e"
            "\nocwwatch: ERROR: forged by the exception"
        )
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "ocwwatch",
        logging.ERROR,
        __file__,
        1,
        "title %s",
        ("a\nocwwatch: ERROR: forged",),
        exc_info,
    )
    assert InertLogFilter().filter(record)
    shown = logging.Formatter("ocwwatch: %(levelname)s: %(message)s").format(record)
    assert "Traceback" in shown
    assert "ValueError: fetch http://user:***@h/?access_token=***" in shown
    for hidden in ("hunter2", "SECRET123", "\x1b", "\u202e"):
        assert hidden not in shown
    assert [line for line in shown.splitlines() if line.startswith("ocwwatch:")] == [
        "ocwwatch: ERROR: title a"
    ]


def test_private_addresses_are_trusted_only_at_the_lists_own_origins(tmp_path: Path) -> None:
    """Only the origins the list names (and the settings' Wayback endpoint) may be private."""
    shutil.copytree(REPO / "config", tmp_path / "config")
    settings = tmp_path / "config" / "ocwwatch.toml"
    resources = tmp_path / "config" / "resources.toml"
    resources.write_text(
        resources.read_text().replace("https://www.gutenberg.org", "http://127.0.0.1:9")
    )
    config = load_config(settings, cwd=tmp_path)
    http = HttpSettings(allowed_private_hosts=("http://10.0.0.5:8080",))
    config = config.model_copy(
        update={"settings": config.settings.model_copy(update={"http": http})}
    )
    guard = AddressGuard(config.trusted_origins(), resolver=None)
    assert guard.is_allowed(parse_url("http://127.0.0.1:9/"))
    assert guard.is_allowed(parse_url("http://10.0.0.5:8080/"))
    assert not guard.is_allowed(parse_url("http://127.0.0.1:10/"))
    assert not guard.is_allowed(parse_url("http://10.0.0.5/"))
    assert not guard.is_allowed(parse_url("https://10.0.0.5:8080/"))  # another origin


def test_a_plain_accept_never_takes_a_replaced_course(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    """`baseline accept` leaves an entry that now leads to another course, and says why;
    naming its id takes it."""
    resources = config.parent / "resources.toml"
    with live_site(config):
        run(capsys, "check", "--config", config)
    code, out, _ = run(capsys, "baseline", "accept", "--config", config)
    assert code == 0
    assert "not applied: strang-calculus: now another course" in out
    assert "res-18-001-calculus-online-textbook-spring-2005" in resources.read_text()
    code, out, _ = run(capsys, "baseline", "accept", "--config", config, "strang-calculus")
    assert "strang-calculus: url" in out
    assert "res-18-001-calculus-online-textbook-spring-2005/" not in resources.read_text()


OLD_STRANG = "https://ocw.mit.edu/resources/res-18-001-calculus-online-textbook-spring-2005/"
NEW_SLUG = "https://ocw.mit.edu/courses/res-18-001-calculus-online-textbook-spring-2005/"


def dead_strang_scenario(folder: Path) -> Path:
    """The 2005 Strang URL: 301 to the new scheme, then OCW's 404 page (issue 12's case)."""
    (folder / "bodies").mkdir(parents=True)
    shutil.copy(REPO / "tests" / "fixtures" / "pages" / "errors" / "404.html", folder / "bodies")
    document = {
        "name": "dead-strang",
        "description": "synthetic: the old textbook URL redirected to OCW's 404 page",
        "responses": [
            {"url": OLD_STRANG, "status": 301, "headers": {"location": NEW_SLUG}},
            {
                "url": NEW_SLUG,
                "status": 404,
                "headers": {"content-type": "text/html"},
                "body": "bodies/404.html",
            },
        ],
    }
    (folder / "scenario.json").write_text(json.dumps(document), encoding="utf-8")
    return folder


def test_a_dead_entry_reads_like_the_lists_entry(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    """A dead course is headed by the list's name, and its chapters are not looked for on
    the "not found" page (no promise checked, no extra link)."""
    resources = config.parent / "resources.toml"
    text = resources.read_text()
    start = text.index('[[resources]]\nid = "strang-calculus"')
    end = text.index("# The old link still answers 200")
    resources.write_text(text[start:end])
    scenario = dead_strang_scenario(tmp_path / "dead-strang")
    code, out, _ = run(capsys, "check", "--config", config, "--replay", scenario)
    assert code == 1
    assert "### `strang-calculus`: Gilbert Strang, Calculus (MIT RES.18-001)" in out
    assert "Page Not Found" not in out
    code, report = check_json(capsys, config, scenario)
    [item] = report["resources"]
    assert (item["outcome"], item["promises"], report["links"]) == ("dead", [], [])


NEW_STRANG = "https://ocw.mit.edu/courses/res-18-001-calculus-fall-2023/"
SITEMAP = """<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>https://ocw.mit.edu/courses/18-01sc-single-variable-calculus-fall-2010/sitemap.xml</loc></sitemap>
<sitemap><loc>https://ocw.mit.edu/courses/res-18-001-calculus-fall-2023/sitemap.xml</loc></sitemap>
<sitemap><loc>https://ocw.mit.edu/courses/res-18-005-highlights-of-calculus-spring-2010/sitemap.xml</loc></sitemap>
</sitemapindex>
"""


def successor_scenario(folder: Path) -> Path:
    """The dead 2005 Strang URL, plus (synthetic) OCW's sitemap index and the 2023 site's
    recorded home and textbook pages."""
    dead_strang_scenario(folder)
    pages = REPO / "tests" / "fixtures" / "pages" / "res-18-001"
    for name in ("home.html", "textbook.html"):
        shutil.copy(pages / name, folder / "bodies" / name)
    (folder / "bodies" / "sitemap.xml").write_text(SITEMAP, encoding="utf-8")
    document = json.loads((folder / "scenario.json").read_text(encoding="utf-8"))
    html = {"content-type": "text/html; charset=utf-8"}
    document["responses"] += [
        {
            "url": "https://ocw.mit.edu/sitemap.xml",
            "status": 200,
            "headers": {"content-type": "application/xml"},
            "body": "bodies/sitemap.xml",
        },
        {"url": NEW_STRANG, "status": 200, "headers": html, "body": "bodies/home.html"},
        {
            "url": NEW_STRANG + "pages/textbook/",
            "status": 200,
            "headers": html,
            "body": "bodies/textbook.html",
        },
    ]
    (folder / "scenario.json").write_text(json.dumps(document), encoding="utf-8")
    return folder


def test_a_dead_course_gets_its_verified_successor_and_accept_makes_it_clean(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    """The 2005 Strang URL, 404 at the end of its chain, gets the current RES.18-001 site from
    OCW's sitemap, verified by its course number; accepting it makes the next run clean."""
    resources = config.parent / "resources.toml"
    text = resources.read_text()
    start = text.index('[[resources]]\nid = "strang-calculus"')
    resources.write_text(text[start : text.index("# The old link still answers 200")])
    scenario = successor_scenario(tmp_path / "successor")
    with live_site(config, scenario) as site:
        code, out, _ = run(capsys, "check", "--config", config, "--format", "json")
        [item] = json.loads(out)["resources"]
        assert (code, item["outcome"]) == (1, "replaced")  # another term: 2023, not 2005
        assert item["suggestion"]["url"] == site.local(NEW_STRANG)
        assert "same course number RES.18-001" in item["suggestion"]["reason"]
        assert "found in OCW's sitemap" in item["suggestion"]["reason"]
        code, out, _ = run(capsys, "baseline", "accept", "--config", config, "strang-calculus")
        assert code == 0, out
        assert 'term = "Fall 2023"' in resources.read_text()
        code, out, _ = run(capsys, "check", "--config", config)
    assert code == 0, out


def test_global_options_are_accepted_after_the_command(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    """`ocwwatch check -q` is quiet as `ocwwatch -q check` is: no progress on stderr."""
    code = main(["check", "-q", "--config", str(config), "--replay", str(TODAY)])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err == ""


def test_a_run_that_does_not_exist_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    """`report 99` exits 2 with one line, as `history nosuch` does, not 3 "internal error"."""
    run(capsys, "check", "--config", config, "--replay", TODAY)
    code, _, err = run(capsys, "report", "99", "--config", config, "--db", replay_db(config))
    assert code == 2
    assert err.strip().endswith("run 99 does not exist")


def test_report_and_history_read_while_another_process_writes(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    """Read-only commands take no write lock and migrate nothing: they work while another
    connection holds the database's write lock (issue 11)."""
    run(capsys, "check", "--config", config, "--replay", TODAY)
    database = replay_db(config)
    writer = sqlite3.connect(database)
    try:
        writer.execute("BEGIN IMMEDIATE")  # the write lock, as a running check holds it
        code, out, err = run(capsys, "report", "--config", config, "--db", database)
        assert (code, err) == (0, "")
        assert out.startswith("# ocwwatch report: run 1")
        code, out, _ = run(capsys, "history", "18.01sc", "--config", config, "--db", database)
        assert code == 0
        assert "moved" in out
    finally:
        writer.rollback()
        writer.close()


def page_scenario(folder: Path, paragraph: str) -> Path:
    """One plain web page answering 200 with `paragraph` as its main text (synthetic)."""
    folder.mkdir(parents=True)
    body = (
        "<!doctype html><html><head><title>Reading list</title></head><body>"
        "<nav>Home · About</nav><main><h1>Reading list</h1>"
        f"<p>{paragraph}</p></main><footer>© 2026</footer></body></html>"
    )
    (folder / "page.html").write_text(body, encoding="utf-8")
    document = {
        "name": folder.name,
        "description": "synthetic: a plain page whose text changes between two scenarios",
        "responses": [
            {
                "url": "https://example.org/reading/",
                "status": 200,
                "headers": {"content-type": "text/html; charset=utf-8"},
                "body": "page.html",
            }
        ],
    }
    (folder / "scenario.json").write_text(json.dumps(document), encoding="utf-8")
    return folder


def test_a_body_only_change_of_a_page_is_reported_with_a_short_diff(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    """A `page` resource's main text is watched: a changed sentence is a change since the last
    run, shown in a few words either way (issue 12); its menu and footer do not count."""
    (config.parent / "resources.toml").write_text(
        '[[resources]]\nid = "reading"\nurl = "https://example.org/reading/"\nkind = "page"\n'
    )
    first = page_scenario(tmp_path / "v1", "Start with chapter one of Thompson, then Strang.")
    second = page_scenario(tmp_path / "v2", "Start with chapter two of Thompson, then Strang.")
    assert check_json(capsys, config, first)[0] == 0
    code, report = check_json(capsys, config, second)
    [item] = report["resources"]
    assert (code, item["outcome"]) == (1, "changed")
    [change] = item["changes"]
    assert change["field"] == "text"
    assert "chapter one of" in change["before"]
    assert "chapter two of" in change["after"]
    assert "Home" not in change["before"]
