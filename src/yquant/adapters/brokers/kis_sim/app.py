"""The KIS simulator's HTTP side: KIS's paths, headers, TR ids, field names and envelopes.

One simulator serves one environment (``real`` or ``paper`` domain). It checks what KIS checks
and answers the way KIS answers:

- ``/oauth2/tokenP``: tokens valid ``token_ttl_s``; a second issuance for the same app key
  within ``token_min_interval_s`` is refused with HTTP 403 ``EGW00133`` (KIS: once a minute);
  bad keys with ``EGW00103``/``EGW00105``; errors in the token endpoint's own shape.
- every other call: ``appkey``/``appsecret`` headers, a live bearer token (expired: HTTP 500
  ``EGW00123``; unknown: ``EGW00121``), more than ``rate_limit_per_s`` calls in any second for
  one app key: HTTP 500 ``EGW00201``; a TR id of the other environment or of another service is
  refused; POST bodies need UPPERCASE keys with string values.
- list TRs page with ``tr_cont`` (response header M = more, D = last; request ``N`` to
  continue) and fixed-width cursors in ``ctx_area_fk100/nk100`` (``…200`` for overseas).

Control endpoints under ``/_sim/`` (not KIS) set prices, market sessions, fill behaviour and
faults, and report what was received.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from yquant.adapters.brokers.kis_sim import balances, views
from yquant.adapters.brokers.kis_sim.exchange import KST, US_LISTINGS, Exchange, Refused

REAL_TR = {
    "/uapi/domestic-stock/v1/trading/order-cash": {
        "TTTC0012U": "buy",
        "TTTC0011U": "sell",
        "TTTC0802U": "buy",
        "TTTC0801U": "sell",
    },
    "/uapi/domestic-stock/v1/trading/order-rvsecncl": {
        "TTTC0013U": "cancel",
        "TTTC0803U": "cancel",
    },
    "/uapi/domestic-stock/v1/trading/inquire-daily-ccld": {"TTTC0081R": "", "TTTC8001R": ""},
    "/uapi/domestic-stock/v1/trading/inquire-balance": {"TTTC8434R": ""},
    "/uapi/domestic-stock/v1/trading/inquire-psbl-order": {"TTTC8908R": ""},
    "/uapi/domestic-stock/v1/quotations/inquire-price": {"FHKST01010100": ""},
    "/uapi/overseas-stock/v1/trading/order": {"TTTT1002U": "buy", "TTTT1006U": "sell"},
    "/uapi/overseas-stock/v1/trading/order-rvsecncl": {"TTTT1004U": "cancel"},
    "/uapi/overseas-stock/v1/trading/inquire-ccnl": {"TTTS3035R": ""},
    "/uapi/overseas-stock/v1/trading/inquire-balance": {"TTTS3012R": ""},
    "/uapi/overseas-stock/v1/trading/inquire-present-balance": {"CTRP6504R": ""},
    "/uapi/overseas-price/v1/quotations/price": {"HHDFS00000300": ""},
}
PAPER_TR = {
    path: {("V" + t[1:] if t[0] in "TJC" else t): side for t, side in ids.items()}
    for path, ids in REAL_TR.items()
}
PAPER_TR["/uapi/overseas-stock/v1/trading/order"] = {"VTTT1002U": "buy", "VTTT1001U": "sell"}


@dataclass
class SimConfig:
    environment: str = "real"  # which KIS domain this simulates
    rate_limit_per_s: int = 18  # KIS since 2026-04: 18/s real, 1/s paper
    token_ttl_s: int = 86_400
    token_min_interval_s: float = 60.0  # "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)"
    order_delay_s: float = 0.0  # fault: order processed, answer delayed by this much
    ccld_lag_s: float = 0.0  # fault: orders younger than this are missing from inquiries
    # fault: the next order is processed, then answered with this instead of KIS's ack:
    # {"status": HTTP status, "body": JSON object, text, or None for an empty body}
    order_answer: dict[str, Any] | None = None
    page_sizes: dict[str, int] = field(default_factory=dict)

    def page(self, name: str) -> int:
        real = {"ccld": 100, "balance": 50, "us_ccnl": 100, "us_balance": 50}
        paper = {"ccld": 15, "balance": 20, "us_ccnl": 15, "us_balance": 20}
        return self.page_sizes.get(name) or (real if self.environment == "real" else paper)[name]


@dataclass
class AppKey:
    secret: str
    accounts: set[tuple[str, str]]
    issued_at: float | None = None
    token: str | None = None
    calls: deque[float] = field(default_factory=deque)


class KisSimulator:
    """State and behaviour of one simulated KIS domain."""

    def __init__(self, config: SimConfig | None = None, exchange: Exchange | None = None) -> None:
        self.config = config or SimConfig()
        self.exchange = exchange or Exchange()
        self.keys: dict[str, AppKey] = {}
        self.tokens: dict[str, tuple[str, datetime]] = {}  # token -> (app key, expires_at)
        self.received: list[tuple[str, str]] = []  # (path, tr_id) of every accepted call
        self.received_at: list[float] = []  # time.time() of each of them
        self.stats = {"rate_limited": 0, "tokens_issued": 0, "token_refused": 0, "expired_token": 0}

    def add_app(
        self,
        app_key: str,
        app_secret: str,
        cano: str,
        product: str = "01",
        *,
        cash_krw: Decimal = Decimal(100_000_000),
        cash_usd: Decimal = Decimal(100_000),
    ) -> None:
        self.keys[app_key] = AppKey(app_secret, {(cano, product)})
        self.exchange.add_account(cano, product, cash_krw, cash_usd)

    def expire_tokens(self) -> None:
        past = datetime.now(UTC) - timedelta(seconds=1)
        self.tokens = {t: (k, past) for t, (k, _) in self.tokens.items()}

    # ---- token endpoint --------------------------------------------------------------------

    async def token(self, request: Request) -> JSONResponse:
        body = await _body(request)
        key = self.keys.get(str(body.get("appkey", "")))
        if body.get("grant_type") != "client_credentials" or key is None:
            return _token_error("EGW00103", "유효하지 않은 AppKey입니다.")
        if body.get("appsecret") != key.secret:
            return _token_error("EGW00105", "유효하지 않은 AppSecret입니다.")
        now = time.monotonic()
        if key.issued_at is not None and now - key.issued_at < self.config.token_min_interval_s:
            self.stats["token_refused"] += 1
            return _token_error("EGW00133", "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)")
        key.issued_at = now
        token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9." + secrets.token_urlsafe(48)
        expires_at = datetime.now(UTC) + timedelta(seconds=self.config.token_ttl_s)
        self.tokens[token] = (str(body["appkey"]), expires_at)
        key.token = token
        self.stats["tokens_issued"] += 1
        return JSONResponse(
            {
                "access_token": token,
                "access_token_token_expired": expires_at.astimezone(KST).strftime(
                    "%Y-%m-%d %H:%M:%S"
                ),
                "token_type": "Bearer",
                "expires_in": self.config.token_ttl_s,
            }
        )

    # ---- every other KIS call --------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        headers = request.headers
        key = self.keys.get(headers.get("appkey", ""))
        if key is None:
            return _fail("EGW00103", "유효하지 않은 AppKey입니다.", 500)
        if headers.get("appsecret") != key.secret:
            return _fail("EGW00105", "유효하지 않은 AppSecret입니다.", 500)
        auth = headers.get("authorization", "")
        owner = self.tokens.get(auth.removeprefix("Bearer ").strip())
        if not auth.startswith("Bearer ") or owner is None or owner[0] != headers["appkey"]:
            return _fail("EGW00121", "유효하지 않은 token 입니다.", 500)
        if owner[1] <= datetime.now(UTC):
            self.stats["expired_token"] += 1
            return _fail("EGW00123", "기간이 만료된 token 입니다.", 500)
        if not self._admit(key):
            self.stats["rate_limited"] += 1
            return _fail("EGW00201", "초당 거래건수를 초과하였습니다.", 500)
        tr_id = headers.get("tr_id", "")
        table = REAL_TR if self.config.environment == "real" else PAPER_TR
        other = PAPER_TR if self.config.environment == "real" else REAL_TR
        if tr_id not in table.get(path, {}):
            if tr_id in other.get(path, {}):
                env = "모의투자" if self.config.environment == "paper" else "실전투자"
                return _fail("", f"{env} TR 이 아닙니다.", 500)
            return _fail("OPSQ0002", "없는 서비스 코드 입니다", 500)
        if headers.get("custtype") not in ("P", "B"):
            return _fail("OPSQ2001", "ERROR : INPUT_FIELD_NAME custtype", 500)
        self.received.append((path, tr_id))
        self.received_at.append(time.time())
        purpose = table[path][tr_id]
        try:
            if request.method == "POST":
                body = await _body(request)
                for name, value in body.items():
                    if name != name.upper() or not isinstance(value, str):
                        raise Refused("OPSQ2001", f"ERROR : INPUT_FIELD_NAME {name}")
                self._account(key, body)
                return await self._post(path, purpose, body)
            params = dict(request.query_params)
            self.exchange.release_due()
            return self._get(path, key, params, headers.get("tr_cont", ""))
        except Refused as exc:
            return _fail(exc.code, exc.message, exc.http_status)

    def _admit(self, key: AppKey) -> bool:
        now = time.monotonic()
        while key.calls and now - key.calls[0] >= 1.0:
            key.calls.popleft()
        if len(key.calls) >= self.config.rate_limit_per_s:
            return False
        key.calls.append(now)
        return True

    def _account(self, key: AppKey, fields: dict[str, str]) -> tuple[str, str]:
        account = (fields.get("CANO", ""), fields.get("ACNT_PRDT_CD", ""))
        if account not in key.accounts:
            raise Refused("OPSQ2000", "ERROR : INPUT INVALID_CHECK_ACNO")
        return account

    async def _post(self, path: str, purpose: str, body: dict[str, str]) -> Response:
        account = (body["CANO"], body["ACNT_PRDT_CD"])
        paper = self.config.environment == "paper"
        branch = "00950" if paper else "06010"
        if purpose == "cancel":
            row = self.exchange.cancel(account, body.get("ORGN_ODNO", ""), branch)
            return _ack(row.odno, branch, "APBK0013", "주문 전송 완료 되었습니다.", paper, "취소")
        if path.endswith("order-cash"):
            order = views.place_domestic(self.exchange, account, purpose, body, branch, paper)
        else:
            order = views.place_overseas(self.exchange, account, purpose, body, branch)
        if self.config.order_delay_s:
            await asyncio.sleep(self.config.order_delay_s)  # processed; the answer comes late
        answer, self.config.order_answer = self.config.order_answer, None
        if answer is not None:
            return _answer(int(answer["status"]), answer.get("body"))  # processed; answer lost
        word = "매수" if purpose == "buy" else "매도"
        return _ack(order.odno, branch, "APBK0013", "주문 전송 완료 되었습니다.", paper, word)

    def _get(self, path: str, key: AppKey, params: dict[str, str], tr_cont: str) -> JSONResponse:
        if path.endswith("inquire-price"):
            return balances.domestic_price(self.exchange, params)
        if path.endswith("quotations/price"):
            return balances.overseas_price(self.exchange, params)
        account = self._account(key, params)
        lag = self.config.ccld_lag_s
        if path.endswith("inquire-daily-ccld"):
            return views.daily_ccld(
                self.exchange, account, params, tr_cont, self.config.page("ccld"), lag
            )
        if path.endswith("inquire-ccnl"):
            return views.overseas_ccnl(
                self.exchange,
                account,
                params,
                tr_cont,
                self.config.page("us_ccnl"),
                lag,
                self.config.environment == "paper",
            )
        if path.endswith("domestic-stock/v1/trading/inquire-balance"):
            return balances.domestic_balance(
                self.exchange, account, params, tr_cont, self.config.page("balance")
            )
        if path.endswith("inquire-psbl-order"):
            return balances.buying_power(self.exchange, account, params)
        if path.endswith("overseas-stock/v1/trading/inquire-balance"):
            return balances.overseas_balance(
                self.exchange,
                account,
                params,
                tr_cont,
                self.config.page("us_balance"),
                self.config.environment == "paper",
            )
        return balances.present_balance(self.exchange, account)

    # ---- control (not KIS) -----------------------------------------------------------------

    async def control(self, request: Request) -> JSONResponse:
        what = request.path_params["what"]
        body = await _body(request) if request.method == "POST" else {}
        ex = self.exchange
        if what == "price":
            ex.set_price(body["market"], body["ticker"], Decimal(str(body["price"])))
        elif what == "market":
            with ex.lock:
                ex.market_open[body["market"]] = bool(body["open"])
        elif what == "fills":
            with ex.lock:
                ex.partial_steps = int(body.get("steps", 1))
                interval = body.get("interval_s")
                ex.fill_interval_s = None if interval is None else float(interval)
        elif what == "step":
            return JSONResponse({"filled": ex.step()})
        elif what == "faults":
            for name in ("order_delay_s", "ccld_lag_s"):
                if name in body:
                    setattr(self.config, name, float(body[name]))
            if "order_answer" in body:
                self.config.order_answer = body["order_answer"]
        elif what == "config":
            for name in ("rate_limit_per_s", "token_ttl_s", "token_min_interval_s"):
                if name in body:
                    setattr(self.config, name, type(getattr(self.config, name))(body[name]))
        elif what == "expire-tokens":
            self.expire_tokens()
        elif what == "position":
            ex.set_position(
                (body["cano"], body.get("product", "01")),
                body["market"],
                body["ticker"],
                Decimal(str(body["quantity"])),
                Decimal(str(body["avg_price"])),
            )
        elif what != "stats":
            return JSONResponse({"error": f"unknown control {what}"}, status_code=404)
        return JSONResponse(self.report())

    def report(self) -> dict[str, Any]:
        with self.exchange.lock:
            orders = [views.order_summary(o) for o in self.exchange.orders]
        return {"stats": dict(self.stats), "received": list(self.received), "orders": orders}


def build_app(sim: KisSimulator) -> Starlette:
    kis_paths = list(REAL_TR)
    routes = [
        Route("/oauth2/tokenP", sim.token, methods=["POST"]),
        Route("/_sim/{what}", sim.control, methods=["GET", "POST"]),
        *(Route(p, sim.handle, methods=["GET", "POST"]) for p in kis_paths),
    ]
    return Starlette(routes=routes)


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (ValueError, InvalidOperation):
        return {}
    return data if isinstance(data, dict) else {}


def _fail(code: str, message: str, status: int = 200) -> JSONResponse:
    return JSONResponse({"rt_cd": "1", "msg_cd": code, "msg1": message}, status_code=status)


def _answer(status: int, body: Any) -> Response:
    if isinstance(body, dict):
        return JSONResponse(body, status_code=status)
    return Response(body or b"", status_code=status, media_type="text/plain")


def _token_error(code: str, message: str) -> JSONResponse:
    return JSONResponse({"error_description": message, "error_code": code}, status_code=403)


def _ack(odno: str, branch: str, code: str, message: str, paper: bool, word: str) -> JSONResponse:
    if paper:
        code, message = "40600000", f"모의투자 {word}주문이 완료 되었습니다."
    ordered = datetime.now(KST).strftime("%H%M%S")
    return JSONResponse(
        {
            "rt_cd": "0",
            "msg_cd": code,
            "msg1": message,
            "output": {"KRX_FWDG_ORD_ORGNO": branch, "ODNO": odno, "ORD_TMD": ordered},
        }
    )


__all__ = ["US_LISTINGS", "KisSimulator", "SimConfig", "build_app"]
