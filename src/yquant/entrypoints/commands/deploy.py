"""`yquant deploy ...`: render the data node's HAProxy config and the systemd units, look at
HAProxy, and switch the active worker (scripts/switch-active.sh).

    render-haproxy   deploy/haproxy/haproxy.cfg.j2 for a site (domain, workers, ports)
    render-units     deploy/systemd/*.j2 for a worker (or the data node's catalog timer)
    haproxy-status   which worker the file and the running process make active, and their state
    switch           make a worker active: checks, runtime flip, config, reload, database
    check-worker     GET a worker's /healthz, at the address the config names

The templates are read from the source tree's deploy/ folder (a release directory made by
scripts/deploy.sh is one), or from $YQUANT_DEPLOY_DIR.
"""

from __future__ import annotations

import argparse
import functools
import ipaddress
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from yquant import bootstrap
from yquant.adapters import haproxy
from yquant.domain.roles import ROLES
from yquant.files import atomic_write
from yquant.settings import TRADINGVIEW_IPS, Settings

# TradingView's published webhook source addresses (its "How to configure webhook alerts" page).
VALKEY_UNIT = "yquant-valkey.service"
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})*$"
)
_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}$")
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/@+-]*$")


def register(sub: Any) -> None:  # noqa: PLR0915 - one statement per argparse option
    deploy = sub.add_parser("deploy", help="blue/green deployment: HAProxy and systemd")
    ds = deploy.add_subparsers(metavar="ACTION")

    r = ds.add_parser("render-haproxy", help="render the data node's HAProxy configuration")
    r.add_argument("--domain", required=True, type=_domain)
    r.add_argument("--blue", required=True, type=_address, help="HOST:PORT of yq-blue's webhook")
    r.add_argument("--green", required=True, type=_address, help="HOST:PORT of yq-green's webhook")
    r.add_argument("--active", required=True, choices=haproxy.WORKERS)
    r.add_argument("--cert", type=_path, help="combined PEM; default /etc/haproxy/certs/DOMAIN.pem")
    r.add_argument("--http-port", type=_port, default=80)
    r.add_argument("--https-port", type=_port, default=443)
    r.add_argument("--bind", default="", type=_bind, help="listen address (default: all IPv4)")
    r.add_argument(
        "--allow-tradingview-ips",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="accept webhooks only from TradingView's four addresses (default: on)",
    )
    r.add_argument("--allow-source", action="append", default=[], type=_network, metavar="CIDR")
    r.add_argument("--stats-socket", type=_path, default="/run/haproxy/admin.sock")
    r.add_argument("--rate-limit", type=int, default=100, help="requests per source per 10 s")
    r.add_argument(
        "--exempt-source",
        action="append",
        default=[],
        type=_network,
        metavar="CIDR",
        help="a sender shared by many users, kept out of the per-source rate limit, like "
        "TradingView's four addresses (always exempt); list it in the workers' "
        "webhook.allowed_ips too, which their own throttle exempts",
    )
    r.add_argument("--max-body-bytes", type=int, default=8192)
    r.add_argument("--acme-port", type=_port, default=8888, help="certbot --http-01-port")
    r.add_argument("--webhook-path", default="/webhook", type=_path)
    r.add_argument("--user", default="haproxy", type=_word, help="'' to keep the start user")
    r.add_argument("--group", default="haproxy", type=_word)
    r.add_argument("--chroot", default="/var/lib/haproxy", help="'' for none")
    r.add_argument("--log-target", default="/dev/log")
    r.add_argument("--output", required=True, help="file to write, or - for stdout")
    r.set_defaults(func=_render_haproxy)

    u = ds.add_parser("render-units", help="render the systemd units into a directory")
    u.add_argument("--output", required=True, type=Path)
    u.add_argument("--node", choices=("worker", "data"), default="worker")
    u.add_argument("--worker", choices=haproxy.WORKERS, default="blue")
    u.add_argument("--yquant", default="/opt/yquant/current/.venv/bin/yquant", type=_path)
    u.add_argument("--yquant-config", default="/etc/yquant/yquant.toml", help="'' for none")
    u.add_argument("--env-file", default="/etc/yquant/yquant.env", type=_path)
    u.add_argument("--user", default="yquant", type=_word)
    u.add_argument("--group", default="yquant", type=_word)
    u.add_argument("--valkey-bin", default="/usr/local/lib/yquant/valkey-server", type=_path)
    u.add_argument("--valkey-notify", action="store_true", help="valkey-server built with systemd")
    u.add_argument("--valkey-port", type=_port, default=6379)
    u.add_argument(
        "--private-net",
        action="append",
        type=_network,
        metavar="CIDR",
        help="worker subnet: HAProxy and MariaDB (default 10.0.0.0/24)",
    )
    u.add_argument("--watchdog-s", type=int, default=30)
    u.add_argument(
        "--backup-keep", type=int, default=14, help="daily database backups kept (default 14)"
    )
    u.add_argument(
        "--backup-at", type=_clock, default="06:45", help="backup time, Asia/Seoul (HH:MM)"
    )
    u.add_argument(
        "--backup-env-file",
        default="/etc/yquant/migrate.env",
        type=_path,
        help="the database URL the backup runs with (a user with SHOW VIEW and TRIGGER)",
    )
    u.set_defaults(func=_render_units)

    s = ds.add_parser("haproxy-status", help="active worker in the file and in the running HAProxy")
    s.add_argument("--haproxy-cfg", required=True, type=Path)
    s.add_argument("--socket", help="admin socket of the running HAProxy")
    s.add_argument("--json", action="store_true")
    s.add_argument("--print-active", action="store_true", help="print only the file's active")
    s.add_argument(
        "--expect-up", choices=haproxy.WORKERS, help="exit 1 unless HAProxy's checks pass for it"
    )
    s.set_defaults(func=_haproxy_status)

    sw = ds.add_parser("switch", help="make a worker active (what scripts/switch-active.sh runs)")
    sw.add_argument("target", choices=haproxy.WORKERS)
    sw.add_argument("--haproxy-cfg", type=Path, default=Path("/etc/haproxy/haproxy.cfg"))
    sw.add_argument("--socket", default="/run/haproxy/admin.sock")
    sw.add_argument("--reload-cmd", default="systemctl reload haproxy")
    sw.add_argument("--haproxy-bin", default="haproxy")
    sw.add_argument("--actor", required=True, help="who is switching (recorded)")
    sw.set_defaults(func=_switch)

    c = ds.add_parser("check-worker", help="GET the worker's /healthz; exit 0 only on 200")
    c.add_argument("--haproxy-cfg", required=True, type=Path)
    c.add_argument("--worker", required=True, choices=haproxy.WORKERS)
    c.add_argument("--timeout-s", type=float, default=3.0)
    c.set_defaults(func=_check_worker)


