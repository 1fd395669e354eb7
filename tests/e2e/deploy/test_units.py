"""The systemd units `yquant deploy render-units` writes: valid for systemd, hardened, and matched
by the processes they run (Type=notify with a watchdog).

`systemd-analyze` ships with Debian's systemd package, which is part of the base system of the
machines this project runs its tests on (CI included), whether or not systemd is PID 1 there.
So its absence is a broken machine, and the test fails instead of skipping.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.deploy.stack import YQUANT_BIN
from tests.support import yquant, yquant_env
from yquant.adapters.valkey_server import valkey_binary

BACKUP_UNITS = ["yquant-backup.service", "yquant-backup.timer"]
ROLE_UNITS = [
    f"yquant-{r}.service" for r in ("webhook", "engine", "gateway", "dashboard", "notifier")
]
HARDENING = [
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "PrivateTmp=yes",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    "Restart=on-failure",
    "CapabilityBoundingSet=",
    "SystemCallFilter=@system-service",
]


def _render(out: Path, *args: str) -> list[Path]:
    result = yquant(
        "deploy", "render-units", "--output", str(out), "--yquant", YQUANT_BIN, *args,
        env=yquant_env(out / "data"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return [Path(line) for line in result.stdout.split()]


def _systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.fail("systemd-analyze is missing: install Debian's systemd package")
    return found


def test_rendered_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = _systemd_analyze()
    worker = _render(tmp_path / "worker", "--worker", "green", "--valkey-bin", valkey_binary())
    data = _render(tmp_path / "data", "--node", "data")
    assert {p.name for p in worker} == {
        *ROLE_UNITS,
        "yquant-valkey.service",
        "yquant-worker.target",
        *BACKUP_UNITS,
    }
    assert {p.name for p in data} == {
        "yquant-catalog-sync.service",
        "yquant-catalog-sync.timer",
        *BACKUP_UNITS,
    }
    for group in (worker, data):
        verify = subprocess.run(
            [analyze, "verify", *map(str, group)], capture_output=True, text=True
        )
        # A unit systemd would only warn about (an unparsable value it then ignores) fails too.
        assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr


def test_role_units_are_hardened_and_watched(tmp_path: Path) -> None:
    analyze = _systemd_analyze()
    units = {p.name: p for p in _render(tmp_path, "--worker", "blue")}
    for name in [*ROLE_UNITS, "yquant-valkey.service"]:
        text = units[name].read_text()
        for line in HARDENING:
            assert line in text.splitlines(), f"{name} lacks {line}"
        score = subprocess.run(
            [analyze, "security", "--offline=true", str(units[name])],
            capture_output=True,
            text=True,
        )
        level = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", score.stdout)
        assert level is not None, score.stdout[-500:] + score.stderr
        assert float(level.group(1)) <= 2.0, f"{name}: exposure {level.group(1)}"
    for name in ROLE_UNITS:
        lines = units[name].read_text().splitlines()
        assert "Type=notify" in lines and "WatchdogSec=30" in lines
        assert "Environment=YQUANT__WORKER__NAME=blue" in lines
    webhook = units["yquant-webhook.service"].read_text()
    assert "IPAddressAllow=localhost 10.0.0.0/24" in webhook
    dashboard = units["yquant-dashboard.service"].read_text()
    assert "IPAddressAllow=localhost 100.64.0.0/10 10.0.0.0/24" in dashboard
    valkey = units["yquant-valkey.service"].read_text()
    assert "--bind 127.0.0.1" in valkey and "--appendonly yes" in valkey


def test_a_role_tells_systemd_it_is_ready_and_alive(tmp_path: Path, valkey_url: str) -> None:
    """What Type=notify and WatchdogSec rely on: READY=1, then WATCHDOG=1, on $NOTIFY_SOCKET."""
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(30)
        env = yquant_env(tmp_path / "data", valkey_url, NOTIFY_SOCKET=str(path))
        subprocess.run(
            [sys.executable, "-m", "yquant", "db", "upgrade"], env=env, check=True,
            capture_output=True,
        )  # fmt: skip
        proc = subprocess.Popen(
            [sys.executable, "-m", "yquant", "engine"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            got: list[bytes] = []
            while b"WATCHDOG=1" not in got:
                got.append(sock.recv(256))
            assert got.index(b"READY=1") < got.index(b"WATCHDOG=1")
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def test_backup_units_run_yquant_db_backup_daily_with_rotation(tmp_path: Path) -> None:
    """The backup service is hardened like the roles, runs with the schema user's URL, keeps the
    configured number of daily backups; the timer's calendar is one systemd accepts."""
    analyze = _systemd_analyze()
    units = {
        p.name: p
        for p in _render(tmp_path, "--node", "data", "--backup-keep", "7", "--backup-at", "06:15")
    }
    service = units["yquant-backup.service"].read_text().splitlines()
    assert (
        f"ExecStart={YQUANT_BIN} --config /etc/yquant/yquant.toml db backup --dir "
        "/var/lib/yquant-backups --keep 7" in service
    )
    assert "EnvironmentFile=/etc/yquant/migrate.env" in service
    assert "ConditionPathExists=/etc/yquant/migrate.env" in service
    assert "StateDirectory=yquant-backups" in service and "StateDirectoryMode=0700" in service
    assert "Type=oneshot" in service
    for line in HARDENING:
        if line != "Restart=on-failure":  # a oneshot run by its timer is not restarted
            assert line in service, line
    score = subprocess.run(
        [analyze, "security", "--offline=true", str(units["yquant-backup.service"])],
        capture_output=True,
        text=True,
    )
    level = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", score.stdout)
    assert level is not None and float(level.group(1)) <= 2.0, score.stdout[-500:]
    timer = units["yquant-backup.timer"].read_text().splitlines()
    assert "OnCalendar=*-*-* 06:15:00 Asia/Seoul" in timer and "Persistent=true" in timer
    calendar = subprocess.run(
        [analyze, "calendar", "*-*-* 06:15:00 Asia/Seoul"], capture_output=True, text=True
    )
    assert calendar.returncode == 0, calendar.stderr
    bad = yquant(
        "deploy", "render-units", "--output", str(tmp_path / "x"), "--node", "data",
        "--backup-at", "25:00", env=yquant_env(tmp_path / "data"),
    )  # fmt: skip
    assert bad.returncode == 2 and "HH:MM" in bad.stderr
