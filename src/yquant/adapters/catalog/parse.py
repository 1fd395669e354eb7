"""Master-file bytes to `Listing` rows, refusing anything that does not look exactly right.

A file that is cut short, in another encoding, or in a layout that has drifted raises
`MasterFileError` naming the file and the line: a partial catalog is worse than yesterday's.

KRX records are split by bytes: the ASCII tail is the last N bytes of the line and the front is
the rest, so a Korean name never shifts the fields. The 40-byte name field may end in the first
byte of a two-byte character that did not fit; that byte is dropped, anything else that is not
cp949 is an encoding error.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from yquant.adapters.catalog.errors import MasterFileError
from yquant.adapters.catalog.layouts import (
    COD_COLUMNS,
    COD_MIN_COLUMNS,
    NAME_START,
    SHORT_CODE,
    STANDARD_CODE,
    TAILS,
    TailLayout,
)
from yquant.adapters.catalog.listing import Listing
from yquant.adapters.catalog.sources import MasterFile

# KRX 증권그룹구분코드 → (security type, routed by yQuant?)
KRX_GROUPS: dict[str, tuple[str, bool]] = {
    "ST": ("stock", True),
    "KN": ("stock", True),  # KONEX
    "EF": ("etf", True),
    "EN": ("etn", True),
    "FE": ("etf", True),  # a foreign ETF listed on KRX
    "FS": ("foreign_stock", True),
    "DR": ("dr", True),
    "MF": ("fund", True),
    "RT": ("reit", True),
    "SC": ("ship_fund", True),
    "IF": ("infra_fund", True),
    "BC": ("beneficiary_certificate", True),
    "EW": ("elw", False),
    "SW": ("warrant", False),
    "SR": ("rights", False),
}
# Overseas: (security type column, ETP class column) → type; indexes and warrants are not routed.
_COD_TYPES = {
    "1": ("index", False),
    "2": ("stock", True),
    "3": ("etf", True),
    "4": ("warrant", False),
}
_ETP_CLASSES = {"001": "etf", "002": "etn", "003": "etc", "005": "etf", "006": "etn"}

_CODE = re.compile(r"^[0-9A-Z]{1,9}$")
_ISIN = re.compile(r"^[A-Z]{2}[0-9A-Z]{9}[0-9]$")
_GROUP = re.compile(r"^[A-Z]{2}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_BLANK = b" \t\x1a"  # padding, and the DOS end-of-file mark some exports carry
_HEADER_WORDS = frozenset({"symbol", "national code", "exchange code", "english name"})


def parse_master(file: MasterFile, data: bytes) -> list[Listing]:
    """Every listing in one master file, in file order, duplicates refused or collapsed."""
    if file.layout == "cod":
        rows = _parse_cod(file, data)
    else:
        rows = _parse_krx(file, TAILS[file.layout], data)
    if not rows:
        raise MasterFileError(file, "no rows: the file is empty")
    return _unique(file, rows)


def _lines(data: bytes) -> list[tuple[int, bytes]]:
    # 0x0A never occurs inside a cp949 character (trail bytes are 0x41 and above).
    out = []
    for number, raw in enumerate(data.split(b"\n"), 1):
        line = raw.rstrip(b"\r")
        if line.strip(_BLANK):
            out.append((number, line))
    return out


# ---- KOSPI / KOSDAQ / KONEX ----------------------------------------------------------------------


def _parse_krx(file: MasterFile, layout: TailLayout, data: bytes) -> list[Listing]:
    rows = []
    width = layout.width
    for number, line in _lines(data):
        if len(line) < NAME_START + width:
            raise MasterFileError(
                file, f"line {number}: {len(line)} bytes, too short for a record (cut off?)"
            )
        tail, front = line[-width:], line[:-width]
        if not tail.isascii() or not front[:NAME_START].isascii():
            raise MasterFileError(
                file, f"line {number}: the fixed ASCII fields are not ASCII (wrong encoding?)"
            )
        code = front[SHORT_CODE].decode().strip()
        isin = front[STANDARD_CODE].decode().strip()
        if not _CODE.match(code):
            raise MasterFileError(file, f"line {number}: short code {code!r} is not a code")
        if isin and not _ISIN.match(isin):
            raise MasterFileError(file, f"line {number}: standard code {isin!r} is not an ISIN")
        name = _krx_name(file, number, front[NAME_START:])
        rows.append(_krx_listing(file, number, code, isin, name, layout.split(tail.decode())))
    return rows


def _krx_name(file: MasterFile, number: int, raw: bytes) -> str | None:
    text = raw.rstrip(b" ")
    try:
        return text.decode("cp949").strip() or None
    except UnicodeDecodeError as exc:
        # The field is cut at 40 bytes: a lone lead byte at its very end is half a character.
        if exc.start == len(text) - 1 and text[-1] >= 0x81:
            try:
                return text[:-1].decode("cp949").strip() or None
            except UnicodeDecodeError:
                pass
    raise MasterFileError(file, f"line {number}: the name is not cp949 text (wrong encoding?)")


def _krx_listing(
    file: MasterFile, number: int, code: str, isin: str, name: str | None, f: dict[str, str]
) -> Listing:
    group = f["group_code"]
    if not _GROUP.match(group):
        raise MasterFileError(
            file, f"line {number}: group code {group!r} is not two letters (layout changed?)"
        )
    flags = {k: _flag(file, number, k, f[k]) for k in ("halted", "liquidation", "managed")}
    security_type, routed = KRX_GROUPS.get(group, ("other", False))
    if security_type == "stock" and f["preferred"] in ("1", "2"):
        security_type = "preferred"
    if security_type == "stock" and f.get("spac") == "Y":
        security_type = "spac"
    extra: dict[str, Any] = {
        "group_code": group,
        "liquidation": flags["liquidation"],
        "managed": flags["managed"],
        "market_warning": f["market_warning"] if f["market_warning"].strip("0") else None,
        "warning_notice": f["warning_notice"] == "Y",
        "short_sale_overheat": f["short_sale_overheat"] == "Y",
        "abnormal_surge": f["abnormal_surge"] == "Y",
        "after_hours_lot": _int(file, number, "after_hours_lot", f["after_hours_lot"]),
        "margin_rate": _int(file, number, "margin_rate", f["margin_rate"]) or None,
        "credit_available": f["credit_available"] == "Y",
        "listing_date": f["listing_date"] if f["listing_date"].strip("0") else None,
        "lock_code": f["lock_code"] or None,
        "preferred": f["preferred"] or None,
    }
    for optional in ("etp", "short_term_overheat", "investment_caution", "spac"):
        if f.get(optional):
            extra[optional] = f[optional]
    return Listing(
        market=file.market,
        exchange=file.exchange,
        ticker=code,
        currency=file.currency,
        standard_code=isin or None,
        name_ko=name,
        security_type=security_type,
        tradable=routed,
        halted=flags["halted"],
        lot_size=_int(file, number, "lot_size", f["lot_size"]) or None,
        base_price=_price(file, number, "base_price", f["base_price"]),
        extra=extra,
    )


# ---- overseas .cod -------------------------------------------------------------------------------


def _parse_cod(file: MasterFile, data: bytes) -> list[Listing]:
    rows = []
    for index, (number, line) in enumerate(_lines(data)):
        try:
            text = line.decode("cp949")
        except UnicodeDecodeError:
            raise MasterFileError(
                file, f"line {number}: not cp949 text (wrong encoding?)"
            ) from None
        cells = [c.strip() for c in text.split("\t")]
        if index == 0 and _HEADER_WORDS & {c.lower() for c in cells}:
            continue  # a header line (KIS's samples leave open whether the files have one)
        if len(cells) < COD_MIN_COLUMNS:
            raise MasterFileError(
                file, f"line {number}: {len(cells)} tab-separated fields, expected 24 (cut off?)"
            )
        cells += [""] * (len(COD_COLUMNS) - len(cells))
        rows.append(_cod_listing(file, number, dict(zip(COD_COLUMNS, cells, strict=False))))
    return rows


def _cod_listing(file: MasterFile, number: int, c: dict[str, str]) -> Listing:
    ticker = c["symbol"]
    if not ticker or len(ticker) > 40 or any(ch.isspace() for ch in ticker):
        raise MasterFileError(file, f"line {number}: symbol {ticker!r} is not a symbol")
    currency = c["currency"] or file.currency
    if not _CURRENCY.match(currency):
        raise MasterFileError(file, f"line {number}: currency {currency!r} is not a currency")
    security_type, routed = _COD_TYPES.get(c["security_type"], ("other", False))
    if security_type == "etf":
        security_type = _ETP_CLASSES.get(c["etp_class"], "etf")
    elif security_type == "stock" and c["dr"] == "Y":
        security_type = "dr"
    extra: dict[str, Any] = {
        k: c[k]
        for k in (
            "realtime_symbol",
            "exchange_code",
            "dr_country",
            "industry_code",
            "tick_size_type",
            "etp_class",
            "market_start",
            "market_end",
        )
        if c[k]
    }
    extra["dr"] = c["dr"] == "Y"
    ask = _int(file, number, "ask_order_size", c["ask_order_size"])
    if ask:
        extra["ask_order_size"] = ask
    return Listing(
        market=file.market,
        exchange=file.exchange,
        ticker=ticker,
        currency=currency,
        name_ko=c["name_ko"] or None,
        name_en=c["name_en"] or None,
        security_type=security_type,
        tradable=routed,
        halted=False,  # the overseas files carry no halt flag
        lot_size=_int(file, number, "bid_order_size", c["bid_order_size"]) or None,
        price_decimals=_int(file, number, "float_position", c["float_position"]),
        base_price=_price(file, number, "base_price", c["base_price"]),
        extra=extra,
    )


# ---- fields --------------------------------------------------------------------------------------


def _flag(file: MasterFile, number: int, name: str, value: str) -> bool:
    if value not in ("Y", "N", ""):
        raise MasterFileError(
            file, f"line {number}: {name} flag is {value!r}, not Y or N (layout changed?)"
        )
    return value == "Y"


def _int(file: MasterFile, number: int, name: str, value: str) -> int | None:
    if value == "":
        return None
    if not value.isdigit():
        raise MasterFileError(file, f"line {number}: {name} {value!r} is not a whole number")
    return int(value)


def _price(file: MasterFile, number: int, name: str, value: str) -> Decimal | None:
    if value == "":
        return None
    try:
        price = Decimal(value)
    except InvalidOperation:
        raise MasterFileError(file, f"line {number}: {name} {value!r} is not a number") from None
    if not price.is_finite() or price < 0:
        raise MasterFileError(file, f"line {number}: {name} {value!r} is not a price")
    return price.normalize() if price > 0 else None


def _unique(file: MasterFile, rows: list[Listing]) -> list[Listing]:
    """Identical repeated rows collapse; two different rows for one ticker refuse the file."""
    seen: dict[str, Listing] = {}
    for row in rows:
        before = seen.get(row.ticker)
        if before is None:
            seen[row.ticker] = row
        elif before != row:
            raise MasterFileError(file, f"ticker {row.ticker!r} appears twice with different data")
    return list(seen.values())
