"""Text rendered in pieces (issue 15): a deep run's report is written out as it is made, so
that no renderer holds a page of tens of thousands of links whole. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

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
