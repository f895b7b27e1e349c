"""Page text made inert for every output: the one set of characters ocwwatch strips before text
taken from pages, headers or URLs reaches a terminal, a log line or a report (issue 10).

Pure functions of text; the renderers add their own escaping (HTML, Markdown) on top.
"""

from __future__ import annotations

import re

# Terminal escape sequences (CSI, OSC, and two-byte ESC forms, and the one-byte C1 CSI and OSC
# introducers), removed whole so that no "[31m" residue is left once the ESC byte is gone.
ESCAPE_SEQUENCE = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-_])"
    r"|\x9b[0-?]*[ -/]*[@-~]|\x9d[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
)
LINE_BREAKS = re.compile(r"[\t\n\v\f\r\x85\u2028\u2029]")
# C0 controls but tab and newline, DEL, and C1: what makes a terminal act rather than show.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# The bidi marks and overrides that can make text read differently than it is.
BIDI = re.compile(r"[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SPACES = re.compile(r" {2,}")


def for_terminal(text: str) -> str:
    """Control characters (escape sequences' ESC included) and bidi marks removed; lines kept."""
    return BIDI.sub("", CONTROL.sub("", text))


def one_line(value: object) -> str:
    """One line of plain text: escape sequences and control characters gone, spaces collapsed."""
    text = ESCAPE_SEQUENCE.sub("", str(value))
    text = for_terminal(LINE_BREAKS.sub(" ", text))
    return _SPACES.sub(" ", text).strip()
