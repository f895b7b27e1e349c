"""Extractor for course sites of today's OCW theme (mitodl/ocw-hugo-themes "course-v2").

It owns the course home, content pages and resource pages, read through the classes, ids and
attributes the theme's templates emit, never through text of one particular course (these
pages are not in the fixtures). Pure: parsed tree in, records out; no I/O, never raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from ocwwatch.extract.dom import (
    Page,
    attr,
    canonical_url,
    clean_text,
    collect_links,
    first_text,
    fold_text,
    node_text,
    resolve_url,
    same_page,
    unique,
)
from ocwwatch.extract.html import html_title
from ocwwatch.extract.links import page_links
from ocwwatch.models import ElementKind, Extraction, Link, Metadata, NavItem, PageKind

# Markers of the course-v2 theme: the banner (course_banner.html) and the menu (nav.html).
_THEME_MARKERS = ("#course-banner", ".course-number-term-detail", "nav.course-nav")
_BANNER_DETAIL = ".course-number-term-detail"
_BANNER_LINK = "#course-banner h1 a"
_PAGE_HEADING = "#course-title h2"
_PARENT_TITLE = "#course-title .course-content-parent-title"
_RESOURCE = ".resource-page-container"
# The home's description block (course_detail.html > course_description.html). A content page's
# Markdown heading "Course Description" also gets id="course-description", but never sits in a
# .course-detail-section.
_HOME_DESCRIPTION = ".course-detail-section #course-description"
# resource_body_v2.html joins a resource's learning resource types with this delimiter.
_TYPE_DELIMITER = ", "
# A video resource has no download button; its player carries the link (youtube_player.html),
# as does the fallback warning's "download the video" anchor.
_VIDEO_DOWNLOAD = "video[data-downloadlink]"
_VIDEO_FALLBACK_LINK = ".video-fallback-warning a[href]"
# Older theme versions mark levels with a class, newer ones only by the search link's `l=`.
_LEVEL_LINKS = ('.course-info a.course-info-level, .course-info a[href*="?l="]',)
_EMBEDS = "#course-content-section iframe[src], .resource-page-container iframe[src]"
# Hostile pages can nest menus without end; real course menus are two or three deep.
_MAX_NAV_DEPTH = 8


@dataclass(frozen=True)
class _Banner:
    """What the banner's "number | term | levels" line says."""

    course_number: str | None = None
    term: str | None = None
    level: tuple[str, ...] = ()


def is_course_site(tree: LexborHTMLParser) -> bool:
    """Whether the page was rendered by the course-v2 theme."""
    return any(tree.css_first(marker) is not None for marker in _THEME_MARKERS)


def course_page_kind(tree: LexborHTMLParser) -> PageKind:
    """Course home, content page or resource page, told apart by the template's layout."""
    if tree.css_first(_RESOURCE) is not None:
        return PageKind.OCW_RESOURCE
    # Only content and resource pages carry the page header (#course-title); the home has
    # the course detail card with the description instead.
    if tree.css_first("#course-title") is None or tree.css_first(_HOME_DESCRIPTION) is not None:
        return PageKind.OCW_COURSE
    return PageKind.OCW_PAGE


def extract_ocw(page: Page) -> Extraction:
    """Metadata and links of any course-v2 page."""
    kind = course_page_kind(page.tree)
    problems = list(page.problems)
    course = _course_fields(page, problems)
    if kind is PageKind.OCW_COURSE:
        own = _home_fields(page.tree, problems)
    else:
        own = _content_fields(page, kind, course["nav"], problems)
    metadata = Metadata(
        page_kind=kind,
        canonical_url=canonical_url(page.tree, page.base),
        content_type=page.content_type,
        size_bytes=page.size_bytes,
        problems=tuple(problems),
        **course,
        **own,
    )
    links, unfetchable = page_links(page)
    return Extraction(metadata=metadata, links=course_links(page, links), unfetchable=unfetchable)


