"""The list as a document: which files are documents, reading one, and where a link stands in
it (line and column from an offset). Pure but for reading the file; no parsing here."""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ocwwatch.errors import ConfigError

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})


HTML_SUFFIXES = frozenset({".html", ".htm"})


DOCUMENT_SUFFIXES = MARKDOWN_SUFFIXES | HTML_SUFFIXES


# Where a URL stands decides how a new one is written there: a Markdown link destination or
# reference definition (backslash escapes and entities apply), an autolink `<...>` (they do
# not), an HTML attribute value (character references apply).
LinkForm = Literal["destination", "autolink", "html"]


@dataclass(frozen=True)
class DocumentLink:
    """One http(s) link of the document outside code: its URL, its text, where it stands.

    `length` is how many characters the URL takes in the document: not the URL's length when
    it was written with character references (`&amp;`) inside an HTML attribute, or with
    backslash escapes or characters the parser percent-encodes in a Markdown destination.
    """

    url: str
    text: str
    line: int  # 1-based
    column: int  # 1-based, of the URL's first character
    offset: int  # of the URL's first character in the document
    length: int
    form: LinkForm = "destination"  # how a new URL must be written in its place


def is_document(path: Path) -> bool:
    return path.suffix.lower() in DOCUMENT_SUFFIXES


def is_html(path: Path) -> bool:
    return path.suffix.lower() in HTML_SUFFIXES


def read_document(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the list: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: is not UTF-8 text") from exc


def line_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in re.finditer("\n", text)]


def line_and_column(starts: Sequence[int], offset: int) -> tuple[int, int]:
    line = bisect.bisect_right(starts, offset)
    return line, offset - starts[line - 1] + 1
