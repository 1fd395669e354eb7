"""The operator dashboard in a real headless Chromium, against a real `yquant up`.

The browser is Debian's Chromium (/usr/bin/chromium) driven by Playwright's sync API; nothing is
downloaded. One `yquant up` serves the whole module; every test opens its own browser context.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support import YquantUp, record_rows, refused_order, wait_until
from yquant.adapters.db.rows import order_row
from yquant.domain.reasons import ReasonCode
from yquant.entrypoints import i18n

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The page polls every 2 s and the paper broker fills at once: a few polls are plenty.
WAIT_MS = 20_000
ORDER_HEADINGS = (
    "time",
    "order",
    "account",
    "ticker",
    "side",
    "quantity",
    "filled",
    "avg_price",
    "status",
    "reason",
)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[YquantUp]:
    server = YquantUp(tmp_path_factory.mktemp("dashboard-browser") / "data").start()
    try:
        yield server
    finally:
        assert server.stop() == 0, server.log()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield tab
    finally:
        context.close()
    assert errors == [], f"JavaScript errors on the dashboard: {errors}"


def _filled_order(up: YquantUp, signal_key: str) -> dict | None:
    for order in up.orders():
        if order["signal_id"] == signal_key and order["status"] == "filled":
            return order
    return None


def _wait_first_render(page: Page) -> None:
    """The page has fetched /api/summary at least once and drawn the result."""
    ready = page.locator("#ready")
    expect(ready).to_have_class("chip up", timeout=WAIT_MS)
    expect(page.locator("#updated")).not_to_have_text("-", timeout=WAIT_MS)
    expect(page.locator("#error")).to_be_hidden()


def test_a_new_alert_shows_up_on_an_open_dashboard_without_reload(
    up: YquantUp, page: Page, tmp_path: Path
) -> None:
    en, words = i18n.MESSAGES["en"], i18n.CODES["en"]
    page.goto(up.dashboard_url)
    _wait_first_render(page)
    expect(page.locator("#ready")).to_have_text(f"{en['ready']} · local")
    # Health checks in English words; the raw check and state stay in the tooltip.
    for name in ("database", "valkey", "webhook", "engine", "gateway", "dashboard"):
        chip = page.locator(f'#health [data-check="{name}"]')
        expect(chip).to_have_text(f"{words[name]}: {words['up']}")
        expect(chip).to_have_attribute("title", f"{name}: up")
        expect(chip).to_have_class("chip up")
    assert (words["database"], words["up"]) == ("Database", "Up")
    expect(page.locator('#health [data-check="journal"]')).to_have_text(
        f"{words['journal']}: {en['depth']} 0"
    )

    # A marker in the window survives only if the page is never reloaded.
    page.evaluate("window.__sameDocument = true")

    alert_id = "browser-" + uuid.uuid4().hex[:8]
    reply = up.post(up.alert(id=alert_id, quantity="2", price="71000"))
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "accepted"
    signal_key = reply.json()["signal"]

    order = wait_until(lambda: _filled_order(up, signal_key))
    client_order_id = order["client_order_id"]

    # Statuses, actions and sides in English words; the raw code stays in the tooltip.
    signal_row = page.locator(f'#signals tbody tr[data-key="{signal_key}"]')
    ordered = signal_row.locator("td.st-ordered")
    expect(ordered).to_have_text(words["ordered"], timeout=WAIT_MS)
    expect(ordered).to_have_attribute("title", "ordered")
    expect(signal_row.locator("td").nth(1)).to_have_text("demo")
    expect(signal_row.locator("td").nth(2)).to_have_text("KRX:005930")
    expect(signal_row.locator("td").nth(3)).to_have_text(words["buy"])
    expect(signal_row.locator("td").nth(3)).to_have_attribute("title", "buy")
    assert (words["ordered"], words["filled"], words["buy"]) == ("Ordered", "Filled", "Buy")

    order_row = page.locator(f'#orders tbody tr[data-key="{client_order_id}"]')
    filled = order_row.locator("td.st-filled")
    expect(filled).to_have_text(words["filled"], timeout=WAIT_MS)
    expect(filled).to_have_attribute("title", "filled")
    expect(order_row.locator("td").nth(1)).to_have_text(client_order_id)
    expect(order_row.locator("td").nth(2)).to_have_text("paper")
    expect(order_row.locator("td").nth(4)).to_have_text(words["buy"])
    expect(order_row.locator("td").nth(4)).to_have_attribute("title", "buy")
    expect(order_row.locator("td.num")).to_have_text(["2", "2", "71000"])

    fill_row = page.locator("#fills tbody tr").filter(
        has=page.locator("td", has_text=client_order_id)
    )
    expect(fill_row).to_have_count(1, timeout=WAIT_MS)
    assert fill_row.get_attribute("data-key"), "a fill row carries its fill_id"
    expect(fill_row.locator("td").nth(3)).to_have_text("005930")
    expect(fill_row.locator("td").nth(4)).to_have_text(words["buy"])
    expect(fill_row.locator("td").nth(4)).to_have_attribute("title", "buy")
    expect(fill_row.locator("td.num").nth(0)).to_have_text("2")
    expect(fill_row.locator("td.num").nth(1)).to_have_text("71000")

    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"

    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0


def test_korean_dashboard_speaks_korean(up: YquantUp, page: Page) -> None:
    ko = i18n.MESSAGES["ko"]
    page.goto(up.dashboard_url + "?lang=ko")
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page).to_have_title(ko["title"])
    expect(page.locator("header h1")).to_have_text(ko["title"])
    expect(page.locator("section:has(#signals) > h2")).to_have_text(ko["signals"])
    expect(page.locator("section:has(#orders) > h2")).to_have_text(ko["orders"])
    expect(page.locator("section:has(#fills) > h2")).to_have_text(ko["fills"])
    expect(page.locator("#orders thead th")).to_have_text([ko[k] for k in ORDER_HEADINGS])
    _wait_first_render(page)
    expect(page.locator("#ready")).to_contain_text(ko["ready"])

    # Statuses, sides, reason codes and health checks are in Korean; the raw code stays in the
    # tooltip.
    codes = i18n.CODES["ko"]
    database = page.locator('#health [data-check="database"]')
    expect(database).to_have_text(f"{codes['database']}: {codes['up']}")
    expect(database).to_have_attribute("title", "database: up")
    reply = up.post(up.alert(id="ko-" + uuid.uuid4().hex[:8], quantity="1", price="71000"))
    assert reply.status_code == 200, reply.text
    signal_key = reply.json()["signal"]
    order = wait_until(lambda: _filled_order(up, signal_key))
    ordered = page.locator(f'#signals tbody tr[data-key="{signal_key}"] td.st-ordered')
    expect(ordered).to_have_text(codes["ordered"], timeout=WAIT_MS)
    expect(ordered).to_have_attribute("title", "ordered")
    action = page.locator(f'#signals tbody tr[data-key="{signal_key}"] td').nth(3)
    expect(action).to_have_text(codes["buy"])
    expect(action).to_have_attribute("title", "buy")
    order_row = page.locator(f'#orders tbody tr[data-key="{order["client_order_id"]}"]')
    filled = order_row.locator("td.st-filled")
    expect(filled).to_have_text(codes["filled"], timeout=WAIT_MS)
    side = order_row.locator("td").nth(4)
    expect(side).to_have_text("매수")
    expect(side).to_have_attribute("title", "buy")
    fill_row = page.locator("#fills tbody tr").filter(
        has=page.locator("td", has_text=order["client_order_id"])
    )
    expect(fill_row.locator("td").nth(4)).to_have_text("매수", timeout=WAIT_MS)
    wrong = up.post(up.alert(secret="wrong-" + uuid.uuid4().hex[:6], id="ko-bad"))
    assert wrong.status_code == 401
    reason = page.locator('#signals tbody td[title="bad_secret"]').first
    expect(reason).to_have_text(codes["bad_secret"], timeout=WAIT_MS)
    rejected = page.locator('#signals tbody tr:has(td[title="bad_secret"]) td.st-rejected').first
    expect(rejected).to_have_text(codes["rejected"])

    # An unknown language falls back to the configured one (English) and is never echoed.
    page.goto(up.dashboard_url + '?lang="><b id=injected>x</b>')
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("section:has(#orders) > h2")).to_have_text(i18n.MESSAGES["en"]["orders"])
    expect(page.locator("#injected")).to_have_count(0)


def test_alert_text_is_shown_as_text_not_html(up: YquantUp, page: Page) -> None:
    payload = "<img src=x onerror=window.__xss=1>"
    page.goto(up.dashboard_url)
    _wait_first_render(page)

    reply = up.post(up.alert(id="xss-" + uuid.uuid4().hex[:8], strategy=payload, comment=payload))
    assert reply.status_code == 200, reply.text
    signal_key = reply.json()["signal"]

    row = page.locator(f'#signals tbody tr[data-key="{signal_key}"]')
    expect(row.locator("td").nth(1)).to_have_text(payload, timeout=WAIT_MS)
    expect(row.locator("td.st-ordered")).to_have_text(i18n.CODES["en"]["ordered"], timeout=WAIT_MS)
    expect(page.locator("main img")).to_have_count(0)

    # Control: the same markup parsed as HTML does run here (the page's CSP allows inline
    # handlers), so had the table used it as HTML, window.__xss would have been set too.
    # (The handler marks the DOM rather than a window variable: the page's CSP forbids eval, so
    # Playwright cannot poll a JavaScript expression there, but it can wait on an attribute.)
    page.evaluate(
        "document.body.insertAdjacentHTML('beforeend',"
        " '<img id=control src=x onerror=document.body.dataset.control=1>')"
    )
    expect(page.locator("body")).to_have_attribute("data-control", "1", timeout=WAIT_MS)
    assert page.evaluate("typeof window.__xss") == "undefined"


def test_rejections_show_their_reason_and_source_but_never_the_secret(
    up: YquantUp, page: Page
) -> None:
    wrong = "not-the-secret-" + uuid.uuid4().hex[:6]
    reply = up.post(up.alert(secret=wrong, id="bad-" + uuid.uuid4().hex[:6]))
    assert reply.status_code == 401
    page.goto(up.dashboard_url)
    row = page.locator('#signals tbody tr:has(td[title="bad_secret"])').first
    expect(row).to_be_visible(timeout=20_000)
    expect(row.locator('td[title="bad_secret"]')).to_have_text(i18n.CODES["en"]["bad_secret"])
    expect(row).to_contain_text("127.0.0.1")
    assert wrong not in page.content()


@pytest.mark.parametrize("language", ["ko", "en"])
def test_a_refused_order_shows_why_in_the_operators_language(
    up: YquantUp, page: Page, language: str
) -> None:
    """An order the broker refused carries its reason code: the page shows its words, the code
    in the tooltip. (Written as the gateway records a refusal: the engine's sizing keeps the
    paper venue from refusing orders on its own.)"""
    cid = "refused-" + uuid.uuid4().hex[:8]
    refused = refused_order(cid, ReasonCode.INSUFFICIENT_CASH, datetime.now(UTC))
    assert record_rows(up.data_dir, [("order.insert", order_row(refused))]) == [True]
    words = i18n.CODES[language]
    page.goto(up.dashboard_url + f"?lang={language}")
    row = page.locator(f'#orders tbody tr[data-key="{cid}"]')
    reason = row.locator("td").last
    expect(reason).to_have_text(words[ReasonCode.INSUFFICIENT_CASH], timeout=WAIT_MS)
    expect(reason).to_have_attribute("title", ReasonCode.INSUFFICIENT_CASH)
    expect(row.locator("td.st-rejected")).to_have_text(words["rejected"])
    expect(row.locator("td.st-rejected")).to_have_attribute("title", "rejected")
    if language == "en":
        assert words[ReasonCode.INSUFFICIENT_CASH] == "Insufficient cash"
