"""The `yquant` command: roles as subcommands, and operator commands beside them."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import os
import pkgutil
import shlex
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from yquant import __version__
from yquant.domain.roles import ROLES
from yquant.entrypoints import commands, db_backup, i18n, names
from yquant.entrypoints import formatting as fmt
from yquant.errors import (
    ConfigurationError,
    DatabaseUnavailableError,
    DatabaseUnreachableError,
    SchemaMissingError,
)
from yquant.settings import CONFIG_ENV, Settings, load_settings, masked, webhook_secret


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    settings: Settings | None = None
    try:
        settings = load_settings(args.config)
        if getattr(args, "needs_tables", False) and _before_first_start(settings):
            # Not even opened: SQLite would leave an empty file behind.
            raise ConfigurationError(NO_TABLES)
        code = int(args.func(settings, args) or 0)
        sys.stdout.flush()  # here, so that a closed pipe is seen below and not at exit
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader has gone (`yquant signals | head`): end quietly, as other tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        # What a user can cause (settings, the data directory, a port, the database) is one
        # line saying what to do; --debug shows the traceback as well.
        said = user_error(exc, settings)
        if said is None or args.debug:
            if said is not None:
                print(f"yquant: {said[0]}", file=sys.stderr)
            raise
        print(f"yquant: {said[0]}", file=sys.stderr)
        return said[1]
    else:
        return code


def user_error(exc: BaseException, settings: Settings | None) -> tuple[str, int] | None:
    """(one line, exit code) for an error the user can fix; None for a bug."""
    fresh = settings is not None and _before_first_start(settings)
    if isinstance(exc, SchemaMissingError) or (fresh and isinstance(exc, DatabaseUnavailableError)):
        return NO_TABLES, 2
    if isinstance(exc, ConfigurationError):
        return str(exc), 2
    if isinstance(exc, DatabaseUnreachableError):  # at start-up, before anything was stored
        line = (
            f"cannot reach the database ({exc}): check that it runs and that "
            "YQUANT__DATABASE__URL names it"
        )
        return line, 2
    if isinstance(exc, DatabaseUnavailableError):
        return f"database unavailable ({exc})", 1
    if isinstance(exc, OSError) and exc.filename is not None:
        what = exc.strerror or type(exc).__name__
        return f"{exc.filename}: {what}: check that it exists and this user may use it", 2
    return None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="yquant", description="TradingView alerts to broker orders.")
    p.add_argument("--version", action="version", version=f"yquant {__version__}")
    p.add_argument("--config", type=Path, help="TOML settings file (env vars still win)")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = p.add_subparsers(metavar="COMMAND")

    up = sub.add_parser("up", help="run every role (and the embedded Valkey) under supervision")
    up.set_defaults(func=_up)
    for role in ROLES:
        r = sub.add_parser(role, help=f"run the {role} role alone")
        r.set_defaults(func=_role, role=role)

    config = sub.add_parser("config", help="settings")
    config_sub = config.add_subparsers(metavar="ACTION")
    show = config_sub.add_parser("show", help="print the effective settings, secrets masked")
    show.set_defaults(func=_config_show)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(metavar="ACTION")
    db_sub.add_parser("upgrade", help="apply migrations").set_defaults(func=_db_upgrade)
    db_sub.add_parser("current", help="show the applied revision").set_defaults(func=_db_current)
    db_backup.register(db_sub)

    for name, helptext in (
        ("signals", "latest signals with status and reason"),
        ("orders", "latest orders with fills"),
        ("fills", "latest fills"),
    ):
        q = sub.add_parser(name, help=helptext)
        q.add_argument("--json", action="store_true", help="a JSON array for scripts")
        q.add_argument("--limit", type=int, default=50)
        q.add_argument("--utc", action="store_true", help="times in UTC, not the market's zone")
        q.set_defaults(func=_listing, listing=name, needs_tables=True)

    h = sub.add_parser("health", help="readiness of this worker; exit 1 when not ready")
    h.add_argument("--json", action="store_true")
    h.set_defaults(func=_health)

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    return p


# ---- roles --------------------------------------------------------------------------------------


def _role(settings: Settings, args: argparse.Namespace) -> int:
    from yquant.bootstrap import configure_logging
    from yquant.instance import DataDirLock

    configure_logging(settings.log_level, args.role, settings.log_format)
    ensure_data_dir(settings)
    # Beside the other roles of its worker, never beside a `yquant up` on the same data dir.
    lock = DataDirLock(settings.data_dir).acquire(
        exclusive=False, what=f"`yquant {args.role}` alone"
    )
    runner = _role_runner(args.role)
    try:
        run_event_loop(runner(settings))
    finally:
        lock.release()
    return 0


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run a role on uvloop (libuv's event loop) where it is available, else asyncio's."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def _role_runner(role: str) -> Callable[[Settings], Coroutine[Any, Any, None]]:
    if role == "webhook":
        from yquant.entrypoints.webhook import run_webhook

        return run_webhook
    if role == "dashboard":
        from yquant.entrypoints.dashboard import run_dashboard

        return run_dashboard
    from yquant.entrypoints import workers

    runners = {
        "engine": workers.run_engine,
        "gateway": workers.run_gateway,
        "notifier": workers.run_notifier,
    }
    return runners[role]


def _up(settings: Settings, args: argparse.Namespace) -> int:
    from yquant.adapters.db import migrate
    from yquant.bootstrap import configure_logging
    from yquant.entrypoints.supervisor import Supervisor
    from yquant.instance import DataDirLock
    from yquant.services import routing

    configure_logging(settings.log_level, "up", settings.log_format)
    # What would stop a role at its start stops `up` before anything starts.
    routing.validate_sizing(settings)
    ensure_data_dir(settings)
    # One instance per data dir, held until the supervisor has stopped everything.
    lock = DataDirLock(settings.data_dir).acquire(exclusive=True, what="a second `yquant up`")
    m = i18n.messages(settings.language)
    if settings.is_sqlite:
        print(m["progress_migrate"], flush=True)
        migrate.upgrade(settings.database_url)
    else:
        print(m["progress_schema"], flush=True)
        current = migrate.current(settings.database_url)
        if "(head)" not in current:
            raise ConfigurationError(
                "database schema is not at head; run `yquant db upgrade` once, from one place"
            )
    secret = webhook_secret(settings)

    def banner() -> None:  # after the roles are forked: no thread may run while they are
        threading.Thread(target=_banner_when_ready, args=(settings, secret), daemon=True).start()

    supervisor = Supervisor(settings, keep_closed=lock.descriptors(), on_started=banner)
    if settings.valkey.url is None:
        print(m["progress_valkey"].format(port=settings.valkey.embedded_port), flush=True)
    print(m["progress_roles"].format(roles=", ".join(ROLES)), flush=True)
    try:
        return supervisor.run()
    finally:
        lock.release()


NO_TABLES = (
    "the database has no tables yet: run `yquant db upgrade`, or start yquant once "
    "(`yquant up` creates them)"
)


def _before_first_start(settings: Settings) -> bool:
    """The default SQLite database has not been made yet."""
    return (
        settings.database.url is None
        and not Path(settings.database_url.split(":///", 1)[1]).exists()
    )


def ensure_data_dir(settings: Settings) -> None:
    """The data directory exists and this user may write in it, or one line says why not."""
    path = settings.data_dir
    fix = "set YQUANT__DATA_DIR to a directory this user may write, or fix its permissions"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigurationError(
            f"data directory {path}: a file is in the way; move it, or {fix}"
        ) from None
    except NotADirectoryError:
        raise ConfigurationError(
            f"data directory {path}: a part of its path is a file, not a directory; {fix}"
        ) from None
    except OSError as exc:
        raise ConfigurationError(
            f"data directory {path}: cannot create it ({exc.strerror}); {fix}"
        ) from None
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise ConfigurationError(
            f"data directory {path}: cannot write in it ({exc.strerror}); {fix}"
        ) from None


def _banner_when_ready(settings: Settings, secret: str) -> None:
    url = f"http://127.0.0.1:{settings.webhook.port}/healthz"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as res:
                if res.status == 200:
                    break
        except OSError:
            pass
        time.sleep(0.3)
    # On a terminal the operator reads the secret once; redirected to a file, the banner would
    # put it in a log, so it says where the secret is kept instead.
    print(banner(settings, secret, show_secret=sys.stdout.isatty()), flush=True)


def shell_command() -> str:
    """How to run yquant again from the shell `yquant up` was started in: `yquant` when that
    is this one on PATH, else the path it was started by (`.venv/bin/yquant`)."""
    started = sys.argv[0] if sys.argv and sys.argv[0] else "yquant"
    if started.endswith("__main__.py") or started == "-m":  # python -m yquant
        return f"{shlex.quote(_short(Path(sys.executable)))} -m yquant"
    on_path = shutil.which("yquant")
    if on_path and Path(on_path).resolve() == Path(started).resolve():
        return "yquant"
    if "/" not in started:
        return started
    return shlex.quote(_short(Path(started)))


def _short(path: Path) -> str:
    """``path`` relative to the working directory when it is below it."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def secret_source(settings: Settings) -> str:
    """Where the webhook secret in force was set: the variable, the TOML file, or the file
    generated on the first start."""
    if settings.webhook.secret is None:
        return str(settings.data_dir / "webhook-secret")
    if any(k.upper() == "YQUANT__WEBHOOK__SECRET" for k in os.environ):
        return "YQUANT__WEBHOOK__SECRET"
    config = os.environ.get(CONFIG_ENV)
    if config:
        return f"webhook.secret in {config}"
    return "YQUANT__WEBHOOK"


