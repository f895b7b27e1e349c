"""Edits of the curated list in place: `baseline accept` (what a run observed), `list add` and
`list remove` (issue 16).

Owns tomlkit: the list keeps its comments, order and layout; only what is edited changes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Array, InlineTable, Table
from tomlkit.toml_document import TOMLDocument

from ocwwatch.config.load import parse_resources
from ocwwatch.errors import ConfigError, FileWriteError
from ocwwatch.files import rewrite_file
from ocwwatch.models import (
    BASELINE_LISTS,
    BASELINE_SCALARS,
    Metadata,
    Observation,
    Outcome,
    Resource,
)
from ocwwatch.urls import InvalidURLError, parse_url

log = logging.getLogger(__name__)


def accept_baseline(
    path: Path, observations: Mapping[str, Observation], ids: Collection[str] = ()
) -> tuple[list[str], list[str]]:
    """Rewrite the curated list so that it says what was observed; return what changed, and
    the entries left alone because the list no longer has the URL the run observed.

    Only keys the list already has are updated, so the baseline never grows promises nobody
    made. A dead resource takes only its suggested URL: its metadata is of the wrong page. An
    entry whose URL was edited since the run is not the one observed: it keeps the edit, as a
    document list's does. Comments, order and formatting survive (tomlkit); the file is
    replaced atomically, keeping its mode, owner and, if the list is a symlink, the link (the
    file it points to is rewritten).
    """
    document = _read_document(path)
    unknown = set(ids) - set(observations)
    if unknown:
        raise ConfigError(f"{path}: no observation for id(s) {', '.join(sorted(unknown))}")
    changed: list[str] = []
    skipped: list[str] = []
    for table in _entries(document):
        observation = observations.get(str(table.get("id")))
        if observation is None or (ids and observation.id not in ids):
            continue
        if table.get("url") != observation.url:
            skipped.append(
                f"{observation.id}: the list has {table.get('url')} since the run observed "
                f"{observation.url}; not changed (check again to judge the new URL)"
            )
            continue
        changed += [f"{observation.id}: {line}" for line in _accept_one(table, observation)]
    _write_list(path, tomlkit.dumps(document))
    return changed, skipped


def add_entry(path: Path, resource: Resource) -> None:
    """Append `resource` to the list as a new `[[resources]]` table at the end; every byte
    before it stays. A URL or an id the list already has is refused."""
    text = _read_text(path)
    for listed in parse_resources(text, source=str(path)):
        if listed.url == resource.url:
            raise ConfigError(f"{path}: {resource.url} is already listed, as {listed.id!r}")
        if listed.id == resource.id:
            raise ConfigError(
                f"{path}: id {resource.id!r} is taken ({listed.url}); choose another with --id"
            )
    table = tomlkit.table()
    for key in ("id", "name", "url", "kind"):
        value = getattr(resource, key)
        if value is not None:
            table.add(key, str(value))
    entries = tomlkit.aot()
    entries.append(table)
    addition = tomlkit.document()
    addition.append("resources", entries)
    _write_list(path, text.rstrip("\n") + "\n\n" + tomlkit.dumps(addition))


def remove_entry(path: Path, resource_id: str) -> str:
    """Take the entry `resource_id` (with its expectations) out of the list; return its URL.
    Comments above it stay: tomlkit counts them as the end of the entry before."""
    document = _read_document(path)
    tables = _entries(document)
    found = [index for index, table in enumerate(tables) if table.get("id") == resource_id]
    entries = document.get("resources")
    if not isinstance(entries, AoT | Array) or not found:
        raise ConfigError(f"{path}: no entry with id {resource_id!r}")
    url = str(tables[found[0]].get("url"))
    del entries[found[0]]
    _write_list(path, tomlkit.dumps(document))
    return url


def entry_id(url: str, name: str | None) -> str:
    """An id for a new entry: from its name, else from the URL's last path segment or host."""
    if name:
        base = name
    else:
        try:
            parsed = parse_url(url)
        except InvalidURLError:
            parsed = None
        path = parsed.request_url.split("?", 1)[0] if parsed is not None else url
        segments = [part for part in path.split("/")[3:] if part]
        base = segments[-1] if segments else (parsed.host if parsed is not None else url)
    slug = _NOT_IN_ID.sub("-", base.lower()).strip("-._")[:48].strip("-._")
    return slug or "entry"


_NOT_IN_ID = re.compile(r"[^a-z0-9._]+")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read for rewriting: {exc}") from exc


def _read_document(path: Path) -> TOMLDocument:
    try:
        return tomlkit.parse(_read_text(path))
    except TOMLKitError as exc:
        raise ConfigError(f"{path}: cannot be read for rewriting: {exc}") from exc


