"""Settings: TOML file plus YQUANT__SECTION__KEY variables; errors name the key; secrets masked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from yquant.errors import ConfigurationError
from yquant.settings import CONFIG_ENV, load_settings, masked, webhook_secret


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("YQUANT"):
            monkeypatch.delenv(key)


def test_defaults_are_the_embedded_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YQUANT__DATA_DIR", str(tmp_path))
    s = load_settings()
    assert s.webhook.port == 6000 and s.dashboard.port == 2000
    assert s.dashboard.host == "127.0.0.1"
    assert s.database_url == f"sqlite+aiosqlite:///{tmp_path / 'yquant.sqlite3'}"
    assert s.valkey.url is None and s.valkey_url.startswith("redis://127.0.0.1:")


def test_env_wins_over_the_toml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "yquant.toml"
    config.write_text(
        "[webhook]\nport = 7000\n[dashboard]\nport = 7001\n"
        '[strategies.momo]\naccounts = ["paper"]\nquantity = "3"\n'
    )
    monkeypatch.setenv("YQUANT__WEBHOOK__PORT", "7100")
    s = load_settings(config)
    assert (s.webhook.port, s.dashboard.port) == (7100, 7001)
    assert str(s.strategy("momo").quantity) == "3"
    assert s.routed_accounts("other") == ["paper"]
    monkeypatch.delenv(CONFIG_ENV)


def test_invalid_setting_names_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YQUANT__WEBHOOK__PORT", "not-a-port")
    with pytest.raises(ConfigurationError, match=r"webhook\.port"):
        load_settings()


def test_route_to_an_unknown_account_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YQUANT__DEFAULT_ACCOUNTS", '["nobody"]')
    with pytest.raises(ConfigurationError, match="nobody"):
        load_settings()


def test_unknown_database_driver_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YQUANT__DATABASE__URL", "postgresql://u:p@h/db")
    with pytest.raises(ConfigurationError, match=r"database\.url"):
        load_settings()


def test_shown_settings_mask_every_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YQUANT__DATABASE__URL", "mysql://yq:db-pass-123@10.0.0.1/yquant")
    monkeypatch.setenv("YQUANT__WEBHOOK__SECRET", "hook-secret-456789")
    monkeypatch.setenv("YQUANT__VALKEY__URL", "redis://:vk-pass-789@127.0.0.1:6379/0")
    s = load_settings()
    text = json.dumps(masked(s))
    for secret in ("db-pass-123", "hook-secret-456789", "vk-pass-789"):
        assert secret not in text
        assert secret not in repr(s)
    assert "mysql+asyncmy://yq:********@10.0.0.1/yquant" in text


def test_a_password_given_as_a_url_parameter_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YQUANT__DATABASE__URL", "mysql://yq@db/yq?password=hunter2&charset=utf8mb4")
    monkeypatch.setenv("YQUANT__VALKEY__URL", "redis://127.0.0.1:6379/0?password=vk-hunter3")
    text = json.dumps(masked(load_settings()))
    assert "hunter2" not in text and "vk-hunter3" not in text
    assert "mysql+asyncmy://yq:********@db/yq?password=********&charset=utf8mb4" in text


def test_webhook_secret_is_generated_once_and_kept(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("YQUANT__DATA_DIR", str(tmp_path))
    s = load_settings()
    first = webhook_secret(s)
    assert len(first) >= 24
    assert webhook_secret(s) == first
    assert (tmp_path / "webhook-secret").stat().st_mode & 0o777 == 0o600


def test_short_configured_secret_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YQUANT__WEBHOOK__SECRET", "short")
    with pytest.raises(ConfigurationError, match=r"webhook\.secret"):
        webhook_secret(load_settings())


@pytest.mark.parametrize(
    "url", ["redis://:Abc123xyz#rest@10.0.0.5:6379/0", "redis://:Abc123xyz?q@10.0.0.5:6379/0"]
)
def test_a_valkey_url_that_does_not_parse_is_refused_without_its_password(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Left to the client, an unencoded '#' or '?' in the password made the password the
    "port" in an error that reached the logs."""
    monkeypatch.setenv("YQUANT__VALKEY__URL", url)
    with pytest.raises(ConfigurationError, match=r"valkey\.url") as refused:
        load_settings()
    assert "Abc123xyz" not in str(refused.value)


