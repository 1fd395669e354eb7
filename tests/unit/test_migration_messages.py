"""Each migration's message (its docstring's first paragraph) is one line: Alembic logs it at
every upgrade, and `yquant up` prints a start-up failure as the one line after those logs."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import yquant

VERSIONS = sorted((Path(yquant.__file__).parent / "migrations" / "versions").glob("0*.py"))


def test_there_are_migrations() -> None:
    assert len(VERSIONS) >= 14


@pytest.mark.parametrize("path", VERSIONS, ids=lambda p: p.stem)
def test_a_migration_message_is_one_line(path: Path) -> None:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert doc, f"{path.name}: no docstring"
    first = doc.split("\n\n", 1)[0]
    assert "\n" not in first, f"{path.name}: the message spans lines: {first!r}"
