"""KIS real-time execution notices (체결통보) over KIS's websocket, for one app key.

An approval key from ``POST /oauth2/Approval`` (reused while it is valid: KIS keys last 24 h
and are needed only to open a session; shared through Valkey when there is one, so a
restart does not ask again) opens one session to ``<ws>/tryitout``; the domestic and overseas
execution-notice TRs are registered with the HTS id as ``tr_key``. Notices arrive as
``1|<tr_id>|<count>|<payload>``, the payload AES-256-CBC encrypted (base64, PKCS7) with the key
and iv KIS returned in the registration's reply; they are decrypted, parsed
(`schemas.parse_execution_notices`) and handed to every listener. A ``PINGPONG`` frame is
echoed. When the session drops or fails, it is opened again after an exponential backoff
(``backoff_s`` doubling up to ``max_backoff_s``, back to the start once registered); a
refused approval key is issued anew. Notices sent while no session was open are lost: the
KIS broker's polling is the fallback and the reconciliation (see `KisBroker`).

One session per app key: with a ``gate`` (the worker's `Standing`), a session is open only
while this worker is active (not while it takes over or stands by); one that is open when the
worker stops being active is closed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import websockets
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from websockets.exceptions import WebSocketException

from yquant.adapters.brokers.kis import schemas
from yquant.adapters.brokers.kis.errors import KisConfigurationError, KisUnavailableError
from yquant.adapters.brokers.kis.schemas import ExecutionNotice
from yquant.domain.model import Market
from yquant.domain.roles import Standing

logger = logging.getLogger(__name__)

WS_DOMAINS = {
    "real": "ws://ops.koreainvestment.com:21000",
    "paper": "ws://ops.koreainvestment.com:31000",
}
WS_PATH = "/tryitout"
APPROVAL_PATH = "/oauth2/Approval"
APPROVAL_TTL_S = 23 * 3600  # KIS: valid 24 h; renewed an hour early

# What ends a session: the network, the websocket, KIS refusing, a reply that is not KIS's.
SESSION_ERRORS = (
    OSError,
    TimeoutError,
    ValueError,
    WebSocketException,
    KisUnavailableError,
    KisConfigurationError,
)

Listener = Callable[[ExecutionNotice], None]
SessionListener = Callable[[bool], None]


def decrypt(key: str, iv: str, payload: str) -> str:
    """AES-256-CBC, PKCS7 padding, base64: KIS's notice payloads."""
    decryptor = Cipher(
        algorithms.AES(key.encode("utf-8")), modes.CBC(iv.encode("utf-8"))
    ).decryptor()
    padded = decryptor.update(base64.b64decode(payload)) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")


def ws_url_for(environment: str, rest_base_url: str | None) -> str:
    """KIS's websocket domain; for the simulator (a REST ``base_url``), the same host."""
    if not rest_base_url:
        return WS_DOMAINS[environment]
    parts = urlsplit(rest_base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}"