# ---- argument types ------------------------------------------------------------------------------


def _domain(v: str) -> str:
    if not _DOMAIN.match(v):
        raise argparse.ArgumentTypeError(f"not a domain name: {v!r}")
    return v


def _address(v: str) -> str:
    host, sep, port = v.rpartition(":")
    if not sep or not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {v!r}")
    _port(port)
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        if not _HOST.match(host):
            raise argparse.ArgumentTypeError(f"not a host name or address: {host!r}") from None
    return v


def _port(v: str | int) -> int:
    try:
        n = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port: {v!r}") from None
    if not 1 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {n}")
    return n


def _network(v: str) -> str:
    try:
        return str(ipaddress.ip_network(v, strict=False))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an address or network: {v!r}") from None


def _sources(base: Sequence[str], extra: list[str]) -> list[str]:
    """``base`` then the networks of ``extra`` that are not in it already (a single address
    given as CIDR, "x/32", is the address itself)."""
    merged = list(base)
    for network in extra:
        if network not in merged and network.removesuffix("/32") not in merged:
            merged.append(network)
    return merged


def _bind(v: str) -> str:
    if v:
        try:
            ipaddress.ip_address(v)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an IP address: {v!r}") from None
    return v


def _path(v: str) -> str:
    if not _SAFE_PATH.match(v):
        raise argparse.ArgumentTypeError(f"expected an absolute path of plain characters: {v!r}")
    return v


def _clock(v: str) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", v):
        raise argparse.ArgumentTypeError(f"not a time of day HH:MM: {v!r}")
    return v


def _word(v: str) -> str:
    if v and not re.match(r"^[a-z_][a-z0-9_-]{0,31}$", v):
        raise argparse.ArgumentTypeError(f"not a user or group name: {v!r}")
    return v


# ---- rendering --------------------------------------------------------------------------------


def deploy_dir() -> Path:
    """The folder holding the haproxy/ and systemd/ templates."""
    configured = os.environ.get("YQUANT_DEPLOY_DIR")
    candidates = [Path(configured)] if configured else []
    candidates.append(Path(__file__).resolve().parents[4] / "deploy")
    for path in candidates:
        if (path / "haproxy" / "haproxy.cfg.j2").is_file():
            return path
    raise SystemExit(
        "yquant: deploy templates not found; run from a source tree or release directory, "
        "or set YQUANT_DEPLOY_DIR"
    )


