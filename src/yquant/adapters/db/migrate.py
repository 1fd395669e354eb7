"""Running the Alembic history programmatically (`yquant db upgrade|current`)."""

from __future__ import annotations

import asyncio
import io
import threading
from pathlib import Path
from typing import TextIO

from alembic import command
from alembic.config import Config
from sqlalchemy.exc import OperationalError

import yquant
from yquant.errors import DatabaseUnreachableError

SCRIPT_LOCATION = Path(yquant.__file__).parent / "migrations"


def alembic_config(url: str, stdout: TextIO | None = None) -> Config:
    cfg = Config(stdout=stdout) if stdout is not None else Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    _outside_loop(command.upgrade, alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Back to ``revision`` (tests check that every revision goes both ways)."""
    _outside_loop(command.downgrade, alembic_config(url), revision)


def current(url: str) -> str:
    out = io.StringIO()
    _outside_loop(command.current, alembic_config(url, stdout=out))
    return out.getvalue().strip()


def _outside_loop(fn, *args) -> None:  # type: ignore[no-untyped-def]
    """Run an Alembic command; the driver's connection errors leave as our error tree's."""
    try:
        _run(fn, *args)
    except OperationalError as exc:
        orig = exc.orig if exc.orig is not None else exc
        code_and_text = getattr(orig, "args", ())  # MariaDB: (2003, "Can't connect ...")
        text = str(code_and_text[-1]) if code_and_text else ""
        reason = text.splitlines()[0][:200] if text else type(orig).__name__
        raise DatabaseUnreachableError(reason) from exc


def _run(fn, *args) -> None:  # type: ignore[no-untyped-def]
    """env.py runs its own event loop; from inside a running loop, use a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        fn(*args)
        return

    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn(*args)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if errors:
        raise errors[0]
