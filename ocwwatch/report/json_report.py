"""The JSON report: the machine-readable contract of DESIGN.md ("Contracts", "JSON report").

It owns the report's key set and its timestamp format, which the other renderers reuse. It must
not add, rename or drop contract keys, and it does no I/O: the caller writes the string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from pydantic_core import PydanticSerializationError, to_json

from ocwwatch import __version__
from ocwwatch.models import (
    Change,
    FoundAs,
    Hop,
    LinkCheck,
    Metadata,
    Observation,
    PromiseCheck,
    Report,
    Run,
    Suggestion,
)
from ocwwatch.report.pieces import batched, redacted_values
from ocwwatch.urls import may_hold_secret

# The metadata fields a report carries; `nav` and the extractor's internals stay out.
METADATA_FIELDS: tuple[str, ...] = (
    "title",
    "course_number",
    "term",
    "level",
    "instructors",
    "departments",
    "topics",
    "units",
    "resource_types",
    "content_type",
    "size_bytes",
    "sha256",
    "pages",
    "page_kind",
    # What the extractor read of the page's place in its site (issue 12): users and tests need
    # not read the database to see it.
    "nav",
    "parent_url",
    "file_url",
    "canonical_url",
)

JsonObject = dict[str, Any]

# The report's contract version (issue 13): the minor grows when keys are added, the major only
# when one is renamed or dropped. The JSON Schema is `ocwwatch/schemas/report.schema.json`.
SCHEMA_VERSION = "1.1"

# json.dumps(ensure_ascii=False) escapes C0 controls only. DEL, C1 controls (0x9b is CSI on
# many terminals), line separators and bidi overrides are written as \uXXXX too, so the report
# is inert on a terminal and the data still round-trips unchanged.
_INERT_ESCAPES = re.compile(r"[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


# How `json.dumps(..., indent=2)` ends a document whose last key is an empty "links" list, and
# how deep it indents each entry of that list.
EMPTY_LINKS_END = "[]\n}"
LINK_INDENT = "    "


def format_timestamp(moment: datetime | None) -> str | None:
    """ISO-8601 in UTC with a trailing "Z"; a naive datetime is taken to be UTC already."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def render_json(report: Report) -> str:
    """The whole report as indented JSON with a stable key order and a trailing newline."""
    return "".join(json_parts(report))


def json_parts(report: Report) -> Iterator[str]:
    """`render_json`'s text in pieces, so that it can be written out without being held whole;
    no secret a URL carries is in it (`_encoded`). The characters `_INERT_ESCAPES` names occur
    only inside strings in JSON text, so they are escaped a piece at a time, not a link at a
    time."""
    return (inert_json(piece) for piece in batched(_json_pieces(report)))


def _json_pieces(report: Report) -> Iterator[str]:
    """The JSON text, a piece at a time.

    The links are encoded one by one and spliced in, as `json.dumps` would have laid them out:
    with `indent` it encodes in Python, and a deep run's twenty thousand links in one call
    held millions of small strings at once.
    """
    document: JsonObject = {
        "schema_version": SCHEMA_VERSION,
        "ocwwatch_version": __version__,
        "run": _run(report.run),
        "resources": [_resource(observation) for observation in report.resources],
        "links": [],
    }
    text = _encoded(document, "")
    if not report.links:
        yield text + "\n"
        return
    yield text.removesuffix(EMPTY_LINKS_END) + "[\n"
    for number, link in enumerate(report.links.listed()):  # it lists no anchors
        yield (",\n" if number else "") + _encoded(_link(link), LINK_INDENT)
    yield "\n  ]\n}\n"


