"""HAProxy on the data node: the runtime API and the blue/green server lines of its config.

Two things, kept apart from any switching policy (that is `scripts/switch-active.sh`):

- `HaproxyAdmin` talks to the admin socket (``stats socket ... level admin``): ``show stat``
  for the servers' state and ``set server be_workers/<name> state ready|drain`` for an instant
  flip. Runtime changes live only in the running process; a reload starts from the file again.
- `server_lines`, `active_in` and `with_active` read and rewrite which of the two worker lines
  carries ``backup`` in a rendered configuration, leaving every other byte of the file as it is,
  so the file stays the source of truth even after an operator's own edits.
"""

from __future__ import annotations

import csv
import io
import re
import socket
from dataclasses import dataclass

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
