"""`yquant up`'s supervisor: a role that refuses its settings stops everything (exit 2)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from yquant.entrypoints.supervisor import Supervisor
from yquant.settings import load_settings


def test_a_role_that_refuses_its_settings_stops_the_supervisor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YQUANT__DATA_DIR", str(tmp_path))
    monkeypatch.setenv("YQUANT__VALKEY__URL", "redis://127.0.0.1:1/0")  # no embedded Valkey
    settings = load_settings()
    supervisor = Supervisor(
        settings,
        roles=("engine", "webhook"),
        argv={
            "engine": [sys.executable, "-c", "raise SystemExit(2)"],
            "webhook": [sys.executable, "-c", "import time; time.sleep(60)"],
        },
    )
    started = time.monotonic()
    assert supervisor.run() == 2
    # It stopped the healthy role instead of restarting the broken one forever.
    assert time.monotonic() - started < 30
