"""The KIS simulator's HTTP side: KIS's paths, headers, TR ids, field names and envelopes.

One simulator serves one environment (``real`` or ``paper`` domain). It checks what KIS checks
and answers the way KIS answers:

- ``/oauth2/tokenP``: tokens valid ``token_ttl_s``; a second issuance for the same app key
  within ``token_min_interval_s`` is refused with HTTP 403 ``EGW00133`` (KIS: once a minute);
  asked again within ``token_reuse_s`` (KIS: 6 hours) the same, still valid token comes back;
  bad keys with ``EGW00103``/``EGW00105``; errors in the token endpoint's own shape.
  ``/oauth2/revokeP`` ends a token.
- ``/oauth2/Approval`` and the websocket ``/tryitout``: execution notices (see `realtime`).
- the wire (`KisWire`): header names spelled as KIS sends them, ``tr_id``/``tr_cont``/``gt_uid``
  on every ``/uapi/`` reply, KIS's ``rt_cd``/``msg_cd``/``msg1`` envelope for every failure
  (unknown paths and wrong methods included); ``/uapi/hashkey``, and a ``hashkey`` header, when
  sent, checked against the body.
- ``order-rvsecncl``: ``RVSE_CNCL_DVSN_CD`` 01 modifies (new price or type for what is left,
  under a new order number), 02 cancels; all that is left or a part.
- every other call: ``appkey``/``appsecret`` headers, a live bearer token (expired: HTTP 500
  ``EGW00123``; unknown: ``EGW00121``), more than ``rate_limit_per_s`` calls in any second for
  one app key: HTTP 500 ``EGW00201``; a TR id of the other environment or of another service is
  refused; POST bodies need UPPERCASE keys with string values.
- list TRs page with ``tr_cont`` (response header M = more, D = last; request ``N`` to
  continue) and fixed-width cursors in ``ctx_area_fk100/nk100`` (``…200`` for overseas).

Control endpoints under ``/_sim/`` (not KIS) set prices, market sessions, fill behaviour and
faults, and report what was received (``/_sim/stats``: per app key, the calls, the refused ones
and the most calls in any second, keyed by `key_label`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import formatdate
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from yquant.adapters.brokers.kis_sim import balances, views
from yquant.adapters.brokers.kis_sim.exchange import KST, US_LISTINGS, Exchange, RefusedError
from yquant.adapters.brokers.kis_sim.realtime import Realtime

DOMESTIC = "/uapi/domestic-stock/v1"
OVERSEAS = "/uapi/overseas-stock/v1"
REAL_TR = {
    f"{DOMESTIC}/trading/order-cash": {
        "TTTC0012U": "buy",
        "TTTC0011U": "sell",
        "TTTC0802U": "buy",
        "TTTC0801U": "sell",
    },
    # RVSE_CNCL_DVSN_CD in the body says which: 01 modify (정정), 02 cancel (취소)
    f"{DOMESTIC}/trading/order-rvsecncl": {"TTTC0013U": "revise", "TTTC0803U": "revise"},
    f"{DOMESTIC}/trading/inquire-daily-ccld": {
        "TTTC0081R": "",  # within 3 months
        "TTTC8001R": "",
        "CTSC9215R": "",  # older than 3 months
        "CTSC9115R": "",
    },
    f"{DOMESTIC}/trading/inquire-psbl-rvsecncl": {"TTTC0084R": "", "TTTC8036R": ""},
    f"{DOMESTIC}/trading/inquire-psbl-sell": {"TTTC8408R": ""},
    f"{DOMESTIC}/trading/inquire-balance": {"TTTC8434R": ""},
    f"{DOMESTIC}/trading/inquire-psbl-order": {"TTTC8908R": ""},
    f"{DOMESTIC}/quotations/inquire-price": {"FHKST01010100": ""},
    f"{OVERSEAS}/trading/order": {"TTTT1002U": "buy", "TTTT1006U": "sell"},
    f"{OVERSEAS}/trading/order-rvsecncl": {"TTTT1004U": "revise"},
    f"{OVERSEAS}/trading/inquire-ccnl": {"TTTS3035R": ""},
    f"{OVERSEAS}/trading/inquire-nccs": {"TTTS3018R": ""},
    f"{OVERSEAS}/trading/inquire-balance": {"TTTS3012R": ""},
    f"{OVERSEAS}/trading/inquire-present-balance": {"CTRP6504R": ""},
    f"{OVERSEAS}/trading/inquire-psamount": {"TTTS3007R": ""},
    "/uapi/overseas-price/v1/quotations/price": {"HHDFS00000300": ""},
}
# KIS's paper domain does not offer these ("모의투자 미지원").
REAL_ONLY = {
    f"{DOMESTIC}/trading/inquire-psbl-rvsecncl",
    f"{DOMESTIC}/trading/inquire-psbl-sell",
}
PAPER_TR = {
    path: {("V" + t[1:] if t[0] in "TJC" else t): side for t, side in ids.items()}
    for path, ids in REAL_TR.items()
    if path not in REAL_ONLY
}
PAPER_TR[f"{OVERSEAS}/trading/order"] = {"VTTT1002U": "buy", "VTTT1001U": "sell"}
HASHKEY = "/uapi/hashkey"
JSON_TYPE = "application/json; charset=UTF-8"


@dataclass
class SimConfig:
    environment: str = "real"  # which KIS domain this simulates
    rate_limit_per_s: int = 18  # KIS since 2026-04: 18/s real, 1/s paper
    token_ttl_s: int = 86_400
    token_min_interval_s: float = 60.0  # "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)"
    # KIS: a token asked for again within 6 hours of its issuance is the same token (while it
    # is still valid); only later does a request issue a new one.
    token_reuse_s: float = 6 * 3600.0
    order_delay_s: float = 0.0  # fault: order processed, answer delayed by this much
    ccld_lag_s: float = 0.0  # fault: orders younger than this are missing from inquiries
    # fault: the next order is processed, then answered with this instead of KIS's ack:
    # {"status": HTTP status, "body": JSON object, text, or None for an empty body}
    order_answer: dict[str, Any] | None = None
    page_sizes: dict[str, int] = field(default_factory=dict)
    pingpong_s: float = 10.0  # the websocket's PINGPONG period

    def page(self, name: str) -> int:
        real = {
            "ccld": 100,
            "balance": 50,
            "rvsecncl": 50,
            "us_ccnl": 100,
            "us_nccs": 100,
            "us_balance": 50,
        }
        paper = {
            "ccld": 15,
            "balance": 20,
            "rvsecncl": 20,
            "us_ccnl": 15,
            "us_nccs": 15,
            "us_balance": 20,
        }
        return self.page_sizes.get(name) or (real if self.environment == "real" else paper)[name]


@dataclass
class KeyCount:
    """What one app key asked (not KIS: the simulator's own count, for measuring a client):
    every call that reached the rate check, the refused ones, and the most in any second."""

    calls: int = 0
    rate_limited: int = 0
    peak_per_s: int = 0
    window: deque[float] = field(default_factory=deque)

    def add(self, now: float, *, refused: bool) -> None:
        self.calls += 1
        self.rate_limited += refused
        self.window.append(now)
        while now - self.window[0] >= 1.0:
            self.window.popleft()
        self.peak_per_s = max(self.peak_per_s, len(self.window))

    def report(self) -> dict[str, int]:
        return {
            "calls": self.calls,
            "rate_limited": self.rate_limited,
            "peak_per_s": self.peak_per_s,
        }


def key_label(app_key: str) -> str:
    """How the simulator's reports name an app key (never the key itself)."""
    return hashlib.sha256(app_key.encode()).hexdigest()[:12]


@dataclass
class AppKey:
    secret: str
    accounts: set[tuple[str, str]]
    issued_at: float | None = None  # last successful token request (the once-a-minute rule)
    token: str | None = None
    token_born: float | None = None  # when ``token`` was issued (the 6-hour reuse rule)
    calls: deque[float] = field(default_factory=deque)
    hts_id: str = ""  # the tr_key of the execution-notice TRs
    count: KeyCount = field(default_factory=KeyCount)


class KisSimulator:
    """State and behaviour of one simulated KIS domain."""

    def __init__(self, config: SimConfig | None = None, exchange: Exchange | None = None) -> None:
        self.config = config or SimConfig()
        self.exchange = exchange or Exchange()
        self.keys: dict[str, AppKey] = {}
        self.tokens: dict[str, tuple[str, datetime]] = {}  # token -> (app key, expires_at)
        self.received: list[tuple[str, str]] = []  # (path, tr_id) of every accepted call
        self.received_at: list[float] = []  # time.time() of each of them
        self.stats = {
            "rate_limited": 0,
            "tokens_issued": 0,
            "tokens_repeated": 0,
            "token_refused": 0,
            "expired_token": 0,
        }
        self.realtime = Realtime(self)

    async def approval(self, request: Request) -> JSONResponse:
        """``/oauth2/Approval``: the websocket's approval key (see `realtime`)."""
        status, body = self.realtime.approve(await _body(request))
        return JSONResponse(body, status_code=status)

    def add_app(
        self,
        app_key: str,
        app_secret: str,
        cano: str,
        product: str = "01",
        *,
        cash_krw: Decimal = Decimal(100_000_000),
        cash_usd: Decimal = Decimal(100_000),
        hts_id: str | None = None,
    ) -> None:
        self.keys[app_key] = AppKey(app_secret, {(cano, product)}, hts_id=hts_id or f"sim{cano}")
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
        current = self.tokens.get(key.token or "")
        if (
            key.token is not None
            and key.token_born is not None
            and current is not None
            and now - key.token_born < self.config.token_reuse_s
            and current[1] > datetime.now(UTC)
        ):
            token, expires_at = key.token, current[1]  # within 6 hours: the same token
            self.stats["tokens_repeated"] += 1
        else:
            token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9." + secrets.token_urlsafe(48)
            expires_at = datetime.now(UTC) + timedelta(seconds=self.config.token_ttl_s)
            self.tokens[token] = (str(body["appkey"]), expires_at)
            key.token, key.token_born = token, now
            self.stats["tokens_issued"] += 1
        return JSONResponse(
            {
                "access_token": token,
                "access_token_token_expired": expires_at.astimezone(KST).strftime(
                    "%Y-%m-%d %H:%M:%S"
                ),
                "token_type": "Bearer",
                "expires_in": max(round((expires_at - datetime.now(UTC)).total_seconds()), 0),
            }
        )

    async def revoke(self, request: Request) -> JSONResponse:
        """``/oauth2/revokeP``: the token stops working; the next request issues a new one."""
        body = await _body(request)
        key = self.keys.get(str(body.get("appkey", "")))
        if key is None:
            return _token_error("EGW00103", "유효하지 않은 AppKey입니다.")
        if body.get("appsecret") != key.secret:
            return _token_error("EGW00105", "유효하지 않은 AppSecret입니다.")
        owner = self.tokens.get(str(body.get("token", "")))
        if owner is None or owner[0] != body["appkey"]:
            return _token_error("EGW00121", "유효하지 않은 token 입니다.")
        del self.tokens[str(body["token"])]
        if key.token == body["token"]:
            key.token = key.token_born = None
        return JSONResponse({"code": 200, "message": "접근토큰 폐기에 성공하였습니다"})

    # ---- every other KIS call --------------------------------------------------------------

    def _credentials(self, headers: Any) -> AppKey:
        key = self.keys.get(headers.get("appkey", ""))
        if key is None:
            raise RefusedError("EGW00103", "유효하지 않은 AppKey입니다.", 500)
        if headers.get("appsecret") != key.secret:
            raise RefusedError("EGW00105", "유효하지 않은 AppSecret입니다.", 500)
        return key

    async def hashkey(self, request: Request) -> Response:
        """``/uapi/hashkey``: the hash of a POST body, for the ``hashkey`` header of that POST
        (optional at KIS; when sent, the POST's body must be the bytes that were hashed)."""
        try:
            self._credentials(request.headers)
        except RefusedError as exc:
            return _fail(exc.code, exc.message, exc.http_status)
        raw = await request.body()
        body = _json_object(raw)
        return JSONResponse({"BODY": body, "HASH": _hash(raw)})

    # One branch per refusal, in the order KIS checks a request.
    async def handle(self, request: Request) -> Response:  # noqa: PLR0912
        path = request.url.path
        headers = request.headers
        try:
            key = self._credentials(headers)
        except RefusedError as exc:
            return _fail(exc.code, exc.message, exc.http_status)
        auth = headers.get("authorization", "")
        owner = self.tokens.get(auth.removeprefix("Bearer ").strip())
        if not auth.startswith("Bearer ") or owner is None or owner[0] != headers["appkey"]:
            return _fail("EGW00121", "유효하지 않은 token 입니다.", 500)
        if owner[1] <= datetime.now(UTC):
            self.stats["expired_token"] += 1
            return _fail("EGW00123", "기간이 만료된 token 입니다.", 500)
        admitted = self._admit(key)
        key.count.add(time.monotonic(), refused=not admitted)
        if not admitted:
            self.stats["rate_limited"] += 1
            return _fail("EGW00201", "초당 거래건수를 초과하였습니다.", 500)
        tr_id = headers.get("tr_id", "")
        paper = self.config.environment == "paper"
        table = PAPER_TR if paper else REAL_TR
        other = REAL_TR if paper else PAPER_TR
        if paper and path in REAL_ONLY:
            # The simulator's own code: KIS's for this refusal is not documented.
            return _fail("SIM00013", "모의투자에서는 해당업무가 제공되지 않습니다.", 500)
        if tr_id not in table.get(path, {}):
            if tr_id in other.get(path, {}):
                env = "모의투자" if paper else "실전투자"
                return _fail("", f"{env} TR 이 아닙니다.", 500)
            return _fail("OPSQ0002", "없는 서비스 코드 입니다", 500)
        if headers.get("custtype") not in ("P", "B"):
            return _fail("OPSQ2001", "ERROR : INPUT_FIELD_NAME custtype", 500)
        purpose = table[path][tr_id]
        writes = purpose != ""
        if (request.method == "POST") != writes:
            return _fail("SIM00012", f"{request.method} 방식으로 호출할 수 없는 서비스입니다", 405)
        self.received.append((path, tr_id))
        self.received_at.append(time.time())
        try:
            if writes:
                raw = await request.body()
                sent_hash = headers.get("hashkey", "")
                if sent_hash and sent_hash != _hash(raw):
                    raise RefusedError("EGW00131", "유효하지 않은 hashkey 입니다.", 500)
                body = _json_object(raw)
                for name, value in body.items():
                    if name != name.upper() or not isinstance(value, str):
                        raise RefusedError("OPSQ2001", f"ERROR : INPUT_FIELD_NAME {name}")
                self._account(key, body)
                return await self._post(path, purpose, body)
            params = dict(request.query_params)
            self.exchange.release_due()
            return self._get(path, key, params, headers.get("tr_cont", ""))
        except RefusedError as exc:
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
        fields = views.upper_keys(fields)
        account = (fields.get("CANO", ""), fields.get("ACNT_PRDT_CD", ""))
        if account not in key.accounts:
            raise RefusedError("OPSQ2000", "ERROR : INPUT INVALID_CHECK_ACNO")
        return account

    async def _post(self, path: str, purpose: str, body: dict[str, str]) -> Response:
        account = (body["CANO"], body["ACNT_PRDT_CD"])
        paper = self.config.environment == "paper"
        branch = "00950" if paper else "06010"
        domestic = path.startswith(DOMESTIC)
        if purpose == "revise":
            code = body.get("RVSE_CNCL_DVSN_CD", "")
            if code == "02":
                row = views.cancel(self.exchange, account, body, branch, domestic)
                word = "취소"
            elif code == "01":
                row = views.modify(self.exchange, account, body, branch, domestic)
                word = "정정"
            else:
                raise RefusedError("OPSQ2001", "ERROR : INPUT_FIELD_NAME RVSE_CNCL_DVSN_CD")
            return _ack(row.odno, branch, "APBK0013", "주문 전송 완료 되었습니다.", paper, word)
        if domestic:
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
        ex, page = self.exchange, self.config.page
        paper = self.config.environment == "paper"
        if path.endswith("inquire-price"):
            return balances.domestic_price(ex, params)
        if path.endswith("quotations/price"):
            return balances.overseas_price(ex, params)
        account = self._account(key, params)
        lag = self.config.ccld_lag_s
        if path.endswith("inquire-daily-ccld"):
            return views.daily_ccld(ex, account, params, tr_cont, page("ccld"), lag)
        if path.endswith("inquire-psbl-rvsecncl"):
            return views.psbl_rvsecncl(ex, account, params, tr_cont, page("rvsecncl"))
        if path.endswith("inquire-ccnl"):
            return views.overseas_ccnl(ex, account, params, tr_cont, page("us_ccnl"), lag, paper)
        if path.endswith("inquire-nccs"):
            return views.overseas_nccs(ex, account, params, tr_cont, page("us_nccs"))
        if path.endswith("domestic-stock/v1/trading/inquire-balance"):
            return balances.domestic_balance(ex, account, params, tr_cont, page("balance"))
        if path.endswith("inquire-psbl-order"):
            return balances.buying_power(ex, account, params)
        if path.endswith("inquire-psbl-sell"):
            return balances.sellable(ex, account, params)
        if path.endswith("inquire-psamount"):
            return balances.overseas_buying_power(ex, account, params)
        if path.endswith("overseas-stock/v1/trading/inquire-balance"):
            return balances.overseas_balance(
                ex, account, params, tr_cont, page("us_balance"), paper
            )
        return balances.present_balance(ex, account)

    # ---- control (not KIS) -----------------------------------------------------------------

    async def control(self, request: Request) -> JSONResponse:  # noqa: PLR0912 - one branch per verb
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
        elif what == "ws-cut":
            self.realtime.cut(int(body.get("after_notices", 0)))
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
        return {
            "stats": dict(self.stats),
            # Per app key (named by `key_label`): the calls that reached the rate check, the
            # refused ones, and the most in any one second; what a client spent of KIS's limit.
            "app_keys": {key_label(k): v.count.report() for k, v in self.keys.items()},
            "realtime": dict(self.realtime.stats),
            "received": list(self.received),
            "orders": orders,
        }


def build_app(sim: KisSimulator) -> KisWire:
    routes = [
        Route("/oauth2/tokenP", sim.token, methods=["POST"]),
        Route("/oauth2/revokeP", sim.revoke, methods=["POST"]),
        Route("/oauth2/Approval", sim.approval, methods=["POST"]),
        WebSocketRoute("/tryitout", sim.realtime.serve),
        WebSocketRoute("/tryitout/{tr_id}", sim.realtime.serve),
        Route(HASHKEY, sim.hashkey, methods=["POST"]),
        Route("/_sim/{what}", sim.control, methods=["GET", "POST"]),
        *(Route(p, sim.handle, methods=["GET", "POST"]) for p in REAL_TR),
    ]
    handlers: dict[Any, Any] = {
        404: _not_found,
        405: _not_allowed,
        Exception: _crashed,
    }
    return KisWire(Starlette(routes=routes, exception_handlers=handlers))


class KisWire:
    """What every reply carries on the wire, the way KIS sends it.

    Header names keep KIS's spelling: standard HTTP headers capitalised (``Content-Type:
    application/json; charset=UTF-8``, ``Content-Length``, ``Date``), KIS's own in lowercase
    with underscores (``tr_id``, ``tr_cont``, ``gt_uid``). KIS's sample client turns every
    all-lowercase header name into an attribute name, so a lowercase ``content-type`` breaks it.
    Every ``/uapi/`` reply, errors included, carries ``tr_id`` (the request's), ``tr_cont``
    (``D`` unless the TR said more follows) and ``gt_uid`` (the request's, else a new one).
    Needs a server that writes header names as given (uvicorn with ``http="h11"``; its
    httptools writer lowercases them).
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        asked = {k.decode("latin-1").lower(): v for k, v in scope["headers"]}
        kis = scope["path"].startswith("/uapi/")

        async def send_kis(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = _kis_headers(message.get("headers", []), asked, kis)
            await send(message)

        await self.app(scope, receive, send_kis)


def _kis_headers(
    given: list[tuple[bytes, bytes]], asked: dict[str, bytes], kis: bool
) -> list[tuple[bytes, bytes]]:
    out: dict[str, bytes] = {"Date": formatdate(usegmt=True).encode("latin-1")}
    for raw, value in given:
        name = raw.decode("latin-1").lower()
        json_type = name == "content-type" and value.startswith(b"application/json")
        out[_spelled(name)] = JSON_TYPE.encode("latin-1") if json_type else value
    if kis:
        out.setdefault("tr_id", asked.get("tr_id", b""))
        out.setdefault("tr_cont", b"D")
        out.setdefault("gt_uid", asked.get("gt_uid") or uuid.uuid4().hex.encode("latin-1"))
    return [(k.encode("latin-1"), v) for k, v in out.items()]


def _spelled(name: str) -> str:
    if "_" in name:
        return name  # KIS's own: tr_id, tr_cont, gt_uid
    return "-".join(part.capitalize() for part in name.split("-"))


async def _not_found(request: Request, exc: Exception) -> Response:
    return _fail("OPSQ0002", "없는 서비스 코드 입니다", 404)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    # The simulator's own code: KIS's for a wrong method is not documented.
    return _fail("SIM00012", f"{request.method} 방식으로 호출할 수 없는 서비스입니다", 405)


async def _crashed(request: Request, exc: Exception) -> Response:
    return _fail("SIM00500", "시뮬레이터 내부 오류입니다", 500)


async def _body(request: Request) -> dict[str, Any]:
    return _json_object(await request.body())


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


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


__all__ = ["US_LISTINGS", "KisSimulator", "KisWire", "SimConfig", "build_app", "key_label"]
