"""`last_prices` on SQLite and MariaDB: one upsert per price that only a later price moves,
written directly or through the recorder (and its journal, replayed late)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from tests.fakes import FixedClock
from yquant.adapters.db.journal import Journal
from yquant.adapters.db.prices import SqlLastPrices, SqlPriceHistory
from yquant.adapters.db.recorder import Recorder
from yquant.adapters.db.store import SqlStore
from yquant.domain.model import Market
from yquant.domain.writes import RecordPrice
from yquant.ports import Mark, PriceSource, Written
from yquant.services.prices import PriceService, bucket_of

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
KR, US = Market.KR, Market.US


def mark(price: str, minutes: int = 0, source: PriceSource = PriceSource.ALERT) -> Mark:
    return Mark(Decimal(price), T0 + timedelta(minutes=minutes), source)


async def test_a_later_price_replaces_the_stored_one_and_an_older_one_does_not(
    store: SqlStore,
) -> None:
    prices = SqlLastPrices(store)
    assert await prices.last([(KR, "005930")]) == {}
    await prices.record([(KR, "005930", mark("71000")), (US, "AAPL", mark("190.25"))])
    await prices.record([(KR, "005930", mark("70000", -5, PriceSource.FILL))])  # older
    await prices.record([(KR, "005930", mark("69000", 0, PriceSource.FILL))])  # as old
    found = await prices.last([(KR, "005930"), (US, "AAPL"), (US, "IBM")])
    assert found == {(KR, "005930"): mark("71000"), (US, "AAPL"): mark("190.25")}
    await prices.record([(KR, "005930", mark("72000", 3, PriceSource.FILL))])
    assert (await prices.last([(KR, "005930")]))[(KR, "005930")] == mark(
        "72000", 3, PriceSource.FILL
    )
    # The same ticker in another market is another instrument.
    await prices.record([(US, "005930", mark("1", 9))])
    assert (await prices.last([(KR, "005930")]))[(KR, "005930")].price == Decimal(72000)


async def test_many_instruments_are_read_at_once(store: SqlStore) -> None:
    prices = SqlLastPrices(store)
    tickers = [f"{n:06d}" for n in range(450)]  # more than one statement's worth
    await prices.record([(KR, t, mark(str(1000 + n))) for n, t in enumerate(tickers)])
    found = await prices.last([(KR, t) for t in tickers])
    assert len(found) == 450
    assert found[(KR, "000449")].price == Decimal(1449)


async def test_the_recorders_price_writes_replay_late_without_moving_a_price_back(
    store: SqlStore, tmp_path: Path
) -> None:
    recorder = Recorder(store, Journal(tmp_path / "journal.sqlite3"))
    prices = SqlLastPrices(store)
    try:
        written = await recorder.write(RecordPrice(KR, "005930", Decimal(71000), T0, "alert"))
        assert written is Written.STORED
        # While the database is known to be away, prices go to the journal like other writes.
        recorder.database_up = False
        older = RecordPrice(KR, "005930", Decimal(68000), T0 - timedelta(minutes=1), "alert")
        newer = RecordPrice(KR, "000660", Decimal(120000), T0, "fill")
        assert await recorder.write(older) is Written.JOURNALED
        assert await recorder.write(newer) is Written.JOURNALED
        assert await recorder.replay_batch() == 2
        found = await prices.last([(KR, "005930"), (KR, "000660")])
        assert found[(KR, "005930")] == mark("71000")
        assert found[(KR, "000660")] == mark("120000", 0, PriceSource.FILL)
    finally:
        await recorder.close()
        recorder.journal.close()


async def test_the_price_history_keeps_the_first_price_of_each_bucket(store: SqlStore) -> None:
    history = SqlPriceHistory(store)
    prices = PriceService(last=SqlLastPrices(store), clock=FixedClock(T0), history=history)
    for minutes, price in ((0, "100"), (5, "101"), (14, "102"), (15, "103"), (44, "104")):
        await prices.observe(
            KR, "005930", Decimal(price), T0 + timedelta(minutes=minutes), PriceSource.ALERT
        )
    # Another process writing the same bucket changes nothing.
    await history.sample([(KR, "005930", bucket_of(T0), mark("999", 1))])
    series = await history.series(KR, "005930", T0 - timedelta(days=1))
    assert [(m.price, m.at) for m in series] == [
        (Decimal(100), T0),
        (Decimal(103), T0 + timedelta(minutes=15)),
        (Decimal(104), T0 + timedelta(minutes=44)),
    ]
    assert [m.price for m in await history.series(KR, "005930", T0, limit=1)] == [Decimal(104)]
    before = await history.before(
        [(KR, "005930"), (US, "AAPL")], {KR: T0 + timedelta(minutes=30), US: T0}
    )
    assert before == {
        (KR, "005930"): Mark(Decimal(103), T0 + timedelta(minutes=15), PriceSource.ALERT)
    }
