"""Catalog snapshots: the one shipped with the package, and each worker's last loaded copy.

The shipped snapshot (``snapshot.zip``) holds ``kospi_code.mst``, ``kosdaq_code.mst``,
``nasmst.cod``, ``nysmst.cod`` and ``amsmst.cod`` in KIS's exact layouts (cp949; fixed-width
KRX records, tab-separated overseas rows) and goes through the same parser as a download. It
holds the main KRX and US names so that a fresh embedded install (`make run`) trades offline
until the first `yquant catalog sync`.

It was NOT downloaded from KIS: it was built where there is no internet. Every row was written
in the real layout from real, publicly known values: KRX short codes, ISINs (KR7005930003 for
Samsung Electronics, KR7005931001 for its preferred shares, KR7069500007 for KODEX 200),
Korean names as KRX lists them, KRX group codes (ST, EF, RT, IF), US tickers with their
listing exchange, English company names, and common Korean renderings of US names. What a
snapshot cannot know is zero or blank: reference prices, volumes, financials. The generator is
``tests/fixtures/masterfiles.py`` (``python -m tests.fixtures.masterfiles --snapshot``), and a
test checks that the shipped file is exactly what it writes.

The local snapshot is JSON in the worker's data directory, written after every load from the
database, and read when the database cannot be reached at start.
"""

from __future__ import annotations

import io
import logging
import zipfile
from datetime import UTC, datetime
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import orjson

from yquant.adapters.catalog.listing import Listing
from yquant.adapters.catalog.parse import parse_master
from yquant.adapters.catalog.sources import MASTER_FILES
from yquant.files import atomic_write

logger = logging.getLogger(__name__)

SHIPPED = "snapshot.zip"
SHIPPED_MARKETS = ("KR", "US")
LOCAL_NAME = "catalog-snapshot.json"
LOCAL_FORMAT = 1


def shipped_bytes() -> bytes:
    return (files("yquant.adapters.catalog") / SHIPPED).read_bytes()


@lru_cache(maxsize=1)
def shipped_listings() -> tuple[Listing, ...]:
    """Every listing of the shipped snapshot, parsed like a download."""
    rows: list[Listing] = []
    with zipfile.ZipFile(io.BytesIO(shipped_bytes())) as zf:
        names = set(zf.namelist())
        for market in SHIPPED_MARKETS:
            for file in MASTER_FILES[market]:
                if file.member in names:
                    rows += parse_master(file, zf.read(file.member))
    return tuple(rows)


def local_path(data_dir: Path) -> Path:
    return data_dir / LOCAL_NAME


def write_local(path: Path, listings: list[Listing], versions: dict[str, int]) -> None:
    """Atomically replace the local snapshot (a reader sees the old file or the new one)."""
    payload = {
        "format": LOCAL_FORMAT,
        "saved_at": datetime.now(UTC).isoformat(),
        "versions": versions,
        "listings": [x.as_json() for x in listings],
    }
    atomic_write(path, orjson.dumps(payload))


def read_local(path: Path) -> tuple[list[Listing], dict[str, int]] | None:
    """The local snapshot, or None when there is none or it cannot be read."""
    try:
        data: Any = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError) as exc:
        logger.warning("local catalog snapshot unreadable path=%s error=%s", path, exc)
        return None
    try:
        if data.get("format") != LOCAL_FORMAT:
            raise ValueError(f"format {data.get('format')!r}")
        listings = [Listing.from_json(x) for x in data["listings"]]
        versions = {str(k): int(v) for k, v in data["versions"].items()}
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        logger.warning("local catalog snapshot invalid path=%s error=%s", path, exc)
        return None
    return listings, versions
