"""Connection settings (``CRMSYNC_SALESFORCE_*``), validated per OAuth flow."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from crmsync.authoring import UrlGuard, vendor_url

__all__ = ["GUARD", "SalesforceSettings"]

_VERSION = re.compile(r"^v\d{2,3}\.\d$")
_GENERIC_LOGIN_HOSTS = {"login.salesforce.com", "test.salesforce.com"}
# Where credentials may go: login.salesforce.com and test.salesforce.com, My Domain
# (<domain>.my.salesforce.com), sandboxes (<domain>--<sandbox>.sandbox.my.salesforce.com),
# instance and Lightning hosts (*.force.com, older *.cloudforce.com) and Government
# Cloud Plus - Defense (*.salesforce.mil); loopback only for the emulator.
GUARD = UrlGuard(
    vendor="Salesforce",
    domains=("salesforce.com", "force.com", "cloudforce.com", "salesforce.mil"),
    allow_loopback=True,
)
_login_url = vendor_url(GUARD, what="login_url")


class SalesforceSettings(BaseSettings):
    """How to reach one Salesforce org. Secrets are ``SecretStr``: never printed."""

    model_config = SettingsConfigDict(
        env_prefix="CRMSYNC_SALESFORCE_", env_file=".env", extra="ignore"
    )

    login_url: str = Field(
        default="https://login.salesforce.com",
        description="Token host: https://login.salesforce.com (production), "
        "https://test.salesforce.com (sandbox) or https://<domain>.my.salesforce.com.",
    )
    auth_flow: Literal["jwt", "client_credentials", "refresh_token"] = "jwt"
    client_id: str | None = Field(default=None, description="The connected app's consumer key.")
    client_secret: SecretStr | None = None
    username: str | None = Field(default=None, description="JWT flow: the user to act as.")
    private_key: SecretStr | None = Field(default=None, description="JWT flow: PEM RSA key.")
    private_key_file: Path | None = Field(default=None, description="JWT flow: PEM key path.")
    jwt_audience: str | None = Field(
        default=None,
        description="JWT 'aud'. Default: https://test.salesforce.com for sandbox hosts, "
        "https://login.salesforce.com for other *.salesforce.com hosts, else the login url.",
    )
    refresh_token: SecretStr | None = None
    refresh_token_file: Path | None = Field(
        default=None,
        description="Refresh-token flow: a file holding the refresh token. With refresh "
        "token rotation on, crmsync writes each new token back to it (owner-only), so a "
        "restart still has a valid one. Takes precedence over refresh_token.",
    )
    api_version: str = "v60.0"
    page_size: int = Field(default=2000, ge=200, le=2000)
    api_budget_share: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="crmsync stops a cycle once the org's API usage (every app's calls, as "
        "Sforce-Limit-Info reports it) reaches this share of the daily allocation, leaving "
        "the rest to the org's other integrations and users.",
    )
    timeout: float = Field(default=60.0, gt=0)
    auto_assign: bool = Field(
        default=True,
        description="Run lead assignment rules on create (false sends Sforce-Auto-Assign: FALSE).",
    )
    read_back_stamps: bool = Field(
        default=False,
        description="After each write batch, query the records' SystemModstamp (one extra "
        "read per 200 writes). Off by default: the engine does not need it, because the next "
        "cycle reads the written records with their stamps anyway.",
    )

    @field_validator("login_url")
    @classmethod
    def _check_login_url(cls, value: str) -> str:
        # Credentials go to this host: the vendor's own domains only (issue 12).
        parts = urlsplit(_login_url(value))
        return f"{parts.scheme}://{parts.netloc}"

    @field_validator("api_version")
    @classmethod
    def _check_version(cls, value: str) -> str:
        if not _VERSION.match(value):
            raise ValueError("must look like v60.0")
        return value

    @model_validator(mode="after")
    def _check_flow(self) -> SalesforceSettings:
        if not self.client_id:
            raise ValueError(
                f"client_id (the connected app's consumer key) is required for "
                f"the {self.auth_flow} flow"
            )
        if self.auth_flow == "jwt":
            if not self.username:
                raise ValueError("the jwt flow needs username (the Salesforce user to act as)")
            if self.private_key is None and self.private_key_file is None:
                raise ValueError("the jwt flow needs private_key (PEM) or private_key_file")
        elif self.auth_flow == "client_credentials":
            if self.client_secret is None:
                raise ValueError("the client_credentials flow needs client_secret")
            if urlsplit(self.login_url).netloc.lower() in _GENERIC_LOGIN_HOSTS:
                # Salesforce answers "request not supported on this domain".
                raise ValueError(
                    "the client_credentials flow needs your org's My Domain login url "
                    "(https://<domain>.my.salesforce.com), not "
                    f"{self.login_url}"
                )
        elif self.refresh_token is None and self.refresh_token_file is None:
            raise ValueError("the refresh_token flow needs refresh_token or refresh_token_file")
        return self

    def audience(self) -> str:
        """The JWT ``aud`` claim for this login host."""
        if self.jwt_audience:
            return self.jwt_audience
        host = urlsplit(self.login_url).netloc.lower()
        if host == "test.salesforce.com" or host.endswith(".sandbox.my.salesforce.com"):
            return "https://test.salesforce.com"
        if host.endswith(".salesforce.com"):
            return "https://login.salesforce.com"
        return self.login_url
