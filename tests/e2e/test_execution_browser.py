"""/performance/execution in Chromium: the percentiles per group with their bars, followed from
the performance page, in Korean and English, at desktop and phone (390 px) width without a
horizontal page scroll and without a script or style error (the page has no inline style for
the Content-Security-Policy to refuse); screenshots under test-artifacts/screenshots."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import Browser, expect

from tests.dashboard_support import (
    DESKTOP,
    PASSWORD,
    PHONE,
    DashboardProcess,
    Heartbeats,
    no_horizontal_scroll,
    screenshot,
)
from tests.integration.entrypoints.test_reports_cli import record_path
from tests.support import ValkeyProcess
from yquant.entrypoints.dashboard.words import WORDS
from yquant.entrypoints.i18n import MESSAGES

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture(scope="module")
def dashboard(
    tmp_path_factory: pytest.TempPathFactory, valkey: ValkeyProcess
) -> Iterator[DashboardProcess]:
    root = tmp_path_factory.mktemp("execution")
    d = DashboardProcess(root / "data", valkey.url)
    d.prepare("alice")
    url = f"sqlite+aiosqlite:///{d.data_dir / 'yquant.sqlite3'}"
    # In a thread of its own: Playwright's sync API holds this thread's event loop.
    with ThreadPoolExecutor(1) as other:
        other.submit(asyncio.run, record_path(url, root / "journal.sqlite3")).result()
    d.start()
    try:
        with Heartbeats(valkey.url):
            yield d
    finally:
        d.stop()


@pytest.mark.parametrize("width", ["desktop", "phone"])
@pytest.mark.parametrize("language", ["ko", "en"])
def test_the_execution_page_in_both_languages_and_widths(
    browser: Browser, dashboard: DashboardProcess, language: str, width: str
) -> None:
    tab = browser.new_context(
        viewport=DESKTOP if width == "desktop" else PHONE, color_scheme="light"
    ).new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        tab.goto(f"{dashboard.url}/login")
        tab.fill("input[name=name]", "alice")
        tab.fill("input[name=password]", PASSWORD)
        tab.click("form button[type=submit]")
        expect(tab.locator("main h1")).to_be_visible()
        tab.goto(f"{dashboard.url}/performance?lang={language}")
        tab.click("#perf-execution")
        expect(tab.locator("main h1")).to_have_text(WORDS[language]["exec_page"])
        tab.fill("input[name=from]", "2026-12-01")
        tab.fill("input[name=to]", "2026-12-01")
        tab.click("form.filters button[type=submit]")
        expect(tab.locator("section.exec-group")).to_have_count(3)
        alpha = tab.locator('section[data-key="alpha|KR|paper"]')
        decided = alpha.locator('tr[data-measure="hop_received_decided"]')
        expect(decided.locator("td").first).to_have_text(MESSAGES[language]["hop_received_decided"])
        expect(decided.locator('td[data-p="p95"] .bar-value')).to_have_text("0.808 s")
        expect(alpha.locator('tr[data-measure="exec_slippage"] td[data-p="p50"]')).to_contain_text(
            "28.17 bp"
        )
        expect(alpha.locator("meter").first).to_be_visible()
        no_horizontal_scroll(tab)
        screenshot(tab, f"execution-{language}-{width}")
    finally:
        tab.context.close()
    assert errors == [], f"errors on /performance/execution: {errors}"
