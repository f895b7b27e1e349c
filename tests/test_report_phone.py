"""The HTML report at 390 px, as headless Chromium lays it out (issue 16): nothing wider than
the screen. Skipped where no Chromium is installed; nothing leaves the machine (file:// only)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_report import broken_promise_report, sample_index

from ocwwatch.report import render_html

CHROMIUM = next(
    (
        found
        for name in ("chromium", "chromium-browser", "google-chrome")
        if (found := shutil.which(name))
    ),
    None,
)
# The report forbids scripts (its CSP), so a page beside it frames it at phone width and
# measures it; Chromium lets a file:// page read a file:// frame with this flag only.
HARNESS = """<!DOCTYPE html><html><body>
<iframe id="f" src="report.html" style="width:{width}px;height:800px;border:0"></iframe>
<pre id="out">not measured</pre>
<script>
document.getElementById("f").onload = function () {{
  var page = this.contentDocument.documentElement;
  document.getElementById("out").textContent =
    "scrollWidth=" + page.scrollWidth + " clientWidth=" + page.clientWidth;
}};
</script></body></html>
"""


def measure(page: str, folder: Path, width: int) -> tuple[int, int]:
    """(scrollWidth, clientWidth) of `page` framed `width` pixels wide."""
    (folder / "report.html").write_text(page, encoding="utf-8")
    (folder / "harness.html").write_text(HARNESS.format(width=width), encoding="utf-8")
    assert CHROMIUM is not None
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--allow-file-access-from-files",
            "--virtual-time-budget=5000",
            "--dump-dom",
            (folder / "harness.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    found = re.search(r"scrollWidth=(\d+) clientWidth=(\d+)", done.stdout)
    assert found is not None, done.stderr[-2000:]
    return int(found.group(1)), int(found.group(2))


@pytest.mark.skipif(CHROMIUM is None, reason="needs headless Chromium")
def test_the_report_fits_a_390_px_phone(tmp_path: Path) -> None:
    """At 390 px no column is cut off: the page is no wider than the screen (the table layout
    before issue 16 needed 651 px)."""
    scroll, client = measure(render_html(broken_promise_report()), tmp_path, 390)
    assert scroll <= client


@pytest.mark.skipif(CHROMIUM is None, reason="needs headless Chromium")
def test_the_index_fits_a_390_px_phone(tmp_path: Path) -> None:
    """The index of runs, six columns wide on a desktop, is no wider than a phone either."""
    page = sample_index()
    scroll, client = measure(page, tmp_path, 390)
    assert scroll <= client
