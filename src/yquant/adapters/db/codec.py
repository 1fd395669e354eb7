"""Rows as JSON-safe dicts and back, driven by the table's column types.

Used by the local journal: a row written while the database is away is stored as JSON and turned
back into exact values (Decimal, aware datetime) when it is replayed.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric, Table

from yquant.adapters.db.tables import UtcDateTime


def encode(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, Decimal):
            out[key] = str(value)
        elif isinstance(value, datetime):
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out


def decode(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        column_type = table.c[key].type
        if value is None:
            out[key] = None
        elif isinstance(column_type, Numeric):
            out[key] = Decimal(str(value))
        elif isinstance(column_type, UtcDateTime):
            out[key] = datetime.fromisoformat(value)
        else:
            out[key] = value
    return out
