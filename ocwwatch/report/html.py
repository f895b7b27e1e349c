"""The HTML report: a self-contained page (inline CSS, no scripts, no external assets).

It owns the Jinja2 environment that every HTML renderer of the package shares: autoescaping
always on, control characters stripped, and only http(s) URLs ever turned into links. It must not
judge anything, and it does no I/O beyond loading its own templates (and caching them
compiled, `template_cache`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemBytecodeCache, PackageLoader, StrictUndefined
from jinja2.bccache import Bucket
from markupsafe import Markup

from ocwwatch.models import (
    SEVERITY,
    Against,
    Change,
    LinkCheck,
    LinkState,
    Observation,
    Outcome,
    PromiseCheck,
    Report,
)
from ocwwatch.report.digest import (
    group_by_page,
    human_time,
    link_counts,
    next_steps,
    resource_counts,
    run_times,
)
from ocwwatch.report.markdown import (
    LINK_FINDINGS,
    PLAIN_ANSWERS,
    broken_promises,
    clean_text,
    redirect_kind,
)
from ocwwatch.report.pieces import batched, redacted

# Whole-string match, so that a URL with spaces or control characters, which a browser would
# rewrite before following, is shown as text rather than linked.
_WEB_URL = re.compile(r"https?://[^\x00-\x20\x7f-\x9f]+", re.IGNORECASE)
_UNSAFE_IN_HREF = re.compile(r"[\x00-\x20\x7f-\x9f]")
MAX_FOUND_ON = 5
# The files beside every report in the reports folder (publish.py writes them there).
INDEX_FILE = "index.html"
FEED_FILE = "feed.xml"
# Links that need nothing, listed in the page up to this many (a deep run finds tens of
# thousands); the JSON report lists them all.
MAX_OTHER_LINKS = 1000
FINE_LINKS = frozenset(LinkState) - frozenset(LINK_FINDINGS)


@dataclass(frozen=True)
class ResourceRow:
    """One resource as the HTML table shows it: the observation and its findings sorted out."""

    item: Observation
    drift: tuple[Change, ...]
    recent: tuple[Change, ...]
    broken: tuple[PromiseCheck, ...]
    redirect_kind: str | None


def is_web_url(value: object) -> bool:
    """Whether `value` is an http(s) URL safe to put in an href as it is."""
    return isinstance(value, str) and _WEB_URL.fullmatch(value) is not None


def is_relative_or_web_url(value: object) -> bool:
    """Whether `value` is a relative reference or an http(s) URL, safe for an href as it is."""
    if not isinstance(value, str) or _UNSAFE_IN_HREF.search(value):
        return False
    return urlsplit(value).scheme.lower() in ("", "http", "https")


class QuietBytecodeCache(FileSystemBytecodeCache):
    """Jinja2's cache of compiled templates, in a folder only this user can write. A cache
    file that does not read, or a folder that cannot be written, costs a compile, never the
    report. Jinja2 checks each file against the template's source and its own and Python's
    versions; the key here also holds this module's own digest, since the environment's
    options (set here) shape the compiled code too."""

    def __init__(self, directory: str) -> None:
        super().__init__(directory)
        self.salt = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        return super().get_cache_key(f"{self.salt}|{name}", filename)

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # garbled: compiled again, and rewritten
            bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def template_cache(environ: Mapping[str, str] = os.environ) -> QuietBytecodeCache | None:
    """Compiled templates kept between runs (`$XDG_CACHE_HOME/ocwwatch/templates`, else
    `~/.cache/...`; a relative path counts as none, as the XDG spec says): compiling them took
    0.08-0.13 s of every run's end (issue 15). The folder is used only if it and `ocwwatch`
    above it are real directories of this user's that nobody else can write, since what it
    holds is run as code; otherwise templates are compiled as before."""
    home = environ.get("HOME", "")
    bases = [environ.get("XDG_CACHE_HOME", ""), str(Path(home) / ".cache") if home else ""]
    base = next((Path(b) for b in bases if b and Path(b).is_absolute()), None)
    if base is None:
        return None
    folder = base / "ocwwatch" / "templates"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        private = all(_private_folder(path.lstat()) for path in (folder.parent, folder))
    except OSError:
        return None
    return QuietBytecodeCache(str(folder)) if private else None


def _private_folder(status: os.stat_result) -> bool:
    """A directory (not a link to one) of this user's that no one else may write to."""
    mine = status.st_uid == os.getuid() and not status.st_mode & 0o022
    return stat.S_ISDIR(status.st_mode) and mine


@functools.cache
def template_environment() -> Environment:
    """The package's Jinja2 environment, built once: autoescaped, strict about undefined names,
    its compiled templates cached between runs (`template_cache`)."""
    environment = Environment(
        loader=PackageLoader("ocwwatch.report", "templates"),
        bytecode_cache=template_cache(),
        autoescape=True,
        undefined=StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.tests["web_url"] = is_web_url
    environment.tests["relative_or_web_url"] = is_relative_or_web_url
    environment.filters["timestamp"] = human_time
    environment.filters["run_times"] = run_times
    environment.tests["plain_answer"] = lambda status: status in PLAIN_ANSWERS
    return environment


def _finalize(value: Any) -> Any:
    """Applied to every `{{ … }}`: None prints as nothing, plain strings lose control chars."""
    if value is None:
        return ""
    if isinstance(value, str) and not isinstance(value, Markup):
        return clean_text(value)
    return value


def render_html(report: Report) -> str:
    """The report as one HTML page that leads with the work to do (issue 16): counts of
    resources and of links apart, the next steps, the resources to fix, the links to fix
    grouped by the page they are on, and only then what is fine."""
    return "".join(html_parts(report))


def html_parts(report: Report) -> Iterator[str]:
    """`render_html`'s text in pieces (`batched`), so that a deep run's page is written out
    without being held whole (issue 15)."""
    template = template_environment().get_template("report.html")
    rows = [_row(item) for item in sorted(report.resources, key=_severity_then_id)]
    findings = sorted(report.links.where(LINK_FINDINGS), key=_link_severity)
    others = report.links.first_by_url(MAX_OTHER_LINKS, FINE_LINKS)
    page = template.generate(
        run=report.run,
        rows=[row for row in rows if row.item.outcome is not Outcome.OK],
        ok_rows=[row for row in rows if row.item.outcome is Outcome.OK],
        resource_counts=resource_counts(report),
        link_counts=link_counts(report),
        link_total=len(report.links),
        steps=next_steps(report),
        link_findings=findings,
        link_pages=group_by_page(findings),
        other_links=others,
        other_count=len(report.links) - len(findings),
        max_found_on=MAX_FOUND_ON,
        feed_href=None if report.run.replay else FEED_FILE,
        index_href=INDEX_FILE,
    )
    return redacted(batched(page))


def _link_severity(link: LinkCheck) -> tuple[int, str]:
    return LINK_FINDINGS.index(link.state), link.url


def _severity_then_id(item: Observation) -> tuple[int, str]:
    return SEVERITY.index(item.outcome), item.id


def _row(item: Observation) -> ResourceRow:
    return ResourceRow(
        item=item,
        drift=tuple(change for change in item.changes if change.against is Against.BASELINE),
        recent=tuple(change for change in item.changes if change.against is Against.PREVIOUS),
        broken=tuple(broken_promises(item)),
        redirect_kind=redirect_kind(item),
    )
