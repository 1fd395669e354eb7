"""KIS's wire vocabulary: every field name lives here, mapped to our own values.

Request builders return the exact dicts KIS expects (POST bodies with UPPERCASE keys, every value
a string); parsers turn KIS's responses (lowercase keys in inquiries, UPPERCASE in order
responses, numbers as strings that may be blank, signed, padded or comma-formatted) into our
types. Nothing outside the KIS adapter sees these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from yquant.adapters.brokers.kis.errors import KisOutcomeUnknownError
from yquant.domain.model import Market, OrderType, Side
from yquant.ports import Quote

KST = ZoneInfo("Asia/Seoul")
NEW_YORK = ZoneInfo("America/New_York")

# US exchanges: trading/account TRs and quote TRs use two different vocabularies.
ORDER_EXCHANGE = {"NASDAQ": "NASD", "NYSE": "NYSE", "AMEX": "AMEX"}
QUOTE_EXCHANGE = {"NASDAQ": "NAS", "NYSE": "NYS", "AMEX": "AMS"}
_ORDER_TO_OURS = {v: k for k, v in ORDER_EXCHANGE.items()} | {"NAS": "NASDAQ", "NYS": "NYSE"}
_ORDER_TO_OURS |= {"AMS": "AMEX"}

SIDE_CODE = {Side.SELL: "01", Side.BUY: "02"}  # sll_buy_dvsn_cd
_SIDE_FROM_CODE = {"01": Side.SELL, "02": Side.BUY}

# Continuation: response header tr_cont F/M means more pages, D/E means the last one.
MORE_PAGES = frozenset({"F", "M"})


def num(value: Any) -> Decimal | None:
    """KIS numbers: strings, maybe blank, padded, signed or with thousands separators."""
    if value is None:
        return None
    text = str(value).strip().replace(",", "")
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def num0(value: Any) -> Decimal:
    return num(value) or Decimal(0)


def text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def plain(value: Decimal) -> str:
    """A Decimal as KIS wants it in a request: no exponent, no trailing zeros beyond need."""
    normalized = value.normalize()
    return format(normalized, "f") if normalized == normalized.to_integral() else format(value, "f")


# ---- envelope and token -------------------------------------------------------------------------


def envelope(body: dict[str, Any]) -> tuple[str, str, str]:
    """(rt_cd, msg_cd, msg1) of an ordinary response; rt_cd "0" is success."""
    return text(body.get("rt_cd")), text(body.get("msg_cd")), text(body.get("msg1"))


def token_failure(body: dict[str, Any]) -> tuple[str, str]:
    """(code, message) of the token endpoint's own error shape, or of an ordinary envelope."""
    if "error_code" in body or "error_description" in body:
        return text(body.get("error_code")), text(body.get("error_description"))
    _rt, code, message = envelope(body)
    return code, message


def token_request(app_key: str, app_secret: str) -> dict[str, str]:
    return {"grant_type": "client_credentials", "appkey": app_key, "appsecret": app_secret}


@dataclass(frozen=True, slots=True)
class TokenGrant:
    access_token: str
    expires_at: datetime


def parse_token(body: dict[str, Any], now: datetime) -> TokenGrant:
    token = text(body.get("access_token"))
    if not token:
        raise ValueError("token response without access_token")
    candidates = []
    seconds = num(body.get("expires_in"))
    if seconds is not None:
        candidates.append(now + timedelta(seconds=int(seconds)))
    stamp = text(body.get("access_token_token_expired"))
    if stamp:
        local = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=KST)
        candidates.append(local.astimezone(UTC))
    if not candidates:
        raise ValueError("token response without an expiry")
    return TokenGrant(token, min(candidates))


def cursor_fields(width: int) -> tuple[tuple[str, str], tuple[str, str]]:
    """((request FK, request NK), (response fk, response nk)) for 100- or 200-wide cursors."""
    return (
        (f"CTX_AREA_FK{width}", f"CTX_AREA_NK{width}"),
        (f"ctx_area_fk{width}", f"ctx_area_nk{width}"),
    )


# ---- orders -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderAck:
    broker_order_id: str  # ODNO, kept as the string KIS sent (zero padding included)
    branch: str  # KRX_FWDG_ORD_ORGNO, needed to cancel a domestic order
    ordered_at: str  # ORD_TMD, HHMMSS


