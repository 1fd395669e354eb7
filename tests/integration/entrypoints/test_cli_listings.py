"""`yquant signals|orders|fills` print tables in the operator's language; --json stays raw."""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support import record_rows, refused_order, yquant, yquant_env
from yquant.domain.model import SignalStatus
from yquant.domain.reasons import ReasonCode
from yquant.entrypoints import i18n
from yquant.services.records import order_row, signal_row

T0 = datetime(2026, 11, 27, 1, 2, 3, tzinfo=UTC)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


REFUSED_SIGNAL = signal_row(
    key="rej-cli",
    worker="local",
    status=SignalStatus.REJECTED,
    received_at=T0,
    updated_at=T0,
    reason=ReasonCode.STALE,
    detail="timenow is 120s from now",
    fields={"strategy": "데모 전략", "ticker": "KRX:005930", "action": "buy"},
)
REFUSED_ORDER = refused_order("yq-cli-1", ReasonCode.INSUFFICIENT_CASH, T0, signal_key="rej-cli")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    env = yquant_env(data)
    assert yquant("db", "upgrade", env=env).returncode == 0

    writes = [("signal.insert", REFUSED_SIGNAL), ("order.insert", order_row(REFUSED_ORDER))]
    assert record_rows(data, writes) == [True, True]
    return data


@pytest.mark.parametrize("listing", ["signals", "orders"])
def test_korean_tables_use_korean_words_and_stay_aligned(data_dir: Path, listing: str) -> None:
    result = yquant(listing, env=yquant_env(data_dir, YQUANT__LANGUAGE="ko"))
    assert result.returncode == 0, result.stderr
    head, row = result.stdout.splitlines()
    ko, codes = i18n.MESSAGES["ko"], i18n.CODES["ko"]
    assert head.split()[:2] == [ko["time"], ko["order"] if listing == "orders" else ko["status"]]
    assert codes["rejected"] in row
    reason = ReasonCode.STALE if listing == "signals" else ReasonCode.INSUFFICIENT_CASH
    assert codes[reason] in row and reason not in row
    # Columns line up on a terminal, where each Hangul syllable takes two cells.
    status_at = _width(head[: head.index(ko["status"])])
    assert _width(row[: row.index(codes["rejected"])]) == status_at


def test_english_tables_show_the_codes_and_json_keeps_them(data_dir: Path) -> None:
    env = yquant_env(data_dir, YQUANT__LANGUAGE="en")
    result = yquant("orders", env=env)
    assert result.returncode == 0, result.stderr
    head, row = result.stdout.splitlines()
    assert head.split()[-2:] == ["Status", "Reason"]
    assert row.split()[-2:] == ["rejected", ReasonCode.INSUFFICIENT_CASH]
    as_json = yquant("orders", "--json", env=yquant_env(data_dir, YQUANT__LANGUAGE="ko"))
    [order] = json.loads(as_json.stdout)
    assert (order["status"], order["reason"]) == ("rejected", ReasonCode.INSUFFICIENT_CASH)


def test_an_empty_listing_says_so_in_the_operators_language(tmp_path: Path) -> None:
    env = yquant_env(tmp_path / "data", YQUANT__LANGUAGE="ko")
    assert yquant("db", "upgrade", env=env).returncode == 0
    result = yquant("fills", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"({i18n.MESSAGES['ko']['none']})"
    assert i18n.MESSAGES["ko"]["currency"] in result.stdout