def test_a_valkey_url_with_an_encoded_password_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YQUANT__VALKEY__URL", "redis://:Abc%23xyz@10.0.0.5:6379/0")
    settings = load_settings()
    assert settings.valkey.url is not None
    assert settings.valkey.url.get_secret_value().endswith("@10.0.0.5:6379/0")


@pytest.mark.parametrize(
    ("variable", "meant"),
    [
        ("YQUANT__WEBHOK__PORT", "YQUANT__WEBHOOK__PORT"),
        ("YQUANT__WEBHOOK__PROT", "YQUANT__WEBHOOK__PORT"),
        ("YQUANT_WEBHOOK_PORT", "YQUANT__WEBHOOK__PORT"),
        ("YQUANT__ACCOUNTS__MAIN__KIS__APP_KY", "YQUANT__ACCOUNTS__MAIN__KIS__APP_KEY"),
    ],
)
def test_a_misspelt_variable_is_refused_with_the_closest_name(
    variable: str, meant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A typo used to leave the default in force without a word (exit 0, port 6000)."""
    monkeypatch.setenv(variable, "7000")
    with pytest.raises(ConfigurationError) as refused:
        load_settings()
    assert variable in str(refused.value)
    assert f"did you mean {meant}?" in str(refused.value)


def test_variables_of_other_tools_with_one_underscore_are_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("YQUANT_BIN", "YQUANT_ENV_FILE", "YQUANT_FAILPOINTS", "YQUANT_TEST_MARIADB_HOST"):
        monkeypatch.setenv(name, "x")
    assert load_settings().webhook.port == 6000


def test_an_unknown_toml_key_at_any_depth_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "yquant.toml"
    config.write_text(
        '[webhook]\nprot = 7000\n[accounts.main]\nbroker = "paper"\n'
        "[accounts.main.risk]\nmax_open_positon = 3\n[engine.markets.KR]\nextra_holiday = []\n"
    )
    with pytest.raises(ConfigurationError) as refused:
        load_settings(config)
    text = str(refused.value)
    assert "\n" not in text
    assert "webhook.prot: unknown setting; did you mean webhook.port?" in text
    assert "accounts.main.risk.max_open_positon" in text
    assert "did you mean accounts.main.risk.max_open_positions?" in text
    assert "engine.markets.KR.extra_holiday" in text
    monkeypatch.delenv(CONFIG_ENV)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10.0.0.10", ["10.0.0.10/32"]),
        ("10.0.0.10,10.0.0.11", ["10.0.0.10/32", "10.0.0.11/32"]),
        ("10.0.0.0/24, 10.0.1.0/24", ["10.0.0.0/24", "10.0.1.0/24"]),
        ('["10.0.0.0/24"]', ["10.0.0.0/24"]),
        ("[10.0.0.0/24]", ["10.0.0.0/24"]),  # the JSON form once bash has removed its quotes
    ],
)
def test_a_list_is_json_or_comma_separated(
    value: str, expected: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YQUANT__WEBHOOK__TRUSTED_PROXIES", value)
    monkeypatch.setenv("YQUANT__DEFAULT_ACCOUNTS", "paper")
    settings = load_settings()
    assert [str(n) for n in settings.webhook.trusted_proxies] == expected
    assert settings.default_accounts == ["paper"]


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("YQUANT__WEBHOOK__TRUSTED_PROXIES", "not-a-network", "webhook.trusted_proxies"),
        ("YQUANT__WEBHOOK", "{not json", "webhook"),
        ("YQUANT__WEBHOOK__PROT", "7000", "YQUANT__WEBHOOK__PROT"),
    ],
)
def test_a_settings_error_is_one_line_naming_the_key_and_exit_code_2(
    variable: str, value: str, named: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from yquant.entrypoints.cli import main

    monkeypatch.setenv(variable, value)
    assert main(["config", "show"]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    [line] = out.err.splitlines()
    assert line.startswith("yquant: invalid settings: ") and named in line
    assert "Traceback" not in out.err


def test_the_fee_defaults_are_todays_public_figures() -> None:
    from datetime import date
    from decimal import Decimal

    from yquant.bootstrap import fee_schedule
    from yquant.domain.model import Market

    fees = fee_schedule(load_settings())
    kr = fees.rule(Market.KR, date(2026, 12, 4))
    assert (kr.sell_tax_rate, kr.commission_rate) == (Decimal("0.0020"), Decimal(0))
    assert fees.rule(Market.KR, date(2025, 6, 2)).sell_tax_rate == Decimal("0.0015")
    assert fees.rule(Market.KR, date(2026, 12, 4), "KONEX").sell_tax_rate == Decimal("0.0010")
    assert fees.rule(Market.KR, date(2026, 12, 4), "KOSDAQ").sell_tax_rate == Decimal("0.0020")
    us = fees.rule(Market.US, date(2026, 12, 4))
    assert (us.sell_fee_rate, us.sell_fee_per_share, us.sell_fee_per_share_max) == (
        Decimal("0.0000206"),
        Decimal("0.000195"),
        Decimal("9.79"),
    )
    assert fees.rule(Market.US, date(2025, 12, 1)).sell_fee_rate == 0  # the $0.00 window


def test_a_market_named_in_the_file_replaces_its_rules_and_keeps_the_others(
    tmp_path: Path,
) -> None:
    config = tmp_path / "yquant.toml"
    config.write_text(
        "[[fees.KR]]\nsince = 2026-01-01\nsell_tax_rate = 0.002\ncommission_rate = 0.00015\n"
        '[[fees.KR]]\nsince = 2026-01-01\nsell_tax_rate = 0.001\nexchange = "konex"\n'
        "[book]\nstale_after_s = 60\n"
    )
    s = load_settings(config)
    assert [(r.since.isoformat(), r.exchange) for r in s.fees["KR"]] == [
        ("2026-01-01", None),
        ("2026-01-01", "KONEX"),
    ]
    assert str(s.fees["KR"][0].commission_rate) == "0.00015"  # a TOML float, as written
    assert len(s.fees["US"]) == 4
    assert s.book.stale_after_s == 60
    assert masked(s)["fees"]["KR"][0]["sell_tax_rate"] == "0.002"


@pytest.mark.parametrize(
    ("rules", "said"),
    [
        ("since = 2026-01-01\nsell_tax_rate = 0.5\n", r"fees\.KR\.0\.sell_tax_rate"),
        ("since = 2026-01-01\nsell_tax_rat = 0.002\n", r"fees\.KR\.0\.sell_tax_rat"),
        ('since = 2026-01-01\nexchange = "NASDAQ"\n', "'NASDAQ' is not one of KOSPI"),
        ("sell_tax_rate = 0.002\n", r"fees\.KR\.0\.since"),
        ("since = 2026-01-01\n[[fees.KR]]\nsince = 2026-01-01\n", "two rules since 2026-01-01"),
        ("since = 2026-01-01\nsell_tax_rate = -0.001\n", r"fees\.KR\.0\.sell_tax_rate"),
    ],
)
def test_a_bad_fee_rule_is_refused_at_start_with_its_key(
    tmp_path: Path, rules: str, said: str
) -> None:
    config = tmp_path / "yquant.toml"
    config.write_text("[[fees.KR]]\n" + rules)
    with pytest.raises(ConfigurationError, match=said):
        load_settings(config)


def test_a_markets_fee_rules_may_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "YQUANT__FEES__US", '[{"since": "2026-04-04", "sell_fee_rate": "0.0000206"}]'
    )
    s = load_settings()
    [rule] = s.fees["US"]
    assert (str(rule.sell_fee_rate), rule.sell_fee_per_share) == ("0.0000206", 0)
    assert len(s.fees["KR"]) == 3


def test_the_paper_venue_settings_are_read_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "yquant.toml"
    config.write_text(
        '[paper]\nslippage_bps = "5"\npartial_fill_ratio = "0.25"\ncheck_interval_s = 0.5\n'
    )
    s = load_settings(config)
    assert (str(s.paper.slippage_bps), str(s.paper.partial_fill_ratio)) == ("5", "0.25")
    assert s.paper.check_interval_s == 0.5
    monkeypatch.delenv(CONFIG_ENV)
    defaults = load_settings()
    assert (defaults.paper.slippage_bps, defaults.paper.partial_fill_ratio) == (0, 1)
    for key, value in (
        ("SLIPPAGE_BPS", "-1"),
        ("PARTIAL_FILL_RATIO", "0"),
        ("PARTIAL_FILL_RATIO", "1.5"),
        ("CHECK_INTERVAL_S", "0"),
    ):
        monkeypatch.setenv(f"YQUANT__PAPER__{key}", value)
        with pytest.raises(ConfigurationError, match=rf"paper\.{key.lower()}"):
            load_settings()
        monkeypatch.delenv(f"YQUANT__PAPER__{key}")


def test_notify_channels_from_the_file_and_the_environment_with_secrets_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "yquant.toml"
    config.write_text(
        "[notify.telegram.phone]\n"
        'bot_token = "7100200300:AAE-file-bot-token"\n'
        'chat_id = "424242"\n'
        'events = ["order_filled", "alert_rejected"]\n'
        'min_level = "warning"\n'
        'language = "ko"\n'
    )
    monkeypatch.setenv(
        "YQUANT__NOTIFY__DISCORD__OPS__URL", "https://discord.com/api/webhooks/1/TOKENabc"
    )
    monkeypatch.setenv("YQUANT__NOTIFY__DISCORD__OPS__ACCOUNTS", "paper")
    s = load_settings(config)
    assert s.notify.discord["ops"].url.get_secret_value().endswith("/TOKENabc")
    assert s.notify.discord["ops"].accounts == ["paper"]
    phone = s.notify.telegram["phone"]
    assert phone.api_base == "https://api.telegram.org" and phone.language == "ko"
    assert phone.events == ["order_filled", "alert_rejected"] and phone.min_level == "warning"
    text = json.dumps(masked(s))
    assert "TOKENabc" not in text and "AAE-file-bot-token" not in text
    assert "https://discord.com/api/webhooks/1/********" in text
    assert s.notify.quiet_after_h == {}  # "strategy quiet" is off by default


def test_notify_settings_refuse_unknown_events_and_a_name_used_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("YQUANT__NOTIFY__DISCORD__OPS__URL", "https://discord.com/api/webhooks/1/x")
    monkeypatch.setenv("YQUANT__NOTIFY__DISCORD__OPS__EVENTS", "order_filed")
    with pytest.raises(ConfigurationError, match="unknown event 'order_filed'"):
        load_settings()
    monkeypatch.delenv("YQUANT__NOTIFY__DISCORD__OPS__EVENTS")
    monkeypatch.setenv("YQUANT__NOTIFY__TELEGRAM__OPS__BOT_TOKEN", "1:x")
    monkeypatch.setenv("YQUANT__NOTIFY__TELEGRAM__OPS__CHAT_ID", "1")
    with pytest.raises(ConfigurationError, match="used twice: ops"):
        load_settings()
