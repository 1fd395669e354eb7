"""Alert parsing: what TradingView sends becomes an Alert, or a rejection with a reason code."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yquant.domain import alerts
from yquant.domain.model import Action, Market, MarketPosition, OrderType
from yquant.domain.reasons import ReasonCode
from yquant.errors import SignalRejectedError

NOW = datetime(2026, 11, 27, 1, 2, 3, tzinfo=UTC)


def parse(body: str):
    return alerts.parse_alert(alerts.decode_body(body.encode()), NOW)


def reason_of(body: bytes | str) -> str:
    raw = body.encode() if isinstance(body, str) else body
    with pytest.raises(SignalRejectedError) as exc:
        alerts.parse_alert(alerts.decode_body(raw), NOW)
    return exc.value.reason


def test_prefixed_ticker_with_string_numbers_and_mixed_case_keys() -> None:
    alert = parse(
        '{"Ticker": " KRX:005930 ", "ACTION": "Buy", "Quantity": "10", "price": "71,000",'
        ' "strategy": "s1"}'
    )
    assert (alert.ticker, alert.exchange, alert.market) == ("005930", "KRX", Market.KR)
    assert alert.action is Action.BUY
    assert alert.quantity == Decimal(10)
    assert alert.price == Decimal(71000)
    assert alert.currency == "KRW"


def test_exchange_field_and_delayed_suffix() -> None:
    alert = parse('{"ticker": "AAPL.D", "exchange": "nasdaq", "action": "sell"}')
    assert (alert.ticker, alert.exchange, alert.market) == ("AAPL", "NASDAQ", Market.US)
    assert alert.currency == "USD"


@pytest.mark.parametrize("word", ["exit", "close", "flat", "CLOSE"])
def test_exit_words_mean_close_the_position(word: str) -> None:
    assert parse(f'{{"ticker": "NYSE:KO", "action": "{word}"}}').action is Action.EXIT


def test_an_escaped_surrogate_pair_is_one_character() -> None:
    assert (
        parse('{"ticker": "KRX:005930", "action": "buy", "comment": "\\ud83d\\ude80"}').comment
        == "\U0001f680"
    )


def test_numbers_stay_exact_decimals() -> None:
    alert = parse('{"ticker": "NYSE:KO", "action": "buy", "price": 0.1, "quantity": 3}')
    assert alert.price == Decimal("0.1")
    assert isinstance(alert.price, Decimal)


def test_limit_order_takes_price_when_limit_price_missing() -> None:
    alert = parse('{"ticker": "NYSE:KO", "action": "buy", "order_type": "limit", "price": "60.5"}')
    assert alert.order_type is OrderType.LIMIT
    assert alert.limit_price == Decimal("60.5")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", ReasonCode.MALFORMED_JSON),
        (b"\xff\xfe", ReasonCode.MALFORMED_JSON),
        (
            '{"ticker": "KRX:005930", "action": "buy", "comment": "\\ud83d"}',
            ReasonCode.MALFORMED_JSON,
        ),
        ('{"ticker": "KRX:005930", "action": "buy", "x\\udc00": 1}', ReasonCode.MALFORMED_JSON),
        (
            '{"ticker": "KRX:005930", "action": "buy", "x": [{"y": "\\udc00"}]}',
            ReasonCode.MALFORMED_JSON,
        ),
        ("[1, 2]", ReasonCode.NOT_AN_OBJECT),
        ('{"action": "buy", "exchange": "KRX"}', ReasonCode.MISSING_FIELD),
        ('{"ticker": "KRX:005930"}', ReasonCode.MISSING_FIELD),
        ('{"ticker": "KRX:005930", "action": "hold"}', ReasonCode.BAD_ACTION),
        ('{"ticker": "KRX:005930", "action": "buy", "quantity": -1}', ReasonCode.BAD_QUANTITY),
        ('{"ticker": "KRX:005930", "action": "buy", "quantity": 0}', ReasonCode.BAD_QUANTITY),
        ('{"ticker": "KRX:005930", "action": "buy", "quantity": 1.5}', ReasonCode.BAD_QUANTITY),
        ('{"ticker": "KRX:005930", "action": "buy", "quantity": 1e12}', ReasonCode.BAD_QUANTITY),
        ('{"ticker": "KRX:005930", "action": "buy", "quantity": "NaN"}', ReasonCode.BAD_QUANTITY),
        ('{"ticker": "KRX:005930", "action": "buy", "quantity": true}', ReasonCode.BAD_QUANTITY),
        ('{"ticker": "KRX:005930", "action": "buy", "price": "abc"}', ReasonCode.BAD_PRICE),
        ('{"ticker": "LSE:VOD", "action": "buy"}', ReasonCode.UNKNOWN_EXCHANGE),
        ('{"ticker": "005930", "action": "buy"}', ReasonCode.UNKNOWN_EXCHANGE),
        ('{"ticker": "{{ticker}}", "action": "buy"}', ReasonCode.UNRESOLVED_PLACEHOLDER),
        (
            '{"ticker": "KRX:005930", "action": "buy", "price": "{{close}}"}',
            ReasonCode.UNRESOLVED_PLACEHOLDER,
        ),
        ('{"ticker": "KRX:005930", "action": "buy", "order_type": "stop"}', ReasonCode.BAD_FIELD),
        (
            '{"ticker": "KRX:005930", "action": "buy", "order_type": "limit"}',
            ReasonCode.MISSING_FIELD,
        ),
        ('{"ticker": "KRX:00 5930", "action": "buy"}', ReasonCode.BAD_FIELD),
        # A newline inside, left at the end once the delayed-data suffix is cut off.
        ('{"ticker": "NASDAQ:AAPL\\n_DL", "action": "buy"}', ReasonCode.BAD_FIELD),
        ('{"ticker": "NASDAQ:AAPL\\n.D", "action": "buy"}', ReasonCode.BAD_FIELD),
        ('{"ticker": "KRX:005930", "action": "buy", "time": "yesterday"}', ReasonCode.BAD_FIELD),
    ],
)
def test_bad_alerts_are_rejected_with_their_reason(body: str | bytes, reason: str) -> None:
    assert reason_of(body) == reason


@pytest.mark.parametrize(
    ("field", "reason"),
    [
        ("quantity", ReasonCode.BAD_QUANTITY),
        ("price", ReasonCode.BAD_PRICE),
        ("limit_price", ReasonCode.BAD_PRICE),
        ("strength", ReasonCode.BAD_FIELD),
        ("time", ReasonCode.BAD_FIELD),
        ("timenow", ReasonCode.BAD_FIELD),
    ],
)
@pytest.mark.parametrize("number", ["1e999999999", "-1e999999999", '"1e999999999"'])
def test_numbers_beyond_any_bound_are_refused_by_their_field(
    field: str, reason: str, number: str
) -> None:
    body = f'{{"ticker": "KRX:005930", "action": "buy", "{field}": {number}}}'
    assert reason_of(body) == reason


@pytest.mark.parametrize("size", ["1e999999999", "1000001", "-1000001", '"-1e999999999"'])
def test_position_size_has_the_bound_of_a_quantity(size: str) -> None:
    body = f'{{"ticker": "KRX:005930", "action": "buy", "position_size": {size}}}'
    assert reason_of(body) == ReasonCode.BAD_FIELD
    assert (
        parse('{"ticker": "KRX:005930", "action": "buy", "position_size": -1000000}').position_size
        == -1000000
    )


@pytest.mark.parametrize("field", ["strategy", "id", "comment"])
def test_a_huge_bare_number_in_a_text_field_is_refused(field: str) -> None:
    # written out in full it would be 10**14 digits: a MemoryError
    body = f'{{"ticker": "KRX:005930", "action": "buy", "{field}": 1e100000000000}}'
    assert reason_of(body) == ReasonCode.BAD_FIELD


def test_a_number_beyond_what_a_decimal_holds_is_malformed() -> None:
    body = '{"ticker": "KRX:005930", "action": "buy", "quantity": 1e99999999999999999999}'
    assert reason_of(body) == ReasonCode.MALFORMED_JSON


def test_secret_is_checked_and_never_echoed() -> None:
    fields = alerts.decode_body(b'{"secret": "guess-123", "ticker": "KRX:005930"}')
    with pytest.raises(SignalRejectedError) as exc:
        alerts.check_secret(fields, "the-real-secret")
    assert exc.value.reason == ReasonCode.BAD_SECRET
    assert "guess-123" not in str(exc.value)
    alerts.check_secret({"secret": "the-real-secret"}, "the-real-secret")
    with pytest.raises(SignalRejectedError):
        alerts.check_secret({"secret": 12345}, "12345")


def test_alert_id_makes_the_key_and_repeats_share_it() -> None:
    a = parse('{"ticker": "KRX:005930", "action": "buy", "id": "A1", "strategy": "s"}')
    again = parse('{"ticker": "KRX:005930", "action": "buy", "id": "A1", "strategy": "s"}')
    c = parse('{"ticker": "KRX:005930", "action": "buy", "id": "A2", "strategy": "s"}')
    assert a.key == again.key != c.key


def test_one_alert_id_on_other_tickers_or_actions_is_another_signal() -> None:
    # The README's strategy template: "{{strategy.order.id}}-{{timenow}}" is the same on every
    # chart the strategy runs on when their bars close in the same second.
    body = '{"ticker": "%s", "action": "%s", "id": "Long-2024-05-02T06:30:00Z", "strategy": "t"}'
    aapl = parse(body % ("NASDAQ:AAPL", "buy")).key
    assert parse(body % ("NASDAQ:MSFT", "buy")).key != aapl
    assert parse(body % ("NYSE:AAPL", "buy")).key != aapl
    assert parse(body % ("NASDAQ:AAPL", "sell")).key != aapl
    # TradingView's retry of the same alert (another send time, same everything else)
    assert parse(body % ("NASDAQ:AAPL", "long")).key == aapl


def test_without_id_the_key_hashes_strategy_ticker_action_time_and_quantity() -> None:
    base = '{"ticker": "KRX:005930", "action": "buy", "time": "2026-11-27T00:00:00Z"'
    k1 = parse(base + ', "quantity": 1}').key
    assert parse(base + ', "quantity": 1}').key == k1
    assert parse(base + ', "quantity": 2}').key != k1
    assert parse(base.replace("buy", "sell") + ', "quantity": 1}').key != k1
    assert parse(base.replace("00:00:00", "00:01:00") + ', "quantity": 1}').key != k1


def test_epoch_millisecond_timenow_is_understood() -> None:
    alert = parse('{"ticker": "KRX:005930", "action": "buy", "timenow": 1764205323000}')
    assert alert.sent_at == datetime(2025, 11, 27, 1, 2, 3, tzinfo=UTC)


def test_epoch_millisecond_timenow_as_text_is_understood() -> None:
    alert = parse('{"ticker": "KRX:005930", "action": "buy", "timenow": "1764205323000"}')
    assert alert.sent_at == datetime(2025, 11, 27, 1, 2, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "number"), [("1,000", 1000), ("12,345,678", 12345678), ("1,234.5", Decimal("1234.5"))]
)
def test_thousands_separators_are_understood(text: str, number: Decimal) -> None:
    alert = parse(f'{{"ticker": "NYSE:KO", "action": "buy", "price": "{text}"}}')
    assert alert.price == number


@pytest.mark.parametrize("text", ["1,5", "1,00", ",100", "1,,000", "1000,", "1,000,00", "1.000,5"])
def test_a_comma_that_is_no_thousands_separator_is_refused(text: str) -> None:
    body = '{"ticker": "NYSE:KO", "action": "buy", "%s": "%s"}'
    assert reason_of(body % ("quantity", text)) == ReasonCode.BAD_QUANTITY
    assert reason_of(body % ("price", text)) == ReasonCode.BAD_PRICE


@pytest.mark.parametrize("text", ["1_0", "1_000", "1e-30", "0.000000001", "1.123456789"])
def test_underscores_and_absurd_precision_are_refused(text: str) -> None:
    body = '{"ticker": "NYSE:KO", "action": "buy", "%s": "%s"}'
    assert reason_of(body % ("price", text)) == ReasonCode.BAD_PRICE
    if "_" not in text:  # the same as a bare JSON number
        bare = '{"ticker": "NYSE:KO", "action": "buy", "price": ' + text + "}"
        assert reason_of(bare) == ReasonCode.BAD_PRICE


@pytest.mark.parametrize("text", ["0.00000001", "12.3400000000", "0.0001", "70100"])
def test_precision_up_to_eight_places_is_kept(text: str) -> None:
    body = {"ticker": "NYSE:KO", "action": "buy", "price": text}
    fields = alerts.decode_body(json.dumps(body).encode())
    assert alerts.parse_alert(fields, NOW).price == Decimal(text)


def test_an_unquoted_placeholder_is_named_as_one() -> None:
    body = '{"ticker": "NYSE:KO", "action": "buy", "quantity": {{strategy.order.contracts}}}'
    assert reason_of(body) == ReasonCode.UNRESOLVED_PLACEHOLDER


def test_looking_for_placeholders_takes_linear_time() -> None:
    import time

    started = time.monotonic()
    body = '{"ticker": "NYSE:KO", "action": "buy", "comment": "%s"}' % ("{" * 60_000)
    assert reason_of(body) == ReasonCode.BAD_FIELD  # too long, after the placeholder check
    assert reason_of(b"{" * 60_000) == ReasonCode.MALFORMED_JSON
    assert time.monotonic() - started < 3


_huge = st.builds(
    "{}e{}".format, st.sampled_from(["1", "-1", "9.5"]), st.integers(-(10**20), 10**20)
)
_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    _huge,
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
)
_fields = st.dictionaries(
    st.sampled_from(
        [
            "ticker",
            "action",
            "quantity",
            "price",
            "exchange",
            "strategy",
            "id",
            "time",
            "timenow",
            "order_type",
            "limit_price",
            "strength",
            "comment",
            "position_size",
            "market_position",
            "prev_market_position",
            "Ticker",
            "ACTION",
        ]
    ),
    _values,
    max_size=10,
)


@given(_fields)
def test_any_field_values_give_an_alert_or_a_named_rejection(fields: dict) -> None:
    import json

    # huge exponents as strings and as bare JSON numbers
    body = json.dumps(fields).encode()
    if fields:
        body = re.sub(rb'"(-?[0-9.]+e-?[0-9]+)"', rb"\1", body, count=1)
    try:
        alert = alerts.parse_alert(alerts.decode_body(body), NOW)
    except SignalRejectedError as exc:
        assert exc.reason
        return
    assert alert.quantity is None or alert.quantity > 0
    assert alert.price is None or alert.price > 0
    assert alert.received_at.tzinfo is not None


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise_anything_but_a_rejection(body: bytes) -> None:
    try:
        alerts.parse_alert(alerts.decode_body(body), NOW)
    except SignalRejectedError as exc:
        assert exc.reason


def test_tradingviews_positions_are_read_in_any_case_and_checked() -> None:
    alert = parse(
        '{"ticker": "KRX:005930", "action": "buy", "market_position": "Long",'
        ' "prev_market_position": "SHORT", "position_size": "10"}'
    )
    assert alert.market_position is MarketPosition.LONG
    assert alert.prev_market_position is MarketPosition.SHORT
    bare = parse('{"ticker": "KRX:005930", "action": "buy", "market_position": ""}')
    assert (bare.market_position, bare.prev_market_position) == (None, None)
    body = '{"ticker": "KRX:005930", "action": "sell", "prev_market_position": "sideways"}'
    assert reason_of(body) == ReasonCode.BAD_FIELD
    left = (
        '{"ticker": "KRX:005930", "action": "sell",'
        ' "market_position": "{{strategy.market_position}}"}'
    )
    assert reason_of(left) == ReasonCode.UNRESOLVED_PLACEHOLDER
