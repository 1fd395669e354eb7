"""Codes the operator sees (statuses, sides and actions, reason codes, health checks) have their
words in English and in Korean.

The tables are walked from the enums: a new ReasonCode, status or side without a word in either
language fails here, and so does a word kept for a code that no longer exists.
"""

from __future__ import annotations

import pytest

from yquant.adapters.db import order_queue
from yquant.domain.liquidation import LiquidationStatus
from yquant.domain.model import Action, OrderStatus, Side, SignalStatus
from yquant.domain.reasons import ReasonCode
from yquant.domain.roles import ROLES, Standing
from yquant.domain.schedules import RunStatus
from yquant.entrypoints import i18n

LANGUAGES = ("en", "ko")
STATUSES = frozenset(
    {
        *OrderStatus,
        *SignalStatus,
        *LiquidationStatus,
        *RunStatus,
        order_queue.QUEUED,
        order_queue.RELEASING,
        order_queue.RELEASED,
        order_queue.REJECTED,
        order_queue.EXPIRED,
        order_queue.CANCELLED,
    }
)
SIDES = frozenset({*Side, *Action})
HEALTH = frozenset(
    {"database", "valkey", "journal", *ROLES, "up", "down", "brokers", "standing", *Standing}
)
# Each table and the codes it must hold, no more and no fewer.
TABLES = {
    "REASON_LABELS": frozenset(ReasonCode),
    "STATUS_LABELS": STATUSES,
    "SIDE_LABELS": SIDES,
    "HEALTH_LABELS": HEALTH,
}
EVERY_CODE = sorted({*ReasonCode, *STATUSES, *SIDES, *HEALTH})


def _is_korean(word: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in word)


def test_the_languages_with_messages_are_the_languages_with_code_words() -> None:
    assert set(i18n.MESSAGES) == set(i18n.CODES) == set(LANGUAGES)


@pytest.mark.parametrize("code", EVERY_CODE, ids=str)
def test_every_code_has_a_korean_and_an_english_label(code: str) -> None:
    korean, english = i18n.label("ko", code), i18n.label("en", code)
    assert korean and korean != code and _is_korean(korean), (code, korean)
    # English is written for a trader ("Insufficient cash"), not the code ("insufficient_cash").
    assert english and english != code and not _is_korean(english), (code, english)
    assert "_" not in english and english[0].isupper(), (code, english)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("table", sorted(TABLES))
def test_each_table_holds_exactly_its_codes(table: str, language: str) -> None:
    words = getattr(i18n, table)[language]
    held = {str(code) for code in words}
    expected = {str(code) for code in TABLES[table]}
    assert held - expected == set(), f"{table}[{language!r}] holds codes that are not members"
    assert expected - held == set(), f"{table}[{language!r}] lacks words for these codes"
    assert all(word.strip() == word and word for word in words.values())


def test_the_reason_table_is_keyed_by_the_enum() -> None:
    for language in LANGUAGES:
        assert all(isinstance(code, ReasonCode) for code in i18n.REASON_LABELS[language])


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_code_that_is_a_status_and_a_reason_has_one_word(language: str) -> None:
    assert i18n.label(language, ReasonCode.REJECTED) == i18n.label(language, OrderStatus.REJECTED)
    assert i18n.label(language, ReasonCode.QUEUED) == i18n.label(language, order_queue.QUEUED)
    assert i18n.label(language, Action.BUY) == i18n.label(language, Side.BUY)


def test_a_few_words_a_trader_reads() -> None:
    assert i18n.label("en", ReasonCode.INSUFFICIENT_CASH) == "Insufficient cash"
    assert i18n.label("en", ReasonCode.UNSUPPORTED_MEDIA_TYPE) == "Unsupported content type"
    assert i18n.label("en", ReasonCode.MARKET_CLOSED) == "Market closed"
    assert (i18n.label("en", Side.BUY), i18n.label("en", Side.SELL)) == ("Buy", "Sell")
    assert (i18n.label("ko", Side.BUY), i18n.label("ko", Side.SELL)) == ("매수", "매도")


def test_unknown_codes_and_languages_fall_back_to_the_code() -> None:
    assert i18n.label("en", "some_new_code") == "some_new_code"
    assert i18n.label("ko", "some_new_code") == "some_new_code"
    assert i18n.label("xx", "filled") == "filled"