def parse_order_ack(body: dict[str, Any]) -> OrderAck:
    out = body.get("output") or {}
    upper = {str(k).upper(): v for k, v in out.items()}
    odno = text(upper.get("ODNO"))
    if not odno:
        # A success without the order number: the order may well be live. Ask, never resend.
        raise KisOutcomeUnknownError("order accepted without an order number (ODNO)")
    return OrderAck(odno, text(upper.get("KRX_FWDG_ORD_ORGNO")), text(upper.get("ORD_TMD")))


def domestic_order_body(
    cano: str,
    product: str,
    ticker: str,
    order_type: OrderType,
    quantity: Decimal,
    limit_price: Decimal | None,
    side: Side,
) -> dict[str, str]:
    body = {
        "CANO": cano,
        "ACNT_PRDT_CD": product,
        "PDNO": ticker,
        "ORD_DVSN": "00" if order_type is OrderType.LIMIT else "01",
        "ORD_QTY": plain(quantity),
        "ORD_UNPR": plain(limit_price) if order_type is OrderType.LIMIT and limit_price else "0",
        "EXCG_ID_DVSN_CD": "KRX",
    }
    if side is Side.SELL:
        body["SLL_TYPE"] = "01"
    return body


def domestic_cancel_body(
    cano: str, product: str, branch: str, broker_order_id: str
) -> dict[str, str]:
    return {
        "CANO": cano,
        "ACNT_PRDT_CD": product,
        "KRX_FWDG_ORD_ORGNO": branch,
        "ORGN_ODNO": broker_order_id,
        "ORD_DVSN": "00",
        "RVSE_CNCL_DVSN_CD": "02",
        "ORD_QTY": "0",
        "ORD_UNPR": "0",
        "QTY_ALL_ORD_YN": "Y",
        "EXCG_ID_DVSN_CD": "KRX",
    }


def domestic_modify_body(
    cano: str,
    product: str,
    branch: str,
    broker_order_id: str,
    *,
    limit_price: Decimal | None,
    quantity: Decimal | None,
) -> dict[str, str]:
    """정정 (RVSE_CNCL_DVSN_CD 01): ``limit_price`` None makes it a market order; ``quantity``
    None modifies all that is left (QTY_ALL_ORD_YN Y), else that many of it."""
    return {
        "CANO": cano,
        "ACNT_PRDT_CD": product,
        "KRX_FWDG_ORD_ORGNO": branch,
        "ORGN_ODNO": broker_order_id,
        "ORD_DVSN": "01" if limit_price is None else "00",
        "RVSE_CNCL_DVSN_CD": "01",
        "ORD_QTY": "0" if quantity is None else plain(quantity),
        "ORD_UNPR": "0" if limit_price is None else plain(limit_price),
        "QTY_ALL_ORD_YN": "Y" if quantity is None else "N",
        "EXCG_ID_DVSN_CD": "KRX",
    }


def overseas_order_body(
    cano: str,
    product: str,
    exchange: str,
    ticker: str,
    quantity: Decimal,
    limit_price: Decimal,
    side: Side,
) -> dict[str, str]:
    return {
        "CANO": cano,
        "ACNT_PRDT_CD": product,
        "OVRS_EXCG_CD": ORDER_EXCHANGE[exchange],
        "PDNO": ticker,
        "ORD_QTY": plain(quantity),
        "OVRS_ORD_UNPR": format(limit_price, "f"),
        "CTAC_TLNO": "",
        "MGCO_APTM_ODNO": "",
        "SLL_TYPE": "00" if side is Side.SELL else "",
        "ORD_SVR_DVSN_CD": "0",
        "ORD_DVSN": "00",  # limit: the only US type paper accepts; market is emulated
    }


