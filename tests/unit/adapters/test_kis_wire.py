"""KIS's wire format and our reading of it, without a server: golden responses shaped like the
ones recorded in public (padded and unpadded ODNO, blank and space-padded numbers, the token
endpoint's own error shape), status and fill derivation, ticks and the US market band, error
reactions, and settings that refuse to start wrong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from tests.fixtures.kis_kit import APP_KEY, APP_SECRET, order
from yquant.adapters.brokers.kis import errors, prices, schemas, tracking
from yquant.adapters.brokers.kis.endpoints import KisAccount, tr_id
from yquant.adapters.brokers.kis.settings import KisSettings
from yquant.domain.model import Market, OrderStatus, Side
from yquant.errors import BrokerUnavailableError, ConfigurationError, OrderRejectedError
from yquant.settings import AccountSettings


def test_order_answers_keep_odno_as_kis_wrote_it() -> None:
    real = {
        "rt_cd": "0",
        "msg_cd": "APBK0013",
        "msg1": "주문 전송 완료 되었습니다.",
        "output": {"KRX_FWDG_ORD_ORGNO": "06590", "ODNO": "0000006555", "ORD_TMD": "151059"},
    }
    paper = {
        "rt_cd": "0",
        "msg_cd": "40600000",
        "msg1": "모의투자 매수주문이 완료 되었습니다.",
        "output": {"KRX_FWDG_ORD_ORGNO": "00950", "ODNO": "47589", "ORD_TMD": "095902"},
    }
    assert schemas.parse_order_ack(real) == schemas.OrderAck("0000006555", "06590", "151059")
    assert schemas.parse_order_ack(paper).broker_order_id == "47589"
    assert tracking.same_id("0000047589", "47589") and not tracking.same_id("47589", "")


def test_numbers_are_read_defensively() -> None:
    assert schemas.num(" 0.00") == Decimal("0.00")
    assert schemas.num("-150") == Decimal(-150)
    assert schemas.num("1,091.2600") == Decimal("1091.2600")
    assert schemas.num("") is None and schemas.num("7,780 억") is None
    assert schemas.envelope(
        {"rt_cd": "1", "msg_cd": "KIOK0490", "msg1": "조회가 계속됩니다   "}
    ) == (
        "1",
        "KIOK0490",
        "조회가 계속됩니다",
    )


def test_token_expiry_is_the_earlier_of_kis_two_statements() -> None:
    now = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
    body = {
        "access_token": "eyJ.x",
        "token_type": "Bearer",
        "expires_in": 86400,
        "access_token_token_expired": "2026-11-28 08:59:00",
    }
    grant = schemas.parse_token(body, now)
    assert grant.expires_at == datetime(2026, 11, 27, 23, 59, tzinfo=UTC)  # KST 08:59 next day
    throttled = {
        "error_description": "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)",
        "error_code": "EGW00133",
    }
    assert schemas.token_failure(throttled) == ("EGW00133", throttled["error_description"])


def test_tr_ids_follow_environment_and_side() -> None:
    real, paper = KisAccount("1", "01", "real"), KisAccount("1", "01", "paper")
    legacy = KisAccount("1", "01", "real", legacy_tr_ids=True)
    assert [tr_id(n, real) for n in ("domestic_buy", "domestic_sell", "us_buy", "us_sell")] == [
        "TTTC0012U",
        "TTTC0011U",
        "TTTT1002U",
        "TTTT1006U",
    ]
    assert [tr_id(n, paper) for n in ("domestic_buy", "domestic_sell", "us_buy", "us_sell")] == [
        "VTTC0012U",
        "VTTC0011U",
        "VTTT1002U",
        "VTTT1001U",
    ]
    assert tr_id("domestic_sell", legacy) == "TTTC0801U"
    assert tr_id("us_price", paper) == "HHDFS00000300"


def test_us_exchange_codes_differ_between_orders_and_quotes() -> None:
    body = schemas.overseas_order_body(
        "1", "01", "NYSE", "IBM", Decimal(1), Decimal("10.5"), Side.SELL
    )
    assert (body["OVRS_EXCG_CD"], body["SLL_TYPE"], body["ORD_DVSN"]) == ("NYSE", "00", "00")
    assert schemas.overseas_price_params("NYSE", "IBM")["EXCD"] == "NYS"
    assert schemas.overseas_price_params("AMEX", "SPY")["EXCD"] == "AMS"
    assert schemas.overseas_price_params("NASDAQ", "AAPL")["EXCD"] == "NAS"
    assert all(isinstance(v, str) for v in body.values())


def test_domestic_body_is_uppercase_strings_and_market_has_no_price() -> None:
    from yquant.domain.model import OrderType

    body = schemas.domestic_order_body(
        "12345678", "01", "005930", OrderType.MARKET, Decimal(3), None, Side.BUY
    )
    assert body["ORD_DVSN"] == "01" and body["ORD_UNPR"] == "0" and body["ORD_QTY"] == "3"
    assert all(k == k.upper() and isinstance(v, str) for k, v in body.items())
    assert "SLL_TYPE" not in body


def test_ticks_and_the_us_market_band() -> None:
    assert [
        prices.krx_tick(Decimal(p)) for p in (1999, 4990, 19_990, 49_950, 199_900, 499_500, 500_000)
    ] == [
        1,
        5,
        10,
        50,
        100,
        500,
        1000,
    ]
    assert prices.us_market_limit(Side.BUY, Decimal("0.5123"), Decimal(3)) == Decimal("0.5276")
    assert prices.us_market_limit(Side.SELL, Decimal("100"), Decimal(3)) == Decimal("97.00")
    assert prices.us_limit_on_tick(Decimal("10.005"), Side.BUY) == Decimal("10.00")
    assert prices.us_limit_on_tick(Decimal("10.005"), Side.SELL) == Decimal("10.01")


def _row(**kw: object) -> schemas.VenueOrder:
    values: dict[str, object] = dict(
        market=Market.KR,
        broker_order_id="0000000001",
        original_order_id="",
        branch="06010",
        is_cancel=False,
        ticker="005930",
        side=Side.BUY,
        quantity=Decimal(10),
        limit_price=None,
        filled_quantity=Decimal(0),
        filled_amount=Decimal(0),
        avg_price=None,
        remaining=Decimal(10),
        cancelled_quantity=Decimal(0),
        rejected=False,
        reject_text="",
        ordered_at=datetime.now(UTC),
    )
    values.update(kw)
    return schemas.VenueOrder(**values)  # type: ignore[arg-type]


def test_order_status_from_an_inquiry_row() -> None:
    today = datetime.now(schemas.KST).date()
    assert tracking.status_of(_row(), [], today) is OrderStatus.ACCEPTED
    part = _row(filled_quantity=Decimal(4), remaining=Decimal(6))
    assert tracking.status_of(part, [], today) is OrderStatus.PARTIALLY_FILLED
    full = _row(filled_quantity=Decimal(10), remaining=Decimal(0))
    assert tracking.status_of(full, [], today) is OrderStatus.FILLED
    refused = _row(rejected=True, remaining=Decimal(0))
    assert tracking.status_of(refused, [], today) is OrderStatus.REJECTED
    gone = _row(filled_quantity=Decimal(4), remaining=Decimal(0), cancelled_quantity=Decimal(6))
    assert tracking.status_of(gone, [], today) is OrderStatus.CANCELLED
    assert tracking.status_of(_row(), [], today + timedelta(days=1)) is OrderStatus.EXPIRED


def test_fills_are_the_steps_between_what_we_knew_and_what_kis_reports() -> None:
    mine = order(Side.BUY, 10).evolve(filled_quantity=Decimal(4), avg_fill_price=Decimal(70000))
    row = _row(filled_quantity=Decimal(10), filled_amount=Decimal(4 * 70000 + 6 * 70500))
    [fill] = tracking.new_fills(mine, row, datetime.now(UTC))
    assert (fill.quantity, fill.price) == (Decimal(6), Decimal("70500.00"))
    assert fill.fill_id == f"{mine.client_order_id}:10"
    assert (
        tracking.new_fills(mine.evolve(filled_quantity=Decimal(10)), row, datetime.now(UTC)) == ()
    )


def test_error_envelopes_map_to_reactions() -> None:
    def failure(code: str, text: str = "", status: int = 500) -> object:
        return errors.classify(errors.KisFailure("TTTC0012U", status, code, text))

    assert isinstance(failure("EGW00201"), BrokerUnavailableError)
    assert isinstance(failure("EGW00123"), BrokerUnavailableError)
    assert isinstance(failure("EGW02004"), ConfigurationError)
    assert isinstance(failure("", "모의투자 TR 이 아닙니다."), ConfigurationError)
    assert isinstance(failure("EGW00001"), BrokerUnavailableError)
    cash = failure("APBK0952", "주문가능금액을 초과 했습니다", 200)
    assert isinstance(cash, OrderRejectedError) and cash.reason == "insufficient_cash"
    closed = failure("APBK0918", "장운영시간이 아닙니다.", 200)
    assert isinstance(closed, OrderRejectedError) and closed.reason == "market_closed"
    unheard = failure("ZZZZ0001", "주문가능수량을 초과 했습니다", 200)
    assert isinstance(unheard, OrderRejectedError) and unheard.reason == "insufficient_position"
    other = failure("ZZZZ0002", "처음 보는 거절", 200)
    assert isinstance(other, OrderRejectedError) and other.reason == "broker_rejected"


def test_kis_settings_refuse_to_start_wrong() -> None:
    good = {
        "environment": "paper",
        "app_key": APP_KEY,
        "app_secret": APP_SECRET,
        "account_number": "12345678-22",
    }
    kis = KisSettings(**good)
    assert (kis.cano, kis.acnt_prdt_cd, kis.rate_per_s, kis.burst) == ("12345678", "22", 0.8, 1)
    assert (
        KisSettings(**{**good, "app_key": f"  {APP_KEY}\n"}).app_key.get_secret_value() == APP_KEY
    )
    for bad in (
        {"app_key": "your-app-key-here"},
        {"app_secret": "changeme"},
        {"account_number": "1234"},
    ):
        with pytest.raises(ValidationError):
            KisSettings(**{**good, **bad})
    with pytest.raises(ValueError, match="kis: required"):
        AccountSettings(broker="kis")
    with pytest.raises(ValueError, match="base_url"):
        AccountSettings(broker="kis-sim", kis=kis)
    with pytest.raises(ValueError, match="base_url"):
        AccountSettings(broker="kis", kis=KisSettings(**{**good, "base_url": "http://x"}))
    assert APP_SECRET not in repr(kis) and APP_KEY not in str(kis.model_dump())
