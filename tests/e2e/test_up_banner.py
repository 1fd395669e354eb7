"""The first `yquant up` as a new user sees it: progress while it starts, then a banner whose
commands work from the same shell (the checkout's `.venv/bin/yquant` is not on PATH)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support import free_port, wait_until, yquant_env
from yquant.domain.roles import ROLES


def test_the_first_start_shows_progress_and_a_command_that_works_from_this_shell(
    tmp_path: Path,
) -> None:
    venv_bin = Path(sys.executable).parent
    checkout = venv_bin.parent.parent
    env = yquant_env(
        tmp_path / "data",
        YQUANT__WEBHOOK__HOST="127.0.0.1",
        YQUANT__WEBHOOK__PORT=str(free_port()),
        YQUANT__DASHBOARD__PORT=str(free_port()),
        YQUANT__VALKEY__EMBEDDED_PORT=str(free_port()),
    )
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != venv_bin
    )
    started_as = str((venv_bin / "yquant").relative_to(checkout))  # .venv/bin/yquant
    log = tmp_path / "up.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [started_as, "up"], cwd=checkout, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_until(lambda: proc.poll() is not None or "Press Ctrl-C" in log.read_text(), 90, 0.2)
        assert proc.poll() is None, log.read_text()
        text = log.read_text()
        steps = [
            "migrating the database…",
            "starting valkey (port",
            f"starting the roles ({', '.join(ROLES)})",
            "loading the catalog from the package snapshot",
            "yQuant is running",
        ]
        at = [text.find(step) for step in steps]
        assert -1 not in at and at == sorted(at), text
        assert "YQUANT__WEBHOOK__SECRET" in text  # where this run's secret came from
        [command] = [line.strip() for line in text.splitlines() if line.endswith(" orders")]
        assert command == f"{started_as} orders"
        ran = subprocess.run(
            ["bash", "-c", command + " --json"], cwd=checkout, env=env,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.strip() == "[]"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
