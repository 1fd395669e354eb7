"""/performance in Chromium, against a `yquant dashboard` of its own over recorded snapshots:
the equity curve and drawdown drawn, the metrics and the strategies side by side, the period
picker and the CSV download, in Korean and English, at desktop and phone (390 px) width
without a horizontal page scroll; screenshots under test-artifacts/screenshots (the README's
docs/performance.png is the English desktop one)."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.dashboard_support import (
    DESKTOP,
    PASSWORD,
    PHONE,
    DashboardProcess,
    Heartbeats,
    no_horizontal_scroll,
    screenshot,
)
from tests.support import ValkeyProcess, krx_order, record_rows
from yquant.adapters.db.rows import fill_row, order_row
from yquant.adapters.db.snapshots import SqlSnapshots
from yquant.adapters.db.store import SqlStore
from yquant.domain.model import Fill, OrderStatus, Side
from yquant.domain.snapshots import AccountDay, FxRate, FxSource, SnapshotSource, StrategyDay
from yquant.entrypoints.dashboard.words import WORDS
from yquant.entrypoints.performance import WORDS as PERF

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

WAIT_MS = 20_000
D = Decimal
FIRST = date(2026, 10, 1)
DAYS = 40
DEPOSIT_DAY = 20  # 10,000,000 deposited: a flow, not a return


def _days() -> list[AccountDay]:
    """40 days of the paper account: two strategies earning by fixed patterns."""
    out = []
    cash = D(100_000_000)
    trend = mean = D(0)
    trend_moves = [D("0.004"), D("-0.002"), D("0.003"), D("-0.004"), D("0.002")]
    mean_moves = [D("-0.001"), D("0.002"), D("-0.001"), D("0.0015"), D("-0.0005")]
    for i in range(DAYS):
        day = FIRST + timedelta(days=i)
        trend_pnl = (cash * trend_moves[i % 5]).quantize(D(1)) if i else D(0)
        mean_pnl = (cash * mean_moves[i % 7 % 5]).quantize(D(1)) if i else D(0)
        trend += trend_pnl
        mean += mean_pnl
        cash += trend_pnl + mean_pnl
        flow = D(0)
        if i == DEPOSIT_DAY:
            flow = D(10_000_000)
            cash += flow
        at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=7)
        strategies = (
            StrategyDay("paper", "mean-rev", day, "KRW", D(2_000_000), D(2_000_000), mean, D(0)),
            StrategyDay("paper", "trend", day, "KRW", D(3_000_000), D(3_000_000), trend, D(0)),
        )
        out.append(
            AccountDay(
                account="paper",
                day=day,
                currency="KRW",
                cash=cash - D(5_000_000),
                positions_value=D(5_000_000),
                realised=trend + mean,
                unrealised=D(0),
                flow=flow,
                fx=FxRate(D(1), FxSource.BASE),
                source=SnapshotSource.BROKER,
                taken_at=at,
                strategies=strategies,
            )
        )
        # A dollar account beside it, at the configured rate: 1,000 USD all along.
        out.append(
            AccountDay(
                account="paper",
                day=day,
                currency="USD",
                cash=D(1000),
                positions_value=D(0),
                realised=D(0),
                unrealised=D(0),
                flow=D(0),
                fx=FxRate(D(1400), FxSource.CONFIG),
                source=SnapshotSource.BACKFILL if i == DAYS - 1 else SnapshotSource.BROKER,
                taken_at=at,
            )
        )
    return out


def _trips() -> list[tuple[str, dict[str, object]]]:
    """Round trips of the two strategies (the trades of the report): trend wins two of three,
    mean-rev one of two."""
    writes: list[tuple[str, dict[str, object]]] = []
    trips = [
        ("trend", 70000, 73000, 2),
        ("trend", 72000, 71000, 9),
        ("trend", 71000, 74500, 16),
        ("mean-rev", 50000, 50500, 5),
        ("mean-rev", 51000, 50000, 25),
    ]
    for n, (strategy, buy, sell, day) in enumerate(trips):
        for leg, (side, price, later) in enumerate(((Side.BUY, buy, 0), (Side.SELL, sell, 3))):
            at = datetime.combine(FIRST, datetime.min.time(), UTC) + timedelta(
                days=day + later, hours=1
            )
            cid = f"trip-{n}-{leg}"
            order = krx_order(
                cid,
                at,
                strategy=strategy,
                side=side,
                quantity=D(10),
                status=OrderStatus.FILLED,
                filled_quantity=D(10),
            )
            fill = Fill(f"{cid}:1", cid, "paper", "005930", side, D(10), D(price), D(0), "KRW", at)
            writes += [("order.insert", order_row(order)), ("fill.insert", fill_row(fill))]
    return writes


def _seed(data_dir: Path) -> None:
    async def run() -> None:
        store = SqlStore(f"sqlite+aiosqlite:///{data_dir / 'yquant.sqlite3'}")
        try:
            for snapshot in _days():
                await SqlSnapshots(store).save(snapshot)
        finally:
            await store.close()

    with ThreadPoolExecutor(1) as other:  # Playwright's sync API holds this thread's loop
        other.submit(asyncio.run, run()).result()
    assert all(record_rows(data_dir, _trips()))


@pytest.fixture(scope="module")
def dashboard(
    tmp_path_factory: pytest.TempPathFactory, valkey: ValkeyProcess
) -> Iterator[DashboardProcess]:
    d = DashboardProcess(tmp_path_factory.mktemp("performance") / "data", valkey.url)
    d.prepare("alice")
    _seed(d.data_dir)
    d.start()
    try:
        with Heartbeats(valkey.url):
            yield d
    finally:
        d.stop()


def _open(
    browser: Browser, d: DashboardProcess, viewport: dict[str, int]
) -> tuple[Page, list[str]]:
    tab = browser.new_context(viewport=viewport, color_scheme="light").new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.goto(f"{d.url}/login")
    tab.fill("input[name=name]", "alice")
    tab.fill("input[name=password]", PASSWORD)
    tab.click("form button[type=submit]")
    expect(tab.locator("main h1")).to_be_visible()
    return tab, errors


@pytest.mark.parametrize("width", ["desktop", "phone"])
@pytest.mark.parametrize("language", ["ko", "en"])
def test_the_report_of_all_accounts_in_both_languages_and_widths(
    browser: Browser, dashboard: DashboardProcess, language: str, width: str
) -> None:
    tab, errors = _open(browser, dashboard, DESKTOP if width == "desktop" else PHONE)
    try:
        tab.goto(f"{dashboard.url}/performance?lang={language}")
        w = PERF[language]
        expect(tab.locator("main h1")).to_have_text(WORDS[language]["nav_performance"])
        expect(tab.locator("#perf-tiles .tile")).to_have_count(4)
        # Both charts drawn (Lightweight Charts draws on canvases).
        expect(tab.locator("body")).to_have_attribute("data-perf-charts", "drawn")
        expect(tab.locator("#perf-line canvas").first).to_be_visible()
        expect(tab.locator("#perf-drawdown canvas").first).to_be_visible()
        metrics = tab.locator("#perf-metrics tr")
        expect(metrics.first).to_contain_text(w["cumulative_return"])
        expect(tab.locator('#perf-metrics tr[data-metric="days"] td')).to_have_text(str(DAYS - 1))
        # The deposit is a flow, shown as such.
        flows = tab.locator('#perf-metrics tr[data-metric="flows"]')
        expect(flows).to_contain_text(w["flows"])
        expect(flows).to_contain_text("₩10,000,000")
        expect(tab.locator('#perf-metrics tr[data-metric="trades"] td')).to_have_text("5")
        expect(tab.locator('#perf-metrics tr[data-metric="win_rate"] td')).to_have_text("60.0%")
        usd = tab.locator('#perf-latest tr[data-key="paper:USD"]')
        expect(usd).to_contain_text("$1,000.00")
        expect(usd).to_contain_text("1,400")
        expect(usd).to_contain_text(w["fx_config"])
        expect(usd).to_contain_text(w["src_backfill"])
        expect(tab.locator("#perf-strategies tbody tr")).to_have_count(2)
        expect(tab.locator('#perf-strategies tr[data-key="trend"]')).to_be_visible()
        no_horizontal_scroll(tab)
        name = f"performance-{language}-{width}"
        screenshot(tab, name)
    finally:
        tab.context.close()
    assert errors == [], f"errors on /performance: {errors}"


def test_a_strategy_and_a_period_are_picked_and_the_csv_downloaded(
    browser: Browser, dashboard: DashboardProcess
) -> None:
    tab, errors = _open(browser, dashboard, PHONE)
    try:
        tab.goto(f"{dashboard.url}/performance?lang=en")
        tab.select_option("select[name=strategy]", "trend")
        tab.fill("input[name=from]", "2026-10-11")
        tab.fill("input[name=to]", "2026-10-30")
        tab.click("form.perf-picker button[type=submit]")
        expect(tab.locator("#perf-metrics")).to_be_visible()
        expect(tab.locator("main h2").filter(has_text="trend").first).to_be_visible()
        expect(tab.locator("#perf-strategies")).to_have_count(0)  # a strategy: no comparison
        # Oct 12..30; Oct 11 is the base
        expect(tab.locator('#perf-metrics tr[data-metric="days"] td')).to_have_text("19")
        with tab.expect_download() as got:
            tab.click("#perf-csv")
        text = Path(got.value.path()).read_text()
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == ["date", "returns"]
        assert [r[0] for r in rows[1:]] == [
            (date(2026, 10, 12) + timedelta(days=i)).isoformat() for i in range(19)
        ]
        assert got.value.suggested_filename == "yquant-returns-trend-2026-10-30.csv"
        no_horizontal_scroll(tab)
        screenshot(tab, "performance-trend-en-phone")
    finally:
        tab.context.close()
    assert errors == [], f"errors on /performance: {errors}"
