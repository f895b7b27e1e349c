"""YouTube embeds, judged through YouTube's oEmbed endpoint (issue 4, item 1): an embed URL
answers 200 whatever became of the video; oEmbed answers 404 for a video that is gone.

Pure rules over URLs and statuses; the request itself goes through the crawl's Fetcher.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

from ocwwatch.models import LinkState

OEMBED = "https://www.youtube.com/oembed"
EMBED_HOSTS = frozenset({"www.youtube.com", "youtube.com", "www.youtube-nocookie.com"})
VIDEO_ID = re.compile(r"^/embed/([A-Za-z0-9_-]{6,20})/?$")


def video_id(url: str) -> str | None:
    """The video id of a YouTube embed URL, or None for anything else."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if (parts.hostname or "").lower() not in EMBED_HOSTS:
        return None
    match = VIDEO_ID.match(parts.path)
    return match.group(1) if match else None


def oembed_url(video: str) -> str:
    """Where YouTube says whether a video exists and may be embedded."""
    watch = quote(f"https://www.youtube.com/watch?v={video}", safe="")
    return f"{OEMBED}?url={watch}&format=json"


def oembed_state(status: int | None) -> tuple[LinkState, str] | None:
    """The embed's state from oEmbed's answer; None to judge the status like any other."""
    if status in {400, 404}:
        return LinkState.DEAD, f"YouTube has no such video (oEmbed answered {status})"
    if status == 401:
        return LinkState.BLOCKED, "the video is private (oEmbed answered 401)"
    if status == 403:
        return LinkState.BLOCKED, "the video may not be embedded (oEmbed answered 403)"
    return None
