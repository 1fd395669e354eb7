"""The KIS simulator seen by a client written from KIS's documentation alone (KIS Developers
pages, KIS's sample client): plain httpx and, for what is on the wire, a raw socket.

Headers as KIS sends them (KIS's sample turns every all-lowercase response header name into an
attribute name, so a lowercase ``content-type`` breaks it), ``tr_id``/``tr_cont``/``gt_uid``
on every reply, KIS's error envelope for every failure, modify (01) vs cancel (02), a blank
SLL_TYPE, the hashkey, the modify/cancel-able order inquiry, the US open-order and
buying-power inquiries, the 6-hour same-token rule and the orderable quantity by ORD_DVSN."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.fixtures.kis_kit import APP_KEY, APP_SECRET, CANO, start_sim
from yquant.adapters.brokers.kis_sim import SimServer

DOMESTIC = "/uapi/domestic-stock/v1"
OVERSEAS = "/uapi/overseas-stock/v1"
ORDER_CASH = f"{DOMESTIC}/trading/order-cash"
RVSECNCL = f"{DOMESTIC}/trading/order-rvsecncl"
PSBL_RVSECNCL = f"{DOMESTIC}/trading/inquire-psbl-rvsecncl"
DAILY_CCLD = f"{DOMESTIC}/trading/inquire-daily-ccld"
PSBL_ORDER = f"{DOMESTIC}/trading/inquire-psbl-order"
PRICE = f"{DOMESTIC}/quotations/inquire-price"
US_ORDER = f"{OVERSEAS}/trading/order"
US_RVSECNCL = f"{OVERSEAS}/trading/order-rvsecncl"
US_NCCS = f"{OVERSEAS}/trading/inquire-nccs"
US_PSAMOUNT = f"{OVERSEAS}/trading/inquire-psamount"


class DocClient:
    """A KIS client as KIS's documentation describes one: nothing of yQuant's adapter."""

    def __init__(self, url: str, environment: str = "real") -> None:
        self.http = httpx.Client(base_url=url, timeout=5)
        self.prefix = "T" if environment == "real" else "V"
        self.token = ""

    def issue_token(self) -> httpx.Response:
        return self.http.post(
            "/oauth2/tokenP",
            headers={"content-type": "application/json"},
            json={"grant_type": "client_credentials", "appkey": APP_KEY, "appsecret": APP_SECRET},
        )

    def login(self) -> DocClient:
        self.token = self.issue_token().json()["access_token"]
        return self

    def headers(self, tr_id: str, tr_cont: str = "", **extra: str) -> dict[str, str]:
        return {
            "content-type": "application/json; charset=utf-8",
            "authorization": f"Bearer {self.token}",
            "appkey": APP_KEY,
            "appsecret": APP_SECRET,
            "tr_id": tr_id,
            "tr_cont": tr_cont,
            "custtype": "P",
            **extra,
        }

    def get(self, path: str, tr_id: str, params: dict[str, str], tr_cont: str = "") -> Any:
        return self.http.get(path, params=params, headers=self.headers(tr_id, tr_cont))

    def post(self, path: str, tr_id: str, body: dict[str, str], **extra: str) -> Any:
        return self.http.post(
            path, content=json.dumps(body).encode(), headers=self.headers(tr_id, **extra)
        )

    def tr(self, real_id: str) -> str:
        return self.prefix + real_id[1:] if self.prefix == "V" else real_id

    # ---- documented request bodies -------------------------------------------------------

    def order_cash(self, side: str, ticker: str, qty: int, price: str, **over: str) -> Any:
        body = {
            "CANO": CANO,
            "ACNT_PRDT_CD": "01",
            "PDNO": ticker,
            "ORD_DVSN": "00" if price != "0" else "01",
            "ORD_QTY": str(qty),
            "ORD_UNPR": price,
            "EXCG_ID_DVSN_CD": "KRX",
            "SLL_TYPE": "",
            "CNDT_PRIC": "",
            **over,
        }
        return self.post(ORDER_CASH, self.tr("TTTC0012U" if side == "buy" else "TTTC0011U"), body)

    def rvsecncl(self, odno: str, code: str, qty: str, price: str, every: str = "Y") -> Any:
        body = {
            "CANO": CANO,
            "ACNT_PRDT_CD": "01",
            "KRX_FWDG_ORD_ORGNO": "06010",
            "ORGN_ODNO": odno,
            "ORD_DVSN": "00" if price != "0" or code == "02" else "01",
            "RVSE_CNCL_DVSN_CD": code,
            "ORD_QTY": qty,
            "ORD_UNPR": price,
            "QTY_ALL_ORD_YN": every,
            "EXCG_ID_DVSN_CD": "KRX",
        }
        return self.post(RVSECNCL, self.tr("TTTC0013U"), body)

    def psbl_rvsecncl(self, tr_cont: str = "", fk: str = "", nk: str = "") -> Any:
        params = {
            "CANO": CANO,
            "ACNT_PRDT_CD": "01",
            "INQR_DVSN_1": "0",
            "INQR_DVSN_2": "0",
            "CTX_AREA_FK100": fk,
            "CTX_AREA_NK100": nk,
        }
        return self.get(PSBL_RVSECNCL, "TTTC0084R", params, tr_cont)

    def us_order(self, side: str, ticker: str, qty: int, price: str) -> Any:
        body = {
            "CANO": CANO,
            "ACNT_PRDT_CD": "01",
            "OVRS_EXCG_CD": "NASD",
            "PDNO": ticker,
            "ORD_QTY": str(qty),
            "OVRS_ORD_UNPR": price,
            "CTAC_TLNO": "",
            "MGCO_APTM_ODNO": "",
            "SLL_TYPE": "" if side == "buy" else "00",
            "ORD_SVR_DVSN_CD": "0",
            "ORD_DVSN": "00",
        }
        return self.post(US_ORDER, "TTTT1002U" if side == "buy" else "TTTT1006U", body)

    def us_rvsecncl(self, ticker: str, odno: str, code: str, qty: str, price: str) -> Any:
        body = {
            "CANO": CANO,
            "ACNT_PRDT_CD": "01",
            "OVRS_EXCG_CD": "NASD",
            "PDNO": ticker,
            "ORGN_ODNO": odno,
            "RVSE_CNCL_DVSN_CD": code,
            "ORD_QTY": qty,
            "OVRS_ORD_UNPR": price,
            "MGCO_APTM_ODNO": "",
            "ORD_SVR_DVSN_CD": "0",
        }
        return self.post(US_RVSECNCL, "TTTT1004U", body)

    def us_nccs(self) -> Any:
        params = {
            "CANO": CANO,
            "ACNT_PRDT_CD": "01",
            "OVRS_EXCG_CD": "NASD",
            "SORT_SQN": "DS",
            "CTX_AREA_FK200": "",
            "CTX_AREA_NK200": "",
        }
        return self.get(US_NCCS, "TTTS3018R", params)

    def daily_ccld(self, **over: str) -> Any:
        from datetime import datetime
        from zoneinfo import ZoneInfo

        today = datetime.now(ZoneInfo("Asia/Seoul")).strftime("%Y%m%d")
        params = {
            "CANO": CANO,
            "ACNT_PRDT_CD": "01",
            "INQR_STRT_DT": today,
            "INQR_END_DT": today,
            "SLL_BUY_DVSN_CD": "00",
            "INQR_DVSN": "00",
            "PDNO": "",
            "CCLD_DVSN": "00",
            "ORD_GNO_BRNO": "",
            "ODNO": "",
            "INQR_DVSN_3": "00",
            "INQR_DVSN_1": "",
            "CTX_AREA_FK100": "",
            "CTX_AREA_NK100": "",
            "EXCG_ID_DVSN_CD": "KRX",
            **over,
        }
        return self.get(DAILY_CCLD, "TTTC0081R", params)


@pytest.fixture
def kis(sim: SimServer) -> Iterator[DocClient]:
    client = DocClient(sim.url).login()
    yield client
    client.http.close()


def ok(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert response.status_code == 200 and body["rt_cd"] == "0", (response.status_code, body)
    return dict(body)


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    body = response.json()
    assert response.status_code == status, (response.status_code, body)
    assert body["rt_cd"] == "1" and body["msg_cd"] == code and body["msg1"], body
    return dict(body)


def raw_reply(port: int, request: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """The reply's header lines exactly as written on the socket, and its body."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = [tuple(line.split(": ", 1)) for line in lines[1:]]
        length = int(next(v for k, v in headers if k.lower() == "content-length"))
        while len(body) < length:
            body += conn.recv(65536)
    return [(k, v) for k, v in headers], body


