"""Typed writes to the rows the database and the journal hold: the operation names and the
encoded rows stay those of the previous version (a journal it left behind replays)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tests.wire_samples import (
    ALERT,
    FILL,
    JOURNAL_FILL_INSERT,
    JOURNAL_ORDER_INSERT,
    JOURNAL_QUEUE_INSERT,
    JOURNAL_SIGNAL_ADVANCE,
    JOURNAL_SIGNAL_GIVEN_UP,
    JOURNAL_SIGNAL_INSERT,
    ORDER,
    SIGNAL_BODY,
)
from yquant.adapters.db import codec
from yquant.adapters.db.rows import order_from_row, to_row
from yquant.domain.model import Instrument, Market, SignalStatus
from yquant.domain.reasons import ReasonCode
from yquant.domain.writes import (
    AdvanceOrder,
    AdvanceSignal,
    InsertFill,
    InsertOrder,
    InsertSignal,
    QueueOrder,
    Write,
)


def journaled(write: Write) -> tuple[str, str]:
    """What the recorder appends to the journal for ``write``: its op and its payload."""
    op, row = to_row(write)
    return op, json.dumps(codec.encode(row), separators=(",", ":"))


def test_an_accepted_signal_is_the_row_the_previous_version_journaled() -> None:
    write = InsertSignal(
        key="sig-1",
        worker="blue",
        status=SignalStatus.ACCEPTED,
        received_at=ALERT.received_at,
        updated_at=ALERT.received_at,
        alert=ALERT,
        source_ip="52.89.214.238",
        fields=SIGNAL_BODY,
    )
    assert journaled(write) == ("signal.insert", JOURNAL_SIGNAL_INSERT)
    assert "secret" not in to_row(write)[1]["payload"]


def test_a_decision_is_the_row_the_previous_version_journaled() -> None:
    write = AdvanceSignal(
        key="sig-1",
        worker="blue",
        status=SignalStatus.ORDERED,
        received_at=ALERT.received_at,
        updated_at=datetime(2026, 11, 27, 0, 1, 5, tzinfo=UTC),
        alert=ALERT,
        detail="paper: filled",
    )
    assert journaled(write) == ("signal.advance", JOURNAL_SIGNAL_ADVANCE)


def test_a_provisional_rejection_without_its_alert_moves_only_the_outcome() -> None:
    write = AdvanceSignal(
        key="sig-2",
        worker="blue",
        status=SignalStatus.REJECTED,
        received_at=datetime(2026, 11, 27, 0, 1, 2, tzinfo=UTC),
        updated_at=datetime(2026, 11, 27, 0, 2, tzinfo=UTC),
        reason=ReasonCode.NOT_REBUILDABLE,
        detail="the stored fields do not parse: bad_json",
        provisional=True,
    )
    assert journaled(write) == ("signal.advance", JOURNAL_SIGNAL_GIVEN_UP)


def test_orders_and_fills_are_the_rows_the_previous_version_journaled() -> None:
    assert journaled(InsertOrder(ORDER)) == ("order.insert", JOURNAL_ORDER_INSERT)
    assert journaled(AdvanceOrder(ORDER)) == ("order.advance", JOURNAL_ORDER_INSERT)
    assert journaled(InsertFill(FILL)) == ("fill.insert", JOURNAL_FILL_INSERT)


def test_a_queued_order_is_the_row_the_previous_version_journaled() -> None:
    write = QueueOrder(
        ALERT,
        "paper",
        Instrument(Market.KR, "KOSPI", "005930", "KRW"),
        "market closed",
        release_after=datetime(2026, 11, 30, 0, 0, tzinfo=UTC),
        expires_at=datetime(2026, 11, 30, 0, 30, tzinfo=UTC),
        queued_at=datetime(2026, 11, 28, 3, 0, tzinfo=UTC),
    )
    assert journaled(write) == ("queue.insert", JOURNAL_QUEUE_INSERT)


def test_an_order_row_reads_back_as_the_order() -> None:
    assert order_from_row(to_row(InsertOrder(ORDER))[1]) == ORDER
    assert order_from_row(json.loads(JOURNAL_ORDER_INSERT)) == ORDER
