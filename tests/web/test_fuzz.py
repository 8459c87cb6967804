"""The REST API fuzzed from its own OpenAPI document (schemathesis): no input, however
malformed, gets a 5xx; every error has the one shape."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from .conftest import TOKEN, TestClient, World

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def schema(app: Any, api: TestClient, world: World) -> Any:
    api.post(
        "/api/v1/integrations",
        json={
            "name": "acme",
            "crm": "memory",
            "platform_settings": {"path": str(world.platform_path)},
        },
    )
    api.post(
        "/api/v1/integrations/acme/mappings",
        json={"platform_field": "email", "crm_field": "Email"},
    )
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", app, headers=AUTH)


@pytest.mark.parametrize(
    "examples",
    [pytest.param(4, id="quick"), pytest.param(60, id="deep", marks=pytest.mark.slow)],
)
def test_no_input_gets_a_server_error(schema: Any, examples: int) -> None:
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    seen: dict[int, int] = {}
    for operation in operations:

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            response = case.call(headers=AUTH)
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} -> {response.status_code}: "
                f"{response.text[:500]}"
            )
            if response.status_code >= 400:
                body = response.json()
                assert set(body["error"]) == {
                    "status",
                    "code",
                    "message",
                    "hint",
                    "field",
                }

        call()
    # The fuzzer reached the routes, not only the validation in front of them.
    assert any(status < 300 for status in seen), seen
    assert seen.get(422) and seen.get(404), seen
