"""Every JSON report the test suite renders is validated against the shipped JSON Schema
(issue 13: the JSON report is a published contract).

`install()` runs from conftest, before any test module imports a renderer, and wraps the JSON
renderers where the code and the tests look them up; `VALIDATED` counts the reports checked, so
a test can prove the hook is live.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from importlib import resources as package_files
from typing import Any

import jsonschema

import ocwwatch.report
import ocwwatch.report.json_report
from ocwwatch.models import Report

SCHEMA: dict[str, Any] = json.loads(
    package_files.files("ocwwatch").joinpath("schemas/report.schema.json").read_text("utf-8")
)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
VALIDATED = [0]


def validate_report(text: str) -> None:
    VALIDATOR.validate(json.loads(text))
    VALIDATED[0] += 1


def _validating(render: Callable[[Report], str]) -> Callable[[Report], str]:
    def render_and_validate(report: Report) -> str:
        text = render(report)
        validate_report(text)
        return text

    return render_and_validate


def _validating_parts(
    parts: Callable[[Report], Iterable[str]],
) -> Callable[[Report], Iterator[str]]:
    def parts_then_validate(report: Report) -> Iterator[str]:
        pieces = list(parts(report))
        validate_report("".join(pieces))
        yield from pieces

    return parts_then_validate


def install() -> None:
    module = ocwwatch.report.json_report
    render = _validating(module.render_json)
    parts = _validating_parts(module.json_parts)
    module.render_json = render  # type: ignore[assignment]
    module.json_parts = parts  # type: ignore[assignment]
    ocwwatch.report.render_json = render  # type: ignore[assignment]
    ocwwatch.report.RENDERERS["json"] = render  # type: ignore[index]
    ocwwatch.report.IN_PIECES["json"] = parts  # type: ignore[index]
