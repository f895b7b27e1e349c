"""The SARIF 2.1.0 report (issue 13): the findings as code scanning reads them.

One result per finding, under a stable rule per finding kind, pointing into the document list
(`physicalLocation`: the entry's URL, line and column) or, for a link found by `--deep`, at the
page it was found on. `partialFingerprints` come from the rule and the entry (or link), not from
the run, so code scanning tracks a finding from one run to the next; where the fix is a new URL
in the document, the result carries it as a SARIF `fix` (the URL's characters replaced).

Pure, like every renderer: a Report in, a string out.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from ocwwatch import __version__
from ocwwatch.models import LinkCheck, LinkState, Location, Observation, Outcome, Report
from ocwwatch.report.digest import describe_link
from ocwwatch.report.json_report import format_timestamp, inert_json
from ocwwatch.report.pieces import batched, redacted_values
from ocwwatch.text import one_line
from ocwwatch.urls import redact_secrets

SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
HELP_URI = "https://github.com/ocwwatch/ocwwatch#how-it-judges"
FINGERPRINT = "ocwwatchFinding/v1"

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    level: str  # SARIF's: error, warning, note
    text: str


# Stable ids: code scanning keys alerts on them; never renumber, only add.
RESOURCE_RULES: dict[Outcome, Rule] = {
    Outcome.DEAD: Rule("OCW001", "DeadEntry", "error", "A listed resource no longer answers."),
    Outcome.REPLACED: Rule(
        "OCW002", "ReplacedEntry", "error", "A listed resource now leads to another course."
    ),
    Outcome.MOVED: Rule("OCW003", "MovedEntry", "warning", "A listed resource moved."),
    Outcome.CHANGED: Rule(
        "OCW004", "ChangedEntry", "warning", "What a listed resource offers changed."
    ),
    Outcome.UNKNOWN: Rule("OCW005", "UnjudgedEntry", "note", "A resource could not be judged."),
}
LINK_RULES: dict[LinkState, Rule] = {
    LinkState.DEAD: Rule("OCW101", "DeadLink", "error", "A link inside a watched site is dead."),
    LinkState.SOFT404: Rule(
        "OCW102", "SoftNotFoundLink", "error", "A link answers 200 with a 'not found' page."
    ),
    LinkState.REDIRECTED: Rule(
        "OCW103", "RedirectedLink", "warning", "A link inside a watched site moved."
    ),
    LinkState.BLOCKED: Rule(
        "OCW104", "BlockedLink", "note", "A link's host refused an automated check."
    ),
    LinkState.INVALID: Rule(
        "OCW105", "InvalidLink", "error", "A link no browser can follow (its URL does not parse)."
    ),
    LinkState.MISSING_FRAGMENT: Rule(
        "OCW106", "MissingFragment", "warning", "A link's #fragment names no id on its page."
    ),
}
RULES: tuple[Rule, ...] = (*RESOURCE_RULES.values(), *LINK_RULES.values())
_INDEX = {rule.id: index for index, rule in enumerate(RULES)}


def render_sarif(report: Report) -> str:
    """The run's findings as one SARIF log with one run, indented, with a trailing newline."""
    return "".join(sarif_parts(report))


def sarif_parts(report: Report) -> Iterator[str]:
    """`render_sarif`'s text in pieces (`batched`): the results are held, as they are only the
    findings, but their text is not made whole at once."""
    results = [
        _resource_result(item) for item in report.resources if item.outcome in RESOURCE_RULES
    ]
    results += [_link_result(link) for link in report.links.where(LINK_RULES)]
    run = report.run
    log: JsonObject = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "ocwwatch",
                        "version": __version__,
                        "informationUri": "https://github.com/ocwwatch/ocwwatch",
                        "rules": [_rule(rule) for rule in RULES],
                    }
                },
                "automationDetails": {"id": f"ocwwatch/run-{run.id}"},
                # Columns count characters as Python and the list parsers do, not UTF-16 units.
                "columnKind": "unicodeCodePoints",
                "invocations": [
                    {
                        "executionSuccessful": not run.offline,
                        "startTimeUtc": format_timestamp(run.started_at),
                        **_end_time(report),
                    }
                ],
                "results": results,
                "properties": {
                    "counts": run.counts.model_dump(mode="json"),
                    "offline": run.offline,
                },
            }
        ],
    }
    # Secrets are hidden in the values, not the encoded text (`redacted_values`); what would
    # make a terminal act or text read otherwise is escaped as in the JSON report.
    encoder = json.JSONEncoder(indent=2, ensure_ascii=False)
    text = itertools.chain(encoder.iterencode(redacted_values(log)), ("\n",))
    return (inert_json(piece) for piece in batched(text))


