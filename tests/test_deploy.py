"""The deployment files in config/: the systemd unit and the cron line run real ocwwatch commands.

Each command they invoke is parsed by the real argument parser; the cron schedule is the default
settings' schedule; and the README shows both files verbatim.
"""

from __future__ import annotations

import argparse
import configparser
import shlex
from pathlib import Path

import pytest

from ocwwatch.cli import build_parser
from ocwwatch.config import load_settings

REPO = Path(__file__).resolve().parent.parent
UNIT = REPO / "config" / "ocwwatch.service"
CRON = REPO / "config" / "ocwwatch.cron"
SETTINGS = Path("/etc/ocwwatch/ocwwatch.toml")
DATA = "/var/lib/ocwwatch"


def read_unit() -> configparser.RawConfigParser:
    unit = configparser.RawConfigParser(strict=False, interpolation=None, delimiters=("=",))
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are CamelCase
    unit.read_string(UNIT.read_text())
    return unit


def cron_job() -> list[str]:
    """The one job line of the cron file, split into words (variables and comments skipped)."""
    jobs = [
        line
        for line in CRON.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#") and "=" not in line.split()[0]
    ]
    assert len(jobs) == 1, jobs
    return shlex.split(jobs[0])


def parse_command(words: list[str]) -> argparse.Namespace:
    """What `ocwwatch WORDS...` means to the real parser; WORDS[0] must be the executable."""
    assert Path(words[0]).name == "ocwwatch", words
    return build_parser().parse_args(words[1:])


def test_unit_runs_the_daemon_with_the_system_settings() -> None:
    """ExecStart is `ocwwatch daemon --config /etc/ocwwatch/ocwwatch.toml`, as parsed by the CLI."""
    args = parse_command(shlex.split(read_unit()["Service"]["ExecStart"]))
    assert args.command == "daemon"
    assert args.config == SETTINGS
    assert args.db is None


def test_unit_runs_unprivileged_hardened_and_restarts_on_failure() -> None:
    """The unit has the keys the deployment relies on: user, restart, stop signal, sandbox."""
    service = read_unit()["Service"]
    assert service["User"] not in ("", "root")
    required = {
        "Restart": "on-failure",
        "KillSignal": "SIGTERM",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ReadWritePaths": DATA,
        "StateDirectory": Path(DATA).name,
    }
    assert {key: service.get(key) for key in required} == required
    assert int(service["TimeoutStopSec"]) >= 60  # time for the run in progress to finish
    assert read_unit()["Install"]["WantedBy"] == "multi-user.target"


def test_cron_line_runs_check_as_json_into_dev_null() -> None:
    """The cron command is `ocwwatch check --config … --format json > /dev/null`."""
    words = cron_job()
    command, redirect = words[6:-2], words[-2:]
    assert redirect == [">", "/dev/null"]
    args = parse_command(command)
    assert (args.command, args.config, args.format) == ("check", SETTINGS, "json")
    assert not args.deep
    assert args.replay is None


def test_cron_runs_as_the_unit_user_on_the_default_schedule() -> None:
    """Cron fires on the default settings' schedule, as the same unprivileged user as the unit."""
    words = cron_job()
    default = load_settings(REPO / "config" / "ocwwatch.toml").schedule.cron
    packaged = load_settings(REPO / "ocwwatch" / "defaults" / "ocwwatch.toml").schedule.cron
    assert " ".join(words[:5]) == default == packaged == "17 6 * * *"
    assert words[5] == read_unit()["Service"]["User"]
    assert "%" not in CRON.read_text()  # cron turns % into newlines


@pytest.mark.parametrize("deployment", [UNIT, CRON], ids=lambda path: path.name)
def test_readme_shows_the_file_verbatim(deployment: Path) -> None:
    """README.md quotes each deployment file whole, so the docs cannot drift from the files."""
    readme = REPO / "README.md"
    text = readme.read_text() if readme.is_file() else ""
    if deployment.read_text() not in text:
        pytest.fail(
            f"README.md does not contain config/{deployment.name} verbatim: add it as a code"
            " block (the file unchanged, final newline included)",
            pytrace=False,
        )
