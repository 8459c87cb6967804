"""Access tokens kept across processes, encrypted: :class:`TokenCache`.

A separate ``crmsync sync`` asked the token endpoint for a new token before its first
call, every run. The framework makes one :class:`TokenCache` per connection, scoped to
the connector and a fingerprint of its settings, and hands it to a connector whose
constructor takes ``token_cache``; the connector gives it to its auth object
(``TokenAuth(token_cache=...)``), which looks in it before asking for a token and
keeps each new token in it.

A token is a bearer secret, so a cache file holds it encrypted (AES-256-GCM) with a key
derived (HKDF-SHA256) from the credential the process holds anyway to get a token (a
client secret, a private key, the current refresh token) and bound to the connector,
the settings fingerprint and the grant: the file is useless without the configured
secret, and a changed secret turns it into a miss.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings

from crmsync.authoring._files import write_private
from crmsync.authoring._metadata import settings_fingerprint

__all__ = ["CachedToken", "TokenCache"]

_MAGIC = b"crmsync-token-cache-1\n"
_NONCE_BYTES = 12


@dataclass(frozen=True)
class CachedToken:
    """A token read back from the cache: its value (never in the repr), type, what
    else its answer carried, and how many seconds of its vendor-given lifetime are left
    (``None``: the vendor gave none; it is kept until a call answers 401)."""

    access_token: str = field(repr=False)
    token_type: str = "Bearer"
    extra: Mapping[str, Any] = field(default_factory=dict)
    expires_in: float | None = None


class TokenCache:
    """One connection's access tokens, one encrypted file per grant (``flow``).

    :param directory: where the files are (``None``, or ``seconds`` 0: nothing is kept).
    :param name: the files' common name: the connector and its settings fingerprint.
    :param seconds: the longest a token is used after it was issued, whatever the
        vendor said (a vendor that gives no lifetime, like Salesforce, revokes by
        inactivity or by hand: a token older than this is not trusted).
    :param clock: wall-clock seconds (a test seam).

    A file that cannot be read, decrypted or parsed is a miss, and one that cannot be
    written is skipped: the cache never fails a call, it only saves token requests.
    """

    def __init__(
        self,
        directory: Path | None,
        *,
        name: str,
        seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = directory if seconds > 0 else None
        self.name = name
        self.seconds = seconds
        self._clock = clock
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TokenCache(directory={self.directory!r}, name={self.name!r})"

    @classmethod
    def for_connection(
        cls,
        directory: Path,
        *,
        connector: str,
        settings: BaseSettings,
        seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> TokenCache:
        """The cache of one connection, named by the connector and
        :func:`settings_fingerprint` (the same scope as its ``MetadataCache``)."""
        name = f"{connector}-{settings_fingerprint(connector, settings)}"
        return cls(directory, name=name, seconds=seconds, clock=clock)

    @property
    def enabled(self) -> bool:
        """Whether tokens are kept at all."""
        return self.directory is not None

    def path(self, flow: str) -> Path | None:
        """The file of ``flow``'s tokens (``None`` when disabled)."""
        if self.directory is None:
            return None
        return self.directory / f"{self.name}-token-{_safe(flow)}.bin"

    # -- reading and writing -----------------------------------------------------------
    def load(self, flow: str, credential: Sequence[str]) -> CachedToken | None:
        """The token kept for ``flow``, if one was kept under the same ``credential``
        (the secret values the grant sends) and is still within its lifetime."""
        path = self.path(flow)
        if path is None:
            return None
        try:
            blob = path.read_bytes()
        except OSError:
            return None
        plain = _decrypt(self._key(flow, credential), blob, self._context(flow))
        if plain is None:
            return None
        try:
            entry = json.loads(plain)
            issued = float(entry["issued_at"])
            expires = entry.get("expires_at")
            expires = None if expires is None else float(expires)
            now = self._clock()
            if not 0 <= now - issued < self.seconds:
                return None
            renew = entry.get("renew_at")
            if expires is not None and now >= float(renew or expires):
                return None
            return CachedToken(
                str(entry["access_token"]),
                str(entry.get("token_type") or "Bearer"),
                dict(entry.get("extra") or {}),
                None if expires is None else expires - now,
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return None

    def save(
        self,
        flow: str,
        credential: Sequence[str],
        *,
        access_token: str,
        token_type: str,
        extra: Mapping[str, Any],
        expires_in: float | None,
        renew_in: float | None = None,
    ) -> None:
        """Keep a token just issued (``expires_in``: seconds it has left, if known;
        ``renew_in``: after how many seconds a process should rather get a new one)."""
        path = self.path(flow)
        if path is None:
            return
        now = self._clock()
        entry = {
            "access_token": access_token,
            "token_type": token_type,
            "extra": dict(extra),
            "issued_at": now,
            "expires_at": None if expires_in is None else now + expires_in,
            "renew_at": None if renew_in is None else now + renew_in,
        }
        with self._lock, contextlib.suppress(OSError, TypeError, ValueError):
            plain = json.dumps(entry).encode()
            blob = _encrypt(self._key(flow, credential), plain, self._context(flow))
            write_private(path, blob, make_parent=True)

    def drop(self, flow: str) -> None:
        """Forget ``flow``'s token (the vendor refused it)."""
        path = self.path(flow)
        if path is not None:
            with self._lock, contextlib.suppress(OSError):
                path.unlink(missing_ok=True)

    # -- the key -----------------------------------------------------------------------
    def _context(self, flow: str) -> bytes:
        return f"crmsync access token|{self.name}|{flow}".encode()

    def _key(self, flow: str, credential: Sequence[str]) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        # Length-prefixed, so that ("ab", "c") and ("a", "bc") derive different keys.
        material = b"".join(
            len(part).to_bytes(4, "big") + part
            for part in (value.encode() for value in credential)
        )
        return HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=_MAGIC,
            info=self._context(flow),
        ).derive(material)


def _safe(flow: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in flow) or "token"


def _encrypt(key: bytes, plain: bytes, context: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(_NONCE_BYTES)
    return _MAGIC + nonce + AESGCM(key).encrypt(nonce, plain, context)


def _decrypt(key: bytes, blob: bytes, context: bytes) -> bytes | None:
    """The plain text, or ``None`` for a foreign, corrupt or differently keyed file."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not blob.startswith(_MAGIC):
        return None
    body = blob[len(_MAGIC) :]
    if len(body) <= _NONCE_BYTES:
        return None
    try:
        return AESGCM(key).decrypt(body[:_NONCE_BYTES], body[_NONCE_BYTES:], context)
    except (InvalidTag, ValueError):
        return None