def _end_time(report: Report) -> JsonObject:
    finished = format_timestamp(report.run.finished_at)
    return {"endTimeUtc": finished} if finished else {}


def _rule(rule: Rule) -> JsonObject:
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.text},
        "helpUri": HELP_URI,
        "defaultConfiguration": {"level": rule.level},
    }


def _resource_result(item: Observation) -> JsonObject:
    rule = RESOURCE_RULES[item.outcome]
    name = one_line(item.name or item.id)
    message = f"{name}: {item.outcome.value}"
    if item.http_status is not None:
        message += f" (HTTP {item.http_status})"
    if item.suggestion is not None:
        message += (
            f"; fix: replace {item.url} with {item.suggestion.url} ({item.suggestion.reason})"
        )
    fields = sorted({change.field for change in item.changes})
    if fields:
        message += f"; changed: {', '.join(fields)}"
    result = _result(rule, one_line(message), f"resource:{item.id}")
    result["properties"] = {"id": item.id, "url": item.url, "outcome": item.outcome.value}
    if item.location is not None:
        length = item.location.length or len(item.url)
        result["locations"] = [_document_location(item.location, length)]
        new_url = item.suggestion.url if item.suggestion is not None else None
        if new_url is not None and redact_secrets(new_url) == new_url:  # no `***` written in
            result["fixes"] = [_fix(item.location, length, new_url)]
    return result


def _link_result(link: LinkCheck) -> JsonObject:
    rule = LINK_RULES[link.state]
    status = f" (HTTP {link.http_status})" if link.http_status is not None else ""
    described = describe_link(link)
    message = f"{described[:1].upper()}{described[1:]}: {link.state.value}{status}"
    if link.suggestion is not None:
        message += f"; fix: replace with {link.suggestion.url}"
    result = _result(rule, one_line(message), f"link:{link.url}")
    result["properties"] = {"url": link.url, "state": link.state.value, "what": link.noun}
    if link.found_on:
        result["locations"] = [
            {"physicalLocation": {"artifactLocation": {"uri": page}}} for page in link.found_on[:1]
        ]
    return result


def _result(rule: Rule, message: str, key: str) -> JsonObject:
    fingerprint = hashlib.sha256(f"{rule.id}\n{key}".encode()).hexdigest()[:32]
    return {
        "ruleId": rule.id,
        "ruleIndex": _INDEX[rule.id],
        "level": rule.level,
        "message": {"text": message},
        "partialFingerprints": {FINGERPRINT: fingerprint},
    }


def _artifact(location: Location) -> JsonObject:
    """A relative path stays relative to the checkout (`%SRCROOT%`), as code scanning wants;
    an absolute one becomes a file URI. Either is a URI reference (SARIF 2.1.0 §3.4.3), so
    percent-encoded: `my list #1.md` is `my%20list%20%231.md` (a bare `#` would start a
    fragment, a `:` in the first segment a scheme)."""
    path = PurePath(location.file)
    if path.is_absolute():
        return {"uri": path.as_uri()}
    return {"uri": quote(path.as_posix(), safe="/"), "uriBaseId": "%SRCROOT%"}


def _region(location: Location, length: int) -> JsonObject:
    return {
        "startLine": location.line,
        "startColumn": location.column,
        "endColumn": location.column + length,
    }


def _document_location(location: Location, length: int) -> JsonObject:
    return {
        "physicalLocation": {
            "artifactLocation": _artifact(location),
            "region": _region(location, length),
        }
    }


def _fix(location: Location, length: int, new_url: str) -> JsonObject:
    return {
        "description": {"text": f"Replace the URL with {new_url}"},
        "artifactChanges": [
            {
                "artifactLocation": _artifact(location),
                "replacements": [
                    {
                        "deletedRegion": _region(location, length),
                        "insertedContent": {"text": new_url},
                    }
                ],
            }
        ],
    }
