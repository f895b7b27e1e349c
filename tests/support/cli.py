"""CLI test helpers: the scenarios, and running `ocwwatch` in-process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ocwwatch.cli import main

REPO = Path(__file__).resolve().parent.parent.parent
SCENARIOS = REPO / "tests" / "fixtures" / "scenarios"
TODAY = SCENARIOS / "ocw-today"
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
