"""A Markdown or HTML document as the list (issue 13): its links are the resources, each with
where it stands (file, line, column), and fixes are written back into the document and nothing
else. Owns markdown-it-py (markdown.py; no other module imports it).

Links are found by the CommonMark parser (with GFM tables), so URLs in code spans and code
blocks are never resources and never rewritten; a link's place is its destination (after
`](`, inside `<...>`, or in its reference definition after `]:`) within the lines the parser
gives its block, never a mention of the URL elsewhere (markdown.py). `<a href>` in an HTML
document, or written as HTML inside Markdown, is found by the standard library's HTML
tokenizer, which reports where each tag starts (anchors.py). Every other byte of the document
survives a rewrite: only the old URL's characters change (rewrite.py).
"""

from ocwwatch.lists.document import (
    DOCUMENT_SUFFIXES,
    HTML_SUFFIXES,
    MARKDOWN_SUFFIXES,
    DocumentLink,
    LinkForm,
    is_document,
    is_html,
    read_document,
)
from ocwwatch.lists.links import find_links
from ocwwatch.lists.resources import infer_kind, load_document_list, resources_of
from ocwwatch.lists.rewrite import Rewrite, rewrite_document

__all__ = [
    "DOCUMENT_SUFFIXES",
    "HTML_SUFFIXES",
    "MARKDOWN_SUFFIXES",
    "DocumentLink",
    "LinkForm",
    "Rewrite",
    "find_links",
    "infer_kind",
    "is_document",
    "is_html",
    "load_document_list",
    "read_document",
    "resources_of",
    "rewrite_document",
]
