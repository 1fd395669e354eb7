"""A channel's answers mapped once, into our error tree, by the reaction they need (the classes
live in yquant.errors, where services catch them):

- `ChannelBusyError` (retryable): HTTP 429, a 5xx, or no answer at all; ``retry_after_s`` is the
  service's own figure when it gave one: sending again earlier only earns another 429.
- `ChannelRefusedError` (rejected): any other 4xx. Sending the same message again cannot help.
"""

from __future__ import annotations

from yquant.errors import ChannelBusyError, ChannelRefusedError

__all__ = ["ChannelBusyError", "ChannelRefusedError"]
