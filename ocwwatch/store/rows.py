"""Conversions between the records of `ocwwatch.models` and database rows, and the time format.

Pure functions: no connection, no SQL. Times are stored as ISO-8601 UTC text with a "Z".
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_json

from ocwwatch.errors import StoreError
from ocwwatch.models import Counts, LinkCheck, Observation, Run, Validators

Row = dict[str, Any]


def format_time(value: datetime) -> str:
    """An aware datetime as stored: ISO-8601 UTC with microseconds and a "Z"."""
    if value.utcoffset() is None:
        raise StoreError(f"cannot store naive datetime {value.isoformat()}: give it a timezone")
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    if value.utcoffset() is None:
        raise ValueError(f"time {text!r} has no timezone")
    return value.astimezone(UTC)


def dump_json(value: BaseModel | tuple[BaseModel, ...] | None) -> str | None:
    return None if value is None else to_json(value).decode()


def load_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def observation_row(run_id: int, observation: Observation) -> Row:
    return {
        "run_id": run_id,
        "resource_id": observation.id,
        "url": observation.url,
        "final_url": observation.final_url,
        "http_status": observation.http_status,
        "redirects": dump_json(observation.redirects),
        "redirect_kind": observation.redirect_kind,
        "outcome": observation.outcome.value,
        "metadata": dump_json(observation.metadata),
        "promises": dump_json(observation.promises),
        "changes": dump_json(observation.changes),
        "suggestion": dump_json(observation.suggestion),
        "error": observation.error,
        "not_modified": int(observation.not_modified),
        "observed_at": format_time(observation.observed_at),
    }


def observation_from_row(row: Row) -> Observation:
    values = {key: row[key] for key in ("url", "final_url", "http_status", "redirect_kind")}
    values |= {key: load_json(row[key]) for key in ("redirects", "promises", "changes")}
    return Observation.model_validate(
        values
        | {
            "id": row["resource_id"],
            "outcome": row["outcome"],
            "metadata": load_json(row["metadata"]),
            "suggestion": load_json(row["suggestion"]),
            "error": row["error"],
            "not_modified": bool(row["not_modified"]),
            "observed_at": parse_time(row["observed_at"]),
        }
    )


def link_check_row(run_id: int, check: LinkCheck) -> Row:
    first_failed_at = check.first_failed_at and format_time(check.first_failed_at)
    return {
        "run_id": run_id,
        "url": check.url,
        "found_on": json.dumps(check.found_on, ensure_ascii=False),
        "state": check.state.value,
        "http_status": check.http_status,
        "final_url": check.final_url,
        "first_failed_at": first_failed_at,
        "failed_runs": check.failed_runs,
        "detail": check.detail,
        "suggestion": dump_json(check.suggestion),
        "kind": check.kind.value if check.kind is not None else None,
        "redirects": dump_json(check.redirects),
        "anchors": dump_json(check.anchors),
        "elements": dump_json(check.found_as),
        "found_on_count": check.found_on_count,
    }


def link_check_document(table: str = "", *, pages: bool = True, anchors: bool = True) -> str:
    """SQL for a `link_checks` row (of `table`, an alias) as one JSON document, `document`,
    for `link_check_from_row`. Without `pages`, where it was found is left out (found_on,
    anchors, elements); without `anchors`, its anchors.

    SQLite puts the document together from the columns, JSON ones as they are, and
    pydantic-core reads it in one pass: json.loads of five columns and a validation of the
    dicts took twice as long, and a deep run's report reads back tens of thousands (issue 15).
    """
    c = f"{table}." if table else ""
    empty = "json('[]')"
    return f"""json_object(
    'url', {c}url, 'state', {c}state, 'http_status', {c}http_status,
    'final_url', {c}final_url, 'first_failed_at', {c}first_failed_at,
    'failed_runs', {c}failed_runs, 'detail', {c}detail, 'suggestion', {_json(c + "suggestion")},
    'kind', {c}kind, 'redirects', {_json(c + "redirects")},
    'found_on', {_json(c + "found_on") if pages else empty},
    'anchors', {_json(c + "anchors") if pages and anchors else empty},
    'found_as', {_json(c + "elements") if pages else empty},
    'found_on_count', {f"{c}found_on_count" if pages else "NULL"}
) AS document"""


def _json(column: str) -> str:
    """A JSON column as JSON in the document, or, when it is not JSON (edited by hand), as a
    string, which the check's model refuses for that row: SQLite's `json()` would fail the
    whole read instead, naming no row."""
    return f"iif(json_valid({column}), json({column}), {column})"


def link_check_from_row(row: Row) -> LinkCheck:
    """The check a row selected with `link_check_document` holds."""
    check = LinkCheck.model_validate_json(row["document"])
    if check.first_failed_at is not None and check.first_failed_at.utcoffset() is None:
        raise ValueError(f"time {check.first_failed_at.isoformat()!r} has no timezone")
    return check


def validators_from_row(row: Row) -> Validators:
    return Validators(etag=row["etag"], last_modified=row["last_modified"])


def run_from_row(row: Row) -> Run:
    counts = Counts.model_validate_json(row["counts"]) if row["counts"] else Counts()
    return Run.model_validate(
        {
            "id": row["id"],
            "started_at": parse_time(row["started_at"]),
            "finished_at": parse_time(row["finished_at"]),
            "offline": bool(row["offline"]),
            "counts": counts,
        }
    )
