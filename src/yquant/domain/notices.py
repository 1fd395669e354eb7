"""What the notifier tells operators: the kinds of notice, their levels, and who gets which.

A `Notice` is a fact with an id that is the same wherever and however often it is produced
(``order:<cid>:filled``, ``switch:<epoch>``, ``daily:KR:2026-12-04``): the queue keeps one
delivery per (id, channel), so a notice handed over twice, by a restarted producer or by both
workers, is sent once. ``shared`` notices are facts both workers see (the active worker, the
kill switch, a daily summary); only the active worker's notifier produces and sends them.

``data`` holds plain strings only; the templates (entrypoints/notices.py) choose what is shown.
Producers never put a secret in it, and account numbers are masked here (`mask_account`) before
they reach a template.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from yquant.domain.model import Alert, Order, OrderStatus


class NoticeKind(StrEnum):
    # ---- signals and orders (the engine, the gateway) --------------------------------------------
    ALERT_REJECTED = "alert_rejected"
    ORDER_SENT = "order_sent"
    ORDER_FILLED = "order_filled"
    ORDER_PARTIALLY_FILLED = "order_partially_filled"
    ORDER_REJECTED = "order_rejected"
    ORDER_CANCELLED = "order_cancelled"
    # ---- schedules and liquidation -------------------------------------------------------------
    SCHEDULE_FIRED = "schedule_fired"
    SCHEDULE_MISSED = "schedule_missed"
    SCHEDULE_FAILED = "schedule_failed"
    LIQUIDATION_DONE = "liquidation_done"
    # ---- the system ----------------------------------------------------------------------------
    KILL_SWITCH_CHANGED = "kill_switch_changed"
    ACTIVE_WORKER_SWITCHED = "active_worker_switched"
    DATABASE_AWAY = "database_away"
    DATABASE_BACK = "database_back"
    BROKER_TOKEN_FAILED = "broker_token_failed"  # noqa: S105 - a kind, not a token
    ACCOUNT_UNREACHABLE = "account_unreachable"
    CATALOG_SYNCED = "catalog_synced"
    # ---- reports -------------------------------------------------------------------------------
    DAILY_SUMMARY = "daily_summary"
    STRATEGY_QUIET = "strategy_quiet"
    TEST = "test"


class Level(IntEnum):
    INFO = 10
    WARNING = 20
    ERROR = 30

    @classmethod
    def named(cls, name: str) -> Level:
        return cls[name.upper()]


# A kind's level when its producer does not say (a catalog sync that failed says ERROR).
DEFAULT_LEVEL: dict[NoticeKind, Level] = {
    NoticeKind.ALERT_REJECTED: Level.WARNING,
    NoticeKind.ORDER_SENT: Level.INFO,
    NoticeKind.ORDER_FILLED: Level.INFO,
    NoticeKind.ORDER_PARTIALLY_FILLED: Level.INFO,
    NoticeKind.ORDER_REJECTED: Level.WARNING,
    NoticeKind.ORDER_CANCELLED: Level.INFO,
    NoticeKind.SCHEDULE_FIRED: Level.INFO,
    NoticeKind.SCHEDULE_MISSED: Level.WARNING,
    NoticeKind.SCHEDULE_FAILED: Level.ERROR,
    NoticeKind.LIQUIDATION_DONE: Level.WARNING,
    NoticeKind.KILL_SWITCH_CHANGED: Level.WARNING,
    NoticeKind.ACTIVE_WORKER_SWITCHED: Level.WARNING,
    NoticeKind.DATABASE_AWAY: Level.ERROR,
    NoticeKind.DATABASE_BACK: Level.INFO,
    NoticeKind.BROKER_TOKEN_FAILED: Level.ERROR,
    NoticeKind.ACCOUNT_UNREACHABLE: Level.ERROR,
    NoticeKind.CATALOG_SYNCED: Level.INFO,
    NoticeKind.DAILY_SUMMARY: Level.INFO,
    NoticeKind.STRATEGY_QUIET: Level.WARNING,
    NoticeKind.TEST: Level.ERROR,  # a test reaches every channel, whatever its minimum
}

# Kinds both workers see alike: produced and sent by the active worker only.
SHARED_KINDS = frozenset(
    {
        NoticeKind.KILL_SWITCH_CHANGED,
        NoticeKind.ACTIVE_WORKER_SWITCHED,
        NoticeKind.DAILY_SUMMARY,
        NoticeKind.STRATEGY_QUIET,
        NoticeKind.CATALOG_SYNCED,
    }
)

MAX_ID = 150
MAX_VALUE = 500


@dataclass(frozen=True, slots=True)
class Notice:
    id: str
    kind: NoticeKind
    at: datetime
    level: Level
    account: str | None = None
    strategy: str | None = None
    data: dict[str, str] = field(default_factory=dict)

    @property
    def shared(self) -> bool:
        return self.kind in SHARED_KINDS


def notice(
    kind: NoticeKind,
    key: str,
    at: datetime,
    *,
    level: Level | None = None,
    account: str | None = None,
    strategy: str | None = None,
    extra: Mapping[str, object] | None = None,
    **data: object,
) -> Notice:
    """A notice of ``kind`` whose id is ``<kind>:<key>`` (``key``: what makes it one fact);
    values of ``data`` (and ``extra``, for keys that are no Python names) made plain strings
    (None left out) and cut to a message's size."""
    if at.tzinfo is None:
        raise ValueError("a notice's time must be timezone-aware")
    merged = {**(extra or {}), **data}
    plain = {k: str(v)[:MAX_VALUE] for k, v in merged.items() if v is not None}
    return Notice(
        id=f"{kind.value}:{key}"[:MAX_ID],
        kind=kind,
        at=at,
        level=DEFAULT_LEVEL[kind] if level is None else level,
        account=account,
        strategy=strategy,
        data=plain,
    )


