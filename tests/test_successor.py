"""Successor search (issue 12): candidates from OCW's catalogue, by course number."""

from __future__ import annotations

from ocwwatch.pipeline.successor import catalogue_candidates, read_sitemap


def test_sitemap_candidates_are_the_course_homes_of_the_course_number() -> None:
    """OCW's catalogue: sitemap entries whose slug starts with the number, as course homes."""
    body = (
        b"<sitemapindex><sitemap><loc>https://ocw.mit.edu/courses/res-18-001-calculus-fall-2023/"
        b"sitemap.xml</loc></sitemap><sitemap><loc>https://ocw.mit.edu/courses/"
        b"res-18-0010-other/sitemap.xml</loc></sitemap><url><loc>https://ocw.mit.edu/courses/"
        b"18-01sc-single-variable-calculus-fall-2010/pages/x/</loc></url></sitemapindex>"
    )
    found = catalogue_candidates(read_sitemap(body), "RES.18-001")
    assert [c.url for c in found] == ["https://ocw.mit.edu/courses/res-18-001-calculus-fall-2023/"]
    assert [c.url for c in catalogue_candidates(read_sitemap(body), "18.01SC")] == [
        "https://ocw.mit.edu/courses/18-01sc-single-variable-calculus-fall-2010/"
    ]