def banner(
    settings: Settings, secret: str, *, show_secret: bool = True, command: str | None = None
) -> str:
    m = i18n.messages(settings.language)
    command = command or shell_command()
    where = secret_source(settings)
    if show_secret:
        shown = f"{secret}  ({m['banner_secret_from'].format(where=where)})"
    else:
        shown = m["banner_secret_hidden"].format(where=where)
        secret = "YOUR-SECRET"  # noqa: S105 - the placeholder printed instead of the secret
    wildcard = settings.webhook.host in ("0.0.0.0", "::")  # noqa: S104 - a test, not a bind
    host = "127.0.0.1" if wildcard else settings.webhook.host
    webhook_url = f"http://{host}:{settings.webhook.port}/webhook"
    if settings.webhook.path_token:
        webhook_url += "/<path_token>"  # a placeholder: the token itself is never printed
    dashboard_url = f"http://{settings.dashboard.host}:{settings.dashboard.port}/"
    sign_in = (
        m["banner_sign_in_tailscale"]
        if settings.dashboard.auth == "tailscale"
        else m["banner_sign_in"].format(command=f"{command} users add NAME --password-stdin")
    )
    sample = {
        "secret": secret,
        "strategy": "demo",
        "ticker": "KRX:005930",
        "action": "buy",
        "quantity": 1,
        "price": 71000,
    }
    body = json.dumps(sample)[:-1] + ', "time": "TIME"}'
    curl = (
        f"curl -sS -X POST {shlex.quote(webhook_url)} -H 'Content-Type: application/json'"
        f" -d {shlex.quote(body)}"
    ).replace("TIME", "'\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"'")
    return "\n".join(
        [
            "",
            f"  {m['banner_ready']}  (worker {settings.worker.name}, data {settings.data_dir})",
            f"  {fmt.pad(m['banner_webhook'], 16)} {webhook_url}",
            f"  {fmt.pad(m['banner_dashboard'], 16)} {dashboard_url}",
            f"  {fmt.pad('', 16)} {sign_in}",
            f"  {fmt.pad(m['banner_secret'], 16)} {shown}",
            f"  {m['banner_try']}:",
            f"    {curl}",
            f"    {command} orders",
            f"  {m['banner_stop']}",
            "",
        ]
    )


# ---- operator commands ---------------------------------------------------------------------------


def _config_show(settings: Settings, args: argparse.Namespace) -> int:
    print(json.dumps(masked(settings), indent=2, ensure_ascii=False))
    return 0


def _db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    from yquant.adapters.db import migrate

    ensure_data_dir(settings)
    migrate.upgrade(settings.database_url)
    print(migrate.current(settings.database_url) or "(empty)")
    return 0


def _db_current(settings: Settings, args: argparse.Namespace) -> int:
    from yquant.adapters.db import migrate

    print(migrate.current(settings.database_url) or "(no revision applied)")
    return 0


def _listing(settings: Settings, args: argparse.Namespace) -> int:
    from yquant import views
    from yquant.bootstrap import open_store

    async def fetch() -> tuple[list[dict[str, Any]], dict[names.Key, str]]:
        store = open_store(settings)
        try:
            fn = {"signals": views.signals, "orders": views.orders, "fills": views.fills}
            rows = await fn[args.listing](store, args.limit)
            if args.json:
                return rows, {}
            return rows, await listing_names(store, rows, settings.language)
        finally:
            await store.close()

    rows, tickers = asyncio.run(fetch())
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    print(listing_table(rows, args.listing, settings.language, tickers, utc=args.utc))
    return 0


# Each listing's columns: (field, heading in i18n.MESSAGES, how the value is shown):
#   time   in the row's market's zone     code   a status or reason in the operator's words
#   qty    a quantity                     money  an amount in the row's currency
#   name   the ticker's name (catalog)    text   as it is
LISTING_COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "signals": [
        ("received_at", "time", "time"),
        ("status", "status", "code"),
        ("reason", "reason", "code"),
        ("strategy", "strategy", "text"),
        ("ticker", "ticker", "text"),
        ("name", "name", "name"),
        ("action", "action", "code"),
    ],
    "orders": [
        ("created_at", "time", "time"),
        ("client_order_id", "order", "text"),
        ("account", "account", "text"),
        ("ticker", "ticker", "text"),
        ("name", "name", "name"),
        ("side", "side", "code"),
        ("quantity", "quantity", "qty"),
        ("filled_quantity", "filled", "qty"),
        ("avg_fill_price", "avg_price", "money"),
        ("status", "status", "code"),
        ("reason", "reason", "code"),
    ],
    "fills": [
        ("filled_at", "time", "time"),
        ("client_order_id", "order", "text"),
        ("account", "account", "text"),
        ("ticker", "ticker", "text"),
        ("name", "name", "name"),
        ("side", "side", "code"),
        ("quantity", "quantity", "qty"),
        ("price", "price", "money"),
        ("commission", "commission", "money"),
        ("currency", "currency", "text"),
    ],
}
_RIGHT = ("qty", "money")


