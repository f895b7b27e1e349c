"""CLI test helpers: the scenarios, and running `ocwwatch` in-process."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ocwwatch.cli import main
from ocwwatch.fetch import Recording, load_scenario, shipped_scenarios
from support.loopback import LoopbackServer

REPO = Path(__file__).resolve().parent.parent.parent
SCENARIOS = REPO / "tests" / "fixtures" / "scenarios"
TODAY = shipped_scenarios() / "ocw-today"  # shipped in the package, the tests' copy too
RENAMED = SCENARIOS / "ocw-unit-renamed"
OCW = "https://ocw.mit.edu/courses/"


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main(["-q", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def check_json(capsys: pytest.CaptureFixture[str], config: Path, scenario: Path) -> Any:
    code, out, _ = run(
        capsys, "check", "--config", config, "--replay", scenario, "--format", "json"
    )
    return code, json.loads(out)


def check_list(
    capsys: pytest.CaptureFixture[str], config: Path, document: Path, *options: str
) -> tuple[int, str]:
    """`check --list DOCUMENT` against today's recorded OCW, with `options` (e.g. a format)."""
    code, out, _ = run(
        capsys, "check", "--config", config, "--list", document, "--replay", TODAY, *options
    )
    return code, out


def by_id(report: Any) -> dict[str, Any]:
    return {item["id"]: item for item in report["resources"]}


ORIGINS = ("https://ocw.mit.edu", "https://www.gutenberg.org")


@dataclass(frozen=True)
class LiveSite:
    """A scenario served live on 127.0.0.1: `local` moves a recorded URL (or text) onto it."""

    server: LoopbackServer

    def local(self, text: str) -> str:
        for origin in ORIGINS:
            text = text.replace(origin, self.server.base_url)
        return text


@contextmanager
def live_site(config: Path, scenario: Path = TODAY, *lists: Path) -> Iterator[LiveSite]:
    """`scenario` answering live on 127.0.0.1, and the config's list (and `lists`) moved onto
    it, with no pause between requests: a `check` without --replay is then a live run that
    stays on this machine, the only kind `baseline accept` takes (issue 16)."""
    with LoopbackServer() as server:
        site = LiveSite(server)
        recorded = load_scenario(scenario)
        for origin in ORIGINS:
            server.serve_scenario(recorded, origin)
        for path, recording in list(server.routes.items()):
            body = site.local(recording.body.decode("latin-1")).encode("latin-1")
            server.routes[path] = Recording(
                recording.url, recording.status, recording.headers, body
            )
        for listed in (config.parent / "resources.toml", *lists):
            listed.write_text(site.local(listed.read_text(encoding="utf-8")), encoding="utf-8")
        settings = config.read_text(encoding="utf-8")
        settings = re.sub(
            r"per_host_interval_seconds = [0-9.]+", "per_host_interval_seconds = 0", settings
        )
        config.write_text(re.sub(r"retries = \d+", "retries = 0", settings), encoding="utf-8")
        yield site
