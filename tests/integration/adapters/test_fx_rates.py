"""`fx_rates` on SQLite and MariaDB: the latest rate per pair, moved only by a later one, and
the rate of a past moment (one row per run of an unchanged rate); the FX service over it, as
the account sync, the dashboard and the daily snapshots use it; a KIS account's rate as its
balance inquiry carries it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from tests.fakes import FakeBroker, FakeRoles, FixedClock
from yquant.adapters.brokers.kis_sim import SimServer
from yquant.adapters.db import migrate, tables
from yquant.adapters.db.accounts import AccountBook
from yquant.adapters.db.fx import SqlFxRates
from yquant.adapters.db.store import SqlStore
from yquant.ports import FxRate
from yquant.services.account_sync import AccountSync
from yquant.services.fx import FxService
from yquant.services.worker_state import ActiveRole

T0 = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)


def usd(rate: str, minutes: int = 0, source: str = "kis") -> FxRate:
    return FxRate("USD", "KRW", Decimal(rate), T0 + timedelta(minutes=minutes), source)


async def test_a_later_rate_replaces_the_stored_one_and_an_older_one_does_not(
    store: SqlStore,
) -> None:
    rates = SqlFxRates(store)
    assert await rates.latest("USD", "KRW") is None
    await rates.record(usd("1385.20"))
    await rates.record(usd("1300", -5))  # older: kept out
    assert await rates.latest("USD", "KRW") == usd("1385.20")
    await rates.record(usd("1390.5", 3))
    assert await rates.latest("USD", "KRW") == usd("1390.5", 3)
    await rates.record(FxRate("JPY", "KRW", Decimal("9.31"), T0, "kis"))
    assert (await rates.latest("USD", "KRW")) == usd("1390.5", 3)
    assert (await rates.latest("JPY", "KRW")) == FxRate("JPY", "KRW", Decimal("9.31"), T0, "kis")


async def rows(store: SqlStore) -> int:
    [row] = await store.rows(select(func.count().label("n")).select_from(tables.fx_rates))
    return int(row["n"])


async def test_the_rate_of_a_past_moment_is_the_latest_recorded_by_then(store: SqlStore) -> None:
    rates = SqlFxRates(store)
    await rates.record(usd("1385.20"))
    await rates.record(usd("1385.20", 30), since=T0)  # the same rate seen again: one run
    await rates.record(usd("1390", 60))
    assert await rows(store) == 2
    assert await rates.as_of("USD", "KRW", T0 - timedelta(seconds=1)) is None
    assert await rates.as_of("USD", "KRW", T0 + timedelta(minutes=10)) == usd("1385.20", 10)
    assert await rates.as_of("USD", "KRW", T0 + timedelta(minutes=45)) == usd("1385.20", 30)
    assert await rates.as_of("USD", "KRW", T0 + timedelta(days=1)) == usd("1390", 60)
    assert await rates.latest("USD", "KRW") == usd("1390", 60)
    await rates.record(usd("1385.20", 20), since=T0)  # late: the run's time stays
    assert await rates.as_of("USD", "KRW", T0 + timedelta(minutes=45)) == usd("1385.20", 30)


async def test_the_service_stores_a_run_per_unchanged_rate_and_answers_a_past_moment(
    store: SqlStore,
) -> None:
    clock = FixedClock(T0 + timedelta(hours=3))
    configured_at = T0 - timedelta(days=2)
    fx = FxService(
        clock=clock,
        stored=SqlFxRates(store),
        configured={"USD": Decimal("1400")},
        configured_at=configured_at,
    )
    for minutes in (0, 5, 10):
        await fx.observe(usd("1385.20", minutes))
    await fx.observe(usd("1390", 15))
    await fx.observe(usd("1390", 20))
    assert await rows(store) == 2
    # Another process (a snapshot back-filled later) reads the moment it asks for.
    other = FxService(
        clock=clock,
        stored=SqlFxRates(store),
        configured={"USD": Decimal(1400)},
        configured_at=configured_at,
    )
    assert await other.as_of(T0 + timedelta(minutes=12)) == usd("1385.20", 10)
    assert await other.as_of(T0 + timedelta(hours=1)) == usd("1390", 20)
    assert await other.rate() == usd("1390", 20)
    # Before any rate was recorded: the configured one.
    assert await other.as_of(T0 - timedelta(days=1)) == FxRate(
        "USD", "KRW", Decimal(1400), configured_at, "config"
    )
    assert (await other.as_of(T0, "KRW", "KRW")) == FxRate("KRW", "KRW", Decimal(1), T0, "identity")


async def test_the_service_prefers_a_brokers_rate_to_the_configured_one(store: SqlStore) -> None:
    clock = FixedClock(T0 + timedelta(hours=1))
    configured_at = T0 - timedelta(days=2)
    fx = FxService(
        clock=clock,
        stored=SqlFxRates(store),
        configured={"USD": Decimal("1400")},
        configured_at=configured_at,
    )
    assert await fx.rate() == FxRate("USD", "KRW", Decimal(1400), configured_at, "config")
    await fx.observe(usd("1385.20"))
    # Another process (the dashboard) reads what the account sync stored.
    other = FxService(clock=clock, stored=SqlFxRates(store), configured={"USD": Decimal(1400)})
    assert await other.rate() == usd("1385.20")
    total = await other.to_krw({"KRW": Decimal(1_000_000), "USD": Decimal(100), "JPY": Decimal(5)})
    assert total.total == Decimal(1_000_000) + Decimal("138520.00")
    assert total.missing == ("JPY",)
    assert not total.complete
    assert total.rates == {"USD": usd("1385.20")}


async def test_without_a_rate_nothing_foreign_is_counted_in_won(store: SqlStore) -> None:
    fx = FxService(clock=FixedClock(T0), stored=SqlFxRates(store))
    assert await fx.rate() is None
    total = await fx.to_krw({"KRW": Decimal(5), "USD": Decimal(7)})
    assert (total.total, total.missing, total.rates) == (Decimal(5), ("USD",), {})


async def test_a_kis_accounts_rate_comes_with_its_balances(sim: SimServer, make_broker) -> None:
    broker = make_broker()
    assert await broker.fx_rate("main") is None  # no balance asked yet: no call of its own
    asked = len(sim.sim.received)
    await broker.cash("main")
    rate = await broker.fx_rate("main")
    assert rate is not None
    assert (rate.pair, rate.rate, rate.source) == ("USD/KRW", Decimal(1350), "kis")
    assert len(sim.sim.received) > asked
    after = len(sim.sim.received)
    assert await broker.fx_rate("main") == rate
    assert len(sim.sim.received) == after


async def test_the_account_sync_records_the_rate_its_broker_gave(store: SqlStore) -> None:
    clock = FixedClock(T0)
    broker = FakeBroker()
    fx = FxService(clock=clock, stored=SqlFxRates(store))
    sync = AccountSync(
        broker=broker,
        book=AccountBook(store),
        role=ActiveRole(FakeRoles(), "local"),
        accounts=["paper"],
        clock=clock,
        fx=fx,
    )
    await sync.sync("paper")  # a broker without a rate: nothing recorded
    assert await SqlFxRates(store).latest("USD", "KRW") is None
    broker.rate = usd("1388.10")
    await sync.sync("paper")
    assert await SqlFxRates(store).latest("USD", "KRW") == usd("1388.10")


def test_the_price_history_and_fx_migration_goes_down_and_up_again(db_url: str) -> None:
    migrate.downgrade(db_url, "0005")
    assert migrate.current(db_url).startswith("0005")
    migrate.upgrade(db_url)
    assert "(head)" in migrate.current(db_url)


async def test_the_fx_history_migration_keeps_the_latest_rate_down_and_up(
    store: SqlStore, db_url: str
) -> None:
    rates = SqlFxRates(store)
    await rates.record(usd("1385.20"))
    await rates.record(usd("1390", 60))
    await store.close()  # the migration runs on a connection of its own
    migrate.downgrade(db_url, "0010")
    migrate.upgrade(db_url)
    assert await rows(store) == 1
    assert await SqlFxRates(store).latest("USD", "KRW") == usd("1390", 60)
    assert await SqlFxRates(store).as_of("USD", "KRW", T0) is None  # the history starts there