def _course_fields(page: Page, problems: list[str]) -> dict[str, Any]:
    """What every page of a course site says about the course (banner, info panel, menu)."""
    tree = page.tree
    banner = _read_banner(tree)
    nav = _read_nav(tree, page.base)
    if banner.course_number is None:
        problems.append("no course number in the banner (.course-number-term-detail)")
    if not nav:
        problems.append("no course navigation (nav.course-nav)")
    return {
        "course_number": banner.course_number,
        "term": banner.term,
        "level": _levels(tree) or banner.level,
        "instructors": _texts(tree, ".course-info-instructor"),
        "departments": _texts(tree, ".course-info-department"),
        "topics": _texts(tree, ".course-info-topic"),
        "nav": nav,
        "units": unique(item.title for item in nav),
    }


def _home_fields(tree: LexborHTMLParser, problems: list[str]) -> dict[str, Any]:
    title = first_text(tree, _BANNER_LINK, "#course-banner h1")
    if title is None:
        problems.append("no course title in the banner (#course-banner h1)")
    resource_types = _resource_types(tree)
    if not resource_types:
        problems.append("no learning resource types (.learning-resource-type-item)")
    return {"title": title or _title_from_head(tree), "resource_types": resource_types}


def _content_fields(
    page: Page, kind: PageKind, nav: tuple[NavItem, ...], problems: list[str]
) -> dict[str, Any]:
    tree = page.tree
    title = first_text(tree, _PAGE_HEADING, "#course-title")
    if title is None:
        problems.append("no page title (#course-title h2)")
    fields: dict[str, Any] = {
        "title": title or _title_from_head(tree),
        "parent_url": _parent_url(page, nav),
    }
    if kind is PageKind.OCW_RESOURCE:
        fields["file_url"] = _file_url(page)
        fields["resource_types"] = _resource_page_types(tree)
        if fields["file_url"] is None:
            problems.append("resource page without a download link")
    return fields


def _read_banner(tree: LexborHTMLParser) -> _Banner:
    """Split the banner's "number | term year | level, level" (course_banner.html)."""
    detail = first_text(tree, f"#course-banner {_BANNER_DETAIL}", _BANNER_DETAIL)
    if detail is None:
        return _Banner()
    parts = [clean_text(part) for part in detail.split("|")]
    parts += [""] * (3 - len(parts))
    return _Banner(
        course_number=parts[0] or None,
        term=parts[1] or None,
        level=unique(clean_text(level) for level in parts[2].split(",")),
    )


def _levels(tree: LexborHTMLParser) -> tuple[str, ...]:
    return _texts(tree, *_LEVEL_LINKS)


def _texts(tree: LexborHTMLParser | LexborNode, *selectors: str) -> tuple[str, ...]:
    """Texts of every match, in page order, de-duplicated (the info panel is rendered twice)."""
    return unique(node_text(node) for selector in selectors for node in tree.css(selector))


def _resource_types(tree: LexborHTMLParser) -> tuple[str, ...]:
    """Learning resource type names (learning_resource_type.html), in page order."""
    return unique(_type_name(item) for item in tree.css(".learning-resource-type-item"))


def _resource_page_types(tree: LexborHTMLParser) -> tuple[str, ...]:
    """A resource page's types: one element holding them all, joined by the template."""
    texts = _texts(tree, f"{_RESOURCE} .resource-type .content")
    return unique(clean_text(name) for text in texts for name in text.split(_TYPE_DELIMITER))


def _type_name(item: LexborNode) -> str:
    # The name is in a <span>; the <i> beside it holds a Material Icons ligature ("grading"),
    # itself sometimes wrapped in a <span> of its own ("co_present"): skip spans inside <i>.
    spans = [span for span in item.css("span") if not _inside(span, "i", item)]
    if spans:
        return clean_text(" ".join(node_text(span) for span in spans))
    text = node_text(item)
    for icon in item.css("i"):
        text = text.replace(node_text(icon), "", 1)
    return clean_text(text)


def _inside(node: LexborNode, tag: str, root: LexborNode) -> bool:
    """Whether an ancestor of `node` below `root` is a `tag` element."""
    parent = node.parent
    while parent is not None and parent != root:
        if parent.tag == tag:
            return True
        parent = parent.parent
    return False


def _title_from_head(tree: LexborHTMLParser) -> str | None:
    """Fallback: the first part of "Page | Course | Department | MIT OpenCourseWare"."""
    title = html_title(tree)
    return clean_text(title.split("|")[0]) or None if title else None


