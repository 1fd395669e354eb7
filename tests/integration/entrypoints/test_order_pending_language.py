"""`yquant buy|sell` tells, in the configured language, that a pending order must not be retried."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.support import gateway_alive, yquant_env
from yquant.entrypoints import cli, i18n


@pytest.mark.parametrize("language", ["ko", "en"])
def test_the_pending_order_warning_follows_the_language(
    language: str,
    tmp_path: Path,
    valkey_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key in [k for k in os.environ if k.startswith("YQUANT")]:
        monkeypatch.delenv(key)
    env = yquant_env(tmp_path / "data", valkey_url, YQUANT__LANGUAGE=language)
    for key, value in env.items():
        if key.startswith("YQUANT"):
            monkeypatch.setenv(key, value)
    assert cli.main(["db", "upgrade"]) == 0
    # The gateway is alive but answers nothing: the order is sent, its outcome pending.
    asyncio.run(gateway_alive(valkey_url))
    capsys.readouterr()
    code = cli.main(["buy", "paper", "KRX:005930", "1", "--price", "71000", "--wait", "0.5"])
    out, err = capsys.readouterr()
    assert code == 3, err
    # The status ("new": nothing answered) in the operator's words, its code beside them.
    [line] = out.splitlines()
    status = line.split(":", 2)[1].split("  ")[0].strip()
    assert status == {"ko": f"{i18n.label('ko', 'new')} (new)", "en": "New (new)"}[language], out
    assert i18n.label(language, "new") not in ("new", "")
    korean = any("\uac00" <= ch <= "\ud7a3" for ch in err)
    assert korean is (language == "ko"), err
    assert ("outcome pending" in err) is (language == "en"), err
    assert "yquant orders" in err


def test_an_operator_order_on_the_standby_worker_is_refused(
    tmp_path: Path,
    valkey_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key in [k for k in os.environ if k.startswith("YQUANT")]:
        monkeypatch.delenv(key)
    env = yquant_env(tmp_path / "data", valkey_url, YQUANT__WORKER__NAME="green")
    for key, value in env.items():
        if key.startswith("YQUANT"):
            monkeypatch.setenv(key, value)
    assert cli.main(["db", "upgrade"]) == 0
    assert cli.main(["role", "set", "blue", "--actor", "pytest"]) == 0
    capsys.readouterr()
    code = cli.main(["buy", "paper", "KRX:005930", "1", "--price", "71000", "--wait", "0.5"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "this worker is standby: place orders on the active worker" in err
    assert out == ""
