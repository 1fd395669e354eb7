"""The stock catalog: KIS master files into the database, and exact ticker resolution on workers.

Data node: `sync_catalog` downloads KIS's master files (cp949; fixed-width KOSPI/KOSDAQ/KONEX
records, tab-separated overseas ``.cod`` rows), parses them strictly and replaces each market's
rows in one transaction, or changes nothing.

Workers: `load_instruments` gives a `CatalogCache` (the `yquant.ports.Instruments` port) that
resolves ``KRX:005930`` or ``NASDAQ:AAPL`` to exactly one listing or rejects with a reason code,
and `CatalogCache.refresh_forever` reloads it when the database's catalog version moves.

Modules: sources (which files), layouts (record layouts), parse, download, listing (the row),
repository (database), sync, snapshot (shipped and local copies), cache (workers), ticks.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Names are imported on first use: `yquant` builds its command line from every command module,
# and none of them should pay for SQLAlchemy and httpx just to print --help.
_EXPORTS = {
    "CatalogCache": "cache",
    "load_instruments": "cache",
    "read_catalog": "cache",
    "CatalogShrinkError": "errors",
    "CatalogSyncError": "errors",
    "MasterFileError": "errors",
    "CatalogInstrument": "listing",
    "Listing": "listing",
    "CatalogRepository": "repository",
    "CatalogVersion": "repository",
    "MARKETS": "sources",
    "MASTER_FILES": "sources",
    "MasterFile": "sources",
    "MarketReport": "sync",
    "SyncProgress": "sync",
    "SyncReport": "sync",
    "sync_catalog": "sync",
}
__all__ = [
    "MARKETS",
    "MASTER_FILES",
    "CatalogCache",
    "CatalogInstrument",
    "CatalogRepository",
    "CatalogShrinkError",
    "CatalogSyncError",
    "CatalogVersion",
    "Listing",
    "MarketReport",
    "MasterFile",
    "MasterFileError",
    "SyncProgress",
    "SyncReport",
    "load_instruments",
    "read_catalog",
    "sync_catalog",
]

if TYPE_CHECKING:
    from yquant.adapters.catalog.cache import (
        CatalogCache,
        load_instruments,
        read_catalog,
    )
    from yquant.adapters.catalog.errors import (
        CatalogShrinkError,
        CatalogSyncError,
        MasterFileError,
    )
    from yquant.adapters.catalog.listing import CatalogInstrument, Listing
    from yquant.adapters.catalog.repository import CatalogRepository, CatalogVersion
    from yquant.adapters.catalog.sources import MARKETS, MASTER_FILES, MasterFile
    from yquant.adapters.catalog.sync import (
        MarketReport,
        SyncProgress,
        SyncReport,
        sync_catalog,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