def kis_request(client: DocClient, method: str, path: str, tr_id: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in client.headers(tr_id).items()]
    lines += [f"Content-Length: {len(body)}", "", ""]
    return "\r\n".join(lines).encode() + body


# ---- the wire ------------------------------------------------------------------------------


def test_reply_headers_are_spelled_as_kis_spells_them(sim: SimServer, kis: DocClient) -> None:
    query = f"{PRICE}?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930"
    headers, body = raw_reply(sim.port, kis_request(kis, "GET", query, "FHKST01010100"))
    names = [k for k, _ in headers]
    values = dict(headers)
    assert values["Content-Type"] == "application/json; charset=UTF-8"
    assert int(values["Content-Length"]) == len(body) and "Date" in values
    assert values["tr_id"] == "FHKST01010100" and values["tr_cont"] == "D"
    assert re.fullmatch(r"[0-9a-f]{32}", values["gt_uid"])
    # KIS's sample keeps the all-lowercase names as attribute names: each must be one.
    assert all(n.isidentifier() for n in names if n.islower()), names
    assert "content-type" not in names and "content-length" not in names
    assert json.loads(body)["output"]["stck_prpr"]


def test_error_replies_carry_the_same_headers_and_kis_envelope(
    sim: SimServer, kis: DocClient
) -> None:
    wrong_tr, body = raw_reply(sim.port, kis_request(kis, "GET", PRICE, "XXXX0000R"))
    values = dict(wrong_tr)
    assert values["tr_id"] == "XXXX0000R" and values["tr_cont"] == "D" and values["gt_uid"]
    assert values["Content-Type"] == "application/json; charset=UTF-8"
    assert json.loads(body)["msg_cd"] == "OPSQ0002"
    # A caller's gt_uid (documented as the caller's transaction id) comes back.
    echoed = kis.http.get(PRICE, headers=kis.headers("FHKST01010100", gt_uid="GT0001"))
    assert echoed.headers["gt_uid"] == "GT0001"