def overseas_revise_body(
    cano: str,
    product: str,
    exchange: str,
    ticker: str,
    broker_order_id: str,
    quantity: Decimal,
    limit_price: Decimal | None,
) -> dict[str, str]:
    """해외주식 정정취소: ``limit_price`` None cancels (price "0"), else modifies to it. KIS's
    own samples send the order's quantity (not "0") for a cancel of all that is left."""
    return {
        "CANO": cano,
        "ACNT_PRDT_CD": product,
        "OVRS_EXCG_CD": ORDER_EXCHANGE[exchange],
        "PDNO": ticker,
        "ORGN_ODNO": broker_order_id,
        "RVSE_CNCL_DVSN_CD": "02" if limit_price is None else "01",
        "ORD_QTY": plain(quantity),
        "OVRS_ORD_UNPR": "0" if limit_price is None else format(limit_price, "f"),
        "MGCO_APTM_ODNO": "",
        "ORD_SVR_DVSN_CD": "0",
    }


@dataclass(frozen=True, slots=True)
class VenueOrder:
    """One row of KIS's order/execution inquiry, in our words."""

    market: Market
    broker_order_id: str
    original_order_id: str  # the order a cancel/modify refers to ("" for a new order)
    branch: str  # ord_gno_brno: the order's branch, needed to cancel a domestic order
    is_cancel: bool  # this row is a cancel request, not an order of its own
    ticker: str
    side: Side | None
    quantity: Decimal
    limit_price: Decimal | None
    filled_quantity: Decimal
    filled_amount: Decimal
    avg_price: Decimal | None
    remaining: Decimal
    cancelled_quantity: Decimal
    rejected: bool
    reject_text: str
    ordered_at: datetime


def _kst_stamp(day: str, hhmmss: str) -> datetime:
    day = day or datetime.now(KST).strftime("%Y%m%d")
    hhmmss = (hhmmss or "000000").ljust(6, "0")[:6]
    return datetime.strptime(day + hhmmss, "%Y%m%d%H%M%S").replace(tzinfo=KST)


def domestic_daily_params(
    cano: str, product: str, start: str, end: str, ticker: str = "", broker_order_id: str = ""
) -> dict[str, str]:
    return {
        "CANO": cano,
        "ACNT_PRDT_CD": product,
        "INQR_STRT_DT": start,
        "INQR_END_DT": end,
        "SLL_BUY_DVSN_CD": "00",
        "PDNO": ticker,
        "CCLD_DVSN": "00",
        "INQR_DVSN": "01",
        "INQR_DVSN_3": "00",
        "ORD_GNO_BRNO": "",
        "ODNO": broker_order_id,
        "INQR_DVSN_1": "",
        "EXCG_ID_DVSN_CD": "KRX",
    }


def parse_domestic_order_row(row: dict[str, Any]) -> VenueOrder:
    filled = num0(row.get("tot_ccld_qty"))
    amount = num0(row.get("tot_ccld_amt"))
    avg = num(row.get("avg_prvs"))
    return VenueOrder(
        market=Market.KR,
        broker_order_id=text(row.get("odno")),
        original_order_id=text(row.get("orgn_odno")),
        branch=text(row.get("ord_gno_brno")),
        is_cancel=text(row.get("cncl_yn")) == "Y",
        ticker=text(row.get("pdno")),
        side=_SIDE_FROM_CODE.get(text(row.get("sll_buy_dvsn_cd"))),
        quantity=num0(row.get("ord_qty")),
        limit_price=num(row.get("ord_unpr")) or None,
        filled_quantity=filled,
        filled_amount=amount,
        avg_price=avg if avg else (amount / filled if filled else None),
        remaining=num0(row.get("rmn_qty")),
        cancelled_quantity=num0(row.get("cnc_cfrm_qty")),
        rejected=num0(row.get("rjct_qty")) > 0,
        reject_text="",
        ordered_at=_kst_stamp(text(row.get("ord_dt")), text(row.get("ord_tmd"))),
    )


def overseas_ccnl_params(
    cano: str, product: str, start: str, end: str, paper: bool
) -> dict[str, str]:
    # Paper accepts only the "all" forms of these filters; ODNO can never be searched.
    return {
        "CANO": cano,
        "ACNT_PRDT_CD": product,
        "PDNO": "" if paper else "%",
        "ORD_STRT_DT": start,
        "ORD_END_DT": end,
        "SLL_BUY_DVSN": "00",
        "CCLD_NCCS_DVSN": "00",
        "OVRS_EXCG_CD": "" if paper else "NASD",
        "SORT_SQN": "DS",
        "ORD_DT": "",
        "ORD_GNO_BRNO": "",
        "ODNO": "",
    }


