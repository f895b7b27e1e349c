"""`--format sarif` (issue 13): SARIF 2.1.0 that validates against the official schema, with
stable rule ids, a location in the document list, a fix, and fingerprints that do not change
from one run to the next."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from support.cli import check_list
from test_report import hostile_report, offline_report, sample_report

from ocwwatch.lists import load_document_list
from ocwwatch.models import Location
from ocwwatch.report import render_sarif
from ocwwatch.report.sarif import RULES

OFFICIAL = Path(__file__).parent / "fixtures" / "schemas" / "sarif-schema-2.1.0.json"
SARIF = jsonschema.Draft4Validator(json.loads(OFFICIAL.read_text(encoding="utf-8")))
CALCULUS = Path(__file__).parent / "fixtures" / "lists" / "calculus-for-deep-learning.md"
NEW_1801 = "https://ocw.mit.edu/courses/18-01sc-single-variable-calculus-fall-2010/"


def sarif_of(capsys: pytest.CaptureFixture[str], config: Path, document: Path) -> Any:
    code, out = check_list(capsys, config, document, "--format", "sarif")
    assert code == 1
    log = json.loads(out)
    SARIF.validate(log)
    return log


def test_a_document_list_run_is_valid_sarif_pointing_at_its_lines(
    capsys: pytest.CaptureFixture[str],
    config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each moved entry is a warning at its URL's line and column, relative to the checkout,
    with the new URL as a SARIF fix; the same findings keep their fingerprints next run."""
    shutil.copy(CALCULUS, tmp_path / "calculus.md")
    monkeypatch.chdir(tmp_path)
    log = sarif_of(capsys, config, Path("calculus.md"))
    results = log["runs"][0]["results"]
    course = next(r for r in results if r["properties"]["id"] == "single-variable-calculus-18-01sc")
    assert course["ruleId"] == "OCW003"
    assert course["level"] == "warning"
    where = course["locations"][0]["physicalLocation"]
    assert where["artifactLocation"] == {"uri": "calculus.md", "uriBaseId": "%SRCROOT%"}
    assert where["region"]["startLine"] == 10
    assert where["region"]["startColumn"] == 41
    (change,) = course["fixes"][0]["artifactChanges"]
    assert change["replacements"][0]["insertedContent"]["text"] == NEW_1801
    again = sarif_of(capsys, config, Path("calculus.md"))["runs"][0]["results"]
    assert [r["partialFingerprints"] for r in again] == [r["partialFingerprints"] for r in results]
    assert len({json.dumps(r["partialFingerprints"]) for r in results}) == len(results)
    written = config.parent.parent / "data" / "reports" / "replay" / "run-1.sarif"
    assert json.loads(written.read_text(encoding="utf-8"))["runs"][0]["results"] == results


@pytest.mark.parametrize("make", [sample_report, offline_report, hostile_report])
def test_every_kind_of_report_is_valid_sarif(make: Any) -> None:
    """Dead, moved, changed and unknown resources, dead and redirected links, an offline run,
    hostile text: all valid against the official schema, every rule id declared once."""
    log = json.loads(render_sarif(make()))
    SARIF.validate(log)
    rules = [rule["id"] for rule in log["runs"][0]["tool"]["driver"]["rules"]]
    assert rules == [rule.id for rule in RULES]
    assert len(set(rules)) == len(rules)
    for result in log["runs"][0]["results"]:
        assert rules[result["ruleIndex"]] == result["ruleId"]


def test_the_official_schema_can_fail() -> None:
    """A result without a message is not SARIF: the validation is not a formality."""
    log = json.loads(render_sarif(sample_report()))
    del log["runs"][0]["results"][0]["message"]
    with pytest.raises(jsonschema.ValidationError, match="'message' is a required property"):
        SARIF.validate(log)


