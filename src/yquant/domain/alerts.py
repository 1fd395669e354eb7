"""Turning a TradingView alert body into an `Alert`, or a rejection with a reason code.

Pure functions of (body, now). The rules follow what TradingView really sends: the body is JSON
whether it arrives as ``application/json`` or ``text/plain``; keys are matched without regard to
case; numbers may be JSON numbers or strings; a ``{{placeholder}}`` left unreplaced is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from yquant.domain.model import CURRENCY, Action, Alert, Market, MarketPosition, OrderType
from yquant.domain.reasons import ReasonCode
from yquant.errors import SignalRejectedError

MAX_QUANTITY = Decimal(1_000_000)
MAX_PRICE = Decimal(1_000_000_000)
MAX_DECIMAL_PLACES = 8  # no price, size or strength is finer (US prices under $1: 4)

_ACTIONS = {
    "buy": Action.BUY,
    "long": Action.BUY,
    "sell": Action.SELL,
    "short": Action.SELL,
    "exit": Action.EXIT,
    "close": Action.EXIT,
    "flat": Action.EXIT,
}

# Exchange names TradingView and operators use, mapped to our market and canonical exchange.
EXCHANGES: dict[str, tuple[Market, str]] = {
    "KRX": (Market.KR, "KRX"),
    "KOSPI": (Market.KR, "KRX"),
    "KOSDAQ": (Market.KR, "KOSDAQ"),
    "KONEX": (Market.KR, "KONEX"),
    "NASDAQ": (Market.US, "NASDAQ"),
    "NAS": (Market.US, "NASDAQ"),
    "NASD": (Market.US, "NASDAQ"),
    "NYSE": (Market.US, "NYSE"),
    "NYS": (Market.US, "NYSE"),
    "AMEX": (Market.US, "AMEX"),
    "AMS": (Market.US, "AMEX"),
    "NYSEARCA": (Market.US, "AMEX"),
    "ARCA": (Market.US, "AMEX"),
    "BATS": (Market.US, "AMEX"),
}

# No brace inside: the search stays linear (".*?" made a string of braces quadratic).
_PLACEHOLDER = re.compile(r"\{\{[^{}]*\}\}")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Used with fullmatch: "$" would also match before a final newline ("AAPL\n").
_GROUPED = re.compile(r"[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?")
_EPOCH = re.compile(r"[0-9]+")
_TICKER = re.compile(r"[A-Z0-9][A-Z0-9.\-]{0,19}")
_TEXT_FIELDS = (
    "strategy",
    "comment",
    "id",
    "market_position",
    "prev_market_position",
    "currency",
)
# An alert is flat; a little nesting is kept for the operator to read, no more (what the decoder
# accepts, re-encoding for the signal log could not: RecursionError a few levels deeper).
MAX_NESTING = 16
# Every number exact: decimals and integers alike (one decoder, built once).
_DECODER = json.JSONDecoder(parse_float=Decimal, parse_int=Decimal)


def decode_body(body: bytes) -> dict[str, Any]:
    """JSON object from the raw body, with lower-cased, stripped keys."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignalRejectedError(
            ReasonCode.MALFORMED_JSON, "body is not valid UTF-8 JSON"
        ) from None
    try:
        data = _DECODER.decode(text)
    except RecursionError:
        raise SignalRejectedError(
            ReasonCode.MALFORMED_JSON, f"the body is nested deeper than {MAX_NESTING} levels"
        ) from None
    except json.JSONDecodeError:
        # "quantity": {{strategy.order.contracts}} left unreplaced is not JSON either
        if _PLACEHOLDER.search(text):
            raise SignalRejectedError(
                ReasonCode.UNRESOLVED_PLACEHOLDER, "the body holds {{...}}"
            ) from None
        raise SignalRejectedError(
            ReasonCode.MALFORMED_JSON, "body is not valid UTF-8 JSON"
        ) from None
    except InvalidOperation:  # an exponent beyond what a Decimal holds: 1e99999999999999999999
        raise SignalRejectedError(
            ReasonCode.MALFORMED_JSON, "a number in the body is out of range"
        ) from None
    # Only a \\u escape can make one: UTF-8 bytes never decode to a surrogate.
    if "\\u" in text and _lone_surrogate(data):
        # "\ud83d" without its pair decodes, but is no text: nothing can store or encode it
        raise SignalRejectedError(ReasonCode.MALFORMED_JSON, "body is not valid UTF-8 text")
    if not isinstance(data, dict):
        raise SignalRejectedError(ReasonCode.NOT_AN_OBJECT, "body must be a JSON object")
    if (text.count("{") + text.count("[") > MAX_NESTING) and _nesting(data) > MAX_NESTING:
        raise SignalRejectedError(
            ReasonCode.MALFORMED_JSON, f"the body is nested deeper than {MAX_NESTING} levels"
        )
    out: dict[str, Any] = {}
    for key, value in data.items():
        out[str(key).strip().lower()] = value.strip() if isinstance(value, str) else value
    return out


