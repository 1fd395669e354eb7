"""An account's cash, holdings and equity for sizing, asked of the broker at decision time.

The broker is the source of truth for what an account can spend and what it holds; reading it
when the alert is decided avoids sizing from stale copies (one of the reference system's faults).
The database's ``positions``/``cash_balances`` tables are a synchronised copy for display and
reporting. A broker that cannot be reached raises BrokerUnavailableError, which is retryable:
the signal waits (up to ``engine.max_signal_delay_s``) rather than being sized from guesses.

Equity in a currency = cash in it + the value of the positions of markets trading in it, each at
its average cost, except the instrument being decided, valued at the alert's price. The broker
port reports no market prices for other holdings, so their unrealised gains and losses are not
in the figure. Sizing and the position limit use it. (The daily loss limit reads the book, not
these figures: `yquant.domain.daily`.)
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from yquant.domain.model import CURRENCY, Instrument
from yquant.ports import Broker


@dataclass(frozen=True, slots=True)
class AccountFigures:
    currency: str
    cash: Decimal
    equity: Decimal
    held: Decimal  # shares of the instrument
    open_positions: int  # instruments with shares held, any market


class BrokerAccountBook:
    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    async def figures(
        self, account: str, instrument: Instrument, price: Decimal | None
    ) -> AccountFigures:
        currency = CURRENCY[instrument.market]
        cash = (await self._broker.cash(account)).get(currency, Decimal(0))
        holdings = [h for h in await self._broker.holdings(account) if h.quantity > 0]
        held = sum(
            (
                h.quantity
                for h in holdings
                if h.ticker == instrument.ticker and h.market is instrument.market
            ),
            Decimal(0),
        )
        value = Decimal(0)
        for h in holdings:
            if CURRENCY[h.market] != currency:
                continue
            this = h.ticker == instrument.ticker and h.market is instrument.market
            value += h.quantity * (price if this and price is not None else h.avg_price)
        return AccountFigures(
            currency=currency,
            cash=cash,
            equity=cash + value,
            held=held,
            open_positions=len({(h.market, h.ticker) for h in holdings}),
        )
