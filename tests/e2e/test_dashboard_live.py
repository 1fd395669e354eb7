"""The dashboard's live state in Chromium, against a `yquant dashboard` of its own: a server
that cannot be reached turns every status grey with "offline since", never a stale green; a
halt is a red banner and a red header, never a green "ready"; the switch set from the page is
audited under the signed-in user."""

from __future__ import annotations

import re
from collections.abc import Iterator
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
from tests.support import ValkeyProcess, yquant, yquant_json
from yquant.entrypoints import i18n
from yquant.entrypoints.dashboard.words import WORDS

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

WAIT_MS = 20_000
GREY = "rgb(140, 149, 159)"  # --grey, light scheme
GREEN = "rgb(26, 127, 55)"  # --ok, light scheme


@pytest.fixture
def dashboard(tmp_path: Path, valkey: ValkeyProcess) -> Iterator[DashboardProcess]:
    d = DashboardProcess(tmp_path / "data", valkey.url).prepare("alice").start()
    try:
        with Heartbeats(valkey.url):
            yield d
    finally:
        d.stop()


def _signed_in(browser: Browser, d: DashboardProcess, language: str, viewport: dict) -> Page:
    tab = browser.new_context(viewport=viewport, color_scheme="light").new_page()
    tab.goto(f"{d.url}/?lang={language}")
    tab.fill("input[name=name]", "alice")
    tab.fill("input[name=password]", PASSWORD)
    tab.click("form button[type=submit]")
    expect(tab.locator("main h1")).to_have_text(WORDS[language]["nav_overview"])
    return tab


def _color(tab: Page, selector: str) -> str:
    return str(tab.eval_on_selector(selector, "el => getComputedStyle(el).color"))


@pytest.mark.parametrize(("language", "width"), [("ko", "phone"), ("en", "desktop")])
def test_a_server_out_of_reach_turns_every_status_grey(
    browser: Browser, dashboard: DashboardProcess, language: str, width: str
) -> None:
    tab = _signed_in(browser, dashboard, language, PHONE if width == "phone" else DESKTOP)
    try:
        ready = tab.locator("#ready")
        expect(ready).to_have_text(f"{i18n.MESSAGES[language]['ready']} · local", timeout=WAIT_MS)
        expect(ready).to_have_class("chip status up")
        assert _color(tab, "#ready") == GREEN
        expect(tab.locator("#offline")).to_be_hidden()

        dashboard.stop()  # as an operator's Ctrl-C, or a crash, would

        offline = tab.locator("#offline")
        expect(offline).to_be_visible(timeout=WAIT_MS)
        since = WORDS[language]["offline_since"].split("{at}")
        expected = re.escape(since[0]) + r"\d{2}:\d{2}:\d{2} KST" + re.escape(since[1])
        expect(offline).to_have_text(re.compile(expected))
        expect(tab.locator("body")).to_have_class("offline")
        assert _color(tab, "#ready") == GREY, "the ready chip must not stay green"
        for chip in tab.locator(".status").all():
            assert chip.evaluate("el => getComputedStyle(el).color") == GREY
        no_horizontal_scroll(tab)
        screenshot(tab, f"offline-{language}-{width}")

        dashboard.start()  # back: the page says so by itself, without a reload
        expect(offline).to_be_hidden(timeout=WAIT_MS)
        expect(tab.locator("body")).not_to_have_class("offline")
        assert _color(tab, "#ready") == GREEN
    finally:
        tab.context.close()


@pytest.mark.parametrize(("language", "width"), [("ko", "phone"), ("en", "desktop")])
def test_a_halt_is_a_red_banner_never_a_green_ready(
    browser: Browser, dashboard: DashboardProcess, language: str, width: str
) -> None:
    words = WORDS[language]
    tab = _signed_in(browser, dashboard, language, PHONE if width == "phone" else DESKTOP)
    try:
        expect(tab.locator("#ready")).to_have_class("chip status up", timeout=WAIT_MS)
        expect(tab.locator(".banner")).to_have_count(0)
        halted = yquant("halt", "--reason", "broker maintenance", env=dashboard.env)
        assert halted.returncode == 0, halted.stderr

        # Live, without a reload.
        banner = tab.locator('.banner.halted[data-scope="global"]')
        expect(banner).to_contain_text(words["banner_halted"], timeout=WAIT_MS)
        expect(banner).to_contain_text("broker maintenance")
        background = banner.evaluate("el => getComputedStyle(el).backgroundColor")
        assert background == "rgb(207, 34, 46)", background  # --bad
        ready = tab.locator("#ready")
        expect(ready).to_have_text(f"{words['banner_halted']} · local")
        expect(ready).to_have_class("chip status down")
        no_horizontal_scroll(tab)
        screenshot(tab, f"halted-{language}-{width}")

        # Resumed from the page, with a reason: audited under the signed-in user.
        tab.click('.banner.halted a[href="/system#control"]')
        form = tab.locator('form.switch[data-scope="global"]')
        expect(form.locator("button.active")).to_be_enabled()
        form.locator("input[name=reason]").fill("maintenance over")
        form.locator("button.active").click()
        expect(tab.locator("#control-message")).to_be_visible()
        expect(tab.locator(".banner")).to_have_count(0)
        expect(form.locator(".chip")).to_have_text(i18n.MESSAGES[language]["state_active"])
        expect(tab.locator("#ready")).to_have_class("chip status up")
        screenshot(tab, f"system-control-{language}-{width}")
    finally:
        tab.context.close()
    [resumed, halt] = yquant_json("control", env=dashboard.env)["audit"]
    assert resumed["actor"] == "dashboard:alice"
    assert resumed["detail"] == {"from": "halted", "to": "active", "reason": "maintenance over"}
    assert halt["actor"].startswith("cli:")
