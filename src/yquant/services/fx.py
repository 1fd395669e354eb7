"""Exchange rates: what a foreign amount is worth in won, with the rate's time and source.

`FxService.rate` answers the latest USD/KRW rate known, `FxService.as_of` the rate of a past
moment (a day's close, for the daily snapshots), in order of preference:

1. a broker's rate: a KIS account's balance inquiry carries the rate KIS applies (``exrt`` of
   the buying-power inquiry, asked at every account sync and every snapshot taken from the
   broker; no call of its own). The account sync and the snapshots hand it to `observe`,
   which stores it in ``fx_rates`` (one row per run of an unchanged rate, so the rate of any
   past moment stays known; skipped while the database is away) and keeps it in memory;
2. the operator's configured rate ``fx.usdkrw`` (source ``config``), stamped with
   ``fx.usdkrw_as_of`` or, without it, the time the settings were loaded;
3. none: callers show "no rate" and leave foreign amounts out of any KRW total, never a
   total that silently counts dollars as won.

`FxService.to_krw` converts amounts per currency with one rate and says what it used and what
it could not convert. Used by the dashboard's overview and the daily account snapshots: the
one source of exchange rates, with the one setting ``fx.usdkrw``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from yquant.errors import DatabaseUnavailableError
from yquant.ports import Clock, FxRate, FxRates

logger = logging.getLogger(__name__)

HOME = "KRW"
CONFIG = "config"


@dataclass(frozen=True, slots=True)
class InKrw:
    """Amounts per currency summed in won: ``total`` counts only what could be converted;
    ``missing`` names the currencies left out (no rate known); ``rates`` the rate used for
    each foreign currency."""

    total: Decimal
    rates: dict[str, FxRate] = field(default_factory=dict)
    missing: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.missing


class FxService:
    """The latest rate per pair: observed from a broker, stored, else configured."""

    def __init__(
        self,
        *,
        clock: Clock,
        stored: FxRates | None = None,
        configured: Mapping[str, Decimal] | None = None,
        configured_at: datetime | None = None,
    ) -> None:
        """``configured``: won per unit of each foreign currency as the operator set it
        (``{"USD": Decimal("1385.2")}``), dated ``configured_at`` (default: now)."""
        self._clock = clock
        self._stored = stored
        at = configured_at or clock.now()
        self._configured = {
            currency: FxRate(currency, HOME, rate, at, CONFIG)
            for currency, rate in (configured or {}).items()
            if rate > 0
        }
        self._seen: dict[tuple[str, str], FxRate] = {}
        self._runs: dict[tuple[str, str], FxRate] = {}  # each pair's run stored: its first

    async def rate(self, base: str = "USD", quote: str = HOME) -> FxRate | None:
        """The latest rate of ``base`` in ``quote``: a broker's (stored or seen by this
        process, the newer), else the configured one, else None."""
        if base == quote:
            return FxRate(base, quote, Decimal(1), self._clock.now(), "identity")
        stored = self._stored
        read = None if stored is None else (lambda: stored.latest(base, quote))
        return await self._pick(base, quote, self._seen.get((base, quote)), read)

    async def as_of(self, at: datetime, base: str = "USD", quote: str = HOME) -> FxRate | None:
        """The rate of ``base`` in ``quote`` at ``at``: a broker's recorded at or before it
        (its latest sighting by then), else the configured one, else None."""
        if base == quote:
            return FxRate(base, quote, Decimal(1), at, "identity")
        seen = self._seen.get((base, quote))
        stored = self._stored
        read = None if stored is None else (lambda: stored.as_of(base, quote, at))
        return await self._pick(
            base, quote, seen if seen is not None and seen.at <= at else None, read
        )

    async def _pick(
        self,
        base: str,
        quote: str,
        seen: FxRate | None,
        read: Callable[[], Awaitable[FxRate | None]] | None,
    ) -> FxRate | None:
        """The newer of the rate this process saw and the one ``read`` from the database (not
        read while it is away), else the configured rate."""
        found = [seen] if seen is not None else []
        if read is not None:
            try:
                stored = await read()
            except DatabaseUnavailableError as exc:
                logger.info("fx rate not read %s/%s: database unavailable (%s)", base, quote, exc)
            else:
                if stored is not None:
                    found.append(stored)
        if found:
            return max(found, key=lambda r: r.at)
        if quote == HOME:
            return self._configured.get(base)
        return None

    async def observe(self, rate: FxRate | None) -> None:
        """Remember a broker's rate (kept only if newer); stored, skipped while the database
        is away: the same rate seen again extends its run, a new one starts a run."""
        if rate is None or rate.rate <= 0:
            return
        key = (rate.base, rate.quote)
        known = self._seen.get(key)
        if known is None or known.at <= rate.at:
            self._seen[key] = rate
        if self._stored is None:
            return
        run = self._runs.get(key)
        since = None
        if run is not None and (run.rate, run.source) == (rate.rate, rate.source):
            since = run.at if run.at <= rate.at else None
        elif run is None or run.at <= rate.at:
            self._runs[key] = rate
        try:
            await self._stored.record(rate, since=since)
        except DatabaseUnavailableError as exc:
            logger.info("fx rate not stored %s: %s", rate.pair, exc)

    async def to_krw(self, amounts: Mapping[str, Decimal]) -> InKrw:
        """``amounts`` (per currency) summed in won with the latest rate of each currency."""
        total = Decimal(0)
        rates: dict[str, FxRate] = {}
        missing: list[str] = []
        for currency, amount in sorted(amounts.items()):
            if currency == HOME:
                total += amount
                continue
            rate = await self.rate(currency, HOME)
            if rate is None:
                missing.append(currency)
                continue
            rates[currency] = rate
            total += amount * rate.rate
        return InKrw(total, rates, tuple(missing))
