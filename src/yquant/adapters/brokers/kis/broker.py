"""`KisBroker`: the `Broker` port on one KIS account (domestic and US stocks).

Order state comes from KIS's daily order/execution inquiries, fetched for the whole account at
most once per ``poll_interval_s`` and shared by every order asked about in that time, so
following many open orders costs a few list pages, not one request per order. Inquiries run at
low priority in the app key's rate budget; order submissions at high priority.

An order whose request timed out is ``unknown``. Asking about it looks for its number, or for a
single matching order placed after ours (`tracking.candidates`); KIS's daily inquiry may lag,
so "KIS has no trace" is concluded only ``unknown_settle_s`` after the attempt.

A configuration error on an order (a key, secret, account or service KIS refuses: retrying the
same request cannot help) halts the account's orders: they are refused (``broker_halted``)
without a call, and `halted` names the account and KIS's words (the gateway's heartbeat carries
them to `yquant health` and the dashboard). The halt is not forever: ``halt_retry_s`` after it,
the next order is sent again (the cause may have been fixed at KIS, e.g. a service applied for
on KIS's site); if it fails the same way the account halts again.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from yquant.adapters.brokers.kis import endpoints as ep
from yquant.adapters.brokers.kis import prices, tracking
from yquant.adapters.brokers.kis.client import KisClient
from yquant.adapters.brokers.kis.errors import (
    KisConfigurationError,
    KisOutcomeUnknownError,
    KisRejectedError,
)
from yquant.adapters.brokers.kis.notices import KisNotices
from yquant.adapters.brokers.kis.schemas import (
    KST,
    NEW_YORK,
    ORDER_EXCHANGE,
    ExecutionNotice,
    VenueOrder,
)
from yquant.domain.model import BrokerOrder, Market, Order, OrderStatus, OrderType
from yquant.domain.reasons import ReasonCode
from yquant.errors import DatabaseUnavailableError, OrderRejectedError
from yquant.ports import FxRate, Holding, Quote

logger = logging.getLogger(__name__)


KnownOrderIds = Callable[[str], Awaitable[set[str]]]
ChangeListener = Callable[[str], None]


@dataclass
class _Live:
    """An order as this session's execution notices tell it, from its acceptance on."""

    quantity: Decimal
    filled: Decimal = Decimal(0)
    amount: Decimal = Decimal(0)
    cancelled: Decimal = Decimal(0)
    rejected: bool = False
    moved_to: str = ""  # a modify continued it under this order number


@dataclass
class _Sent:
    attempted_at: datetime
    broker_order_id: str | None = None
    branch: str = ""
    reduced: Decimal = Decimal(0)  # quantity a modify took off (cancelled at our request)


