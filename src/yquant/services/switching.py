"""The blue/green switch on the data node, as one procedure that undoes itself on failure.

    1. refuse unless the target answers 200 on /healthz (asked from here, at the address the
       HAProxy config names), HAProxy's own check sees it UP, and the database answers
    2. write the new config beside the old one (only the `backup` flags move); `haproxy -c`
    3. runtime API: the other worker is drained, so new requests go to the target at once
    4. install the new config atomically (the old one kept as <cfg>.prev), seamless reload, and
       wait until the new HAProxy process runs with the target active
    5. record the target as active in the database (epoch + 1)

Steps 1-2 change nothing; a failure in 3-5 undoes every step already done, in reverse order.
Each step is the load balancer adapter's (`yquant.adapters.haproxy.HaproxySite`); the order and
the rollback are here. `scripts/switch-active.sh` runs this through `yquant deploy switch`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from yquant.errors import DatabaseUnavailableError, HaltError
from yquant.ports import ActiveRecords, LoadBalancer

Say = Callable[[str], None]


class SwitchRefusedError(HaltError):
    """A check failed before anything changed."""


class SwitchFailedError(HaltError):
    """A step failed after changes began; they were rolled back."""


def describe(site: LoadBalancer, roles: ActiveRecords | None) -> list[str]:
    """The state worth printing before and after: the file, the running HAProxy, the database."""
    lines = site.describe()
    if roles is not None:
        try:
            current = roles.active()
            shown = f"{current[0]} (epoch {current[1]})" if current else "none recorded"
        except DatabaseUnavailableError as exc:
            shown = f"unreachable: {exc}"
        lines.append(f"  database active={shown}")
    return lines


def switch(site: LoadBalancer, roles: ActiveRecords, target: str, actor: str, say: Say) -> str:
    """Make ``target`` the active worker; returns the worker that was active before."""
    current = site.configured_active()
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

    status, failing = site.health(target)
    if status != 200:
        detail = f" ({', '.join(failing)})" if failing else ""
        raise SwitchRefusedError(
            f"{target} is not healthy: /healthz answered {status or 'nothing'}{detail}; "
            "nothing changed"
        )
    seen = site.status(target)
    if seen != "UP":
        raise SwitchRefusedError(f"HAProxy sees {target} as {seen}, not UP; nothing changed")

    new_cfg, invalid = site.prepare(target)
    try:
        if invalid is not None:
            raise SwitchRefusedError(
                "the new configuration does not validate; nothing changed:\n" + invalid
            )
        _apply(site, roles, current, target, new_cfg, actor, say)
    finally:
        site.discard(new_cfg)
    say("after:")
    for line in describe(site, roles):
        say(line)
    return current


def _apply(
    site: LoadBalancer,
    roles: ActiveRecords,
    current: str,
    target: str,
    new_cfg: Path,
    actor: str,
    say: Say,
) -> None:
    done: list[str] = []
    step = "runtime flip"
    try:
        now = site.flip(target, current)
        done.append("flip")
        if now != target:
            raise SwitchFailedError(f"after the flip new requests go to {now}")
        say(f"  runtime: new requests go to {target}; {current} drained")

        step = "install config"
        installed = site.install(new_cfg)
        done.append("install")

        step = "reload"
        done.append("reload")  # a reload that fails half way is undone by reloading the old file
        site.reload()
        step = "wait for the reloaded HAProxy"
        site.wait_active(target)
        say(f"  reloaded: HAProxy runs {installed} with {target} active")

        step = "record in the database"
        epoch = roles.set_active(target, actor)
        say(f"  database: {target} active, epoch {epoch}")
    except Exception as exc:
        say(f"FAILED at {step}: {exc}; rolling back")
        _rollback(site, current, done, say)
        raise SwitchFailedError(f"{step}: {exc}") from exc


def _rollback(site: LoadBalancer, current: str, done: list[str], say: Say) -> None:
    if "install" in done:
        try:
            prev = site.restore()
            say(f"  config restored from {prev}")
            if "reload" in done:
                site.reload()
                site.wait_active(current)
                say(f"  reloaded with {current} active")
        except Exception as exc:  # noqa: BLE001 - reported; the rollback goes on
            say(f"  ROLLBACK INCOMPLETE restoring the config: {exc}")
    if "flip" in done:
        try:
            site.ready_all()
            say("  runtime: both workers ready again")
        except HaltError as exc:
            say(f"  ROLLBACK INCOMPLETE on the runtime API: {exc}")
