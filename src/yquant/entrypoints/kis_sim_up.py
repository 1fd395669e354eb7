"""`yquant up --broker kis-sim`: the whole system against a local KIS simulator.

A simulator process is started on a free loopback port with a generated app key, secret and
account; every paper account is pointed at it (broker ``kis-sim``), for `yquant up` and every
process it starts (through ``YQUANT__ACCOUNTS``). Orders then take the real KIS path: tokens,
TR ids, pacing, inquiries, fills. The simulator stops with `yquant up`.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from yquant.processes import free_port
from yquant.settings import Settings, load_settings

SIM_ACCOUNT = "5000000001"


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"KIS simulator exited with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("KIS simulator did not start")


def simulated_accounts(settings: Settings, url: str, key: str, secret: str) -> dict[str, Any]:
    """The accounts setting with every paper account moved to the simulator."""
    accounts: dict[str, Any] = {}
    for name, account in settings.accounts.items():
        data = account.model_dump(mode="json", exclude={"kis"})
        if account.broker == "paper":
            data["broker"] = "kis-sim"
            data["sessions"] = data.get("sessions") or "always"  # as paper did: any hour
            data["kis"] = {
                "environment": "real",
                "app_key": key,
                "app_secret": secret,
                "account_number": SIM_ACCOUNT,
                "base_url": url,
                "token_min_interval_s": 60,
                "poll_interval_s": 0.5,
            }
        elif account.kis is not None:
            raise SystemExit("--broker kis-sim: only with paper accounts (KIS keys stay untouched)")
        accounts[name] = data
    return accounts


def up_with_simulator(
    settings: Settings, args: argparse.Namespace, up: Callable[[Settings, argparse.Namespace], int]
) -> int:
    port = free_port()
    key = "SIM" + secrets.token_hex(16)
    secret = "SIM" + secrets.token_hex(88)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable, "-m", "yquant.adapters.brokers.kis_sim", "--port", str(port),
        "--app-key", key, "--app-secret", secret,
        "--account", f"{SIM_ACCOUNT[:8]}-{SIM_ACCOUNT[8:]}",
    ]  # fmt: skip
    with (settings.data_dir / "kis-sim.log").open("ab") as log:  # the child keeps its own
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_port(port, proc)
        url = f"http://127.0.0.1:{port}"
        accounts = simulated_accounts(settings, url, key, secret)
        os.environ["YQUANT__ACCOUNTS"] = json.dumps(accounts)
        print(f"  KIS simulator on {url} (log: {settings.data_dir / 'kis-sim.log'})", flush=True)
        return int(up(load_settings(), args))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
