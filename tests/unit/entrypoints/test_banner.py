"""The `yquant up` banner: where to send alerts, and a sample that works as shown."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from yquant.entrypoints.cli import banner
from yquant.settings import load_settings

TOKEN = "tok-9f8e7d6c5b4a"


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("YQUANT"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("YQUANT__DATA_DIR", str(tmp_path))


def test_with_a_path_token_the_banner_shows_the_path_but_never_the_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("YQUANT__WEBHOOK__PATH_TOKEN", TOKEN)
    text = banner(load_settings(), "secret-0123456789")
    assert TOKEN not in text
    lines = text.splitlines()
    webhook_line = next(line for line in lines if "/webhook" in line and "curl" not in line)
    curl_line = next(line for line in lines if "curl" in line)
    assert webhook_line.split()[-1] == "http://127.0.0.1:6000/webhook/<path_token>"
    assert " 'http://127.0.0.1:6000/webhook/<path_token>' " in curl_line  # quoted for the shell


def test_without_a_path_token_the_banner_shows_plain_webhook() -> None:
    text = banner(load_settings(), "secret-0123456789")
    assert "http://127.0.0.1:6000/webhook\n" in text
    assert "<path_token>" not in text


def test_when_the_output_is_no_terminal_the_banner_says_where_the_secret_is() -> None:
    settings = load_settings()
    shown = banner(settings, "secret-0123456789", show_secret=True)
    assert "secret-0123456789" in shown
    hidden = banner(settings, "secret-0123456789", show_secret=False)
    assert "secret-0123456789" not in hidden
    secret_line = next(line for line in hidden.splitlines() if "Webhook secret" in line)
    assert secret_line.endswith(str(settings.data_dir / "webhook-secret"))
    assert '"secret": "YOUR-SECRET"' in hidden  # the sample keeps its shape


def test_a_configured_secret_is_pointed_to_by_its_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("YQUANT__WEBHOOK__SECRET", "configured-0123456789")
    monkeypatch.setenv("YQUANT__LANGUAGE", "ko")
    hidden = banner(load_settings(), "configured-0123456789", show_secret=False)
    assert "configured-0123456789" not in hidden
    assert "YQUANT__WEBHOOK__SECRET" in hidden and "표시하지 않음" in hidden


def test_a_secret_from_the_toml_file_is_said_to_come_from_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The banner used to name YQUANT__WEBHOOK__SECRET for a secret that was in the file."""
    config = tmp_path / "yquant.toml"
    config.write_text('[webhook]\nsecret = "from-the-file-0123"\n')
    settings = load_settings(config)
    hidden = banner(settings, "from-the-file-0123", show_secret=False)
    assert f"webhook.secret in {config}" in hidden
    assert "YQUANT__WEBHOOK__SECRET" not in hidden
    shown = banner(settings, "from-the-file-0123", show_secret=True)
    assert f"from-the-file-0123  (from webhook.secret in {config})" in shown
    monkeypatch.setenv("YQUANT__WEBHOOK__SECRET", "from-the-env-0123")
    env_wins = banner(load_settings(config), "from-the-env-0123", show_secret=False)
    assert "YQUANT__WEBHOOK__SECRET" in env_wins and "yquant.toml" not in env_wins


def test_the_banner_names_the_command_it_is_given() -> None:
    text = banner(load_settings(), "secret-0123456789", command=".venv/bin/yquant")
    assert "    .venv/bin/yquant orders" in text.splitlines()
