"""Password hashing: argon2id at OWASP's parameters; older scrypt hashes still verify.

New hashes are argon2id with m=19 MiB, t=2, p=1 (the OWASP Password Storage Cheat
Sheet's first recommendation), in the PHC string format ``$argon2id$v=19$m=…``. Hashes
written by earlier versions (``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>``) still verify;
:func:`needs_rehash` tells sign-in to replace them with argon2id.

These functions are CPU-bound (tens of milliseconds, GIL released inside argon2): call
them from a worker thread, never on the event loop.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

ARGON2_TIME_COST = 2
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_PARALLELISM = 1

_hasher = PasswordHasher(
    time_cost=ARGON2_TIME_COST,
    memory_cost=ARGON2_MEMORY_KIB,
    parallelism=ARGON2_PARALLELISM,
    hash_len=32,
    salt_len=16,
    type=Type.ID,
)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, stored: str) -> bool:
    if stored.startswith("scrypt$"):
        return _verify_scrypt(password, stored)
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether ``stored`` should be replaced by a hash at today's parameters."""
    if not stored.startswith("$argon2id$"):
        return True
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True


@functools.cache
def decoy_hash() -> str:
    """A hash of a random secret, verified when a login is unknown, so that an unknown
    login costs the same work (and time) as a known one with a wrong password."""
    return hash_password(secrets.token_urlsafe(16))


def verify_decoy(password: str) -> bool:
    """The work of checking a password, against :func:`decoy_hash` (always False)."""
    return verify_password(password, decoy_hash()) and False


def _verify_scrypt(password: str, stored: str) -> bool:
    try:
        _scheme, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)
