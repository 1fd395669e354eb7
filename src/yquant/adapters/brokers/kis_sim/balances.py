"""KIS-shaped balance and quote TRs of the simulator (the order TRs are in views.py)."""

from __future__ import annotations

from decimal import Decimal

from starlette.responses import JSONResponse

from yquant.adapters.brokers.kis_sim.exchange import US_LISTINGS, Exchange, RefusedError, krx_tick
from yquant.adapters.brokers.kis_sim.views import OK, _dec, paged, text_num, upper_keys

US_QUOTE = {"NAS": "NASD", "NYS": "NYSE", "AMS": "AMEX"}
# Domestic ORD_DVSN codes (00 limit, 01 market, 02 conditional, 03 best, 04 top priority, 05-07
# off-hours, 08-10 treasury stock, 11-16 IOC/FOK, 21-24 mid-price and stop-limit) and those
# without a price of their own, which KIS counts at the upper limit.
ORDER_TYPES = {f"{n:02d}" for n in (*range(17), 21, 22, 23, 24)}
PRICED_AT_UPPER_LIMIT = {"01", "03", "04", "13", "14", "15", "16"}


# ---- balances ----------------------------------------------------------------------------------


def domestic_balance(
    ex: Exchange, account: tuple[str, str], raw: dict[str, str], tr_cont: str, size: int
) -> JSONResponse:
    p = upper_keys(raw)
    with ex.lock:
        acct = ex.accounts[account]
        rows = []
        for (market, ticker), pos in sorted(acct.positions.items()):
            if market != "KR" or (pos.quantity <= 0 and not pos.sold_today):
                continue
            price = ex.price("KR", ticker)
            rows.append(
                {
                    "pdno": ticker,
                    "prdt_name": f"SIM {ticker}",
                    "trad_dvsn_name": "현금",
                    "bfdy_buy_qty": "0",
                    "bfdy_sll_qty": "0",
                    "thdt_buyqty": "0",
                    "thdt_sll_qty": "0",
                    "hldg_qty": text_num(pos.quantity),
                    "ord_psbl_qty": text_num(pos.quantity - pos.reserved),
                    "pchs_avg_pric": text_num(pos.avg_price, 4),
                    "pchs_amt": text_num(pos.quantity * pos.avg_price),
                    "prpr": text_num(price),
                    "evlu_amt": text_num(pos.quantity * price),
                    "evlu_pfls_amt": text_num(pos.quantity * (price - pos.avg_price)),
                    "evlu_pfls_rt": "0.00",
                    "evlu_erng_rt": "0.00",
                    "loan_dt": "",
                    "loan_amt": "0",
                    "stln_slng_chgs": "0",
                    "expd_dt": "",
                    "fltt_rt": "0.00",
                    "bfdy_cprs_icdc": "0",
                    "item_mgna_rt_name": "",
                    "grta_rt_name": "",
                    "sbst_pric": "0",
                    "stck_loan_unpr": "0",
                }
            )
        cash = acct.cash["KRW"]
    page, cont, cursors = paged(rows, p, tr_cont, size, 100, f"{account[0]}^{account[1]}^")
    summary = {
        "dnca_tot_amt": text_num(cash),
        "nxdy_excc_amt": text_num(cash),
        "prvs_rcdl_excc_amt": text_num(cash),
        "cma_evlu_amt": "0",
        "bfdy_buy_amt": "0",
        "thdt_buy_amt": "0",
        "tot_loan_amt": "0",
        "scts_evlu_amt": text_num(sum((Decimal(r["evlu_amt"]) for r in rows), Decimal(0))),
        "tot_evlu_amt": "0",
        "nass_amt": "0",
        "asst_icdc_amt": "0",
        "asst_icdc_erng_rt": "0.00",
    }
    return JSONResponse(
        {**cursors, "output1": page, "output2": [summary], **OK}, headers={"tr_cont": cont}
    )


