"""Every benchmark in bench/ runs, with tiny counts, and prints its figures: none can rot."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"

pytestmark = pytest.mark.e2e

# Each script with its smoke arguments, and a line it prints with the figures it measures.
SMOKES = {
    "broker_burst.py": (
        # Blue and green on one app key, switched half-way under load: exit 1 if their KIS
        # calls ever shared a second or KIS refused one.
        ["--count", "40", "--timeout", "60"],
        r"drain rate\s+[\d.]+/s = [\d.]+% of the configured rate \(goal >= 95%\), per app key",
    ),
    "e2e.py": (
        ["--count", "5", "--rate", "20", "--timeout", "60"],
        r"ack latency \(ms\)\s+p50 [\d.]+\s+p95 [\d.]+",
    ),
    "journal_replay.py": (
        ["--rows", "200", "--rate", "50", "--timeout", "60"],
        r"journal drained \d+ rows in [\d.]+ s = [\d.]+ rows/s",
    ),
    "notice_fills.py": (
        ["--count", "2", "--rest-s", "1"],
        r"notices\s+filled 2/2\s+REST calls per filled order [\d.]+\s+fill latency median [\d.]+ s",
    ),
    "startup.py": (
        ["--alerts", "2"],
        (
            r"warm +start to healthy [\d.]+ s .*\n.*CPU s to healthy +webhook [\d.]+ .*\n"
            r".*RSS/peak MB after healthy +webhook [\d.]+/[\d.]+ +engine [\d.]+/[\d.]+"
        ),
    ),
    "webhook.py": (
        ["--quick"],
        r"max sustained: webhook [\d.]+ req/s, bare [\d.]+ req/s",
    ),
}


# Scripts that exit 3 when only a speed goal was missed (correctness failures still exit 1).
SPEED_GOAL_EXIT = {"broker_burst.py"}


def test_every_bench_script_has_a_smoke() -> None:
    # bench/_support.py is no benchmark: it is the benchmarks' shared helper (yquant up on free
    # ports, subprocess runs), imported by the scripts above and by tests/support.py, so every
    # smoke here exercises it.
    scripts = {p.name for p in BENCH.glob("*.py") if not p.name.startswith("_")}
    assert scripts == set(SMOKES)


@pytest.mark.parametrize("script", sorted(SMOKES))
def test_bench_runs_and_prints_its_figures(script: str, tmp_path: Path) -> None:
    args, figures = SMOKES[script]
    result = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        check=False,
    )
    # A speed goal missed on a loaded machine is a figure, not a failure (exit 3); anything else
    # but 0 is.
    allowed = {0, 3} if script in SPEED_GOAL_EXIT else {0}
    assert result.returncode in allowed, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(figures, result.stdout), result.stdout[-3000:]


def test_broker_burst_of_alerts_runs_through_the_engine(tmp_path: Path) -> None:
    # The engine decides from its view of the account: exit 1 if a signal went stale, an order
    # was lost or KIS refused a call; 3 if only the drain rate was missed on a loaded machine.
    result = subprocess.run(
        [sys.executable, str(BENCH / "broker_burst.py"), "--alerts", "--count", "20"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode in {0, 3}, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"engine's KIS calls +\d+ \([\d.]+ per decision\)", result.stdout)
    assert re.search(r"stale_signal +0 \(goal 0\)", result.stdout), result.stdout[-3000:]


def test_e2e_bench_spreads_a_burst_over_many_instruments(tmp_path: Path) -> None:
    # The catalog's stocks as TradingView names them (BRK.B for KIS's BRK/B), every one
    # accepted and filled: exit 1 otherwise.
    result = subprocess.run(
        [sys.executable, str(BENCH / "e2e.py"), "--count", "8", "--tickers", "8", "--rate", "50"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"sent 8 +accepted 8 +filled 8", result.stdout), result.stdout[-3000:]


def _valkey_children_of(pid: int) -> list[int]:
    """valkey-server processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :]
        fields = rest.split()
        if name.startswith("valkey-server") and int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_a_bench_killed_mid_run_leaves_no_valkey_behind(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(BENCH / "broker_burst.py"), "--count", "2000", "--timeout", "60"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    valkey = None
    try:
        [valkey] = wait_until(lambda: _valkey_children_of(proc.pid), timeout_s=30)
        time.sleep(1.0)  # mid-run: the orders are being written and sent
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        wait_until(lambda: not _alive(valkey), timeout_s=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if valkey is not None and _alive(valkey):  # the failure above: do not leave it running
            os.kill(valkey, signal.SIGKILL)
