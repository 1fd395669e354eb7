"""How yQuant shows values to people: money, quantities, times and tables.

One place for the CLI's listings (and the dashboard's, later). Pure functions: no I/O, no
settings. `--json` output never goes through here: scripts get the raw values.

    money(Decimal("71000"), "KRW")      ₩71,000         KRW has no decimals
    money(Decimal("190.1"), "USD")      $190.10         2 decimals, up to 4 when the value has them
    quantity(Decimal("6.0000"))         6               no trailing zeros
    local_time(at, "KR")                2026-12-05 09:00:03 KST
    local_time(at, "US")                2026-07-01 09:30:00 EDT   (New York, daylight saving)
    zoned_time(at, "Asia/Seoul")        2026-12-05 09:00:03 KST   (a time of no market)
    table(rows, headers)                columns aligned in terminal cells (Hangul takes two)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation, localcontext
from zoneinfo import ZoneInfo

import wcwidth

from yquant.domain.market_rules import EXCHANGE_ALIASES

# Symbols a reader knows at a glance; other currencies are shown by their code.
SYMBOLS: dict[str, str] = {"KRW": "₩", "USD": "$", "HKD": "HK$", "JPY": "¥", "CNY": "CN¥"}
# Decimals always shown; a currency not listed has 2. Those with 0 are rounded to whole units.
DECIMALS: dict[str, int] = {"KRW": 0, "JPY": 0, "VND": 0}
# Sub-cent prices (US Rule 612 below $1, average fill prices) show up to this many decimals.
MAX_DECIMALS = 4

_VENUES = {v.market: v for v in EXCHANGE_ALIASES.values()}
_CURRENCY_MARKET = {v.currency: v.market for v in EXCHANGE_ALIASES.values()}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_WIDE_CONTEXT = Context(prec=60)


def as_decimal(value: object) -> Decimal | None:
    """``value`` (Decimal, int or its text, as the views give it) as a Decimal; None for none.
    A float is taken by its shortest text (``0.1`` is 0.1), never by its binary value."""
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError("a bool is not an amount")
    if isinstance(value, int | float | str):
        try:
            return Decimal(str(value).strip().replace(",", ""))
        except InvalidOperation:
            raise ValueError(f"not a number: {value!r}") from None
    raise TypeError(f"not a number: {type(value).__name__}")


def _digits(value: Decimal, least: int, most: int | None) -> str:
    """|value| with thousands separators and between ``least`` and ``most`` decimals (rounded
    half up past ``most``; trailing zeros beyond ``least`` dropped)."""
    with localcontext(_WIDE_CONTEXT):
        v = abs(value)
        exponent = v.as_tuple().exponent
        if most is not None and isinstance(exponent, int) and exponent < -most:
            v = v.quantize(Decimal(1).scaleb(-most), rounding=ROUND_HALF_UP)
        v = v.normalize()
        exponent = v.as_tuple().exponent
        if isinstance(exponent, int) and -exponent < least:
            v = v.quantize(Decimal(1).scaleb(-least))
        return f"{v:,f}"


def _signed(value: Decimal, digits: str) -> str:
    # "-0" is not shown: a value that rounds to zero is zero.
    return "-" if value < 0 and digits.strip("0.,") else ""


def number(value: object) -> str:
    """A plain number: thousands separators, no trailing zeros, no exponent."""
    d = as_decimal(value)
    if d is None:
        return ""
    if not d.is_finite():
        return str(d)
    digits = _digits(d, 0, None)
    return _signed(d, digits) + digits


def quantity(value: object) -> str:
    """Shares or contracts: ``6``, ``0.5``, ``1,200`` (no trailing zeros)."""
    return number(value)


def money(amount: object, currency: str | None) -> str:
    """An amount with its currency: ``₩71,000``, ``$190.10``, ``$0.0001``, ``-$5.00``,
    ``12.50 EUR``. KRW (and JPY, VND) are whole units; others have 2 decimals, more (up to 4)
    only when the value has them. Without a currency: a plain ``number``."""
    d = as_decimal(amount)
    if d is None:
        return ""
    if not d.is_finite():
        return str(d)
    code = (currency or "").strip().upper()
    if not code:
        return number(d)
    least = DECIMALS.get(code, 2)
    digits = _digits(d, least, least if least == 0 else MAX_DECIMALS)
    sign = _signed(d, digits)
    symbol = SYMBOLS.get(code)
    return f"{sign}{symbol}{digits}" if symbol else f"{sign}{digits} {code}"


_UNITS = {"en": ("d", "h", "min", "s"), "ko": ("일", "시간", "분", "초")}


def duration(seconds: object, language: str = "en") -> str:
    """A span for people, its two largest units: ``42 s``, ``5 min 3 s``, ``23 h 59 min``,
    ``2 d 3 h`` (Korean: ``23시간 59분``). Fractions of a second below a minute keep one
    decimal (``1.5 s``)."""
    d = as_decimal(seconds)
    if d is None:
        return ""
    day, hour, minute, second = _UNITS.get(language, _UNITS["en"])
    gap = "" if language == "ko" else " "
    sign = "-" if d < 0 else ""
    d = abs(d).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    if d < 60:
        return f"{sign}{d.normalize():f}{gap}{second}"
    total = int(d.to_integral_value(rounding=ROUND_HALF_UP))
    counts = []
    for size, unit in ((86400, day), (3600, hour), (60, minute), (1, second)):
        count, total = divmod(total, size)
        counts.append((count, unit))
    first = next(i for i, (count, _) in enumerate(counts) if count)
    shown = [f"{count}{gap}{unit}" for count, unit in counts[first : first + 2] if count]
    return sign + " ".join(shown)


# ---- markets and times ---------------------------------------------------------------------------


def market_of(exchange: str | None) -> str | None:
    """The market (KR, US, ...) of an exchange name or a prefixed ticker (``KRX:005930``)."""
    if not exchange:
        return None
    name = exchange.split(":", 1)[0] if ":" in exchange else exchange
    venue = EXCHANGE_ALIASES.get(name.strip().upper())
    return venue.market if venue else None


def currency_of(market: str | None) -> str | None:
    venue = _VENUES.get(str(market or "").upper())
    return venue.currency if venue else None


def market_of_currency(currency: str | None) -> str | None:
    return _CURRENCY_MARKET.get(str(currency or "").upper())


def zone(market: str | None) -> tzinfo:
    """The market's time zone (KR: Asia/Seoul, US: America/New_York); UTC for none."""
    venue = _VENUES.get(str(market or "").upper())
    return ZoneInfo(venue.timezone) if venue else UTC