def _walk(data: Any) -> Iterator[tuple[Any, int]]:
    """Every value in decoded JSON, object keys included, with its depth (1 for the body)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        yield value, depth
        if isinstance(value, dict):
            stack.extend((key, depth + 1) for key in value)
            stack.extend((child, depth + 1) for child in value.values())
        elif isinstance(value, list):
            stack.extend((child, depth + 1) for child in value)


def _nesting(data: Any) -> int:
    """How many objects and arrays deep decoded JSON goes (1 for a flat object)."""
    return max(depth for value, depth in _walk(data) if isinstance(value, dict | list))


def _lone_surrogate(data: Any) -> bool:
    """Whether a key or string anywhere in decoded JSON holds half a surrogate pair."""
    return any(isinstance(value, str) and _SURROGATE.search(value) for value, _ in _walk(data))


def check_secret(fields: dict[str, Any], expected: str) -> None:
    """Constant-time comparison; the received value is never echoed."""
    given = fields.get("secret")
    if not isinstance(given, str) or not hmac.compare_digest(
        given.encode("utf-8"), expected.encode("utf-8")
    ):
        raise SignalRejectedError(ReasonCode.BAD_SECRET, "missing or wrong secret")


# One branch per field of the alert, checked in the order the documentation lists them.
def parse_alert(  # noqa: PLR0912
    fields: dict[str, Any], now: datetime, *, max_age_s: float | None = None
) -> Alert:
    """Validate decoded fields into an `Alert`. ``secret`` is ignored here (see check_secret).

    With ``max_age_s``, an alert whose ``timenow`` is older than that (or as far in the future:
    a wrong clock) is refused as stale: TradingView's own retries come within seconds.
    """
    for name, value in fields.items():
        if (
            name != "secret"
            and isinstance(value, str)
            and "{{" in value
            and _PLACEHOLDER.search(value)
        ):
            raise SignalRejectedError(
                ReasonCode.UNRESOLVED_PLACEHOLDER, f"field {name!r} holds {{{{...}}}}"
            )

    strategy = _text(fields, "strategy", required=False) or "default"
    raw_ticker = _text(fields, "ticker", required=True)
    ticker, prefix = _split_ticker(raw_ticker)
    exchange_name = _strip_delay(_text(fields, "exchange", required=False) or prefix or "")
    if not exchange_name:
        raise SignalRejectedError(
            ReasonCode.UNKNOWN_EXCHANGE,
            "give the exchange as EXCHANGE:TICKER or in field 'exchange'",
        )
    known = EXCHANGES.get(exchange_name.upper())
    if known is None:
        raise SignalRejectedError(
            ReasonCode.UNKNOWN_EXCHANGE, f"exchange {exchange_name!r} is not supported"
        )
    market, exchange = known

    action_raw = _text(fields, "action", required=True).lower()
    action = _ACTIONS.get(action_raw)
    if action is None:
        raise SignalRejectedError(
            ReasonCode.BAD_ACTION, f"action {action_raw!r} is not buy, sell or exit"
        )

    price = _decimal(fields, "price", ReasonCode.BAD_PRICE, positive=True, maximum=MAX_PRICE)
    quantity = _decimal(
        fields, "quantity", ReasonCode.BAD_QUANTITY, positive=True, maximum=MAX_QUANTITY
    )
    if quantity is not None and quantity != quantity.to_integral_value():
        raise SignalRejectedError(
            ReasonCode.BAD_QUANTITY, "quantity must be a whole number of shares"
        )
    order_type_raw = (_text(fields, "order_type", required=False) or "market").lower()
    try:
        order_type = OrderType(order_type_raw)
    except ValueError:
        raise SignalRejectedError(
            ReasonCode.BAD_FIELD, "order_type must be market or limit"
        ) from None
    limit_price = _decimal(
        fields, "limit_price", ReasonCode.BAD_PRICE, positive=True, maximum=MAX_PRICE
    )
    if order_type is OrderType.LIMIT and limit_price is None:
        limit_price = price
        if limit_price is None:
            raise SignalRejectedError(
                ReasonCode.MISSING_FIELD, "a limit order needs limit_price or price"
            )
    strength = _decimal(
        fields, "strength", ReasonCode.BAD_FIELD, positive=False, maximum=Decimal(100)
    )
    if strength is not None and strength < 0:
        raise SignalRejectedError(ReasonCode.BAD_FIELD, "strength must be between 0 and 100")
    currency = _text(fields, "currency", required=False).upper()
    if currency and currency != CURRENCY[market]:
        raise SignalRejectedError(
            ReasonCode.CURRENCY_MISMATCH,
            f"{exchange} trades in {CURRENCY[market]}, not {currency[:8]}",
        )
    position_size = _decimal(
        fields, "position_size", ReasonCode.BAD_FIELD, positive=False, maximum=MAX_QUANTITY
    )
    alert_id = _text(fields, "id", required=False)
    bar_time = _timestamp(fields, "time")
    sent_at = _timestamp(fields, "timenow")
    if max_age_s is not None and sent_at is not None:
        lag = (now - sent_at).total_seconds()
        if abs(lag) > max_age_s:
            raise SignalRejectedError(
                ReasonCode.STALE, f"timenow is {lag:.0f}s from now (limit {max_age_s:g}s)"
            )

    key = signal_key(
        strategy=strategy,
        ticker=f"{exchange}:{ticker}",
        action=action.value,
        alert_id=alert_id,
        bar_time=bar_time or sent_at,
        quantity=quantity,
        now=now,
    )
    return Alert(
        key=key,
        strategy=strategy,
        ticker=ticker,
        exchange=exchange,
        market=market,
        action=action,
        received_at=now,
        price=price,
        quantity=quantity,
        order_type=order_type,
        limit_price=limit_price if order_type is OrderType.LIMIT else None,
        strength=strength,
        position_size=position_size,
        market_position=_market_position(fields, "market_position"),
        prev_market_position=_market_position(fields, "prev_market_position"),
        alert_id=alert_id,
        bar_time=bar_time,
        sent_at=sent_at,
        comment=_text(fields, "comment", required=False),
    )


def signal_key(
    *,
    strategy: str,
    ticker: str,
    action: str,
    alert_id: str | None,
    bar_time: datetime | None,
    quantity: Decimal | None,
    now: datetime,
) -> str:
    """The alert's own id (with its ticker and action) when it sends one; else a hash of what
    makes the alert unique.

    An id is unique only per chart: one strategy on several symbols sends the same order id, in
    the same second, for each. Without any time from TradingView the minute of arrival stands
    in, so that TradingView's retries of one alert (seconds apart) collapse into one signal.
    """
    if alert_id:
        basis = f"id\x1f{strategy}\x1f{ticker}\x1f{action}\x1f{alert_id}"
    else:
        when = bar_time or now.replace(second=0, microsecond=0)
        qty = "" if quantity is None else format(quantity.normalize(), "f")
        basis = f"h\x1f{strategy}\x1f{ticker}\x1f{action}\x1f{when.isoformat()}\x1f{qty}"
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]


def _strip_delay(exchange: str) -> str:
    """TradingView marks delayed-data exchanges with a suffix: KRX_DLY, NASDAQ_DL."""
    upper = exchange.strip().upper()
    for suffix in ("_DLY", "_DL"):
        if upper.endswith(suffix):
            return upper[: -len(suffix)]
    return upper


def _split_ticker(raw: str) -> tuple[str, str | None]:
    prefix: str | None = None
    value = raw.strip().upper()
    if ":" in value:
        prefix, value = value.split(":", 1)
    # TradingView delayed-data suffixes and decorations: "AAPL.D", "005930_DL"
    for suffix in ("_DL", ".D", "_D"):
        if value.endswith(suffix):
            value = value[: -len(suffix)]
    if not _TICKER.fullmatch(value):
        raise SignalRejectedError(
            ReasonCode.BAD_FIELD, f"ticker {raw[:40]!r} is not a valid symbol"
        )
    return value, prefix


def _text(fields: dict[str, Any], name: str, *, required: bool) -> str:
    value = fields.get(name)
    if value is None or value == "":
        if required:
            raise SignalRejectedError(ReasonCode.MISSING_FIELD, f"field {name!r} is required")
        return ""
    if isinstance(value, Decimal):
        if abs(value.adjusted()) > 200:  # written out, 1e999999999 is a billion digits
            raise SignalRejectedError(
                ReasonCode.BAD_FIELD, f"field {name!r} is longer than 200 characters"
            )
        value = format(value, "f")
    if not isinstance(value, str):
        raise SignalRejectedError(ReasonCode.BAD_FIELD, f"field {name!r} must be text")
    if len(value) > 200:
        raise SignalRejectedError(
            ReasonCode.BAD_FIELD, f"field {name!r} is longer than 200 characters"
        )
    return value


def _market_position(fields: dict[str, Any], name: str) -> MarketPosition | None:
    """TradingView's ``long``, ``short`` or ``flat`` (any case); absent or empty: None."""
    value = _text(fields, name, required=False).lower()
    if not value:
        return None
    try:
        return MarketPosition(value)
    except ValueError:
        raise SignalRejectedError(
            ReasonCode.BAD_FIELD, f"field {name!r} must be long, short or flat"
        ) from None


