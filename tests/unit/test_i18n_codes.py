"""Codes the operator sees (statuses, reason codes, health checks) have Korean words."""

from __future__ import annotations

import pytest

from yquant import i18n
from yquant.adapters.brokers import paper
from yquant.domain import alerts, decision, risk, sizing
from yquant.domain.model import OrderStatus, SignalStatus
from yquant.services import gateway, release

REASONS = (
    alerts.MALFORMED_JSON,
    alerts.NOT_AN_OBJECT,
    alerts.MISSING_FIELD,
    alerts.BAD_FIELD,
    alerts.BAD_ACTION,
    alerts.BAD_QUANTITY,
    alerts.BAD_PRICE,
    alerts.UNKNOWN_EXCHANGE,
    alerts.UNRESOLVED_PLACEHOLDER,
    alerts.BAD_SECRET,
    alerts.STALE,
    alerts.CURRENCY_MISMATCH,
    alerts.DUPLICATE,
    risk.HALTED,
    risk.REDUCE_ONLY,
    risk.SAME_DIRECTION,
    risk.ORDER_WORKING,
    risk.ORDER_RATE,
    risk.DAILY_LOSS,
    risk.MAX_OPEN_POSITIONS,
    risk.MAX_ORDER_NOTIONAL,
    risk.MAX_POSITION_SHARE,
    sizing.NO_QUANTITY,
    sizing.NO_POSITION,
    sizing.NO_PRICE,
    sizing.NO_AMOUNT,
    sizing.NO_TARGET,
    sizing.AT_TARGET,
    sizing.INSUFFICIENT_CASH,
    sizing.BELOW_MINIMUM,
    "capped_by_cash",
    "capped_by_holdings",
    decision.QUEUED,
    release.QUEUE_EXPIRED,
    release.UNKNOWN_ACCOUNT,
    gateway.NOT_PLACED,
    gateway.STALE_ORDER,
    gateway.BROKER_UNAVAILABLE,
    paper.INSUFFICIENT_CASH,
    paper.INSUFFICIENT_POSITION,
    paper.NO_PRICE,
)
STATUSES = tuple(OrderStatus) + tuple(SignalStatus)
HEALTH = (
    "database",
    "valkey",
    "journal",
    "webhook",
    "engine",
    "gateway",
    "dashboard",
    "up",
    "down",
)


@pytest.mark.parametrize("code", sorted({*REASONS, *STATUSES, *HEALTH}))
def test_every_status_reason_and_health_word_has_a_korean_label(code: str) -> None:
    label = i18n.label("ko", code)
    assert label and label != code
    assert any("\uac00" <= ch <= "\ud7a3" for ch in label), label


def test_english_shows_the_code_and_unknown_codes_fall_back_to_themselves() -> None:
    assert i18n.label("en", "order_rate_limit") == "order_rate_limit"
    assert i18n.label("ko", "some_new_code") == "some_new_code"
    assert i18n.label("xx", "filled") == "filled"
