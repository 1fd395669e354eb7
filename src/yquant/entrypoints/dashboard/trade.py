"""`/trade`: an operator's order from the dashboard, as `yquant buy|sell` places it.

Three steps, each a page: the form (account, ticker, side, quantity or an amount, market or
limit), the preview (the engine's own decision now, with every check, nothing recorded or sent:
`ManualOrders.preview`), and, after the operator confirms it, the order (`ManualOrders.place`:
recorded, sent through this worker's gateway, followed to its outcome). The order is in the
audit log under the user. The engine's parts (catalog, broker figures) are built on the first
use and kept. While the ticker is typed, `/trade/lookup` offers the catalog's instruments whose
code or Korean or English name matches (`CatalogCache.search`).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from yquant.adapters.brokers.routing import AccountBrokers
from yquant.adapters.catalog import CatalogCache
from yquant.bootstrap import (
    EngineParts,
    Runtime,
    audit_log,
    build_broker,
    desk_queries,
    load_catalog,
    open_engine,
)
from yquant.domain.model import Market, Side
from yquant.domain.reasons import ReasonCode
from yquant.entrypoints.dashboard.auth import actor_of
from yquant.entrypoints.dashboard.render import ENV, SECURITY_HEADERS, Say, form_text, language_of
from yquant.entrypoints.simulate import report
from yquant.errors import DatabaseUnavailableError, RejectedError, RetryableError
from yquant.services import manual

WAIT_S = 10.0
CATALOG_CHECK_S = 300.0
LOOKUP_LIMIT = 8


@dataclass
class Ticket:
    """The form as given (echoed back), and as an order once it parses."""

    account: str = ""
    ticker: str = ""
    side: str = "buy"
    quantity: str = ""
    amount: str = ""
    order_type: str = "market"
    limit_price: str = ""

    @classmethod
    def of(cls, form: Any) -> Ticket:
        def text(name: str, limit: int = 40) -> str:
            return form_text(form, name, limit)

        return cls(
            account=text("account", 64),
            ticker=text("ticker").upper(),
            side=text("side", 4),
            quantity=text("quantity"),
            amount=text("amount"),
            order_type=text("order_type", 6) or "market",
            limit_price=text("limit_price"),
        )

    def fields(self) -> dict[str, str]:
        return dict(self.__dict__)


class Refused(Exception):  # noqa: N818 - a refusal of the form, shown, never raised past here
    def __init__(self, code: ReasonCode, detail: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


def _decimal(text: str, code: ReasonCode) -> Decimal | None:
    if not text:
        return None
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        raise Refused(code, text) from None
    if not value.is_finite() or value <= 0:
        raise Refused(code, text)
    return value


class Trading:
    """The engine's parts for operator orders in the dashboard process, built once."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._lock = asyncio.Lock()
        self._parts: tuple[EngineParts, Any, AccountBrokers] | None = None
        self._catalog: CatalogCache | None = None
        self._catalog_checked = 0.0

    async def parts(self) -> tuple[EngineParts, Any, AccountBrokers]:
        async with self._lock:
            if self._parts is None:
                brokers = build_broker(self._runtime.settings, self._runtime)
                await brokers.connect()
                engine, instruments = await open_engine(
                    self._runtime.settings, self._runtime, brokers, operator=True
                )
                self._parts = (engine, instruments, brokers)
            return self._parts

    async def catalog(self) -> Any:
        """The catalog the form's lookup searches: the engine's once it is built, else one
        loaded for the lookup alone (reloaded when the stored catalog's version moved)."""
        if self._parts is not None:
            return self._parts[1]
        async with self._lock:
            if self._catalog is None:
                self._catalog = await load_catalog(self._runtime.settings, self._runtime.store)
            elif self._runtime.clock.monotonic() - self._catalog_checked > CATALOG_CHECK_S:
                with contextlib.suppress(DatabaseUnavailableError):
                    await self._catalog.refresh()
            self._catalog_checked = self._runtime.clock.monotonic()
            return self._catalog

    async def close(self) -> None:
        if self._parts is not None:
            await self._parts[2].close()
            self._parts = None

    async def order(self, ticket: Ticket) -> manual.ManualRequest:
        """The ticket as an operator's order (Refused, with a reason code, where it is not
        one)."""
        settings = self._runtime.settings
        if ticket.account not in settings.accounts:
            raise Refused(ReasonCode.UNKNOWN_ACCOUNT, ticket.account)
        if ticket.side not in ("buy", "sell"):
            raise Refused(ReasonCode.BAD_ACTION, ticket.side)
        if ticket.order_type not in ("market", "limit"):
            raise Refused(ReasonCode.BAD_FIELD, ticket.order_type)
        limit = _decimal(ticket.limit_price, ReasonCode.BAD_PRICE)
        if ticket.order_type == "limit" and limit is None:
            raise Refused(ReasonCode.BAD_PRICE, "a limit order needs its price")
        if ticket.order_type == "market":
            limit = None
        _, instruments, brokers = await self.parts()
        try:
            market, exchange, ticker = manual.parse_ticker(ticket.ticker, instruments)
        except RejectedError as exc:
            raise Refused(exc.reason, exc.detail) from None
        price = limit or await self._price(brokers, ticket.account, market, exchange, ticker)
        quantity = _decimal(ticket.quantity, ReasonCode.BAD_QUANTITY)
        amount = _decimal(ticket.amount, ReasonCode.NO_AMOUNT)
        if quantity is None:
            if amount is None:
                raise Refused(ReasonCode.NO_QUANTITY)
            if price is None:
                raise Refused(ReasonCode.NO_PRICE, f"{exchange}:{ticker}")
            quantity = (amount / price).to_integral_value(rounding=ROUND_FLOOR)
            if quantity <= 0:
                raise Refused(ReasonCode.NO_QUANTITY, ticket.amount)
        return manual.ManualRequest(
            ticket.account,
            Side(ticket.side),
            market,
            exchange,
            ticker,
            quantity,
            limit,
            price,
            source="dashboard",
        )

    async def _price(
        self, brokers: AccountBrokers, account: str, market: Market, exchange: str, ticker: str
    ) -> Decimal | None:
        """A quote where the account's broker gives one, else the last price seen."""
        try:
            quoted = await manual.reference_price(brokers, account, market, exchange, ticker)
        except (RetryableError, RejectedError):
            quoted = None
        if quoted is not None:
            return quoted
        last = await desk_queries(self._runtime.store).last_prices()
        row = last.get((market.value, ticker))
        return None if row is None else Decimal(row["price"])