def render(template: str, **values: Any) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(deploy_dir()),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # Configuration files, not HTML; every value is validated above.
        autoescape=False,  # noqa: S701 - HTML escaping would corrupt these files
    )
    return env.get_template(template).render(**values)


def _emit(output: str, text: str) -> None:
    if output == "-":
        sys.stdout.write(text)
    else:
        atomic_write(Path(output), text, mode=0o644)


def _render_haproxy(settings: Settings, args: argparse.Namespace) -> int:
    if not 1024 <= args.max_body_bytes <= 12288:
        raise SystemExit("yquant: --max-body-bytes must be 1024..12288 (under tune.bufsize)")
    if args.rate_limit < 1:
        raise SystemExit("yquant: --rate-limit must be at least 1")
    if args.chroot:
        _path(args.chroot)
    if args.log_target != "stderr" and not _SAFE_PATH.match(args.log_target):
        _address(args.log_target)
    allowed = _sources(TRADINGVIEW_IPS if args.allow_tradingview_ips else (), args.allow_source)
    exempt = _sources(TRADINGVIEW_IPS, args.exempt_source)
    text = render(
        "haproxy/haproxy.cfg.j2",
        domain=args.domain,
        blue=args.blue,
        green=args.green,
        active=args.active,
        cert=args.cert or f"/etc/haproxy/certs/{args.domain}.pem",
        http_port=args.http_port,
        https_port=args.https_port,
        bind=args.bind,
        allowed_sources=allowed,
        stats_socket=args.stats_socket,
        rate_limit=args.rate_limit,
        exempt_sources=exempt,
        max_body_bytes=args.max_body_bytes,
        acme_port=args.acme_port,
        webhook_path=args.webhook_path.rstrip("/") or "/webhook",
        user=args.user,
        group=args.group or args.user,
        chroot=args.chroot,
        log_target=args.log_target,
    )
    haproxy.active_in(text)  # the rendered file is the layout switch-active manages
    _emit(args.output, text)
    return 0


def _render_units(settings: Settings, args: argparse.Namespace) -> int:
    if args.yquant_config:
        _path(args.yquant_config)
    if not 10 <= args.watchdog_s <= 600:
        raise SystemExit("yquant: --watchdog-s must be 10..600")
    private = args.private_net or ["10.0.0.0/24"]
    common = {
        "yquant": args.yquant,
        "config": args.yquant_config,
        "env_file": args.env_file,
        "user": args.user,
        "group": args.group,
        "worker": args.worker,
        "docs": str(Path(args.yquant).parents[2] / "docs" / "operations.md"),
        "valkey_unit": VALKEY_UNIT,
        "watchdog_s": args.watchdog_s,
    }
    if not 1 <= args.backup_keep <= 3650:
        raise SystemExit("yquant: --backup-keep must be 1..3650")
    units: dict[str, str] = {}
    # Both nodes: on the data node it is the backup; on a worker, the copy off the data node
    # that scripts/emergency.sh restores from.
    backup = {
        "backup_keep": args.backup_keep,
        "backup_at": args.backup_at,
        "backup_env_file": args.backup_env_file,
    }
    units["yquant-backup.service"] = render("systemd/yquant-backup.service.j2", **backup, **common)
    units["yquant-backup.timer"] = render("systemd/yquant-backup.timer.j2", **backup, **common)
    if args.node == "worker":
        fences = {
            # TradingView's requests come only through HAProxy on the data node; MariaDB is there.
            "webhook": ["localhost", *private],
            # Reached over Tailscale (tailscale serve on loopback, or the 100.x address).
            "dashboard": ["localhost", "100.64.0.0/10", *private],
            # engine and gateway talk to the broker on the internet: no address fence.
            "engine": [],
            "gateway": [],
            # Discord and Telegram are on the internet: no address fence.
            "notifier": [],
        }
        for role in ROLES:
            units[f"yquant-{role}.service"] = render(
                "systemd/yquant-role.service.j2", role=role, ip_allow=fences[role], **common
            )
        valkey_args = " ".join(
            [
                "--bind 127.0.0.1",
                f"--port {args.valkey_port}",
                "--protected-mode yes",
                "--daemonize no",
                "--dir /var/lib/yquant-valkey",
                "--appendonly yes",
                "--appendfsync everysec",
                '--save ""',
                "--maxmemory-policy noeviction",
            ]
        )
        units[VALKEY_UNIT] = render(
            "systemd/yquant-valkey.service.j2",
            valkey_bin=args.valkey_bin,
            valkey_notify=args.valkey_notify,
            valkey_port=args.valkey_port,
            valkey_args=valkey_args,
            **common,
        )
        units["yquant-worker.target"] = render("systemd/yquant-worker.target.j2", **common)
    else:
        units["yquant-catalog-sync.service"] = render(
            "systemd/yquant-catalog-sync.service.j2", **common
        )
        units["yquant-catalog-sync.timer"] = render(
            "systemd/yquant-catalog-sync.timer.j2", **common
        )
    for name, text in units.items():
        atomic_write(args.output / name, text, mode=0o644)
        print(args.output / name)
    return 0


