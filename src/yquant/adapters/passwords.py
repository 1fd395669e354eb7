"""Password hashing with argon2 (argon2-cffi, the maintained binding of the reference code).

argon2id with the library's default cost (RFC 9106's second recommended setting: 64 MiB,
3 passes), which it raises in new releases: `needs_rehash` then tells a sign-in to store a new
hash of the password it has just verified.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Argon2Passwords:
    def __init__(self) -> None:
        self._hasher = PasswordHasher()

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return bool(self._hasher.verify(password_hash, password))
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return bool(self._hasher.check_needs_rehash(password_hash))
        except InvalidHashError:
            return True
