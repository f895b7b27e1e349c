"""The scenario shipped inside the package (issue 16): `check --replay ocw-today` and
`check --demo` work from any folder, not only from a checkout; an unknown name says what ships.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.cli import REPO, TODAY

from ocwwatch.cli import main
from ocwwatch.errors import ScenarioError
from ocwwatch.fetch import find_scenario

ENV = {**os.environ, "PYTHONPATH": str(REPO)}
REPLAYED = "**Replay** of the recorded scenario `ocw-today`"


def test_replay_by_name_works_outside_a_checkout(tmp_path: Path) -> None:
    """`ocwwatch check --replay ocw-today` in an empty folder: the shipped list and scenario,
    the replay's own database and reports under data/, nothing live."""
    done = subprocess.run(
        [sys.executable, "-m", "ocwwatch", "-q", "check", "--replay", "ocw-today"],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert REPLAYED in done.stdout
    assert (tmp_path / "data" / "replay" / "ocwwatch.db").is_file()
    assert (tmp_path / "data" / "reports" / "replay" / "run-1.md").is_file()
    assert not (tmp_path / "data" / "ocwwatch.db").exists()


def test_demo_is_the_shipped_scenario(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check --demo` replays ocw-today, as `--replay ocw-today` does."""
    monkeypatch.chdir(tmp_path)
    assert main(["-q", "check", "--demo"]) == 1
    assert REPLAYED in capsys.readouterr().out


def test_an_unknown_scenario_name_is_a_usage_error_naming_the_shipped_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A name that is neither a folder here nor shipped: exit 2, the shipped names listed,
    no database or report written."""
    monkeypatch.chdir(tmp_path)
    assert main(["-q", "check", "--replay", "ocw-yesterday"]) == 2
    err = capsys.readouterr().err
    assert "ocw-yesterday: no such scenario folder" in err
    assert "shipped: ocw-today" in err
    assert list(tmp_path.iterdir()) == []


def test_a_folder_here_wins_over_the_shipped_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder of that name in the working directory is what `--replay NAME` means."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ocw-today").mkdir()
    assert find_scenario(Path("ocw-today")) == Path("ocw-today")


def test_a_missing_path_is_not_looked_up_among_the_shipped(tmp_path: Path) -> None:
    """`--replay some/dir/ocw-today` that does not exist is an error, not the shipped copy."""
    with pytest.raises(ScenarioError, match="shipped: ocw-today"):
        find_scenario(tmp_path / "ocw-today")
    assert find_scenario(Path("ocw-today")) == TODAY