# ---- HAProxy steps for switch-active ------------------------------------------------------------


def _reported(fn: Callable[[Settings, argparse.Namespace], int]) -> Callable[..., int]:
    """HAProxy refusals and unreadable files end the command with a message and status 1."""

    @functools.wraps(fn)
    def run(settings: Settings, args: argparse.Namespace) -> int:
        try:
            return fn(settings, args)
        except (haproxy.HaproxyError, OSError) as exc:
            print(f"yquant: {exc}", file=sys.stderr)
            return 1

    return run


@_reported
def _haproxy_status(settings: Settings, args: argparse.Namespace) -> int:
    text = args.haproxy_cfg.read_text()
    if args.print_active:
        print(haproxy.active_in(text))
        return 0
    lines = haproxy.server_lines(text)
    report: dict[str, Any] = {
        "config": {
            "active": haproxy.active_in(text),
            "servers": {n: {"address": s.address, "backup": s.backup} for n, s in lines.items()},
        }
    }
    if args.socket:
        from yquant.bootstrap import haproxy_admin

        states = haproxy_admin(args.socket).servers()
        report["runtime"] = {
            "active": haproxy.runtime_active(states),
            "receiving": haproxy.receiving(states),
            "servers": {n: s.as_dict() for n, s in states.items()},
        }
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        _print_status(report)
    if args.expect_up:
        if "runtime" not in report:
            raise SystemExit("yquant: --expect-up needs --socket")
        status = report["runtime"]["servers"][args.expect_up]["status"]
        if status != "UP":
            print(f"yquant: HAProxy sees {args.expect_up} as {status}, not UP", file=sys.stderr)
            return 1
    return 0


def _print_status(report: dict[str, Any]) -> None:
    print(f"config   active={report['config']['active']}")
    for name, s in report["config"]["servers"].items():
        print(f"  {name:<6} {s['address']:<24} {'backup' if s['backup'] else 'active'}")
    if "runtime" in report:
        rt = report["runtime"]
        print(f"haproxy  active={rt['active']} receiving={rt['receiving']}")
        for name, st in rt["servers"].items():
            role = "backup" if st["backup"] else "active"
            print(f"  {name:<6} {st['status']:<10} {role:<7} check={st['check']}")


def _switch(settings: Settings, args: argparse.Namespace) -> int:
    from yquant.services import switching

    site = bootstrap.haproxy_site(
        cfg=args.haproxy_cfg,
        socket=args.socket,
        reload_cmd=args.reload_cmd,
        haproxy_bin=args.haproxy_bin,
    )
    roles = bootstrap.deployment_roles(settings)
    say = functools.partial(print, flush=True)
    try:
        before = switching.switch(site, roles, args.target, args.actor.strip()[:100], say)
    except switching.SwitchRefusedError as exc:
        print(f"switch refused: {exc}", flush=True)
        return 1
    except switching.SwitchFailedError as exc:
        print(f"switch failed and was rolled back: {exc}", flush=True)
        for line in switching.describe(site, roles):
            print(line)
        return 1
    if before != args.target:
        print(f"switched: {before} -> {args.target}")
    return 0


@_reported
def _check_worker(settings: Settings, args: argparse.Namespace) -> int:
    address = haproxy.server_lines(args.haproxy_cfg.read_text())[args.worker].address
    status, failing = haproxy.worker_health(address, args.timeout_s)
    detail = f" failing: {', '.join(failing)}" if failing else ""
    print(f"{args.worker} http://{address}/healthz: HTTP {status or 'no answer'}{detail}")
    return 0 if status == 200 else 1
