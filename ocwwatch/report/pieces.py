"""Text rendered in pieces (issue 15): a deep run's report is written out as it is made, so
that no renderer holds a page of tens of thousands of links whole; and what every rendering
passes through last, so that no secret a URL carries is published. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

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
