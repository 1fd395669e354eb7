"""Sample messages and their encodings as the previous version wrote them (stream entries and
journal rows), kept literally: a worker of this version must read what the other colour of a
blue/green switch wrote, and replay a journal an earlier version left behind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from yquant.domain.commands import CancelOrder
from yquant.domain.model import (
    Action,
    Alert,
    Fill,
    Market,
    MarketPosition,
    Order,
    OrderStatus,
    OrderType,
    Side,
)

KST = timezone(timedelta(hours=9))

ALERT = Alert(
    key="sig-1",
    strategy="trend",
    ticker="005930",
    exchange="KRX",
    market=Market.KR,
    action=Action.BUY,
    received_at=datetime(2026, 11, 27, 0, 1, 2, 345678, tzinfo=UTC),
    price=Decimal("71000"),
    quantity=Decimal("2"),
    order_type=OrderType.LIMIT,
    limit_price=Decimal("70900.5"),
    position_size=Decimal("10"),
    market_position=MarketPosition.LONG,
    alert_id="a1",
    bar_time=datetime(2026, 11, 27, 9, 0, tzinfo=KST),
    comment="첫 매수",
)

ORDER = Order(
    client_order_id="yq-sig-1-paper",
    signal_key="sig-1",
    account="paper",
    strategy="trend",
    ticker="005930",
    exchange="KRX",
    market=Market.KR,
    side=Side.BUY,
    order_type=OrderType.LIMIT,
    quantity=Decimal("2"),
    created_at=datetime(2026, 11, 27, 0, 1, 3, tzinfo=UTC),
    updated_at=datetime(2026, 11, 27, 0, 1, 4, 500000, tzinfo=UTC),
    limit_price=Decimal("70900.5"),
    reference_price=Decimal("71000"),
    status=OrderStatus.PARTIALLY_FILLED,
    filled_quantity=Decimal("1"),
    avg_fill_price=Decimal("70900"),
    broker_order_id="0000123",
)

FILL = Fill(
    fill_id="0000123:1",
    client_order_id="yq-sig-1-paper",
    account="paper",
    ticker="005930",
    side=Side.BUY,
    quantity=Decimal("1"),
    price=Decimal("70900"),
    commission=Decimal("10.64"),
    currency="KRW",
    filled_at=datetime(2026, 11, 27, 0, 1, 4, tzinfo=UTC),
)

CANCEL = CancelOrder(
    client_order_id="yq-sig-1-paper",
    request_id="5f0c2d7e9b8a4c1d",
    requested_at=datetime(2026, 11, 27, 0, 2, 0, 250000, tzinfo=UTC),
)

# The "data" field of a stream entry, byte for byte.
SIGNAL_ENTRY = (
    '{"key":"sig-1","strategy":"trend","ticker":"005930","exchange":"KRX","market":"KR",'
    '"action":"buy","received_at":"2026-11-27T00:01:02.345678+00:00","price":"71000",'
    '"quantity":"2","order_type":"limit","limit_price":"70900.5","strength":null,'
    '"position_size":"10","market_position":"long","alert_id":"a1",'
    '"bar_time":"2026-11-27T09:00:00+09:00","sent_at":null,"comment":"첫 매수"}'
)
ORDER_ENTRY = (
    '{"client_order_id":"yq-sig-1-paper","signal_key":"sig-1","account":"paper",'
    '"strategy":"trend","ticker":"005930","exchange":"KRX","market":"KR","side":"buy",'
    '"order_type":"limit","quantity":"2","limit_price":"70900.5","reference_price":"71000",'
    '"status":"partially_filled","status_rank":4,"filled_quantity":"1",'
    '"avg_fill_price":"70900","broker_order_id":"0000123","reason":null,'
    '"created_at":"2026-11-27T00:01:03+00:00","updated_at":"2026-11-27T00:01:04.500000+00:00"}'
)
FILL_ENTRY = (
    '{"fill_id":"0000123:1","client_order_id":"yq-sig-1-paper","account":"paper",'
    '"ticker":"005930","side":"buy","quantity":"1","price":"70900","commission":"10.64",'
    '"currency":"KRW","filled_at":"2026-11-27T00:01:04+00:00"}'
)

CANCEL_ENTRY = (
    '{"client_order_id":"yq-sig-1-paper","request_id":"5f0c2d7e9b8a4c1d",'
    '"requested_at":"2026-11-27T00:02:00.250000+00:00","reason":"cancelled"}'
)

# Journal rows (op, key, payload) as the previous version appended them.
SIGNAL_BODY = {
    "secret": "s",
    "strategy": "trend",
    "ticker": "KRX:005930",
    "action": "buy",
    "quantity": Decimal("2"),
}
JOURNAL_SIGNAL_INSERT = (
    '{"signal_key":"sig-1","worker":"blue","status":"accepted","status_rank":0,"reason":null,'
    '"detail":null,"strategy":"trend","ticker":"KRX:005930","exchange":"KRX","action":"buy",'
    '"source_ip":"52.89.214.238","payload":"{\\"strategy\\": \\"trend\\", \\"ticker\\": '
    '\\"KRX:005930\\", \\"action\\": \\"buy\\", \\"quantity\\": 2}",'
    '"received_at":"2026-11-27T00:01:02.345678+00:00",'
    '"updated_at":"2026-11-27T00:01:02.345678+00:00"}'
)
JOURNAL_ORDER_INSERT = ORDER_ENTRY  # the row's own encoding is the message's
JOURNAL_FILL_INSERT = FILL_ENTRY
JOURNAL_SIGNAL_ADVANCE = (
    '{"signal_key":"sig-1","worker":"blue","status":"ordered","status_rank":1,"reason":null,'
    '"detail":"paper: filled","strategy":"trend","ticker":"KRX:005930","exchange":"KRX",'
    '"action":"buy","source_ip":null,"payload":null,'
    '"received_at":"2026-11-27T00:01:02.345678+00:00","updated_at":"2026-11-27T00:01:05+00:00"}'
)
JOURNAL_QUEUE_INSERT = (
    '{"client_order_id":"yq179edb701330f94e1bf748","signal_key":"sig-1","account":"pa'
    'per","strategy":"trend","market":"KR","exchange":"KOSPI","ticker":"005930","aler'
    't":"{\\"key\\":\\"sig-1\\",\\"strategy\\":\\"trend\\",\\"ticker\\":\\"005930\\",\\"exchange\\"'
    ':\\"KRX\\",\\"market\\":\\"KR\\",\\"action\\":\\"buy\\",\\"received_at\\":\\"2026-11-27T00:01'
    ':02.345678+00:00\\",\\"price\\":\\"71000\\",\\"quantity\\":\\"2\\",\\"order_type\\":\\"limit'
    '\\",\\"limit_price\\":\\"70900.5\\",\\"strength\\":null,\\"position_size\\":\\"10\\",\\"mark'
    'et_position\\":\\"long\\",\\"alert_id\\":\\"a1\\",\\"bar_time\\":\\"2026-11-27T09:00:00+09'
    ':00\\",\\"sent_at\\":null,\\"comment\\":\\"\\\\uccab \\\\ub9e4\\\\uc218\\"}","state":"queued"'
    ',"reason":null,"detail":"market closed","release_after":"2026-11-30T00:00:00+00:'
    '00","expires_at":"2026-11-30T00:30:00+00:00","queued_at":"2026-11-28T03:00:00+00'
    ':00","updated_at":"2026-11-28T03:00:00+00:00"}'
)
# A signal the sweeper gave up on: only what moves, at the rank of accepted.
JOURNAL_SIGNAL_GIVEN_UP = (
    '{"signal_key":"sig-2","worker":"blue","status":"rejected","status_rank":0,"reaso'
    'n":"not_rebuildable","detail":"the stored fields do not parse: bad_json","receiv'
    'ed_at":"2026-11-27T00:01:02+00:00","updated_at":"2026-11-27T00:02:00+00:00"}'
)
