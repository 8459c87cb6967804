"""The refresh token in use, kept across rotations: :class:`RefreshTokenStore`."""

from __future__ import annotations

import threading
from pathlib import Path

import structlog
from pydantic import SecretStr

from crmsync.authoring._files import write_private
from crmsync.errors import AuthenticationFailed

__all__ = ["RefreshTokenStore", "write_secret_file"]

log = structlog.get_logger("crmsync.authoring")


def write_secret_file(path: Path, value: str) -> None:
    """Replace ``path``'s content with ``value`` atomically (a crash leaves the old or
    the new one), readable by the owner only. Raises ``OSError``."""
    write_private(path, (value + "\n").encode())


class RefreshTokenStore:
    """The current refresh token of a refresh-token grant.

    With rotation (Salesforce's recommended app setting, Zoho's and others'), each
    refresh answers a new refresh token and revokes the one used. With ``path`` set the
    token is read from that file on first use and every rotated token is written back
    to it atomically (0600), so a restarted process still holds a valid one; without
    it, a rotated token lives in memory only and a warning names ``file_setting``.
    """

    def __init__(
        self,
        value: SecretStr | str | None = None,
        *,
        path: Path | None = None,
        connector: str | None = None,
        file_setting: str = "refresh_token_file",
    ) -> None:
        if value is None and path is None:
            raise ValueError(
                "RefreshTokenStore needs a refresh token or a file holding one"
            )
        self._value = (
            value.get_secret_value() if isinstance(value, SecretStr) else value
        )
        self._path = path
        self._read_file = path is not None
        self._connector = connector
        self._file_setting = file_setting
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RefreshTokenStore(path={self._path!r})"

    @property
    def path(self) -> Path | None:
        return self._path

    def current(self) -> str:
        """The refresh token to send next."""
        with self._lock:
            if self._read_file:
                self._value = self._read()
                self._read_file = False
            if not self._value:
                raise AuthenticationFailed(
                    "no refresh token is set", connector=self._connector
                )
            return self._value

    def rotated(self, new: str | None) -> None:
        """Keep the refresh token a token answer carried (nothing if absent or same)."""
        with self._lock:
            if not new or new == self._value:
                return
            self._value = new
            if self._path is None:
                log.warning(
                    "refresh_token_rotated_in_memory_only",
                    connector=self._connector,
                    hint=f"set {self._file_setting} so that a restart can renew the "
                    "session with the rotated token",
                )
                return
            try:
                write_secret_file(self._path, new)
            except OSError as error:
                # The session is valid; only a restart would need the token. Stop
                # anyway: an operator must know the stored token is about to be revoked.
                raise AuthenticationFailed(
                    f"cannot save the rotated refresh token to {self._path}: "
                    f"{error.strerror}",
                    hint=f"make the {self._file_setting}'s folder writable by crmsync",
                    connector=self._connector,
                ) from None

    def _read(self) -> str:
        assert self._path is not None
        try:
            token = self._path.read_text().strip()
        except OSError as error:
            raise AuthenticationFailed(
                f"cannot read {self._file_setting} {self._path}: {error.strerror}",
                connector=self._connector,
            ) from None
        if not token:
            raise AuthenticationFailed(
                f"{self._file_setting} {self._path} is empty",
                hint="write the app's refresh token into it",
                connector=self._connector,
            )
        return token
