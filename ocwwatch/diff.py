"""What changed: an observation against the curated baseline, and against the previous run.

Pure functions over records. Baseline drift covers only what the list promises (keys it has);
the previous run covers everything the page says about itself. No I/O, no clock.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

from ocwwatch.models import (
    BASELINE_LISTS,
    BASELINE_SCALARS,
    Against,
    Change,
    ChangeKind,
    Expected,
    Metadata,
    Observation,
    PageKind,
    Promise,
    PromiseCheck,
)

PREVIOUS_SCALARS = ("title", "course_number", "term", "content_type")
# A file's identity; for an HTML page these change with every byte and would only be noise.
FILE_IDENTITY = ("size_bytes", "sha256", "pages")
PREVIOUS_LISTS = ("level", "instructors", "departments", "topics", "units", "resource_types")


def check_promises(
    promises: Sequence[Promise],
    resource_types: Sequence[str],
    missing_phrases: Mapping[str, Sequence[str]],
) -> tuple[PromiseCheck, ...]:
    """Decide which promises hold, given the page's resource types and the phrases not found.

    `missing_phrases` maps a promise's text to the phrases its page lacks (or, when the page
    could not be read, to every phrase).
    """
    present = {name.casefold() for name in resource_types}
    checks = []
    for promise in promises:
        missing = [name for name in promise.resource_types if name.casefold() not in present]
        missing += list(missing_phrases.get(promise.text, ()))
        checks.append(PromiseCheck(text=promise.text, holds=not missing, missing=tuple(missing)))
    return tuple(checks)


def diff_baseline(
    expected: Expected, metadata: Metadata, promises: Sequence[PromiseCheck]
) -> list[Change]:
    """Drift from the curated list: every promised field that the page no longer says."""
    changes = []
    for name in BASELINE_SCALARS:
        wanted = getattr(expected, name)
        if wanted is not None:
            changes += diff_scalar(name, wanted, getattr(metadata, name), Against.BASELINE)
    for name in BASELINE_LISTS:
        wanted = getattr(expected, name)
        if wanted is not None:
            changes += diff_list(name, wanted, getattr(metadata, name), Against.BASELINE)
    if expected.min_bytes is not None and (metadata.size_bytes or 0) < expected.min_bytes:
        changes.append(
            Change(
                field="size_bytes",
                kind=ChangeKind.CHANGED,
                before=f">= {expected.min_bytes}",
                after=_text(metadata.size_bytes),
                against=Against.BASELINE,
            )
        )
    return changes + diff_promises(expected.promises, promises)


def diff_promises(promised: Sequence[Promise], checks: Sequence[PromiseCheck]) -> list[Change]:
    """A promise whose truth differs from what the baseline records (`holds`)."""
    observed = {check.text: check.holds for check in checks}
    changes = []
    for promise in promised:
        holds = observed.get(promise.text)
        if holds is None or holds == promise.holds:
            continue
        kind = ChangeKind.ADDED if holds else ChangeKind.REMOVED
        before, after = (None, promise.text) if holds else (promise.text, None)
        changes.append(
            Change(
                field="promises", kind=kind, before=before, after=after, against=Against.BASELINE
            )
        )
    return changes


def diff_previous(previous: Observation, current: Observation) -> list[Change]:
    """What changed since the previous run: where the link lands and what the page says."""
    changes = diff_scalar("final_url", previous.final_url, current.final_url, Against.PREVIOUS)
    before, after = previous.metadata, current.metadata
    scalars: tuple[str, ...] = PREVIOUS_SCALARS
    if before.page_kind is PageKind.PDF and after.page_kind is PageKind.PDF:
        scalars = PREVIOUS_SCALARS + FILE_IDENTITY
    for name in scalars:
        changes += diff_scalar(name, getattr(before, name), getattr(after, name), Against.PREVIOUS)
    for name in PREVIOUS_LISTS:
        changes += diff_list(name, getattr(before, name), getattr(after, name), Against.PREVIOUS)
    changes += diff_text(before, after)
    was = {check.text: check.holds for check in previous.promises}
    for check in current.promises:
        if check.text in was and was[check.text] != check.holds:
            kind = ChangeKind.ADDED if check.holds else ChangeKind.REMOVED
            before_text, after_text = (None, check.text) if check.holds else (check.text, None)
            changes.append(
                Change(
                    field="promises",
                    kind=kind,
                    before=before_text,
                    after=after_text,
                    against=Against.PREVIOUS,
                )
            )
    return changes


TEXT_CONTEXT_WORDS = 6  # words shown around the first change of a page's text
TEXT_SHOWN_CHARS = 160


def diff_text(before: Metadata, after: Metadata) -> list[Change]:
    """A plain page whose main text changed: the first change, in a few words either way."""
    if not before.text_sha256 or not after.text_sha256 or before.text_sha256 == after.text_sha256:
        return []
    old, new = (before.main_text or "").split(), (after.main_text or "").split()
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    changed = [op for op in matcher.get_opcodes() if op[0] != "equal"]
    if not changed:  # the change lies past the characters kept
        return [Change(field="text", kind=ChangeKind.CHANGED, against=Against.PREVIOUS)]
    _tag, i1, i2, j1, j2 = changed[0]
    lead = max(0, i1 - TEXT_CONTEXT_WORDS)
    shown_before = " ".join(old[lead : i2 + TEXT_CONTEXT_WORDS])[:TEXT_SHOWN_CHARS]
    shown_after = " ".join(new[max(0, j1 - TEXT_CONTEXT_WORDS) : j2 + TEXT_CONTEXT_WORDS])
    return [
        Change(
            field="text",
            kind=ChangeKind.CHANGED,
            before=shown_before,
            after=shown_after[:TEXT_SHOWN_CHARS],
            against=Against.PREVIOUS,
        )
    ]


def diff_scalar(name: str, before: object, after: object, against: Against) -> list[Change]:
    """One field's change, or nothing when the values agree."""
    if before == after:
        return []
    kind = ChangeKind.CHANGED
    if before is None:
        kind = ChangeKind.ADDED
    elif after is None:
        kind = ChangeKind.REMOVED
    return [
        Change(field=name, kind=kind, before=_text(before), after=_text(after), against=against)
    ]


def diff_list(
    name: str, before: Sequence[str], after: Sequence[str], against: Against
) -> list[Change]:
    """Items removed and added, in their own order; a pure reordering is one `changed`."""
    old, new = set(before), set(after)
    changes = [
        Change(field=name, kind=ChangeKind.REMOVED, before=item, against=against)
        for item in before
        if item not in new
    ]
    changes += [
        Change(field=name, kind=ChangeKind.ADDED, after=item, against=against)
        for item in after
        if item not in old
    ]
    if not changes and list(before) != list(after):
        changes.append(
            Change(
                field=name,
                kind=ChangeKind.CHANGED,
                before=" | ".join(before),
                after=" | ".join(after),
                against=against,
            )
        )
    return changes


def _text(value: object) -> str | None:
    return None if value is None else str(value)
