"""One exception tree, arranged by the reaction each error needs.

    YquantError
    ├── RetryableError            retry with backoff; the outcome is not final
    │   ├── DatabaseUnavailableError
    │   ├── JournalUnavailableError
    │   ├── BusUnavailableError
    │   ├── BrokerUnavailableError
    │   │   └── BrokerTokenError
    │   └── ChannelBusyError      a notification channel said "not now" (429, 5xx, no answer)
    ├── RejectedError             final; record the reason code and tell the operator
    │   ├── SignalRejectedError
    │   ├── OrderRejectedError
    │   ├── ChannelRefusedError   a notification channel refused a message for good
    │   ├── ControlError          (services.control) a kill-switch request refused
    │   ├── CatalogSyncError      (adapters.catalog) a sync that wrote nothing
    │   └── RefusedError          (kis_sim) the simulated exchange's own refusal
    └── HaltError                 stop the process; a person must act
        └── ConfigurationError
            └── SchemaMissingError

A broker call that times out is not an error of any branch: it yields the order state
``unknown``, which is resolved by asking the broker, never by sending again. The KIS adapter's
``KisOutcomeUnknownError`` says exactly that and so stays directly on YquantError.
"""

from __future__ import annotations

from yquant.domain.reasons import ReasonCode


class YquantError(Exception):
    """Base of every error yQuant raises on purpose."""


class RetryableError(YquantError):
    """Transient: the same call may succeed later."""


class DatabaseUnavailableError(RetryableError):
    """The system-of-record database refused, reset or hung."""


class DatabaseUnreachableError(DatabaseUnavailableError):
    """No connection could be made at all before anything was stored (at start-up: a migration
    or a schema check): the server is down or the URL names the wrong one."""


class JournalUnavailableError(RetryableError):
    """The local journal (where writes wait while the database is away) refused a write."""


class BusUnavailableError(RetryableError):
    """The local Valkey is unreachable."""


class BrokerUnavailableError(RetryableError):
    """The broker could not be reached; nothing was sent."""


class ChannelBusyError(RetryableError):
    """A notification channel did not take the message now; it may later, after
    ``retry_after_s`` when the service named a time (Discord's ``retry_after``, Telegram's
    ``parameters.retry_after``). The message never holds a webhook URL or a bot token."""

    def __init__(self, message: str, *, status: int | None, retry_after_s: float | None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


class BrokerTokenError(BrokerUnavailableError):
    """The broker's access token could not be had (issuance throttled or refused): nothing was
    sent, and the operator is told (a notice), since it may need the keys looked at."""


class NotActiveError(RetryableError):
    """This worker does not hold the active role (or is still taking it over): the work waits
    until it does, or is the active worker's."""


class RejectedError(YquantError):
    """Final refusal with a machine-readable reason code."""

    def __init__(self, reason: ReasonCode, detail: str = "", *, message: str | None = None) -> None:
        # ``message``: the text a subclass shows instead of "<reason>: <detail>".
        super().__init__(message or (f"{reason}: {detail}" if detail else reason))
        self.reason = reason
        self.detail = detail


class SignalRejectedError(RejectedError):
    """An alert that will not become an order."""


class OrderRejectedError(RejectedError):
    """The broker (or our own checks) refused an order."""


class ChannelRefusedError(RejectedError):
    """A notification channel refused the message for good (an unknown webhook, a bad token, a
    chat not found, a body it will not take); ``status`` and ``answer`` are its reply."""

    def __init__(self, message: str, *, status: int, answer: object) -> None:
        super().__init__(ReasonCode.NOTIFY_REFUSED, message, message=message)
        self.status = status
        self.answer = answer


class HaltError(YquantError):
    """The process cannot go on safely."""


class ConfigurationError(HaltError):
    """Settings are invalid; the message names the key."""


class SchemaMissingError(ConfigurationError):
    """The database has no tables yet: it was never migrated (``yquant db upgrade``)."""
