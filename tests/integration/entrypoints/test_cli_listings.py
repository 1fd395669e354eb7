"""`yquant signals|orders|fills` print tables in the operator's language; --json stays raw."""

from __future__ import annotations

import asyncio
import json
import unicodedata
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support import krx_order, record_rows, refused_order, yquant, yquant_env
from yquant.adapters.db.rows import fill_row, order_row, signal_row
from yquant.domain.model import Fill, Market, OrderStatus, Side, SignalStatus
from yquant.domain.reasons import ReasonCode
from yquant.entrypoints import i18n

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
    # The signal's action and the order's side are words too ("buy" is 매수).
    assert codes["buy"] == "매수" and codes["buy"] in row and " buy" not in row
    # Columns line up on a terminal, where each Hangul syllable takes two cells.
    status_at = _width(head[: head.index(ko["status"])])
    assert _width(row[: row.index(codes["rejected"])]) == status_at


@pytest.mark.parametrize("listing", ["signals", "orders"])
def test_english_tables_use_english_words_and_stay_aligned(data_dir: Path, listing: str) -> None:
    result = yquant(listing, env=yquant_env(data_dir, YQUANT__LANGUAGE="en"))
    assert result.returncode == 0, result.stderr
    head, row = result.stdout.splitlines()
    en, codes = i18n.MESSAGES["en"], i18n.CODES["en"]
    reason = ReasonCode.STALE if listing == "signals" else ReasonCode.INSUFFICIENT_CASH
    assert codes[reason] == {"signals": "Alert too old", "orders": "Insufficient cash"}[listing]
    assert (codes["rejected"], codes["buy"]) == ("Rejected", "Buy")
    for word in (codes["rejected"], codes[reason], codes["buy"]):
        assert word in row, (word, row)
    for code in ("rejected", reason, "buy"):
        assert f" {code} " not in f" {row} ", (code, row)
    # Columns line up on a terminal (the catalog's Korean names take two cells a syllable).
    for word, heading in ((codes["rejected"], en["status"]), (codes[reason], en["reason"])):
        assert _width(row[: row.index(word)]) == _width(head[: head.index(heading)])


def test_json_keeps_the_codes_in_either_language(data_dir: Path) -> None:
    for language in ("en", "ko"):
        env = yquant_env(data_dir, YQUANT__LANGUAGE=language)
        [order] = json.loads(yquant("orders", "--json", env=env).stdout)
        assert (order["status"], order["reason"], order["side"]) == (
            "rejected",
            ReasonCode.INSUFFICIENT_CASH,
            "buy",
        )
        [signal] = json.loads(yquant("signals", "--json", env=env).stdout)
        assert (signal["status"], signal["reason"]) == ("rejected", ReasonCode.STALE)


