"""`yquant db backup [FILE]` and `yquant db restore FILE`: see `yquant.adapters.db.backup`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from yquant.settings import Settings


def register(db_sub: Any) -> None:
    b = db_sub.add_parser(
        "backup",
        help="write a whole backup of the database (MariaDB: mariadb-dump; SQLite: online copy)",
    )
    b.add_argument(
        "file",
        nargs="?",
        type=Path,
        help="where to write it (default: DIR/yquant-<UTC time>.sql.gz, or .sqlite3 for SQLite)",
    )
    b.add_argument(
        "--dir", type=Path, help="directory for the default name (default: DATA_DIR/backups)"
    )
    b.add_argument(
        "--keep",
        type=int,
        help="then delete all but the KEEP newest yquant-* backups in that directory",
    )
    b.set_defaults(func=_backup)
    r = db_sub.add_parser("restore", help="load a backup into the database the settings name")
    r.add_argument("file", type=Path, help="a file written by `yquant db backup`")
    r.add_argument(
        "--force",
        action="store_true",
        help="replace the tables of a database that is not empty",
    )
    r.set_defaults(func=_restore)


def _backup(settings: Settings, args: argparse.Namespace) -> int:
    from yquant.adapters.db import backup

    url = settings.database_url
    directory = args.dir or (args.file.parent if args.file else settings.data_dir / "backups")
    target = args.file or directory / backup.default_name(url)
    written = backup.backup(url, target)
    print(f"backup written: {written} ({written.stat().st_size:,} bytes)")
    if args.keep is not None:
        suffix = ".sqlite3" if backup.is_sqlite(url) else ".sql.gz"
        for gone in backup.rotate(directory, args.keep, suffix):
            print(f"removed old backup: {gone}")
    return 0


def _restore(settings: Settings, args: argparse.Namespace) -> int:
    from yquant.adapters.db import backup, migrate

    url = settings.database_url
    lock = None
    if backup.is_sqlite(url):
        from yquant.instance import DataDirLock

        # The SQLite file is the running instance's: restore only while nothing runs on it.
        lock = DataDirLock(settings.data_dir).acquire(exclusive=True, what="a restore")
    try:
        restored = backup.restore(url, args.file, force=args.force)
    finally:
        if lock is not None:
            lock.release()
    print(f"restored {args.file}: {len(restored)} tables")
    print(f"schema: {migrate.current(url) or '(no revision)'}; bring it to head: yquant db upgrade")
    return 0
