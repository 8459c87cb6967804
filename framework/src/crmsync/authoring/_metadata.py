"""Vendor metadata kept across processes: an object's describe read once per lifetime,
not once per ``crmsync sync`` process.

A separate ``crmsync sync`` on an idle integration asked the vendor for each object's
describe before its one query, every run. The framework makes one
:class:`MetadataCache` per connection, scoped to the connector and a fingerprint of its
settings, and hands it to a connector whose constructor takes ``metadata_cache``
(contract 1.2); the connector asks it with :meth:`MetadataCache.get_or_load`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings

from crmsync.authoring._files import write_private

__all__ = ["MetadataCache", "settings_fingerprint"]


def settings_fingerprint(connector: str, settings: BaseSettings) -> str:
    """A short hash naming ``connector`` with ``settings``: two connections share
    cached metadata only if they point at the same place in the same way.

    Secret values never enter it (pydantic shows a ``SecretStr`` as asterisks in a JSON
    dump), so the fingerprint cannot be used to guess one."""
    shown = json.dumps(
        [connector, settings.model_dump(mode="json")], sort_keys=True, default=str
    )
    return hashlib.sha256(shown.encode()).hexdigest()[:32]


class MetadataCache:
    """JSON values a connector keeps across processes, each for ``seconds``.

    :param path: the cache file (``None``, or ``seconds`` 0: nothing is kept, every
        :meth:`get_or_load` loads).
    :param seconds: how long an entry is used; an entry stored with a vendor metadata
        ``version`` is used as long as the connector passes the same version.
    :param clock: wall-clock seconds (a test seam).

    Values are plain JSON in a file only its owner reads: never put a secret in one. A
    file that cannot be read or written is the same as an empty cache (the vendor is
    asked); the cache never fails a call.
    """

    def __init__(
        self,
        path: Path | None,
        *,
        seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path if seconds > 0 else None
        self.seconds = seconds
        self._clock = clock
        self._lock = threading.Lock()

    @classmethod
    def for_connection(
        cls,
        directory: Path,
        *,
        connector: str,
        settings: BaseSettings,
        seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> MetadataCache:
        """The cache of one connection: a file in ``directory`` named by the connector
        and :func:`settings_fingerprint`."""
        name = f"{connector}-{settings_fingerprint(connector, settings)}.json"
        return cls(directory / name, seconds=seconds, clock=clock)

    def get_or_load(
        self, key: str, load: Callable[[], Any], *, version: str | None = None
    ) -> Any:
        """The value kept under ``key``, or ``load()``'s answer, kept from now on.

        A kept value is used while it is younger than ``seconds`` or, when the
        connector gives the vendor's metadata ``version``, while that version is the
        one it was kept with.
        """
        found = self._read().get(key)
        if isinstance(found, dict) and "value" in found:
            if version is not None:
                if found.get("version") == version:
                    return found["value"]
            elif 0 <= self._clock() - float(found.get("at", 0)) < self.seconds:
                return found["value"]
        value = load()
        self._write(key, {"at": self._clock(), "version": version, "value": value})
        return value

    def forget(self, key: str) -> None:
        """Drop ``key`` (the connector found it out of date)."""
        self._write(key, None)

    def _read(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, key: str, entry: dict[str, Any] | None) -> None:
        if self.path is None:
            return
        with self._lock, contextlib.suppress(OSError, TypeError, ValueError):
            data = self._read()
            if entry is None:
                data.pop(key, None)
            else:
                data[key] = entry
            write_private(self.path, json.dumps(data).encode(), make_parent=True)
