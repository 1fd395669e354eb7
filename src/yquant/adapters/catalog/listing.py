"""One catalog row as the sync, the database, the snapshots and the cache all see it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from yquant.domain.model import Instrument, Market

# What changes a row from one day to the next without changing the listing itself.
VOLATILE = frozenset({"base_price"})


@dataclass(frozen=True, slots=True)
class CatalogInstrument(Instrument):
    """An `Instrument` with what else the catalog knows that the order path uses."""

    lot_size: int | None = None
    price_decimals: int | None = None


@dataclass(frozen=True, slots=True)
class Listing:
    market: str
    exchange: str
    ticker: str
    currency: str
    standard_code: str | None = None
    name_ko: str | None = None
    name_en: str | None = None
    security_type: str | None = None
    tradable: bool = True
    halted: bool = False
    lot_size: int | None = None
    price_decimals: int | None = None
    base_price: Decimal | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.market, self.exchange, self.ticker)

    def instrument(self) -> CatalogInstrument:
        return CatalogInstrument(
            market=Market(self.market),
            exchange=self.exchange,
            ticker=self.ticker,
            currency=self.currency,
            name_ko=self.name_ko,
            name_en=self.name_en,
            standard_code=self.standard_code,
            security_type=self.security_type,
            tradable=self.tradable,
            halted=self.halted,
            base_price=self.base_price,
            lot_size=self.lot_size,
            price_decimals=self.price_decimals,
        )

    # ---- plain data (JSON snapshots, database rows) ------------------------------------------

    def as_json(self) -> dict[str, Any]:
        return {
            "market": self.market,
            "exchange": self.exchange,
            "ticker": self.ticker,
            "currency": self.currency,
            "standard_code": self.standard_code,
            "name_ko": self.name_ko,
            "name_en": self.name_en,
            "security_type": self.security_type,
            "tradable": self.tradable,
            "halted": self.halted,
            "lot_size": self.lot_size,
            "price_decimals": self.price_decimals,
            "base_price": None if self.base_price is None else format(self.base_price, "f"),
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Listing:
        base = data.get("base_price")
        return cls(
            market=str(data["market"]),
            exchange=str(data["exchange"]),
            ticker=str(data["ticker"]),
            currency=str(data["currency"]),
            standard_code=data.get("standard_code"),
            name_ko=data.get("name_ko"),
            name_en=data.get("name_en"),
            security_type=data.get("security_type"),
            tradable=bool(data.get("tradable", True)),
            halted=bool(data.get("halted", False)),
            lot_size=data.get("lot_size"),
            price_decimals=data.get("price_decimals"),
            base_price=None if base in (None, "") else Decimal(str(base)),
            extra=dict(data.get("extra") or {}),
        )

    def db_row(self, now: datetime) -> dict[str, Any]:
        row = self.as_json()
        row["base_price"] = self.base_price
        row["extra"] = orjson.dumps(self.extra, option=orjson.OPT_SORT_KEYS).decode()
        row["updated_at"] = now
        return row

    @classmethod
    def from_db(cls, row: dict[str, Any]) -> Listing:
        data = dict(row)
        extra = data.get("extra")
        data["extra"] = orjson.loads(extra) if extra else {}
        base = data.get("base_price")
        data["base_price"] = None if base is None else Decimal(base).normalize()
        return cls.from_json(data)

    def stable(self) -> Listing:
        """The row without what changes daily (the reference price): for diffs."""
        return replace(self, base_price=None)


def normalize(listing: Listing) -> Listing:
    """Canonical numeric forms, so a row read back from any database compares equal."""
    if listing.base_price is None:
        return listing
    return replace(listing, base_price=listing.base_price.normalize())


def checksum(listings: Iterable[Listing]) -> str:
    """sha256 over the rows in key order: equal catalogs, equal checksums."""
    digest = hashlib.sha256()
    for item in sorted((normalize(x) for x in listings), key=lambda x: x.key):
        digest.update(orjson.dumps(item.as_json(), option=orjson.OPT_SORT_KEYS))
        digest.update(b"\n")
    return digest.hexdigest()
