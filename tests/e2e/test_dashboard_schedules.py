"""`/schedules` in a real headless Chromium against a real `yquant up`: add a schedule through
the two-step form (checked, shown with its next firing and the estimated quantity, then saved),
a refusal naming the field, pause and resume, and the run history; in Korean and English, at
desktop and phone (390 px) width, with no horizontal page scroll and a screenshot of each."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.dashboard_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
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

WAIT_MS = 20_000


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[YquantUp, Any, Browser]]:
    up = YquantUp(tmp_path_factory.mktemp("dashboard-schedules") / "data").start()
    try:
        add_users(up.data_dir, "alice")
        # A filled alert: 005930's last price seen (71,000), which the estimate uses.
        reply = up.post(up.alert(id="sched-" + uuid.uuid4().hex[:8], quantity="1"))
        assert reply.status_code == 200, reply.text
        wait_until(lambda: any(o["status"] == "filled" for o in up.orders()))
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            context = browser.new_context(viewport=DESKTOP)
            tab = context.new_page()
            tab.goto(up.dashboard_url)
            tab.fill("input[name=name]", "alice")
            tab.fill("input[name=password]", PASSWORD)
            tab.click("form button[type=submit]")
            expect(tab.locator("h1")).to_have_text(word("en", "nav_overview"), timeout=WAIT_MS)
            session = context.storage_state()
            context.close()
            try:
                yield up, session, browser
            finally:
                browser.close()
    finally:
        assert up.stop() == 0, up.log()


def _url(up: YquantUp) -> str:
    return str(up.dashboard_url).rstrip("/")


def _open(desk: tuple[YquantUp, Any, Browser], viewport: dict[str, int]) -> tuple[Any, Page]:
    _, session, browser = desk
    context = browser.new_context(viewport=viewport, storage_state=session)
    return context, context.new_page()


def _audit(up: YquantUp, action: str) -> list[dict[str, Any]]:
    with sqlite3.connect(up.data_dir / "yquant.sqlite3") as db:
        rows = db.execute(
            "SELECT actor, target, detail FROM audit_log WHERE action = ? ORDER BY id", (action,)
        ).fetchall()
    return [{"actor": a, "target": t, "detail": json.loads(d)} for a, t, d in rows]


@pytest.mark.parametrize(
    ("language", "width"), [("ko", "phone"), ("en", "desktop"), ("ko", "desktop"), ("en", "phone")]
)
def test_a_schedule_is_checked_saved_paused_resumed_and_edited_from_the_dashboard(
    desk: tuple[YquantUp, Any, Browser], language: str, width: str
) -> None:
    up = desk[0]
    name = f"dca-{language}-{width}"
    context, tab = _open(desk, PHONE if width == "phone" else DESKTOP)
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        tab.goto(f"{_url(up)}/schedules?lang={language}")
        expect(tab.locator("main h1")).to_have_text(word(language, "nav_schedules"))
        no_horizontal_scroll(tab)
        _add(tab, name, language, width)
        _pause_and_resume(tab, name, language)
        _edit(tab, name, language)
    finally:
        context.close()
    assert errors == []
    saved = [e for e in _audit(up, "schedule.add") if e["target"] == name]
    assert [e["actor"] for e in saved] == ["dashboard:alice"]
    assert saved[0]["detail"]["amount"] == "1000000"
    assert [e["target"] for e in _audit(up, "schedule.pause")].count(name) == 1
    [edited] = [e for e in _audit(up, "schedule.edit") if e["target"] == name]
    assert edited["detail"]["offset_min"] == 45 and edited["actor"] == "dashboard:alice"


def _add(tab: Page, name: str, language: str, width: str) -> None:
    form = tab.locator("#schedule-form form.schedule")
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=ticker]").fill("KRX:005930")
    form.locator("input[name=amount]").fill("1,000,000")
    form.locator("input[name=time_kind][value=after_open]").check()
    form.locator("input[name=offset_min]").fill("30")
    tab.click("#check-schedule")
    checked = tab.locator("#schedule-checked")
    expect(checked).to_contain_text(word(language, "sched_checked"), timeout=WAIT_MS)
    # 1,000,000 KRW at 71,000: 14 shares; the next firing in KST (the market's own time).
    expect(tab.locator("#schedule-estimate")).to_have_text("14")
    expect(checked.locator("dd.next-local")).to_contain_text(":30 KST")
    expect(checked).to_contain_text(word(language, "sched_after_open", n=30))
    no_horizontal_scroll(tab)
    screenshot(tab, f"schedules-check-{language}-{width}")
    tab.click("#save-schedule")
    expect(tab.locator("#schedule-done")).to_have_attribute("data-done", "saved")
    row = tab.locator(f'#schedule-list tr[data-name="{name}"]')
    expect(row).to_contain_text("KRX:005930")
    expect(row.locator("td.next-kst")).to_contain_text("KST")
    no_horizontal_scroll(tab)
    screenshot(tab, f"schedules-list-{language}-{width}")


def _pause_and_resume(tab: Page, name: str, language: str) -> None:
    row = tab.locator(f'#schedule-list tr[data-name="{name}"]')
    row.locator("button").click()
    expect(tab.locator("#schedule-done")).to_have_attribute("data-done", "paused")
    expect(row).to_have_attribute("data-paused", "yes")
    expect(row.locator("td.next-local")).to_have_text(word(language, "sched_paused"))
    row.locator("button").click()
    expect(tab.locator("#schedule-done")).to_have_attribute("data-done", "resumed")
    expect(row).to_have_attribute("data-paused", "no")


def _edit(tab: Page, name: str, language: str) -> None:
    """The form comes back filled in, the name fixed; 45 minutes before the close instead."""
    form = tab.locator("#schedule-form form.schedule")
    tab.locator(f'#schedule-list tr[data-name="{name}"] a').first.click()
    expect(form.locator("input[name=name]")).to_have_value(name)
    expect(form.locator("input[name=amount]")).to_have_value("1000000")
    form.locator("input[name=time_kind][value=before_close]").check()
    form.locator("input[name=offset_min]").fill("45")
    tab.click("#check-schedule")
    expect(tab.locator("#schedule-checked dd.next-local")).to_contain_text("14:45 KST")
    tab.click("#save-schedule")
    expect(tab.locator("#schedule-done")).to_have_attribute("data-done", "saved")
    row = tab.locator(f'#schedule-list tr[data-name="{name}"]')
    expect(row).to_contain_text(word(language, "sched_before_close", n=45))


@pytest.mark.parametrize("language", ["ko", "en"])
def test_a_fixed_time_outside_the_session_is_refused_naming_the_field(
    desk: tuple[YquantUp, Any, Browser], language: str
) -> None:
    up = desk[0]
    context, tab = _open(desk, PHONE)
    try:
        tab.goto(f"{_url(up)}/schedules?lang={language}")
        form = tab.locator("#schedule-form form.schedule")
        form.locator("input[name=name]").fill(f"early-{language}")
        form.locator("input[name=ticker]").fill("KRX:005930")
        form.locator("input[name=quantity]").fill("1")
        form.locator("input[name=local_time]").fill("08:00")
        tab.click("#check-schedule")
        problem = tab.locator('#schedule-problems li[data-field="local_time"]')
        expect(problem).to_contain_text("09:00-15:30", timeout=WAIT_MS)
        expect(tab.locator("#schedule-problems")).to_contain_text(word(language, "sched_refused"))
        # The form keeps what was typed.
        expect(form.locator("input[name=local_time]")).to_have_value("08:00")
        no_horizontal_scroll(tab)
        screenshot(tab, f"schedules-refused-{language}-phone")
        assert tab.locator(f'#schedule-list tr[data-name="early-{language}"]').count() == 0
    finally:
        context.close()


def test_the_run_history_shows_a_recorded_run_in_the_operators_language(
    desk: tuple[YquantUp, Any, Browser],
) -> None:
    """A run as the scheduler records it (a skipped holiday), shown with its reason's words."""
    up = desk[0]
    with sqlite3.connect(up.data_dir / "yquant.sqlite3") as db:
        db.execute(
            "INSERT INTO schedule_runs (schedule_id, schedule_name, session_date, due_at, status,"
            " reason, detail, worker, claimed_at, updated_at) VALUES (999, 'chuseok', "
            "'2026-09-24', '2026-09-23 15:00:00', 'skipped', 'market_holiday', "
            "'no session on this day', 'local', '2026-09-23 15:00:00', '2026-09-23 15:00:00')"
        )
    context, tab = _open(desk, PHONE)
    try:
        for language in ("ko", "en"):
            tab.goto(f"{_url(up)}/schedules?lang={language}&name=chuseok")
            row = tab.locator('#schedule-runs tr[data-name="chuseok"]')
            expect(row).to_contain_text(i18n.CODES[language]["skipped"])
            expect(row).to_contain_text(i18n.CODES[language]["market_holiday"])
            no_horizontal_scroll(tab)
            screenshot(tab, f"schedules-runs-{language}-phone")
    finally:
        context.close()
