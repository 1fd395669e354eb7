"""Codes the operator sees (statuses, sides, reason codes, health checks) have their words.

The reasons are walked from the enum: a new ReasonCode without a Korean word fails here.
"""

from __future__ import annotations

import pytest

from yquant.adapters.db import order_queue
from yquant.domain.model import Action, OrderStatus, Side, SignalStatus
from yquant.domain.reasons import ReasonCode
from yquant.entrypoints import i18n

STATUSES = (
    *OrderStatus,
    *SignalStatus,
    order_queue.QUEUED,
    order_queue.RELEASING,
    order_queue.RELEASED,
    order_queue.REJECTED,
    order_queue.EXPIRED,
    order_queue.CANCELLED,
)
SIDES = (*Side, Action.EXIT)
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


def _is_korean(word: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in word)


@pytest.mark.parametrize("code", list(ReasonCode), ids=str)
def test_every_reason_code_has_a_korean_and_an_english_label(code: ReasonCode) -> None:
    assert code in i18n.REASON_LABELS, f"{code} has no Korean word in i18n.REASON_LABELS"
    korean = i18n.label("ko", code)
    assert korean and korean != code.value and _is_korean(korean), korean
    # English shows the code itself: it is English, and operators search the logs by it.
    assert i18n.label("en", code) == code.value


def test_the_reason_table_holds_only_reason_codes() -> None:
    assert set(i18n.REASON_LABELS) == set(ReasonCode)


@pytest.mark.parametrize("code", sorted({*STATUSES, *SIDES, *HEALTH}))
def test_every_status_side_and_health_word_has_a_korean_and_an_english_label(code: str) -> None:
    korean = i18n.label("ko", code)
    assert korean and korean != code
    assert _is_korean(korean), korean
    assert i18n.label("en", code) == code


def test_a_code_that_is_a_status_and_a_reason_has_one_word() -> None:
    assert i18n.label("ko", ReasonCode.REJECTED) == i18n.label("ko", OrderStatus.REJECTED)
    assert i18n.label("ko", ReasonCode.QUEUED) == i18n.label("ko", order_queue.QUEUED)


def test_english_shows_the_code_and_unknown_codes_fall_back_to_themselves() -> None:
    assert i18n.label("en", "order_rate_limit") == "order_rate_limit"
    assert i18n.label("ko", "some_new_code") == "some_new_code"
    assert i18n.label("xx", "filled") == "filled"
