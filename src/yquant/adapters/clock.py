"""The system clock behind the `Clock` port (tests hand services a clock they move)."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class SetClock:
    """A clock that stands where it is set: `yquant replay` runs recorded alerts at the times
    they arrived, and the paper venue it trades on fills and expires orders by this time."""

    def __init__(self, at: datetime) -> None:
        self._at = at
        self._moved = 0.0

    def set(self, at: datetime) -> None:
        if at > self._at:
            self._moved += (at - self._at).total_seconds()
        self._at = max(at, self._at)

    def now(self) -> datetime:
        return self._at

    def monotonic(self) -> float:
        return self._moved
