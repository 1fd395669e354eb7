"""Fixtures of the command-line tests that run against a gateway in its own process: a data
directory and its roles (`roles`), the commands run in this process against it (`run`, the
database upgraded), and `yquant gateway` running (`gateway`). A module that defines its own
fixture of one of these names uses its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import valkey

from tests.integration.entrypoints.test_commands import Run
from tests.support import Roles, wait_until


def start_gateway(roles: Roles, valkey_url: str) -> None:
    """`yquant gateway` as its own process, once its heartbeat is there."""
    client = valkey.Valkey.from_url(valkey_url)
    roles.start("gateway")
    assert wait_until(lambda: client.get("yq:hb:gateway"), timeout_s=60)
    client.close()


@pytest.fixture
def roles(tmp_path: Path, valkey_url: str) -> Roles:
    return Roles(tmp_path / "data", valkey_url)


@pytest.fixture
def run(roles: Roles, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    r = Run(monkeypatch, capsys)
    r.env(roles.env)
    assert r("db", "upgrade")[0] == 0
    return r


@pytest.fixture
def gateway(roles: Roles, run: Run, valkey_url: str) -> Iterator[Roles]:
    try:
        start_gateway(roles, valkey_url)
        yield roles
    finally:
        roles.stop_all()
