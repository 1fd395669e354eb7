"""The operator dashboard in a real headless Chromium, against a real `yquant up`.

The browser is Debian's Chromium (/usr/bin/chromium) driven by Playwright's sync API; nothing is
downloaded. One `yquant up` serves the whole module, with one alert filled and one refused;
the module signs in once and every test opens its own browser context with that session.
Every page is opened in Korean and English, at desktop and phone (390 px) width: its content,
no horizontal page scroll, a screenshot under test-artifacts/screenshots.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.dashboard_support import (
    DESKTOP,
    PASSWORD,
    PHONE,
    add_users,
    no_horizontal_scroll,
    screenshot,
    word,
)
from tests.support import YquantUp, krx_order, record_rows, refused_order, wait_until
from yquant.adapters.db.rows import order_row
from yquant.domain.reasons import ReasonCode
from yquant.entrypoints import i18n

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

# The page polls nothing: a live event every 2 s, and the paper broker fills at once.
WAIT_MS = 20_000
NAV = (
    "nav_overview",
    "nav_positions",
    "nav_orders",
    "nav_signals",
    "nav_trade",
    "nav_schedules",
    "nav_liquidate",
    "nav_performance",
    "nav_system",
)
# (route, its heading's word): every route of the navigation, and one signal's flow.
PAGES = (
    ("/", "nav_overview"),
    ("/positions", "nav_positions"),
    ("/orders", "nav_orders"),
    ("/signals", "signal_log"),
    ("/signal", "signal_title"),
    ("/instrument", "price_chart"),
    ("/trade", "nav_trade"),
    ("/schedules", "nav_schedules"),
    ("/liquidate", "nav_liquidate"),
    ("/performance", "nav_performance"),
    ("/system", "nav_system"),
)


# The configured USD/KRW rate of the module's desk, and its time (09:00 KST).
FX_AS_OF = "2026-12-04T00:00:00+00:00"


class Desk:
    """The module's `yquant up`, its session, and what was sent to it."""

    def __init__(self, up: YquantUp, session: dict[str, Any], filled: dict[str, Any]) -> None:
        self.up = up
        self.session = session
        self.filled = filled
        self.url = up.dashboard_url.rstrip("/")


def _filled_order(up: YquantUp, signal_key: str) -> dict[str, Any] | None:
    for order in up.orders():
        if order["signal_id"] == signal_key and order["status"] == "filled":
            return order
    return None


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[Desk]:
    # The baselines below are the only daily snapshots: the gateway takes none of its own.
    up = YquantUp(
        tmp_path_factory.mktemp("dashboard-browser") / "data",
        YQUANT__SNAPSHOTS__ENABLED="false",
        YQUANT__FX__USDKRW="1385.2",
        YQUANT__FX__USDKRW_AS_OF=FX_AS_OF,
    ).start()
    try:
        add_users(up.data_dir, "alice", "bob")  # bob signs out: alice's session stays
        reply = up.post(up.alert(id="browser-" + uuid.uuid4().hex[:8], quantity="2"))
        assert reply.status_code == 200, reply.text
        filled = wait_until(lambda: _filled_order(up, reply.json()["signal"]))
        assert up.post(up.alert(secret="wrong-" + uuid.uuid4().hex[:8])).status_code == 401
        _baselines(up)
        _price_history(up)
        context = browser.new_context(viewport=DESKTOP)
        tab = context.new_page()
        tab.goto(up.dashboard_url)
        tab.fill("input[name=name]", "alice")
        tab.fill("input[name=password]", PASSWORD)
        tab.click("form button[type=submit]")
        expect(tab.locator("h1")).to_have_text(word("en", "nav_overview"), timeout=WAIT_MS)
        session = context.storage_state()
        context.close()
        yield Desk(up, session, filled)
    finally:
        assert up.stop() == 0, up.log()


def _baselines(up: YquantUp) -> None:
    """Two past days' baselines of the paper account, as the engine records them."""
    import sqlite3
    from datetime import timedelta

    today = datetime.now(UTC).date()
    with sqlite3.connect(up.data_dir / "yquant.sqlite3") as db:
        for back, equity in ((2, "100000000"), (1, "100250000")):
            db.execute(
                "INSERT INTO account_snapshots (account, day, currency, cash, positions_value,"
                " equity, taken_at) VALUES ('paper', ?, 'KRW', ?, 0, ?, ?)",
                (str(today - timedelta(days=back)), equity, equity, "2026-01-01 00:00:00"),
            )