class KisNotices:
    def __init__(
        self,
        *,
        environment: str,
        app_key: str,
        app_secret: str,
        hts_id: str,
        rest_url: str,
        ws_url: str,
        valkey: Any | None = None,
        valkey_key: str = "",
        markets: tuple[Market, ...] = (Market.KR, Market.US),
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        timeout_s: float = 5.0,
        gate: Callable[[], Standing] | None = None,
    ) -> None:
        self.environment = environment
        self._gate = gate
        self._app_key = app_key
        self._app_secret = app_secret
        self._hts_id = hts_id
        self._rest_url = rest_url.rstrip("/")
        self._ws_url = ws_url.rstrip("/") + WS_PATH
        self._valkey = valkey
        self._valkey_key = valkey_key
        self._trs = [schemas.NOTICE_TR[(environment, m)] for m in markets]
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._timeout_s = timeout_s
        self._approval: str | None = None
        self._listeners: list[Listener] = []
        self._session_listeners: list[SessionListener] = []
        self._task: asyncio.Task[None] | None = None
        self._ciphers: dict[str, tuple[str, str]] = {}
        self.live = False  # every notice TR registered on an open session
        self.sessions = 0  # sessions that got registered (a reconnect adds one)
        self.stats = {"notices": 0, "pings": 0, "drops": 0, "approvals": 0}

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def on_session(self, listener: SessionListener) -> None:
        """``listener(True)`` once a session is registered, ``listener(False)`` when it ends."""
        self._session_listeners.append(listener)

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="kis-notices")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._set_live(False)

    async def run(self) -> None:
        """Sessions, one after the other, until cancelled."""
        delay = self._backoff_s
        while True:
            await self._until(active=True)
            try:
                registered = await self._while_active()
            except SESSION_ERRORS as exc:  # each leads to the same: wait, then open again
                registered = self.live
                logger.warning("kis notices session ended: %s", _describe(exc))
            if registered:
                delay = self._backoff_s
            self._set_live(False)
            self.stats["drops"] += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_backoff_s)

    def _active(self) -> bool:
        return self._gate is None or self._gate() is Standing.ACTIVE

    async def _until(self, *, active: bool) -> None:
        """Return once this worker's standing is ``active`` (the gate is polled: a callable)."""
        while True:
            if self._active() == active:
                return
            await asyncio.sleep(0.2)

    async def _while_active(self) -> bool:
        """One session, closed when this worker stops being active."""
        if self._gate is None:
            return await self._session()
        session = asyncio.ensure_future(self._session())
        leave = asyncio.ensure_future(self._until(active=False))
        try:
            await asyncio.wait((session, leave), return_when=asyncio.FIRST_COMPLETED)
            if session.done():
                return session.result()
            logger.info("kis notices closed: this worker is not active")
            return self.live
        finally:
            for task in (leave, session):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, *SESSION_ERRORS):
                        await task

    # ---- approval key ------------------------------------------------------------------------

    async def approval_key(self, *, renew: bool = False) -> str:
        if not renew and self._approval:
            return self._approval
        if not renew and self._valkey is not None and self._valkey_key:
            with contextlib.suppress(Exception):
                stored = await self._valkey.get(self._valkey_key)
                if stored:
                    self._approval = str(stored)
                    return self._approval
        body = schemas.approval_request(self._app_key, self._app_secret)
        try:
            async with httpx.AsyncClient(timeout=self._timeout_s) as http:
                response = await http.post(self._rest_url + APPROVAL_PATH, json=body)
        except httpx.HTTPError as exc:
            raise KisUnavailableError(f"KIS approval: {type(exc).__name__}") from None
        try:
            data = response.json()
        except ValueError:
            data = {}
        key = schemas.text(data.get("approval_key")) if isinstance(data, dict) else ""
        if response.status_code != 200 or not key:
            code, message = schemas.token_failure(data if isinstance(data, dict) else {})
            raise KisConfigurationError(f"KIS approval refused: {code} {message}".strip())
        self._approval = key
        self.stats["approvals"] += 1
        if self._valkey is not None and self._valkey_key:
            with contextlib.suppress(Exception):
                await self._valkey.set(self._valkey_key, key, ex=APPROVAL_TTL_S)
        return key

    # ---- one session -------------------------------------------------------------------------

    async def _session(self) -> bool:
        approval = await self.approval_key()
        async with websockets.connect(
            self._ws_url, open_timeout=self._timeout_s, ping_interval=None, max_queue=None
        ) as ws:
            for tr_id in self._trs:
                request = schemas.subscribe_message(approval, tr_id, self._hts_id, register=True)
                await ws.send(json.dumps(request))
            waiting = set(self._trs)
            async for frame in ws:
                text = frame if isinstance(frame, str) else frame.decode("utf-8")
                if text[:1] in ("0", "1"):
                    self._data(text)
                    continue
                control = _json(text)
                header = control.get("header") or {}
                tr_id = schemas.text(header.get("tr_id"))
                if tr_id == "PINGPONG":
                    self.stats["pings"] += 1
                    await ws.send(text)  # echoed as it came
                    continue
                body = control.get("body") or {}
                rt_cd, code, message = schemas.envelope(body)
                if rt_cd != "0":
                    if "APPROVAL" in message.upper():
                        self._approval = None
                        await self.approval_key(renew=True)
                    raise KisUnavailableError(f"KIS websocket refused {tr_id}: {code} {message}")
                output = body.get("output") or {}
                if output.get("key") and output.get("iv"):
                    self._ciphers[tr_id] = (str(output["key"]), str(output["iv"]))
                waiting.discard(tr_id)
                if not waiting and not self.live:
                    self.sessions += 1
                    self._set_live(True)
        return self.live

    def _data(self, frame: str) -> None:
        parts = frame.split("|", 3)
        if len(parts) < 4:
            return
        flag, tr_id, count, payload = parts
        if flag == "1":
            cipher = self._ciphers.get(tr_id)
            if cipher is None:
                logger.warning("kis notice for %s before its key: dropped", tr_id)
                return
            try:
                payload = decrypt(cipher[0], cipher[1], payload)
            except ValueError:
                logger.warning("kis notice for %s could not be decrypted", tr_id)
                return
        try:
            records = int(count)
        except ValueError:
            records = 1
        for notice in schemas.parse_execution_notices(tr_id, records, payload):
            self.stats["notices"] += 1
            for listener in self._listeners:
                try:
                    listener(notice)
                except Exception:
                    logger.exception("kis notice listener failed")

    def _set_live(self, live: bool) -> None:
        if live == self.live:
            return
        self.live = live
        for listener in self._session_listeners:
            try:
                listener(live)
            except Exception:
                logger.exception("kis notice session listener failed")


def _json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]