def parse_overseas_order_row(row: dict[str, Any]) -> VenueOrder:
    filled = num0(row.get("ft_ccld_qty"))
    amount = num0(row.get("ft_ccld_amt3"))
    avg = num(row.get("ft_ccld_unpr3"))
    reason = text(row.get("rjct_rson_name")) or text(row.get("rjct_rson"))
    day = text(row.get("dmst_ord_dt")) or text(row.get("ord_dt"))
    hhmmss = text(row.get("thco_ord_tmd")) or text(row.get("ord_tmd"))
    return VenueOrder(
        market=Market.US,
        broker_order_id=text(row.get("odno")),
        original_order_id=text(row.get("orgn_odno")),
        branch=text(row.get("ord_gno_brno")),
        is_cancel=text(row.get("rvse_cncl_dvsn")) == "02",
        ticker=text(row.get("pdno")),
        side=_SIDE_FROM_CODE.get(text(row.get("sll_buy_dvsn_cd"))),
        quantity=num0(row.get("ft_ord_qty")),
        limit_price=num(row.get("ft_ord_unpr3")) or None,
        filled_quantity=filled,
        filled_amount=amount,
        avg_price=avg if avg else (amount / filled if filled else None),
        remaining=num0(row.get("nccs_qty")),
        cancelled_quantity=Decimal(0),
        rejected=bool(reason),
        reject_text=reason,
        ordered_at=_kst_stamp(day, hhmmss),
    )


# ---- balances -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VenueHolding:
    ticker: str
    quantity: Decimal
    avg_price: Decimal
    exchange: str | None  # our exchange name where KIS tells it


def domestic_balance_params(cano: str, product: str) -> dict[str, str]:
    return {
        "CANO": cano,
        "ACNT_PRDT_CD": product,
        "AFHR_FLPR_YN": "N",
        "OFL_YN": "",
        "INQR_DVSN": "02",
        "UNPR_DVSN": "01",
        "FUND_STTL_ICLD_YN": "N",
        "FNCG_AMT_AUTO_RDPT_YN": "N",
        "PRCS_DVSN": "00",
    }


def parse_domestic_holdings(rows: list[dict[str, Any]]) -> list[VenueHolding]:
    # A position sold out today still shows with hldg_qty 0 until settlement: left out.
    return [
        VenueHolding(
            text(r.get("pdno")), num0(r.get("hldg_qty")), num0(r.get("pchs_avg_pric")), None
        )
        for r in rows
        if num0(r.get("hldg_qty")) > 0
    ]


def domestic_buying_power_params(cano: str, product: str) -> dict[str, str]:
    # Cash only, for no stock: PDNO and ORD_UNPR blank ask for the amounts without a quantity;
    # ORD_DVSN 01 (market) is the form KIS asks buying-power checks to use.
    return {
        "CANO": cano,
        "ACNT_PRDT_CD": product,
        "PDNO": "",
        "ORD_UNPR": "",
        "ORD_DVSN": "01",
        "CMA_EVLU_AMT_ICLD_YN": "N",
        "OVRS_ICLD_YN": "N",
    }


def parse_orderable_cash(body: dict[str, Any]) -> Decimal:
    """KRW cash new orders can spend (ord_psbl_cash): the deposit less what open buys hold."""
    out = body.get("output")
    row = out[0] if isinstance(out, list) and out else out or {}
    return num0(row.get("ord_psbl_cash"))


def overseas_balance_params(cano: str, product: str, exchange_code: str) -> dict[str, str]:
    # In the real balance TR NASD means "all US"; in paper it means Nasdaq only, so paper
    # accounts are asked once per US exchange (see endpoints).
    return {
        "CANO": cano,
        "ACNT_PRDT_CD": product,
        "OVRS_EXCG_CD": exchange_code,
        "TR_CRCY_CD": "USD",
    }


def parse_overseas_holdings(rows: list[dict[str, Any]]) -> list[VenueHolding]:
    return [
        VenueHolding(
            text(r.get("ovrs_pdno")),
            num0(r.get("ovrs_cblc_qty")),  # held; ord_psbl_qty is only the sellable part
            num0(r.get("pchs_avg_pric")),
            _ORDER_TO_OURS.get(text(r.get("ovrs_excg_cd"))),
        )
        for r in rows
        if num0(r.get("ovrs_cblc_qty")) > 0
    ]


