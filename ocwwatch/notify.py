"""Notifications (issue 13): what a run found new, and what recovered, sent once to the
`[notify] urls` through Apprise (one library, 90+ services: mail, Slack, Matrix, ntfy, JSON).

Owns apprise (no other module imports it). The URLs hold the services' tokens: they are never
printed, logged or stored by ocwwatch; an error names the URL's position and scheme only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ocwwatch.errors import ConfigError

if TYPE_CHECKING:
    import apprise

log = logging.getLogger(__name__)


def check_urls(urls: Sequence[str], where: str) -> None:
    """Refuse, before the run, a URL Apprise cannot send to (a typo would be silent later)."""
    for index, url in enumerate(urls):
        if not _service().add(url):
            scheme = url.split(":", 1)[0] if ":" in url else "?"
            raise ConfigError(
                f"{where}: [notify] urls[{index}]: not a notification URL Apprise knows "
                f"(scheme {scheme!r}); see https://github.com/caronc/apprise/wiki"
            )


def send(urls: Sequence[str], title: str, body: str, timeout_seconds: float) -> int:
    """Send one notification to every URL; returns how many could not be sent. A failure is
    a warning: the run is stored and published whatever a chat service answers."""
    import apprise  # noqa: PLC0415 - only a run with [notify] urls pays for its import

    failed = 0
    for index, url in enumerate(urls):
        service = _service()
        service.add(url)
        sent = service.notify(
            title=title,
            body=body,
            body_format=apprise.NotifyFormat.TEXT,
            timeout=timeout_seconds,
        )
        if not sent:
            failed += 1
            log.warning("[notify] urls[%d]: the notification could not be sent", index)
    return failed


def _service() -> apprise.Apprise:
    import apprise  # noqa: PLC0415 - only a run with [notify] urls pays for its import

    # secure_logging: Apprise masks the tokens of a URL in its own log lines too.
    return apprise.Apprise(asset=apprise.AppriseAsset(secure_logging=True))
