"""HTTP to KIS: common headers, the shared token, pacing, error envelopes, paging.

One `KisClient` per KIS account (app key). Every call waits for its slot in the app key's rate
budget, carries the headers KIS requires on every request (also on GETs), and reads the body
even when the HTTP status is not 200, because KIS reports token and rate-limit errors with
HTTP 500 or 200 depending on the day. On ``EGW00201`` the call is repeated with a bounded
backoff; on an expired or invalid token the token is re-issued once and the call repeated once.

An order request that was sent and got no answer, or an answer that is not KIS refusing it (a
gateway timeout or server error, a proxy's error page, an empty or unreadable body), raises
`KisOutcomeUnknownError`: the caller must ask KIS what happened, never send it again. Nothing
secret is logged or put in an error.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from yquant.adapters.brokers.kis import schemas
from yquant.adapters.brokers.kis.errors import (
    RATE_LIMITED,
    TOKEN_INVALID,
    KisConfigurationError,
    KisFailure,
    KisOutcomeUnknownError,
    KisRateLimitedError,
    KisTokenError,
    KisUnavailableError,
    classify,
    refused,
)
from yquant.adapters.brokers.kis.ratelimit import Priority, RateLimiter
from yquant.adapters.brokers.kis.tokens import KisTokens
from yquant.errors import YquantError
from yquant.ports import NO_METRICS, Metrics

logger = logging.getLogger(__name__)

DOMAINS = {
    "real": "https://openapi.koreainvestment.com:9443",
    "paper": "https://openapivts.koreainvestment.com:29443",
}
TOKEN_PATH = "/oauth2/tokenP"  # noqa: S105 - a URL path, not a secret
RATE_LIMIT_RETRIES = 5
MAX_PAGES = 200

# Sent, but no answer: the outcome is unknown. Not sent at all: safe to say "unavailable".
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
_NO_ANSWER = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)


@dataclass(frozen=True, slots=True)
class KisReply:
    body: dict[str, Any]
    tr_cont: str  # response header: F/M more pages follow, D/E last page


class KisClient:
    def __init__(
        self,
        *,
        environment: Literal["real", "paper"],
        app_key: str,
        app_secret: str,
        limiter: RateLimiter,
        timeout_s: float = 5.0,
        base_url: str | None = None,
    ) -> None:
        self.environment = environment
        self.base_url = (base_url or DOMAINS[environment]).rstrip("/")
        self._app_key = app_key
        self._app_secret = app_secret
        self._limiter = limiter
        self._timeout_s = timeout_s
        self._http: httpx.AsyncClient | None = None
        self.tokens: KisTokens | None = None  # set by the composition root (needs issue_token)
        self.metrics: Metrics = NO_METRICS  # set by the composition root

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.base_url,
                timeout=httpx.Timeout(self._timeout_s, connect=min(self._timeout_s, 3.0)),
                headers={"content-type": "application/json; charset=utf-8"},
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def issue_token(self) -> schemas.TokenGrant:
        """POST /oauth2/tokenP. Callers go through `KisTokens`, which decides when."""
        body = schemas.token_request(self._app_key, self._app_secret)
        try:
            response = await self.http.post(TOKEN_PATH, json=body)
        except _NOT_SENT as exc:
            raise KisUnavailableError(
                f"KIS token endpoint unreachable: {type(exc).__name__}"
            ) from None
        except httpx.HTTPError as exc:
            raise KisTokenError(f"KIS token request got no answer: {type(exc).__name__}") from None
        data = _json(response)
        if response.status_code == 200 and data.get("access_token"):
            return schemas.parse_token(data, datetime.now(UTC))
        code, message = schemas.token_failure(data)
        failure = KisFailure("", response.status_code, code, message)
        error = classify(failure)
        if isinstance(error, KisTokenError | KisConfigurationError | KisUnavailableError):
            raise error
        # Anything else on the token endpoint is a configuration problem, not a trade refusal.
        raise KisConfigurationError(failure.describe())

    async def call(
        self,
        method: Literal["GET", "POST"],
        path: str,
        tr_id: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, str] | None = None,
        tr_cont: str = "",
        priority: Priority = "low",
        is_order: bool = False,
    ) -> KisReply:
        """One KIS request with pacing, bounded EGW00201 backoff and one token renewal."""
        assert self.tokens is not None, "KisClient.tokens was not wired"
        renewed = False
        backoff = 0.2
        attempt = 0
        while True:
            await self._limiter.admitted()  # a standby worker asks KIS for nothing, not a token
            token = await self.tokens.get()
            await self._limiter.acquire("high" if is_order else priority)
            self.metrics.broker_call("kis", tr_id)
            try:
                response = await self._send(
                    method, path, tr_id, token, params, body, tr_cont, is_order
                )
            except YquantError as exc:
                self.metrics.broker_error("kis", type(exc).__name__)
                raise
            data = _json(response)
            rt_cd, code, message = schemas.envelope(data)
            if response.status_code == 200 and rt_cd == "0":
                return KisReply(data, response.headers.get("tr_cont", "").strip())
            self.metrics.broker_error("kis", code or f"HTTP {response.status_code}")
            failure = KisFailure(tr_id, response.status_code, code, message)
            if is_order and not refused(rt_cd, failure):
                raise KisOutcomeUnknownError(f"{failure.describe()} (no refusal: ask KIS)")
            if code in RATE_LIMITED and attempt < RATE_LIMIT_RETRIES:
                attempt += 1
                logger.warning("kis rate limited tr=%s retry=%d", tr_id, attempt)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            if code in TOKEN_INVALID and not renewed:
                renewed = True
                logger.warning("kis token refused tr=%s code=%s; renewing once", tr_id, code)
                await self.tokens.invalidate(token)
                continue
            if code in RATE_LIMITED:
                raise KisRateLimitedError(failure.describe())
            raise classify(failure)

    async def pages(
        self,
        path: str,
        tr_id: str,
        params: dict[str, str],
        *,
        width: int = 100,
        priority: Priority = "low",
    ) -> list[dict[str, Any]]:
        """Every page of a list TR: cursors from each body passed back unmodified."""
        (req_fk, req_nk), (res_fk, res_nk) = schemas.cursor_fields(width)
        query = {**params, req_fk: "", req_nk: ""}
        bodies: list[dict[str, Any]] = []
        cont = ""
        for _ in range(MAX_PAGES):
            reply = await self.call(
                "GET", path, tr_id, params=query, tr_cont=cont, priority=priority
            )
            bodies.append(reply.body)
            if reply.tr_cont not in schemas.MORE_PAGES:
                return bodies
            query = {
                **params,
                req_fk: reply.body.get(res_fk, ""),
                req_nk: reply.body.get(res_nk, ""),
            }
            cont = "N"
        raise KisUnavailableError(
            f"KIS {tr_id}: more than {MAX_PAGES} pages; refusing a partial list"
        )

    async def _send(
        self,
        method: str,
        path: str,
        tr_id: str,
        token: str,
        params: dict[str, str] | None,
        body: dict[str, str] | None,
        tr_cont: str,
        is_order: bool,
    ) -> httpx.Response:
        headers = {
            "authorization": f"Bearer {token}",
            "appkey": self._app_key,
            "appsecret": self._app_secret,
            "tr_id": tr_id,
            "custtype": "P",
            "tr_cont": tr_cont,
        }
        try:
            return await self.http.request(method, path, params=params, json=body, headers=headers)
        except _NOT_SENT as exc:
            raise KisUnavailableError(f"KIS {tr_id} unreachable: {type(exc).__name__}") from None
        except _NO_ANSWER as exc:
            if is_order:
                raise KisOutcomeUnknownError(
                    f"KIS {tr_id} sent, no answer: {type(exc).__name__}"
                ) from None
            raise KisUnavailableError(f"KIS {tr_id} no answer: {type(exc).__name__}") from None
        except httpx.HTTPError as exc:
            if is_order:
                raise KisOutcomeUnknownError(f"KIS {tr_id}: {type(exc).__name__}") from None
            raise KisUnavailableError(f"KIS {tr_id}: {type(exc).__name__}") from None


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
