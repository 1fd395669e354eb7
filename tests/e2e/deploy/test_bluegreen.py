"""Blue/green on this machine: real HAProxy with TLS in front of two real workers and MariaDB.

The switch (scripts/switch-active.sh), a crash of the active worker's webhook, and a refused
switch, each under a steady alert load, each proven against what MariaDB recorded.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.deploy.stack import (
    SCRIPTS,
    YQUANT_BIN,
    AlertLoad,
    Haproxy,
    Sent,
    Worker,
    client_tls,
    make_certificate,
    recorded,
    switch_env,
)
from tests.support import (
    eventually,
    mariadb_available,
    mariadb_database,
    wait_until,
    yquant,
    yquant_env,
)

pytestmark = [pytest.mark.e2e, pytest.mark.mariadb]

RATE = 50.0  # alerts per second
SWITCH_ALERTS = 2000
CRASH_ALERTS = 600


class Stack:
    def __init__(self, base: Path, database_url: str) -> None:
        self.base = base
        self.database_url = database_url
        combined, self.cert = make_certificate(base / "tls")
        self.workers = {n: Worker(n, base, database_url) for n in ("blue", "green")}
        self.proxy = Haproxy(base, combined)
        self.lock = base / "switch.lock"

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.proxy.https_port}/webhook"

    def load(self, count: int) -> AlertLoad:
        prefix = "bg" + uuid.uuid4().hex[:8]
        return AlertLoad(self.url, client_tls(self.cert), prefix, count, RATE)

    def active(self) -> str:
        result = yquant(
            "deploy", "haproxy-status", "--haproxy-cfg", str(self.proxy.cfg), "--print-active",
            env=yquant_env(self.base),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def role(self) -> str:
        result = yquant("role", "show", "--json", env=self.switch_env())
        assert result.returncode == 0, result.stderr
        return result.stdout

    def switch_env(self) -> dict[str, str]:
        return switch_env(self.proxy, self.database_url, self.lock)


async def run_switch(stack: Stack, target: str, **env: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "bash", str(SCRIPTS / "switch-active.sh"), target,
        env={**stack.switch_env(), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    return int(proc.returncode or 0), out.decode(errors="replace")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not mariadb_available():
        pytest.fail("MariaDB is not reachable on 127.0.0.1:3306; these tests need the real server")
    with mariadb_database() as url:
        base = tmp_path_factory.mktemp("bluegreen")
        migrated = yquant(
            "db", "upgrade", env=yquant_env(base / "migrate", YQUANT__DATABASE__URL=url)
        )
        assert migrated.returncode == 0, migrated.stderr
        s = Stack(base, url)
        try:
            for w in s.workers.values():
                w.start()
            for w in s.workers.values():
                w.wait_ready()
            s.proxy.render(s.workers["blue"].address, s.workers["green"].address, "blue",
                           "--rate-limit", "5000")  # fmt: skip
            s.proxy.start().wait_up("blue", "green")
            set_role = yquant("role", "set", "blue", "--actor", "pytest", env=s.switch_env())
            assert set_role.returncode == 0, set_role.stderr
            yield s
        finally:
            s.proxy.stop()
            for w in s.workers.values():
                w.stop()


def _standby(stack: Stack) -> tuple[str, str]:
    active = stack.active()
    return active, "green" if active == "blue" else "blue"


async def _all_recorded(stack: Stack, strategy: str, keys: set[str]) -> dict[str, list[str]]:
    async def check() -> dict[str, list[str]] | None:
        found = await recorded(stack.database_url, strategy)
        return found if keys <= set(found) else None

    return await eventually(check, timeout_s=30, every_s=0.5)


async def test_switch_in_the_middle_of_alerts_loses_nothing_and_moves_to_green(
    stack: Stack,
) -> None:
    assert stack.active() == "blue"
    load = stack.load(SWITCH_ALERTS)
    task = asyncio.create_task(load.run())
    await eventually(lambda: load.dispatched >= SWITCH_ALERTS // 2, timeout_s=120, every_s=0.05)
    switch_started = time.monotonic()
    code, output = await run_switch(stack, "green")
    switch_done = time.monotonic()
    sent = await task
    assert code == 0, output
    assert "before:" in output and "after:" in output

    failed = [s for s in sent if not s.ok or s.answer.get("status") != "accepted"]
    assert not failed, failed[:5]
    found = await _all_recorded(stack, load.strategy, {s.key for s in sent})
    assert len(found) == SWITCH_ALERTS
    assert all(len(workers) == 1 for workers in found.values())
    before = [s for s in sent if s.finished < switch_started]
    after = [s for s in sent if s.started > switch_done]
    assert before and after
    assert {found[s.key][0] for s in before} == {"blue"}
    assert {found[s.key][0] for s in after} == {"green"}

    assert stack.active() == "green"
    states = stack.proxy.admin().servers()
    assert not states["green"].backup and states["blue"].backup
    assert '"active": "green"' in stack.role()
    assert stack.proxy.cfg.with_name("haproxy.cfg.prev").exists()


async def test_switch_to_an_unhealthy_worker_is_refused_and_changes_nothing(
    stack: Stack,
) -> None:
    active, standby = _standby(stack)
    config_before = stack.proxy.cfg.read_bytes()
    role_before = stack.role()
    sick = stack.workers[standby]
    sick.valkey.stop()  # its readiness now answers 503 (Valkey down)
    try:
        await eventually(lambda: sick.healthz() == 503, timeout_s=15)
        code, output = await run_switch(stack, standby)
        assert code != 0, output
        assert f"switch refused: {standby} is not healthy" in output
        assert "nothing changed" in output
        assert stack.proxy.cfg.read_bytes() == config_before
        assert stack.role() == role_before
        states = stack.proxy.admin().servers()
        assert not states[active].backup and states[active].serving
        load = stack.load(25)
        sent = await load.run()
        assert all(s.ok for s in sent), [s for s in sent if not s.ok][:3]
        found = await _all_recorded(stack, load.strategy, {s.key for s in sent})
        assert {w for workers in found.values() for w in workers} == {active}
    finally:
        sick.valkey.start()
        sick.wait_ready()
        stack.proxy.wait_up("blue", "green")


async def test_a_switch_that_fails_half_way_is_rolled_back(stack: Stack, tmp_path: Path) -> None:
    active, standby = _standby(stack)
    config_before = stack.proxy.cfg.read_bytes()
    role_before = stack.role()
    # The reload fails once (after the runtime flip and the new config are in place); the
    # rollback's own reload then works.
    flag = tmp_path / "reloaded-once"
    reload = f"test -e {flag} && {stack.proxy.reload_command} || {{ touch {flag}; false; }}"
    code, output = await run_switch(stack, standby, YQ_HAPROXY_RELOAD=reload)
    assert code == 1, output
    assert "FAILED at reload" in output and "rolled back" in output, output
    assert "INCOMPLETE" not in output, output
    assert stack.proxy.cfg.read_bytes() == config_before
    assert not [p for p in stack.proxy.cfg.parent.iterdir() if p.name.startswith(".haproxy.cfg")]
    assert stack.role() == role_before
    states = stack.proxy.admin().servers()
    assert not states[active].backup and states[standby].backup
    assert states[active].status == "UP" and states[standby].status == "UP"  # drain undone
    load = stack.load(10)
    sent = await load.run()
    assert all(s.ok for s in sent)
    found = await _all_recorded(stack, load.strategy, {s.key for s in sent})
    assert {w for workers in found.values() for w in workers} == {active}


async def test_killed_active_webhook_fails_over_to_backup_and_loses_no_acknowledged_alert(
    stack: Stack,
) -> None:
    active, backup = _standby(stack)
    victim = stack.workers[active]
    load = stack.load(CRASH_ALERTS)
    task = asyncio.create_task(load.run())
    await eventually(lambda: load.dispatched >= CRASH_ALERTS // 4, timeout_s=60, every_s=0.02)
    in_flight = {s.key for s in load.in_flight()}
    killed_at = time.monotonic()
    victim.kill_role("webhook")
    try:
        # HAProxy takes the dead worker out within its health-check interval (inter 1s, fall 2),
        # sooner when a refused connection marks it down first.
        await eventually(
            lambda: stack.proxy.admin().servers()[active].status.startswith("DOWN"),
            timeout_s=3,
            every_s=0.05,
        )
        sent = await task
        acknowledged = [s for s in sent if s.ok]
        failed = [s for s in sent if not s.ok]
        # Only requests already on their way to the killed process can fail (502: it may have
        # recorded them, so HAProxy must not replay them); everything sent later succeeded.
        assert {s.key for s in failed} <= in_flight, [_brief(s) for s in failed][:5]
        later = [s for s in sent if s.started > killed_at]
        assert later and all(s.ok for s in later)
        assert all(s.answer.get("status") == "accepted" for s in acknowledged)
        found = await _all_recorded(stack, load.strategy, {s.key for s in acknowledged})
        assert all(len(found[s.key]) == 1 for s in acknowledged)
        assert {found[s.key][0] for s in later} == {backup}
    finally:
        victim.start_role("webhook")
        victim.wait_ready()
        stack.proxy.wait_up("blue", "green")


def _brief(s: Sent) -> str:
    return f"{s.key} {s.status} {s.error or s.answer}"


def test_health_check_reports_each_part_and_which_worker_is_active(stack: Stack) -> None:
    active, standby = _standby(stack)
    for name, expected in ((active, "active"), (standby, "standby")):
        worker = stack.workers[name]
        env = {**worker.env, "YQUANT_BIN": YQUANT_BIN, "YQUANT_ENV_FILE": "/nonexistent"}
        env["YQUANT_CONFIG"] = "/nonexistent"
        result = subprocess.run(
            ["bash", str(SCRIPTS / "health-check.sh"), "--json"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        report = json.loads(result.stdout)
        assert report["ok"] and report["worker"] == name
        assert report["role"]["status"] == expected
        assert report["http"] == {"webhook": 200, "dashboard": 200}
        for part in ("database", "valkey", "webhook", "engine", "gateway", "dashboard"):
            assert report["checks"][part]["status"] == "up", part

    sick = stack.workers[standby]
    sick.valkey.stop()
    try:
        env = {**sick.env, "YQUANT_BIN": YQUANT_BIN, "YQUANT_ENV_FILE": "/nonexistent"}
        env["YQUANT_CONFIG"] = "/nonexistent"

        def valkey_reported_down() -> dict | None:
            result = subprocess.run(
                ["bash", str(SCRIPTS / "health-check.sh"), "--json"],
                env=env, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            report = json.loads(result.stdout)
            return report if result.returncode == 1 and "valkey" in report["failures"] else None

        report = wait_until(valkey_reported_down, timeout_s=30, every_s=1)
        assert report["ok"] is False
    finally:
        sick.valkey.start()
        sick.wait_ready()
        stack.proxy.wait_up("blue", "green")
