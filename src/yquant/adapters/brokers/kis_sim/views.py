"""KIS-shaped requests and responses of the simulator, one function per TR.

Field names, codes and formats follow KIS (lowercase keys in inquiry rows, numbers as strings,
fixed-width continuation cursors, tr_cont in the response header).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.responses import JSONResponse

from yquant.adapters.brokers.kis_sim.exchange import (
    KST,
    NEW_YORK,
    US_LISTINGS,
    Exchange,
    RefusedError,
    SimOrder,
    krx_tick,
)

OK = {"rt_cd": "0", "msg_cd": "MCA00000", "msg1": "정상처리 되었습니다."}
MORE, LAST = "M", "D"
US_MARKET_NAME = {"NASD": "나스닥", "NYSE": "뉴욕", "AMEX": "아멕스"}


def upper_keys(params: dict[str, str]) -> dict[str, str]:
    return {k.upper(): v for k, v in params.items()}


def _dec(value: str, name: str) -> Decimal:
    try:
        result = Decimal(value)
    except (InvalidOperation, TypeError):
        raise RefusedError("OPSQ2001", f"ERROR : INPUT_FIELD_NAME {name}") from None
    return result


def text_num(value: Decimal, places: int = 0) -> str:
    return f"{value:.{places}f}"


# ---- orders ------------------------------------------------------------------------------------


def place_domestic(
    ex: Exchange,
    account: tuple[str, str],
    side: str,
    body: dict[str, str],
    branch: str,
    paper: bool,
) -> SimOrder:
    ticker = body.get("PDNO", "")
    if not (len(ticker) == 6 and ticker.isalnum()) and not (len(ticker) == 7 and ticker[0] == "Q"):
        raise RefusedError("APBK0656", "해당종목정보가 없습니다.")
    limit = _domestic_limit(body)
    quantity = _dec(body.get("ORD_QTY", ""), "ORD_QTY")
    if quantity <= 0 or quantity != quantity.to_integral_value():
        raise RefusedError("SIM00005", "주문수량을 확인하십시오")
    # SLL_TYPE: 01 normal (the default: KIS's own sample sends it blank), 02, 05
    if side == "sell" and (body.get("SLL_TYPE") or "01") not in ("01", "02", "05"):
        raise RefusedError("OPSQ2001", "ERROR : INPUT_FIELD_NAME SLL_TYPE")
    closed = (
        RefusedError("40580000", "모의투자 장종료 입니다.")
        if paper
        else RefusedError("APBK0918", "장운영시간이 아닙니다.")
    )
    return ex.place(
        account,
        market="KR",
        exchange="KRX",
        ticker=ticker,
        side=side,
        quantity=quantity,
        limit_price=limit,
        branch=branch,
        closed=closed,
    )


def place_overseas(
    ex: Exchange, account: tuple[str, str], side: str, body: dict[str, str], branch: str
) -> SimOrder:
    ticker = body.get("PDNO", "")
    code = body.get("OVRS_EXCG_CD", "")
    if code not in ("NASD", "NYSE", "AMEX") or US_LISTINGS.get(ticker, "NASD") != code:
        raise RefusedError("APBK0656", "해당종목정보가 없습니다.")
    if body.get("ORD_DVSN") != "00" or body.get("ORD_SVR_DVSN_CD") != "0":
        raise RefusedError("SIM00004", "시뮬레이터가 지원하지 않는 주문구분입니다")
    if side == "sell" and (body.get("SLL_TYPE") or "00") != "00":
        raise RefusedError("OPSQ2001", "ERROR : INPUT_FIELD_NAME SLL_TYPE")
    quantity = _dec(body.get("ORD_QTY", ""), "ORD_QTY")
    limit = _us_price(body)
    if quantity <= 0 or quantity != quantity.to_integral_value():
        raise RefusedError("SIM00005", "주문수량을 확인하십시오")
    closed = RefusedError("EGW00202", "GW라우팅 중 오류가 발생했습니다.", 500)
    return ex.place(
        account,
        market="US",
        exchange=code,
        ticker=ticker,
        side=side,
        quantity=quantity,
        limit_price=limit,
        branch=branch,
        closed=closed,
    )


def _us_price(body: dict[str, str]) -> Decimal:
    limit = _dec(body.get("OVRS_ORD_UNPR", ""), "OVRS_ORD_UNPR")
    exponent = limit.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) else 0
    if limit <= 0 or (limit >= 1 and places > 2) or places > 4:
        raise RefusedError("SIM00006", "주문단가가 호가단위에 맞지 않습니다")
    return limit


def _domestic_limit(body: dict[str, str]) -> Decimal | None:
    kind = body.get("ORD_DVSN", "")
    if kind not in ("00", "01"):
        raise RefusedError("SIM00004", "시뮬레이터가 지원하지 않는 주문구분입니다")
    if kind == "01":
        return None
    limit = _dec(body.get("ORD_UNPR", "0"), "ORD_UNPR")
    if limit <= 0 or limit % krx_tick(limit):
        raise RefusedError("SIM00006", "주문단가가 호가단위에 맞지 않습니다")
    return limit


def _revised_quantity(
    body: dict[str, str], domestic: bool, ex: Exchange, odno: str
) -> Decimal | None:
    """How much a modify or cancel covers; None: all that is left.

    Domestic: ``QTY_ALL_ORD_YN`` Y is all that is left (``ORD_QTY`` ignored), N is ``ORD_QTY``.
    Overseas (no such field): ``ORD_QTY``; KIS's sample sends the order's quantity, so a
    quantity at or above what is left (or "0") means all that is left."""
    if domestic:
        every = body.get("QTY_ALL_ORD_YN", "")
        if every not in ("Y", "N"):
            raise RefusedError("OPSQ2001", "ERROR : INPUT_FIELD_NAME QTY_ALL_ORD_YN")
        return None if every == "Y" else _dec(body.get("ORD_QTY", ""), "ORD_QTY")
    quantity = _dec(body.get("ORD_QTY", "") or "0", "ORD_QTY")
    with ex.lock:
        left = next(
            (o.remaining for o in ex.orders if not o.is_cancel and o.odno == odno), Decimal(0)
        )
    return None if quantity == 0 or quantity >= left else quantity


def _check_original(ex: Exchange, body: dict[str, str], domestic: bool) -> str:
    odno = body.get("ORGN_ODNO", "")
    if not domestic:
        with ex.lock:
            order = next((o for o in ex.orders if o.odno.lstrip("0") == odno.lstrip("0")), None)
        if order is not None and (
            order.ticker != body.get("PDNO") or order.exchange != body.get("OVRS_EXCG_CD")
        ):
            raise RefusedError("SIM00014", "원주문의 종목 또는 거래소와 일치하지 않습니다")
        if order is not None:
            odno = order.odno
    return odno


def cancel(
    ex: Exchange, account: tuple[str, str], body: dict[str, str], branch: str, domestic: bool
) -> SimOrder:
    """취소 (RVSE_CNCL_DVSN_CD 02): the price sent is ignored."""
    odno = _check_original(ex, body, domestic)
    return ex.cancel(account, odno, branch, _revised_quantity(body, domestic, ex, odno))


def modify(
    ex: Exchange, account: tuple[str, str], body: dict[str, str], branch: str, domestic: bool
) -> SimOrder:
    """정정 (RVSE_CNCL_DVSN_CD 01): a new price (and, domestic, order type) for what is left."""
    odno = _check_original(ex, body, domestic)
    limit = _domestic_limit(body) if domestic else _us_price(body)
    return ex.modify(account, odno, branch, _revised_quantity(body, domestic, ex, odno), limit)


# ---- paging ------------------------------------------------------------------------------------


def paged(
    rows: list[dict[str, Any]],
    params: dict[str, str],
    tr_cont: str,
    size: int,
    width: int,
    signature: str,
) -> tuple[list[dict[str, Any]], str, dict[str, str]]:
    fk_name, nk_name = f"CTX_AREA_FK{width}", f"CTX_AREA_NK{width}"
    fk = signature.ljust(width)[:width]
    offset = 0
    if tr_cont == "N":
        if params.get(fk_name, "") != fk:
            raise RefusedError("SIM00007", "연속조회검색조건이 일치하지 않습니다")
        try:
            offset = int(params.get(nk_name, "").split("^")[0])
        except ValueError:
            raise RefusedError("SIM00008", "연속조회키가 올바르지 않습니다") from None
    page = rows[offset : offset + size]
    more = offset + size < len(rows)
    nk = (f"{offset + size:010d}^" if more else "").ljust(width)
    cursors = {f"ctx_area_fk{width}": fk, f"ctx_area_nk{width}": nk}
    return page, MORE if more else LAST, cursors


def _fill_state(order: SimOrder, wanted: str) -> bool:
    """CCLD_DVSN / CCLD_NCCS_DVSN: 00 all, 01 filled (any part), 02 not (fully) filled."""
    if wanted == "01":
        return order.filled > 0
    if wanted == "02":
        return order.remaining > 0
    return True


def _listed(order: SimOrder, lag_s: float) -> bool:
    return (datetime.now(order.ordered_at.tzinfo) - order.ordered_at).total_seconds() >= lag_s


def daily_ccld(
    ex: Exchange,
    account: tuple[str, str],
    raw: dict[str, str],
    tr_cont: str,
    size: int,
    lag_s: float,
) -> JSONResponse:
    p = upper_keys(raw)
    start, end = p.get("INQR_STRT_DT", ""), p.get("INQR_END_DT", "")
    if len(start) != 8 or len(end) != 8:
        raise RefusedError("OPSQ2001", "ERROR : INPUT_FIELD_NAME INQR_STRT_DT")
    side = {"01": "sell", "02": "buy"}.get(p.get("SLL_BUY_DVSN_CD", "00"))
    with ex.lock:
        orders = [
            o
            for o in ex.orders
            if o.account == account
            and o.market == "KR"
            and _listed(o, lag_s)
            and start <= o.ordered_at.astimezone(KST).strftime("%Y%m%d") <= end
            and (not p.get("ODNO") or o.odno.lstrip("0") == p["ODNO"].lstrip("0"))
            and (not p.get("PDNO") or o.ticker == p["PDNO"])
            and (side is None or o.side == side)
            and _fill_state(o, p.get("CCLD_DVSN", "00"))
        ]
        if p.get("INQR_DVSN", "00") != "01":
            orders.reverse()  # INQR_DVSN 00: newest first (역순); 01: oldest first (정순)
        rows = [_domestic_row(o) for o in orders]
    sig = f"{account[0]}^{account[1]}^{start}^{end}^{p.get('ODNO', '')}^"
    page, cont, cursors = paged(rows, p, tr_cont, size, 100, sig)
    filled = sum((Decimal(r["tot_ccld_qty"]) for r in rows), Decimal(0))
    amount = sum((Decimal(r["tot_ccld_amt"]) for r in rows), Decimal(0))
    body = {
        **cursors,
        "output1": page,
        "output2": {
            "tot_ord_qty": text_num(sum((o.quantity for o in orders), Decimal(0))),
            "tot_ccld_qty": text_num(filled),
            "tot_ccld_amt": text_num(amount),
            "prsm_tlex_smtl": "0",
            "pchs_avg_pric": text_num(amount / filled, 4) if filled else "0",
        },
        **OK,
    }
    return JSONResponse(body, headers={"tr_cont": cont})


def _domestic_row(o: SimOrder) -> dict[str, Any]:
    local = o.ordered_at.astimezone(KST)
    return {
        "ord_dt": local.strftime("%Y%m%d"),
        "ord_gno_brno": o.branch,
        "odno": o.odno,
        "orgn_odno": o.original,
        "ord_dvsn_name": "지정가" if o.limit_price is not None else "시장가",
        "ord_dvsn_cd": "00" if o.limit_price is not None else "01",
        "sll_buy_dvsn_cd": "01" if o.side == "sell" else "02",
        "sll_buy_dvsn_cd_name": ("취소" if o.is_cancel else "")
        + ("현금매도" if o.side == "sell" else "현금매수"),
        "pdno": o.ticker,
        "prdt_name": f"SIM {o.ticker}",
        "ord_qty": text_num(o.quantity),
        "ord_unpr": text_num(o.limit_price or Decimal(0)),
        "ord_tmd": local.strftime("%H%M%S"),
        "tot_ccld_qty": text_num(o.filled),
        "avg_prvs": text_num(o.amount / o.filled) if o.filled else "0",
        "cncl_yn": "Y" if o.is_cancel else "N",
        "tot_ccld_amt": text_num(o.amount),
        "loan_dt": "",
        "ordr_empno": "",
        "rmn_qty": text_num(o.remaining),
        "rjct_qty": "0",
        "ccld_cndt_name": "없음",
        "infm_tmd": "",
        "ctac_tlno": "",
        "prdt_type_cd": "300",
        "excg_dvsn_cd": "01",
        "cnc_cfrm_qty": text_num(o.quantity if o.is_cancel else o.cancelled),
        "excg_id_dvsn_cd": "KRX",
    }


def overseas_ccnl(
    ex: Exchange,
    account: tuple[str, str],
    raw: dict[str, str],
    tr_cont: str,
    size: int,
    lag_s: float,
    paper: bool,
) -> JSONResponse:
    p = upper_keys(raw)
    if p.get("ODNO"):
        raise RefusedError("SIM00009", "주문번호로 검색할 수 없습니다")
    if paper and (
        p.get("PDNO")
        or p.get("OVRS_EXCG_CD")
        or p.get("SLL_BUY_DVSN") != "00"
        or p.get("CCLD_NCCS_DVSN") != "00"
    ):
        raise RefusedError("SIM00010", "모의투자에서는 전체 조회만 가능합니다")
    start, end = p.get("ORD_STRT_DT", ""), p.get("ORD_END_DT", "")
    wanted = p.get("PDNO", "")
    exchange = p.get("OVRS_EXCG_CD", "")
    side = {"01": "sell", "02": "buy"}.get(p.get("SLL_BUY_DVSN", "00"))
    with ex.lock:
        orders = [
            o
            for o in ex.orders
            if o.account == account
            and o.market == "US"
            and _listed(o, lag_s)
            and start <= o.ordered_at.astimezone(NEW_YORK).strftime("%Y%m%d") <= end
            and wanted in ("", "%", o.ticker)
            and (exchange in ("", "%", "NASD") or exchange == o.exchange)
            and (side is None or o.side == side)
            and _fill_state(o, p.get("CCLD_NCCS_DVSN", "00"))
        ]
        if p.get("SORT_SQN", "DS") != "DS":
            orders.reverse()  # SORT_SQN DS: oldest first (정순); anything else newest first
        rows = [_overseas_row(o) for o in orders]
    page, cont, cursors = paged(rows, p, tr_cont, size, 200, f"{account[0]}^{start}^{end}^")
    return JSONResponse({**cursors, "output": page, **OK}, headers={"tr_cont": cont})


def _overseas_row(o: SimOrder) -> dict[str, Any]:
    local, kst = o.ordered_at.astimezone(NEW_YORK), o.ordered_at.astimezone(KST)
    done = o.remaining == 0
    return {
        "ord_dt": local.strftime("%Y%m%d"),
        "ord_gno_brno": o.branch,
        "odno": o.odno,
        "orgn_odno": o.original,
        "sll_buy_dvsn_cd": "01" if o.side == "sell" else "02",
        "sll_buy_dvsn_cd_name": "매도" if o.side == "sell" else "매수",
        "rvse_cncl_dvsn": _revision_code(o),
        "rvse_cncl_dvsn_name": _revision_name(o),
        "pdno": o.ticker,
        "prdt_name": f"SIM {o.ticker}",
        "ft_ord_qty": text_num(o.quantity),
        "ft_ord_unpr3": text_num(o.limit_price or Decimal(0), 8),
        "ft_ccld_qty": text_num(o.filled),
        "ft_ccld_unpr3": text_num(o.amount / o.filled, 8) if o.filled else "0",
        "ft_ccld_amt3": text_num(o.amount, 5),
        "nccs_qty": text_num(o.remaining),
        "prcs_stat_name": "완료" if done else "접수",
        "rjct_rson": "",
        "rjct_rson_name": "",
        "ord_tmd": local.strftime("%H%M%S"),
        "tr_mket_name": US_MARKET_NAME.get(o.exchange, ""),
        "tr_crcy_cd": "USD",
        "tr_natn": "840",
        "ovrs_excg_cd": o.exchange,
        "tr_natn_name": "미국",
        "dmst_ord_dt": kst.strftime("%Y%m%d"),
        "thco_ord_tmd": kst.strftime("%H%M%S"),
        "loan_type_cd": "10",
        "loan_dt": "",
        "mdia_dvsn_name": "OpenAPI",
        "usa_amk_exts_rqst_yn": "N",
        "splt_buy_attr_name": "",
    }


def _revision_code(o: SimOrder) -> str:
    return "02" if o.is_cancel else "01" if o.is_modify else "00"


def _revision_name(o: SimOrder) -> str:
    return "취소" if o.is_cancel else "정정" if o.is_modify else ""


def psbl_rvsecncl(
    ex: Exchange, account: tuple[str, str], raw: dict[str, str], tr_cont: str, size: int
) -> JSONResponse:
    """주식정정취소가능주문조회: domestic orders with quantity left to modify or cancel
    (``psbl_qty``). INQR_DVSN_1: 0 by order, 1 by stock; INQR_DVSN_2: 0 all, 1 sell, 2 buy."""
    p = upper_keys(raw)
    by_stock = p.get("INQR_DVSN_1", "0") == "1"
    side = {"1": "sell", "2": "buy"}.get(p.get("INQR_DVSN_2", "0"))
    with ex.lock:
        orders = [
            o
            for o in ex.open_orders("KR")
            if o.account == account and (side is None or o.side == side)
        ]
        if by_stock:
            orders.sort(key=lambda o: (o.ticker, o.odno))
        rows = [
            {
                "ord_gno_brno": o.branch,
                "odno": o.odno,
                "orgn_odno": o.original,
                "ord_dvsn_name": "지정가" if o.limit_price is not None else "시장가",
                "pdno": o.ticker,
                "prdt_name": f"SIM {o.ticker}",
                "rvse_cncl_dvsn_name": _revision_name(o),
                "ord_qty": text_num(o.quantity),
                "ord_unpr": text_num(o.limit_price or Decimal(0)),
                "ord_tmd": o.ordered_at.astimezone(KST).strftime("%H%M%S"),
                "tot_ccld_qty": text_num(o.filled),
                "tot_ccld_amt": text_num(o.amount),
                "psbl_qty": text_num(o.remaining),
                "sll_buy_dvsn_cd": "01" if o.side == "sell" else "02",
                "ord_dvsn_cd": "00" if o.limit_price is not None else "01",
                "mgco_aptm_odno": "",
                "excg_dvsn_cd": "01",
                "excg_id_dvsn_cd": "KRX",
            }
            for o in orders
        ]
    sig = f"{account[0]}^{account[1]}^{p.get('INQR_DVSN_1', '')}^{p.get('INQR_DVSN_2', '')}^"
    page, cont, cursors = paged(rows, p, tr_cont, size, 100, sig)
    return JSONResponse({**cursors, "output": page, **OK}, headers={"tr_cont": cont})


def overseas_nccs(
    ex: Exchange, account: tuple[str, str], raw: dict[str, str], tr_cont: str, size: int
) -> JSONResponse:
    """해외주식 미체결내역: US orders with quantity left. OVRS_EXCG_CD NASD means every US
    exchange; SORT_SQN DS oldest first, anything else newest first."""
    p = upper_keys(raw)
    code = p.get("OVRS_EXCG_CD", "")
    if code not in ("NASD", "NYSE", "AMEX"):
        raise RefusedError("OPSQ2001", "ERROR : INPUT_FIELD_NAME OVRS_EXCG_CD")
    with ex.lock:
        orders = [
            o for o in ex.open_orders("US") if o.account == account and code in ("NASD", o.exchange)
        ]
        if p.get("SORT_SQN", "") != "DS":
            orders.reverse()
        rows = []
        for o in orders:
            row = _overseas_row(o)
            rows.append(
                {
                    **{k: row[k] for k in _NCCS_FIELDS},
                    "rvse_cncl_dvsn_cd": row["rvse_cncl_dvsn"],
                    "rvse_cncl_dvsn_cd_name": row["rvse_cncl_dvsn_name"],
                    "natn_cd": "840",
                    "natn_kor_name": "미국",
                }
            )
    sig = f"{account[0]}^{code}^{p.get('SORT_SQN', '')}^"
    page, cont, cursors = paged(rows, p, tr_cont, size, 200, sig)
    return JSONResponse({**cursors, "output": page, **OK}, headers={"tr_cont": cont})


_NCCS_FIELDS = (
    "ord_dt",
    "ord_gno_brno",
    "odno",
    "orgn_odno",
    "pdno",
    "prdt_name",
    "sll_buy_dvsn_cd",
    "sll_buy_dvsn_cd_name",
    "rjct_rson",
    "rjct_rson_name",
    "ord_tmd",
    "tr_mket_name",
    "tr_crcy_cd",
    "ft_ord_qty",
    "ft_ccld_qty",
    "nccs_qty",
    "ft_ord_unpr3",
    "ft_ccld_unpr3",
    "ft_ccld_amt3",
    "ovrs_excg_cd",
    "prcs_stat_name",
    "loan_type_cd",
    "loan_dt",
    "usa_amk_exts_rqst_yn",
    "splt_buy_attr_name",
)


def order_summary(o: SimOrder) -> dict[str, Any]:
    return {
        "odno": o.odno,
        "market": o.market,
        "exchange": o.exchange,
        "ticker": o.ticker,
        "side": o.side,
        "quantity": str(o.quantity),
        "limit_price": None if o.limit_price is None else str(o.limit_price),
        "filled": str(o.filled),
        "amount": str(o.amount),
        "cancelled": str(o.cancelled),
        "is_cancel": o.is_cancel,
        "is_modify": o.is_modify,
        "original": o.original,
        "ordered_at": o.ordered_at.isoformat(),
    }
