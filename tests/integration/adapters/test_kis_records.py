"""The token table's lease and the account book, on SQLite and on the real MariaDB server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tests.fixtures.kis_kit import order
from yquant.adapters.db.accounts import AccountBook
from yquant.adapters.db.broker_tokens import SqlTokenRecords
from yquant.adapters.db.rows import order_row
from yquant.adapters.db.store import SqlStore
from yquant.domain.model import Market, OrderStatus, Side
from yquant.ports import Holding

KEY = "k" * 64


async def test_one_lease_holder_at_a_time_and_an_expired_lease_is_taken_over(
    store: SqlStore,
) -> None:
    records = SqlTokenRecords(store)
    now = datetime.now(UTC)
    assert await records.try_lease(KEY, "real", "blue:1", now + timedelta(seconds=20), now)
    assert not await records.try_lease(KEY, "real", "green:7", now + timedelta(seconds=20), now)
    assert await records.try_lease(KEY, "real", "blue:1", now + timedelta(seconds=20), now)  # own
    later = now + timedelta(seconds=30)
    assert await records.try_lease(KEY, "real", "green:7", later + timedelta(seconds=20), later)
    await records.release(KEY, "blue:1")  # not the holder any more: changes nothing
    row = await records.read(KEY)
    assert row is not None and row.lease_owner == "green:7"


async def test_token_round_trip_and_compare_and_clear(store: SqlStore) -> None:
    records = SqlTokenRecords(store)
    now = datetime.now(UTC).replace(microsecond=0)
    await records.try_lease(KEY, "paper", "me", now + timedelta(seconds=20), now)
    await records.save(KEY, "me", "tok-1", now + timedelta(days=1), now)
    row = await records.read(KEY)
    assert row is not None
    assert (row.access_token, row.expires_at, row.issued_at) == (
        "tok-1",
        now + timedelta(days=1),
        now,
    )
    await records.invalidate(KEY, "tok-0", now)  # someone else's old token: ignored
    assert (await records.read(KEY)).access_token == "tok-1"  # type: ignore[union-attr]
    await records.invalidate(KEY, "tok-1", now)
    cleared = await records.read(KEY)
    assert cleared is not None and cleared.access_token is None and cleared.issued_at == now


async def test_account_book_replaces_rows_and_attributes_new_positions(store: SqlStore) -> None:
    book = AccountBook(store)
    bought = order(Side.BUY, 5, ticker="005930").evolve(
        status=OrderStatus.FILLED, filled_quantity=Decimal(5), strategy="breakout"
    )
    await store.apply("order.insert", order_row(bought))
    now = datetime.now(UTC)
    await book.replace_positions(
        "main",
        [
            Holding("main", "005930", Market.KR, Decimal(5), Decimal("70000.5")),
            Holding("main", "AAPL", Market.US, Decimal(2), Decimal("190.25")),
        ],
        now,
    )
    await book.replace_cash("main", {"KRW": Decimal("1000.5"), "USD": Decimal(10)}, now)
    rows = {r["ticker"]: r for r in await book.positions("main")}
    assert rows["005930"]["strategy"] == "breakout" and rows["AAPL"]["strategy"] is None
    assert rows["005930"]["avg_price"] == Decimal("70000.5")
    await book.replace_positions(
        "main", [Holding("main", "005930", Market.KR, Decimal(3), Decimal(70000))], now
    )
    await book.replace_cash("main", {"KRW": Decimal(5), "USD": Decimal(0)}, now)
    assert [(r["ticker"], r["quantity"], r["strategy"]) for r in await book.positions("main")] == [
        ("005930", Decimal(3), "breakout")
    ]
    assert [(r["currency"], r["cash"]) for r in await book.cash("main")] == [("KRW", Decimal(5))]
    assert await book.known_order_ids("main", now - timedelta(days=1)) == set()
    open_ids = {r["client_order_id"] for r in await book.open_orders()}
    assert bought.client_order_id not in open_ids  # a filled order is not open
