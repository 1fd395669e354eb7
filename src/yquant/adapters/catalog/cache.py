"""The catalog in a worker's memory: exact resolution, and reloads when the database says so.

Loading order at start (`load_instruments`):

1. the database (one consistent read of the traded markets); then the copy is saved locally;
2. when the database cannot be reached: the worker's last local snapshot;
3. when the database holds no catalog for a market (a fresh install): the snapshot shipped with
   the package, which is also written to the database so every process sees the same rows.
   With neither a database nor a local snapshot, the shipped snapshot is used as well.

The signal to reload travels through the database, not through Valkey: each worker's Valkey is
its own. `refresh_forever` polls ``catalog_versions`` and reloads when a version moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from yquant.adapters.catalog.listing import CatalogInstrument, Listing, checksum
from yquant.adapters.catalog.repository import PACKAGE_SOURCE, CatalogRepository, MarketWrite
from yquant.adapters.catalog.snapshot import local_path, read_local, shipped_listings, write_local
from yquant.adapters.catalog.sources import exchange_scope
from yquant.adapters.db.store import SqlStore
from yquant.domain.model import Market
from yquant.domain.reasons import ReasonCode
from yquant.errors import DatabaseUnavailableError, SignalRejectedError
from yquant.settings import Settings

logger = logging.getLogger(__name__)

# Reason codes of a resolution that found no single tradable listing.

TRADED_MARKETS: tuple[str, ...] = tuple(m.value for m in Market)

SOURCE_DATABASE = "database"
SOURCE_LOCAL = "local snapshot"
SOURCE_PACKAGE = PACKAGE_SOURCE


def ticker_key(ticker: str) -> str:
    """One spelling for share-class separators: TradingView's BRK.B, KIS's BRK/B, BRK-B."""
    return ticker.strip().upper().replace("/", ".").replace("-", ".")


class CatalogCache:
    """Implements `yquant.ports.Instruments` from an in-memory copy of the catalog."""

    def __init__(
        self,
        listings: Iterable[Listing],
        versions: dict[str, int],
        *,
        source: str,
        repository: CatalogRepository | None = None,
        snapshot: Path | None = None,
    ) -> None:
        self._repository = repository
        self._snapshot = snapshot
        self._install(list(listings), versions, source)

    def _install(self, listings: list[Listing], versions: dict[str, int], source: str) -> None:
        index: dict[tuple[str, str], list[Listing]] = {}
        for x in listings:
            if x.market in TRADED_MARKETS:
                index.setdefault((x.market, ticker_key(x.ticker)), []).append(x)
        markets = {x.market for x in listings}
        # Swapped in one step: a resolve running between awaits sees the old or the new copy.
        self._index, self._listings = index, listings
        self._versions, self._markets = dict(versions), markets
        self._source, self._loaded_at = source, datetime.now(UTC)

    # ---- the Instruments port --------------------------------------------------------------

    def resolve(self, market: Market, exchange: str, ticker: str) -> CatalogInstrument:
        return self.resolve_listing(market, exchange, ticker).instrument()

    def resolve_listing(self, market: Market | str, exchange: str, ticker: str) -> Listing:
        """Exactly one listing of ``ticker`` on ``exchange``, or SignalRejectedError. No guess."""
        market_code = Market(market).value
        symbol = f"{exchange}:{ticker}"
        if market_code not in self._markets:
            raise SignalRejectedError(
                ReasonCode.UNKNOWN_TICKER, f"{symbol}: no {market_code} catalog is loaded"
            )
        scope = exchange_scope(exchange)
        found = self._index.get((market_code, ticker_key(ticker)), [])
        matches = [x for x in found if x.exchange in scope]
        if not matches:
            elsewhere = sorted({x.exchange for x in found})
            where = f" (listed on {', '.join(elsewhere)} instead)" if elsewhere else ""
            raise SignalRejectedError(
                ReasonCode.UNKNOWN_TICKER, f"{symbol} is not in the catalog{where}"
            )
        if len(matches) > 1:
            names = ", ".join(f"{x.exchange}:{x.ticker}" for x in matches)
            raise SignalRejectedError(ReasonCode.AMBIGUOUS_TICKER, f"{symbol} matches {names}")
        listing = matches[0]
        if not listing.tradable:
            kind = listing.security_type or "this kind of security"
            raise SignalRejectedError(ReasonCode.NOT_TRADABLE, f"{symbol} is a {kind}, not routed")
        if listing.halted:
            raise SignalRejectedError(ReasonCode.HALTED, f"{symbol}: trading is halted")
        return listing

    # ---- what else the worker and the CLI ask ----------------------------------------------

    def version(self) -> dict[str, int]:
        return dict(self._versions)

    @property
    def source(self) -> str:
        return self._source

    @property
    def loaded_at(self) -> datetime:
        return self._loaded_at

    def __len__(self) -> int:
        return len(self._listings)

    def find(self, ticker: str) -> list[Listing]:
        """Every listing of ``ticker`` in any loaded market (for people, not for routing)."""
        key = ticker_key(ticker)
        return [x for x in self._listings if ticker_key(x.ticker) == key]

    def search(self, text: str, limit: int = 10) -> list[Listing]:
        """Tradable KR and US listings whose ticker starts with ``text`` or whose Korean or
        English name holds it (any case), best first: the exact ticker, a ticker that starts
        with it, a name that starts with it, then a name that holds it (for people typing)."""
        needle = " ".join(text.split()).casefold()
        if not needle:
            return []
        key = ticker_key(needle.upper())
        ranked: list[tuple[int, int, str, Listing]] = []
        for x in self._listings:
            if x.market not in ("KR", "US") or not x.tradable or x.halted:
                continue
            ticker = ticker_key(x.ticker)
            names = [n.casefold() for n in (x.name_ko, x.name_en) if n]
            if ticker == key:
                rank = 0
            elif ticker.startswith(key):
                rank = 1
            elif any(n.startswith(needle) for n in names):
                rank = 2
            elif any(needle in n for n in names):
                rank = 3
            else:
                continue
            ranked.append((rank, len(x.ticker), x.ticker, x))
        ranked.sort(key=lambda r: r[:3])
        return [r[3] for r in ranked[:limit]]

    # ---- reloading ---------------------------------------------------------------------------

    async def refresh(self) -> bool:
        """Reload when the database's versions differ from ours; True when it reloaded."""
        if self._repository is None:
            return False
        stored = await self._repository.versions(TRADED_MARKETS)
        current = {m: v.version for m, v in stored.items()}
        if not current or current == self._versions:
            return False
        listings, versions = await self._repository.load(TRADED_MARKETS)
        numbers = {m: v.version for m, v in versions.items()}
        self._install(listings, numbers, SOURCE_DATABASE)
        logger.info("catalog reloaded versions=%s rows=%d", numbers, len(listings))
        await _save(self._snapshot, listings, numbers)
        return True

    async def refresh_forever(self, stop: asyncio.Event, every_s: float = 30.0) -> None:
        """Poll the database until ``stop``; a failed poll keeps the current copy."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)
            if stop.is_set():
                return
            try:
                await self.refresh()
            except DatabaseUnavailableError as exc:
                logger.warning("catalog refresh skipped: database unavailable (%s)", exc)
            except Exception:
                logger.exception("catalog refresh failed; keeping the loaded catalog")


async def load_instruments(settings: Settings, store: SqlStore) -> CatalogCache:
    """The catalog for a worker: database, else local snapshot, else the shipped snapshot."""
    repository = CatalogRepository(store)
    snapshot = local_path(settings.data_dir)
    try:
        listings, versions = await read_catalog(repository, seed=True)
    except DatabaseUnavailableError as exc:
        local = await asyncio.to_thread(read_local, snapshot)
        if local is not None:
            logger.warning("catalog from the local snapshot: database unavailable (%s)", exc)
            return CatalogCache(
                local[0], local[1], source=SOURCE_LOCAL, repository=repository, snapshot=snapshot
            )
        logger.warning("catalog from the package snapshot: database unavailable (%s)", exc)
        return CatalogCache(
            shipped_listings(), {}, source=SOURCE_PACKAGE, repository=repository, snapshot=snapshot
        )
    await _save(snapshot, listings, versions)
    return CatalogCache(
        listings, versions, source=SOURCE_DATABASE, repository=repository, snapshot=snapshot
    )


async def read_catalog(
    repository: CatalogRepository, *, seed: bool, markets: tuple[str, ...] = TRADED_MARKETS
) -> tuple[list[Listing], dict[str, int]]:
    """``markets`` from the database; traded markets it lacks come from the shipped snapshot
    (and are written there when ``seed``)."""
    listings, stored = await repository.load(markets)
    missing = [m for m in TRADED_MARKETS if m not in stored and m in markets]
    if not missing:
        return listings, {m: v.version for m, v in stored.items()}
    shipped = [x for x in shipped_listings() if x.market in missing]
    if not seed:
        versions = {m: v.version for m, v in stored.items()}
        return listings + shipped, versions
    logger.info("loading the catalog from the package snapshot markets=%s", missing)
    writes = [
        MarketWrite(m, rows, checksum(rows), PACKAGE_SOURCE)
        for m in missing
        if (rows := [x for x in shipped if x.market == m])
    ]
    if await repository.seed(writes, datetime.now(UTC)):
        logger.info("catalog seeded from the package snapshot markets=%s", missing)
    listings, stored = await repository.load(markets)
    return listings, {m: v.version for m, v in stored.items()}


async def _save(path: Path | None, listings: list[Listing], versions: dict[str, int]) -> None:
    if path is None:
        return
    try:
        await asyncio.to_thread(write_local, path, listings, versions)
    except OSError as exc:
        logger.warning("local catalog snapshot not written path=%s error=%s", path, exc)
