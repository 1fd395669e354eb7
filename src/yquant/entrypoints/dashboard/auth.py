"""Who is asking: sign-in, sessions, CSRF, and the guard in front of every page and API.

Two ways to sign in (`dashboard.auth`):

- ``password``: users made with `yquant users add`; the session is a cookie signed with a key
  kept in the data directory (``dashboard-session-key``), carrying the user's session epoch, so
  signing out (or a removal, or a new password) ends every session of that user. HttpOnly,
  SameSite=Strict, Secure when the page came over TLS. A database outage does not sign anybody
  out: the signature is checked here, the epoch against the last one read.
- ``tailscale``: the login `tailscale serve` sets (``Tailscale-User-Login``), believed only from
  a loopback peer while the dashboard listens on loopback (serve proxies from there; anyone
  else could write the header), and only for the logins listed in `dashboard.tailscale_logins`.

Every request that changes something must carry the CSRF token of its session (a form field
``csrf`` or the ``X-CSRF-Token`` header) and come from a page of this dashboard (its ``Origin``,
or its ``Referer`` where a browser sends no Origin, names the host it was sent to). Only
`/login`, `/static/`, `/healthz` and `/metrics` are open: the last two are for the load balancer,
`yquant checkup` and Prometheus, and show no trading data.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from yquant.domain.reasons import ReasonCode
from yquant.entrypoints.dashboard.render import remember_language
from yquant.errors import DatabaseUnavailableError
from yquant.services.users import Users
from yquant.settings import DashboardSettings

logger = logging.getLogger(__name__)

SESSION_COOKIE = "yq_session"
LOGIN_COOKIE = "yq_login"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
PUBLIC_PATHS = ("/login", "/healthz", "/metrics")
PUBLIC_PREFIXES = ("/static/",)
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_BODY = 64 * 1024
# A user's session epoch, as read, is trusted this long before it is read again.
EPOCH_TTL_S = 5.0
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
# Tailscale MagicDNS names resolve only inside the tailnet: nobody can point one elsewhere.
TAILSCALE_NAMES = "*.ts.net"


@dataclass(frozen=True, slots=True)
class Identity:
    name: str
    via: str  # "password" | "tailscale"
    csrf: str


# ---- host names -----------------------------------------------------------------------------


def allowed_hosts(dashboard: DashboardSettings) -> list[str]:
    """The Host names the dashboard answers to (patterns as TrustedHostMiddleware takes them)."""
    hosts = [*LOOPBACK_NAMES, TAILSCALE_NAMES, *dashboard.allowed_hosts]
    if dashboard.host not in ("", "0.0.0.0", "::"):  # noqa: S104 - a test, not a bind
        hosts.append(f"[{dashboard.host}]" if ":" in dashboard.host else dashboard.host)
    return [h.lower() for h in hosts]


def host_allowed(host: str, patterns: list[str]) -> bool:
    host = host.lower()
    return any(host == p or (p.startswith("*.") and host.endswith(p[1:])) for p in patterns)


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _hostname(netloc_or_url: str) -> str | None:
    part = netloc_or_url if "//" in netloc_or_url else f"//{netloc_or_url}"
    try:
        name = urlsplit(part).hostname
    except ValueError:
        return None
    return f"[{name}]" if name and ":" in name else name


# ---- redirects --------------------------------------------------------------------------------


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this dashboard, never another site (no scheme,
    no host, no ``//`` or ``/\\``, no control characters); anything else is ``/``."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(ord(ch) < 0x20 or ch in "\\\x7f" for ch in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


# ---- sessions ---------------------------------------------------------------------------------


def session_key(data_dir: Path) -> bytes:
    """The key that signs sessions: made on first use, kept (0600) in the data directory."""
    path = data_dir / "dashboard-session-key"
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another dashboard process made it first
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex() + "\n")
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sessions:
    """Signed session cookies: ``payload.mac``, the payload naming the user, their session
    epoch, when it was issued and a nonce (its CSRF token is derived from the nonce)."""

    def __init__(self, key: bytes, lifetime_s: float) -> None:
        self._key = key
        self.lifetime_s = lifetime_s

    def _mac(self, purpose: str, text: str) -> str:
        return _b64(hmac.new(self._key, f"{purpose}|{text}".encode(), hashlib.sha256).digest())

    def issue(self, name: str, epoch: int, now: float) -> str:
        payload = _b64(json.dumps([name, epoch, int(now), secrets.token_urlsafe(16)]).encode())
        return f"{payload}.{self._mac('session', payload)}"

    def read(self, cookie: str | None, now: float) -> tuple[str, int, str] | None:
        """(name, epoch, nonce) of a cookie this dashboard signed and that has not expired."""
        if not cookie or cookie.count(".") != 1:
            return None
        payload, mac = cookie.split(".")
        if not hmac.compare_digest(mac, self._mac("session", payload)):
            return None
        try:
            name, epoch, issued, nonce = json.loads(_unb64(payload))
        except (ValueError, TypeError):
            return None
        if not (isinstance(issued, int) and 0 <= now - issued < self.lifetime_s):
            return None
        return str(name), int(epoch), str(nonce)

    def csrf(self, nonce: str) -> str:
        return self._mac("csrf", nonce)

    def login_token(self) -> str:
        return secrets.token_urlsafe(24)


# ---- who is asking ----------------------------------------------------------------------------


class Auth:
    def __init__(
        self,
        settings: DashboardSettings,
        sessions: Sessions,
        users: Users,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.users = users
        self.hosts = allowed_hosts(settings)
        self._logins = {login.strip().lower() for login in settings.tailscale_logins}
        self._epochs: dict[str, tuple[int | None, float]] = {}

    @property
    def tailscale(self) -> bool:
        return self.settings.auth == "tailscale"

    def _from_serve(self, request: Request) -> bool:
        """Sent by `tailscale serve` on this machine: a loopback peer, while the dashboard
        listens on loopback only."""
        peer = request.client.host if request.client else ""
        return loopback(peer) and loopback(self.settings.host)

    def tls(self, request: Request) -> bool:
        """The browser reached the page over TLS (directly, or through serve's HTTPS)."""
        if request.url.scheme == "https":
            return True
        proto = request.headers.get("x-forwarded-proto", "").lower()
        return proto == "https" and self._from_serve(request)

    async def identify(self, request: Request) -> Identity | None:
        if self.tailscale:
            login = request.headers.get("tailscale-user-login", "").strip().lower()
            if login and login in self._logins and self._from_serve(request):
                return Identity(login, "tailscale", self.sessions.csrf(f"tailscale:{login}"))
            return None
        read = self.sessions.read(request.cookies.get(SESSION_COOKIE), time.time())
        if read is None:
            return None
        name, epoch, nonce = read
        if not await self._current(name, epoch):
            return None
        return Identity(name, "password", self.sessions.csrf(nonce))

    async def _current(self, name: str, epoch: int) -> bool:
        """The user exists and ``epoch`` is their session epoch (read at most every few
        seconds)."""
        cached = self._epochs.get(name)
        if cached is not None and time.monotonic() - cached[1] < EPOCH_TTL_S:
            return cached[0] == epoch
        try:
            stored = await self.users.session_epoch(name)
        except DatabaseUnavailableError:
            # Signed by us and not expired: a database outage signs nobody out. A removal or
            # a sign-out elsewhere is seen once the database answers again.
            return cached is None or cached[0] == epoch
        if len(self._epochs) > 1000:
            self._epochs.clear()
        self._epochs[name] = (stored, time.monotonic())
        return stored == epoch

    def forget(self, name: str) -> None:
        self._epochs.pop(name, None)

    def same_origin(self, headers: Headers) -> bool:
        """The request came from a page of the host it was sent to (and that host is one the
        dashboard answers to): its Origin, or its Referer when there is no Origin."""
        source = headers.get("origin") or headers.get("referer")
        if not source or source == "null":
            return False
        origin_host = _hostname(source)
        host = _hostname(headers.get("host", ""))
        return (
            origin_host is not None
            and origin_host == host
            and host_allowed(origin_host, self.hosts)
        )

    def session_cookie(self, response: Response, request: Request, value: str) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            value,
            max_age=int(self.sessions.lifetime_s),
            httponly=True,
            samesite="strict",
            secure=self.tls(request),
            path="/",
        )


