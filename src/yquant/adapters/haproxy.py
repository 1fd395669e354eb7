"""HAProxy on the data node: the runtime API and the blue/green server lines of its config.

Kept apart from any switching policy (that is `yquant.services.switching`):

- `HaproxyAdmin` talks to the admin socket (``stats socket ... level admin``): ``show stat``
  for the servers' state and ``set server be_workers/<name> state ready|drain`` for an instant
  flip. Runtime changes live only in the running process; a reload starts from the file again.
- `server_lines`, `active_in` and `with_active` read and rewrite which of the two worker lines
  carries ``backup`` in a rendered configuration, leaving every other byte of the file as it is,
  so the file stays the source of truth even after an operator's own edits.
- `HaproxySite` puts them together with the file and reload steps of a switch (write the new
  config beside the old one, validate it, install it, reload, restore): the order of the steps
  and their rollback are the switch service's (`yquant.services.switching`).
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from yquant import files
from yquant.errors import HaltError

BACKEND = "be_workers"
WORKERS = ("blue", "green")
RUNTIME_STATES = ("ready", "drain", "maint")

_SECTION = re.compile(r"^(global|defaults|frontend|backend|listen|peers|resolvers|userlist)\b")
_SERVER = re.compile(r"^(?P<indent>\s*)server\s+(?P<name>\S+)\s+(?P<address>\S+)(?P<rest>.*)$")


class HaproxyError(HaltError):
    """HAProxy refused a command, or its configuration is not the blue/green layout we manage."""


@dataclass(frozen=True, slots=True)
class ServerLine:
    name: str
    address: str
    backup: bool
    line_no: int  # 0-based index in the file's lines


@dataclass(frozen=True, slots=True)
class ServerState:
    """One worker as the running HAProxy sees it (a row of ``show stat``)."""

    name: str
    status: str  # UP, DOWN, DRAIN, MAINT, "UP 1/2" (going down), "DOWN 1/2" (coming up) ...
    backup: bool
    weight: int
    sessions: int
    check: str  # last health check result, e.g. L7OK, L4CON, L7STS
    check_ms: int  # how long the last health check took

    @property
    def serving(self) -> bool:
        """Up and in load balancing (not drained, not in maintenance)."""
        return self.status.split(" ")[0] == "UP"

    def as_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "backup": self.backup,
            "weight": self.weight,
            "sessions": self.sessions,
            "check": self.check,
            "check_ms": self.check_ms,
        }


# ---- the configuration file ----------------------------------------------------------------------


def server_lines(text: str) -> dict[str, ServerLine]:
    """The ``blue`` and ``green`` server lines of ``backend be_workers``."""
    found: dict[str, ServerLine] = {}
    in_backend = False
    for no, line in enumerate(text.splitlines()):
        head = _SECTION.match(line)
        if head:
            in_backend = line.split()[:2] == ["backend", BACKEND]
            continue
        m = _SERVER.match(line)
        if not (in_backend and m and m["name"] in WORKERS):
            continue
        if m["name"] in found:
            raise HaproxyError(f"server {m['name']} appears twice in backend {BACKEND}")
        tokens = m["rest"].split("#", 1)[0].split()
        found[m["name"]] = ServerLine(m["name"], m["address"], "backup" in tokens, no)
    missing = [w for w in WORKERS if w not in found]
    if missing:
        raise HaproxyError(f"backend {BACKEND} has no server line for {', '.join(missing)}")
    return found


def active_in(text: str) -> str:
    """The worker whose line is not ``backup``; exactly one must be."""
    lines = server_lines(text)
    active = [name for name, line in lines.items() if not line.backup]
    if len(active) != 1:
        raise HaproxyError(
            f"backend {BACKEND} must have exactly one non-backup worker, found {active or 'none'}"
        )
    return active[0]


def with_active(text: str, worker: str) -> str:
    """The same configuration with ``worker`` active and the other worker as ``backup``."""
    if worker not in WORKERS:
        raise HaproxyError(f"unknown worker {worker!r}")
    lines = server_lines(text)
    out = text.splitlines(keepends=True)
    for name, line in lines.items():
        out[line.line_no] = _set_backup(out[line.line_no], backup=name != worker)
    return "".join(out)


def _set_backup(line: str, *, backup: bool) -> str:
    ending = line[len(line.rstrip("\r\n")) :]
    body, hash_, comment = line.rstrip("\r\n").partition("#")
    tokens = body.split()
    indent = body[: len(body) - len(body.lstrip())]
    tokens = [t for t in tokens if t != "backup"]
    if backup:
        tokens.append("backup")
    rebuilt = indent + " ".join(tokens)
    if hash_:
        rebuilt += "  #" + comment
    return rebuilt + ending


# ---- the runtime API -----------------------------------------------------------------------------


class HaproxyAdmin:
    """Commands over HAProxy's admin socket (a unix stream socket, one command per connection)."""

    def __init__(self, path: str, timeout_s: float = 3.0) -> None:
        self.path = path
        self.timeout_s = timeout_s

    def command(self, line: str) -> str:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout_s)
                sock.connect(self.path)
                sock.sendall(line.encode() + b"\n")
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
        except OSError as exc:
            raise HaproxyError(f"admin socket {self.path}: {exc}") from exc
        return b"".join(chunks).decode(errors="replace")

    def servers(self) -> dict[str, ServerState]:
        """Both workers' state in the running process."""
        raw = self.command(f"show stat {BACKEND} 4 -1")
        if not raw.startswith("# "):
            raise HaproxyError(f"unexpected answer to show stat: {raw.strip()[:200]!r}")
        rows = csv.DictReader(io.StringIO(raw[2:]))
        states: dict[str, ServerState] = {}
        for row in rows:
            if row.get("pxname") != BACKEND or row.get("svname") not in WORKERS:
                continue
            states[row["svname"]] = ServerState(
                name=row["svname"],
                status=row.get("status") or "",
                backup=row.get("bck") == "1",
                weight=int(row.get("weight") or 0),
                sessions=int(row.get("scur") or 0),
                check=(row.get("check_status") or "").lstrip("* "),
                check_ms=int(row.get("check_duration") or 0),
            )
        missing = [w for w in WORKERS if w not in states]
        if missing:
            raise HaproxyError(f"running HAProxy has no server {', '.join(missing)} in {BACKEND}")
        return states

    def set_state(self, worker: str, state: str) -> None:
        if worker not in WORKERS or state not in RUNTIME_STATES:
            raise HaproxyError(f"refusing set server {worker!r} state {state!r}")
        answer = self.command(f"set server {BACKEND}/{worker} state {state}").strip()
        if answer:
            raise HaproxyError(f"set server {worker} state {state}: {answer[:200]}")


