"""`yquant checkup`: every part of this worker in one report (what scripts/health-check.sh runs).

    roles       each role's heartbeat in this worker's Valkey (webhook, engine, gateway, dashboard,
                notifier)
    valkey      the worker's own Valkey answers
    database    MariaDB answers; the local journal's depth (writes waiting for it)
    http        the webhook's and the dashboard's /healthz, asked over loopback
    units       systemd's view of the units, where systemd runs
    broker      stored broker tokens: environment and time left (never the token itself);
                shown, not judged: the gateway issues a new token when it needs one
    role        active or standby: this worker's name against the database's record

Exit status 0 when everything needed for trading passes, 1 otherwise. `--json` for machines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import urllib.error
import urllib.request
from datetime import UTC
from pathlib import Path
from typing import Any

from yquant.domain.reasons import ReasonCode
from yquant.entrypoints import formatting as fmt
from yquant.entrypoints import i18n
from yquant.settings import Settings

UNITS = (
    "yquant-valkey.service",
    "yquant-webhook.service",
    "yquant-engine.service",
    "yquant-gateway.service",
    "yquant-dashboard.service",
)


def register(sub: Any) -> None:
    c = sub.add_parser("checkup", help="every part of this worker; exit 1 when one fails")
    c.add_argument("--json", action="store_true")
    c.add_argument("--timeout-s", type=float, default=3.0)
    c.set_defaults(func=_checkup)


def _checkup(settings: Settings, args: argparse.Namespace) -> int:
    report = asyncio.run(_gather(settings))
    report["http"] = {
        "webhook": _http_status(settings.webhook.host, settings.webhook.port, args.timeout_s),
        "dashboard": _http_status(settings.dashboard.host, settings.dashboard.port, args.timeout_s),
    }
    report["units"] = _units()
    failures = _failures(report)
    report["ok"] = not failures
    report["failures"] = failures
    if args.json:
        print(json.dumps(report, indent=1, default=str))
    else:
        _print(report, settings)
    return 0 if not failures else 1


async def _gather(settings: Settings) -> dict[str, Any]:
    from yquant import health
    from yquant.bootstrap import build

    runtime = build(settings, "cli")
    try:
        ready, checks = await health.check(runtime, database_required=True)
        report: dict[str, Any] = {"worker": settings.worker.name, "ready": ready, "checks": checks}
        report["role"] = await _role(runtime, settings.worker.name)
        report["broker_tokens"] = await _tokens(runtime)
        return report
    finally:
        await runtime.close()


async def _role(runtime: Any, worker: str) -> dict[str, Any]:
    from yquant.bootstrap import role_records
    from yquant.errors import DatabaseUnavailableError

    try:
        current = await role_records(runtime.store).active()
    except DatabaseUnavailableError as exc:
        return {"status": "unknown", "error": str(exc)[:200]}
    if current is None:
        return {"status": "unassigned"}
    name, epoch = current
    return {"status": "active" if name == worker else "standby", "active": name, "epoch": epoch}


async def _tokens(runtime: Any) -> list[dict[str, Any]] | dict[str, str]:
    from yquant.bootstrap import token_records
    from yquant.errors import DatabaseUnavailableError

    try:
        rows = await token_records(runtime.store).expiries()
    except DatabaseUnavailableError as exc:
        return {"status": "unknown", "error": type(exc).__name__}
    now = runtime.clock.now()
    tokens = []
    for environment, stored_at in rows:
        expires_at = (
            stored_at.replace(tzinfo=UTC)
            if stored_at is not None and stored_at.tzinfo is None
            else stored_at
        )
        left = None if expires_at is None else int((expires_at - now).total_seconds())
        tokens.append({"environment": environment, "expires_in_s": left})
    return tokens


def _http_status(host: str, port: int, timeout_s: float) -> int:
    address = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - a test, not a bind
    try:
        with urllib.request.urlopen(f"http://{address}:{port}/healthz", timeout=timeout_s) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def _units() -> dict[str, str]:
    """`systemctl is-active` of each unit, or nothing where systemd is not running."""
    systemctl = shutil.which("systemctl")
    if systemctl is None or not Path("/run/systemd/system").is_dir():
        return {}
    states = {}
    for unit in UNITS:
        result = subprocess.run(
            [systemctl, "is-active", unit], capture_output=True, text=True, timeout=10, check=False
        )
        states[unit] = result.stdout.strip() or "unknown"
    return states


def _failures(report: dict[str, Any]) -> list[str]:
    failed = [
        name
        for name, check in report["checks"].items()
        if isinstance(check, dict) and check.get("status") in ("down", ReasonCode.BROKER_HALTED)
    ]
    failed += [f"http:{name}" for name, code in report["http"].items() if code != 200]
    failed += [f"unit:{u}" for u, state in report["units"].items() if state != "active"]
    if report["role"]["status"] == "unknown":
        failed.append("role")
    # An expired stored token is not a failure: the gateway issues a new one when it needs it.
    return failed


def _print(report: dict[str, Any], settings: Settings) -> None:
    language = settings.language
    m = i18n.messages(language)
    role = report["role"]
    print(f"{m['worker']} {report['worker']}  ({role['status']})")
    rows = check_rows(report["checks"], language)
    for name, code in report["http"].items():
        answer = f"HTTP {code}" if code else m["no_answer"]
        rows.append([f"http {name}", _word(language, "up" if code == 200 else "down"), answer])
    rows.extend([unit, state, ""] for unit, state in report["units"].items())
    rows.extend(_token_rows(report["broker_tokens"], settings))
    print(fmt.table(rows, [m["check"], m["status"], m["detail"]], max_width=80))
    print(
        m["checkup_ok"]
        if report["ok"]
        else f"{m['checkup_failed']}: {', '.join(report['failures'])}"
    )


def check_rows(checks: dict[str, Any], language: str) -> list[list[str]]:
    """``health.check``'s report as rows (check, status, detail) in the operator's words:
    what `yquant health` and `yquant checkup` print."""
    m = i18n.messages(language)
    rows = []
    for name, check in checks.items():
        info = check if isinstance(check, dict) else {"detail": check}
        details = []
        if "depth" in info:
            details.append(f"{m['depth']} {fmt.number(info['depth'])}")
        if "age_s" in info:
            details.append(m["heartbeat_age"].format(age=fmt.duration(info["age_s"], language)))
        details.extend(str(info[k]) for k in ("error", "detail") if info.get(k))
        status = info.get("status")
        rows.append(
            [_word(language, name), _word(language, status) if status else "", "; ".join(details)]
        )
    return rows


def _word(language: str, code: str) -> str:
    return i18n.label(language, code)


def _token_rows(
    tokens: list[dict[str, Any]] | dict[str, str], settings: Settings
) -> list[list[str]]:
    """The stored broker tokens; none is needed where every account is a paper account."""
    m = i18n.messages(settings.language)
    name = m["broker_token"]
    if isinstance(tokens, dict):
        return [[name, "?", f"{m['unknown']} ({tokens['error']})"]]
    if not tokens:
        kis = [a for a, account in settings.accounts.items() if account.kis is not None]
        return [[name, "-", m["token_none_stored"] if kis else m["token_not_needed"]]]
    rows = []
    for t in tokens:
        left = t["expires_in_s"]
        if left is None:
            state, detail = "-", m["token_none_stored"]
        elif left <= 0:
            state, detail = m["token_expired"], m["token_reissued"]
        else:
            shown = fmt.duration(left, settings.language)
            state, detail = m["token_valid"], m["expires_in"].format(left=shown)
        rows.append([f"{name} ({t['environment']})", state, detail])
    return rows
