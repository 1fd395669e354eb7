"""`yquant role show|set`: which worker holds the active role, recorded in the database.

The active worker runs the jobs driven by the clock; every change increments the epoch, so a
worker that kept an old view (for instance through a database outage) can tell it is stale.
`scripts/switch-active.sh` calls `role set` after HAProxy has been switched.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from yquant.entrypoints import i18n
from yquant.settings import Settings

WORKERS = ("blue", "green")


def register(sub: Any) -> None:
    role = sub.add_parser("role", help="the active worker (blue/green) recorded in the database")
    rs = role.add_subparsers(metavar="ACTION")
    show = rs.add_parser("show", help="print the active worker and its epoch")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_show)
    put = rs.add_parser("set", help="make a worker active (epoch + 1)")
    put.add_argument("worker", choices=WORKERS)
    put.add_argument("--actor", required=True, help="who is switching (recorded)")
    put.add_argument("--json", action="store_true")
    put.set_defaults(func=_set)


async def _with_roles(settings: Settings, fn: Any) -> Any:
    from yquant.bootstrap import role_records, with_store

    async def run(store: Any) -> Any:
        return await fn(role_records(store))

    return await with_store(settings, run)


def _show(settings: Settings, args: argparse.Namespace) -> int:
    async def read(roles: Any) -> tuple[str, int] | None:
        active: tuple[str, int] | None = await roles.active()
        return active

    current = asyncio.run(_with_roles(settings, read))
    if args.json:
        worker, epoch = current if current else (None, 0)
        print(json.dumps({"active": worker, "epoch": epoch, "this_worker": settings.worker.name}))
    elif current is None:
        print(i18n.t(settings.language, "role_none"))
    else:
        print(f"{i18n.t(settings.language, 'role_active')}: {current[0]}  (epoch {current[1]})")
    return 0


def _set(settings: Settings, args: argparse.Namespace) -> int:
    actor = args.actor.strip()
    if not actor or len(actor) > 100:
        print("yquant: --actor must be 1..100 characters")
        return 2

    from yquant.bootstrap import system_clock

    clock = system_clock()

    async def write(roles: Any) -> tuple[tuple[str, int] | None, int]:
        before = await roles.active()
        epoch = await roles.set_active(args.worker, actor, clock.now())
        return before, epoch

    before, epoch = asyncio.run(_with_roles(settings, write))
    if args.json:
        print(json.dumps({"active": args.worker, "epoch": epoch, "before": before}))
    else:
        was = f"{before[0]} (epoch {before[1]})" if before else "-"
        active = i18n.t(settings.language, "role_active")
        print(f"{active}: {args.worker}  (epoch {epoch}; was {was})")
    return 0
