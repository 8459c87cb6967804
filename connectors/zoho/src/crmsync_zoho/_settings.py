"""Connection settings (``CRMSYNC_ZOHO_*``) and the data-centre table.

The API version is pinned here, once: :data:`API_VERSION`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from crmsync.authoring import SecretFileSettings, UrlGuard, vendor_url

__all__ = [
    "ACCOUNTS_DOMAINS",
    "API_DOMAINS",
    "API_VERSION",
    "DATA_CENTRES",
    "GUARD",
    "Trigger",
    "ZohoSettings",
    "is_loopback",
]

API_VERSION = "v8"
"""The Zoho CRM API version every call uses. v8 is the current one (the official SDK
hard-codes ``/crm/v8/``): ``fields`` mandatory, ``page_token`` past 2,000 records,
207 for mixed batches, ``Converted_Contact`` on leads (fact sheet section 2)."""

DataCentre = Literal["us", "eu", "in", "au", "jp", "ca", "sa", "cn"]
Trigger = Literal["workflow", "approval", "blueprint", "pathfinder", "orchestration"]

# DC -> (accounts server, production api_domain), fact sheet section 1.
DATA_CENTRES: dict[str, tuple[str, str]] = {
    "us": ("https://accounts.zoho.com", "https://www.zohoapis.com"),
    "eu": ("https://accounts.zoho.eu", "https://www.zohoapis.eu"),
    "in": ("https://accounts.zoho.in", "https://www.zohoapis.in"),
    "au": ("https://accounts.zoho.com.au", "https://www.zohoapis.com.au"),
    "jp": ("https://accounts.zoho.jp", "https://www.zohoapis.jp"),
    "ca": ("https://accounts.zohocloud.ca", "https://www.zohoapis.ca"),
    "sa": ("https://accounts.zoho.sa", "https://www.zohoapis.sa"),
    "cn": ("https://accounts.zoho.com.cn", "https://www.zohoapis.com.cn"),
}
ACCOUNTS_DOMAINS = tuple(urlsplit(a).hostname or "" for a, _ in DATA_CENTRES.values())
API_DOMAINS = tuple(
    (urlsplit(api).hostname or "").removeprefix("www.") for _, api in DATA_CENTRES.values()
)
GUARD = UrlGuard(vendor="Zoho CRM", domains=(*ACCOUNTS_DOMAINS, *API_DOMAINS))
"""Where credentials may go: the accounts servers and API hosts of every data centre
(subdomains included: ``sandbox.zohoapis.com``), or a loopback emulator."""


def is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in {"127.0.0.1", "localhost", "::1"}


_ACCOUNTS_URL = vendor_url(
    UrlGuard(vendor="Zoho accounts", domains=ACCOUNTS_DOMAINS), what="accounts_url"
)


class ZohoSettings(SecretFileSettings):
    """How to reach one Zoho CRM org. Secrets are ``SecretStr``: never printed."""

    model_config = SettingsConfigDict(env_prefix="CRMSYNC_ZOHO_", env_file=".env",
                                      extra="ignore")

    data_centre: DataCentre = Field(
        default="us",
        description="The org's data centre (us, eu, in, au, jp, ca, sa, cn): picks the "
        "accounts server. API calls go to the api_domain the token answer names.",
    )
    accounts_url: str | None = Field(
        default=None,
        description="Override of the data centre's accounts server (an emulator on a "
        "loopback address, for instance).",
    )
    client_id: str = Field(min_length=1, description="The self client's Client ID.")
    client_secret: SecretStr | None = Field(default=None,
                                            description="The self client's Client Secret.")
    client_secret_file: Path | None = Field(default=None,
                                            description="A file holding the client secret.")
    refresh_token: SecretStr | None = Field(
        default=None, description="The refresh token from exchanging a grant code once."
    )
    refresh_token_file: Path | None = Field(
        default=None, description="A file holding the refresh token."
    )
    page_size: int = Field(default=200, ge=1, le=200, description="Records per read (max 200).")
    timeout: float = Field(default=60.0, gt=0, description="Seconds per HTTP request.")
    triggers: tuple[Trigger, ...] = Field(
        default=(),
        description="Automation Zoho runs on crmsync's writes: [] (default) runs none; e.g. "
        '["workflow"] runs workflow rules. Sent as the writes\' "trigger" key.',
    )
    deletions_every: float = Field(
        default=600.0,
        ge=0,
        description="Seconds between reads of the deleted-records list (2 credits each); 0 "
        "reads it on every change-feed read.",
    )

    @field_validator("accounts_url")
    @classmethod
    def _check_accounts(cls, value: str | None) -> str | None:
        return None if value is None else _ACCOUNTS_URL(value)

    @model_validator(mode="after")
    def _check_secrets(self) -> ZohoSettings:
        if self.client_secret is None and self.client_secret_file is None:
            raise ValueError(
                "CRMSYNC_ZOHO_CLIENT_SECRET (or CRMSYNC_ZOHO_CLIENT_SECRET_FILE) is required: "
                "the self client's Client Secret from the API console"
            )
        if self.refresh_token is None and self.refresh_token_file is None:
            raise ValueError(
                "CRMSYNC_ZOHO_REFRESH_TOKEN (or CRMSYNC_ZOHO_REFRESH_TOKEN_FILE) is required: "
                "exchange a self client's grant code once (python -m crmsync_zoho exchange)"
            )
        return self

    @property
    def accounts(self) -> str:
        """The accounts server token requests go to."""
        return self.accounts_url or DATA_CENTRES[self.data_centre][0]

    def secret(self) -> SecretStr:
        assert self.client_secret is not None  # the validators above
        return self.client_secret
