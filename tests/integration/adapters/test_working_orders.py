"""The order reads behind cancels, on SQLite and MariaDB: an order by client or broker order
number, the working orders matching filters, and an order's filled quantity as recorded at a
given time (what a cancel-replace takes off the new order)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tests.support import krx_order
from yquant.adapters.db.accounts import AccountBook
from yquant.adapters.db.rows import order_row
from yquant.adapters.db.store import SqlStore
from yquant.domain.model import Order, OrderStatus

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


async def record(store: SqlStore, order: Order) -> None:
    await store.apply("order.insert", order_row(order))


async def advance(store: SqlStore, order: Order) -> None:
    await store.apply("order.advance", order_row(order))


async def test_an_order_is_found_by_its_client_or_broker_order_number(store: SqlStore) -> None:
    book = AccountBook(store)
    await record(
        store, krx_order("yq-a", T0, status=OrderStatus.ACCEPTED, broker_order_id="0000012345")
    )
    found = await book.find_order("yq-a")
    assert found is not None and found.broker_order_id == "0000012345"
    for number in ("0000012345", "12345"):  # KIS's padded number, or as a person types it
        by_number = await book.find_order(number)
        assert by_number is not None and by_number.client_order_id == "yq-a"
    assert await book.find_order("yq-none") is None


def ids(orders: list[Order]) -> list[str]:
    return [o.client_order_id for o in orders]


async def test_working_orders_are_those_not_final_matching_every_filter(store: SqlStore) -> None:
    book = AccountBook(store)
    rows = [
        krx_order("yq-1", T0, status=OrderStatus.ACCEPTED, strategy="alpha"),
        krx_order(
            "yq-2", T0, status=OrderStatus.CANCEL_REQUESTED, strategy="alpha", ticker="000660"
        ),
        krx_order("yq-3", T0, status=OrderStatus.NEW, strategy="beta", account="main"),
        krx_order("yq-4", T0, status=OrderStatus.FILLED, strategy="alpha"),
    ]
    for order in rows:
        await record(store, order)
    assert ids(await book.working_orders()) == ["yq-1", "yq-2", "yq-3"]
    assert ids(await book.working_orders(strategy="alpha")) == ["yq-1", "yq-2"]
    assert ids(await book.working_orders(strategy="alpha", ticker="000660")) == ["yq-2"]
    assert ids(await book.working_orders(account="main")) == ["yq-3"]
    assert await book.working_orders(account="nobody") == []


async def test_the_filled_quantity_as_recorded_at_a_time(store: SqlStore) -> None:
    book = AccountBook(store)
    order = krx_order("yq-f", T0, status=OrderStatus.ACCEPTED)
    await record(store, order)
    at = T0 + timedelta(seconds=10)
    for seconds, filled in ((1, "3"), (20, "5")):
        step = order.evolve(
            status=OrderStatus.PARTIALLY_FILLED,
            filled_quantity=Decimal(filled),
            updated_at=T0 + timedelta(seconds=seconds),
        )
        await advance(store, step)
    assert await book.filled_as_of("yq-f", T0 - timedelta(seconds=1)) == 0
    assert await book.filled_as_of("yq-f", at) == 3
    assert await book.filled_as_of("yq-f", T0 + timedelta(seconds=20)) == 5
    assert await book.filled_as_of("yq-unknown", at) == 0
