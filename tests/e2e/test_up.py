"""`yquant up` end to end: an alert posted to the webhook comes back as a filled paper order."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support import YquantUp, mariadb_database, wait_until, yquant, yquant_json
from yquant.domain.roles import ROLES

pytestmark = pytest.mark.e2e


def _filled(up: YquantUp, count: int) -> list[dict]:
    orders = up.orders()
    done = [o for o in orders if o["status"] == "filled"]
    return done if len(done) >= count else []


def test_alert_becomes_filled_paper_order(tmp_path: Path) -> None:
    up = YquantUp(tmp_path / "data").start()
    try:
        reply = up.post(up.alert(id="e2e-1", quantity="3", price="71000"))
        assert reply.status_code == 200, reply.text
        assert reply.json()["status"] == "accepted"
        [order] = wait_until(lambda: _filled(up, 1))
        assert order["ticker"] == "005930"
        assert order["account"] == "paper"
        assert order["side"] == "buy"
        assert Decimal(order["quantity"]) == 3
        assert Decimal(order["filled_quantity"]) == 3
        assert Decimal(order["avg_fill_price"]) == Decimal("71000")
        assert order["signal_id"] == reply.json()["signal"]
        assert order["created_at"] and order["updated_at"]
        # The paper broker quotes the last price it saw.
        quoted = yquant("price", "KRX:005930", "--json", env=up.env)
        assert quoted.returncode == 0, quoted.stderr
        assert Decimal(json.loads(quoted.stdout)["price"]) == Decimal("71000")

        # The same alert again is a duplicate and creates nothing (the log shows the repeat).
        again = up.post(up.alert(id="e2e-1", quantity="3", price="71000"))
        assert again.json()["status"] == "duplicate"
        assert len(up.orders()) == 1
        logged = yquant_json("signals", env=up.env)
        assert [s["reason"] for s in logged if s["status"] == "rejected"] == ["duplicate"]

        # Exit sells the whole position, sized from the shares held, not from the alert.
        up.post(up.alert(id="e2e-2", action="exit", quantity="100", price="72000"))
        sold = wait_until(lambda: [o for o in _filled(up, 2) if o["side"] == "sell"])
        assert Decimal(sold[0]["quantity"]) == 3
        # Nothing is held any more: another sell is rejected with its reason.
        up.post(up.alert(id="e2e-3", action="sell", quantity="1", price="72000"))

        def rejected() -> list:
            signals = yquant_json("signals", env=up.env)
            return [s for s in signals if s["status"] == "rejected" and s["reason"] != "duplicate"]

        [refused] = wait_until(rejected)
        assert refused["reason"] == "no_position"
        assert len(up.orders()) == 2

        # Its output goes to a file here, not a terminal: the banner (printed once ready)
        # says where the secret is, and the secret is nowhere in the log.
        wait_until(lambda: "Webhook secret" in up.log())
        assert "YQUANT__WEBHOOK__SECRET" in up.log()
        assert up.secret not in up.log()
    finally:
        assert up.stop() == 0, up.log()


def test_up_runs_on_mariadb(tmp_path: Path) -> None:
    with mariadb_database() as url:
        up = YquantUp(tmp_path / "data", YQUANT__DATABASE__URL=url)
        # Production databases are migrated once, from one place, not by `up`.
        refused = yquant("up", env=up.env, timeout_s=30)
        assert refused.returncode == 2
        assert "yquant db upgrade" in refused.stderr
        assert yquant("db", "upgrade", env=up.env).returncode == 0
        up.start()
        try:
            reply = up.post(up.alert(id="maria-1", ticker="NASDAQ:AAPL", price="189.25"))
            assert reply.status_code == 200, reply.text
            [order] = wait_until(lambda: _filled(up, 1))
            assert order["ticker"] == "AAPL"
            assert Decimal(order["avg_fill_price"]) == Decimal("189.25")
        finally:
            assert up.stop() == 0, up.log()


def test_a_role_that_dies_is_restarted(tmp_path: Path) -> None:
    import os
    import signal

    import httpx

    up = YquantUp(tmp_path / "data").start()
    try:
        health = httpx.get(f"http://127.0.0.1:{up.webhook_port}/healthz").json()
        assert health["checks"]["engine"]["status"] == "up"
        import valkey

        client = valkey.Valkey(port=up.valkey_port, decode_responses=True)
        import json

        pid = json.loads(client.get("yq:hb:engine"))["pid"]
        os.kill(pid, signal.SIGKILL)

        def new_engine() -> bool:
            beat = client.get("yq:hb:engine")
            return beat is not None and json.loads(beat)["pid"] != pid

        wait_until(new_engine, timeout_s=20)
        reply = up.post(up.alert(id="after-restart"))
        assert reply.status_code == 200
        wait_until(lambda: _filled(up, 1))
    finally:
        assert up.stop() == 0, up.log()


def test_each_role_runs_as_its_own_named_process(tmp_path: Path) -> None:
    """The roles are forked from `yquant up` (their code loaded once), and each names itself
    as `python -m yquant ROLE` in the process list, as a role started alone would."""
    up = YquantUp(tmp_path / "data").start()
    try:
        assert up.proc is not None
        named: dict[str, int] = {}
        for pid in _children(up.proc.pid):
            words = Path(f"/proc/{pid}/cmdline").read_bytes().decode().replace("\0", " ").split()
            if words[-3:-1] == ["-m", "yquant"]:
                named[words[-1]] = pid
        assert sorted(named) == sorted(ROLES)
        assert up.post(up.alert(id="named")).status_code == 200
        wait_until(lambda: _filled(up, 1))
    finally:
        assert up.stop() == 0, up.log()


def test_up_refuses_an_unknown_sizing_policy_before_starting_anything(tmp_path: Path) -> None:
    up = YquantUp(
        tmp_path / "data",
        YQUANT__STRATEGIES='{"momo": {"sizing": {"policy": "no_such_policy"}}}',
    )
    result = yquant("up", env=up.env, timeout_s=60)
    assert result.returncode == 2
    assert "no_such_policy" in result.stderr
    assert not (tmp_path / "data" / "valkey").exists()  # nothing was started


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def test_up_killed_by_sigkill_leaves_nothing_running_and_starts_again(tmp_path: Path) -> None:
    import os
    import signal

    up = YquantUp(tmp_path / "data").start()
    try:
        assert up.proc is not None
        pidfile = json.loads((tmp_path / "data" / "valkey" / "valkey.pid").read_text())
        valkey_pid = pidfile["pid"]
        assert pidfile["port"] == up.valkey_port and _alive(valkey_pid)
        children = _children(up.proc.pid)
        assert valkey_pid in children and len(children) == 1 + len(ROLES)  # Valkey and the roles
        os.kill(up.proc.pid, signal.SIGKILL)
        up.proc.wait(timeout=10)
        # Valkey and every role die with their owner.
        wait_until(lambda: not any(_alive(p) for p in children), timeout_s=10)
        # The same data directory and ports start again.
        up.start()
        reply = up.post(up.alert(id="after-sigkill"))
        assert reply.status_code == 200, reply.text
        wait_until(lambda: _filled(up, 1))
    finally:
        assert up.stop() == 0, up.log()


def test_up_replaces_a_valkey_left_by_a_dead_owner_of_its_data_dir(tmp_path: Path) -> None:
    import subprocess
    import sys

    from yquant.adapters.valkey_server import ValkeyServer

    up = YquantUp(tmp_path / "data")
    # A valkey-server on the embedded port with the pidfile of an owner that is gone, as one
    # left by a `yquant up` that died before it could stop it.
    dead_owner = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_owner.wait()
    data = tmp_path / "data" / "valkey"
    stale = ValkeyServer(data, up.valkey_port).start()
    assert stale.proc is not None
    stale_proc = stale.proc
    (data / "valkey.pid").write_text(
        json.dumps({"pid": stale_proc.pid, "port": up.valkey_port, "owner": dead_owner.pid})
    )
    try:
        up.start()
        stale_proc.wait(timeout=10)  # stopped, and replaced
        assert up.post(up.alert(id="after-stale")).status_code == 200
        new = json.loads((data / "valkey.pid").read_text())
        assert new["pid"] != stale_proc.pid and _alive(new["pid"])
    finally:
        assert up.stop() == 0, up.log()
        stale.stop()


def test_up_leaves_alone_a_valkey_of_a_living_owner(tmp_path: Path) -> None:
    """Two `yquant up` on one data directory: the second refuses, naming the PID that holds the
    directory (and not suggesting another Valkey port), the first keeps its Valkey."""
    first = YquantUp(tmp_path / "data").start()
    try:
        assert first.proc is not None
        pid = json.loads((tmp_path / "data" / "valkey" / "valkey.pid").read_text())["pid"]
        second = yquant("up", env=first.env, timeout_s=60)
        assert second.returncode == 2, second.stderr
        [line] = second.stderr.strip().splitlines()
        assert f"`yquant up` (PID {first.proc.pid})" in line
        assert str(tmp_path / "data") in line
        assert "EMBEDDED_PORT" not in line and "Traceback" not in second.stderr
        assert _alive(pid)
        # A role alone on the same data directory would share the SQLite database and the
        # paper ledger: refused the same way.
        alone = yquant("engine", env=first.env, timeout_s=60)
        assert alone.returncode == 2, alone.stderr
        [line] = alone.stderr.strip().splitlines()
        assert f"PID {first.proc.pid}" in line and "`yquant engine` alone" in line
        assert first.post(first.alert(id="still-serving")).status_code == 200
    finally:
        assert first.stop() == 0, first.log()


# A correctness bound, not a benchmark: the asked-for figure is 2 s, measured 0.3-0.9 s on the
# 2-core test machine (docs/operations.md); 5 s leaves room for a loaded machine while still
# failing on any wait of a whole timeout (the 10 s role grace, uvicorn's 5 s, a calendar read).
STOP_BOUND_S = 5.0


def _group(pgid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == pgid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


@pytest.mark.parametrize("busy", [False, True], ids=["just-ready", "after-work"])
def test_sigterm_to_the_process_group_stops_everything_quickly(tmp_path: Path, busy: bool) -> None:
    """SIGTERM to the whole group, as a terminal's Ctrl-C or `make` sends it: every role and the
    embedded Valkey are gone within the bound, and `up` says it stopped. Just after the banner
    the engine is still reading its calendars; after work every consumer sits in XREADGROUP."""
    import os
    import signal
    import time

    up = YquantUp(tmp_path / "data").start(own_group=True)
    assert up.proc is not None
    proc = up.proc
    try:
        if busy:
            assert up.post(up.alert(id="before-stop")).status_code == 200
            wait_until(lambda: _filled(up, 1))
        valkey_pid = json.loads((tmp_path / "data" / "valkey" / "valkey.pid").read_text())["pid"]
        everyone = [*_group(proc.pid), valkey_pid]
        assert len(everyone) == 2 + len(ROLES)  # `up`, its roles and Valkey (in its own session)
        started = time.monotonic()
        os.killpg(proc.pid, signal.SIGTERM)
        wait_until(lambda: not any(_alive(p) for p in everyone), timeout_s=STOP_BOUND_S + 5)
        took = time.monotonic() - started
        assert proc.wait(timeout=5) == 0, up.log()
        assert took < STOP_BOUND_S, f"stopped in {took:.1f} s"
        assert f"yQuant stopped ({len(ROLES)} roles and the embedded Valkey" in up.log()
        assert "Traceback" not in up.log()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        up.proc = None