class KisBroker:
    def __init__(
        self,
        *,
        account: str,
        client: KisClient,
        kis_account: ep.KisAccount,
        known_order_ids: KnownOrderIds | None = None,
        us_band_pct: Decimal = Decimal("3"),
        poll_interval_s: float = 2.0,
        unknown_settle_s: float = 60.0,
        notices: KisNotices | None = None,
        reconcile_s: float = 30.0,
        halt_retry_s: float = 300.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.account = account
        self.client = client
        self._acct = kis_account
        self._known_order_ids = known_order_ids
        self._band = us_band_pct
        self._poll = timedelta(seconds=poll_interval_s)
        self._settle = timedelta(seconds=unknown_settle_s)
        self._clock = clock
        self._sent: dict[str, _Sent] = {}
        self._snapshots: dict[Market, tuple[datetime, date, list[VenueOrder]]] = {}
        self._balance: tuple[datetime, int, list[Holding], dict[str, Decimal]] | None = None
        self._generation = 0  # bumped whenever cash or holdings may have moved
        self._rate: FxRate | None = None  # USD/KRW as the latest balance inquiry gave it
        self._halted: str | None = None  # KIS's words for the configuration error
        self._halted_at: datetime | None = None
        self._halt_retry = timedelta(seconds=halt_retry_s)
        self._notices = notices
        self._reconcile = timedelta(seconds=reconcile_s)
        self._polled: dict[Market, datetime] = {}
        self._live: dict[str, _Live] = {}  # by order number (zero padding stripped)
        self._change_listeners: list[ChangeListener] = []
        if notices is not None:
            notices.listen(self._on_notice)
            notices.on_session(self._on_session)

    async def connect(self) -> None:
        # The HTTP client opens lazily and the token is fetched on first use; execution
        # notices start their session in the background (polling covers until it is live).
        if self._notices is not None:
            self._notices.start()

    async def close(self) -> None:
        if self._notices is not None:
            await self._notices.stop()
        await self.client.close()

    def on_change(self, listener: ChangeListener) -> None:
        """``listener(client_order_id)`` when an execution notice moved one of our orders
        (``""``: something may have moved unseen, e.g. a notice session was lost or regained).
        A consumer asks `get_order` then; nothing is reported twice or lost by waking it."""
        self._change_listeners.append(listener)

    def for_account(self, account: str) -> KisBroker:
        """This broker: one KIS broker serves one account."""
        return self

    def halted(self) -> dict[str, str]:
        return {self.account: self._halted} if self._halted else {}

    def _still_halted(self) -> bool:
        """Whether orders stay refused: halted, and not yet ``halt_retry_s`` since."""
        if not self._halted:
            return False
        if self._halted_at is not None and self._clock() - self._halted_at < self._halt_retry:
            return True
        logger.warning(
            "kis account %s: sending again after a halt (%s)", self.account, self._halted
        )
        self._halted = self._halted_at = None
        return False

    async def token_expires_at(self) -> datetime | None:
        """The shared token row's expiry as stored (never issues one); None: no token."""
        tokens = self.client.tokens
        stored = None if tokens is None else await tokens.stored()
        if stored is None or not stored.access_token:
            return None
        return stored.expires_at

    @property
    def notices_live(self) -> bool:
        return self._notices is not None and self._notices.live

    @property
    def notice_sessions(self) -> int:
        """Notice sessions registered so far (a reconnect adds one)."""
        return self._notices.sessions if self._notices is not None else 0

    # ---- orders ------------------------------------------------------------------------------

    async def submit(
        self, order: Order, *, queued: Callable[[], None] | None = None
    ) -> BrokerOrder:
        """``queued`` is never called: requests in flight may reach KIS in any order."""
        self._own(order)
        if self._still_halted():
            return BrokerOrder.rejected(order.client_order_id, ReasonCode.BROKER_HALTED)
        if order.market is Market.US and order.exchange not in ORDER_EXCHANGE:
            return BrokerOrder.rejected(order.client_order_id, ReasonCode.UNSUPPORTED_ORDER)
        sent = self._sent.setdefault(order.client_order_id, _Sent(self._clock()))
        try:
            if order.market is Market.KR:
                ack = await ep.order_cash(
                    self.client,
                    self._acct,
                    ticker=order.ticker,
                    side=order.side,
                    order_type=order.order_type,
                    quantity=order.quantity,
                    limit_price=order.limit_price,
                )
            else:
                limit = await self._us_limit(order)
                if limit is None:
                    return BrokerOrder.rejected(order.client_order_id, ReasonCode.NO_PRICE)
                ack = await ep.overseas_order(
                    self.client,
                    self._acct,
                    exchange=order.exchange,
                    ticker=order.ticker,
                    side=order.side,
                    quantity=order.quantity,
                    limit_price=limit,
                )
        except KisRejectedError as exc:
            logger.info("kis refused order cid=%s reason=%s", order.client_order_id, exc.reason)
            return BrokerOrder.rejected(order.client_order_id, exc.reason)
        except KisOutcomeUnknownError as exc:
            logger.warning("kis order outcome unknown cid=%s: %s", order.client_order_id, exc)
            return BrokerOrder(order.client_order_id, OrderStatus.UNKNOWN, Decimal(0), None)
        except KisConfigurationError as exc:
            self._halted, self._halted_at = str(exc)[:300], self._clock()
            logger.error(
                "kis account %s halted: %s (orders refused; tried again in %.0f s)",
                self.account,
                exc,
                self._halt_retry.total_seconds(),
            )
            return BrokerOrder.rejected(order.client_order_id, ReasonCode.BROKER_HALTED)
        sent.broker_order_id, sent.branch = ack.broker_order_id, ack.branch
        self._snapshots.pop(order.market, None)
        self._moved()
        return BrokerOrder(
            order.client_order_id, OrderStatus.ACCEPTED, Decimal(0), None, ack.broker_order_id
        )

    async def get_order(self, order: Order) -> BrokerOrder | None:
        self._own(order)
        now = self._clock()
        sent = self._sent.get(order.client_order_id)
        broker_id = (sent.broker_order_id if sent else None) or order.broker_order_id
        known = self._from_notices(order, broker_id, sent, now)
        if known is not None:
            return self._seen(known)
        rows = await self._orders(order.market, order.created_at, fresh=False)
        today = _venue_today(order.market, now)
        if broker_id:
            row = tracking.chain(rows, broker_id)
            if row is None:
                # Acknowledged but not in the (possibly lagging) inquiry yet: nothing new.
                status = order.status
                if status in (OrderStatus.NEW, OrderStatus.SUBMITTED, OrderStatus.UNKNOWN):
                    status = OrderStatus.ACCEPTED
                return BrokerOrder(
                    order.client_order_id,
                    status,
                    order.filled_quantity,
                    order.avg_fill_price,
                    broker_id,
                )
            row = _less_reduced(row, sent)
            return self._seen(tracking.to_broker_order(order, row, rows, today, now))
        return self._seen(await self._find_lost(order, rows, sent, today, now))

    async def cancel(self, order: Order) -> BrokerOrder:
        self._own(order)
        current = await self.get_order(order)
        if current is None or current.status.is_final or not current.broker_order_id:
            if current is None:
                return BrokerOrder.rejected(order.client_order_id, ReasonCode.NOT_FOUND)
            return current
        sent = self._sent.get(order.client_order_id)
        try:
            if order.market is Market.KR:
                rows = await self._orders(order.market, order.created_at, fresh=False)
                row = tracking.find(rows, current.broker_order_id)
                branch = (sent.branch if sent else "") or (row.branch if row else "")
                await ep.order_rvsecncl(
                    self.client, self._acct, branch=branch, broker_order_id=current.broker_order_id
                )
            else:
                await ep.overseas_order_rvsecncl(
                    self.client,
                    self._acct,
                    exchange=order.exchange,
                    ticker=order.ticker,
                    broker_order_id=current.broker_order_id,
                    quantity=order.quantity,
                )
        except KisRejectedError as exc:
            # Refused (nothing left to cancel: filled meanwhile; or not now): the caller asks
            # `get_order`, which then reads a fresh inquiry.
            logger.info("kis refused cancel cid=%s reason=%s", order.client_order_id, exc.reason)
            self._snapshots.pop(order.market, None)
            raise
        except KisOutcomeUnknownError:
            logger.warning("kis cancel outcome unknown cid=%s", order.client_order_id)
            self._snapshots.pop(order.market, None)
            return current  # no answer: the order as last known; the caller asks again
        self._snapshots.pop(order.market, None)
        self._moved()
        refreshed = order.evolve(broker_order_id=current.broker_order_id)
        return await self.get_order(refreshed) or current

    async def modify(
        self, order: Order, price: Decimal | None = None, quantity: Decimal | None = None
    ) -> BrokerOrder:
        """정정: ``price`` a new limit for what is left, ``quantity`` a new total quantity (what
        it takes off is cancelled; KIS cannot raise it). The order continues under the new
        order number KIS gives it; its fills before and after are one order's. A refused or
        unanswered modify returns the order's state as it was."""
        self._own(order)
        current = await self.get_order(order)
        if current is None:
            return BrokerOrder.rejected(order.client_order_id, ReasonCode.NOT_FOUND)
        if current.status.is_final or not current.broker_order_id or self._still_halted():
            return current
        odno = current.broker_order_id
        if quantity is not None and not (current.filled_quantity < quantity <= order.quantity):
            return current
        try:
            sent = self._sent.setdefault(order.client_order_id, _Sent(self._clock()))
            cut = order.quantity - sent.reduced - quantity if quantity is not None else Decimal(0)
            if cut > 0:
                await self._reduce(order, odno, cut)
                sent.reduced += cut
            if price is not None:
                odno = await self._reprice(order, odno, price)
        except KisRejectedError as exc:
            logger.info("kis refused modify cid=%s reason=%s", order.client_order_id, exc.reason)
        except KisOutcomeUnknownError:
            logger.warning("kis modify outcome unknown cid=%s", order.client_order_id)
        self._snapshots.pop(order.market, None)
        self._moved()
        refreshed = order.evolve(broker_order_id=odno)
        return await self.get_order(refreshed) or current

    async def _reduce(self, order: Order, odno: str, cut: Decimal) -> None:
        if order.market is Market.KR:
            await ep.order_partial_cancel(
                self.client,
                self._acct,
                branch=await self._branch(order, odno),
                broker_order_id=odno,
                quantity=cut,
            )
        else:
            await ep.overseas_order_rvsecncl(
                self.client,
                self._acct,
                exchange=order.exchange,
                ticker=order.ticker,
                broker_order_id=odno,
                quantity=cut,
            )

    async def _reprice(self, order: Order, odno: str, price: Decimal) -> str:
        if order.market is Market.KR:
            ack = await ep.order_modify(
                self.client,
                self._acct,
                branch=await self._branch(order, odno),
                broker_order_id=odno,
                limit_price=price,
                quantity=None,
            )
        else:
            ack = await ep.overseas_order_rvsecncl(
                self.client,
                self._acct,
                exchange=order.exchange,
                ticker=order.ticker,
                broker_order_id=odno,
                quantity=order.quantity,
                limit_price=prices.us_limit_on_tick(price, order.side),
            )
        sent = self._sent.setdefault(order.client_order_id, _Sent(self._clock()))
        sent.broker_order_id, sent.branch = ack.broker_order_id, ack.branch or sent.branch
        return ack.broker_order_id

    async def _branch(self, order: Order, odno: str) -> str:
        sent = self._sent.get(order.client_order_id)
        if sent and sent.branch:
            return sent.branch
        rows = await self._orders(order.market, order.created_at, fresh=False)
        row = tracking.find(rows, odno)
        return row.branch if row else ""

    # ---- account ---------------------------------------------------------------------------

    async def holdings(self, account: str) -> list[Holding]:
        self._own_account(account)
        return list((await self._balances())[0])

    async def cash(self, account: str) -> dict[str, Decimal]:
        self._own_account(account)
        return dict((await self._balances())[1])

    async def fx_rate(self, account: str) -> FxRate | None:
        """USD/KRW as the latest balance inquiry (`cash`, `holdings`) gave it: no call of its
        own, so None until one was made."""
        self._own_account(account)
        return self._rate

    async def quote(self, market: Market, exchange: str, ticker: str) -> Quote | None:
        if market is Market.KR:
            return await ep.inquire_price(self.client, self._acct, ticker)
        return await ep.overseas_price(self.client, self._acct, exchange=exchange, ticker=ticker)

    # ---- execution notices -----------------------------------------------------------------

    def _from_notices(
        self, order: Order, broker_id: str | None, sent: _Sent | None, now: datetime
    ) -> BrokerOrder | None:
        """The order as this session's notices tell it, while the session lives and the
        market's reconciliation poll is not due; else None (ask KIS)."""
        if not broker_id or not self.notices_live:
            return None
        last = self._polled.get(order.market)
        if last is None or now - last >= self._reconcile:
            return None
        key, live = broker_id.lstrip("0"), self._live.get(broker_id.lstrip("0"))
        while live is not None and live.moved_to:
            key = live.moved_to
            live = self._live.get(key)
        if live is None:
            return None
        row = VenueOrder(
            market=order.market,
            broker_order_id=next(
                (
                    s.broker_order_id
                    for s in [sent]
                    if s and s.broker_order_id and s.broker_order_id.lstrip("0") == key
                ),
                key.zfill(10),
            ),
            original_order_id="",
            branch=sent.branch if sent else "",
            is_cancel=False,
            ticker=order.ticker,
            side=order.side,
            quantity=live.quantity,
            limit_price=order.limit_price,
            filled_quantity=live.filled,
            filled_amount=live.amount,
            avg_price=(live.amount / live.filled) if live.filled else None,
            remaining=max(live.quantity - live.filled - live.cancelled, Decimal(0)),
            cancelled_quantity=live.cancelled,
            rejected=live.rejected,
            reject_text="",
            ordered_at=order.created_at,
        )
        row = _less_reduced(row, sent)
        today = _venue_today(order.market, now)
        return tracking.to_broker_order(order, row, [], today, now)

    def _on_notice(self, notice: ExecutionNotice) -> None:
        if not notice.account.startswith(self._acct.cano):
            return
        odno = notice.broker_order_id.lstrip("0")
        original = notice.original_order_id.lstrip("0")
        if notice.kind == "accepted":
            self._live.setdefault(odno, _Live(notice.order_quantity))
        elif notice.kind == "filled":
            live = self._live.get(odno)
            if live is not None:
                live.filled += notice.quantity
                live.amount += notice.quantity * (notice.price or Decimal(0))
        elif notice.kind == "cancelled":
            live = self._live.get(original)
            if live is not None:
                live.cancelled += notice.quantity
            odno = original
        elif notice.kind == "modified":
            live = self._live.get(original)
            if live is not None:
                live.cancelled += notice.quantity
                live.moved_to = odno
                self._live[odno] = _Live(live.filled + notice.quantity, live.filled, live.amount)
        elif notice.kind == "rejected":
            self._live.setdefault(odno, _Live(notice.order_quantity)).rejected = True
        self._snapshots.pop(notice.market, None)
        self._moved()
        cid = next(
            (
                c
                for c, s in self._sent.items()
                if s.broker_order_id and s.broker_order_id.lstrip("0") in (odno, original)
            ),
            "",
        )
        self._changed(cid)

    def _on_session(self, live: bool) -> None:
        # What a lost session missed only polling can tell: notices start afresh, the next
        # question about any order asks KIS.
        self._live.clear()
        self._polled.clear()
        self._snapshots.clear()
        self._changed("")

    def _changed(self, cid: str) -> None:
        for listener in self._change_listeners:
            try:
                listener(cid)
            except Exception:
                logger.exception("kis change listener failed")

    # ---- internals -------------------------------------------------------------------------

    def _seen(self, state: BrokerOrder | None) -> BrokerOrder | None:
        if state is not None and state.fills:
            self._moved()  # cash and holdings moved
        return state

    def _own(self, order: Order) -> None:
        self._own_account(order.account)

    def _own_account(self, account: str) -> None:
        if account != self.account:
            raise OrderRejectedError(
                ReasonCode.UNKNOWN_ACCOUNT, f"{account!r} is not {self.account!r}"
            )

    async def _us_limit(self, order: Order) -> Decimal | None:
        if order.order_type is OrderType.LIMIT:
            assert order.limit_price is not None
            return prices.us_limit_on_tick(order.limit_price, order.side)
        quote = await ep.overseas_price(
            self.client, self._acct, exchange=order.exchange, ticker=order.ticker
        )
        if quote is None:
            return None
        return prices.us_market_limit(order.side, quote.price, self._band)

    async def _orders(self, market: Market, since: datetime, *, fresh: bool) -> list[VenueOrder]:
        now = self._clock()
        start = _venue_date(market, since)
        today = _venue_today(market, now)
        cached = self._snapshots.get(market)
        if cached and not fresh and now - cached[0] < self._poll and cached[1] <= start:
            return cached[2]
        start = min(start, cached[1]) if cached and now - cached[0] < self._poll else start
        start = min(start, today)
        if market is Market.KR:
            rows = await ep.inquire_daily_ccld(self.client, self._acct, start=start, end=today)
        else:
            rows = await ep.overseas_inquire_ccnl(self.client, self._acct, start=start, end=today)
        self._snapshots[market] = (now, start, rows)
        self._polled[market] = now
        return rows

    async def _find_lost(
        self,
        order: Order,
        rows: list[VenueOrder],
        sent: _Sent | None,
        today: date,
        now: datetime,
    ) -> BrokerOrder | None:
        taken = {s.broker_order_id for s in self._sent.values() if s.broker_order_id}
        if self._known_order_ids is not None:
            try:
                taken |= await self._known_order_ids(self.account)
            except DatabaseUnavailableError:
                logger.warning(
                    "cannot match lost order cid=%s: database away", order.client_order_id
                )
                return BrokerOrder(order.client_order_id, OrderStatus.UNKNOWN, Decimal(0), None)
        found = tracking.candidates(order, rows, taken, order.created_at)
        if len(found) == 1:
            row = found[0]
            logger.info(
                "kis order found cid=%s odno=%s", order.client_order_id, row.broker_order_id
            )
            self._sent.setdefault(
                order.client_order_id, _Sent(now)
            ).broker_order_id = row.broker_order_id
            return tracking.to_broker_order(order, row, rows, today, now)
        if len(found) > 1:
            logger.error(
                "kis order ambiguous cid=%s matches=%d; a person must decide",
                order.client_order_id,
                len(found),
            )
            return BrokerOrder(order.client_order_id, OrderStatus.UNKNOWN, Decimal(0), None)
        attempted = max(sent.attempted_at if sent else order.updated_at, order.updated_at)
        if now - attempted < self._settle:
            return BrokerOrder(order.client_order_id, OrderStatus.UNKNOWN, Decimal(0), None)
        return None  # KIS has had time to list it and has no trace: it was never placed

    async def _balances(self) -> tuple[list[Holding], dict[str, Decimal]]:
        """Holdings and cash come from the same inquiries, shared for a second by calls that
        come together (an account sync, a sizing decision); an order sent, cancelled or seen
        filling here makes the next call ask KIS again. KRW and USD cash are the buying-power
        inquiries' orderable cash, so what resting buys hold is not offered to new orders."""
        now = self._clock()
        cached = self._balance
        if cached and cached[1] == self._generation and now - cached[0] < timedelta(seconds=1):
            return cached[2], cached[3]
        generation = self._generation
        kr = await ep.inquire_balance(self.client, self._acct)
        krw = await ep.inquire_psbl_order(self.client, self._acct)
        us = await ep.overseas_inquire_balance(self.client, self._acct)
        # Not frcr_dncl_amt_2 (the deposit): orderable cash is net of what open buys hold.
        foreign, rate = await ep.overseas_psamount(self.client, self._acct)
        holdings = [Holding(self.account, h.ticker, Market.KR, h.quantity, h.avg_price) for h in kr]
        holdings += [
            Holding(self.account, h.ticker, Market.US, h.quantity, h.avg_price) for h in us
        ]
        cash = {"KRW": krw, **foreign}
        # Stamped when the answers came, not before the four calls: at a paper key's pace (one
        # call a second) the figures were otherwise a second old before they were used, and
        # the holdings asked right after the cash read all four again (issue 21).
        self._balance = (self._clock(), generation, holdings, cash)
        if rate is not None:
            self._rate = FxRate("USD", "KRW", rate, self._balance[0], "kis")
        return holdings, cash

    def _moved(self) -> None:
        self._generation += 1


def _less_reduced(row: VenueOrder, sent: _Sent | None) -> VenueOrder:
    """What a modify took off the order is not a cancel of it: the order is that much smaller."""
    if not sent or not sent.reduced:
        return row
    return dataclasses.replace(
        row,
        quantity=row.quantity - sent.reduced,
        cancelled_quantity=max(row.cancelled_quantity - sent.reduced, Decimal(0)),
    )


def _venue_date(market: Market, moment: datetime) -> date:
    return moment.astimezone(KST if market is Market.KR else NEW_YORK).date()


def _venue_today(market: Market, now: datetime) -> date:
    return _venue_date(market, now)
