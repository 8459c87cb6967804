"""The Autotask session: zone discovery, header credentials, thread limit, budget.

Autotask has no token: every call carries the ``ApiIntegrationCode``, ``UserName`` and
``Secret`` headers (kit :class:`~crmsync.authoring.HeaderKeys`). What must be
"authenticated" is the zone: the user's data lives on one ``webservicesN`` host, found
through the unauthenticated ``zoneInformation`` call and cached. A 401 from a zone that
worked before means the tenant moved (or the secret changed): the zone is forgotten, the
framework calls ``authenticate`` again, which rediscovers it once and checks the
credentials with one ``ThresholdInformation`` call.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import structlog

from crmsync.authoring import ConnectorHttp, HeaderKeys
from crmsync.contract import ApiBudget
from crmsync.errors import AuthenticationExpired, AuthenticationFailed, PermanentError
from crmsync_autotask._errors import CONNECTOR, ERRORS
from crmsync_autotask._settings import GUARD, AutotaskSettings

__all__ = ["THREAD_LIMIT", "AutotaskClient"]

THREAD_LIMIT = 3  # concurrent requests per (tracking identifier, entity endpoint)
BUDGET_FRESH_SECONDS = 3600.0  # the threshold is a rolling hour: older readings say nothing
log = structlog.get_logger("crmsync.autotask")


class AutotaskClient:
    """One tenant's HTTP session. Safe to use from several threads."""

    def __init__(
        self,
        settings: AutotaskSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] | None = None,
        user_agent: str = "crmsync-autotask",
    ) -> None:
        self.settings = settings
        self._clock = clock or time.time
        assert settings.secret is not None and settings.integration_code is not None
        headers: dict[str, Any] = {
            "ApiIntegrationCode": settings.integration_code,
            "UserName": settings.username,
            "Secret": settings.secret,
        }
        self.http = ConnectorHttp(
            connector=CONNECTOR,
            error_map=ERRORS,
            url_guard=GUARD,
            auth=HeaderKeys(headers),
            transport=transport,
            timeout=settings.timeout,
            max_connections=THREAD_LIMIT * 3,
            user_agent=user_agent,
            headers={"Content-Type": "application/json"},
            clock=self._clock,
        )
        self._lock = threading.Lock()
        self._auth_lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._zone: str | None = settings.zone_url + "/" if settings.zone_url else None
        self._zone_at = self._clock() if self._zone else 0.0
        self._verified = False
        self._reading: tuple[int, int, float] | None = None  # used, limit, when
        self._since_reading = 0
        self.calls: Counter[str] = Counter()

    # -- zone and credentials ------------------------------------------------------------
    @property
    def zone(self) -> str | None:
        with self._lock:
            return self._zone

    def _discover(self) -> str:
        url = f"{self.settings.discovery_url}/v1.0/zoneInformation"
        response = self.http.request(
            "GET", url, params={"user": self.settings.username}, authenticated=False
        )
        self._count("zoneInformation")
        body = self.http.json(response)
        base = body.get("url") if isinstance(body, dict) else None
        if not isinstance(base, str) or not base:
            raise PermanentError(
                "Autotask zoneInformation answered no url",
                code="BAD_RESPONSE",
                connector=CONNECTOR,
            )
        base = self.http.check_url(base, from_vendor=True, what="zone url")
        log.info("autotask_zone", zone=body.get("zoneName"), url=base.split("?")[0])
        return base if base.endswith("/") else base + "/"

    def authenticate(self) -> None:
        """Discover the zone (when not cached) and prove the credentials once; poll
        ``ThresholdInformation`` when the last reading is older than the setting."""
        with self._auth_lock:
            now = self._clock()
            with self._lock:
                zone, verified, reading = self._zone, self._verified, self._reading
                fresh = zone is not None and (
                    self.settings.zone_url is not None
                    or now - self._zone_at < self.settings.zone_cache_seconds
                )
            if not fresh:
                zone = self._discover()
                with self._lock:
                    self._zone, self._zone_at, self._verified = zone, now, False
                verified = False
            poll_due = (
                reading is None or now - reading[2] >= self.settings.threshold_poll_seconds
            )
            if verified and not poll_due:
                return
            try:
                self.read_threshold()
            except AuthenticationExpired:
                raise AuthenticationFailed(
                    "Autotask refused the API user's secret (401) on its own zone",
                    hint="check CRMSYNC_AUTOTASK_SECRET; the user must be an API-only user",
                    connector=CONNECTOR,
                ) from None
            with self._lock:
                self._verified = True

    def read_threshold(self) -> ApiBudget:
        """One ``ThresholdInformation`` call: the tenant's rolling-hour usage."""
        body = self.get("ThresholdInformation", entity="ThresholdInformation")
        try:
            used = int(body["currentTimeframeRequestCount"])
            limit = int(body["externalRequestThreshold"])
        except (KeyError, TypeError, ValueError):
            raise PermanentError(
                "Autotask ThresholdInformation answered an unexpected body",
                code="BAD_RESPONSE",
                connector=CONNECTOR,
            ) from None
        with self._lock:
            self._reading = (used, limit, self._clock())
            self._since_reading = 0
        return self._budget(used, limit)

    def _budget(self, used: int, limit: int) -> ApiBudget:
        return ApiBudget(
            used=max(0, used),
            limit=max(0, limit),
            allowed=int(limit * self.settings.api_budget_share),
        )

    def api_budget(self) -> ApiBudget | None:
        """The last reading plus this connection's calls since (no network call)."""
        with self._lock:
            reading, since = self._reading, self._since_reading
        if reading is None or self._clock() - reading[2] > BUDGET_FRESH_SECONDS:
            return None
        return self._budget(reading[0] + since, reading[1])

    # -- calls -------------------------------------------------------------------------
    def _slot(self, entity: str) -> threading.BoundedSemaphore:
        with self._lock:
            slot = self._slots.get(entity.lower())
            if slot is None:
                slot = self._slots[entity.lower()] = threading.BoundedSemaphore(THREAD_LIMIT)
            return slot

    def _count(self, kind: str) -> None:
        with self._lock:
            self.calls[kind] += 1
            if kind != "zoneInformation":
                self._since_reading += 1

    def url(self, path: str) -> str:
        zone = self.zone
        if zone is None:
            raise AuthenticationExpired(
                "the Autotask zone is not known yet", connector=CONNECTOR
            )
        return f"{zone}V1.0/{path}"

    def send(
        self,
        method: str,
        url_or_path: str,
        *,
        entity: str,
        object_name: str | None = None,
        json: Any = None,
        params: dict[str, str] | None = None,
        write: bool = False,
        idempotent: bool = True,
        kind: str = "call",
    ) -> Any:
        """One request to the zone (a path under ``V1.0/`` or a vendor next-page URL),
        at most three in flight per entity; the parsed JSON body."""
        url = url_or_path if "://" in url_or_path else self.url(url_or_path)
        headers: dict[str, str] = {}
        if write and self.settings.impersonation_resource_id is not None:
            headers["ImpersonationResourceId"] = str(self.settings.impersonation_resource_id)
        with self._slot(entity):
            try:
                response = self.http.request(
                    method,
                    url,
                    object_name=object_name or entity,
                    json=json,
                    params=params,
                    headers=headers,
                    write=write,
                    idempotent=idempotent,
                )
            except AuthenticationExpired:
                self._count(kind)
                self._zone_failed(url)
                raise
            except Exception:
                self._count(kind)
                raise
        self._count(kind)
        return self.http.json(response, object_name=object_name)

    def get(self, path: str, *, entity: str, object_name: str | None = None) -> Any:
        return self.send("GET", path, entity=entity, object_name=object_name, kind="read")

    def _zone_failed(self, url: str) -> None:
        """A 401 from the zone: forget it (unless pinned), so authenticate rediscovers.
        A 401 for a request sent to a zone already replaced (several threads hit the
        move at once) changes nothing: the zone is rediscovered once."""
        with self._lock:
            if self._zone is not None and not url.startswith(self._zone):
                return
            self._verified = False
            if self.settings.zone_url is None:
                self._zone_at = float("-inf")

    def close(self) -> None:
        self.http.close()
