"""Manual approval's settings: per strategy, refused where the wait could never end in a send,
and the Telegram channel must be one of the configured ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from yquant.settings import Settings


def settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(data_dir=tmp_path, **overrides)  # type: ignore[arg-type]


def test_a_strategy_is_automatic_unless_it_says_manual(tmp_path: Path) -> None:
    s = settings(
        tmp_path,
        strategies={
            "held": {"approval": "manual", "approval_timeout_s": 60, "on_timeout": "approve"},
            "free": {},
        },
    )
    held = s.approval_of("held")
    assert held is not None
    assert (held.approval_timeout_s, held.on_timeout) == (60, "approve")
    assert s.approval_of("free") is None and s.approval_of("unknown") is None
    assert s.strategies["free"].approval_timeout_s == 120
    assert s.strategies["free"].on_timeout == "reject"


def test_a_wait_longer_than_the_gateway_sends_after_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"must be below gateway\.max_send_delay_s"):
        settings(tmp_path, strategies={"held": {"approval": "manual", "approval_timeout_s": 280}})
    # Allowed once the gateway waits longer; an automatic strategy is not held to it.
    settings(
        tmp_path,
        strategies={"held": {"approval": "manual", "approval_timeout_s": 280}},
        gateway={"max_send_delay_s": 600},
    )
    settings(tmp_path, strategies={"free": {"approval_timeout_s": 900}})
    with pytest.raises(ValidationError):
        settings(tmp_path, strategies={"held": {"approval": "sometimes"}})


def test_the_telegram_channel_is_a_configured_one(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"names no notify\.telegram channel 'ops'"):
        settings(tmp_path, approvals={"telegram_channel": "ops"})
    ops = {"telegram": {"ops": {"bot_token": "1:x", "chat_id": "42"}}}
    with pytest.raises(ValidationError, match="list who may approve on Telegram"):
        settings(tmp_path, notify=ops, approvals={"telegram_channel": "ops"})
    s = settings(
        tmp_path,
        notify=ops,
        approvals={"telegram_channel": "ops", "telegram_user_ids": [5551]},
    )
    assert s.approvals.telegram_user_ids == [5551]
