"""`yquant users`: who may sign in to the dashboard.

    yquant users add NAME --password-stdin [--replace]   a new user (or a new password)
    yquant users list [--json]                            names, last sign-in, lock
    yquant users remove NAME                              the user and every session of theirs

The password is read from standard input (its first line), never from the command line, where
other users of the machine could see it; on a terminal without --password-stdin it is asked for
twice. Every change is in the audit log with the OS user who made it.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from typing import Any

from yquant.entrypoints import formatting as fmt
from yquant.entrypoints import i18n
from yquant.entrypoints.commands.control import cli_actor
from yquant.settings import Settings


def register(sub: Any) -> None:
    users = sub.add_parser("users", help="who may sign in to the dashboard")
    us = users.add_subparsers(metavar="ACTION")
    add = us.add_parser("add", help="add a user (the password from standard input)")
    add.add_argument("name")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    add.add_argument("--replace", action="store_true", help="set a new password for a user")
    add.set_defaults(func=_add, needs_tables=True)
    listing = us.add_parser("list", help="the users, their last sign-in and any lock")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_list, needs_tables=True)
    remove = us.add_parser("remove", help="remove a user (their sessions end)")
    remove.add_argument("name")
    remove.set_defaults(func=_remove, needs_tables=True)


def _password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    if not sys.stdin.isatty():
        print("yquant: give --password-stdin and the password on standard input", file=sys.stderr)
        return None
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        print("yquant: the two passwords differ", file=sys.stderr)
        return None
    return first


def _run(settings: Settings, work: Any) -> Any:
    from yquant.bootstrap import build_users, system_clock, with_store

    async def run(store: Any) -> Any:
        return await work(build_users(store), system_clock().now())

    return asyncio.run(with_store(settings, run))


def _add(settings: Settings, args: argparse.Namespace) -> int:
    from yquant.services.users import UserError

    password = _password(args)
    if password is None:
        return 2

    async def work(users: Any, now: Any) -> None:
        await users.add(args.name, password, actor=cli_actor(), now=now, replace=args.replace)

    try:
        _run(settings, work)
    except UserError as exc:
        print(f"yquant: {exc}", file=sys.stderr)
        return 2
    print(f"{'password set for' if args.replace else 'added'} {args.name.strip()}")
    return 0


def _list(settings: Settings, args: argparse.Namespace) -> int:
    async def work(users: Any, now: Any) -> tuple[list[Any], Any]:
        return await users.all(), now

    rows, now = _run(settings, work)
    listed = [
        {
            "name": r.name,
            "created_at": r.created_at.isoformat(),
            "last_login_at": r.last_login_at.isoformat() if r.last_login_at else None,
            "locked_until": (
                r.locked_until.isoformat() if r.locked_until and r.locked_until > now else None
            ),
            "failed_logins": r.failed_logins,
        }
        for r in rows
    ]
    if args.json:
        print(json.dumps(listed, indent=1))
        return 0
    m = i18n.messages(settings.language)
    lines = [
        [
            r["name"],
            fmt.local_time(r["created_at"]),
            fmt.local_time(r["last_login_at"]) if r["last_login_at"] else "-",
            fmt.local_time(r["locked_until"]) if r["locked_until"] else "",
        ]
        for r in listed
    ]
    heads = [m["user"], m["created"], m["last_sign_in"], m["locked_until"]]
    print(fmt.table(lines, heads))
    if not listed:
        print(f"({m['none']})")
    return 0


def _remove(settings: Settings, args: argparse.Namespace) -> int:
    from yquant.services.users import UserError

    async def work(users: Any, now: Any) -> None:
        await users.remove(args.name, actor=cli_actor(), now=now)

    try:
        _run(settings, work)
    except UserError as exc:
        print(f"yquant: {exc}", file=sys.stderr)
        return 1
    print(f"removed {args.name.strip()}")
    return 0
