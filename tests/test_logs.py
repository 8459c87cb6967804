"""Secrets never reach a log line."""

from __future__ import annotations

import io
import json

import structlog
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from crmsync.logs import configure_logging, redact_text, register_secrets

KNOWN_SECRET = "tok-9f8e7d6c5b4a-SECRET"


class Settings(BaseSettings):
    client_id: str = "app"
    client_secret: SecretStr = SecretStr(KNOWN_SECRET)


def test_a_known_secret_never_appears_in_a_log_line():
    register_secrets(Settings())
    out = io.StringIO()
    configure_logging(fmt="json", level="DEBUG", stream=out)
    log = structlog.get_logger("test")
    log.info(
        "calling vendor",
        url=f"https://x/?token={KNOWN_SECRET}",
        headers={"Authorization": f"Bearer {KNOWN_SECRET}"},
        error=RuntimeError(f"401 for {KNOWN_SECRET}"),
        access_token="abc123xyz",
    )
    log.warning(f"message with {KNOWN_SECRET} inside")
    text = out.getvalue()
    assert KNOWN_SECRET not in text and "abc123xyz" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert (
        lines[0]["access_token"] == "***"
        and lines[0]["headers"]["Authorization"] == "***"
    )
    configure_logging()


def test_bearer_tokens_are_masked_even_when_unregistered():
    assert (
        redact_text("Authorization: Bearer abc.def-ghi") == "Authorization: Bearer ***"
    )


def test_console_format_is_one_line_per_event():
    out = io.StringIO()
    configure_logging(fmt="console", stream=out)
    structlog.get_logger().info("hello", integration="acme")
    assert out.getvalue().count("\n") == 1 and "integration=acme" in out.getvalue()
    configure_logging()
