"""Time as a parameter: the one definition of the clocks every stage is given (STYLE.md, "Time
is a parameter"). Nothing here keeps state; tests pass their own functions of these types.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]  # timezone-aware UTC wall time, for what is stored and shown
Monotonic = Callable[[], float]  # seconds that never go back, for waits and deadlines
Sleep = Callable[[float], Awaitable[None]]


def utc_now() -> datetime:
    return datetime.now(UTC)