def test_every_failure_answers_in_kis_envelope(kis: DocClient) -> None:
    refused(kis.get(f"{DOMESTIC}/trading/no-such-tr", "TTTC0000R", {}), 404, "OPSQ0002")
    refused(kis.http.get("/nowhere"), 404, "OPSQ0002")
    refused(kis.http.put(ORDER_CASH, headers=kis.headers("TTTC0012U")), 405, "SIM00012")
    refused(kis.get(ORDER_CASH, "TTTC0012U", {}), 405, "SIM00012")
    refused(kis.http.get(PRICE, headers={"appkey": "nope"}), 500, "EGW00103")
    refused(kis.order_cash("buy", "005930", 1, "70001"), 200, "SIM00006")


def test_non_list_replies_carry_tr_cont(sim: SimServer, kis: DocClient) -> None:
    sim.control("price", market="KR", ticker="005930", price="70000")
    params = {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930"}
    assert kis.get(PRICE, "FHKST01010100", params).headers["tr_cont"] == "D"
    placed = kis.order_cash("buy", "005930", 1, "70000")
    assert placed.headers["tr_cont"] == "D" and placed.headers["tr_id"] == "TTTC0012U"


# ---- tokens --------------------------------------------------------------------------------


def test_a_token_asked_again_within_six_hours_is_the_same_token() -> None:
    server = start_sim(token_min_interval_s=0)
    client = DocClient(server.url)
    try:
        first, again = client.issue_token().json(), client.issue_token().json()
        assert again["access_token"] == first["access_token"]
        assert again["access_token_token_expired"] == first["access_token_token_expired"]
        assert first["token_type"] == "Bearer" and first["expires_in"] == 86_400
        assert server.sim.stats["tokens_issued"] == 1
        server.sim.expire_tokens()  # an expired token is not handed out again
        assert client.issue_token().json()["access_token"] != first["access_token"]
    finally:
        client.http.close()
        server.stop()


def test_a_revoked_token_stops_working_and_the_next_is_new() -> None:
    server = start_sim(token_min_interval_s=0)
    client = DocClient(server.url)
    try:
        first = client.login().token
        revoke = {"appkey": APP_KEY, "appsecret": APP_SECRET, "token": first}
        assert client.http.post("/oauth2/revokeP", json=revoke).status_code == 200
        params = {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930"}
        refused(client.get(PRICE, "FHKST01010100", params), 500, "EGW00121")
        assert client.login().token != first
        ok(client.get(PRICE, "FHKST01010100", params))
    finally:
        client.http.close()
        server.stop()


def test_a_second_token_request_within_a_minute_is_refused(kis: DocClient) -> None:
    again = kis.issue_token()
    assert again.status_code == 403
    assert again.json()["error_code"] == "EGW00133"


# ---- orders: modify is not cancel ------------------------------------------------------------


def test_modify_moves_the_rest_of_an_order_to_a_new_price(sim: SimServer, kis: DocClient) -> None:
    sim.control("price", market="KR", ticker="005930", price="70000")
    original = ok(kis.order_cash("buy", "005930", 10, "65000"))["output"]["ODNO"]
    answer = ok(kis.rvsecncl(original, "01", "0", "66000"))
    modified = answer["output"]["ODNO"]
    assert modified != original and answer["output"]["KRX_FWDG_ORD_ORGNO"] == "06010"
    rows = {r["odno"]: r for r in ok(kis.daily_ccld())["output1"]}
    assert rows[original]["rmn_qty"] == "0" and rows[original]["tot_ccld_qty"] == "0"
    assert rows[modified]["orgn_odno"] == original and rows[modified]["rmn_qty"] == "10"
    assert rows[modified]["ord_unpr"] == "66000" and rows[modified]["cncl_yn"] == "N"
    working = ok(kis.psbl_rvsecncl())["output"]
    assert [(r["odno"], r["psbl_qty"], r["ord_unpr"]) for r in working] == [
        (modified, "10", "66000")
    ]
    sim.control("price", market="KR", ticker="005930", price="66000")
    rows = {r["odno"]: r for r in ok(kis.daily_ccld())["output1"]}
    assert rows[modified]["tot_ccld_qty"] == "10" and rows[modified]["avg_prvs"] == "66000"


def test_modify_to_a_market_order_fills_it(sim: SimServer, kis: DocClient) -> None:
    sim.control("price", market="KR", ticker="005930", price="70000")
    original = ok(kis.order_cash("buy", "005930", 3, "60000"))["output"]["ODNO"]
    modified = ok(kis.rvsecncl(original, "01", "0", "0"))["output"]["ODNO"]
    rows = {r["odno"]: r for r in ok(kis.daily_ccld())["output1"]}
    assert rows[modified]["tot_ccld_qty"] == "3" and rows[modified]["ord_dvsn_cd"] == "01"
    assert ok(kis.psbl_rvsecncl())["output"] == []


def test_cancel_and_partial_cancel(sim: SimServer, kis: DocClient) -> None:
    sim.control("price", market="KR", ticker="005930", price="70000")
    odno = ok(kis.order_cash("buy", "005930", 10, "65000"))["output"]["ODNO"]
    ok(kis.rvsecncl(odno, "02", "4", "0", every="N"))
    assert [r["psbl_qty"] for r in ok(kis.psbl_rvsecncl())["output"]] == ["6"]
    ok(kis.rvsecncl(odno, "02", "0", "0"))
    assert ok(kis.psbl_rvsecncl())["output"] == []
    refused(kis.rvsecncl(odno, "02", "0", "0"), 200, "SIM00003")
    refused(kis.rvsecncl(odno, "03", "0", "0"), 200, "OPSQ2001")
    # What the cancelled buys held is free again.
    params = {
        "CANO": CANO,
        "ACNT_PRDT_CD": "01",
        "PDNO": "",
        "ORD_UNPR": "",
        "ORD_DVSN": "01",
        "CMA_EVLU_AMT_ICLD_YN": "N",
        "OVRS_ICLD_YN": "N",
    }
    assert ok(kis.get(PSBL_ORDER, "TTTC8908R", params))["output"]["ord_psbl_cash"] == "100000000"


def test_a_sell_with_a_blank_sll_type_is_a_normal_sell(sim: SimServer, kis: DocClient) -> None:
    sim.control("position", cano=CANO, market="KR", ticker="005930", quantity=5, avg_price=60000)
    sim.control("price", market="KR", ticker="005930", price="70000")
    answer = ok(kis.order_cash("sell", "005930", 2, "70000", SLL_TYPE=""))
    assert answer["output"]["ODNO"]
    refused(kis.order_cash("sell", "005930", 1, "70000", SLL_TYPE="99"), 200, "OPSQ2001")


def test_hashkey_is_issued_and_checked(kis: DocClient) -> None:
    body = {
        "CANO": CANO,
        "ACNT_PRDT_CD": "01",
        "PDNO": "005930",
        "ORD_DVSN": "01",
        "ORD_QTY": "1",
        "ORD_UNPR": "0",
        "EXCG_ID_DVSN_CD": "KRX",
    }
    raw = json.dumps(body).encode()
    hashed = kis.http.post(
        "/uapi/hashkey",
        content=raw,
        headers={"content-type": "application/json", "appkey": APP_KEY, "appsecret": APP_SECRET},
    )
    assert hashed.status_code == 200 and hashed.json()["BODY"] == body
    key = hashed.json()["HASH"]
    ok(kis.post(ORDER_CASH, "TTTC0012U", body, hashkey=key))
    body["ORD_QTY"] = "2"  # a body other than the one hashed
    refused(kis.post(ORDER_CASH, "TTTC0012U", body, hashkey=key), 500, "EGW00131")


def test_modify_cancel_able_orders_page_and_are_real_only(sim: SimServer, kis: DocClient) -> None:
    sim.control("price", market="KR", ticker="005930", price="70000")
    for _ in range(3):
        ok(kis.order_cash("buy", "005930", 1, "60000"))
    sim.sim.config.page_sizes["rvsecncl"] = 2
    first = kis.psbl_rvsecncl()
    assert first.headers["tr_cont"] == "M" and len(ok(first)["output"]) == 2
    cursor = first.json()
    fk, nk = cursor["ctx_area_fk100"], cursor["ctx_area_nk100"]
    assert len(fk) == len(nk) == 100
    second = kis.psbl_rvsecncl("N", fk, nk)
    assert second.headers["tr_cont"] == "D" and len(ok(second)["output"]) == 1
    paper = start_sim(environment="paper", rate_limit_per_s=50)
    client = DocClient(paper.url, "paper")
    try:
        refused(client.login().psbl_rvsecncl(), 500, "SIM00013")
    finally:
        client.http.close()
        paper.stop()


def test_order_inquiries_filter_and_order_as_documented(sim: SimServer, kis: DocClient) -> None:
    sim.control("price", market="KR", ticker="005930", price="70000")
    filled = ok(kis.order_cash("buy", "005930", 1, "0"))["output"]["ODNO"]
    resting = ok(kis.order_cash("buy", "005930", 1, "60000"))["output"]["ODNO"]

    def odnos(**over: str) -> list[str]:
        return [r["odno"] for r in ok(kis.daily_ccld(**over))["output1"]]

    assert odnos(INQR_DVSN="00") == [resting, filled]  # 역순: newest first
    assert odnos(INQR_DVSN="01") == [filled, resting]  # 정순
    assert odnos(CCLD_DVSN="01") == [filled] and odnos(CCLD_DVSN="02") == [resting]
    assert odnos(SLL_BUY_DVSN_CD="01") == []


# ---- buying power by order type --------------------------------------------------------------


def test_orderable_quantity_follows_the_order_type(sim: SimServer, kis: DocClient) -> None:
    sim.control("price", market="KR", ticker="005930", price="70000")

    def asked(kind: str) -> dict[str, Any]:
        params = {
            "CANO": CANO,
            "ACNT_PRDT_CD": "01",
            "PDNO": "005930",
            "ORD_UNPR": "70000",
            "ORD_DVSN": kind,
            "CMA_EVLU_AMT_ICLD_YN": "N",
            "OVRS_ICLD_YN": "N",
        }
        return dict(ok(kis.get(PSBL_ORDER, "TTTC8908R", params))["output"])

    limit, market = asked("00"), asked("01")
    assert limit["psbl_qty_calc_unpr"] == "70000" and limit["nrcvb_buy_qty"] == "1428"
    # A market buy is reserved at the upper limit (70,000 x 1.3 = 91,000), so fewer shares.
    assert market["psbl_qty_calc_unpr"] == "91000" and market["nrcvb_buy_qty"] == "1098"
    assert Decimal(market["max_buy_qty"]) < Decimal(limit["max_buy_qty"])
    assert asked("13")["psbl_qty_calc_unpr"] == "91000"  # IOC market: also the upper limit
    assert asked("11")["psbl_qty_calc_unpr"] == "70000"  # IOC limit: the price given


# ---- overseas --------------------------------------------------------------------------------


def test_us_open_orders_modify_and_buying_power(sim: SimServer, kis: DocClient) -> None:
    sim.control("price", market="US", ticker="AAPL", price="190.00")
    params = {
        "CANO": CANO,
        "ACNT_PRDT_CD": "01",
        "OVRS_EXCG_CD": "NASD",
        "OVRS_ORD_UNPR": "150.00",
        "ITEM_CD": "AAPL",
    }
    before = ok(kis.get(US_PSAMOUNT, "TTTS3007R", params))["output"]
    assert before["ord_psbl_frcr_amt"] == "100000.00" and before["max_ord_psbl_qty"] == "666"
    original = ok(kis.us_order("buy", "AAPL", 10, "150.00"))["output"]["ODNO"]
    after = ok(kis.get(US_PSAMOUNT, "TTTS3007R", params))["output"]
    assert after["ord_psbl_frcr_amt"] == "98500.00"
    rows = ok(kis.us_nccs())["output"]
    assert [(r["odno"], r["nccs_qty"]) for r in rows] == [(original, "10")]
    modified = ok(kis.us_rvsecncl("AAPL", original, "01", "10", "155.00"))["output"]["ODNO"]
    rows = ok(kis.us_nccs())["output"]
    assert [(r["odno"], r["orgn_odno"], r["rvse_cncl_dvsn_cd"]) for r in rows] == [
        (modified, original, "01")
    ]
    assert ok(kis.get(US_PSAMOUNT, "TTTS3007R", params))["output"]["ord_psbl_frcr_amt"] == (
        "98450.00"
    )
    # The sample cancels with the order's quantity.
    ok(kis.us_rvsecncl("AAPL", modified, "02", "10", "0"))
    assert ok(kis.us_nccs())["output"] == []
    assert ok(kis.get(US_PSAMOUNT, "TTTS3007R", params))["output"]["ord_psbl_frcr_amt"] == (
        "100000.00"
    )