def as_datetime(value: object) -> datetime | None:
    """A datetime or its ISO text; a naive one is UTC (yQuant stores UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        at = value
    elif isinstance(value, str):
        at = datetime.fromisoformat(value.strip())
    else:
        raise TypeError(f"not a time: {type(value).__name__}")
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def local_time(at: object, market: str | None = None, *, utc: bool = False) -> str:
    """``2026-12-05 09:00:03 KST``: the time in the market's zone with the zone's name, whole
    seconds, ISO date. ``utc`` (or no known market) gives UTC."""
    when = as_datetime(at)
    if when is None:
        return ""
    shown = when.astimezone(UTC if utc else zone(market))
    return f"{shown:%Y-%m-%d %H:%M:%S} {shown.tzname()}"


def zoned_time(at: object, zone_name: str) -> str:
    """``2026-12-05 09:00:03 KST``: the time in a named zone (``Asia/Seoul``), for times that
    belong to no market (audit entries, heartbeats)."""
    when = as_datetime(at)
    if when is None:
        return ""
    shown = when.astimezone(ZoneInfo(zone_name))
    return f"{shown:%Y-%m-%d %H:%M:%S} {shown.tzname()}"


# ---- tables --------------------------------------------------------------------------------------


def cells(text: str) -> int:
    """Terminal columns ``text`` takes: Hangul and other wide characters take two, combining
    marks none (wcwidth)."""
    return int(wcwidth.width(text))


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` terminal columns, an ellipsis marking the cut."""
    if cells(text) <= width:
        return text
    out, used = [], 0
    for grapheme in wcwidth.iter_graphemes(text):
        w = cells(grapheme)
        if used + w > width - 1:
            break
        out.append(grapheme)
        used += w
    return "".join(out) + "…"


def pad(text: str, width: int) -> str:
    """``text`` followed by spaces up to ``width`` terminal columns (``str.ljust`` counts a
    Hangul syllable as one column; a terminal gives it two)."""
    return text + " " * max(0, width - cells(text))


def one_line(value: object) -> str:
    """A cell's text: None is empty, control characters (newlines, tabs) become spaces."""
    if value is None:
        return ""
    return _CONTROL.sub(" ", str(value)).strip()


def table(
    rows: Sequence[Sequence[object]],
    headers: Sequence[str] | None = None,
    *,
    align: str = "",
    max_width: int = 40,
    indent: str = "",
) -> str:
    """Rows as aligned text: a header line (when given), then one line per row, columns two
    spaces apart and measured in terminal cells. ``align`` has one letter per column, ``l`` or
    ``r`` (numbers read best right-aligned); missing letters are ``l``. Cells longer than
    ``max_width`` columns are clipped with an ellipsis."""
    body = [[clip(one_line(c), max_width) for c in row] for row in rows]
    head = [one_line(h) for h in headers] if headers is not None else None
    count = max([len(head or [])] + [len(r) for r in body])
    lines_in = ([head] if head is not None else []) + body
    grid = [r + [""] * (count - len(r)) for r in lines_in]
    widths = [max(cells(r[i]) for r in grid) for i in range(count)]
    sides = align.ljust(count, "l")
    lines = []
    for r in grid:
        padded = []
        for text, width, side in zip(r, widths, sides, strict=True):
            gap = " " * (width - cells(text))
            padded.append(gap + text if side == "r" else text + gap)
        lines.append((indent + "  ".join(padded)).rstrip())
    return "\n".join(lines)
