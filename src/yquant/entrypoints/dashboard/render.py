"""Pages from Jinja2 templates, every value shown through `formatting` in the page's language.

A template gets ``v`` (a `Say`: words, codes and values in the request's language and zones)
and ``page`` (the frame: navigation, user, CSRF token, the kill-switch banner, this worker).
Autoescaping is on: what an alert carried is text, never markup.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from yquant import __version__
from yquant.entrypoints import formatting as fmt
from yquant.entrypoints import i18n
from yquant.entrypoints.dashboard.words import word

LANGUAGES = ("en", "ko")
LANG_COOKIE = "yq_lang"

# (path, word): the navigation, in this order on every page.
NAV = (
    ("/", "nav_overview"),
    ("/positions", "nav_positions"),
    ("/orders", "nav_orders"),
    ("/signals", "nav_signals"),
    ("/trade", "nav_trade"),
    ("/schedules", "nav_schedules"),
    ("/liquidate", "nav_liquidate"),
    ("/performance", "nav_performance"),
    ("/system", "nav_system"),
)

# The one inline stylesheet allowed: the one Lightweight Charts 5.3.0 adds for its attribution
# logo (TradingView asks for the logo), by its hash; a new version of the library names its own.
CHART_LOGO_STYLE = "'sha256-3pRED1tOXas1FXFoPb9TGCjmYe9XQsmO9OV23khV2nY='"
# Every page: scripts and styles only from this server; no inline script, no framing.
CSP = (
    f"default-src 'self'; script-src 'self'; style-src 'self' {CHART_LOGO_STYLE}; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

ENV = Environment(
    loader=PackageLoader("yquant.entrypoints.dashboard", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


class Say:
    """Words and values for people, in one language: what every template shows through."""

    def __init__(self, language: str, zone: str) -> None:
        self.language = language
        self.zone = zone

    @property
    def zone_name(self) -> str:
        """The desk zone's name now (``KST``)."""
        return str(datetime.now(ZoneInfo(self.zone)).tzname())

    def t(self, key: str, **values: Any) -> str:
        text = word(self.language, key)
        return text.format(**values) if values else text

    def code(self, code: object) -> str:
        """A status, side, action, reason or health check in the operator's words."""
        return "" if code is None else i18n.label(self.language, str(code))

    def money(self, amount: object, currency: str | None) -> str:
        return fmt.money(amount, currency)

    def qty(self, value: object) -> str:
        return fmt.quantity(value)

    def number(self, value: object) -> str:
        return fmt.number(value)

    def mtime(self, at: object, market: str | None) -> str:
        """A time in its market's zone (KST for KRX, New York for US), the zone named."""
        return fmt.local_time(at, market) if market else fmt.zoned_time(at, self.zone)

    def dtime(self, at: object) -> str:
        """A time of no market, in the desk's zone (the dashboard's time_zone setting)."""
        return fmt.zoned_time(at, self.zone)

    def ago(self, seconds: object) -> str:
        return self.t("age_ago", age=fmt.duration(seconds, self.language))

    def duration(self, seconds: object) -> str:
        return fmt.duration(seconds, self.language)

    def market(self, row: dict[str, Any]) -> str | None:
        """The market of a row: orders name it, fills their currency, signals the exchange
        before the ticker (``KRX:005930``) or in their exchange column."""
        market = row.get("market") or fmt.market_of_currency(row.get("currency"))
        if market:
            return str(market)
        return fmt.market_of(str(row.get("exchange") or "")) or fmt.market_of(
            str(row.get("ticker") or "")
        )

    def bare(self, row: dict[str, Any]) -> str:
        """A row's ticker without its exchange (``KRX:005930``: ``005930``)."""
        ticker = str(row.get("ticker") or "")
        return ticker.split(":", 1)[1] if ":" in ticker else ticker

    def name(self, names: dict[Any, str], row: dict[str, Any]) -> str:
        """The catalog's name of a row's ticker, or nothing."""
        return names.get((self.market(row), self.bare(row)), "")

    def currency(self, row: dict[str, Any]) -> str | None:
        return row.get("currency") or fmt.currency_of(self.market(row))

    def symbol(self, market: str, exchange: str, ticker: str) -> str:
        """What the /trade form takes for an instrument: ``EXCHANGE:TICKER`` (``KRX`` for a
        Korean one whose exchange is not known; a US ticker alone, the catalog names it)."""
        if exchange:
            return f"{exchange}:{ticker}"
        return f"KRX:{ticker}" if market == "KR" else ticker

    def signed(self, amount: Decimal | None) -> str:
        """``up``/``down``/``flat``: the CSS class of a P&L figure."""
        if amount is None or amount == 0:
            return "flat"
        return "up" if amount > 0 else "down"


