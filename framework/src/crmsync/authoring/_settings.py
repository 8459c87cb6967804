"""Settings helpers: secrets that may be read from files, vendor URLs checked once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings

from crmsync.authoring._urls import UrlGuard
from crmsync.errors import ConfigurationError

__all__ = ["SecretFileSettings", "vendor_url"]


class SecretFileSettings(BaseSettings):
    """A connector's settings base: every ``SecretStr`` field ``x`` may instead be given
    as a file, through a ``x_file`` field of type ``Path`` declared beside it (so the
    environment variable ``<PREFIX>X_FILE`` works too). The file is read before
    validation, its surrounding whitespace stripped, so ``x`` may be a required field;
    ``x`` given directly wins.

    pydantic-settings' own ``secrets_dir`` (Docker and Kubernetes secrets mounted as
    files named after the fields) works as on any ``BaseSettings``.
    """

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        fields = cls.model_fields
        found = dict(data)
        for name, info in fields.items():
            file_field = f"{name}_file"
            if file_field not in fields or not _is_secret(info.annotation):
                continue
            path = found.get(file_field)
            if found.get(name) is not None or path in (None, ""):
                continue
            found[name] = SecretStr(_read_secret(Path(path), file_field))
        return found


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in getattr(annotation, "__args__", ())


def _read_secret(path: Path, setting: str) -> str:
    try:
        value = path.read_text().strip()
    except OSError as error:
        raise ValueError(f"{setting}: cannot read {path}: {error.strerror}") from None
    if not value:
        raise ValueError(f"{setting}: {path} is empty")
    return value


def vendor_url(guard: UrlGuard, *, what: str = "url") -> Callable[[str], str]:
    """A pydantic validator body for URL settings::

        _check_login_url = field_validator("login_url")(vendor_url(GUARD))

    It returns the URL without a trailing slash, or raises ``ValueError`` saying what
    is wrong (pydantic reports it against the field).
    """

    def check(value: str) -> str:
        try:
            guard.check(value, what=what)
        except ConfigurationError as error:
            raise ValueError(str(error)) from None
        return value.rstrip("/")

    return check