def _write_list(path: Path, text: str) -> None:
    """Replace the list with `text` once it reads as a valid list (never a broken one)."""
    parse_resources(text, source=str(path))
    try:
        rewrite_file(path, text.encode("utf-8"), what="the list")
    except FileWriteError as exc:  # the list is configuration: unwritable, like unreadable, is 2
        raise ConfigError(str(exc)) from exc


Entry = Table | InlineTable


def _entries(document: TOMLDocument) -> list[Entry]:
    """The list's entries as written: `[[resources]]` tables, or the inline tables of
    `resources = [{...}]`, which the loader reads alike (so must every edit)."""
    entries = document.get("resources")
    if isinstance(entries, AoT):
        return [table for table in entries.body if isinstance(table, Table)]
    if isinstance(entries, Array):
        return [table for table in entries if isinstance(table, InlineTable)]
    return []


def _accept_one(table: Entry, observation: Observation) -> list[str]:
    changed = []
    if observation.suggestion and table.get("url") != observation.suggestion.url:
        changed.append(f"url {table.get('url')} -> {observation.suggestion.url}")
        table["url"] = observation.suggestion.url
    expected = table.get("expected")
    # A successor found by search carries what its page showed; the listed URL's answer does
    # not describe it (a dead page's metadata is of the wrong page).
    found = observation.suggestion.metadata if observation.suggestion else None
    dead = observation.outcome is Outcome.DEAD or found is not None
    if not isinstance(expected, Table | InlineTable) or (dead and found is None):
        return changed
    changed += _accept_fields(expected, found or observation.metadata)
    promises = expected.get("promises")
    if isinstance(promises, AoT):
        changed += _accept_promises(promises.body, observation)
    elif isinstance(promises, Array):
        inline = [promise for promise in promises if isinstance(promise, InlineTable)]
        changed += _accept_promises(inline, observation)
    return changed


def _accept_fields(expected: Entry, metadata: Metadata) -> list[str]:
    changed = []
    for name in BASELINE_SCALARS + BASELINE_LISTS:
        if name not in expected:
            continue
        value = getattr(metadata, name)
        new = list(value) if isinstance(value, tuple) else value
        if new is None or new == expected[name]:
            continue
        changed.append(f"expected.{name} {expected[name]!r} -> {new!r}")
        expected[name] = new
    return changed


def _accept_promises(promises: Sequence[Entry], observation: Observation) -> list[str]:
    holds = {check.text: check.holds for check in observation.promises}
    changed = []
    for promise in promises:
        text = str(promise.get("text"))
        if text not in holds or bool(promise.get("holds", True)) == holds[text]:
            continue
        changed.append(f"promise {text!r} holds = {str(holds[text]).lower()}")
        if holds[text]:
            del promise["holds"]
        elif isinstance(promise, InlineTable):
            promise["holds"] = False
        else:
            set_after_last_key(promise, "holds", False)
    return changed


def set_after_last_key(table: Table, key: str, value: bool) -> None:
    """Add a key after the table's last key, not after the comments that trail it.

    tomlkit appends at the very end of a table's body, which puts the key below a comment that
    introduces the next table (python-poetry/tomlkit, comments belong to the preceding table).
    """
    body = table.value.body
    last = max((i for i, (k, _item) in enumerate(body) if k is not None), default=None)
    if last is None or key in table:
        table[key] = value
        return
    # tomlkit has no public insert-at; `_insert_at` is in every release from 0.7 to 0.15, while
    # `_insert_after` went away in 0.15 (the range in pyproject.toml pins what was tested).
    table.value._insert_at(last + 1, key, value)


def rewrite_sidecar_urls(path: Path, moves: Mapping[str, str]) -> list[str]:
    """Follow a document's rewritten URLs in its sidecar file: an entry found by `url` keeps
    naming its link. Comments and layout stay (tomlkit); returns what changed."""
    if not moves or not path.exists():
        return []
    try:
        document = tomlkit.parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, TOMLKitError) as exc:
        raise ConfigError(f"{path}: cannot be read for rewriting: {exc}") from exc
    changed = []
    for entry in _entries(document):
        old = entry.get("url")
        if isinstance(old, str) and old in moves:
            entry["url"] = moves[old]
            changed.append(f"{path.name}: url {old} -> {moves[old]}")
    if changed:
        try:
            rewrite_file(path, tomlkit.dumps(document).encode("utf-8"), what="the list")
        except FileWriteError as exc:
            raise ConfigError(str(exc)) from exc
    return changed
