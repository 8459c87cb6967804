"""Connection settings (``CRMSYNC_AUTOTASK_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from crmsync.authoring import SecretFileSettings, UrlGuard, vendor_url

__all__ = ["GUARD", "AutotaskSettings"]

GUARD = UrlGuard(vendor="Autotask", domains=("autotask.net",), allow_loopback=True)
DISCOVERY_URL = "https://webservices.autotask.net/atservicesrest"


class AutotaskSettings(SecretFileSettings):
    """How to reach one Autotask tenant as an API-only user. Secrets are ``SecretStr``
    (or ``*_FILE`` paths) and never printed."""

    model_config = SettingsConfigDict(
        env_prefix="CRMSYNC_AUTOTASK_", env_file=".env", extra="ignore"
    )

    username: str = Field(
        default="",
        description="The API-only user's username (an email-style login).",
    )
    secret: SecretStr | None = Field(default=None, description="The API user's secret.")
    secret_file: Path | None = Field(default=None, description="A file holding the secret.")
    integration_code: SecretStr | None = Field(
        default=None,
        description="The API tracking identifier (ApiIntegrationCode header) of the "
        "integration the API user is bound to.",
    )
    integration_code_file: Path | None = None
    discovery_url: str = Field(
        default=DISCOVERY_URL,
        description="Where the zone of the user is looked up (zoneInformation).",
    )
    zone_url: str | None = Field(
        default=None,
        description="Pin the zone's REST base (https://webservicesN.autotask.net/"
        "ATServicesRest) instead of discovering it; a zone move then needs a change here.",
    )
    impersonation_resource_id: int | None = Field(
        default=None,
        description="Writes appear as made by this resource (ImpersonationResourceId).",
    )
    company_strategy: Literal["default_company", "find_or_create"] = Field(
        default="default_company",
        description="How a new contact gets its required company: always "
        "default_company_id, or the company named by the contact's companyName value "
        "(found by name, else created as a prospect company).",
    )
    default_company_id: int | None = Field(
        default=None,
        description="The company new contacts are created under (default_company), or "
        "the fallback when a new contact has no companyName (find_or_create).",
    )
    new_company_type: int = Field(
        default=3, description="companyType of companies crmsync creates (3 = Prospect)."
    )
    new_company_owner_resource_id: int | None = Field(
        default=None,
        description="ownerResourceID of companies crmsync creates (required by Autotask).",
    )
    new_company_phone: str = Field(
        default="Unknown",
        min_length=1,
        description="phone of companies crmsync creates when the contact has none "
        "(Autotask requires one).",
    )
    reconcile_interval: float = Field(
        default=3600.0,
        ge=0,
        description="Seconds between deletion checks. Autotask reports no deletions: "
        "every interval the feed counts the records (1 call) and, when the count shows "
        "some vanished, sweeps their ids (1 call per 500 records). 0: every read.",
    )
    reconcile_max_share: float = Field(
        default=0.5,
        gt=0,
        le=1.0,
        description="A sweep that finds more than this share of known records gone is "
        "not reported (a permission change looks like a mass deletion); it is logged.",
    )
    api_budget_share: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="crmsync stops a cycle once the tenant's requests in the rolling "
        "hour (every integration's, as ThresholdInformation reports them) reach this "
        "share of the threshold (10,000).",
    )
    threshold_poll_seconds: float = Field(
        default=900.0,
        ge=0,
        description="How often authenticate re-reads ThresholdInformation (one call).",
    )
    zone_cache_seconds: float = Field(
        default=43200.0, ge=0, description="How long a discovered zone is trusted."
    )
    page_size: int = Field(default=500, ge=1, le=500, description="MaxRecords per query.")
    timeout: float = Field(default=60.0, gt=0)

    _check_discovery = field_validator("discovery_url")(
        vendor_url(GUARD, what="CRMSYNC_AUTOTASK_DISCOVERY_URL")
    )

    @field_validator("zone_url")
    @classmethod
    def _check_zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return vendor_url(GUARD, what="CRMSYNC_AUTOTASK_ZONE_URL")(value)

    @model_validator(mode="after")
    def _check_required(self) -> AutotaskSettings:
        if not self.username.strip():
            raise ValueError(
                "CRMSYNC_AUTOTASK_USERNAME is required: the API-only user's username"
            )
        if self.secret is None:
            raise ValueError(
                "CRMSYNC_AUTOTASK_SECRET (or CRMSYNC_AUTOTASK_SECRET_FILE) is required: "
                "the API user's secret"
            )
        if self.integration_code is None:
            raise ValueError(
                "CRMSYNC_AUTOTASK_INTEGRATION_CODE (or _FILE) is required: the API "
                "tracking identifier of the integration"
            )
        if self.company_strategy == "default_company" and self.default_company_id is None:
            raise ValueError(
                "CRMSYNC_AUTOTASK_DEFAULT_COMPANY_ID is required with company_strategy "
                "default_company (or set CRMSYNC_AUTOTASK_COMPANY_STRATEGY=find_or_create)"
            )
        if (
            self.company_strategy == "find_or_create"
            and self.new_company_owner_resource_id is None
        ):
            raise ValueError(
                "CRMSYNC_AUTOTASK_NEW_COMPANY_OWNER_RESOURCE_ID is required with "
                "company_strategy find_or_create (Autotask requires an owner on a company)"
            )
        return self
