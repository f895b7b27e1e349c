"""Retention (issue 11): old runs are dropped with their rows and report files after each run
and by `ocwwatch prune`; the latest state and runs that changed something stay; files removed
on purpose never come back.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from support.cli import live_site, run

from ocwwatch.clock import utc_now
from ocwwatch.config import RetentionSettings, load_config
from ocwwatch.pipeline import prune_runs
from ocwwatch.pipeline.retention import prune_quietly
from ocwwatch.store import Store
from ocwwatch.store.base import work_path


@pytest.fixture(autouse=True)
def served(request: pytest.FixtureRequest) -> Iterator[None]:
    """Today's recorded OCW, served live on 127.0.0.1 for the test's checks: a replay run is
    kept apart from the live database these tests look at (issue 16)."""
    if "config" not in request.fixturenames:
        yield
        return
    with live_site(request.getfixturevalue("config")):
        yield


def with_retention(config: Path, **rules: object) -> Path:
    lines = [f"{key} = {str(value).lower()}" for key, value in rules.items()]
    with config.open("a") as settings:
        settings.write("\n[retention]\n" + "\n".join(lines) + "\n")
    return config


def stored_runs(config: Path) -> list[int]:
    with sqlite3.connect(config.parent / ".." / "data" / "ocwwatch.db") as db:
        return [row[0] for row in db.execute("SELECT id FROM runs ORDER BY id")]


def report_runs(config: Path) -> set[int]:
    reports = config.parent / ".." / "data" / "reports"
    return {int(path.stem.split("-")[1]) for path in reports.glob("run-*.md")}


def check(capsys: pytest.CaptureFixture[str], config: Path) -> int:
    return run(
        capsys,
        "check",
        "--config",
        config,
    )[0]


def test_each_run_keeps_the_newest_and_the_ones_that_changed_something(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    """keep_runs = 3, keep_days = 0: after six runs of an unchanged list, runs 2 and 3 are gone
    (rows, stored reports, files, index entries); run 1 stays (links started failing in it),
    and 4-6 are the newest three."""
    with_retention(config, keep_runs=3, keep_days=0)
    for _ in range(6):
        assert check(capsys, config) == 1
    assert stored_runs(config) == [1, 4, 5, 6]
    assert report_runs(config) == {1, 4, 5, 6}
    data = config.parent / ".." / "data"
    with sqlite3.connect(data / "ocwwatch.db") as db:
        orphans = db.execute(
            "SELECT count(*) FROM observations WHERE run_id NOT IN (SELECT id FROM runs)"
        ).fetchone()
        assert orphans == (0,)
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    index = (data / "reports" / "index.html").read_text()
    assert "run-2.html" not in index
    assert "run-4.html" in index
    assert run(capsys, "report", "1", "--config", config)[0] == 0


def test_report_files_removed_by_hand_are_not_brought_back(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    """An old run's report file deleted by hand stays deleted after the next run."""
    for _ in range(2):
        check(capsys, config)
    (config.parent / ".." / "data" / "reports" / "run-1.md").unlink()
    check(capsys, config)
    assert report_runs(config) == {2, 3}


def test_prune_dry_run_says_what_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    """`prune --dry-run` lists what `prune` then drops; after the run-time pruning is off."""
    with_retention(config, keep_runs=1, keep_days=0, prune_after_run=False)
    for _ in range(4):
        check(capsys, config)
    # A database copied without the deep run's working file beside it reads the same.
    work_path(config.parent / ".." / "data" / "ocwwatch.db").unlink()
    code, out, _ = run(capsys, "prune", "--dry-run", "--config", config)
    assert code == 0
    assert out.startswith("would drop 2 runs (2, 3): ")
    assert stored_runs(config) == [1, 2, 3, 4]
    code, out, _ = run(capsys, "prune", "--config", config)
    assert (code, out.split(":")[0]) == (0, "dropped 2 runs (2, 3)")
    assert stored_runs(config) == [1, 4]
    assert run(capsys, "prune", "--config", config)[1].startswith("nothing to prune")


def test_age_keeps_runs_younger_than_keep_days(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    """keep_runs = 1, keep_days = 30: today's runs all stay; 31 days on, the old ones go."""
    with_retention(config, keep_runs=1, keep_days=30, prune_after_run=False)
    for _ in range(3):
        check(capsys, config)
    settings = load_config(config, cwd=config.parent).settings
    with Store.open(settings.database) as store:
        assert prune_runs(store, settings, utc_now(), dry_run=True).runs == ()
        later = prune_runs(store, settings, utc_now() + timedelta(days=31), dry_run=False)
    assert [item.run_id for item in later.runs] == [2]
    assert stored_runs(config) == [1, 3]


def test_prune_vacuums_when_it_frees_much(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    """Dropping most runs frees more than a quarter of the file: VACUUM gives it back to the
    disk, and the database still passes integrity_check."""
    with_retention(config, keep_runs=1, keep_days=0, prune_after_run=False)
    for _ in range(8):
        check(capsys, config)
    database = config.parent / ".." / "data" / "ocwwatch.db"
    before = database.stat().st_size
    code, out, _ = run(capsys, "prune", "--config", config)
    assert code == 0
    assert "VACUUM gave back" in out
    assert database.stat().st_size < before / 2
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_prune_that_fails_after_a_run_is_logged_not_raised(
    capsys: pytest.CaptureFixture[str], config: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A prune failing with anything (here the OverflowError an unbounded `keep_days` caused
    before settings refused it) is logged: the published run keeps its report and exit code."""
    check(capsys, config)
    settings = load_config(config, cwd=config.parent).settings
    unbounded = RetentionSettings.model_construct(
        keep_runs=1, keep_days=float("inf"), prune_after_run=True
    )
    settings = settings.model_copy(update={"retention": unbounded})
    with Store.open(settings.database) as store:
        prune_quietly(store, settings, utc_now())
    assert "old runs were not pruned (an ocwwatch bug): OverflowError" in caplog.text
    assert [r.levelno for r in caplog.records if "not pruned" in r.message] == [logging.ERROR]
    assert stored_runs(config) == [1]