def buying_power(ex: Exchange, account: tuple[str, str], raw: dict[str, str]) -> JSONResponse:
    """매수가능조회: orderable cash is the deposit less what open buys hold (at their order price,
    commission included); with a stock and a price, the quantity that buys."""
    p = upper_keys(raw)
    for name in ("PDNO", "ORD_UNPR", "ORD_DVSN", "CMA_EVLU_AMT_ICLD_YN", "OVRS_ICLD_YN"):
        if name not in p:
            raise RefusedError("OPSQ2001", f"ERROR : INPUT_FIELD_NAME {name}")
    if p["CMA_EVLU_AMT_ICLD_YN"] not in ("Y", "N") or p["OVRS_ICLD_YN"] not in ("Y", "N"):
        raise RefusedError("OPSQ2001", "ERROR : INPUT_FIELD_NAME CMA_EVLU_AMT_ICLD_YN")
    kind = p["ORD_DVSN"]
    if kind not in ORDER_TYPES:
        raise RefusedError("OPSQ2001", "ERROR : INPUT_FIELD_NAME ORD_DVSN")
    ticker = p["PDNO"].strip()
    with ex.lock:
        acct = ex.accounts[account]
        orderable = acct.cash["KRW"] - acct.reserved["KRW"]
        price = Decimal(0)
        if ticker:
            current = ex.price("KR", ticker)
            if kind in PRICED_AT_UPPER_LIMIT:
                # Market-type: counted at the upper-limit price, where KIS reserves the buy.
                price = ex.upper_limit("KR", current)
            else:
                price = _dec(p["ORD_UNPR"].strip() or "0", "ORD_UNPR") or current
        fee = 1 + ex.commission_rate
    quantity = orderable // (price * fee) if price else Decimal(0)
    out = {
        "ord_psbl_cash": text_num(orderable),
        "ord_psbl_sbst": "0",
        "ruse_psbl_amt": "0",
        "fund_rpch_chgs": "0",
        "psbl_qty_calc_unpr": text_num(price),
        "nrcvb_buy_amt": text_num(orderable),
        "nrcvb_buy_qty": text_num(quantity),
        "max_buy_amt": text_num(orderable),
        "max_buy_qty": text_num(quantity),
        "cma_evlu_amt": "0",
        "ovrs_re_use_amt_wcrc": "0",
        "ord_psbl_frcr_amt_wcrc": "0",
    }
    return JSONResponse({"output": out, **OK})


def sellable(ex: Exchange, account: tuple[str, str], raw: dict[str, str]) -> JSONResponse:
    """매도가능수량조회: what is held of one stock and how much of it can be sold now."""
    p = upper_keys(raw)
    ticker = p.get("PDNO", "")
    if not ticker:
        raise RefusedError("OPSQ2001", "ERROR : INPUT_FIELD_NAME PDNO")
    with ex.lock:
        pos = ex.accounts[account].positions.get(("KR", ticker))
        held = pos.quantity if pos else Decimal(0)
        avg = pos.avg_price if pos else Decimal(0)
        free = held - pos.reserved if pos else Decimal(0)
        price = ex.price("KR", ticker)
    out = {
        "pdno": ticker,
        "prdt_name": f"SIM {ticker}",
        "buy_qty": "0",
        "sll_qty": "0",
        "cblc_qty": text_num(held),
        "nsvg_qty": "0",
        "ord_psbl_qty": text_num(free),
        "pchs_avg_pric": text_num(avg, 4),
        "pchs_amt": text_num(held * avg),
        "now_pric": text_num(price),
        "evlu_amt": text_num(held * price),
        "evlu_pfls_amt": text_num(held * (price - avg)),
        "evlu_pfls_rt": "0.00",
    }
    return JSONResponse({"output": out, **OK})


