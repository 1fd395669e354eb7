"""The blue/green switch on the data node, as one procedure that undoes itself on failure.

    1. refuse unless the target answers 200 on /healthz (asked from here, at the address the
       HAProxy config names), HAProxy's own check sees it UP, and the database answers
    2. write the new config beside the old one (only the `backup` flags move); `haproxy -c`
    3. runtime API: the other worker is drained, so new requests go to the target at once
    4. install the new config atomically (the old one kept as <cfg>.prev), seamless reload, and
       wait until the new HAProxy process runs with the target active
    5. record the target as active in the database (epoch + 1)

Steps 1-2 change nothing; a failure in 3-5 undoes every step already done, in reverse order.
`scripts/switch-active.sh` runs this through `yquant deploy switch`.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from yquant import files
from yquant.adapters import haproxy
from yquant.adapters.db.deployment import DeploymentRoles
from yquant.adapters.db.store import SqlStore
from yquant.errors import DatabaseUnavailableError

Say = Callable[[str], None]


class SwitchRefusedError(Exception):
    """A check failed before anything changed."""


class SwitchFailedError(Exception):
    """A step failed after changes began; they were rolled back."""


@dataclass(frozen=True)
class Site:
    cfg: Path
    socket: str
    reload_cmd: str  # e.g. "systemctl reload haproxy" (Debian: haproxy -c, then USR2)
    haproxy_bin: str = "haproxy"
    wait_s: float = 15.0
    health_timeout_s: float = 3.0


class Roles:
    """The `deployment` table through DeploymentRoles, one short connection per call."""

    def __init__(self, database_url: str, timeout_s: float) -> None:
        self._url = database_url
        self._timeout_s = timeout_s

    def _run(self, fn: Callable[[Any], Any]) -> Any:
        async def go() -> Any:
            store = SqlStore(self._url, self._timeout_s)
            try:
                return await fn(DeploymentRoles(store))
            finally:
                await store.close()

        return asyncio.run(go())

    def active(self) -> tuple[str, int] | None:
        return self._run(lambda roles: roles.active())  # type: ignore[no-any-return]

    def set_active(self, worker: str, actor: str) -> int:
        return int(self._run(lambda roles: roles.set_active(worker, actor, datetime.now(UTC))))


def worker_health(address: str, timeout_s: float) -> tuple[int, list[str]]:
    """(HTTP status, names of failing checks) of a worker's /healthz; status 0 if unreachable."""
    try:
        with urllib.request.urlopen(f"http://{address}/healthz", timeout=timeout_s) as res:
            status, body = res.status, res.read(16384)
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read(16384)
    except OSError:
        return 0, ["unreachable"]
    try:
        checks = json.loads(body).get("checks", {})
    except (ValueError, AttributeError):
        return status, []
    failing = [k for k, v in checks.items() if isinstance(v, dict) and v.get("status") == "down"]
    return status, failing


def describe(site: Site, roles: Roles | None) -> list[str]:
    """The state worth printing before and after: the file, the running HAProxy, the database."""
    text = site.cfg.read_text()
    lines = [f"  config   {site.cfg}: active={haproxy.active_in(text)}"]
    for name, line in haproxy.server_lines(text).items():
        lines.append(f"    {name:<6} {line.address:<22} {'backup' if line.backup else 'active'}")
    try:
        states = haproxy.HaproxyAdmin(site.socket).servers()
        receiving = haproxy.receiving(states)
        lines.append(f"  haproxy  receiving={receiving}")
        for name, s in states.items():
            role = "backup" if s.backup else "active"
            lines.append(f"    {name:<6} {s.status:<10} {role:<7} check={s.check}")
    except haproxy.HaproxyError as exc:
        lines.append(f"  haproxy  unreachable: {exc}")
    if roles is not None:
        try:
            current = roles.active()
            shown = f"{current[0]} (epoch {current[1]})" if current else "none recorded"
        except DatabaseUnavailableError as exc:
            shown = f"unreachable: {exc}"
        lines.append(f"  database active={shown}")
    return lines


