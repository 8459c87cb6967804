"""The web app's own settings, read from ``CRMSYNC_WEB_*`` variables and ``.env``.

The administrator's credentials are kept only as hashes (see :mod:`._secrets`); the
session key signs the sign-in cookie. None of them is ever rendered, logged or returned.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["WebSettings"]


class WebSettings(BaseSettings):
    """How ``crmsync serve`` signs people in."""

    model_config = SettingsConfigDict(
        env_prefix="CRMSYNC_WEB_", env_file=".env", extra="ignore"
    )

    password_hash: SecretStr | None = Field(
        default=None,
        description="Hash of the administrator's password for the pages, as printed by "
        "`crmsync serve --hash-password`.",
    )
    token_hash: SecretStr | None = Field(
        default=None,
        description="Hash of the REST API's bearer token, as printed by "
        "`crmsync serve --new-token`.",
    )
    session_key: SecretStr | None = Field(
        default=None,
        description="Key that signs the sign-in cookie (at least 32 characters). "
        "Unset: a random key per process, so a restart signs everyone out.",
        min_length=32,
    )
    session_hours: float = Field(
        default=12.0, gt=0, le=24 * 30, description="How long a sign-in lasts."
    )
    secure_cookies: bool = Field(
        default=False,
        description="Mark the session cookie Secure (set it when TLS is in front).",
    )
