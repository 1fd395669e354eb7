"""scripts/emergency.sh, the data node's failure plan, on one machine like the blue/green proof:
its plan (--dry-run), then a real run: HAProxy from the same template with TLS on loopback
ports in front of a real worker, and the newest backup restored into a throwaway MariaDB
database, which then names this worker active."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.deploy.stack import (
    HAPROXY_BIN,
    SCRIPTS,
    YQUANT_BIN,
    Worker,
    alert,
    client_tls,
    make_certificate,
)
from tests.integration.adapters.test_backup import _mariadb_snapshot
from tests.support import free_port, mariadb_database, wait_until, yquant, yquant_env, yquant_json
from yquant.processes import pid_alive

EMERGENCY = SCRIPTS / "emergency.sh"
TRADINGVIEW_443 = (
    "tcp dport 443 ip saddr { 52.89.214.238, 34.212.75.30, 54.218.53.128, 52.32.178.7 } accept"
)


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(EMERGENCY), *args], env=env, capture_output=True, text=True, timeout=180
    )


def test_dry_run_prints_the_whole_plan_and_changes_nothing(tmp_path: Path) -> None:
    combined, _ = make_certificate(tmp_path / "cert", "hooks.example.com")
    backups = tmp_path / "backups"
    backups.mkdir()
    for day in ("20261201", "20261203", "20261202"):
        (backups / f"yquant-{day}T064500Z.sql.gz").write_bytes(gzip.compress(b"-- dump\n"))
    env_file = tmp_path / "yquant.env"
    env_file.write_text(
        "YQUANT__WORKER__NAME=green\n"
        "YQUANT__DATABASE__URL=mysql+asyncmy://yquant_app:apppw@yq-data/yquant\n"
    )
    migrate_env = tmp_path / "migrate.env"
    migrate_env.write_text(
        "YQUANT__DATABASE__URL=mysql+asyncmy://yquant_migrate:migpw@yq-data/yquant\n"
    )
    before = {p: p.stat().st_mtime_ns for p in (env_file, migrate_env)}
    env = {
        **yquant_env(tmp_path / "data"),
        "YQUANT_BIN": YQUANT_BIN,
        "YQUANT_ENV_FILE": str(env_file),
        "YQ_MIGRATE_ENV": str(migrate_env),
        "YQ_CERT_DIR": str(tmp_path / "certs"),
        "YQ_NFT_FILE": str(tmp_path / "emergency.nft"),
        "YQ_HAPROXY_CFG": str(tmp_path / "haproxy.cfg"),
    }
    result = _run(
        "--domain", "hooks.example.com", "--webhook", "10.0.0.12:6000",
        "--other", "10.0.0.11:6000", "--cert", str(combined), "--backup-dir", str(backups),
        "--public-ip", "203.0.113.7", "--dry-run", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    plan = result.stdout
    # The edge: firewall for TradingView only, the certificate, HAProxy from the template with
    # this worker (green, from its env file) active, checked before it is started.
    assert TRADINGVIEW_443 in plan and "tcp dport 443 drop" in plan
    assert "dport 80" not in plan  # a copied certificate needs no port 80
    assert f"install -m 0600 {combined} {tmp_path / 'certs' / 'hooks.example.com.pem'}" in plan
    assert (
        "deploy render-haproxy --domain hooks.example.com --blue 10.0.0.11:6000 "
        "--green 10.0.0.12:6000 --active green" in plan
    )
    assert "-c -q -f" in plan and "systemctl restart haproxy" in plan
    # The database: the newest backup, into a MariaDB here with yq-data's users, then schema,
    # this worker active, and the worker's settings pointed at 127.0.0.1.
    newest = backups / "yquant-20261203T064500Z.sql.gz"
    assert f"db restore {newest}" in plan and "20261202" not in plan.split("db restore")[1]
    assert "mariadb -uroot -e" in plan and "yquant_migrate" in plan and "migpw" in plan
    assert "mysql+asyncmy://yquant_migrate:migpw@127.0.0.1/yquant" in plan
    assert "db upgrade" in plan and "role set green" in plan
    assert "YQUANT__DATABASE__URL=mysql+asyncmy://yquant_app:apppw@127.0.0.1/yquant" in plan
    assert "restart yquant-worker.target" in plan
    # What only the operator can do, spelled out.
    assert "set the A record of hooks.example.com to 203.0.113.7" in plan
    assert "dig +short hooks.example.com A" in plan
    # Nothing changed.
    assert {p: p.stat().st_mtime_ns for p in before} == before
    assert not (tmp_path / "certs").exists() and not (tmp_path / "emergency.nft").exists()
    assert not (tmp_path / "haproxy.cfg").exists()
    assert not list(tmp_path.glob("*.pre-emergency"))

    # Without the worker's own address it refuses before doing anything.
    refused = _run("--domain", "hooks.example.com", "--cert", str(combined), env=env)
    assert refused.returncode == 1 and "--webhook HOST:PORT is required" in refused.stderr


@pytest.mark.e2e
@pytest.mark.mariadb
def test_a_worker_takes_over_tls_and_the_database_from_its_backup(tmp_path: Path) -> None:
    with mariadb_database() as lost_url, mariadb_database() as new_url:
        lost = yquant_env(tmp_path / "ops", YQUANT__DATABASE__URL=lost_url)
        assert yquant("db", "upgrade", env=lost).returncode == 0
        assert yquant("role", "set", "blue", "--actor", "setup", env=lost).returncode == 0
        halted = yquant("halt", "--reason", "점검", env=lost)
        assert halted.returncode == 0, halted.stderr
        # Green's own copy of the backups, as its yquant-backup.timer keeps them.
        backups = tmp_path / "backups"
        made = yquant("db", "backup", "--dir", str(backups), env=lost)
        assert made.returncode == 0, made.stderr
        backed_up = asyncio.run(_mariadb_snapshot(lost_url))
        # Then yq-data is gone; green (a real worker) takes over.
        green = Worker("green", tmp_path, lost_url).start()
        haproxy_dir, https_port = tmp_path / "haproxy", free_port()
        pidfile = haproxy_dir / "haproxy.pid"
        combined, cert = make_certificate(tmp_path / "cert", "yq.test")
        env = _private_run_env(tmp_path, haproxy_dir, pidfile, https_port)
        try:
            green.wait_ready()
            result = _run(
                "--domain", "yq.test", "--worker", "green", "--webhook", green.address,
                "--cert", str(combined), "--backup-dir", str(backups),
                "--database-url", new_url, "--no-restart", env=env,
            )  # fmt: skip
            assert result.returncode == 0, result.stdout + result.stderr
            assert "green  UP" in result.stdout

            # TradingView's path: TLS on the emergency HAProxy, straight to green's webhook.
            tls = client_tls(cert)
            url = f"https://127.0.0.1:{https_port}/webhook"
            reply = httpx.post(url, content=alert("emergency-1", "emg"), verify=tls, timeout=10)
            assert reply.status_code == 200, reply.text
            assert reply.json()["status"] in ("accepted", "recorded")
            other = httpx.get(f"https://127.0.0.1:{https_port}/", verify=tls, timeout=10)
            assert other.status_code == 404  # only POST /webhook passes, as on yq-data
            assert (tmp_path / "certs" / "yq.test.pem").stat().st_mode & 0o777 == 0o600
            rules = (tmp_path / "emergency.nft").read_text()
            assert TRADINGVIEW_443 in rules and "tcp dport 443 drop" in rules

            # The database came back from the backup, with green active (epoch + 1).
            restored = asyncio.run(_mariadb_snapshot(new_url))
            assert sorted(restored) == sorted(backed_up)
            assert backed_up["kill_switch"][1] and backed_up["alembic_version"][1]
            for table in set(backed_up) - {"audit_log", "deployment"}:
                assert restored[table] == backed_up[table], table
            # The audit log: everything before, then the takeover itself.
            ddl, rows = restored["audit_log"]
            assert (ddl, rows[:-1]) == backed_up["audit_log"]
            assert rows[-1][2].startswith("emergency.sh on ") and rows[-1][4] == "green"
            moved = yquant_env(tmp_path / "ops", YQUANT__DATABASE__URL=new_url)
            role = json.loads(yquant("role", "show", "--json", env=moved).stdout)
            assert role["active"] == "green" and role["epoch"] == 2
            control = yquant_json("control", env=moved)
            assert "halted" in json.dumps(control)
        finally:
            if pidfile.exists():
                master = int(pidfile.read_text().split()[0])
                os.kill(master, signal.SIGTERM)
                wait_until(lambda: not pid_alive(master), timeout_s=15)
            green.stop()


def _private_run_env(tmp_path: Path, haproxy_dir: Path, pidfile: Path, https_port: int) -> dict:
    """emergency.sh's overrides for a run on loopback ports as an ordinary process tree."""
    haproxy_dir.mkdir()
    cfg = haproxy_dir / "haproxy.cfg"
    return {
        **yquant_env(tmp_path / "ops"),
        "YQUANT_BIN": YQUANT_BIN,
        "YQUANT_ENV_FILE": str(tmp_path / "no-env-file"),
        "YQ_HAPROXY_CFG": str(cfg),
        "YQ_HAPROXY_SOCKET": str(haproxy_dir / "admin.sock"),
        "YQ_HAPROXY_BIN": HAPROXY_BIN,
        "YQ_HAPROXY_START": f"{HAPROXY_BIN} -W -D -f {cfg} -p {pidfile}",
        # Loopback ports, no user switch or chroot; the test client is let through besides
        # TradingView's addresses (which stay in the allow-list).
        "YQ_HAPROXY_RENDER_ARGS": (
            f"--http-port {free_port()} --https-port {https_port} --bind 127.0.0.1 "
            "--allow-source 127.0.0.1/32 --log-target stderr --user= --group= --chroot="
        ),
        "YQ_CERT_DIR": str(tmp_path / "certs"),
        "YQ_NFT_FILE": str(tmp_path / "emergency.nft"),
        "YQ_NFT_BIN": "true",
    }