def switch(site: Site, roles: Roles, target: str, actor: str, say: Say) -> str:
    """Make ``target`` the active worker; returns the worker that was active before."""
    admin = haproxy.HaproxyAdmin(site.socket)
    text = site.cfg.read_text()
    current = haproxy.active_in(text)
    say("before:")
    for line in describe(site, roles):
        say(line)
    try:
        recorded = roles.active()
    except DatabaseUnavailableError as exc:
        raise SwitchRefusedError(f"the database does not answer ({exc}); nothing changed") from exc

    if current == target:
        if recorded is None or recorded[0] != target:
            epoch = roles.set_active(target, actor)
            say(f"{target} was already active in HAProxy; recorded it (epoch {epoch})")
        else:
            say(f"{target} is already active")
        return current

    address = haproxy.server_lines(text)[target].address
    status, failing = worker_health(address, site.health_timeout_s)
    if status != 200:
        detail = f" ({', '.join(failing)})" if failing else ""
        raise SwitchRefusedError(
            f"{target} is not healthy: /healthz answered {status or 'nothing'}{detail}; "
            "nothing changed"
        )
    seen = admin.servers()[target].status
    if seen != "UP":
        raise SwitchRefusedError(f"HAProxy sees {target} as {seen}, not UP; nothing changed")

    new_cfg = files.write_beside(site.cfg, haproxy.with_active(text, target))
    try:
        check = subprocess.run(
            [site.haproxy_bin, "-c", "-q", "-f", str(new_cfg)],
            capture_output=True,
            text=True,
            check=False,
        )
        if check.returncode != 0:
            raise SwitchRefusedError(
                "the new configuration does not validate; nothing changed:\n"
                + (check.stdout + check.stderr).strip()[-2000:]
            )
        _apply(site, admin, roles, current, target, new_cfg, actor, say)
    finally:
        new_cfg.unlink(missing_ok=True)
    say("after:")
    for line in describe(site, roles):
        say(line)
    return current


def _apply(
    site: Site,
    admin: haproxy.HaproxyAdmin,
    roles: Roles,
    current: str,
    target: str,
    new_cfg: Path,
    actor: str,
    say: Say,
) -> None:
    prev_cfg = site.cfg.with_name(site.cfg.name + ".prev")
    done: list[str] = []
    step = "runtime flip"
    try:
        admin.set_state(target, "ready")
        admin.set_state(current, "drain")
        done.append("flip")
        now = haproxy.receiving(admin.servers())
        if now != target:
            raise haproxy.HaproxyError(f"after the flip new requests go to {now}")
        say(f"  runtime: new requests go to {target}; {current} drained")

        step = "install config"
        shutil.copy2(site.cfg, prev_cfg)
        files.replace(new_cfg, site.cfg)
        done.append("install")

        step = "reload"
        done.append("reload")  # a reload that fails half way is undone by reloading the old file
        _reload(site)
        step = "wait for the reloaded HAProxy"
        _wait_active(admin, target, site.wait_s)
        say(f"  reloaded: HAProxy runs {site.cfg} with {target} active")

        step = "record in the database"
        epoch = roles.set_active(target, actor)
        say(f"  database: {target} active, epoch {epoch}")
    except Exception as exc:
        say(f"FAILED at {step}: {exc}; rolling back")
        _rollback(site, admin, current, prev_cfg, done, say)
        raise SwitchFailedError(f"{step}: {exc}") from exc


def _rollback(
    site: Site,
    admin: haproxy.HaproxyAdmin,
    current: str,
    prev_cfg: Path,
    done: list[str],
    say: Say,
) -> None:
    if "install" in done:
        try:
            files.atomic_write(site.cfg, prev_cfg.read_text())
            say(f"  config restored from {prev_cfg}")
            if "reload" in done:
                _reload(site)
                _wait_active(admin, current, site.wait_s)
                say(f"  reloaded with {current} active")
        except Exception as exc:  # noqa: BLE001 - reported; the rollback goes on
            say(f"  ROLLBACK INCOMPLETE restoring the config: {exc}")
    if "flip" in done:
        try:
            for name in haproxy.WORKERS:
                admin.set_state(name, "ready")
            say("  runtime: both workers ready again")
        except haproxy.HaproxyError as exc:
            say(f"  ROLLBACK INCOMPLETE on the runtime API: {exc}")


def _reload(site: Site) -> None:
    # The operator's reload command from the site settings (e.g. `systemctl reload haproxy`).
    result = subprocess.run(  # noqa: S602 - an operator-configured command line, by design
        site.reload_cmd, shell=True, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise haproxy.HaproxyError(
            f"{site.reload_cmd!r} exited {result.returncode}: "
            + (result.stdout + result.stderr).strip()[-1000:]
        )


def _wait_active(admin: haproxy.HaproxyAdmin, worker: str, timeout_s: float) -> None:
    """Until the running process is one that loaded ``worker`` as the non-backup server."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        try:
            states = admin.servers()
            if haproxy.runtime_active(states) == worker and states[worker].serving:
                return
            last = {n: s.status + (" backup" if s.backup else "") for n, s in states.items()}
        except haproxy.HaproxyError as exc:  # the socket is re-created during a reload
            last = exc
        time.sleep(0.1)
    raise haproxy.HaproxyError(f"HAProxy did not come up with {worker} active: {last}")
