"""Password hashes: Argon2id through argon2-cffi, the one module that knows the library."""

from __future__ import annotations

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class PasswordHasher:
    """Hash and check passwords with Argon2id (RFC 9106 low-memory profile by default)."""

    def __init__(self, *, time_cost: int = 3, memory_cost: int = 65536, parallelism: int = 4) -> None:
        self._argon = Argon2Hasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism,
                                   type=Type.ID)
        # Checked against when an email has no account, so a wrong email costs what a wrong password does.
        self._decoy = self._argon.hash("offerbot decoy password, never anyone's")

    def hash(self, password: str) -> str:
        """Return the encoded hash (algorithm, parameters, salt and digest)."""
        return self._argon.hash(password)

    def verify(self, encoded: str | None, password: str) -> bool:
        """Return True when ``password`` matches ``encoded`` (a missing hash never matches)."""
        try:
            return self._argon.verify(encoded or self._decoy, password) and encoded is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, encoded: str) -> bool:
        """Return True when the hash was made with other parameters than today's."""
        return self._argon.check_needs_rehash(encoded)