def overseas_present_balance_params(cano: str, product: str) -> dict[str, str]:
    return {
        "CANO": cano,
        "ACNT_PRDT_CD": product,
        "WCRC_FRCR_DVSN_CD": "02",
        "NATN_CD": "840",
        "TR_MKET_CD": "00",
        "INQR_DVSN_CD": "00",
    }


# KIS's 매수가능금액조회 needs an exchange, an item and a price; the orderable foreign cash
# (ord_psbl_frcr_amt) it answers does not depend on them, only the quantities do.
PSAMOUNT_PROBE = ("NASD", "AAPL", "1")


def overseas_psamount_params(
    cano: str, product: str, exchange_code: str, item: str, price: str
) -> dict[str, str]:
    return {
        "CANO": cano,
        "ACNT_PRDT_CD": product,
        "OVRS_EXCG_CD": exchange_code,
        "OVRS_ORD_UNPR": price,
        "ITEM_CD": item,
    }


def parse_overseas_orderable(body: dict[str, Any]) -> dict[str, Decimal]:
    """Foreign cash new orders can spend (ord_psbl_frcr_amt): the deposit less what open buys
    hold, per currency (tr_crcy_cd)."""
    out = body.get("output")
    row = out[0] if isinstance(out, list) and out else out or {}
    currency = text(row.get("tr_crcy_cd")) or "USD"
    return {currency: num0(row.get("ord_psbl_frcr_amt"))}


def parse_exchange_rate(body: dict[str, Any]) -> Decimal | None:
    """The won per unit of the foreign currency KIS applied to the buying power (``exrt``);
    None when it gives none."""
    out = body.get("output")
    row = out[0] if isinstance(out, list) and out else out or {}
    rate = num0(row.get("exrt"))
    return rate if rate > 0 else None


def parse_overseas_cash(rows: Any) -> dict[str, Decimal]:
    """Foreign cash per currency (frcr_dncl_amt_2) from the execution-based balance."""
    rows = rows if isinstance(rows, list) else [rows] if rows else []
    cash: dict[str, Decimal] = {}
    for r in rows:
        currency = text(r.get("crcy_cd"))
        if currency:
            cash[currency] = num0(r.get("frcr_dncl_amt_2"))
    return cash


# ---- quotes -------------------------------------------------------------------------------------


