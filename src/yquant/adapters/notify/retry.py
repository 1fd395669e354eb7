"""Sending again after a channel said "not now", at the time it named.

The notifier's durable queue schedules its own retries (the wait survives a restart); this is for
the calls that are made while someone waits for them (``yquant notify test``, a button's answer).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from yquant.adapters.notify.errors import ChannelBusyError

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


async def honouring_retry_after(
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int = 3,
    fallback_s: float = 1.0,
    longest_s: float = 60.0,
    sleep: Sleep = asyncio.sleep,
) -> T:
    """``call()``; after a ChannelBusyError wait the service's ``retry_after`` (else
    ``fallback_s``, doubling) and try again, ``attempts`` times in all. A wait longer than
    ``longest_s`` is not waited out: the error is raised for the caller to schedule."""
    wait = fallback_s
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except ChannelBusyError as exc:
            delay = exc.retry_after_s if exc.retry_after_s is not None else wait
            if attempt == attempts or delay > longest_s:
                raise
            await sleep(delay)
            wait *= 2
    raise AssertionError("unreachable")
