"""The JSON report is a published contract (issue 13): `schema_version`, the ocwwatch version,
and a JSON Schema shipped in the package that every report of the test suite validates against
(support/schema.py hooks the renderers)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from support import schema
from support.cli import TODAY, run

from ocwwatch import __version__
from ocwwatch.models import ElementKind, LinkState, Outcome
from ocwwatch.report.json_report import SCHEMA_VERSION


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(schema.SCHEMA)


def test_the_schema_names_every_outcome_link_state_and_element_kind() -> None:
    """A new outcome, state or element kind in the code without the schema would break
    consumers."""
    defs = schema.SCHEMA["$defs"]
    assert defs["outcome"]["enum"] == [outcome.value for outcome in Outcome]
    assert defs["link_state"]["enum"] == [state.value for state in LinkState]
    assert defs["found_as"]["properties"]["kind"]["enum"] == [kind.value for kind in ElementKind]


def test_a_check_report_carries_its_versions_and_was_validated(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    before = schema.VALIDATED[0]
    _, out, _ = run(capsys, "check", "--config", config, "--replay", TODAY, "--format", "json")
    report = json.loads(out)
    assert report["schema_version"] == SCHEMA_VERSION
    assert report["ocwwatch_version"] == __version__
    assert schema.VALIDATED[0] > before  # the hook is live: this run's report was checked


@pytest.mark.parametrize(
    ("break_it", "why"),
    [
        (lambda r: r.pop("schema_version"), "'schema_version' is a required property"),
        (lambda r: r["resources"][0].update(outcome="fine"), "'fine' is not one of"),
        (lambda r: r["run"].update(started_at="yesterday"), "'yesterday' does not match"),
        (lambda r: r["resources"][0]["metadata"].pop("title"), "'title' is a required"),
    ],
)
def test_a_report_that_breaks_the_contract_fails(
    capsys: pytest.CaptureFixture[str], config: Path, break_it: Any, why: str
) -> None:
    """The schema can fail: a missing key, an unknown outcome, a bad timestamp."""
    _, out, _ = run(capsys, "check", "--config", config, "--replay", TODAY, "--format", "json")
    report = copy.deepcopy(json.loads(out))
    break_it(report)
    with pytest.raises(jsonschema.ValidationError, match=why):
        schema.VALIDATOR.validate(report)