# ---- the guard --------------------------------------------------------------------------------


def _public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def refusal(code: ReasonCode, message: str, status: int) -> JSONResponse:
    """A refusal: a stable code (the page shows it in its language) and the English message."""
    return JSONResponse({"code": code, "error": message}, status_code=status)


def _wants_page(request: Request) -> bool:
    return (
        request.method == "GET"
        and not request.url.path.startswith(("/api/", "/events"))
        and "text/html" in request.headers.get("accept", "text/html")
    )


class Guard:
    """ASGI middleware: every request but the open paths needs an identity; every request that
    changes something also needs its CSRF token and a same-origin page. The identity is left
    in ``request.state.identity``."""

    def __init__(self, app: ASGIApp, auth: Auth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _public(scope["path"]):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        identity = await self.auth.identify(request)
        if identity is None:
            await self._unknown(request)(scope, receive, send)
            return
        scope.setdefault("state", {})["identity"] = identity
        if request.method not in UNSAFE:
            await self.app(scope, receive, send)
            return
        if not self.auth.same_origin(request.headers):
            response = refusal(ReasonCode.CROSS_ORIGIN, "cross-origin request refused", 403)
            await response(scope, receive, send)
            return
        body, complete = await _read_body(receive)
        if not complete:
            await refusal(ReasonCode.BODY_TOO_LARGE, "request body too large", 413)(
                scope, receive, send
            )
            return
        token = request.headers.get(CSRF_HEADER) or _form_token(request.headers, body)
        if not token or not hmac.compare_digest(token, identity.csrf):
            logger.info("csrf refused path=%s user=%s", scope["path"], identity.name)
            await refusal(ReasonCode.CSRF_REFUSED, "missing or wrong CSRF token", 403)(
                scope, receive, send
            )
            return
        await self.app(scope, _replay(body, receive), send)

    def _unknown(self, request: Request) -> Response:
        if self.auth.tailscale:
            return refusal(ReasonCode.LOGIN_NOT_ALLOWED, "open this through tailscale serve", 403)
        if _wants_page(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            response = RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
            remember_language(request, response)
            return response
        return refusal(ReasonCode.SIGN_IN_REQUIRED, "sign in first", 401)


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole request body (False when it is longer than MAX_BODY or the client left)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", False
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return b"", False
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _form_token(headers: Headers, body: bytes) -> str | None:
    if headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return None
    values = parse_qs(body.decode("utf-8", "replace")).get(CSRF_FIELD)
    return values[0] if values else None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def identity_of(request: Request) -> Identity:
    """The identity the guard found (every route behind it has one)."""
    found: Any = request.state.identity
    assert isinstance(found, Identity)
    return found


def actor_of(request: Request) -> str:
    """Who, for the audit log: the signed-in user (or Tailscale login)."""
    return f"dashboard:{identity_of(request).name}"[:100]