def _price_history(up: YquantUp) -> None:
    """Two past days of Samsung's price, a sample an hour in the KRX session, as the price
    history keeps them (the first price seen in each 15 minutes)."""
    import sqlite3
    from datetime import timedelta

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = []
    for back in (2, 1):
        for hour in range(7):  # 09:00 to 15:00 KST
            at = today - timedelta(days=back) + timedelta(hours=hour)
            price = 70000 + 150 * ((hour * 3 + back) % 7)
            rows.append(("KR", "005930", str(at)[:19], price, "alert", str(at)[:19]))
    with sqlite3.connect(up.data_dir / "yquant.sqlite3") as db:
        db.executemany(
            "INSERT INTO price_history (market, ticker, bucket, price, source, at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )


def _open(browser: Browser, desk: Desk, viewport: dict[str, int]) -> tuple[Any, Page, list[str]]:
    context = browser.new_context(viewport=viewport, storage_state=desk.session)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return context, tab, errors


@pytest.fixture
def page(browser: Browser, desk: Desk) -> Iterator[Page]:
    context, tab, errors = _open(browser, desk, DESKTOP)
    try:
        yield tab
    finally:
        context.close()
    assert errors == [], f"errors on the dashboard: {errors}"


@pytest.mark.parametrize("width", ["desktop", "phone"])
@pytest.mark.parametrize("language", ["ko", "en"])
@pytest.mark.parametrize(("route", "heading"), PAGES, ids=[p for p, _ in PAGES])
def test_every_page_in_both_languages_on_desktop_and_phone(
    browser: Browser, desk: Desk, route: str, heading: str, language: str, width: str
) -> None:
    context, tab, errors = _open(browser, desk, DESKTOP if width == "desktop" else PHONE)
    try:
        path = {
            "/signal": f"/signals/{desk.filled['signal_id']}",
            "/instrument": "/positions/KR/005930",
        }.get(route, route)
        tab.goto(f"{desk.url}{path}?lang={language}")
        expect(tab.locator("html")).to_have_attribute("lang", language)
        if route == "/instrument":
            expect(tab.locator("main h2").first).to_contain_text(word(language, heading))
        else:
            expect(tab.locator("main h1")).to_contain_text(word(language, heading))
        expect(tab.locator("nav.pages a")).to_have_text([word(language, k) for k in NAV])
        expect(tab.locator("#ready")).to_have_text(f"{word(language, 'ready')} · local")
        _content(tab, desk, route, language)
        no_horizontal_scroll(tab)
        name = route.strip("/").replace("/", "-") or "overview"
        screenshot(tab, f"{name}-{language}-{width}")
    finally:
        context.close()
    assert errors == [], f"errors on {route}: {errors}"


def _content(tab: Page, desk: Desk, route: str, language: str) -> None:  # noqa: PLR0915
    """What each page must show of the module's data, in the page's language."""
    codes = i18n.CODES[language]
    order = desk.filled
    if route == "/":
        tile = tab.locator(".tile").filter(has_text=f"{word(language, 'equity')} · KRW")
        expect(tile.locator(".value")).to_have_text(_krw_pattern())
        row = tab.locator('#accounts tr[data-key="paper:KRW"]')
        expect(row).to_be_visible()
        expect(tab.locator("#worker-card")).to_contain_text(word(language, "worker_unassigned"))
        today = tab.locator('.tile[data-currency="KRW"]')
        expect(today).to_contain_text(word(language, "pnl_today"))
        expect(today).to_contain_text(word(language, "realised_today"))
        expect(today.locator(".value")).to_have_text("₩0")
        # The paper account's dollars are in the KRW total at the configured rate, shown with
        # its source and time.
        total = tab.locator("#total-krw")
        expect(total.locator(".value")).to_have_text(_krw_pattern())
        rate = total.locator('[data-fx="rate"]')
        expect(rate).to_contain_text("1,385.2")
        expect(rate).to_contain_text(word(language, "fx_source_config"))
        expect(rate).to_contain_text("2026-12-04 09:00")
        expect(total.locator('[data-fx="none"]')).to_have_count(0)
        expect(tab.locator("#pnl-today-krw .value")).to_have_text("₩0")
        # The baselines as a chart (Lightweight Charts draws on canvases).
        expect(tab.locator("#baseline-chart canvas").first).to_be_visible()
    elif route == "/positions":
        # The book: the strategy's position, its price and P&L; then the broker's holdings.
        book = tab.locator('table.book tr[data-key="paper:demo:KR:005930"]')
        expect(book.locator("td.num").first).to_have_text("2")
        expect(book).to_contain_text("₩71,000")
        expect(tab.locator('table.book tfoot tr[data-currency="KRW"]')).to_contain_text("₩142,000")
        row = tab.locator('#holdings tr[data-key="paper:KR:005930"]')
        expect(row.locator("td.num").first).to_have_text("2")
        expect(row).to_contain_text("₩71,000")
    elif route == "/instrument":
        expect(tab.locator("main h1")).to_contain_text("005930")
        expect(tab.locator("main h1")).to_contain_text("삼성전자" if language == "ko" else "005930")
        expect(tab.locator("#last-price")).to_have_text("₩71,000")
        book = tab.locator('table.book tr[data-key="paper:demo:KR:005930"]')
        expect(book.locator("td.num").first).to_have_text("2")
        # The price history as a chart (Lightweight Charts draws on canvases).
        expect(tab.locator("#price-chart canvas").first).to_be_visible()
        # The demo strategy's fill is marked on it (drawn on the canvas, given as data).
        import json

        markers = json.loads(tab.locator("#price-markers").text_content() or "[]")
        assert {"side": "buy", "quantity": "2"} in [
            {k: m[k] for k in ("side", "quantity")} for m in markers
        ]
        expect(
            tab.locator('#instrument-trade tr[data-account="paper"] button.quick-buy')
        ).to_be_visible()
        row = tab.locator(f'tr[data-key="{order["client_order_id"]}"]')
        expect(row).to_contain_text(codes["filled"])
    elif route == "/orders":
        row = tab.locator(f'#history tr[data-key="{order["client_order_id"]}"]')
        expect(row).to_contain_text(codes["buy"])
        expect(row).to_contain_text(codes["filled"])
        expect(row).to_contain_text("₩71,000")
        expect(row.locator("td.time")).to_contain_text(" KST")
    elif route == "/signals":
        refused = tab.locator('tr:has(span[title="bad_secret"])').first
        expect(refused).to_contain_text(codes["bad_secret"])
        expect(refused).to_contain_text(codes["rejected"])
        row = tab.locator(f'tr[data-key="{order["signal_id"]}"]')
        expect(row).to_contain_text(codes["ordered"])
    elif route == "/signal":
        kinds = tab.locator("ol.flow li.hop")
        expect(kinds.first).to_have_attribute("data-kind", "alert")
        for kind in ("decision", "order", "fill"):
            expect(tab.locator(f'ol.flow li[data-kind="{kind}"]').first).to_be_visible()
        expect(tab.locator('ol.flow li[data-kind="fill"]')).to_contain_text("₩71,000")
    elif route in ("/trade", "/liquidate"):
        _form_page(tab, route, language)
    elif route == "/system":
        _system(tab, language)
    elif route == "/performance":
        _performance(tab)
    else:
        _other(tab, route, language)


def _other(tab: Page, route: str, language: str) -> None:
    if route == "/schedules":
        expect(tab.locator("#schedule-form #check-schedule")).to_have_text(
            word(language, "sched_check")
        )
        expect(tab.locator("#schedule-list")).to_contain_text(word(language, "sched_title"))
    else:
        expect(tab.locator(".card.pending")).to_contain_text(word(language, "not_yet"))


def _form_page(tab: Page, route: str, language: str) -> None:
    """The order forms: /trade's preview button, /liquidate's plan button."""
    if route == "/trade":
        expect(tab.locator("#trade-form select[name=account]")).to_have_value("paper")
        expect(tab.locator("#preview-order")).to_have_text(word(language, "preview"))
    else:
        expect(tab.locator("#liquidate-form select[name=account]")).to_have_value("")
        expect(tab.locator("#show-plan")).to_have_text(word(language, "liq_show_plan"))


def _performance(tab: Page) -> None:
    """The two baselines as daily snapshots: 100,000,000 then 100,250,000."""
    tile = tab.locator('#perf-tiles .tile[data-metric="cumulative_return"] .value')
    expect(tile).to_have_text("+0.25%")
    expect(tab.locator("#perf-line canvas").first).to_be_visible()


def _system(tab: Page, language: str) -> None:
    for role in ("webhook", "engine", "gateway", "dashboard"):
        chip = tab.locator(f'[data-check="{role}"]')
        expect(chip).to_have_text(i18n.CODES[language]["up"])
    # Listed too, but not waited for: the worker is ready without it.
    expect(tab.locator('[data-check="notifier"]')).to_be_visible()
    expect(tab.locator("form.switch")).to_have_count(2)
    expect(tab.locator("#notifications h2")).to_have_text(word(language, "notifications"))
    expect(tab.locator('#fx [data-fx="rate"]')).to_contain_text("1,385.2")


def _krw_pattern() -> Any:
    import re

    return re.compile(r"^₩\d{1,3}(,\d{3})+$")


def test_a_new_alert_shows_up_on_an_open_page_without_reload(page: Page, desk: Desk) -> None:
    page.goto(f"{desk.url}/orders?lang=ko")
    expect(page.locator("#ready")).to_have_class("chip status up")
    page.evaluate("document.body.dataset.same = 'yes'")
    reply = desk.up.post(desk.up.alert(id="live-" + uuid.uuid4().hex[:8], quantity="1"))
    assert reply.status_code == 200, reply.text
    order = wait_until(lambda: _filled_order(desk.up, reply.json()["signal"]))
    row = page.locator(f'#history tr[data-key="{order["client_order_id"]}"]')
    expect(row).to_contain_text("체결 완료", timeout=WAIT_MS)
    expect(row).to_contain_text("매수")
    expect(page.locator("body")).to_have_attribute("data-same", "yes")


def test_a_bookmark_asks_for_sign_in_then_opens_and_sign_out_ends_it(
    browser: Browser, desk: Desk
) -> None:
    context = browser.new_context(viewport=PHONE)
    tab = context.new_page()
    try:
        tab.goto(f"{desk.url}/orders?status=filled&lang=ko")
        expect(tab).to_have_url(f"{desk.url}/login?next=%2Forders%3Fstatus%3Dfilled%26lang%3Dko")
        expect(tab.locator("h1")).to_have_text("로그인")
        tab.fill("input[name=name]", "bob")
        tab.fill("input[name=password]", "wrong password!")
        tab.click("form button[type=submit]")
        expect(tab.locator("#login-error")).to_have_text(
            i18n.CODES["ko"][ReasonCode.BAD_CREDENTIALS]
        )
        no_horizontal_scroll(tab)
        screenshot(tab, "login-refused-ko-phone")
        tab.fill("input[name=name]", "bob")
        tab.fill("input[name=password]", PASSWORD)
        tab.click("form button[type=submit]")
        expect(tab).to_have_url(f"{desk.url}/orders?status=filled&lang=ko")
        expect(tab.locator("main h1")).to_have_text("주문")
        tab.click("header .signout button")
        expect(tab).to_have_url(f"{desk.url}/login")
        tab.goto(f"{desk.url}/system")
        expect(tab.locator("h1")).to_have_text("로그인")
    finally:
        context.close()


def test_alert_text_is_shown_as_text_not_html(page: Page, desk: Desk) -> None:
    payload = "<img src=x onerror=document.body.dataset.xss=1>"
    reply = desk.up.post(desk.up.alert(id="xss-" + uuid.uuid4().hex[:8], strategy=payload))
    assert reply.status_code == 200, reply.text
    page.goto(f"{desk.url}/signals")
    row = page.locator(f'tr[data-key="{reply.json()["signal"]}"]')
    expect(row.locator("td").nth(1)).to_have_text(payload, timeout=WAIT_MS)
    expect(page.locator("main img")).to_have_count(0)
    page.goto(f"{desk.url}/signals/{reply.json()['signal']}")
    expect(page.locator("dl.facts dd").first).to_have_text(payload)
    expect(page.locator("main img")).to_have_count(0)
    assert page.evaluate("document.body.dataset.xss") is None


@pytest.mark.parametrize("language", ["ko", "en"])
def test_a_refused_order_shows_why_in_the_operators_language(
    page: Page, desk: Desk, language: str
) -> None:
    """An order the broker refused carries its reason code: the page shows its words, the code
    in the tooltip."""
    cid = "refused-" + uuid.uuid4().hex[:8]
    refused = refused_order(cid, ReasonCode.INSUFFICIENT_CASH, datetime.now(UTC))
    assert record_rows(desk.up.data_dir, [("order.insert", order_row(refused))]) == [True]
    words = i18n.CODES[language]
    page.goto(f"{desk.url}/orders?lang={language}")
    row = page.locator(f'#history tr[data-key="{cid}"]')
    reason = row.locator('span[title="insufficient_cash"]')
    expect(reason).to_have_text(words[ReasonCode.INSUFFICIENT_CASH], timeout=WAIT_MS)
    expect(row.locator("span.st-rejected")).to_have_text(words["rejected"])
    expect(row).to_contain_text(words["buy"])


WORKING = ("new", "submitted", "accepted", "partially_filled", "unknown")


def _working_order(up: YquantUp, signal_key: str) -> dict[str, Any] | None:
    for order in up.orders():
        if order["signal_id"] == signal_key and order["status"] in ("accepted", "submitted"):
            return order
    return None


def _resting(desk: Desk, strategy: str) -> dict[str, Any]:
    """A limit buy far under the price: it rests on the paper venue, working."""
    reply = desk.up.post(
        desk.up.alert(
            id="rest-" + uuid.uuid4().hex[:8],
            strategy=strategy,
            order_type="limit",
            limit_price="50000",
            price="71000",
            quantity="1",
        )
    )
    assert reply.status_code == 200, reply.text
    order: dict[str, Any] = wait_until(lambda: _working_order(desk.up, reply.json()["signal"]))
    return order


def _status(desk: Desk, client_order_id: str) -> str:
    return next(o["status"] for o in desk.up.orders() if o["client_order_id"] == client_order_id)


def test_a_working_order_is_cancelled_from_the_orders_page(page: Page, desk: Desk) -> None:
    order = _resting(desk, "rest-one")
    cid = order["client_order_id"]
    page.goto(f"{desk.url}/orders?lang=ko")
    row = page.locator(f'#working tr[data-key="{cid}"]')
    expect(row).to_contain_text("₩50,000")
    page.on("dialog", lambda dialog: dialog.accept())
    row.locator("button.cancel").click()
    expect(page.locator("#cancel-outcome")).to_have_text("1건 취소됨.", timeout=WAIT_MS)
    expect(page.locator(f'#working tr[data-key="{cid}"]')).to_have_count(0)
    history = page.locator(f'#history tr[data-key="{cid}"]')
    expect(history.locator('span[title="cancelled"]').first).to_have_text("취소됨")
    assert _status(desk, cid) == "cancelled"
    screenshot(page, "orders-cancelled-ko-desktop")
    entry = _audit(desk, "order.cancel", cid)
    assert entry["actor"] == "dashboard:alice"
    assert entry["detail"]["after"] == "cancelled" and entry["detail"]["done"] is True


def test_working_orders_matching_a_filter_are_cancelled_after_a_confirmation(
    browser: Browser, desk: Desk
) -> None:
    first, second = _resting(desk, "rest-all"), _resting(desk, "rest-all")
    context, tab, errors = _open(browser, desk, PHONE)
    try:
        tab.goto(f"{desk.url}/orders?lang=en")
        form = tab.locator("form.cancel-all")
        form.locator("input[name=strategy]").fill("rest-all")
        form.locator("button").click()
        expect(tab.locator("main h1")).to_have_text("Cancel these 2 working orders?")
        for order in (first, second):
            expect(tab.locator(f'tr[data-key="{order["client_order_id"]}"]')).to_be_visible()
        no_horizontal_scroll(tab)
        screenshot(tab, "cancel-confirm-en-phone")
        tab.click("#confirm-cancel")
        expect(tab.locator("#cancel-outcome")).to_have_text("2 cancelled.", timeout=WAIT_MS)
    finally:
        context.close()
    assert errors == []
    assert {_status(desk, o["client_order_id"]) for o in (first, second)} == {"cancelled"}


def _audit(desk: Desk, action: str, target: str) -> dict[str, Any]:
    import json
    import sqlite3

    with sqlite3.connect(desk.up.data_dir / "yquant.sqlite3") as db:
        row = db.execute(
            "SELECT actor, detail FROM audit_log WHERE action = ? AND target = ?", (action, target)
        ).fetchone()
    assert row is not None, (action, target)
    return {"actor": row[0], "detail": json.loads(row[1])}


@pytest.mark.parametrize(("language", "width"), [("ko", "phone"), ("en", "desktop")])
def test_an_order_awaiting_approval_is_approved_or_rejected_from_the_orders_page(
    browser: Browser, desk: Desk, language: str, width: str
) -> None:
    """Held orders (a strategy in manual approval) in their own section: Approve sends one to
    the running gateway, which fills it; Reject ends the other; both are audited."""
    context, page, errors = _open(browser, desk, PHONE if width == "phone" else DESKTOP)
    try:
        now = datetime.now(UTC)
        cids = ["held-" + uuid.uuid4().hex[:8] for _ in range(2)]
        rows = [
            order_row(
                krx_order(
                    cid, now, account="paper", strategy="held", quantity=1
                ).awaiting_approval()
            )
            for cid in cids
        ]
        assert record_rows(desk.up.data_dir, [("order.insert", r) for r in rows]) == [True] * 2
        page.on("dialog", lambda dialog: dialog.accept())
        page.goto(f"{desk.url}/orders?lang={language}")
        section = page.locator("#approvals")
        expect(section.locator("h2")).to_contain_text(word(language, "approvals"))
        approve = section.locator(f'tr[data-key="{cids[0]}"] button.approve')
        expect(approve).to_have_text(word(language, "approve"), timeout=WAIT_MS)
        no_horizontal_scroll(page)
        screenshot(page, f"orders-approval-{language}-{width}")
        approve.click()
        expect(page.locator("#approval-outcome")).to_contain_text(
            word(language, "approved_n"), timeout=WAIT_MS
        )
        section.locator(f'tr[data-key="{cids[1]}"] button.reject').click()
        expect(page.locator("#approval-outcome")).to_contain_text(
            word(language, "rejected_n"), timeout=WAIT_MS
        )
        expect(page.locator(f'#approvals tr[data-key="{cids[0]}"]')).to_have_count(0)
        wait_until(lambda: _status(desk, cids[0]) == "filled")
        assert _status(desk, cids[1]) == "rejected"
        for cid, after in zip(cids, ("new", "rejected"), strict=True):
            entry = _audit(desk, "order_approval", cid)
            assert entry["actor"] == "dashboard:alice"
            assert (entry["detail"]["from"], entry["detail"]["to"]) == ("awaiting_approval", after)
    finally:
        context.close()
    assert errors == [], f"errors on the dashboard: {errors}"


@pytest.mark.parametrize(("language", "width"), [("ko", "phone"), ("en", "desktop")])
def test_a_manual_order_from_the_trade_page_ends_in_the_book(
    browser: Browser, desk: Desk, language: str, width: str
) -> None:
    """The form, the engine's preview (nothing sent yet), the confirmation, the result, and
    the position of the strategy ``manual`` in the book."""
    codes = i18n.CODES[language]
    before = {o["client_order_id"] for o in desk.up.orders()}
    context, tab, errors = _open(browser, desk, PHONE if width == "phone" else DESKTOP)
    try:
        tab.goto(f"{desk.url}/trade?lang={language}")
        tab.fill("#trade-form input[name=ticker]", "KRX:005930")
        tab.fill("#trade-form input[name=quantity]", "3")
        tab.click("#preview-order")
        preview = tab.locator("#trade-preview")
        expect(preview).to_have_attribute("data-verdict", "order", timeout=WAIT_MS)
        expect(preview).to_contain_text(word(language, "preview_title"))
        expect(preview).to_contain_text("삼성전자" if language == "ko" else "005930")
        expect(preview).to_contain_text(codes["buy"])
        assert {o["client_order_id"] for o in desk.up.orders()} == before, "a preview sends nothing"
        no_horizontal_scroll(tab)
        screenshot(tab, f"trade-preview-{language}-{width}")
        tab.click("#confirm-order")
        result = tab.locator("#trade-result")
        expect(result).to_contain_text(codes["filled"], timeout=WAIT_MS)
        expect(result).to_contain_text("3 @ ₩71,000")
        screenshot(tab, f"trade-result-{language}-{width}")
        cid = result.locator("dd.id").inner_text().strip()
        tab.goto(f"{desk.url}/positions")
        row = tab.locator('table.book tr[data-key="paper:manual:KR:005930"]')
        expect(row.locator("td.num").first).to_have_text(re.compile(r"^\d+$"))
    finally:
        context.close()
    assert errors == []
    entry = _audit(desk, "order.manual", cid)
    assert entry["actor"] == "dashboard:alice"
    assert entry["detail"]["after"] == "filled" and entry["detail"]["quantity"] == "3"


def test_an_order_the_form_cannot_make_is_refused_with_its_reason(page: Page, desk: Desk) -> None:
    page.goto(f"{desk.url}/trade?lang=en")
    page.fill("#trade-form input[name=ticker]", "KRX:005930")
    page.fill("#trade-form input[name=quantity]", "-1")
    page.click("#preview-order")
    expect(page.locator("#trade-refused")).to_have_attribute("data-code", "bad_quantity")
    expect(page.locator("#trade-refused")).to_contain_text(i18n.CODES["en"]["bad_quantity"])
    page.fill("#trade-form input[name=ticker]", "NOPE:1")
    page.fill("#trade-form input[name=quantity]", "1")
    page.click("#preview-order")
    expect(page.locator("#trade-refused")).to_have_attribute("data-code", "unknown_exchange")


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_the_pages_follow_the_systems_colour_scheme(
    browser: Browser, desk: Desk, scheme: str
) -> None:
    context = browser.new_context(viewport=PHONE, storage_state=desk.session, color_scheme=scheme)
    tab = context.new_page()
    try:
        tab.goto(f"{desk.url}/orders?lang=ko")
        expect(tab.locator("main h1")).to_have_text("주문")
        background = tab.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == ("rgb(15, 17, 21)" if scheme == "dark" else "rgb(246, 247, 249)")
        screenshot(tab, f"orders-ko-phone-{scheme}")
    finally:
        context.close()


# (language, what is typed, the instrument picked, a word of its name): KRX's files name a
# share in Korean only, the US files in both.
LOOKUPS = [
    ("ko", "삼성전", "KOSPI:005930", "삼성전자"),
    ("en", "apple", "NASDAQ:AAPL", "APPLE INC"),
    ("ko", "애플", "NASDAQ:AAPL", "애플"),
]


@pytest.mark.parametrize(("language", "typed", "symbol", "name"), LOOKUPS)
def test_the_trade_form_looks_a_ticker_up_by_its_name(
    page: Page, desk: Desk, language: str, typed: str, symbol: str, name: str
) -> None:
    page.goto(f"{desk.url}/trade?lang={language}")
    field = page.locator("#trade-form input[name=ticker]")
    field.press_sequentially(typed, delay=30)
    pick = page.locator(f'#lookup-list button[data-fill="{symbol}"]')
    expect(pick).to_contain_text(name, timeout=WAIT_MS)
    expect(page.locator(f'#ticker-options option[value="{symbol}"]')).to_have_count(1)
    screenshot(page, f"trade-lookup-{language}-{symbol.replace(':', '-')}-desktop")
    pick.click()
    expect(field).to_have_value(symbol)
    expect(page.locator("#lookup-list")).to_have_count(0)
    field.fill("")
    field.press_sequentially("zzzq", delay=30)
    expect(page.locator("#lookup-none")).to_have_text(word(language, "lookup_none"))


@pytest.mark.parametrize(("language", "width"), [("en", "phone"), ("ko", "desktop")])
def test_a_quick_order_from_a_book_row_is_previewed_confirmed_and_booked(
    browser: Browser, desk: Desk, language: str, width: str
) -> None:
    """Buy 1 from the demo strategy's row: the preview (nothing sent), the confirmation, the
    order filled, and the strategy ``manual`` holding it in the book; then the exit of the
    whole manual position from its own row."""
    codes = i18n.CODES[language]
    before = {o["client_order_id"] for o in desk.up.orders()}
    context, tab, errors = _open(browser, desk, PHONE if width == "phone" else DESKTOP)
    try:
        tab.goto(f"{desk.url}/positions?lang={language}")
        row = tab.locator('table.book tr[data-key="paper:demo:KR:005930"]')
        row.locator("form.quick-order input[name=quantity]").fill("1")
        row.locator("button.quick-buy").click()
        preview = tab.locator("#trade-preview")
        expect(preview).to_have_attribute("data-verdict", "order", timeout=WAIT_MS)
        expect(preview).to_contain_text(codes["buy"])
        assert {o["client_order_id"] for o in desk.up.orders()} == before, "a preview sends nothing"
        no_horizontal_scroll(tab)
        tab.click("#confirm-order")
        expect(tab.locator("#trade-result")).to_contain_text(codes["filled"], timeout=WAIT_MS)
        tab.goto(f"{desk.url}/positions?lang={language}")
        manual = tab.locator('table.book tr[data-key="paper:manual:KR:005930"]')
        held = manual.locator("td.num").first.inner_text()
        assert int(held) >= 1
        no_horizontal_scroll(tab)
        screenshot(tab, f"positions-quick-{language}-{width}")
        # A strategy's shares are sold through the liquidation page (booked to it).
        demo = tab.locator('table.book tr[data-key="paper:demo:KR:005930"]')
        expect(demo.locator("a.quick-liquidate")).to_have_attribute(
            "href", "/liquidate?account=paper&strategy=demo&market=KR&ticker=005930"
        )
        expect(demo.locator("button.quick-exit")).to_have_count(0)
        manual.locator("button.quick-exit").click()
        preview = tab.locator("#trade-preview")
        expect(preview).to_have_attribute("data-verdict", "order", timeout=WAIT_MS)
        expect(preview).to_contain_text(codes["sell"])
        expect(preview).to_contain_text(held)
        tab.click("#confirm-order")
        expect(tab.locator("#trade-result")).to_contain_text(codes["filled"], timeout=WAIT_MS)
        tab.goto(f"{desk.url}/positions?lang={language}")
        expect(manual.locator("td.num").first).to_have_text("0")
    finally:
        context.close()
    assert errors == []


def test_a_form_sent_with_another_sessions_token_is_refused(browser: Browser, desk: Desk) -> None:
    """CSRF in the browser: the quick order's form with its token altered is refused (403,
    ``csrf_refused``) and nothing is previewed, recorded or sent."""
    before = {o["client_order_id"] for o in desk.up.orders()}
    context, tab, errors = _open(browser, desk, DESKTOP)
    try:
        tab.goto(f"{desk.url}/positions?lang=en")
        form = tab.locator('table.book tr[data-key="paper:demo:KR:005930"] form.quick-order')
        form.locator("input[name=csrf]").evaluate("input => { input.value = 'x'.repeat(43); }")
        form.locator("input[name=quantity]").fill("1")
        with tab.expect_response(lambda r: r.url.endswith("/trade/preview")) as sent:
            form.locator("button.quick-buy").click()
        assert sent.value.status == 403
        assert sent.value.json()["code"] == "csrf_refused"
        expect(tab.locator("#trade-preview")).to_have_count(0)
    finally:
        context.close()
    assert {o["client_order_id"] for o in desk.up.orders()} == before
    # The browser reports the refusal (and the favicon of the JSON answer) as failed loads.
    assert all("Failed to load resource" in e for e in errors), errors
