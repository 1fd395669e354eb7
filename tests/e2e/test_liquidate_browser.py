"""`/liquidate` in a real headless Chromium, against a real `yquant up` (paper broker, SQLite).

For each language and width: a strategy's position and a working order of it are made through
the webhook; the page's filter shows the plan (the position, its estimated proceeds, the working
order to cancel; nothing sent yet), the confirmation carries it out, and the result shows the
liquidation's id with the cancel and the sell filled; the book is flat afterwards and the audit
log has the user's entry. No horizontal page scroll at 390 px; screenshots under
test-artifacts/screenshots.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
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
from tests.support import YquantUp, wait_until
from yquant.entrypoints import i18n

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

WAIT_MS = 30_000


class Desk:
    def __init__(self, up: YquantUp, session: dict[str, Any]) -> None:
        self.up = up
        self.session = session
        self.url = up.dashboard_url.rstrip("/")

    def order(self, signal_key: str, status: str) -> dict[str, Any] | None:
        for order in self.up.orders():
            if order["signal_id"] == signal_key and order["status"] == status:
                return order
        return None

    def trade(self, status: str, **fields: Any) -> dict[str, Any]:
        reply = self.up.post(self.up.alert(id="liq-" + uuid.uuid4().hex[:8], **fields))
        assert reply.status_code == 200, reply.text
        found = wait_until(lambda: self.order(reply.json()["signal"], status))
        assert found is not None
        return found


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[Desk]:
    up = YquantUp(tmp_path_factory.mktemp("liquidate-browser") / "data").start()
    try:
        add_users(up.data_dir, "alice")
        context = browser.new_context(viewport=DESKTOP)
        tab = context.new_page()
        tab.goto(up.dashboard_url)
        tab.fill("input[name=name]", "alice")
        tab.fill("input[name=password]", PASSWORD)
        tab.click("form button[type=submit]")
        expect(tab.locator("h1")).to_have_text(word("en", "nav_overview"), timeout=WAIT_MS)
        session = context.storage_state()
        context.close()
        yield Desk(up, session)
    finally:
        assert up.stop() == 0, up.log()


def _open(browser: Browser, desk: Desk, viewport: dict[str, int]) -> tuple[Any, Page, list[str]]:
    context = browser.new_context(viewport=viewport, storage_state=desk.session)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return context, tab, errors


def _audit(desk: Desk, target: str) -> dict[str, Any]:
    with sqlite3.connect(desk.up.data_dir / "yquant.sqlite3") as db:
        row = db.execute(
            "SELECT actor, detail FROM audit_log WHERE action = 'liquidation' AND target = ?",
            (target,),
        ).fetchone()
    assert row is not None, target
    return {"actor": row[0], "detail": json.loads(row[1])}


@pytest.mark.parametrize("width", ["desktop", "phone"])
@pytest.mark.parametrize("language", ["ko", "en"])
def test_a_strategy_is_liquidated_from_the_page_after_its_plan_is_confirmed(
    browser: Browser, desk: Desk, language: str, width: str
) -> None:
    codes = i18n.CODES[language]
    strategy = f"liq{language}{width}"
    desk.trade("filled", strategy=strategy, quantity=3)
    working = desk.trade(
        "accepted", strategy=strategy, quantity=1, order_type="limit", limit_price=50000
    )
    other = desk.trade("filled", strategy=f"keep{language}{width}", quantity=2)
    before = {o["client_order_id"] for o in desk.up.orders()}
    context, tab, errors = _open(browser, desk, PHONE if width == "phone" else DESKTOP)
    try:
        tab.goto(f"{desk.url}/liquidate?lang={language}")
        expect(tab.locator("main h1")).to_contain_text(word(language, "nav_liquidate"))
        tab.fill("#liquidate-form input[name=strategy]", strategy)
        tab.click("#show-plan")
        plan = tab.locator("#liquidate-plan")
        expect(plan).to_have_attribute("data-ready", "yes", timeout=WAIT_MS)
        expect(plan).to_contain_text(word(language, "liq_plan_title"))
        row = plan.locator(f'#liquidate-items tr[data-key="paper:{strategy}:KR:005930"]')
        expect(row).to_contain_text("삼성전자" if language == "ko" else "005930")
        expect(row.locator("td.num").first).to_have_text("3")
        expect(plan.locator('#liquidate-proceeds [data-currency="KRW"]')).to_have_text("₩213,000")
        expect(plan.locator("#liquidate-items tbody tr")).to_have_count(1)  # not the other's
        cancel = plan.locator(f'#liquidate-working tr[data-key="{working["client_order_id"]}"]')
        expect(cancel).to_contain_text(codes["buy"])
        assert {o["client_order_id"] for o in desk.up.orders()} == before, "a plan sends nothing"
        no_horizontal_scroll(tab)
        screenshot(tab, f"liquidate-plan-{language}-{width}")

        tab.click("#confirm-liquidate")
        result = tab.locator("#liquidate-result")
        expect(result).to_have_attribute("data-status", "done", timeout=WAIT_MS)
        expect(result).to_contain_text(codes["done"])
        expect(result.locator("#liquidate-cancels")).to_contain_text(word(language, "cancel_done"))
        expect(result.locator("#liquidate-sells")).to_contain_text(codes["filled"])
        liquidation_id = result.locator("dd.id").inner_text().strip()
        assert len(liquidation_id) == 12
        expect(tab.locator(f'#liquidations tr[data-key="{liquidation_id}"]')).to_be_visible()
        no_horizontal_scroll(tab)
        screenshot(tab, f"liquidate-result-{language}-{width}")
    finally:
        context.close()
    assert errors == []
    orders = {o["client_order_id"]: o for o in desk.up.orders()}
    assert orders[working["client_order_id"]]["status"] == "cancelled"
    assert orders[other["client_order_id"]]["status"] == "filled"
    sells = [o for cid, o in orders.items() if cid not in before and o["side"] == "sell"]
    assert [(o["strategy"], o["quantity"], o["status"]) for o in sells] == [
        (strategy, "3", "filled")
    ]
    entry = _audit(desk, liquidation_id)
    assert entry["actor"] == "dashboard:alice"
    assert entry["detail"]["after"] == "done"
    assert entry["detail"]["before"] == [
        {"account": "paper", "strategy": strategy, "ticker": "KOSPI:005930", "quantity": "3"}
    ]
    assert entry["detail"]["cancelled"] == [working["client_order_id"]]


def test_nothing_to_sell_is_refused_with_its_reason_and_no_confirmation(
    browser: Browser, desk: Desk
) -> None:
    context, tab, errors = _open(browser, desk, PHONE)
    try:
        tab.goto(f"{desk.url}/liquidate?lang=en")
        tab.fill("#liquidate-form input[name=strategy]", "nobody")
        tab.click("#show-plan")
        refused = tab.locator("#liquidate-plan-refused")
        expect(refused).to_have_attribute("data-code", "no_position", timeout=WAIT_MS)
        expect(refused).to_contain_text(i18n.CODES["en"]["no_position"])
        expect(tab.locator("#confirm-liquidate")).to_have_count(0)
        no_horizontal_scroll(tab)
    finally:
        context.close()
    assert errors == []
