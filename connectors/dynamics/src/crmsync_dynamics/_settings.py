"""Connection settings (``CRMSYNC_DYNAMICS_*``): one Dataverse environment, one Entra
ID app registration (client secret or certificate)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from crmsync.authoring import SecretFileSettings, UrlGuard, vendor_url

__all__ = ["GUARD", "DynamicsSettings"]

# Dataverse hosts (commercial, US government, China) and Entra ID's sign-in hosts.
GUARD = UrlGuard(
    vendor="Microsoft Dynamics 365",
    domains=(
        "dynamics.com",
        "microsoftdynamics.us",
        "appsplatform.us",
        "dynamics.cn",
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
    ),
    allow_loopback=True,
)
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$")
_VERSION = re.compile(r"^v9\.[0-2]$")


class DynamicsSettings(SecretFileSettings):
    """How to reach one Dataverse environment. Secrets are ``SecretStr`` (never
    printed) and may be given as files (``*_FILE``)."""

    model_config = SettingsConfigDict(
        env_prefix="CRMSYNC_DYNAMICS_", env_file=".env", extra="ignore"
    )

    environment_url: str = Field(
        description="The environment's URL, e.g. https://contoso.crm.dynamics.com "
        "(Power Platform admin center > Environments > the environment > Environment URL).",
    )
    tenant_id: str = Field(
        description="The Entra ID tenant (directory) id or a verified domain of it.",
    )
    client_id: str = Field(description="The app registration's Application (client) ID.")
    auth: Literal["client_secret", "certificate"] = Field(
        default="client_secret",
        description="client_secret, or certificate (a JWT client assertion signed with "
        "the certificate's private key).",
    )
    client_secret: SecretStr | None = None
    client_secret_file: Path | None = None
    private_key: SecretStr | None = Field(
        default=None, description="certificate auth: the certificate's PEM private key."
    )
    private_key_file: Path | None = None
    certificate: str | None = Field(
        default=None,
        description="certificate auth: the PEM certificate uploaded to the app "
        "registration (its SHA-1 thumbprint goes in the assertion's x5t header).",
    )
    certificate_file: Path | None = None
    certificate_thumbprint: str | None = Field(
        default=None,
        description="certificate auth: the hex SHA-1 thumbprint, instead of "
        "the certificate itself.",
    )
    authority_host: str = Field(
        default="https://login.microsoftonline.com",
        description="Entra ID sign-in host (https://login.microsoftonline.us for US "
        "government clouds).",
    )
    api_version: str = "v9.2"
    page_size: int = Field(default=5000, ge=1, le=5000)
    batch_size: int = Field(
        default=1000,
        ge=1,
        le=1000,
        description="Records per $batch call (Dataverse allows 1,000 requests per batch). "
        "Lower it for orgs with heavy synchronous plug-ins, whose time counts against the "
        "2-minute request timeout.",
    )
    change_feed: Literal["auto", "change_tracking", "modifiedon"] = Field(
        default="auto",
        description="auto: change tracking where the table has it enabled, else the "
        "modifiedon watermark; change_tracking: require it; modifiedon: never use it.",
    )
    deterministic_ids: bool = Field(
        default=True,
        description="Create records with a GUID derived from crmsync's request key "
        "(PATCH with If-None-Match: *), so a create repeated after a lost answer finds "
        "the record instead of duplicating it.",
    )
    duplicate_detection: bool = Field(
        default=False,
        description="Send MSCRM.SuppressDuplicateDetection: false, so the org's "
        "duplicate detection rules refuse duplicates (error 0x80040333).",
    )
    timeout: float = Field(default=120.0, gt=0)

    _check_environment = field_validator("environment_url")(
        vendor_url(GUARD, what="environment_url")
    )
    _check_authority = field_validator("authority_host")(vendor_url(GUARD, what="authority_host"))

    @field_validator("tenant_id")
    @classmethod
    def _check_tenant(cls, value: str) -> str:
        if not _TENANT.match(value):
            raise ValueError(
                "must be the tenant's GUID or a domain such as contoso.onmicrosoft.com"
            )
        return value

    @field_validator("api_version")
    @classmethod
    def _check_version(cls, value: str) -> str:
        if not _VERSION.match(value):
            raise ValueError("must be v9.0, v9.1 or v9.2")
        return value

    @model_validator(mode="after")
    def _check_auth(self) -> DynamicsSettings:
        if self.certificate is None and self.certificate_file is not None:
            try:
                self.certificate = self.certificate_file.read_text()
            except OSError as error:
                raise ValueError(
                    f"certificate_file: cannot read {self.certificate_file}: {error.strerror}"
                ) from None
        if self.auth == "client_secret" and self.client_secret is None:
            raise ValueError(
                "auth=client_secret needs client_secret (or client_secret_file): the app "
                "registration's secret value"
            )
        if self.auth == "certificate":
            if self.private_key is None:
                raise ValueError("auth=certificate needs private_key (or private_key_file)")
            if self.certificate is None and self.certificate_thumbprint is None:
                raise ValueError(
                    "auth=certificate needs certificate (or certificate_file) or "
                    "certificate_thumbprint"
                )
        return self

    @property
    def api_root(self) -> str:
        """``https://<org>/api/data/v9.2``."""
        return f"{self.environment_url}/api/data/{self.api_version}"

    @property
    def token_url(self) -> str:
        """The tenant's v2.0 token endpoint."""
        return f"{self.authority_host}/{self.tenant_id}/oauth2/v2.0/token"

    @property
    def scope(self) -> str:
        """``<environment>/.default``: every application permission of the app."""
        return f"{self.environment_url}/.default"
