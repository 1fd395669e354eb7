"""Producers hand notices over on the worker's Valkey without waiting, and never fail for it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from yquant.adapters.bus import NOTICES, Bus
from yquant.domain import notices
from yquant.domain.notices import NoticeKind, notice
from yquant.processes import free_port

AT = datetime(2026, 12, 4, 6, 30, tzinfo=UTC)


async def test_a_notice_is_one_stream_entry_the_notifier_reads_back(valkey_url: str) -> None:
    bus = Bus(valkey_url)
    try:
        told = notice(NoticeKind.ORDER_SENT, "c1:sent", AT, account="main", ticker="005930")
        await bus.notify(told)
        entries = await bus.client.xrange(NOTICES)
        assert len(entries) == 1
        assert notices.from_dict(json.loads(entries[0][1]["data"])) == told
    finally:
        await bus.close()


async def test_with_valkey_away_a_notice_is_dropped_without_an_error() -> None:
    bus = Bus(f"redis://127.0.0.1:{free_port()}/0")
    try:
        await bus.notify(notice(NoticeKind.ORDER_SENT, "c1:sent", AT))
    finally:
        await bus.close()
