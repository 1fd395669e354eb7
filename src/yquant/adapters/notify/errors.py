"""A channel's answers mapped once, into our error tree, by the reaction they need.

- `ChannelBusyError` (retryable): HTTP 429, a 5xx, or no answer at all. ``retry_after_s`` is the
  service's own figure when it gave one (Discord's ``retry_after``, Telegram's
  ``parameters.retry_after``): sending again earlier only earns another 429.
- `ChannelRefusedError` (rejected): any other 4xx. Sending the same message again cannot help
  (an unknown webhook, a bad token, a chat not found, a message the service will not take).

Neither message ever holds the webhook URL or the bot token: both carry the secret in their path.
"""

from __future__ import annotations

from yquant.domain.reasons import ReasonCode
from yquant.errors import RejectedError, RetryableError


class ChannelBusyError(RetryableError):
    """The channel did not take the message now; it may later (after ``retry_after_s``)."""

    def __init__(self, message: str, *, status: int | None, retry_after_s: float | None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


class ChannelRefusedError(RejectedError):
    """The channel refused the message for good; ``status`` and ``answer`` are its reply."""

    def __init__(self, message: str, *, status: int, answer: object) -> None:
        super().__init__(ReasonCode.NOTIFY_REFUSED, message, message=message)
        self.status = status
        self.answer = answer