def trade_routes(runtime: Runtime, show: Any, trading: Trading) -> list[Route]:
    """``show(request, template, **context)`` renders a page in the frame (`pages.Pages`)."""
    settings = runtime.settings
    accounts = list(settings.accounts)
    audit = audit_log(runtime.store)

    async def page(request: Request, ticket: Ticket, **context: Any) -> Response:
        named = (
            [{"market": context["order"].market.value, "ticker": context["order"].ticker}]
            if (context.get("order") is not None)
            else []
        )
        response: Response = await show(
            request, "trade.html", ticket=ticket, accounts=accounts, named=named, **context
        )
        return response

    async def form(request: Request) -> Response:
        ticket = Ticket.of(request.query_params)
        ticket.account = ticket.account or (accounts[0] if accounts else "")
        return await page(request, ticket)

    async def preview(request: Request) -> Response:
        ticket = Ticket.of(await request.form())
        try:
            order = await trading.order(ticket)
            engine, _, _ = await trading.parts()
            decision = await engine.manual.preview(order)
        except Refused as exc:
            return await page(request, ticket, refused=exc.code, detail=exc.detail)
        except DatabaseUnavailableError:
            return await page(request, ticket, refused=ReasonCode.DATABASE_UNAVAILABLE)
        simulated = report(decision, runtime.clock.now())
        # A smaller order than asked (capped by cash or holdings) is shown as such; confirming
        # the preview is the operator's say to send it (as --allow-resize is on the CLI).
        resized = [o for o in decision.orders if o.quantity != order.quantity]
        return await page(
            request, ticket, order=order, preview=simulated, resized=resized[0] if resized else None
        )

    async def place(request: Request) -> Response:
        fields = await request.form()
        ticket = Ticket.of(fields)
        if fields.get("confirm") != "yes":
            return await page(request, ticket, refused=ReasonCode.BAD_REQUEST)
        try:
            order = await trading.order(ticket)
            engine, _, _ = await trading.parts()
            outcome = await engine.manual.place(
                order, wait_s=WAIT_S, allow_resize=fields.get("allow_resize") == "yes"
            )
            placed = outcome.order or {}
            await audit.record(
                at=runtime.clock.now(),
                actor=actor_of(request),
                action="order.manual",
                target=placed.get("client_order_id") or outcome.signal_key,
                detail={
                    "before": None,
                    "after": outcome.status,
                    "account": order.account,
                    "side": order.side.value,
                    "ticker": f"{order.exchange}:{order.ticker}",
                    "quantity": str(order.quantity),
                    "limit_price": None if order.limit_price is None else str(order.limit_price),
                    "reason": outcome.reason,
                    "signal": outcome.signal_key,
                },
            )
        except Refused as exc:
            return await page(request, ticket, refused=exc.code, detail=exc.detail)
        except DatabaseUnavailableError:
            return await page(request, ticket, refused=ReasonCode.DATABASE_UNAVAILABLE)
        return await page(request, ticket, order=order, outcome=outcome, placed=placed)

    async def lookup(request: Request) -> Response:
        """The instruments whose ticker or name matches what is typed (htmx: the form's
        ``ticker`` field), as the options of the field and a list to pick from."""
        text = str(request.query_params.get("ticker") or "").strip()[:40]
        found: list[Any] = []
        if len(text) >= 1 and text.isprintable() and ":" not in text:
            try:
                catalog = await trading.catalog()
            except DatabaseUnavailableError:
                catalog = None
            found = catalog.search(text, LOOKUP_LIMIT) if catalog is not None else []
        say = Say(language_of(request, settings.language), settings.dashboard.time_zone)
        html = ENV.get_template("partials/lookup.html").render(v=say, found=found, text=text)
        return HTMLResponse(html, headers=SECURITY_HEADERS)

    return [
        Route("/trade/lookup", lookup, methods=["GET"]),
        Route("/trade", form, methods=["GET"]),
        Route("/trade/preview", preview, methods=["POST"]),
        Route("/trade/place", place, methods=["POST"]),
    ]
