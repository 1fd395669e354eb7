"""Account sync tells the operator when an account's broker cannot be reached, or its token
cannot be had: once per run of failed syncs, not every interval."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.fakes import (
    FakeAccountBook,
    FakeBroker,
    FakeRecorder,
    FakeRoles,
    FixedClock,
    RecordingNotices,
)
from yquant.domain.notices import NoticeKind
from yquant.errors import BrokerTokenError
from yquant.services.account_sync import AccountSync
from yquant.services.worker_state import ActiveRole

NOW = datetime(2026, 12, 4, 1, 0, tzinfo=UTC)


async def test_an_unreachable_account_and_a_token_failure_are_told_once_each() -> None:
    broker, notices, clock = FakeBroker(), RecordingNotices(), FixedClock(NOW)
    sync = AccountSync(
        broker=broker,
        book=FakeAccountBook(FakeRecorder()),
        role=ActiveRole(FakeRoles(), "local"),
        accounts=["main"],
        clock=clock,
        notices=notices,
    )
    broker.holdings_unavailable = True
    await sync._sync_safely("main")  # noqa: SLF001 - one sync, as the loop runs it
    await sync._sync_safely("main")  # noqa: SLF001
    assert [(n.kind, n.account) for n in notices.told] == [(NoticeKind.ACCOUNT_UNREACHABLE, "main")]
    broker.holdings_unavailable = False
    await sync._sync_safely("main")  # noqa: SLF001 - back: the next failure is told again
    broker.holdings_unavailable = BrokerTokenError("KIS token issuance allowed again in 42 s")
    clock.advance(minutes=5)
    await sync._sync_safely("main")  # noqa: SLF001
    assert [n.kind for n in notices.told] == [
        NoticeKind.ACCOUNT_UNREACHABLE,
        NoticeKind.BROKER_TOKEN_FAILED,
    ]
    assert "42 s" in notices.told[1].data["error"]