def _decimal(
    fields: dict[str, Any],
    name: str,
    reason: ReasonCode,
    *,
    positive: bool,
    maximum: Decimal | None,
) -> Decimal | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise SignalRejectedError(reason, f"field {name!r} must be a number")
    text = value if isinstance(value, Decimal) else str(value).strip()
    if isinstance(text, str) and "_" in text:  # Decimal reads "1_0" as ten
        raise SignalRejectedError(reason, f"field {name!r} must be a number")
    if isinstance(text, str) and "," in text:
        if not _GROUPED.fullmatch(text):  # "1,5" is no thousands grouping: not fifteen
            raise SignalRejectedError(reason, f"field {name!r} must be a number")
        text = text.replace(",", "")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise SignalRejectedError(reason, f"field {name!r} must be a number") from None
    if not number.is_finite():
        raise SignalRejectedError(reason, f"field {name!r} must be finite")
    if positive and number <= 0:
        raise SignalRejectedError(reason, f"field {name!r} must be greater than zero")
    # copy_abs and comparisons are exact: no context, no Overflow for 1e999999999
    if maximum is not None and number.copy_abs() > maximum:
        raise SignalRejectedError(reason, f"field {name!r} is out of range")
    # An exponent of -8 or more cannot hold more than 8 places (the exact count is slower).
    exponent = number.as_tuple().exponent  # an int: NaN and infinities are refused above
    if (
        isinstance(exponent, int)
        and exponent < -MAX_DECIMAL_PLACES
        and _decimal_places(number) > MAX_DECIMAL_PLACES
    ):
        raise SignalRejectedError(
            reason, f"field {name!r} has more than {MAX_DECIMAL_PLACES} decimal places"
        )
    return number


