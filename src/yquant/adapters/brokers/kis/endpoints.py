"""One function per KIS transaction (TR): path, TR id per environment, request and parse.

TR ids differ between real and paper (모의투자) and between the current and the legacy
generation of domestic ids; they are chosen here from one table and nowhere else. Buys and sells
have their own ids (a sell is never sent with a buy id), and US orders and US quotes use their
own exchange-code vocabularies (see `schemas.ORDER_EXCHANGE` and `schemas.QUOTE_EXCHANGE`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from yquant.adapters.brokers.kis import schemas
from yquant.adapters.brokers.kis.client import KisClient
from yquant.adapters.brokers.kis.schemas import OrderAck, VenueHolding, VenueOrder
from yquant.domain.model import OrderType, Side
from yquant.ports import Quote

# name: (real, paper, real legacy, paper legacy)
TR_IDS: dict[str, tuple[str, str, str, str]] = {
    "domestic_buy": ("TTTC0012U", "VTTC0012U", "TTTC0802U", "VTTC0802U"),
    "domestic_sell": ("TTTC0011U", "VTTC0011U", "TTTC0801U", "VTTC0801U"),
    "domestic_cancel": ("TTTC0013U", "VTTC0013U", "TTTC0803U", "VTTC0803U"),
    "domestic_daily_orders": ("TTTC0081R", "VTTC0081R", "TTTC8001R", "VTTC8001R"),
    "domestic_balance": ("TTTC8434R", "VTTC8434R", "TTTC8434R", "VTTC8434R"),
    "domestic_buying_power": ("TTTC8908R", "VTTC8908R", "TTTC8908R", "VTTC8908R"),
    "domestic_price": ("FHKST01010100",) * 4,
    "us_buy": ("TTTT1002U", "VTTT1002U", "TTTT1002U", "VTTT1002U"),
    # Paper US sell is VTTT1001U (KIS portal, Postman collection, python-kis), not VTTT1006U.
    "us_sell": ("TTTT1006U", "VTTT1001U", "TTTT1006U", "VTTT1001U"),
    "us_cancel": ("TTTT1004U", "VTTT1004U", "TTTT1004U", "VTTT1004U"),
    "us_orders": ("TTTS3035R", "VTTS3035R", "TTTS3035R", "VTTS3035R"),
    "us_balance": ("TTTS3012R", "VTTS3012R", "TTTS3012R", "VTTS3012R"),
    "us_present_balance": ("CTRP6504R", "VTRP6504R", "CTRP6504R", "VTRP6504R"),
    "us_buying_power": ("TTTS3007R", "VTTS3007R", "TTTS3007R", "VTTS3007R"),
    "us_price": ("HHDFS00000300",) * 4,
}

PATHS = {
    "domestic_order": "/uapi/domestic-stock/v1/trading/order-cash",
    "domestic_cancel": "/uapi/domestic-stock/v1/trading/order-rvsecncl",
    "domestic_daily_orders": "/uapi/domestic-stock/v1/trading/inquire-daily-ccld",
    "domestic_balance": "/uapi/domestic-stock/v1/trading/inquire-balance",
    "domestic_buying_power": "/uapi/domestic-stock/v1/trading/inquire-psbl-order",
    "domestic_price": "/uapi/domestic-stock/v1/quotations/inquire-price",
    "us_order": "/uapi/overseas-stock/v1/trading/order",
    "us_cancel": "/uapi/overseas-stock/v1/trading/order-rvsecncl",
    "us_orders": "/uapi/overseas-stock/v1/trading/inquire-ccnl",
    "us_balance": "/uapi/overseas-stock/v1/trading/inquire-balance",
    "us_present_balance": "/uapi/overseas-stock/v1/trading/inquire-present-balance",
    "us_buying_power": "/uapi/overseas-stock/v1/trading/inquire-psamount",
    "us_price": "/uapi/overseas-price/v1/quotations/price",
}


@dataclass(frozen=True, slots=True)
class KisAccount:
    cano: str
    product: str
    environment: str  # real | paper
    legacy_tr_ids: bool = False

    @property
    def paper(self) -> bool:
        return self.environment == "paper"


def tr_id(name: str, account: KisAccount) -> str:
    real, paper, real_legacy, paper_legacy = TR_IDS[name]
    if account.legacy_tr_ids:
        return paper_legacy if account.paper else real_legacy
    return paper if account.paper else real


def _day(value: date) -> str:
    return value.strftime("%Y%m%d")


# ---- domestic stocks ----------------------------------------------------------------------------


async def order_cash(
    client: KisClient,
    account: KisAccount,
    *,
    ticker: str,
    side: Side,
    order_type: OrderType,
    quantity: Decimal,
    limit_price: Decimal | None,
) -> OrderAck:
    """주식주문(현금): buy with the buy TR id, sell with the sell TR id."""
    body = schemas.domestic_order_body(
        account.cano, account.product, ticker, order_type, quantity, limit_price, side
    )
    name = "domestic_buy" if side is Side.BUY else "domestic_sell"
    reply = await client.call(
        "POST", PATHS["domestic_order"], tr_id(name, account), body=body, is_order=True
    )
    return schemas.parse_order_ack(reply.body)


async def order_rvsecncl(
    client: KisClient, account: KisAccount, *, branch: str, broker_order_id: str
) -> OrderAck:
    """주식주문(정정취소), used to cancel the whole remaining quantity."""
    body = schemas.domestic_cancel_body(account.cano, account.product, branch, broker_order_id)
    return await _revise(client, account, body)


async def order_partial_cancel(
    client: KisClient,
    account: KisAccount,
    *,
    branch: str,
    broker_order_id: str,
    quantity: Decimal,
) -> OrderAck:
    """주식주문(정정취소), cancelling ``quantity`` of what is left (QTY_ALL_ORD_YN N)."""
    body = schemas.domestic_cancel_body(account.cano, account.product, branch, broker_order_id)
    body.update(ORD_QTY=schemas.plain(quantity), QTY_ALL_ORD_YN="N")
    return await _revise(client, account, body)


async def order_modify(
    client: KisClient,
    account: KisAccount,
    *,
    branch: str,
    broker_order_id: str,
    limit_price: Decimal | None,
    quantity: Decimal | None,
) -> OrderAck:
    """주식주문(정정취소) with RVSE_CNCL_DVSN_CD 01: what is left gets a new price or type
    under a new order number (the ack's ODNO)."""
    body = schemas.domestic_modify_body(
        account.cano,
        account.product,
        branch,
        broker_order_id,
        limit_price=limit_price,
        quantity=quantity,
    )
    return await _revise(client, account, body)


async def _revise(client: KisClient, account: KisAccount, body: dict[str, str]) -> OrderAck:
    reply = await client.call(
        "POST",
        PATHS["domestic_cancel"],
        tr_id("domestic_cancel", account),
        body=body,
        is_order=True,
    )
    return schemas.parse_order_ack(reply.body)


async def inquire_daily_ccld(
    client: KisClient, account: KisAccount, *, start: date, end: date
) -> list[VenueOrder]:
    """주식일별주문체결조회: every order of the period with its fills, all pages."""
    params = schemas.domestic_daily_params(account.cano, account.product, _day(start), _day(end))
    bodies = await client.pages(
        PATHS["domestic_daily_orders"], tr_id("domestic_daily_orders", account), params
    )
    return [schemas.parse_domestic_order_row(r) for b in bodies for r in b.get("output1") or []]


async def inquire_balance(client: KisClient, account: KisAccount) -> list[VenueHolding]:
    """주식잔고조회: holdings, all pages."""
    params = schemas.domestic_balance_params(account.cano, account.product)
    bodies = await client.pages(
        PATHS["domestic_balance"], tr_id("domestic_balance", account), params
    )
    return [h for b in bodies for h in schemas.parse_domestic_holdings(b.get("output1") or [])]


async def inquire_psbl_order(client: KisClient, account: KisAccount) -> Decimal:
    """매수가능조회: KRW cash new orders can spend (what open buy orders hold excluded)."""
    reply = await client.call(
        "GET",
        PATHS["domestic_buying_power"],
        tr_id("domestic_buying_power", account),
        params=schemas.domestic_buying_power_params(account.cano, account.product),
    )
    return schemas.parse_orderable_cash(reply.body)


async def inquire_price(client: KisClient, account: KisAccount, ticker: str) -> Quote | None:
    """주식현재가 시세."""
    reply = await client.call(
        "GET",
        PATHS["domestic_price"],
        tr_id("domestic_price", account),
        params=schemas.domestic_price_params(ticker),
    )
    return schemas.parse_domestic_quote(reply.body)


# ---- US stocks ----------------------------------------------------------------------------------


async def overseas_order(
    client: KisClient,
    account: KisAccount,
    *,
    exchange: str,
    ticker: str,
    side: Side,
    quantity: Decimal,
    limit_price: Decimal,
) -> OrderAck:
    """해외주식 주문 (US): limit orders with the order exchange codes NASD/NYSE/AMEX."""
    body = schemas.overseas_order_body(
        account.cano, account.product, exchange, ticker, quantity, limit_price, side
    )
    name = "us_buy" if side is Side.BUY else "us_sell"
    reply = await client.call(
        "POST", PATHS["us_order"], tr_id(name, account), body=body, is_order=True
    )
    return schemas.parse_order_ack(reply.body)


async def overseas_order_rvsecncl(
    client: KisClient,
    account: KisAccount,
    *,
    exchange: str,
    ticker: str,
    broker_order_id: str,
    quantity: Decimal,
    limit_price: Decimal | None = None,
) -> OrderAck:
    """해외주식 정정취소주문 (US): cancel (``limit_price`` None) or modify to ``limit_price``;
    ``quantity`` is the order's quantity as KIS's samples send it."""
    body = schemas.overseas_revise_body(
        account.cano, account.product, exchange, ticker, broker_order_id, quantity, limit_price
    )
    reply = await client.call(
        "POST", PATHS["us_cancel"], tr_id("us_cancel", account), body=body, is_order=True
    )
    return schemas.parse_order_ack(reply.body)


async def overseas_inquire_ccnl(
    client: KisClient, account: KisAccount, *, start: date, end: date
) -> list[VenueOrder]:
    """해외주식 주문체결내역 (dates are US local dates), all pages."""
    params = schemas.overseas_ccnl_params(
        account.cano, account.product, _day(start), _day(end), account.paper
    )
    bodies = await client.pages(PATHS["us_orders"], tr_id("us_orders", account), params, width=200)
    rows = [r for b in bodies for r in _rows(b.get("output"))]
    return [schemas.parse_overseas_order_row(r) for r in rows]


async def overseas_inquire_balance(client: KisClient, account: KisAccount) -> list[VenueHolding]:
    """해외주식 잔고 (US positions), all pages; paper asks each US exchange."""
    codes = ["NASD", "NYSE", "AMEX"] if account.paper else ["NASD"]
    holdings: list[VenueHolding] = []
    for code in codes:
        params = schemas.overseas_balance_params(account.cano, account.product, code)
        bodies = await client.pages(
            PATHS["us_balance"], tr_id("us_balance", account), params, width=200
        )
        holdings += [
            h for b in bodies for h in schemas.parse_overseas_holdings(_rows(b.get("output1")))
        ]
    return holdings


async def overseas_present_balance(client: KisClient, account: KisAccount) -> dict[str, Decimal]:
    """해외주식 체결기준현재잔고: foreign cash per currency."""
    reply = await client.call(
        "GET",
        PATHS["us_present_balance"],
        tr_id("us_present_balance", account),
        params=schemas.overseas_present_balance_params(account.cano, account.product),
    )
    return schemas.parse_overseas_cash(reply.body.get("output2"))


async def overseas_psamount(
    client: KisClient, account: KisAccount
) -> tuple[dict[str, Decimal], Decimal | None]:
    """해외주식 매수가능금액조회: USD new orders can spend (what open buys hold excluded), and
    the exchange rate (won per dollar) KIS applied to it."""
    code, item, price = schemas.PSAMOUNT_PROBE
    reply = await client.call(
        "GET",
        PATHS["us_buying_power"],
        tr_id("us_buying_power", account),
        params=schemas.overseas_psamount_params(account.cano, account.product, code, item, price),
    )
    return schemas.parse_overseas_orderable(reply.body), schemas.parse_exchange_rate(reply.body)


async def overseas_price(
    client: KisClient, account: KisAccount, *, exchange: str, ticker: str
) -> Quote | None:
    """해외주식 현재체결가, with the quote exchange codes NAS/NYS/AMS."""
    reply = await client.call(
        "GET",
        PATHS["us_price"],
        tr_id("us_price", account),
        params=schemas.overseas_price_params(exchange, ticker),
    )
    return schemas.parse_overseas_quote(reply.body)


def _rows(value: object) -> list[dict]:  # type: ignore[type-arg]
    if isinstance(value, list):
        return [r for r in value if isinstance(r, dict)]
    return [value] if isinstance(value, dict) and value else []
