"""UrlGuard: the vendor's domains over https, loopback for emulators, nothing else."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError, field_validator

from crmsync.authoring import UrlGuard, vendor_url
from crmsync.errors import ConfigurationError, PermanentError

GUARD = UrlGuard(vendor="Salesforce", domains=("salesforce.com", "force.com"))


@pytest.mark.parametrize(
    "url",
    [
        "https://login.salesforce.com",
        "https://acme.my.salesforce.com/services/oauth2/token",
        "https://acme--uat.sandbox.my.salesforce.com",
        "https://salesforce.com",
        "https://acme.lightning.force.com:443/x",
        "https://LOGIN.SALESFORCE.COM",
        "http://127.0.0.1:8080",
        "http://127.5.5.5",
        "https://localhost:9000",
        "http://[::1]:8080/x",
    ],
)
def test_allowed(url: str) -> None:
    assert GUARD.check(url) == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://169.254.169.254/latest/meta-data", "IP address"),
        ("https://10.0.0.8", "IP address"),
        ("https://192.168.1.1", "IP address"),
        ("https://[fd00::1]", "IP address"),
        ("http://metadata.google.internal/computeMetadata", "https"),
        ("https://metadata.google.internal", "not on a Salesforce domain"),
        ("https://login.salesforce.com.evil.com", "not on a Salesforce domain"),
        ("https://evilsalesforce.com", "not on a Salesforce domain"),
        ("https://user@evil.com", "user name"),
        ("https://login.salesforce.com@evil.com", "user name"),
        ("https://login.salesforce.com\\@evil.com", "backslashes"),
        ("http://login.salesforce.com", "https"),
        ("ftp://login.salesforce.com", "absolute https"),
        ("file:///etc/passwd", "absolute https"),
        ("//login.salesforce.com", "absolute https"),
        ("https://login.salesforce.com:99999", "not a valid URL"),
        ("https://xn--slesforce-51a.com", "not on a Salesforce domain"),
        ("https://sälesforce.com", "plain ASCII"),
        ("", "empty"),
    ],
)
def test_refused_with_the_reason(url: str, why: str) -> None:
    problem = GUARD.problem(url)
    assert problem is not None and why in problem
    with pytest.raises(ConfigurationError):
        GUARD.check(url)


def test_loopback_is_refused_without_emulators() -> None:
    strict = UrlGuard(vendor="Zoho", domains=("zoho.com",), allow_loopback=False)
    assert strict.problem("http://127.0.0.1:8080") is not None
    assert strict.problem("https://localhost") is not None
    assert strict.allows("https://accounts.zoho.com")


def test_a_vendor_handed_url_is_a_permanent_error_that_hides_the_path() -> None:
    with pytest.raises(PermanentError) as caught:
        GUARD.check(
            "http://169.254.169.254/latest?token=abc",
            from_vendor=True,
            what="instance_url",
        )
    assert caught.value.code == "UNTRUSTED_URL"
    assert "instance_url" in str(caught.value)
    assert "token=abc" not in str(caught.value) and "latest" not in str(caught.value)


def test_domains_are_validated() -> None:
    with pytest.raises(ValueError, match="not a domain name"):
        UrlGuard(vendor="x", domains=("evil.com/path",))


def test_vendor_url_validator_for_settings() -> None:
    class Settings(BaseModel):
        login_url: str

        _check = field_validator("login_url")(vendor_url(GUARD, what="login_url"))

    assert Settings(login_url="https://login.salesforce.com/").login_url == (
        "https://login.salesforce.com"
    )
    with pytest.raises(ValidationError, match=r"login_url https://10\.1\.1\.1"):
        Settings(login_url="https://10.1.1.1")
