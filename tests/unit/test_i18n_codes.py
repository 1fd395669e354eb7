"""Codes the operator sees (statuses, reason codes, health checks) have Korean words."""

from __future__ import annotations

import pytest

from yquant import i18n
from yquant.domain.model import OrderStatus, SignalStatus
from yquant.domain.reasons import ReasonCode

REASONS = (
    ReasonCode.MALFORMED_JSON,
    ReasonCode.NOT_AN_OBJECT,
    ReasonCode.MISSING_FIELD,
    ReasonCode.BAD_FIELD,
    ReasonCode.BAD_ACTION,
    ReasonCode.BAD_QUANTITY,
    ReasonCode.BAD_PRICE,
    ReasonCode.UNKNOWN_EXCHANGE,
    ReasonCode.UNRESOLVED_PLACEHOLDER,
    ReasonCode.BAD_SECRET,
    ReasonCode.STALE,
    ReasonCode.CURRENCY_MISMATCH,
    ReasonCode.DUPLICATE,
    ReasonCode.HALTED,
    ReasonCode.REDUCE_ONLY,
    ReasonCode.SAME_DIRECTION,
    ReasonCode.ORDER_WORKING,
    ReasonCode.ORDER_RATE_LIMIT,
    ReasonCode.DAILY_LOSS_LIMIT,
    ReasonCode.MAX_OPEN_POSITIONS,
    ReasonCode.MAX_ORDER_NOTIONAL,
    ReasonCode.MAX_POSITION_SHARE,
    ReasonCode.NO_QUANTITY,
    ReasonCode.NO_POSITION,
    ReasonCode.NO_PRICE,
    ReasonCode.NO_AMOUNT,
    ReasonCode.NO_TARGET,
    ReasonCode.AT_TARGET,
    ReasonCode.INSUFFICIENT_CASH,
    ReasonCode.BELOW_MINIMUM,
    "capped_by_cash",
    "capped_by_holdings",
    ReasonCode.QUEUED,
    ReasonCode.QUEUE_EXPIRED,
    ReasonCode.UNKNOWN_ACCOUNT,
    ReasonCode.NOT_PLACED,
    ReasonCode.STALE_ORDER,
    ReasonCode.BROKER_UNAVAILABLE,
    ReasonCode.INSUFFICIENT_CASH,
    ReasonCode.INSUFFICIENT_POSITION,
    ReasonCode.NO_PRICE,
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
