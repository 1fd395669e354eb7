"""Exchange rates per currency pair (``fx_rates``): written when a broker's balance inquiry
carries one, read by the dashboard (the latest) and the daily snapshots (the latest at a day's
close).

One row per run of an unchanged rate: ``since`` its first sighting, ``at`` its latest. A write
is one upsert of the run's row that moves ``at`` only forward, on SQLite and on MariaDB alike,
so writers never read first and a late write never moves a rate back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.dialects import mysql, sqlite

from yquant.adapters.db import tables
from yquant.adapters.db.store import SqlStore
from yquant.ports import FxRate

fx = tables.fx_rates


class SqlFxRates:
    """Implements `yquant.ports.FxRates`."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def latest(self, base: str, quote: str) -> FxRate | None:
        rows = await self._store.rows(
            select(fx)
            .where(fx.c.base == base, fx.c.quote == quote)
            .order_by(fx.c.at.desc(), fx.c.since.desc())
            .limit(1)
        )
        if not rows:
            return None
        row = rows[0]
        return FxRate(row["base"], row["quote"], row["rate"], row["at"], row["source"])

    async def as_of(self, base: str, quote: str, at: datetime) -> FxRate | None:
        rows = await self._store.rows(
            select(fx)
            .where(fx.c.base == base, fx.c.quote == quote, fx.c.since <= at)
            .order_by(fx.c.since.desc())
            .limit(1)
        )
        if not rows:
            return None
        row = rows[0]
        # Seen unchanged from ``since`` to ``at``: the latest sighting by then.
        return FxRate(row["base"], row["quote"], row["rate"], min(row["at"], at), row["source"])

    async def record(self, rate: FxRate, *, since: datetime | None = None) -> None:
        values = {
            "base": rate.base,
            "quote": rate.quote,
            "since": since if since is not None else rate.at,
            "rate": rate.rate,
            "source": rate.source[:16],
            "at": rate.at,
        }
        stmt: Any
        if self._store.dialect == "sqlite":
            lite = sqlite.insert(fx).values(**values)
            stmt = lite.on_conflict_do_update(
                index_elements=[fx.c.base, fx.c.quote, fx.c.since],
                set_={k: lite.excluded[k] for k in ("rate", "source", "at")},
                where=lite.excluded.at >= fx.c.at,
            )
        else:
            my = mysql.insert(fx).values(**values)
            newer = my.inserted.at >= fx.c.at
            # Left to right against the updated row: ``at``, which the condition reads, last.
            stmt = my.on_duplicate_key_update(
                [
                    ("rate", _if(newer, my.inserted.rate, fx.c.rate)),
                    ("source", _if(newer, my.inserted.source, fx.c.source)),
                    ("at", _if(newer, my.inserted.at, fx.c.at)),
                ]
            )

        async def run(conn: Any) -> None:
            await conn.execute(stmt)

        await self._store.run(run, write=True)


def _if(condition: Any, then: Any, otherwise: Any) -> Any:
    return case((condition, then), else_=otherwise)