def _read_nav(tree: LexborHTMLParser, base: str) -> tuple[NavItem, ...]:
    """The course menu as a tree. The theme renders it twice (phone, desktop): read one."""
    for nav in tree.css("nav.course-nav"):
        menu = nav.css_first("ul")
        items = _nav_items(menu, base, 0) if menu is not None else ()
        if items:
            return items
    return ()


def _nav_items(menu: LexborNode, base: str, depth: int) -> tuple[NavItem, ...]:
    if depth >= _MAX_NAV_DEPTH:
        return ()
    items = []
    for entry in _children(menu, "li"):
        label = entry.css_first(".course-nav-text-wrapper") or entry.css_first(".course-nav-parent")
        link = label.css_first("a") if label is not None else None
        title = node_text(link) or node_text(label)
        if not title:
            continue
        sub = next(iter(_children(entry, "ul")), None)
        children = _nav_items(sub, base, depth + 1) if sub is not None else ()
        items.append(
            NavItem(title=title, url=resolve_url(base, attr(link, "href")), children=children)
        )
    return tuple(items)


def _children(node: LexborNode, tag: str) -> list[LexborNode]:
    """Direct element children with the given tag (nested menus must not leak upward)."""
    return [child for child in node.iter() if child.tag == tag]


def _parent_url(page: Page, nav: tuple[NavItem, ...]) -> str | None:
    """The page's place in the course: its menu parent, else the menu entry named as its
    parent in the page header, else the course home (the theme has no breadcrumb)."""
    home = resolve_url(page.base, attr(page.tree.css_first(_BANNER_LINK), "href"))
    found, parent = _locate(nav, page.url, home)
    if found:
        return parent
    parent_title = first_text(page.tree, _PARENT_TITLE)
    if parent_title is not None:
        return _menu_url_for_title(nav, parent_title) or home
    return home


def _menu_url_for_title(nav: tuple[NavItem, ...], title: str) -> str | None:
    """The menu entry a page header's parent title names: the entry of that exact title, else
    the longest entry label that the title starts with, up to a word boundary (menu labels are
    often short forms of the page title: "Core C" for "Core C: Control Structures, ...")."""
    wanted = fold_text(title)
    best: NavItem | None = None
    for item in _walk(nav):
        label = fold_text(item.title)
        if item.url is None or not label or not wanted.startswith(label):
            continue
        if label == wanted:
            return item.url
        boundary = wanted[len(label)]
        if not boundary.isalnum() and (best is None or len(label) > len(fold_text(best.title))):
            best = item
    return best.url if best is not None else None


def _locate(items: tuple[NavItem, ...], url: str, parent: str | None) -> tuple[bool, str | None]:
    """Find `url` in the menu; answer whether it is there and its parent entry's URL."""
    for item in items:
        if same_page(item.url, url):
            return True, parent
        found, owner = _locate(item.children, url, item.url)
        if found:
            return True, owner
    return False, None


def _walk(items: tuple[NavItem, ...]) -> list[NavItem]:
    """Every menu entry, depth first, in page order."""
    return [entry for item in items for entry in (item, *_walk(item.children))]


def _file_url(page: Page) -> str | None:
    """A resource page's download link (get_resource_download_link.html), absolute."""
    selectors = (
        ("a.download-file[href]", "href"),
        ("a.resource-thumbnail[href]", "href"),
        ("a[download][href]", "href"),
        (_VIDEO_DOWNLOAD, "data-downloadlink"),
        (_VIDEO_FALLBACK_LINK, "href"),
    )
    for selector, name in selectors:
        for node in page.tree.css(f"{_RESOURCE} {selector}"):
            url = resolve_url(page.base, attr(node, name))
            if url is not None:
                return url
    return None


def course_links(page: Page, anchors: tuple[Link, ...]) -> tuple[Link, ...]:
    """The page's anchors, then its embedded players not already among them."""
    embeds = (
        (
            attr(node, "src"),
            clean_text(attr(node, "title")),
            "iframe[src]",
            ElementKind.FRAME,
            False,
        )
        for node in page.tree.css(_EMBEDS)
    )
    extra = collect_links(embeds, page.base, page.max_links)
    known = {link.url for link in anchors}
    return anchors + tuple(link for link in extra if link.url not in known)
