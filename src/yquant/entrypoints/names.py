"""Ticker names for the CLI's listings, from the catalog `yquant info` reads.

The names of the stored catalog; for a market the database has no catalog of yet (before the
first start seeds it), the names of the snapshot shipped in the package, as `yquant info` does.
A listing never fails for want of a name: a catalog that cannot be read gives no names.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from yquant.errors import DatabaseUnavailableError

if TYPE_CHECKING:
    from yquant.adapters.catalog import Listing
    from yquant.adapters.db.store import SqlStore

logger = logging.getLogger(__name__)

# (market or None, ticker): the market is None where a row does not tell it.
Key = tuple[str | None, str]


async def ticker_names(store: SqlStore, wanted: Iterable[Key], language: str) -> dict[Key, str]:
    """The name of each (market, ticker) in ``wanted`` the catalog knows, in ``language``
    (Korean or English, the other one where a listing has only that)."""
    from yquant.adapters.catalog.cache import ticker_key
    from yquant.adapters.catalog.snapshot import shipped_listings
    from yquant.bootstrap import catalog_repository

    keys = {(market, ticker) for market, ticker in wanted if ticker}
    if not keys:
        return {}
    repository = catalog_repository(store)
    try:
        stored = await repository.versions()
        listings = await repository.with_tickers(ticker for _, ticker in keys)
    except DatabaseUnavailableError as exc:
        logger.debug("no ticker names: %s", exc)
        return {}
    tickers = {ticker_key(t) for _, t in keys}
    listings += [
        x for x in shipped_listings() if x.market not in stored and ticker_key(x.ticker) in tickers
    ]
    names: dict[Key, str] = {}
    for market, ticker in keys:
        found = [
            x
            for x in listings
            if ticker_key(x.ticker) == ticker_key(ticker) and market in (None, x.market)
        ]
        shown = {name for x in found if (name := _name(x, language))}
        if len(shown) == 1:  # a ticker of two markets with no market given: no guess
            names[(market, ticker)] = shown.pop()
    return names


def _name(listing: Listing, language: str) -> str | None:
    first, second = (
        (listing.name_ko, listing.name_en)
        if language == "ko"
        else (listing.name_en, listing.name_ko)
    )
    return first or second
