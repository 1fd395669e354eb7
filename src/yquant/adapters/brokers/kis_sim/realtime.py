"""The KIS simulator's websocket: approval keys and real-time execution notices (체결통보).

As KIS does it:

- ``POST /oauth2/Approval`` with ``grant_type``, ``appkey`` and ``secretkey`` (not
  ``appsecret``) answers ``{"approval_key": ...}``; the key opens websocket sessions for 24 h.
- the websocket (``/tryitout`` or ``/tryitout/<tr_id>``) takes JSON messages whose ``header``
  holds ``approval_key``, ``custtype``, ``tr_type`` (1 register, 2 unregister) and
  ``content-type``, and whose ``body.input`` holds ``tr_id`` and ``tr_key`` (the HTS id for the
  execution-notice TRs: H0STCNI0/H0GSCNI0 real, H0STCNI9/H0GSCNI9 paper). Replies are JSON:
  ``header`` (``tr_id``, ``tr_key``, ``encrypt``) and ``body`` (``rt_cd``, ``msg_cd``, ``msg1``
  and, for a notice TR, ``output.key``/``output.iv``: the AES-256-CBC key and iv of the
  session's notices).
- notices are ``1|<tr_id>|001|<base64 of AES-256-CBC(PKCS7) of the '^'-joined columns>``, in
  the column order of KIS's samples; an order accepted, filled (each slice), cancelled or
  modified under the session's HTS id sends one.
- ``{"header":{"tr_id":"PINGPONG","datetime":...}}`` every ``pingpong_s``; clients echo it.
- one session per app key (a second one is refused while the first lives), at most 41
  registrations per session.

Not KIS: `Realtime.cut` drops every live session at once, or after the next ``after``
notices (what a dropped connection does to a client); notices with no session are lost.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import string
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from starlette.websockets import WebSocket, WebSocketDisconnect

from yquant.adapters.brokers.kis_sim.exchange import KST, NEW_YORK, SimOrder
from yquant.adapters.brokers.kis_sim.views import text_num

if TYPE_CHECKING:
    from yquant.adapters.brokers.kis_sim.app import KisSimulator

NOTICE_TR = {
    "real": {"KR": "H0STCNI0", "US": "H0GSCNI0"},
    "paper": {"KR": "H0STCNI9", "US": "H0GSCNI9"},
}
MAX_REGISTRATIONS = 41
APPROVAL_TTL_S = 86_400.0

# Column order of KIS's execution notices (KIS's samples: domestic_stock/ccnl_notice,
# overseas_stock/ccnl_notice).
DOMESTIC_COLUMNS = (
    "CUST_ID", "ACNT_NO", "ODER_NO", "OODER_NO", "SELN_BYOV_CLS", "RCTF_CLS", "ODER_KIND",
    "ODER_COND", "STCK_SHRN_ISCD", "CNTG_QTY", "CNTG_UNPR", "STCK_CNTG_HOUR", "RFUS_YN",
    "CNTG_YN", "ACPT_YN", "BRNC_NO", "ODER_QTY", "ACNT_NAME", "ORD_COND_PRC", "ORD_EXG_GB",
    "POPUP_YN", "FILLER", "CRDT_CLS", "CRDT_LOAN_DATE", "CNTG_ISNM40", "ODER_PRC",
)  # fmt: skip
OVERSEAS_COLUMNS = (
    "CUST_ID", "ACNT_NO", "ODER_NO", "OODER_NO", "SELN_BYOV_CLS", "RCTF_CLS", "ODER_KIND2",
    "STCK_SHRN_ISCD", "CNTG_QTY", "CNTG_UNPR", "STCK_CNTG_HOUR", "RFUS_YN", "CNTG_YN",
    "ACPT_YN", "BRNC_NO", "ODER_QTY", "ACNT_NAME", "CNTG_ISNM", "ODER_COND", "DEBT_GB",
    "DEBT_DATE", "START_TM", "END_TM", "TM_DIV_TP", "CNTG_UNPR12",
)  # fmt: skip


@dataclass
class Session:
    app_key: str
    socket: WebSocket
    loop: asyncio.AbstractEventLoop
    key: str
    iv: str
    outbox: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    subscriptions: set[tuple[str, str]] = field(default_factory=set)


class Realtime:
    def __init__(self, sim: KisSimulator) -> None:
        self.sim = sim
        self.approvals: dict[str, tuple[str, float]] = {}  # approval key -> (app key, issued)
        self.sessions: list[Session] = []
        self.stats = {"approvals": 0, "sessions": 0, "notices": 0, "lost": 0, "pongs": 0, "cuts": 0}
        self._cut_after: int | None = None
        sim.exchange.listeners.append(self.on_event)

    # ---- approval ----------------------------------------------------------------------------

    def approve(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        key = self.sim.keys.get(str(body.get("appkey", "")))
        if body.get("grant_type") != "client_credentials" or key is None:
            return 403, {
                "error_description": "유효하지 않은 AppKey입니다.",
                "error_code": "EGW00103",
            }
        if body.get("secretkey") != key.secret:
            return 403, {
                "error_description": "유효하지 않은 AppSecret입니다.",
                "error_code": "EGW00105",
            }
        approval = str(uuid.uuid4())
        self.approvals[approval] = (str(body["appkey"]), time.monotonic())
        self.stats["approvals"] += 1
        return 200, {"approval_key": approval}

    # ---- the socket ----------------------------------------------------------------------------

    async def serve(self, socket: WebSocket) -> None:
        await socket.accept()
        session: Session | None = None
        pinger: asyncio.Task[None] | None = None
        sender: asyncio.Task[None] | None = None
        try:
            while True:
                raw = await socket.receive_text()
                message = _json(raw)
                header = message.get("header") if isinstance(message, dict) else None
                if isinstance(header, dict) and header.get("tr_id") == "PINGPONG":
                    self.stats["pongs"] += 1
                    continue
                if session is None:
                    session, answer = self._open(socket, message)
                    if session is None:
                        await socket.send_text(answer)
                        continue
                    sender = asyncio.create_task(self._send_loop(session))
                    pinger = asyncio.create_task(self._ping_loop(session))
                await session.outbox.put(self._register(session, message))
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            for task in (pinger, sender):
                if task is not None:
                    task.cancel()
            if session is not None and session in self.sessions:
                self.sessions.remove(session)

    def _open(self, socket: WebSocket, message: Any) -> tuple[Session | None, str]:
        header = message.get("header") if isinstance(message, dict) else None
        tr_id, tr_key = _input(message)
        if not isinstance(header, dict):
            return None, _reply(
                tr_id, tr_key, "9", "OPSP9999", "JSON PARSING ERROR : header not found"
            )
        approval = self.approvals.get(str(header.get("approval_key", "")))
        if approval is None or time.monotonic() - approval[1] > APPROVAL_TTL_S:
            return None, _reply(tr_id, tr_key, "1", "SIM00021", "INVALID APPROVAL KEY")
        if any(s.app_key == approval[0] for s in self.sessions):
            return None, _reply(tr_id, tr_key, "1", "SIM00022", "ALREADY IN USE appkey")
        alphabet = string.ascii_letters
        session = Session(
            approval[0],
            socket,
            asyncio.get_running_loop(),
            "".join(secrets.choice(alphabet) for _ in range(32)),
            "".join(secrets.choice(alphabet) for _ in range(16)),
        )
        self.sessions.append(session)
        self.stats["sessions"] += 1
        return session, ""

    def _register(self, session: Session, message: Any) -> str:
        header = message.get("header") if isinstance(message, dict) else None
        tr_id, tr_key = _input(message)
        if not isinstance(header, dict):
            return _reply(tr_id, tr_key, "9", "OPSP9999", "JSON PARSING ERROR : header not found")
        if header.get("approval_key") not in self.approvals:
            return _reply(tr_id, tr_key, "1", "SIM00021", "INVALID APPROVAL KEY")
        if header.get("custtype") not in ("P", "B"):
            return _reply(tr_id, tr_key, "9", "OPSP9999", "JSON PARSING ERROR : invalid custtype")
        served = set(NOTICE_TR[self.sim.config.environment].values())
        if tr_id not in served:
            return _reply(tr_id, tr_key, "9", "OPSP9999", "JSON PARSING ERROR : invalid tr_id")
        if tr_key != self.sim.keys[session.app_key].hts_id:
            return _reply(tr_id, tr_key, "9", "OPSP9999", "JSON PARSING ERROR : invalid tr_key")
        entry = (tr_id, tr_key)
        kind = str(header.get("tr_type", ""))
        if kind == "2":
            session.subscriptions.discard(entry)
            return _reply(tr_id, tr_key, "0", "OPSP0001", "UNSUBSCRIBE SUCCESS", encrypt="Y")
        if kind != "1":
            return _reply(tr_id, tr_key, "9", "OPSP9999", "JSON PARSING ERROR : invalid tr_type")
        if entry in session.subscriptions:
            return _reply(tr_id, tr_key, "1", "OPSP0002", "ALREADY IN SUBSCRIBE")
        if len(session.subscriptions) >= MAX_REGISTRATIONS:
            return _reply(tr_id, tr_key, "1", "SIM00023", "MAX SUBSCRIBE OVER")
        session.subscriptions.add(entry)
        output = {"iv": session.iv, "key": session.key}
        return _reply(tr_id, tr_key, "0", "OPSP0000", "SUBSCRIBE SUCCESS", "Y", output)

    async def _send_loop(self, session: Session) -> None:
        while True:
            frame = await session.outbox.get()
            if frame is None:
                with contextlib.suppress(Exception):
                    await session.socket.close(code=1011)
                return
            await session.socket.send_text(frame)

    async def _ping_loop(self, session: Session) -> None:
        while True:
            await asyncio.sleep(self.sim.config.pingpong_s)
            stamp = datetime.now(KST).strftime("%Y%m%d%H%M%S")
            await session.outbox.put(
                json.dumps({"header": {"tr_id": "PINGPONG", "datetime": stamp}})
            )

    # ---- notices ---------------------------------------------------------------------------

    def cut(self, after: int = 0) -> None:
        """Drop every live session now (``after`` 0) or once ``after`` more notices went out."""
        if after > 0:
            self._cut_after = after
            return
        self._cut_now()

    def _cut_now(self) -> None:
        self._cut_after = None
        for session in list(self.sessions):
            self.sessions.remove(session)
            session.loop.call_soon_threadsafe(session.outbox.put_nowait, None)
        self.stats["cuts"] += 1

    def on_event(self, kind: str, order: SimOrder, quantity: Decimal, price: Decimal) -> None:
        """Called by the exchange (under its lock) when an order is accepted, fills,
        is cancelled or modified: one notice to each session subscribed for its owner."""
        owner = next((k for k in self.sim.keys.values() if order.account in k.accounts), None)
        if owner is None:
            return
        tr_id = NOTICE_TR[self.sim.config.environment][order.market]
        columns = _columns(kind, order, quantity, price, owner.hts_id)
        targets = [s for s in self.sessions if (tr_id, owner.hts_id) in s.subscriptions]
        if not targets:
            self.stats["lost"] += 1
            return
        for session in targets:
            frame = f"1|{tr_id}|001|{encrypt(session.key, session.iv, '^'.join(columns))}"
            session.loop.call_soon_threadsafe(session.outbox.put_nowait, frame)
            self.stats["notices"] += 1
        if self._cut_after is not None:
            self._cut_after -= 1
            if self._cut_after <= 0:
                self._cut_now()


def encrypt(key: str, iv: str, text: str) -> str:
    """AES-256-CBC with PKCS7 padding, base64: how KIS sends notice payloads."""
    padder = padding.PKCS7(128).padder()
    data = padder.update(text.encode("utf-8")) + padder.finalize()
    encryptor = Cipher(
        algorithms.AES(key.encode("utf-8")), modes.CBC(iv.encode("utf-8"))
    ).encryptor()
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode("ascii")


def _columns(kind: str, o: SimOrder, quantity: Decimal, price: Decimal, hts_id: str) -> list[str]:
    """One notice in KIS's column order. ``kind``: accepted | filled | cancelled | modified."""
    filled = kind == "filled"
    revision = {"cancelled": "2", "modified": "1"}.get(kind, "0")
    accepted = "1" if kind == "accepted" else "2"  # 접수 / 확인
    side = "01" if o.side == "sell" else "02"
    domestic = o.market == "KR"
    places = 0 if domestic else 4
    local = datetime.now(KST if domestic else NEW_YORK).strftime("%H%M%S")
    limit = o.limit_price or Decimal(0)
    values = {
        "CUST_ID": hts_id,
        "ACNT_NO": o.account[0] + o.account[1],
        "ODER_NO": o.odno,
        "OODER_NO": o.original,
        "SELN_BYOV_CLS": side,
        "RCTF_CLS": revision,
        "ODER_KIND": "00" if o.limit_price is not None else "01",
        "ODER_KIND2": "2" if o.limit_price is not None else "1",
        "ODER_COND": "0",
        "STCK_SHRN_ISCD": o.ticker,
        "CNTG_QTY": text_num(quantity),
        "CNTG_UNPR": text_num(price if filled else limit, places),
        "STCK_CNTG_HOUR": local,
        "RFUS_YN": "0",
        "CNTG_YN": "2" if filled else "1",
        "ACPT_YN": accepted,
        "BRNC_NO": o.branch,
        "ODER_QTY": text_num(o.quantity),
        "ACNT_NAME": "SIM",
        "ORD_COND_PRC": "",
        "ORD_EXG_GB": "1",
        "POPUP_YN": "Y",
        "FILLER": "",
        "CRDT_CLS": "10",
        "CRDT_LOAN_DATE": "",
        "CNTG_ISNM40": f"SIM {o.ticker}",
        "CNTG_ISNM": f"SIM {o.ticker}",
        "ODER_PRC": text_num(limit, places),
        "DEBT_GB": "10",
        "DEBT_DATE": "",
        "START_TM": "",
        "END_TM": "",
        "TM_DIV_TP": "",
        "CNTG_UNPR12": text_num(price if filled else limit, 8),
    }
    return [values[c] for c in (DOMESTIC_COLUMNS if domestic else OVERSEAS_COLUMNS)]


def _reply(
    tr_id: str,
    tr_key: str,
    rt_cd: str,
    code: str,
    message: str,
    encrypt: str = "N",
    output: dict[str, str] | None = None,
) -> str:
    body: dict[str, Any] = {"rt_cd": rt_cd, "msg_cd": code, "msg1": message}
    if output is not None:
        body["output"] = output
    return json.dumps(
        {"header": {"tr_id": tr_id, "tr_key": tr_key, "encrypt": encrypt}, "body": body},
        ensure_ascii=False,
    )


def _input(message: Any) -> tuple[str, str]:
    body = message.get("body") if isinstance(message, dict) else None
    given = body.get("input") if isinstance(body, dict) else None
    if not isinstance(given, dict):
        return "", ""
    return str(given.get("tr_id", "")), str(given.get("tr_key", ""))


def _json(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None