def _encoded(value: JsonObject, prefix: str) -> str:
    """`value` as `json.dumps(value, indent=2, ensure_ascii=False)` writes it, every line after
    `prefix`, with no secret a URL in it carries (`redact_secrets`, on the values: the encoded
    text would not read as they do).

    pydantic-core's encoder writes the same text for the report's plain values about ten times
    as fast as the standard library's, which encodes indented JSON in Python (a deep run's
    twenty thousand links, issue 15). A string it refuses (a lone surrogate) is left to the
    standard library, so such a report fails where it always did: writing it out as UTF-8.
    Nearly every link holds no `@` and no secret parameter, and is encoded once.
    """
    text = _json_text(value)
    if may_hold_secret(text):
        text = _json_text(redacted_values(value))
    # JSON strings hold no raw line break, so every "\n" here ends a line of the layout.
    return prefix + text.replace("\n", "\n" + prefix)


def _json_text(value: JsonObject) -> str:
    try:
        return to_json(value, indent=2).decode()
    except PydanticSerializationError:
        return json.dumps(value, indent=2, ensure_ascii=False)


def inert_json(text: str) -> str:
    """JSON text with the characters `_INERT_ESCAPES` names written as `\\uXXXX`."""
    return _INERT_ESCAPES.sub(_escape_character, text)


def _escape_character(match: re.Match[str]) -> str:
    """A character as its JSON escape; these never occur outside strings in JSON text."""
    return f"\\u{ord(match.group()):04x}"


def _run(run: Run) -> JsonObject:
    return {
        "id": run.id,
        "started_at": format_timestamp(run.started_at),
        "finished_at": format_timestamp(run.finished_at),
        "offline": run.offline,
        "counts": run.counts.model_dump(mode="json"),
        "notes": list(run.notes),  # what cut the run short (a deep crawl's link caps)
        "replay": run.replay,  # the recorded scenario that answered, for a replay run (issue 16)
    }


def _resource(observation: Observation) -> JsonObject:
    return {
        "id": observation.id,
        "url": observation.url,
        "name": observation.name,
        "location": str(observation.location) if observation.location else None,
        "final_url": observation.final_url,
        "http_status": observation.http_status,
        "redirects": [_hop(hop) for hop in observation.redirects],
        "redirect_kind": observation.redirect_kind,
        "outcome": observation.outcome.value,
        "metadata": _metadata(observation.metadata),
        "changes": [_change(change) for change in observation.changes],
        "promises": [_promise(promise) for promise in observation.promises],
        "suggestion": _suggestion(observation.suggestion),
        "error": observation.error,
    }


def _link(link: LinkCheck) -> JsonObject:
    return {
        "url": link.url,
        "found_on": list(link.found_on),
        "found_on_count": link.pages_found_on,
        "http_status": link.http_status,
        "state": link.state.value,
        "final_url": link.final_url,
        "first_failed_at": format_timestamp(link.first_failed_at),
        "failed_runs": link.failed_runs,
        "suggestion": _suggestion(link.suggestion),
        # What it is, in a reader's words, and the elements it was found in (issue 14).
        "what": link.noun,
        "found_as": [_found_as(found) for found in link.found_as],
    }


def _found_as(found: FoundAs) -> JsonObject:
    return {"element": found.element, "kind": found.kind.value, "what": found.noun}


def _hop(hop: Hop) -> JsonObject:
    return {"url": hop.url, "status": hop.status}


def _metadata(metadata: Metadata) -> JsonObject:
    dumped = metadata.model_dump(mode="json", include=set(METADATA_FIELDS))
    return {name: dumped[name] for name in METADATA_FIELDS}


def _change(change: Change) -> JsonObject:
    return {
        "field": change.field,
        "kind": change.kind.value,
        "before": change.before,
        "after": change.after,
        "against": change.against.value,
    }


def _promise(promise: PromiseCheck) -> JsonObject:
    return {"text": promise.text, "holds": promise.holds, "missing": list(promise.missing)}


def _suggestion(suggestion: Suggestion | None) -> JsonObject | None:
    if suggestion is None:
        return None
    return {"url": suggestion.url, "reason": suggestion.reason}
