"""`fx_rates` on SQLite and MariaDB: the latest rate per pair, moved only by a later one; the
FX service over it, as the account sync and the dashboard use it; a KIS account's rate as its
balance inquiry carries it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tests.fakes import FakeBroker, FakeRoles, FixedClock
from yquant.adapters.brokers.kis_sim import SimServer
from yquant.adapters.db import migrate
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
