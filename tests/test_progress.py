"""Progress on long runs (issue 16): a deep check's steady progress line, -v's line per request,
-q's silence, and per-resource lines that never call an unanswered resource dead."""

from __future__ import annotations

import argparse
import logging
import re
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.cli import TODAY

from ocwwatch import commands
from ocwwatch.cli import PROGRESS_SECONDS, main, tick_seconds
from ocwwatch.models import CrawlProgress, CrawlStep, FrontierEntry, LinkKind, LinkProbe
from ocwwatch.pipeline.progress import progress_line, ticking
from ocwwatch.report.digest import human_duration
from ocwwatch.store import Store

LINE = re.compile(
    r"deep: [\d,]+ of [\d,]+ links checked, [\d,]+ pages read, [\d,]+ dead so far, "
    r"[\d.]+ links/s, [\d.]+ s elapsed"
)
SITE = "https://ocw.mit.edu/courses/c1/"


def test_a_progress_line_says_how_far_the_crawl_has_got() -> None:
    """Links checked of found, pages read, dead so far, the rate and the time, readable."""
    counts = CrawlProgress(found=3400, checked=1200, pages=310, dead=12)
    assert progress_line(counts, 12.0) == (
        "deep: 1,200 of 3,400 links checked, 310 pages read, 12 dead so far, 100.0 links/s, "
        "12 s elapsed"
    )
    assert progress_line(CrawlProgress(), 3.0) is None  # nothing queued yet: nothing to say
    assert [human_duration(s) for s in (0.4, 59.9, 3600 * 2 + 185)] == [
        "0.4 s",
        "59 s",
        "2 h 03 min",
    ]


def test_an_estimate_comes_once_the_rate_means_something() -> None:
    """`~N min left` from the queued links at the rate so far: not in the first seconds, not
    with nothing checked or nothing queued; read to the minute."""
    counts = CrawlProgress(found=3400, checked=1200, pages=310, dead=12)
    assert progress_line(counts, 65.0) == (  # 2,200 queued at 18.5 links/s: 119 s
        "deep: 1,200 of 3,400 links checked, 310 pages read, 12 dead so far, 18.5 links/s, "
        "1 min 05 s elapsed, ~2 min left"
    )
    # Too early, nothing checked yet, nothing queued: no estimate.
    for found, checked, elapsed in [(900, 100, 10.0), (900, 0, 60.0), (900, 900, 60.0)]:
        line = progress_line(CrawlProgress(found=found, checked=checked), elapsed)
        assert line is not None
        assert line.endswith(" elapsed"), line
    left = [
        (progress_line(CrawlProgress(found=found, checked=100), 20.0) or "").split(", ")[-1]
        for found in (110, 3100, 36100)  # 10, 3,000 and 36,000 queued at 5 links/s
    ]
    assert left == ["under a minute left", "~10 min left", "~2 h 00 min left"]


def test_ticking_adds_the_estimate_as_its_clock_runs(tmp_path: Path) -> None:
    """With a fake clock: the first tick (5 s in) has no estimate; the next (60 s in, 100 of
    300 checked) says the 200 queued take ~2 min more."""
    database = tmp_path / "ocwwatch.db"
    found = [
        FrontierEntry(url=f"{SITE}{n}/", key=f"{SITE}{n}/", kind=LinkKind.PAGE, resource_id="c1")
        for n in range(300)
    ]
    settled = [(e, LinkProbe(key=e.key, final_url=e.url, status=200)) for e in found[:100]]
    now = datetime(2026, 12, 5, tzinfo=UTC)
    with Store.open(database) as store:
        run_id = store.start_run(now)
        store.save_crawl_step(run_id, now, CrawlStep(found=found, settled=settled))
    times = iter([0.0, 5.0, 60.0])  # the start, then one reading per tick
    lines: list[str] = []
    two = threading.Event()

    def show(line: str) -> None:
        lines.append(line)
        if len(lines) == 2:
            two.set()

    with ticking(database, show, 0.001, clock=lambda: next(times, 60.0)):
        assert two.wait(10)
    assert LINE.fullmatch(lines[0])
    assert lines[1].endswith("1.7 links/s, 1 min 00 s elapsed, ~2 min left")


