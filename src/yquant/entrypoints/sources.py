"""Who is calling: the client address behind a trusted proxy, the allow-list, and throttling.

`X-Forwarded-For` is believed only when the TCP peer is a configured trusted proxy (HAProxy on the
data node); the client is then the right-most address in the chain that is not itself a trusted
proxy. A request from anyone else is judged by its own peer address, loopback included: there is
no exemption for localhost.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address

Network = IPv4Network | IPv6Network


def _in(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The address to judge a request by (``"unknown"`` when there is none)."""
    if not peer:
        return "unknown"
    if not forwarded_for or not _in(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted):
            try:
                return str(ip_address(hop))
            except ValueError:
                return "invalid"
    return peer


class AddressSet:
    """``address in networks``, remembering the answer for addresses already seen: parsing an
    address costs more than the rest of a request's checks, and alerts come from few sources.
    The memory is bounded, so a flood of distinct addresses cannot grow it."""

    MEMO_SIZE = 4096

    def __init__(self, networks: Sequence[Network]) -> None:
        self._networks = tuple(networks)
        self._memo: dict[str, bool] = {}

    def __contains__(self, address: str) -> bool:
        known = self._memo.get(address)
        if known is None:
            if len(self._memo) >= self.MEMO_SIZE:
                self._memo.clear()
            known = self._memo[address] = _in(address, self._networks)
        return known


class SourceThrottle:
    """Counts rejections per source in a sliding minute; a source past the limit is throttled."""

    def __init__(self, limit_per_minute: int, now: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit_per_minute
        self._events: dict[str, deque[float]] = {}
        self._announced: dict[str, float] = {}
        self._unlogged: dict[str, int] = {}
        self._now = now

    def _window(self, source: str) -> deque[float]:
        events = self._events.setdefault(source, deque())
        cutoff = self._now() - 60.0
        while events and events[0] < cutoff:
            events.popleft()
        if not events:
            # Keep the table small: forget sources that have been quiet for a minute.
            self._events.pop(source, None)
            events = self._events.setdefault(source, deque())
        return events

    def throttled(self, source: str) -> bool:
        return len(self._window(source)) >= self._limit

    def record(self, source: str) -> int:
        """Count one rejection; returns the count in the current window."""
        events = self._window(source)
        events.append(self._now())
        return len(events)

    def first_refusal(self, source: str) -> bool:
        """True for the first throttled request of a source in a minute: that one is logged, the
        flood after it is not."""
        now = self._now()
        last = self._announced.get(source)
        if last is not None and now - last < 60.0:
            return False
        if len(self._announced) >= 4096:
            self._announced = {s: t for s, t in self._announced.items() if now - t < 60.0}
        self._announced[source] = now
        return True

    def unlogged(self, source: str) -> None:
        """Count a throttled request that got no row of its own in the signal log."""
        self._unlogged[source] = self._unlogged.get(source, 0) + 1

    def take_unlogged(self) -> dict[str, int]:
        """The throttled requests counted since the last call, per source (then forgotten)."""
        counts, self._unlogged = self._unlogged, {}
        return counts

    def throttled_sources(self) -> int:
        return sum(1 for source in list(self._events) if self.throttled(source))