def overseas_buying_power(
    ex: Exchange, account: tuple[str, str], raw: dict[str, str]
) -> JSONResponse:
    """해외주식 매수가능금액조회: USD new orders can spend (the deposit less what open buys
    hold) and the quantity of ITEM_CD that buys at OVRS_ORD_UNPR (blank: the current price)."""
    p = upper_keys(raw)
    code = p.get("OVRS_EXCG_CD", "")
    if code not in ("NASD", "NYSE", "AMEX"):
        raise RefusedError("OPSQ2001", "ERROR : INPUT_FIELD_NAME OVRS_EXCG_CD")
    ticker = p.get("ITEM_CD", "")
    with ex.lock:
        acct = ex.accounts[account]
        orderable = acct.cash["USD"] - acct.reserved["USD"]
        price = _dec(p.get("OVRS_ORD_UNPR", "").strip() or "0", "OVRS_ORD_UNPR")
        if not price and ticker:
            price = ex.price("US", ticker)
        fee = 1 + ex.commission_rate
    quantity = (orderable // (price * fee)) if price else Decimal(0)
    out = {
        "tr_crcy_cd": "USD",
        "ord_psbl_frcr_amt": text_num(orderable, 2),
        "sll_ruse_psbl_amt": "0.00",
        "ovrs_ord_psbl_amt": text_num(orderable, 2),
        "max_ord_psbl_qty": text_num(quantity),
        "echm_af_ord_psbl_amt": "0.00",
        "echm_af_ord_psbl_qty": "0",
        "ord_psbl_qty": text_num(quantity),
        "exrt": "1350.00000000",
        "frcr_ord_psbl_amt1": text_num(orderable, 2),
        "ovrs_max_ord_psbl_qty": text_num(quantity),
    }
    return JSONResponse({"output": out, **OK})


def overseas_balance(
    ex: Exchange,
    account: tuple[str, str],
    raw: dict[str, str],
    tr_cont: str,
    size: int,
    paper: bool,
) -> JSONResponse:
    p = upper_keys(raw)
    code = p.get("OVRS_EXCG_CD", "")
    if code not in ("NASD", "NYSE", "AMEX") or p.get("TR_CRCY_CD") != "USD":
        raise RefusedError("OPSQ2001", "ERROR : INPUT_FIELD_NAME OVRS_EXCG_CD")
    with ex.lock:
        rows = []
        for (market, ticker), pos in sorted(ex.accounts[account].positions.items()):
            if market != "US" or pos.quantity <= 0:
                continue
            if (paper or code != "NASD") and pos.exchange != code:
                continue  # real NASD means every US exchange; otherwise one exchange
            price = ex.price("US", ticker)
            rows.append(
                {
                    "cano": account[0],
                    "acnt_prdt_cd": account[1],
                    "prdt_type_cd": "512",
                    "ovrs_pdno": ticker,
                    "ovrs_item_name": f"SIM {ticker}",
                    "frcr_evlu_pfls_amt": text_num(pos.quantity * (price - pos.avg_price), 5),
                    "evlu_pfls_rt": "0.00",
                    "pchs_avg_pric": text_num(pos.avg_price, 4),
                    "ovrs_cblc_qty": text_num(pos.quantity),
                    "ord_psbl_qty": text_num(pos.quantity - pos.reserved),
                    "frcr_pchs_amt1": text_num(pos.quantity * pos.avg_price, 5),
                    "ovrs_stck_evlu_amt": text_num(pos.quantity * price, 5),
                    "now_pric2": text_num(price, 6),
                    "tr_crcy_cd": "USD",
                    "ovrs_excg_cd": pos.exchange,
                    "loan_type_cd": "10",
                    "loan_dt": "",
                    "expd_dt": "",
                }
            )
    page, cont, cursors = paged(rows, p, tr_cont, size, 200, f"{account[0]}^{code}^USD^")
    summary = {
        "frcr_pchs_amt1": "0",
        "ovrs_rlzt_pfls_amt": "0",
        "ovrs_tot_pfls": "0",
        "tot_pftrt": "0",
    }
    return JSONResponse(
        {**cursors, "output1": page, "output2": summary, **OK}, headers={"tr_cont": cont}
    )


def present_balance(ex: Exchange, account: tuple[str, str]) -> JSONResponse:
    with ex.lock:
        acct = ex.accounts[account]
        cash, reserved = acct.cash["USD"], acct.reserved["USD"]
        holdings = [
            {
                "pdno": t,
                "cblc_qty13": text_num(pos.quantity),
                "ord_psbl_qty1": text_num(pos.quantity - pos.reserved),
                "avg_unpr3": text_num(pos.avg_price, 4),
                "ovrs_now_pric1": text_num(ex.price("US", t), 4),
                "ovrs_excg_cd": pos.exchange,
                "buy_crcy_cd": "USD",
            }
            for (m, t), pos in sorted(acct.positions.items())
            if m == "US" and pos.quantity > 0
        ]
    currencies = [
        {
            "crcy_cd": "USD",
            "frcr_dncl_amt_2": text_num(cash, 2),
            "frcr_drwg_psbl_amt_1": text_num(cash - reserved, 2),
            "frcr_buy_amt_smtl": "0",
            "frcr_sll_amt_smtl": "0",
            "frst_bltn_exrt": "1350.00",
            "frcr_buy_mgn_amt": text_num(reserved, 2),
            "nxdy_frcr_drwg_psbl_amt": text_num(cash - reserved, 2),
        }
    ]
    totals = {
        "dncl_amt": "0",
        "tot_dncl_amt": "0",
        "frcr_use_psbl_amt": text_num(cash - reserved, 2),
    }
    return JSONResponse({"output1": holdings, "output2": currencies, "output3": totals, **OK})


# ---- quotes ------------------------------------------------------------------------------------


def domestic_price(ex: Exchange, raw: dict[str, str]) -> JSONResponse:
    p = upper_keys(raw)
    ticker = p.get("FID_INPUT_ISCD", "")
    if p.get("FID_COND_MRKT_DIV_CODE") not in ("J", "NX", "UN") or len(ticker) not in (6, 7):
        return JSONResponse({"rt_cd": "1", "msg_cd": "MCA05918", "msg1": "종목코드 오류입니다."})
    price = ex.price("KR", ticker)
    upper = price * Decimal("1.3")
    lower = price * Decimal("0.7")
    out = {
        "stck_prpr": text_num(price),
        "prdy_vrss": "0",
        "prdy_vrss_sign": "3",
        "prdy_ctrt": "0.00",
        "stck_mxpr": text_num(upper - upper % krx_tick(upper)),
        "stck_llam": text_num(lower - lower % krx_tick(lower)),
        "stck_sdpr": text_num(price),
        "aspr_unit": text_num(krx_tick(price)),
        "hts_deal_qty_unit_val": "1",
        "iscd_stat_cls_code": "55",
        "temp_stop_yn": "N",
        "stck_shrn_iscd": ticker,
    }
    return JSONResponse({"output": out, **OK})


def overseas_price(ex: Exchange, raw: dict[str, str]) -> JSONResponse:
    p = upper_keys(raw)
    ticker, excd = p.get("SYMB", ""), p.get("EXCD", "")
    listed = US_QUOTE.get(excd) == US_LISTINGS.get(ticker, "NASD")
    if not listed:
        # KIS answers an unknown symbol or exchange code with blank fields, not an error.
        blank = dict.fromkeys(
            (
                "rsym",
                "zdiv",
                "base",
                "pvol",
                "last",
                "sign",
                "diff",
                "rate",
                "tvol",
                "tamt",
                "ordy",
            ),
            "",
        )
        return JSONResponse({"output": blank, **OK})
    price = ex.price("US", ticker)
    out = {
        "rsym": f"D{excd}{ticker}",
        "zdiv": "4",
        "base": text_num(price, 4),
        "pvol": "0",
        "last": text_num(price, 4),
        "sign": "3",
        "diff": "0.0000",
        "rate": " 0.00",
        "tvol": "0",
        "tamt": "0",
        "ordy": "매수가능",
    }
    return JSONResponse({"output": out, **OK})
