"""The wire format of the messages between roles: typed commands and events round trip, and
an entry in the previous version's format decodes (a blue/green switch mixes the two)."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal

import orjson
import pytest

from tests.wire_samples import (
    ALERT,
    CANCEL,
    CANCEL_ENTRY,
    FILL,
    FILL_ENTRY,
    ORDER,
    ORDER_ENTRY,
    SIGNAL_ENTRY,
)
from yquant.adapters import messages
from yquant.adapters.messages import (
    CANCELS,
    EXECUTIONS,
    ORDERS,
    SIGNALS,
    UndecodableMessageError,
    decode,
    encode,
    encode_event,
    stream_of,
)
from yquant.domain.commands import DecideSignal, PlaceOrder
from yquant.domain.events import (
    CancelAnswered,
    OrderChanged,
    OrderFilled,
    SignalDecided,
    SignalRefused,
    SignalsAccepted,
    SwitchChanged,
)
from yquant.domain.model import MarketPosition, OrderStatus, SignalStatus
from yquant.domain.reasons import ReasonCode
from yquant.domain.risk import KillState

CASES = [
    (DecideSignal(ALERT), SIGNALS, SIGNAL_ENTRY),
    (PlaceOrder(ORDER), ORDERS, ORDER_ENTRY),
    (OrderFilled(FILL), EXECUTIONS, FILL_ENTRY),
    (CANCEL, CANCELS, CANCEL_ENTRY),
]


@pytest.mark.parametrize(("message", "stream", "entry"), CASES)
def test_a_message_is_written_byte_for_byte_as_the_previous_version_wrote_it(
    message: messages.Message, stream: str, entry: str
) -> None:
    assert stream_of(message) == stream
    # What the bus appends as the entry's "data" field.
    assert orjson.dumps(encode(message)) == entry.encode()


@pytest.mark.parametrize(("message", "stream", "entry"), CASES)
def test_an_entry_in_the_previous_versions_format_decodes_to_its_message(
    message: messages.Message, stream: str, entry: str
) -> None:
    assert decode(stream, json.loads(entry)) == message


@pytest.mark.parametrize(("message", "stream", "entry"), CASES)
def test_a_message_round_trips(message: messages.Message, stream: str, entry: str) -> None:
    assert decode(stream, json.loads(orjson.dumps(encode(message)))) == message


def test_an_alert_with_only_its_required_fields_round_trips() -> None:
    bare = dataclasses.replace(
        ALERT,
        price=None,
        quantity=None,
        limit_price=None,
        position_size=None,
        market_position=None,
        alert_id=None,
        bar_time=None,
        comment=None,
    )
    data = json.loads(orjson.dumps(encode(DecideSignal(bare))))
    assert decode(SIGNALS, data) == DecideSignal(bare)


def test_an_entry_that_is_not_a_message_of_its_stream_is_undecodable() -> None:
    with pytest.raises(UndecodableMessageError):
        decode(ORDERS, json.loads(SIGNAL_ENTRY))
    with pytest.raises(UndecodableMessageError):
        decode(SIGNALS, {**json.loads(SIGNAL_ENTRY), "market": "MARS"})
    with pytest.raises(UndecodableMessageError):
        decode(EXECUTIONS, {**json.loads(FILL_ENTRY), "price": "not a number"})


def test_a_cancel_answer_round_trips_with_and_without_an_order() -> None:
    done = CancelAnswered("yq1", "r1", OrderStatus.CANCELLED, Decimal("2"), True)
    missing = CancelAnswered("yq2", "r2", None, Decimal(0), False, ReasonCode.NOT_FOUND)
    for answer in (done, missing):
        wire = json.loads(json.dumps(messages.answer_to_message(answer)))
        assert messages.answer_from_message(wire) == answer


def test_a_stream_without_typed_messages_decodes_to_nothing() -> None:
    assert decode("yq:other", {"n": 1}) is None


def test_live_events_keep_the_shape_dashboards_read() -> None:
    assert encode_event(SignalsAccepted(3)) == {"type": "signal", "status": "accepted", "count": 3}
    assert encode_event(SignalRefused(ReasonCode.BAD_SECRET)) == {
        "type": "signal",
        "status": "rejected",
        "reason": "bad_secret",
    }
    assert encode_event(SignalDecided("sig-1", SignalStatus.ORDERED)) == {
        "type": "signal",
        "key": "sig-1",
        "status": "ordered",
    }
    assert encode_event(OrderChanged("yq1", OrderStatus.FILLED)) == {
        "type": "order",
        "cid": "yq1",
        "status": "filled",
    }
    assert encode_event(SwitchChanged("global", KillState.HALTED)) == {
        "type": "control",
        "scope": "global",
        "state": "halted",
    }


def test_tradingviews_previous_position_travels_and_old_entries_stay_readable() -> None:
    flipped = dataclasses.replace(
        ALERT, market_position=MarketPosition.LONG, prev_market_position=MarketPosition.SHORT
    )
    data = json.loads(orjson.dumps(encode(DecideSignal(flipped))))
    assert data["prev_market_position"] == "short"
    assert decode(SIGNALS, data) == DecideSignal(flipped)
    # Journaled before positions were checked: any text; what is not a position reads as none.
    old = {**json.loads(SIGNAL_ENTRY), "market_position": "Long"}
    assert decode(SIGNALS, old).alert.market_position is MarketPosition.LONG  # type: ignore[union-attr]
    odd = {**json.loads(SIGNAL_ENTRY), "market_position": "sideways", "prev_market_position": 3}
    alert = decode(SIGNALS, odd).alert  # type: ignore[union-attr]
    assert (alert.market_position, alert.prev_market_position) == (None, None)