def test_an_empty_listing_says_so_in_the_operators_language(tmp_path: Path) -> None:
    env = yquant_env(tmp_path / "data", YQUANT__LANGUAGE="ko")
    assert yquant("db", "upgrade", env=env).returncode == 0
    result = yquant("fills", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"({i18n.MESSAGES['ko']['none']})"
    assert i18n.MESSAGES["ko"]["currency"] in result.stdout


# A US order filled at a sub-cent average, and its fill, in New York's summer time.
T_US = datetime(2026, 7, 1, 13, 30, 5, 123456, tzinfo=UTC)  # 09:30:05 EDT
FILLED_US = krx_order(
    "yq-cli-us",
    T_US,
    ticker="AAPL",
    exchange="NASDAQ",
    market=Market.US,
    quantity=Decimal("6.0000"),
    status=OrderStatus.FILLED,
    filled_quantity=Decimal("6.0000"),
    avg_fill_price=Decimal("190.10000000"),
)
US_FILL = Fill(
    fill_id="yq-cli-us:1",
    client_order_id="yq-cli-us",
    account="paper",
    ticker="AAPL",
    side=Side.BUY,
    quantity=Decimal("6.0000"),
    price=Decimal("190.1000"),
    commission=Decimal("0.0001"),
    currency="USD",
    filled_at=T_US,
)
KR_FILL = Fill(
    fill_id="yq-cli-kr:1",
    client_order_id="yq-cli-kr",
    account="paper",
    ticker="005930",
    side=Side.BUY,
    quantity=Decimal("1200"),
    price=Decimal("71181.81818182"),
    commission=Decimal("1500.00"),
    currency="KRW",
    filled_at=T0,  # 10:02:03 KST
)


@pytest.fixture
def traded(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    assert yquant("db", "upgrade", env=yquant_env(data)).returncode == 0
    writes = [
        ("signal.insert", REFUSED_SIGNAL),
        ("order.insert", order_row(FILLED_US)),
        ("fill.insert", fill_row(KR_FILL)),
        ("fill.insert", fill_row(US_FILL)),
    ]
    assert record_rows(data, writes) == [True] * len(writes)
    return data


def test_listings_show_amounts_quantities_times_and_names_for_people(traded: Path) -> None:
    env = yquant_env(traded, YQUANT__LANGUAGE="en")
    orders = yquant("orders", env=env)
    assert orders.returncode == 0, orders.stderr
    head, row = orders.stdout.splitlines()
    assert "2026-07-01 09:30:05 EDT" in row  # New York, whole seconds, the zone named
    assert "APPLE INC" in row  # the catalog's name beside the code
    assert "$190.10" in row and "190.1000" not in row
    assert " 6 " in row and "6.0000" not in row

    fills = yquant("fills", env=env)
    assert fills.returncode == 0, fills.stderr
    head, *rows = fills.stdout.splitlines()
    [kr] = [r for r in rows if "005930" in r]
    [us] = [r for r in rows if "AAPL" in r]
    assert kr.startswith("2026-11-27 10:02:03 KST")
    assert "₩71,182" in kr and "₩1,500" in kr and "1,200" in kr
    assert "삼성전자" in kr  # the shipped snapshot's name: no catalog synced yet
    assert us.startswith("2026-07-01 09:30:05 EDT")
    assert "$190.10" in us and "$0.0001" in us
    # Right-aligned amounts end in the same terminal column, Hangul counted as two.
    price_end = _width(head[: head.index("Price") + len("Price")])
    assert _width(kr[: kr.index("₩71,182") + len("₩71,182")]) == price_end
    assert _width(us[: us.index("$190.10") + len("$190.10")]) == price_end

    utc = yquant("fills", "--utc", env=env)
    assert "2026-11-27 01:02:03 UTC" in utc.stdout and "2026-07-01 13:30:05 UTC" in utc.stdout

    signals = yquant("signals", env=yquant_env(traded, YQUANT__LANGUAGE="ko"))
    assert signals.returncode == 0, signals.stderr
    [row] = signals.stdout.splitlines()[1:]
    assert row.startswith("2026-11-27 10:02:03 KST") and "삼성전자" in row


@pytest.mark.parametrize("listing", ["signals", "orders", "fills"])
def test_json_listings_are_the_views_unchanged(traded: Path, listing: str) -> None:
    """Scripts read --json: exactly the views' rows (raw codes, exact decimals, UTC ISO times),
    in the same bytes as before the tables were made for people."""
    from yquant import views
    from yquant.adapters.db.store import SqlStore

    async def rows() -> list[dict[str, object]]:
        store = SqlStore(f"sqlite+aiosqlite:///{traded / 'yquant.sqlite3'}")
        try:
            listed: list[dict[str, object]] = await getattr(views, listing)(store, 50)
            return listed
        finally:
            await store.close()

    expected = asyncio.run(rows())
    for language in ("en", "ko"):
        result = yquant(listing, "--json", env=yquant_env(traded, YQUANT__LANGUAGE=language))
        assert result.returncode == 0, result.stderr
        assert result.stdout == json.dumps(expected, ensure_ascii=False, indent=1) + "\n"
    if listing == "fills":
        by_id = {r["fill_id"]: r for r in json.loads(result.stdout)}
        assert by_id["yq-cli-kr:1"] == {
            "fill_id": "yq-cli-kr:1",
            "client_order_id": "yq-cli-kr",
            "account": "paper",
            "ticker": "005930",
            "side": "buy",
            "quantity": "1200",
            "price": "71181.81818182",
            "commission": "1500",
            "currency": "KRW",
            "filled_at": "2026-11-27T01:02:03+00:00",
        }
    if listing == "orders":
        [order] = json.loads(result.stdout)
        assert (order["quantity"], order["avg_fill_price"]) == ("6", "190.1")
        assert order["created_at"] == "2026-07-01T13:30:05.123456+00:00"