def domestic_price_params(ticker: str) -> dict[str, str]:
    return {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": ticker}


def parse_domestic_quote(body: dict[str, Any]) -> Quote | None:
    out = body.get("output") or {}
    price = num(out.get("stck_prpr"))
    if not price:
        return None
    return Quote(
        price, num(out.get("aspr_unit")), num(out.get("stck_mxpr")), num(out.get("stck_llam"))
    )


def overseas_price_params(exchange: str, ticker: str) -> dict[str, str]:
    return {"AUTH": "", "EXCD": QUOTE_EXCHANGE[exchange], "SYMB": ticker}


def parse_overseas_quote(body: dict[str, Any]) -> Quote | None:
    out = body.get("output") or {}
    price = num(out.get("last"))
    if not price:
        return None  # KIS answers some symbols with blank strings
    return Quote(price, None, None, None)


# ---- real-time execution notices (websocket) ----------------------------------------------------

NOTICE_TR = {
    ("real", Market.KR): "H0STCNI0",
    ("real", Market.US): "H0GSCNI0",
    ("paper", Market.KR): "H0STCNI9",
    ("paper", Market.US): "H0GSCNI9",
}
# Column order of KIS's execution notices ('^'-separated, in KIS's samples' order).
DOMESTIC_NOTICE_COLUMNS = (
    "CUST_ID", "ACNT_NO", "ODER_NO", "OODER_NO", "SELN_BYOV_CLS", "RCTF_CLS", "ODER_KIND",
    "ODER_COND", "STCK_SHRN_ISCD", "CNTG_QTY", "CNTG_UNPR", "STCK_CNTG_HOUR", "RFUS_YN",
    "CNTG_YN", "ACPT_YN", "BRNC_NO", "ODER_QTY", "ACNT_NAME", "ORD_COND_PRC", "ORD_EXG_GB",
    "POPUP_YN", "FILLER", "CRDT_CLS", "CRDT_LOAN_DATE", "CNTG_ISNM40", "ODER_PRC",
)  # fmt: skip
OVERSEAS_NOTICE_COLUMNS = (
    "CUST_ID", "ACNT_NO", "ODER_NO", "OODER_NO", "SELN_BYOV_CLS", "RCTF_CLS", "ODER_KIND2",
    "STCK_SHRN_ISCD", "CNTG_QTY", "CNTG_UNPR", "STCK_CNTG_HOUR", "RFUS_YN", "CNTG_YN",
    "ACPT_YN", "BRNC_NO", "ODER_QTY", "ACNT_NAME", "CNTG_ISNM", "ODER_COND", "DEBT_GB",
    "DEBT_DATE", "START_TM", "END_TM", "TM_DIV_TP", "CNTG_UNPR12",
)  # fmt: skip


def approval_request(app_key: str, app_secret: str) -> dict[str, str]:
    # KIS names the secret "secretkey" here (it is the app secret).
    return {"grant_type": "client_credentials", "appkey": app_key, "secretkey": app_secret}


def subscribe_message(approval_key: str, tr_id: str, tr_key: str, register: bool) -> dict[str, Any]:
    return {
        "header": {
            "approval_key": approval_key,
            "custtype": "P",
            "tr_type": "1" if register else "2",
            "content-type": "utf-8",
        },
        "body": {"input": {"tr_id": tr_id, "tr_key": tr_key}},
    }


@dataclass(frozen=True, slots=True)
class ExecutionNotice:
    """One execution notice, in our words. ``kind``: accepted | filled | cancelled | modified |
    rejected. For a fill, ``quantity``/``price`` are that execution's; for a cancel or modify
    ``broker_order_id`` is the new number and ``original_order_id`` the order it changed."""

    market: Market
    account: str  # CANO + product code as KIS sends ACNT_NO
    broker_order_id: str
    original_order_id: str
    side: Side | None
    kind: str
    quantity: Decimal
    price: Decimal | None
    order_quantity: Decimal


def notice_columns(tr_id: str) -> tuple[str, ...] | None:
    if tr_id in ("H0STCNI0", "H0STCNI9"):
        return DOMESTIC_NOTICE_COLUMNS
    if tr_id in ("H0GSCNI0", "H0GSCNI9"):
        return OVERSEAS_NOTICE_COLUMNS
    return None


def parse_execution_notices(tr_id: str, count: int, payload: str) -> list[ExecutionNotice]:
    """The ``count`` records of a decrypted notice payload ('^'-separated, concatenated)."""
    columns = notice_columns(tr_id)
    if columns is None:
        return []
    values = payload.split("^")
    width = len(columns)
    records = max(count, 1)
    if len(values) < width * records:
        width = len(values) // records  # a shorter record than documented: take it as sent
    notices = []
    for i in range(records):
        row = dict(zip(columns, values[i * width : (i + 1) * width], strict=False))
        if row:
            notices.append(_notice(tr_id, row))
    return notices


def _notice(tr_id: str, row: dict[str, str]) -> ExecutionNotice:
    domestic = tr_id.startswith("H0ST")
    if text(row.get("CNTG_YN")) == "2":
        kind = "filled"
    elif text(row.get("RFUS_YN")) == "1":
        kind = "rejected"
    else:
        kind = {"1": "modified", "2": "cancelled"}.get(text(row.get("RCTF_CLS")), "accepted")
    price = (
        num(row.get("CNTG_UNPR"))
        if domestic
        else (num(row.get("CNTG_UNPR12")) or num(row.get("CNTG_UNPR")))
    )
    return ExecutionNotice(
        market=Market.KR if domestic else Market.US,
        account=text(row.get("ACNT_NO")),
        broker_order_id=text(row.get("ODER_NO")),
        original_order_id=text(row.get("OODER_NO")),
        side=_SIDE_FROM_CODE.get(text(row.get("SELN_BYOV_CLS"))),
        kind=kind,
        quantity=num0(row.get("CNTG_QTY")),
        price=price,
        order_quantity=num0(row.get("ODER_QTY")),
    )
