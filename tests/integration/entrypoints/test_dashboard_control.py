"""The dashboard's kill-switch control: the endpoint's guards, and the buttons in Chromium."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from tests.support import free_port, wait_until, yquant, yquant_env, yquant_json

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]


class Dashboard:
    def __init__(
        self, data_dir: Path, valkey_url: str, host: str = "127.0.0.1", **extra: str
    ) -> None:
        self.port = free_port()
        reach = "127.0.0.1" if host == "0.0.0.0" else host  # bound to all: reached on loopback
        self.url = f"http://{reach}:{self.port}"
        self.env = yquant_env(
            data_dir,
            valkey_url,
            YQUANT__DASHBOARD__HOST=host,
            YQUANT__DASHBOARD__PORT=str(self.port),
            **extra,
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "dashboard.log"

    def start(self) -> Dashboard:
        assert yquant("db", "upgrade", env=self.env).returncode == 0
        with self.log.open("ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "yquant", "dashboard"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
            try:
                return httpx.get(f"{self.url}/api/control", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout_s=30, every_s=0.1)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)


@pytest.fixture
def dashboard(tmp_path: Path, valkey_url: str) -> Iterator[Dashboard]:
    d = Dashboard(tmp_path / "data", valkey_url)
    d.start()
    try:
        yield d
    finally:
        d.stop()


def states(d: Dashboard) -> dict[str, str]:
    return {s["scope"]: s["state"] for s in yquant_json("control", env=d.env)["switches"]}


def test_the_control_endpoint_refuses_what_a_foreign_page_could_send(dashboard: Dashboard) -> None:
    url = f"{dashboard.url}/api/control"
    body = {"scope": "global", "state": "halted", "reason": "x"}
    form = httpx.post(url, data=body)
    assert form.status_code == 415
    foreign = httpx.post(url, json=body, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    bad_state = httpx.post(url, json={**body, "state": "panic"})
    assert bad_state.status_code == 400
    no_reason = httpx.post(url, json={**body, "reason": " "})
    assert no_reason.status_code == 400
    unknown = httpx.post(url, json={**body, "scope": "nope"})
    assert unknown.status_code == 400
    # A stable code the page translates, and the English message.
    assert form.json() == {"code": "json_required", "error": "send application/json"}
    assert foreign.json()["code"] == "cross_origin"
    assert bad_state.json()["code"] == "bad_request"
    assert no_reason.json() == {"code": "reason_required", "error": "a reason is required"}
    assert unknown.json()["code"] == "unknown_scope"
    assert unknown.json()["error"].startswith("unknown account 'nope'")
    assert states(dashboard) == {"global": "active", "paper": "active"}

    ok = httpx.post(url, json=body, headers={"Origin": dashboard.url})
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"scope": "global", "state": "halted", "before": "active"}
    summary = httpx.get(f"{dashboard.url}/api/summary").json()
    [global_row] = [c for c in summary["control"] if c["scope"] == "global"]
    assert (global_row["state"], global_row["actor"]) == ("halted", "dashboard:127.0.0.1")


def test_the_operator_sets_reduce_only_with_a_reason_from_the_page(dashboard: Dashboard) -> None:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{dashboard.url}/?lang=en")
            row = page.locator('#control tr[data-key="paper"]')
            button = row.locator("button.reduce_only")
            expect(button).to_be_disabled()  # no reason yet
            page.fill("#control-reason", "earnings tonight")
            expect(button).to_be_enabled()
            button.click()
            expect(row.locator("td").nth(1)).to_have_text("reduce only", timeout=10_000)
            expect(row.locator("td").nth(2)).to_have_text("earnings tonight")
            assert errors == []
        finally:
            browser.close()
    assert states(dashboard) == {"global": "active", "paper": "reduce_only"}
    [entry] = yquant_json("control", env=dashboard.env)["audit"]
    assert entry["actor"] == "dashboard:127.0.0.1"
    assert entry["detail"] == {"from": "active", "to": "reduce_only", "reason": "earnings tonight"}


def test_a_page_under_a_foreign_host_name_gets_nothing(tmp_path: Path, valkey_url: str) -> None:
    # DNS rebinding: evil.example re-pointed to 127.0.0.1 makes the browser send Host and Origin
    # evil.example:2000, which is same-origin to the browser.
    d = Dashboard(tmp_path / "data", valkey_url, YQUANT__DASHBOARD__ALLOWED_HOSTS='["yq-green"]')
    d.start()
    try:
        url = f"{d.url}/api/control"
        body = {"scope": "global", "state": "halted", "reason": "x"}
        evil = f"rebind.attacker.example:{d.port}"
        flipped = httpx.post(url, json=body, headers={"Host": evil, "Origin": f"http://{evil}"})
        assert flipped.status_code == 400
        assert httpx.get(f"{d.url}/api/summary", headers={"Host": evil}).status_code == 400
        assert httpx.get(f"{d.url}/", headers={"Host": evil}).status_code == 400
        # A foreign page's Origin is refused even when the Host is ours.
        foreign = httpx.post(url, json=body, headers={"Origin": f"http://{evil}"})
        assert foreign.status_code == 403
        assert states(d) == {"global": "active", "paper": "active"}

        for host in (
            f"localhost:{d.port}",
            f"[::1]:{d.port}",
            "yq-green.tail1234.ts.net",  # tailscale serve
            f"yq-green:{d.port}",  # dashboard.allowed_hosts
        ):
            assert httpx.get(f"{d.url}/api/summary", headers={"Host": host}).status_code == 200
        served = httpx.post(
            url,
            json=body,
            headers={
                "Host": "yq-green.tail1234.ts.net",
                "Origin": "https://yq-green.tail1234.ts.net",
            },
        )
        assert served.status_code == 200, served.text
        assert states(d) == {"global": "halted", "paper": "active"}
    finally:
        d.stop()


def test_the_tailscale_login_is_believed_from_tailscale_serve_on_loopback(
    dashboard: Dashboard,
) -> None:
    body = {"scope": "global", "state": "halted", "reason": "x"}
    headers = {"Tailscale-User-Login": "ops@example.com"}
    ok = httpx.post(f"{dashboard.url}/api/control", json=body, headers=headers)
    assert ok.status_code == 200, ok.text
    [entry] = yquant_json("control", env=dashboard.env)["audit"]
    assert entry["actor"] == "dashboard:ops@example.com"


def test_a_forged_tailscale_login_is_not_believed_on_a_network_address(
    tmp_path: Path, valkey_url: str
) -> None:
    # Mode B: bound to a network address (here all of them), the header could come from anyone.
    d = Dashboard(tmp_path / "data", valkey_url, host="0.0.0.0")
    d.start()
    try:
        body = {"scope": "global", "state": "halted", "reason": "forged"}
        headers = {"Tailscale-User-Login": "ceo@example.com"}
        ok = httpx.post(f"{d.url}/api/control", json=body, headers=headers)
        assert ok.status_code == 200, ok.text
        [entry] = yquant_json("control", env=d.env)["audit"]
        assert entry["actor"] == "dashboard:127.0.0.1"
    finally:
        d.stop()


def _network_address() -> str:
    """This machine's address on its network (not loopback): a UDP "connect" sends nothing."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))
        return str(probe.getsockname()[0])


def test_the_login_header_from_a_network_peer_is_not_believed(
    tmp_path: Path, valkey_url: str
) -> None:
    """A request from a network peer (not tailscale serve on loopback) is recorded under the
    peer's address, whatever login header it carries."""
    peer = _network_address()
    d = Dashboard(tmp_path / "data", valkey_url, host="0.0.0.0")
    d.start()
    try:
        body = {"scope": "global", "state": "halted", "reason": "forged"}
        headers = {"Tailscale-User-Login": "ceo@example.com", "Host": f"127.0.0.1:{d.port}"}
        ok = httpx.post(f"http://{peer}:{d.port}/api/control", json=body, headers=headers)
        assert ok.status_code == 200, ok.text
        [entry] = yquant_json("control", env=d.env)["audit"]
        assert entry["actor"] == f"dashboard:{peer}"
    finally:
        d.stop()