@pytest.mark.parametrize(
    ("file", "uri"),
    [
        ("calculus.md", "calculus.md"),
        ("lists/my list #1.md", "lists/my%20list%20%231.md"),
        ("100%?.md", "100%25%3F.md"),
        ("c:odd.md", "c%3Aodd.md"),
        ("ünï cödé.md", "%C3%BCn%C3%AF%20c%C3%B6d%C3%A9.md"),
    ],
)
def test_artifact_uris_are_percent_encoded(file: str, uri: str) -> None:
    """A list's path is a URI reference (SARIF 2.1.0 §3.4.3): spaces, `#`, `%`, `?`, a colon
    that would read as a scheme and non-ASCII are percent-encoded, in the location and the
    fix alike."""
    report = sample_report()
    moved = next(item for item in report.resources if item.suggestion is not None)
    placed = moved.model_copy(update={"location": Location(file=file, line=3, column=5)})
    resources = tuple(placed if item is moved else item for item in report.resources)
    log = json.loads(render_sarif(report.model_copy(update={"resources": resources})))
    SARIF.validate(log)
    (result,) = [r for r in log["runs"][0]["results"] if r["properties"].get("id") == moved.id]
    artifact = result["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": uri, "uriBaseId": "%SRCROOT%"}
    (change,) = result["fixes"][0]["artifactChanges"]
    assert change["artifactLocation"] == artifact


def test_an_absolute_list_path_is_an_encoded_file_uri() -> None:
    """An absolute path becomes a `file:` URI, percent-encoded the same way."""
    report = sample_report()
    moved = next(item for item in report.resources if item.suggestion is not None)
    placed = moved.model_copy(
        update={"location": Location(file="/srv/my list #1.md", line=1, column=1)}
    )
    resources = tuple(placed if item is moved else item for item in report.resources)
    log = json.loads(render_sarif(report.model_copy(update={"resources": resources})))
    (result,) = [r for r in log["runs"][0]["results"] if r["properties"].get("id") == moved.id]
    artifact = result["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": "file:///srv/my%20list%20%231.md"}


def applied(text: str, replacement: dict[str, Any]) -> str:
    """`text` with a SARIF replacement applied as a consumer does, columns in code points."""
    region = replacement["deletedRegion"]
    lines = text.splitlines(keepends=True)
    line = lines[region["startLine"] - 1]
    start, end = region["startColumn"] - 1, region["endColumn"] - 1
    lines[region["startLine"] - 1] = (
        line[:start] + replacement["insertedContent"]["text"] + line[end:]
    )
    return "".join(lines)


@pytest.mark.parametrize(
    ("name", "text", "written"),
    [
        (
            "list.html",
            '<p>📘 <a href="{url}">A</a> (keep)</p>\n',
            "https://a.example/x?a=1&amp;b=2",
        ),
        ("list.md", "- 📘 [A]({url}) (keep)\n", "https://a.example/x?a=1\\&b=ü"),
        ("list.md", "- 📘 [A](<{url}>) (keep)\n", "https://a.example/x?a=1&b=2"),
    ],
)
def test_a_fix_replaces_the_url_as_written_and_nothing_else(
    tmp_path: Path, name: str, text: str, written: str
) -> None:
    """The deleted region is the URL as the document writes it (`&amp;`, `\\&`), counted in
    code points as the log declares (`columnKind`): applied, the fix leaves the rest intact."""
    path = tmp_path / name
    path.write_text(text.format(url=written), encoding="utf-8")
    (resource,) = load_document_list(path)
    new = "https://b.example/new"
    report = sample_report()
    moved = next(item for item in report.resources if item.suggestion is not None)
    assert moved.suggestion is not None
    placed = moved.model_copy(
        update={
            "url": resource.url,
            "location": resource.location,
            "suggestion": moved.suggestion.model_copy(update={"url": new}),
        }
    )
    log = json.loads(render_sarif(report.model_copy(update={"resources": (placed,)})))
    SARIF.validate(log)
    assert log["runs"][0]["columnKind"] == "unicodeCodePoints"
    (result,) = [r for r in log["runs"][0]["results"] if "id" in r["properties"]]
    (change,) = result["fixes"][0]["artifactChanges"]
    assert applied(path.read_text(encoding="utf-8"), change["replacements"][0]) == text.format(
        url=new
    )


def test_a_new_url_holding_a_secret_is_no_fix() -> None:
    """A fix writes its URL into the list: one whose secret the log hides would write `***`,
    so the result names the finding and offers no fix."""
    report = sample_report()
    moved = next(item for item in report.resources if item.suggestion is not None)
    assert moved.suggestion is not None
    secret = moved.suggestion.model_copy(update={"url": "https://b.example/f?token=abc123"})
    placed = moved.model_copy(
        update={"location": Location(file="a.md", line=1, column=1), "suggestion": secret}
    )
    log = json.loads(render_sarif(report.model_copy(update={"resources": (placed,)})))
    (result,) = [r for r in log["runs"][0]["results"] if "id" in r["properties"]]
    assert "locations" in result
    assert "fixes" not in result
    assert "abc123" not in json.dumps(log)