def to_dict(n: Notice) -> dict[str, Any]:
    return {
        "id": n.id,
        "kind": n.kind.value,
        "at": n.at.isoformat(),
        "level": n.level.name.lower(),
        "account": n.account,
        "strategy": n.strategy,
        "data": dict(n.data),
    }


def from_dict(d: dict[str, Any]) -> Notice:
    """A notice from `to_dict`'s form; ValueError/KeyError for anything else."""
    at = datetime.fromisoformat(str(d["at"]))
    if at.tzinfo is None:
        raise ValueError("a notice's time must be timezone-aware")
    data = d.get("data") or {}
    if not isinstance(data, dict):
        raise TypeError("data must be an object")
    return Notice(
        id=str(d["id"])[:MAX_ID],
        kind=NoticeKind(d["kind"]),
        at=at,
        level=Level.named(str(d["level"])),
        account=d.get("account"),
        strategy=d.get("strategy"),
        data={str(k): str(v)[:MAX_VALUE] for k, v in data.items()},
    )


@dataclass(frozen=True, slots=True)
class Rendered:
    """A notice in words, before a channel lays it out (a Discord embed, Telegram HTML):
    plain text, which the channel escapes."""

    title: str
    lines: tuple[str, ...]
    fields: tuple[tuple[str, str], ...]
    level: Level
    footer: str
    at: datetime

    def texts(self) -> list[str]:
        """Every piece of text in the message (what the secret scan reads)."""
        return [self.title, *self.lines, *(f"{k} {v}" for k, v in self.fields), self.footer]


# ---- notices of the order path -------------------------------------------------------------


def order_notice(order: Order, at: datetime) -> Notice | None:
    """The notice an order's new state makes, if any: taken by the broker (sent), refused,
    cancelled or expired. Fills are reported from the executions stream, one per fill."""
    kinds = {
        OrderStatus.ACCEPTED: (NoticeKind.ORDER_SENT, "sent"),
        OrderStatus.REJECTED: (NoticeKind.ORDER_REJECTED, "rejected"),
        OrderStatus.CANCELLED: (NoticeKind.ORDER_CANCELLED, "ended"),
        OrderStatus.EXPIRED: (NoticeKind.ORDER_CANCELLED, "ended"),
    }
    found = kinds.get(order.status)
    if found is None:
        return None
    kind, step = found
    return notice(
        kind,
        f"{order.client_order_id}:{step}",
        at,
        account=order.account,
        strategy=order.strategy,
        ticker=order.ticker,
        side=order.side.value,
        quantity=_plain(order.quantity),
        price=_plain(order.limit_price) if order.limit_price is not None else None,
        filled=_plain(order.filled_quantity) if order.filled_quantity else None,
        status=order.status.value,
        reason=order.reason,
        order=order.client_order_id,
    )


def alert_rejected(alert: Alert, reason: str | None, detail: str | None, at: datetime) -> Notice:
    return notice(
        NoticeKind.ALERT_REJECTED,
        alert.key,
        at,
        strategy=alert.strategy,
        ticker=alert.ticker,
        side=alert.action.value,
        quantity=_plain(alert.quantity) if alert.quantity is not None else None,
        reason=reason,
        detail=detail,
    )


def _plain(value: Any) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# ---- routing ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Route:
    """Which notices one channel takes: empty sets take everything."""

    events: frozenset[NoticeKind] = frozenset()
    accounts: frozenset[str] = frozenset()
    strategies: frozenset[str] = frozenset()
    min_level: Level = Level.INFO

    def takes(self, n: Notice) -> bool:
        if n.kind is NoticeKind.TEST:
            return True
        if self.events and n.kind not in self.events:
            return False
        if n.level < self.min_level:
            return False
        # A notice about no account (the database, the catalog) is not filtered by account, and
        # likewise for strategies.
        if self.accounts and n.account is not None and n.account not in self.accounts:
            return False
        return not (
            self.strategies and n.strategy is not None and n.strategy not in self.strategies
        )


def routed(n: Notice, routes: dict[str, Route]) -> list[str]:
    """The channels (by name) that take ``n``."""
    return sorted(name for name, route in routes.items() if route.takes(n))


# ---- what never leaves in a message ----------------------------------------------------------

_ACCOUNT = re.compile(r"\b(\d{8})-?(\d{2})\b")


def mask_account(number: str) -> str:
    """``12345678-01`` → ``****-01``; any other text has its runs of digits masked but the
    last two."""
    match = _ACCOUNT.fullmatch(number.strip())
    if match:
        return f"****-{match.group(2)}"
    digits = re.sub(r"\d", "*", number)
    return digits[:-2] + number[-2:] if len(number) > 2 else "****"


def mask_account_numbers(text: str) -> str:
    """Every account number written in ``text`` (``12345678-01``, ``1234567801``) masked."""
    return _ACCOUNT.sub(lambda m: f"****-{m.group(2)}", text)