def runtime_active(states: dict[str, ServerState]) -> str | None:
    """The worker the running process loaded as non-backup, if exactly one is."""
    active = [name for name, s in states.items() if not s.backup]
    return active[0] if len(active) == 1 else None


def receiving(states: dict[str, ServerState]) -> str | None:
    """The worker new requests go to right now: the serving non-backup one, else the backup."""
    for backup in (False, True):
        for name, s in states.items():
            if s.backup == backup and s.serving:
                return name
    return None


# ---- the site: config file, reload, runtime API together ----------------------------------------


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


@dataclass(frozen=True)
class HaproxySite:
    """The data node's HAProxy as the blue/green switch drives it (the `LoadBalancer` port):
    its config file, its reload command and its admin socket. Every failure is HaproxyError."""

    cfg: Path
    socket: str
    reload_cmd: str  # e.g. "systemctl reload haproxy" (Debian: haproxy -c, then USR2)
    haproxy_bin: str = "haproxy"
    wait_s: float = 15.0
    health_timeout_s: float = 3.0

    @property
    def _admin(self) -> HaproxyAdmin:
        return HaproxyAdmin(self.socket)

    @property
    def _prev(self) -> Path:
        return self.cfg.with_name(self.cfg.name + ".prev")

    def configured_active(self) -> str:
        return active_in(self.cfg.read_text())

    def describe(self) -> list[str]:
        """The file's servers and the running HAProxy's view of them, for the operator."""
        text = self.cfg.read_text()
        lines = [f"  config   {self.cfg}: active={active_in(text)}"]
        for name, line in server_lines(text).items():
            lines.append(
                f"    {name:<6} {line.address:<22} {'backup' if line.backup else 'active'}"
            )
        try:
            states = self._admin.servers()
            lines.append(f"  haproxy  receiving={receiving(states)}")
            for name, s in states.items():
                role = "backup" if s.backup else "active"
                lines.append(f"    {name:<6} {s.status:<10} {role:<7} check={s.check}")
        except HaproxyError as exc:
            lines.append(f"  haproxy  unreachable: {exc}")
        return lines

    def health(self, worker: str) -> tuple[int, list[str]]:
        """The worker's /healthz, asked at the address the config names."""
        address = server_lines(self.cfg.read_text())[worker].address
        return worker_health(address, self.health_timeout_s)

    def status(self, worker: str) -> str:
        """The running HAProxy's status of ``worker`` (UP, DOWN, ...)."""
        return self._admin.servers()[worker].status

    def prepare(self, target: str) -> tuple[Path, str | None]:
        """The config with ``target`` active, written beside the current one, and what
        ``haproxy -c`` says against it (None: it validates)."""
        new_cfg = files.write_beside(self.cfg, with_active(self.cfg.read_text(), target))
        try:
            check = subprocess.run(
                [self.haproxy_bin, "-c", "-q", "-f", str(new_cfg)],
                capture_output=True,
                text=True,
                check=False,
            )
        except BaseException:
            new_cfg.unlink(missing_ok=True)
            raise
        if check.returncode != 0:
            return new_cfg, (check.stdout + check.stderr).strip()[-2000:]
        return new_cfg, None

    def discard(self, new_cfg: Path) -> None:
        new_cfg.unlink(missing_ok=True)

    def flip(self, target: str, current: str) -> str | None:
        """Runtime API: ``target`` ready, ``current`` drained; where new requests go now."""
        admin = self._admin
        admin.set_state(target, "ready")
        admin.set_state(current, "drain")
        return receiving(admin.servers())

    def install(self, new_cfg: Path) -> Path:
        """``new_cfg`` becomes the config atomically (the old one is kept as <cfg>.prev);
        returns the config's path."""
        shutil.copy2(self.cfg, self._prev)
        files.replace(new_cfg, self.cfg)
        return self.cfg

    def restore(self) -> Path:
        """The config from <cfg>.prev again; returns where it came from."""
        files.atomic_write(self.cfg, self._prev.read_text())
        return self._prev

    def reload(self) -> None:
        # The operator's reload command from the site settings (e.g. `systemctl reload haproxy`).
        result = subprocess.run(  # noqa: S602 - an operator-configured command line, by design
            self.reload_cmd, shell=True, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise HaproxyError(
                f"{self.reload_cmd!r} exited {result.returncode}: "
                + (result.stdout + result.stderr).strip()[-1000:]
            )

    def wait_active(self, worker: str) -> None:
        """Until the running process is one that loaded ``worker`` as the non-backup server."""
        admin = self._admin
        deadline = time.monotonic() + self.wait_s
        last: object = None
        while time.monotonic() < deadline:
            try:
                states = admin.servers()
                if runtime_active(states) == worker and states[worker].serving:
                    return
                last = {n: s.status + (" backup" if s.backup else "") for n, s in states.items()}
            except HaproxyError as exc:  # the socket is re-created during a reload
                last = exc
            time.sleep(0.1)
        raise HaproxyError(f"HAProxy did not come up with {worker} active: {last}")

    def ready_all(self) -> None:
        for name in WORKERS:
            self._admin.set_state(name, "ready")
