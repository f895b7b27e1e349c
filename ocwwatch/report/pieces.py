"""Text rendered in pieces (issue 15): a deep run's report is written out as it is made, so
that no renderer holds a page of tens of thousands of links whole; and what every rendering
passes through last, so that no secret a URL carries is published. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ocwwatch.urls import redact_secrets

# About how much text a piece holds: big enough that writing it costs one call, small enough
# that a report of any size is never in memory at once.
PIECE_CHARS = 1 << 16


def batched(fragments: Iterable[str], size: int = PIECE_CHARS) -> Iterator[str]:
    """The fragments a template or an encoder yields (often a few characters each), joined into
    pieces of at least `size` characters (the last one may be shorter), in order."""
    held: list[str] = []
    count = 0
    for fragment in fragments:
        held.append(fragment)
        count += len(fragment)
        if count >= size:
            yield "".join(held)
            held.clear()
            count = 0
    if held:
        yield "".join(held)


def redacted_values(value: Any) -> Any:
    """A JSON-like value (dicts, lists, tuples, strings, numbers) with `redact_secrets` applied
    to every string in it. Encoded text is not redacted afterwards: an escape's backslash
    (`http:\\u0001...@`) reads as a URL's slash there, and hiding what follows it breaks the
    encoding."""
    if isinstance(value, str):
        return redact_secrets(value)
    if isinstance(value, dict):
        return {key: redacted_values(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redacted_values(item) for item in value]
    return value


def redacted(pieces: Iterable[str]) -> Iterator[str]:
    """The pieces with every secret a URL in them carries hidden (`redact_secrets`), cut anew
    at whitespace: no URL holds any, so none is split between two pieces when it is read."""
    held = ""
    for piece in pieces:
        text = held + piece
        cut = max(text.rfind("\n"), text.rfind(" ")) + 1
        held = text[cut:]
        if cut:
            yield redact_secrets(text[:cut])
    if held:
        yield redact_secrets(held)