def _decimal_places(number: Decimal) -> int:
    """Significant digits after the point (1.500 has one), without rounding anything."""
    _sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -(exponent + min(trailing, max(0, -exponent))))


def recorded_timenow(payload: str | None) -> datetime | None:
    """TradingView's ``timenow`` in a recorded alert's stored fields (the signal log's
    payload), None where the alert sent none or the stored fields do not read as an alert's:
    the execution report measures from it and never refuses a recorded signal."""
    if not payload:
        return None
    try:
        return _timestamp(decode_body(payload.encode("utf-8")), "timenow")
    except SignalRejectedError:
        return None


def _timestamp(fields: dict[str, Any], name: str) -> datetime | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str) and _EPOCH.fullmatch(value):
        value = Decimal(value)  # "{{timenow}}" quoted, in its numeric form
    try:
        if isinstance(value, Decimal):
            # epoch milliseconds (TradingView's {{timenow}} in numeric form) or seconds
            seconds = value / 1000 if value > 10**11 else value
            return datetime.fromtimestamp(float(seconds), tz=UTC)
        text = str(value).strip().replace("Z", "+00:00")
        parsed = datetime.fromisoformat(text)
    except (ValueError, ArithmeticError, OSError):  # ArithmeticError: decimal.Overflow too
        raise SignalRejectedError(
            ReasonCode.BAD_FIELD, f"field {name!r} is not a timestamp"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
