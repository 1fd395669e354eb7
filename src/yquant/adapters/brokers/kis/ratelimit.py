"""Per-app-key request pacing shared by every process of a worker (through its Valkey).

A generic cell rate algorithm in one Lua script: each caller atomically reserves the next free
slot (slots are ``1/rate`` apart, ``burst`` may be used at once) and sleeps until it. Because a
slot is reserved before the caller waits, callers from several processes line up in arrival
order and the app key is used at the configured rate, never above it.

Two priorities: order submissions (``high``) and background inquiries such as fill polling and
account sync (``low``). While high-priority callers are active they keep a short-lived "busy"
mark; low-priority callers wait for it to lapse (for a bounded time) before reserving a slot, so
a burst of orders drains at the full rate.

If Valkey cannot be reached the limiter falls back to the same algorithm inside this process
(safe for one process, logged once).

Across the two workers of a blue/green pair (each with its own Valkey) the app key is spent by
one worker at a time: with a ``gate`` (the worker's `Standing`), a standby worker's calls are
refused before they are sent (`KisStandbyError`), and a worker taking over waits out the
handover first, so the worker it replaces has stopped calling. The gate is asked again after
the wait for a slot: a call queued before the role moved is not sent after it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Literal

from valkey.exceptions import ValkeyError

from yquant.adapters.brokers.kis.errors import KisRateLimitedError, KisStandbyError
from yquant.domain.roles import Standing

logger = logging.getLogger(__name__)

Priority = Literal["high", "low"]

# KEYS[1] theoretical arrival time (µs); ARGV: interval µs, burst tolerance µs, max wait µs.
# Returns the µs to wait for the reserved slot, or -1 when the queue is longer than max wait.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now - tonumber(ARGV[2])
if wait < 0 then wait = 0 end
if wait > tonumber(ARGV[3]) then return -1 end
local new_tat = tat + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX',
  math.floor((new_tat - now) / 1000) + 1000)
return wait
"""

BUSY_TTL_MS = 600
LOW_PRIORITY_MAX_DEFER_S = 20.0
QUEUE_MAX_WAIT_S = 30.0
GIVE_UP_AFTER_S = 90.0


class RateLimiter:
    """Pacing for one app key; ``key`` must not contain the app key itself."""

    def __init__(
        self,
        valkey: Any | None,
        key: str,
        rate_per_s: float,
        burst: int = 1,
        *,
        gate: Callable[[], Standing] | None = None,
    ) -> None:
        self._valkey = valkey
        self._gate = gate
        self._key = key
        self.rate_per_s = rate_per_s
        self._interval_us = int(1_000_000 / rate_per_s)
        self._tolerance_us = self._interval_us * (burst - 1)
        self._script: Any | None = None
        self._local = _LocalGcra(self._interval_us, self._tolerance_us)
        self._warned = False

    async def acquire(self, priority: Priority = "high") -> None:
        started = time.monotonic()
        await self.admitted(started)
        if priority == "low":
            await self._defer_to_orders(started)
        while True:
            wait_us = await self._reserve(priority)
            if wait_us >= 0:
                if wait_us:
                    await asyncio.sleep(wait_us / 1_000_000)
                    await self.admitted(started)
                return
            if time.monotonic() - started > GIVE_UP_AFTER_S:
                raise KisRateLimitedError("request queue for this app key stays full")
            await asyncio.sleep(1.0)

    def standing(self) -> Standing:
        return Standing.ACTIVE if self._gate is None else self._gate()

    async def admitted(self, started: float | None = None) -> None:
        """Return when this worker may call KIS now: at once when active, after the handover
        when taking over; KisStandbyError on a standby worker (nothing was sent)."""
        started = time.monotonic() if started is None else started
        while True:
            standing = self.standing()
            if standing is Standing.ACTIVE:
                return
            if standing is Standing.STANDBY:
                raise KisStandbyError("this worker is standby: only the active worker calls KIS")
            if time.monotonic() - started > GIVE_UP_AFTER_S:
                raise KisStandbyError("this worker is still taking over the active role")
            await asyncio.sleep(0.1)

    async def _reserve(self, priority: Priority) -> int:
        if self._valkey is None:
            return self._local.reserve(int(QUEUE_MAX_WAIT_S * 1_000_000))
        try:
            if priority == "high":
                await self._valkey.set(self._key + ":busy", "1", px=BUSY_TTL_MS)
            if self._script is None:
                self._script = self._valkey.register_script(_GCRA)
            result = await self._script(
                keys=[self._key],
                args=[self._interval_us, self._tolerance_us, int(QUEUE_MAX_WAIT_S * 1_000_000)],
            )
            self._warned = False
            return int(result)
        except (ValkeyError, ConnectionError, OSError) as exc:
            if not self._warned:
                logger.warning("rate limiter on local pacing: valkey unavailable (%s)", exc)
                self._warned = True
            return self._local.reserve(int(QUEUE_MAX_WAIT_S * 1_000_000))

    async def _defer_to_orders(self, started: float) -> None:
        if self._valkey is None:
            return
        while time.monotonic() - started < LOW_PRIORITY_MAX_DEFER_S:
            try:
                busy = await self._valkey.exists(self._key + ":busy")
            except (ValkeyError, ConnectionError, OSError):
                return
            if not busy:
                return
            await asyncio.sleep(0.05)


class _LocalGcra:
    """The same algorithm for one process, on the monotonic clock."""

    def __init__(self, interval_us: int, tolerance_us: int) -> None:
        self._interval_us = interval_us
        self._tolerance_us = tolerance_us
        self._tat = 0

    def reserve(self, max_wait_us: int) -> int:
        now = int(time.monotonic() * 1_000_000)
        tat = max(self._tat, now)
        wait = max(tat - now - self._tolerance_us, 0)
        if wait > max_wait_us:
            return -1
        self._tat = tat + self._interval_us
        return wait