@dataclass
class Frame:
    """What the frame of every page shows besides its content."""

    path: str
    user: str | None = None
    csrf: str = ""
    worker: str = ""
    active: tuple[str, int] | None = None  # (active worker, epoch) as recorded
    switches: list[dict[str, Any]] = field(default_factory=list)
    ready: bool | None = None
    checks: dict[str, str] = field(default_factory=dict)
    database_up: bool = True
    # Accounts whose orders the gateway's brokers halted (a configuration error), KIS's words.
    broker_halts: dict[str, str] = field(default_factory=dict)

    @property
    def nav(self) -> tuple[tuple[str, str], ...]:
        return NAV

    @property
    def version(self) -> str:
        return __version__

    def here(self, path: str) -> bool:
        return self.path == path or (path != "/" and self.path.startswith(path + "/"))

    @property
    def halted(self) -> list[dict[str, Any]]:
        return [s for s in self.switches if s["state"] == "halted"]

    @property
    def reduce_only(self) -> list[dict[str, Any]]:
        return [s for s in self.switches if s["state"] == "reduce_only"]

    @property
    def state(self) -> tuple[str, str]:
        """The header's chip: (CSS class, word). A halt anywhere is red and says so, never a
        green "ready"; reduce-only is amber; else readiness."""
        if self.halted:
            return "down", "banner_halted"
        if self.broker_halts:
            return "down", "banner_broker_halted"
        if self.reduce_only:
            return "standby", "state_reduce_only"
        return ("up", "ready") if self.ready else ("down", "not_ready")

    @property
    def role(self) -> str:
        """``active``, ``standby`` or ``unassigned``: this worker against the record."""
        if self.active is None:
            return "unassigned"
        return "active" if self.active[0] == self.worker else "standby"

    @property
    def htmx_headers(self) -> str:
        return json.dumps({"X-CSRF-Token": self.csrf})


def form_text(form: Any, name: str, limit: int = 40) -> str:
    """A form field as typed, stripped and cut to ``limit``; "" when it holds a character that
    does not print (it is echoed back into the page)."""
    value = str(form.get(name) or "").strip()[:limit]
    return value if value.isprintable() else ""


def language_of(request: Request, default: str) -> str:
    """``?lang=`` (remembered in a cookie), else the cookie, else the configured language;
    anything but a known language falls back, never echoed."""
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return asked if asked in LANGUAGES else default


def render(
    request: Request,
    template: str,
    *,
    say: Say,
    frame: Frame,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    html = ENV.get_template(template).render(v=say, page=frame, request=request, **context)
    response = HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
    remember_language(request, response)
    return response


def remember_language(request: Request, response: Response) -> None:
    """A language asked for by ``?lang=`` is kept in a cookie for the next pages."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE, asked, max_age=365 * 86400, httponly=True, samesite="strict"
        )


def fragment(template: str, *, say: Say, frame: Frame, **context: Any) -> str:
    """A template's HTML alone (the live banner)."""
    return ENV.get_template(template).render(v=say, page=frame, **context)
