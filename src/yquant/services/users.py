"""The dashboard's users: add, list, remove (`yquant users`), and signing in with a lockout.

Passwords are stored only as argon2 hashes (the `PasswordHasher` port). A sign-in that fails
``MAX_FAILURES`` times in a row locks the name for ``LOCK_FOR``, with an audit entry; a name that
is no user fails and locks the same way (kept in memory), and its password is checked against a
dummy hash, so neither the answer nor its time tells which names exist.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from yquant.domain.reasons import ReasonCode
from yquant.errors import RejectedError
from yquant.ports import PasswordHasher, UserRecord, UserRecords

logger = logging.getLogger(__name__)

MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=15)
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
# Letters, digits and . _ @ + - (an e-mail address or a Tailscale login is a valid name).
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")
# Names that are no user, with their failures: bounded, so a flood of names cannot grow it.
MAX_GHOSTS = 10_000


class UserError(RejectedError):
    """A user command refused as asked (bad name, short password, taken or unknown name)."""

    def __init__(self, message: str, code: ReasonCode) -> None:
        super().__init__(code, message, message=message)
        self.code = code


@dataclass(frozen=True, slots=True)
class SignIn:
    """The outcome of a sign-in: the user, or the reason it was refused (and until when a
    locked name stays locked)."""

    user: UserRecord | None
    refused: ReasonCode | None = None
    locked_until: datetime | None = None


@dataclass
class _Ghost:
    failures: int = 0
    locked_until: datetime | None = None


class Users:
    def __init__(
        self,
        records: UserRecords,
        passwords: PasswordHasher,
        *,
        max_failures: int = MAX_FAILURES,
        lock_for: timedelta = LOCK_FOR,
    ) -> None:
        self._records = records
        self._passwords = passwords
        self._max_failures = max_failures
        self._lock_for = lock_for
        self._ghosts: dict[str, _Ghost] = {}
        self._dummy: str | None = None

    # ---- `yquant users` ------------------------------------------------------------------------

    async def add(
        self, name: str, password: str, *, actor: str, now: datetime, replace: bool = False
    ) -> None:
        name = checked_name(name)
        if len(password) < MIN_PASSWORD:
            raise UserError(
                f"the password must be at least {MIN_PASSWORD} characters",
                ReasonCode.WEAK_PASSWORD,
            )
        if len(password) > MAX_PASSWORD:
            raise UserError(
                f"the password must be at most {MAX_PASSWORD} characters", ReasonCode.WEAK_PASSWORD
            )
        hashed = self._passwords.hash(password)
        if not await self._records.add(name, hashed, actor=actor, now=now, replace=replace):
            raise UserError(
                f"user {name!r} exists (give --replace to set a new password)",
                ReasonCode.USER_EXISTS,
            )
        logger.info("dashboard user stored name=%s actor=%s replace=%s", name, actor, replace)

    async def remove(self, name: str, *, actor: str, now: datetime) -> None:
        if not await self._records.remove(name.strip(), actor=actor, now=now):
            raise UserError(f"no user {name.strip()!r}", ReasonCode.UNKNOWN_USER)
        logger.info("dashboard user removed name=%s actor=%s", name.strip(), actor)

    async def all(self) -> list[UserRecord]:
        return await self._records.all()

    # ---- signing in ----------------------------------------------------------------------------

    async def sign_in(self, name: str, password: str, *, source: str, now: datetime) -> SignIn:
        name = name.strip()
        user = await self._records.get(name) if NAME.fullmatch(name) else None
        if user is None:
            return await self._ghost_sign_in(name, password, source=source, now=now)
        if user.locked_until is not None and user.locked_until > now:
            return SignIn(None, ReasonCode.LOCKED_OUT, user.locked_until)
        if not self._passwords.verify(user.password_hash, password):
            after = await self._records.failed(
                name,
                source=source,
                now=now,
                max_failures=self._max_failures,
                lock_for=self._lock_for,
            )
            if after is not None and after.locked_until is not None and after.locked_until > now:
                logger.warning(
                    "dashboard sign-in locked name=%s source=%s until=%s",
                    name,
                    source,
                    after.locked_until.isoformat(),
                )
                return SignIn(None, ReasonCode.LOCKED_OUT, after.locked_until)
            logger.info("dashboard sign-in failed name=%s source=%s", name, source)
            return SignIn(None, ReasonCode.BAD_CREDENTIALS)
        renewed = (
            self._passwords.hash(password)
            if self._passwords.needs_rehash(user.password_hash)
            else None
        )
        await self._records.succeeded(name, now=now, password_hash=renewed)
        logger.info("dashboard sign-in name=%s source=%s", name, source)
        return SignIn(user)

    async def _ghost_sign_in(
        self, name: str, password: str, *, source: str, now: datetime
    ) -> SignIn:
        ghost = self._ghosts.get(name)
        if ghost is not None and ghost.locked_until is not None:
            if ghost.locked_until > now:
                return SignIn(None, ReasonCode.LOCKED_OUT, ghost.locked_until)
            ghost = None
        # The same work as for a user, so the time taken does not tell the name is unknown.
        if self._dummy is None:
            self._dummy = self._passwords.hash(secrets.token_urlsafe(16))
        self._passwords.verify(self._dummy, password)
        if ghost is None:
            if len(self._ghosts) >= MAX_GHOSTS:
                self._ghosts.clear()
            ghost = self._ghosts[name] = _Ghost()
        ghost.failures += 1
        if ghost.failures >= self._max_failures:
            ghost.locked_until = now + self._lock_for
            await self._records.note_lockout(
                name[:200],
                source=source,
                until=ghost.locked_until,
                failures=ghost.failures,
                now=now,
            )
            ghost.failures = 0
            logger.warning(
                "dashboard sign-in locked name=%s source=%s until=%s (no such user)",
                name[:64],
                source,
                ghost.locked_until.isoformat(),
            )
            return SignIn(None, ReasonCode.LOCKED_OUT, ghost.locked_until)
        logger.info("dashboard sign-in failed name=%s source=%s", name[:64], source)
        return SignIn(None, ReasonCode.BAD_CREDENTIALS)

    async def sign_out(self, name: str, *, now: datetime) -> None:
        """End every session of ``name`` (each cookie carries the epoch this raises)."""
        await self._records.end_sessions(name, now=now)

    async def session_epoch(self, name: str) -> int | None:
        """The epoch a session of ``name`` must carry; None when there is no such user."""
        user = await self._records.get(name)
        return None if user is None else user.session_epoch


def checked_name(name: str) -> str:
    name = name.strip()
    if not NAME.fullmatch(name):
        raise UserError(
            "a user name is 1 to 64 letters, digits or . _ @ + - (starting with a letter or"
            " a digit)",
            ReasonCode.BAD_USER_NAME,
        )
    return name
