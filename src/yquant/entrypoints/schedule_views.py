"""A schedule and its runs as the CLI and the dashboard show them: words in the operator's
language, and the JSON both print (`--json`, the dashboard's data)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from yquant.domain.model import CURRENCY, OrderType
from yquant.domain.schedules import WEEKDAYS, ScheduleAction, ScheduledOrder, TimeKind
from yquant.entrypoints import formatting as fmt
from yquant.entrypoints import i18n
from yquant.ports import ScheduleRun
from yquant.services.schedules import Estimate, ScheduleView


def when(spec: ScheduledOrder, language: str) -> str:
    m = i18n.messages(language)
    if spec.time_kind is TimeKind.FIXED:
        assert spec.local_time is not None
        text = m["sched_fixed"].format(time=spec.local_time.strftime("%H:%M"))
        return f"{text} ({spec.venue.tz.key.split('/')[-1].replace('_', ' ')})"
    key = "sched_after_open" if spec.time_kind is TimeKind.AFTER_OPEN else "sched_before_close"
    return m[key].format(n=spec.offset_min)


def days(spec: ScheduledOrder, language: str) -> str:
    m = i18n.messages(language)
    return " ".join(m[f"day_{d}"] for d in WEEKDAYS if d in spec.days)


def what(spec: ScheduledOrder, language: str) -> str:
    m = i18n.messages(language)
    scope = spec.account or spec.strategy or ""
    if spec.action is ScheduleAction.LIQUIDATE:
        target = spec.ticker or m["sched_liquidate_all"]
        filters = " ".join(x for x in (spec.market.value, scope) if x)
        return f"{m['sched_liquidate']} {target} ({filters})"
    side = i18n.label(language, spec.side.value) if spec.side else ""
    if spec.quantity is not None:
        size = fmt.quantity(spec.quantity)
    else:
        size = m["sched_amount"].format(amount=fmt.money(spec.amount, CURRENCY[spec.market]))
    text = f"{side} {spec.exchange}:{spec.ticker} {size}"
    if spec.order_type is OrderType.LIMIT:
        text += ", " + m["sched_limit"].format(pct=_signed(spec.limit_offset_pct))
    return f"{text} ({scope})"


def _signed(value: Decimal | None) -> str:
    value = value or Decimal(0)
    return ("+" if value > 0 else "") + format(value.normalize(), "f")


def view_json(view: ScheduleView) -> dict[str, Any]:
    local, kst = view.next_local(), view.next_kst()
    return {
        **view.spec.fields(),
        "paused": view.spec.paused,
        "timezone": view.spec.venue.timezone,
        "next_at": view.next_at.isoformat() if view.next_at else None,
        "next_local": local.isoformat() if local else None,
        "next_kst": kst.isoformat() if kst else None,
        "last_run": run_json(view.last_run) if view.last_run else None,
    }


def run_json(run: ScheduleRun) -> dict[str, Any]:
    return {
        "schedule": run.schedule_name,
        "session_date": run.session_date.isoformat(),
        "due_at": run.due_at.isoformat(),
        "status": run.status.value,
        "reason": run.reason,
        "detail": run.detail,
        "signal_key": run.signal_key,
        "orders": list(run.orders),
        "worker": run.worker,
        "epoch": run.epoch,
        "updated_at": run.updated_at.isoformat(),
    }


def estimate_json(estimate: Estimate) -> dict[str, Any]:
    return {
        "price": None if estimate.price is None else format(estimate.price.normalize(), "f"),
        "quantity": None
        if estimate.quantity is None
        else format(estimate.quantity.normalize(), "f"),
    }


def next_text(view: ScheduleView) -> tuple[str, str]:
    """The next firing in the market's time and in KST (empty when none)."""
    if view.next_at is None:
        return "", ""
    return (
        _minutes(fmt.zoned_time(view.next_at, view.spec.venue.timezone)),
        _minutes(fmt.zoned_time(view.next_at, "Asia/Seoul")),
    )


def _minutes(text: str) -> str:
    """``2026-12-07 10:00 EST`` from ``2026-12-07 10:00:00 EST``."""
    stamp, _, zone = text.rpartition(" ")
    return f"{stamp[:-3]} {zone}"
