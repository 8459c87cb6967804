"""Hashing the administrator's password and API token, and checking them.

A password is hashed with scrypt (slow on purpose: it may be guessable); an API token
is 256 random bits made by :func:`new_token`, so SHA-256 is enough and keeps every API
call fast. A stored hash names its scheme, ``scrypt$N$r$p$salt$hash`` or
``sha256$hash``, so that either kind of secret may use either scheme.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from crmsync.errors import ConfigurationError

__all__ = ["check_hash", "hash_password", "hash_token", "new_token", "verify"]

_N, _R, _P = 2**14, 8, 1


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    """The scrypt hash of ``password`` to store in ``CRMSYNC_WEB_PASSWORD_HASH``."""
    if len(password) < 12:
        raise ConfigurationError(
            "the password is too short: it needs at least 12 characters",
            hint="choose a longer one (a passphrase of a few words)",
        )
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32
    )
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def new_token() -> str:
    """A new random API token (shown once; only its hash is kept)."""
    return "cst_" + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The hash of ``token`` to store in ``CRMSYNC_WEB_TOKEN_HASH``."""
    return "sha256$" + hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_hash(stored: str, variable: str) -> None:
    """Refuse a stored hash that no scheme here can check, naming its variable."""
    parts = stored.split("$")
    ok = (parts[0] == "sha256" and len(parts) == 2 and len(parts[1]) == 64) or (
        parts[0] == "scrypt"
        and len(parts) == 6
        and all(p.isdigit() for p in parts[1:4])
    )
    if not ok:
        raise ConfigurationError(
            f"{variable} is not a hash crmsync made",
            hint="set it to the line `crmsync serve --hash-password` (or "
            "--new-token) prints",
        )


def verify(secret: str, stored: str) -> bool:
    """Whether ``secret`` matches the ``stored`` hash (in constant time)."""
    parts = stored.split("$")
    given = secret.encode("utf-8")
    if parts[0] == "sha256" and len(parts) == 2:
        return hmac.compare_digest(hashlib.sha256(given).hexdigest(), parts[1])
    if parts[0] == "scrypt" and len(parts) == 6:
        n, r, p = (int(part) for part in parts[1:4])
        digest = hashlib.scrypt(
            given, salt=_unb64(parts[4]), n=n, r=r, p=p, dklen=len(_unb64(parts[5]))
        )
        return hmac.compare_digest(digest, _unb64(parts[5]))
    return False
