"""The REST API's one error shape, and how crmsync's errors map onto it.

Every error the API returns is::

    {"error": {"status": 409, "code": "integration_active",
               "message": "cannot add a mapping while integration 'acme' is active",
               "hint": "pause it first ...", "field": null}}

``code`` is stable (clients branch on it); ``message`` and ``hint`` are for people;
``field`` names the input at fault where one is. Messages pass through
:func:`crmsync.logs.redact_text`, so a secret never leaves in an error.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from crmsync.engine import CycleBusy
from crmsync.errors import (
    AuthenticationFailed,
    BudgetExhausted,
    ConfigurationError,
    Conflict,
    ConnectorError,
    ConnectorLoadError,
    ContractError,
    CrmsyncError,
    IntegrationActive,
    NotFound,
    StateError,
)
from crmsync.logs import redact_text

__all__ = [
    "ApiError",
    "ErrorBody",
    "ErrorResponse",
    "classify",
    "error_response",
    "validation_field",
]


class ErrorBody(BaseModel):
    """What went wrong: a stable ``code``, a one-line ``message``, a ``hint`` and the
    ``field`` at fault."""

    status: int
    code: str
    message: str
    hint: str | None = None
    field: str | None = None


class ErrorResponse(BaseModel):
    """The body of every error the API returns."""

    error: ErrorBody


class ApiError(Exception):
    """An error a route raises on purpose, already classified."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        hint: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.hint, self.field = hint, field
        self.headers: dict[str, str] = {}

    def with_headers(self, headers: dict[str, str]) -> ApiError:
        """This error, answered with ``headers`` too."""
        self.headers.update(headers)
        return self


# The operations name the input at fault the way the CLI spells it (their messages
# are shared by every face); the API names the same input by its JSON field.
_OPTION_FIELDS = {
    "--interval": "interval_seconds",
    "--platform-setting": "platform_settings",
    "--crm-setting": "crm_settings",
    "--unset-platform-setting": "unset_platform_settings",
    "--unset-crm-setting": "unset_crm_settings",
    "--create-in-crm": "create_in_crm",
    "--create-in-platform": "create_in_platform",
    "--crm-filter": "crm_filter",
    "--platform-filter": "platform_filter",
    "--source-of-truth": "source_of_truth",
    "--pair": "pairs",
}
_FIELD_OF_SIDE = re.compile(
    r"^(platform|crm) (?:object '[^']*' has no field|field '[^']*' "
    r"(?:is read-only|\([a-z_]+\) cannot convert))"
)


def input_field(error: CrmsyncError) -> str | None:
    """The request field an operation's refusal is about, where it names one."""
    named = getattr(error, "field", None)
    if isinstance(named, str) and not isinstance(error, ConnectorError):
        return named
    first, _, rest = error.message.partition(" ")
    if first in _OPTION_FIELDS:
        field = _OPTION_FIELDS[first]
        key = rest.split(" ", 1)[0].split("=", 1)[0].rstrip(":")
        if field.endswith("settings") and key.isidentifier():
            return f"{field}.{key}"
        return field
    side = _FIELD_OF_SIDE.match(error.message)
    if side:
        return f"{side.group(1)}_field"
    return None


def _clean(text: str | None) -> str | None:
    return None if text is None else " ".join(redact_text(text).split())


def classify(error: CrmsyncError) -> tuple[int, str]:
    """The HTTP status and stable code of a crmsync error."""
    message = error.message if isinstance(error, CrmsyncError) else str(error)
    if isinstance(error, NotFound):
        return 404, "not_found"
    if isinstance(error, IntegrationActive):
        return 409, "integration_active"
    if isinstance(error, Conflict):
        return 409, "conflict"
    if isinstance(error, ConfigurationError):
        # The plugin catalog's refusal is not typed (it is no operation's).
        if message.startswith("unknown connector"):
            return 404, "not_found"
        return 422, "invalid"
    if isinstance(error, CycleBusy):
        return 409, "cycle_running"
    if isinstance(error, BudgetExhausted):
        return 429, "budget_exhausted"
    if isinstance(error, ContractError):
        return 502, "connector_contract"
    if isinstance(error, ConnectorLoadError):
        return 424, "connector_unavailable"
    if isinstance(error, AuthenticationFailed):
        return 502, "connector_auth_failed"
    if isinstance(error, ConnectorError):
        return 502, "connector_error"
    if isinstance(error, StateError):
        return 503, "state_store_unavailable"
    return 500, "error"


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    hint: str | None = None,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorResponse(
        error=ErrorBody(
            status=status,
            code=code,
            message=_clean(message) or code,
            hint=_clean(hint),
            field=field,
        )
    )
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def validation_field(loc: Any) -> str | None:
    """The input named by a pydantic error location, without FastAPI's prefixes."""
    parts = [str(part) for part in loc if part not in ("body", "query", "path")]
    return ".".join(parts) or None


def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError | ValidationError)
    problems = list(exc.errors())
    first = problems[0] if problems else {"loc": (), "msg": "invalid input"}
    field = validation_field(first.get("loc", ()))
    message = str(first.get("msg", "invalid input")).removeprefix("Value error, ")
    if field:
        message = f"{field}: {message}"
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more)"
    return error_response(
        422, "invalid", message, hint="see the OpenAPI document", field=field
    )


def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(
        exc.status,
        exc.code,
        exc.message,
        hint=exc.hint,
        field=exc.field,
        headers=exc.headers or None,
    )


def _crmsync_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CrmsyncError)
    status, code = classify(exc)
    return error_response(
        status, code, exc.message, hint=exc.hint, field=input_field(exc)
    )


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    codes = {
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
    }
    return error_response(
        exc.status_code,
        codes.get(exc.status_code, "http_error"),
        str(exc.detail),
        headers=dict(exc.headers or {}),
    )


API_HANDLERS = {
    RequestValidationError: _request_validation,
    ValidationError: _request_validation,
    ApiError: _api_error,
    CrmsyncError: _crmsync_error,
    HTTPException: _http_error,
}
