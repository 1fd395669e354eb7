"""`yquant catalog sync`: download, parse, check, compare, then replace in one transaction.

Order of work, so that a failure anywhere changes nothing:

1. download and parse every file of every requested market (any problem: MasterFileError);
2. compare each market with what is stored: a file with far fewer rows than the stored catalog
   is taken for a partial file (CatalogShrinkError) unless the operator allows it;
3. write every market in one database transaction (skipped by ``dry_run``).

The stored catalog of a market counts as "real" once a sync has written it; the snapshot shipped
with the package (seeded by a fresh install) is never a reason to refuse a download.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx

from yquant import __version__
from yquant.adapters.catalog.download import fetch, unzip
from yquant.adapters.catalog.errors import CatalogShrinkError
from yquant.adapters.catalog.listing import Listing, checksum
from yquant.adapters.catalog.parse import parse_master
from yquant.adapters.catalog.repository import (
    PACKAGE_SOURCE,
    CatalogRepository,
    CatalogVersion,
    MarketWrite,
)
from yquant.adapters.catalog.sources import MASTER_FILES, MasterFile
from yquant.adapters.db.store import SqlStore
from yquant.settings import Settings

logger = logging.getLogger(__name__)

SAMPLE = 8  # tickers listed per kind of change in the summary


class SyncProgress(Protocol):
    """What the sync tells whoever watches: the CLI draws it."""

    def downloading(self, file: MasterFile, received: int, total: int | None) -> None:
        """Bytes of ``file`` received so far."""

    def parsed(self, file: MasterFile, rows: int, size: int) -> None:
        """``file`` was complete and gave ``rows`` listings from ``size`` bytes."""


class _Unwatched:
    def downloading(self, file: MasterFile, received: int, total: int | None) -> None:
        return None

    def parsed(self, file: MasterFile, rows: int, size: int) -> None:
        return None


@dataclass
class MarketReport:
    market: str
    rows: int
    by_exchange: dict[str, int]
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    version_before: int | None = None
    version_after: int | None = None
    source_bytes: int = 0

    def as_json(self) -> dict[str, object]:
        return {
            "market": self.market,
            "rows": self.rows,
            "by_exchange": self.by_exchange,
            "added": len(self.added),
            "removed": len(self.removed),
            "changed": len(self.changed),
            "added_sample": self.added[:SAMPLE],
            "removed_sample": self.removed[:SAMPLE],
            "changed_sample": self.changed[:SAMPLE],
            "version_before": self.version_before,
            "version_after": self.version_after,
            "source_bytes": self.source_bytes,
        }


@dataclass
class SyncReport:
    markets: list[MarketReport]
    dry_run: bool
    source: str

    def as_json(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "source": self.source,
            "markets": [m.as_json() for m in self.markets],
        }


async def sync_catalog(
    settings: Settings,
    store: SqlStore,
    markets: list[str],
    *,
    base_url: str | None = None,
    dry_run: bool = False,
    allow_shrink: bool = False,
    progress: SyncProgress | None = None,
    now: datetime | None = None,
) -> SyncReport:
    base = _base(base_url or settings.catalog.source_url_base)
    source = _public(base)
    watcher: SyncProgress = progress or _Unwatched()
    downloaded = await _download_all(settings, base, markets, watcher)

    repo = CatalogRepository(store)
    stored_versions = await repo.versions(markets)
    reports: list[MarketReport] = []
    writes: list[MarketWrite] = []
    for market in markets:
        listings, size = downloaded[market]
        stored, _ = await repo.load([market])
        before = stored_versions.get(market)
        if not allow_shrink:
            _refuse_shrink(settings, market, listings, stored, before)
        digest = checksum(listings)
        report = _compare(market, listings, stored)
        report.source_bytes = size
        report.version_before = before.version if before else None
        report.version_after = _next_version(before, digest)
        reports.append(report)
        writes.append(MarketWrite(market, listings, digest, source, size))

    if not dry_run:
        versions = await repo.replace(writes, now or datetime.now(UTC))
        for report in reports:
            report.version_after = versions[report.market]
        logger.info(
            "catalog synced %s",
            ", ".join(f"{r.market} v{r.version_after} rows={r.rows}" for r in reports),
        )
    return SyncReport(reports, dry_run, source)


async def _download_all(
    settings: Settings, base: str, markets: list[str], watcher: SyncProgress
) -> dict[str, tuple[list[Listing], int]]:
    out: dict[str, tuple[list[Listing], int]] = {}
    timeout = httpx.Timeout(settings.catalog.download_timeout_s, connect=10.0)
    headers = {"User-Agent": f"yquant/{__version__} (catalog sync)"}
    async with httpx.AsyncClient(timeout=timeout, headers=headers, follow_redirects=True) as client:
        for market in markets:
            rows: list[Listing] = []
            size = 0
            for file in MASTER_FILES[market]:
                archive = await fetch(client, base, file, _reporter(watcher, file))
                data = unzip(file, archive)
                listings = parse_master(file, data)
                watcher.parsed(file, len(listings), len(data))
                rows += listings
                size += len(archive)
            out[market] = (rows, size)
    return out


def _reporter(watcher: SyncProgress, file: MasterFile) -> Callable[[int, int | None], None]:
    def report(received: int, total: int | None) -> None:
        watcher.downloading(file, received, total)

    return report


def _refuse_shrink(
    settings: Settings,
    market: str,
    new: list[Listing],
    stored: list[Listing],
    before: CatalogVersion | None,
) -> None:
    if before is None or before.source == PACKAGE_SOURCE:
        return
    ratio = settings.catalog.min_ratio
    old_counts = _by_exchange(stored)
    new_counts = _by_exchange(new)
    for exchange, old in sorted(old_counts.items()):
        got = new_counts.get(exchange, 0)
        if got < old * ratio:
            raise CatalogShrinkError(
                f"{market} {exchange}: the new file has {got} rows against {old} stored "
                f"(under {ratio:.0%}); taken for a partial file, nothing changed. "
                "If the market really shrank, run again with --allow-shrink."
            )


def _compare(market: str, new: list[Listing], stored: list[Listing]) -> MarketReport:
    old = {x.key: x.stable() for x in stored}
    fresh = {x.key: x.stable() for x in new}
    report = MarketReport(market=market, rows=len(new), by_exchange=_by_exchange(new))
    report.added = sorted(f"{k[1]}:{k[2]}" for k in fresh.keys() - old.keys())
    report.removed = sorted(f"{k[1]}:{k[2]}" for k in old.keys() - fresh.keys())
    report.changed = sorted(
        f"{k[1]}:{k[2]}" for k in fresh.keys() & old.keys() if fresh[k] != old[k]
    )
    return report


def _next_version(before: CatalogVersion | None, digest: str) -> int:
    if before is None:
        return 1
    return before.version + (0 if before.checksum == digest else 1)


def _by_exchange(listings: list[Listing]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for x in listings:
        counts[x.exchange] = counts.get(x.exchange, 0) + 1
    return counts


def _base(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _public(url: str) -> str:
    """The URL as it may be stored and printed: without user and password."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
