"""Where a connector may send credentials: :class:`UrlGuard`.

A settings URL (a login host) and every URL a vendor hands back (an instance URL in a
token answer, a next-page link, a data-centre "zone" URL) go through one rule before
any credential is sent to it: https on the vendor's own domains, plain http only to a
loopback address and only when emulators are allowed; never an IP literal of another
host (private ranges, the 169.254.169.254 metadata address), never userinfo
(``user@evil.com``), never a look-alike suffix (``login.salesforce.com.evil.com``).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from crmsync.errors import ConfigurationError, PermanentError

__all__ = ["UrlGuard"]

# A host name as DNS spells it: letters, digits, hyphens, dots; nothing that a parser
# could read two ways (backslashes, percent escapes, spaces).
_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)
_LOOPBACK_NAMES = ("localhost",)


def _normalise_domain(domain: str) -> str:
    cleaned = domain.strip().lower().strip(".")
    if not cleaned or not _HOST_NAME.match(cleaned):
        raise ValueError(f"UrlGuard: {domain!r} is not a domain name")
    return cleaned


@dataclass(frozen=True)
class UrlGuard:
    """Allow https URLs on ``domains`` (and their subdomains, matched on a dot
    boundary), and with ``allow_loopback`` plain http or https to 127.0.0.0/8, ::1 and
    ``localhost`` for emulators on this machine. Everything else is refused.
    """

    vendor: str
    domains: tuple[str, ...]
    allow_loopback: bool = True
    _suffixes: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        domains = (self.domains,) if isinstance(self.domains, str) else self.domains
        object.__setattr__(
            self, "domains", tuple(_normalise_domain(d) for d in domains)
        )
        object.__setattr__(self, "_suffixes", tuple(f".{d}" for d in self.domains))

    def problem(self, url: str) -> str | None:
        """Why ``url`` is refused, or ``None`` when it is allowed."""
        if not isinstance(url, str) or not url:
            return "is empty"
        if any(ch.isspace() or ord(ch) < 32 for ch in url) or "\\" in url:
            return "contains spaces, control characters or backslashes"
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return "is not a valid URL"
        del port  # read only to validate it
        scheme = parts.scheme.lower()
        if scheme not in {"https", "http"} or not parts.netloc:
            return "must be an absolute https URL"
        if "@" in parts.netloc:
            return "must not carry a user name or password"
        host = (parts.hostname or "").rstrip(".")
        if not host:
            return "has no host"
        loopback = self._is_loopback(host)
        if loopback is None:
            return f"names an IP address ({host}); use the vendor's host name"
        if loopback:
            if not self.allow_loopback:
                return "points at this machine, which is allowed for emulators only"
            return None
        if scheme != "https":
            return "must use https (plain http is for a loopback emulator only)"
        if not _HOST_NAME.match(host):
            return f"has a host name that is not plain ASCII DNS ({host!r})"
        pairs = zip(self.domains, self._suffixes, strict=True)
        if not any(host == domain or host.endswith(suffix) for domain, suffix in pairs):
            allowed = ", ".join(self.domains)
            return f"is not on a {self.vendor} domain ({allowed})"
        return None

    @staticmethod
    def _is_loopback(host: str) -> bool | None:
        """True for a loopback host, False for a host name, None for another IP."""
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            lowered = host.lower()
            # Only the name itself: a resolver may forward "x.localhost" to public DNS.
            return lowered in _LOOPBACK_NAMES
        mapped = getattr(address, "ipv4_mapped", None)
        return True if (mapped or address).is_loopback else None

    def allows(self, url: str) -> bool:
        """Whether ``url`` passes :meth:`check`."""
        return self.problem(url) is None

    def check(self, url: str, *, from_vendor: bool = False, what: str = "url") -> str:
        """``url`` itself when allowed; otherwise raise.

        A URL from settings raises :class:`~crmsync.errors.ConfigurationError`; one the
        vendor handed back (``from_vendor=True``: an instance URL, a next-page link)
        raises :class:`~crmsync.errors.PermanentError` with code ``UNTRUSTED_URL``.
        The URL itself is never echoed whole (it may carry a user name or a token).
        """
        problem = self.problem(url)
        if problem is None:
            return url
        shown = _shown(url)
        if from_vendor:
            raise PermanentError(
                f"{self.vendor} handed back a {what} that crmsync will not send "
                f"credentials to: {shown} {problem}",
                code="UNTRUSTED_URL",
                hint="this is not a URL the vendor uses; report it if it recurs",
            )
        raise ConfigurationError(
            f"{what} {shown} {problem}",
            hint=f"use https on a {self.vendor} host"
            + (
                ", or http://127.0.0.1:<port> for an emulator"
                if self.allow_loopback
                else ""
            ),
        )


def _shown(url: str) -> str:
    """The URL's scheme and host only: no path, query or userinfo."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
    except ValueError:
        return "(unreadable URL)"
    return f"{parts.scheme or '?'}://{host}"[:120]