def _row_market(row: dict[str, Any]) -> tuple[str | None, str | None, str]:
    """(market, currency, bare ticker) of a listing's row: orders name their market, fills
    their currency, signals the exchange in front of the ticker (KRX:005930)."""
    ticker = str(row.get("ticker") or "")
    market = row.get("market") or fmt.market_of_currency(row.get("currency"))
    if market is None and ":" in ticker:
        market = fmt.market_of(ticker)
    bare = ticker.split(":", 1)[1] if ":" in ticker else ticker
    return market, row.get("currency") or fmt.currency_of(market), bare


async def listing_names(store: Any, rows: list[dict[str, Any]], language: str) -> dict[Any, str]:
    """The catalog's names of the tickers in ``rows``."""
    wanted = [(market, bare) for market, _, bare in map(_row_market, rows)]
    return await names.ticker_names(store, wanted, language)


def listing_table(
    rows: list[dict[str, Any]],
    listing: str,
    language: str,
    tickers: dict[Any, str] | None = None,
    *,
    utc: bool = False,
) -> str:
    """Rows as aligned text in the operator's language (--json keeps the raw values)."""
    m = i18n.messages(language)
    columns = LISTING_COLUMNS[listing]
    heads = [m[heading] for _, heading, _ in columns]

    def shown(row: dict[str, Any], field: str, kind: str) -> str:
        market, currency, bare = _row_market(row)
        if kind == "name":
            return (tickers or {}).get((market, bare), "")
        value = row.get(field)
        if value is None:
            return ""
        if kind == "time":
            return fmt.local_time(value, market, utc=utc)
        if kind == "qty":
            return fmt.quantity(value)
        if kind == "money":
            return fmt.money(value, currency)
        return i18n.label(language, str(value)) if kind == "code" else str(value)

    cells = [[shown(r, field, kind) for field, _, kind in columns] for r in rows]
    align = "".join("r" if kind in _RIGHT else "l" for _, _, kind in columns)
    text = fmt.table(cells, heads, align=align, max_width=32)
    return text if rows else f"{text}\n({m['none']})"


def _health(settings: Settings, args: argparse.Namespace) -> int:
    from yquant import health
    from yquant.bootstrap import build

    async def run() -> tuple[bool, dict[str, Any]]:
        runtime = build(settings, "cli")
        try:
            return await health.check(runtime, database_required=True)
        finally:
            await runtime.close()

    ready, report = asyncio.run(run())
    if args.json:
        print(json.dumps({"ready": ready, "checks": report}, indent=1))
    else:
        from yquant.entrypoints.commands.checkup import check_rows

        m = i18n.messages(settings.language)
        rows = check_rows(report, settings.language)
        print(fmt.table(rows, [m["check"], m["status"], m["detail"]], max_width=80))
        print(m["ready"] if ready else m["not_ready_line"])
    return 0 if ready else 1


logging.getLogger(__name__).addHandler(logging.NullHandler())
