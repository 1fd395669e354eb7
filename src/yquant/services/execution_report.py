"""`yquant report execution` and the dashboard's execution page: the percentiles of each hop of
the order path and of slippage, per strategy, market and broker (`yquant.domain.execution`)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from yquant.domain.execution import ExecutionRecord, GroupQuality, quality


class ExecutionReads(Protocol):
    async def execution_records(
        self, since: datetime, until: datetime, strategy: str | None = None
    ) -> list[ExecutionRecord]: ...


async def execution_quality(
    reads: ExecutionReads, since: datetime, until: datetime, strategy: str | None = None
) -> list[GroupQuality]:
    """The groups of the orders decided in [since, until), the total last."""
    return quality(await reads.execution_records(since, until, strategy))