def test_a_deep_check_prints_progress_at_a_steady_interval(config: Path) -> None:
    """While the crawl runs, a line comes every tick, counted from the store's frontier."""
    lines: list[str] = []
    commands.check(
        config,
        None,
        "json",
        replay=TODAY,
        cwd=config.parent,
        progress=lines.append,
        deep=True,
        tick_seconds=0.005,
    )
    ticks = [line for line in lines if LINE.fullmatch(line)]
    assert len(ticks) >= 2, lines
    checked = [int(re.findall(r"[\d,]+", line)[0].replace(",", "")) for line in ticks]
    assert checked == sorted(checked)  # the counts only grow


def test_progress_lines_show_on_a_terminal_or_with_v_never_with_q() -> None:
    """cron and the daemon (no terminal) get no ticking; -v asks for it; -q silences it."""

    def args(*, quiet: bool = False, verbose: int = 0) -> argparse.Namespace:
        return argparse.Namespace(quiet=quiet, verbose=verbose)

    assert tick_seconds(args()) is None  # pytest's stderr is not a terminal
    assert tick_seconds(args(verbose=1)) == PROGRESS_SECONDS
    assert tick_seconds(args(verbose=1, quiet=True)) is None


def test_minus_v_names_each_request_and_its_answer(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    """`check -v` logs ocwwatch's own line per request (method, URL, answer, time); without
    -v there is none."""
    caplog.set_level(logging.INFO)
    assert main(["check", "-v", "--config", str(config), "--replay", str(TODAY)]) == 1
    said = [r.getMessage() for r in caplog.records if r.name == "ocwwatch.requests"]
    old = "https://ocw.mit.edu/courses/mathematics/18-01sc-single-variable-calculus-fall-2010/"
    assert any(re.fullmatch(rf"GET {re.escape(old)} -> 301 \(\d+\.\d\d s\)", m) for m in said)
    caplog.clear()
    assert main(["check", "--config", str(config), "--replay", str(TODAY)]) == 1
    assert [r for r in caplog.records if r.name == "ocwwatch.requests"] == []
    capsys.readouterr()


def test_a_quiet_deep_check_prints_nothing_on_stderr(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    """`check --deep -q`: no progress line of any kind."""
    assert main(["check", "--deep", "-q", "--config", str(config), "--replay", str(TODAY)]) == 1
    assert capsys.readouterr().err == ""


def test_an_offline_run_calls_nothing_dead_in_its_progress(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    """With no host answering, each resource's line says "no answer", never "dead", and the
    run's end says nothing was judged."""
    unplugged = tmp_path / "unplugged"
    unplugged.mkdir()
    (unplugged / "scenario.json").write_text('{"name": "unplugged", "responses": []}')
    assert main(["check", "--config", str(config), "--replay", str(unplugged)]) == 4
    err = capsys.readouterr().err.splitlines()
    per_resource = [line for line in err if line.startswith("[")]
    assert len(per_resource) == 7
    assert all(": no answer (" in line for line in per_resource), per_resource
    assert "offline: no host answered, so nothing was judged" in err


def test_check_ends_by_saying_where_the_reports_went(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    """The last progress line names the HTML report and the index (stderr; -q silences it)."""
    assert main(["check", "--config", str(config), "--replay", str(TODAY)]) == 1
    reports = (config.parent / ".." / "data" / "reports" / "replay").resolve()
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("reports: ")
    named = Path(last.removeprefix("reports: ").split(" (")[0]).resolve()
    assert named == reports / "run-1.html"
    assert named.is_file()
    assert last.endswith("/index.html)")
