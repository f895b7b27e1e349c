"""The daemon's re-reading of its settings survives any fault (issue 11), in-process: a tick goes
on with the last good settings and logs one line naming the settings file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from ocwwatch import commands


def write_settings(folder: Path, resources: str = "resources.toml") -> Path:
    """Settings naming a one-entry list in `folder`; returns the settings file."""
    (folder / "resources.toml").write_text(
        '[[resources]]\nid = "page"\nurl = "http://127.0.0.1:9/page"\nkind = "page"\n'
    )
    settings = folder / "ocwwatch.toml"
    settings.write_text(f'resources = "{resources}"\ndatabase = "data/ocwwatch.db"\n')
    return settings


def file_for_a_folder(folder: Path) -> str:
    (folder / "o.toml").write_text("")
    return "o.toml/x.toml"  # NotADirectoryError


def symlink_loop(folder: Path) -> str:
    (folder / "loop-a").symlink_to("loop-b")
    (folder / "loop-b").symlink_to("loop-a")
    return "loop-a"  # OSError: too many levels of symbolic links


@pytest.mark.parametrize("fault", [file_for_a_folder, symlink_loop])
def test_unreadable_list_at_a_tick_keeps_the_last_good_settings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, fault: Callable[[Path], str]
) -> None:
    """A list that cannot be read at a tick (not a ConfigError) costs one error line naming the
    settings file; the tick goes on with the last good settings."""
    settings = write_settings(tmp_path)
    config = commands.DaemonConfig(settings, None, tmp_path)
    good = config.good
    write_settings(tmp_path, fault(tmp_path))
    with caplog.at_level(logging.INFO, logger="ocwwatch"):
        assert config.read() is good
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1, caplog.text
    line = errors[0].getMessage()
    assert "going on with the last good ones" in line
    assert str(settings) in line
    assert "\n" not in line


def test_unexpected_error_at_a_tick_keeps_the_last_good_settings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any exception re-reading the settings (here a bug's RuntimeError) is one error line naming
    the settings file and the error, never a failed tick."""
    settings = write_settings(tmp_path)
    config = commands.DaemonConfig(settings, None, tmp_path)
    good = config.good

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("reader broke")

    monkeypatch.setattr(commands, "load_config", broken)
    with caplog.at_level(logging.INFO, logger="ocwwatch"):
        assert config.read() is good
    [line] = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert f"{settings}: RuntimeError: reader broke" in line
