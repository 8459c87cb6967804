"""Integrations of one vendor org share its API budget across workers (real Redis):
together they never pass the configured share of the org's allocation.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from crmsync.errors import BudgetExhausted
from crmsync.plugins import Connection, build_settings, discover_connectors
from crmsync.workers._budget import KEY_PREFIX, SharedBudget, budget_state

from .conftest import CLIENT_ID, CLIENT_SECRET

LOGIN = "https://acme.my.salesforce.com"  # answered by the emulator's transport


@pytest.fixture
def org() -> Any:
    from crmsync_salesforce.emulator import SalesforceEmulator

    emulator = SalesforceEmulator(daily_limit=200)  # share 0.5: crmsync stops at 100
    emulator.register_app(CLIENT_ID, client_secret=CLIENT_SECRET)
    emulator.seed("Lead", count=3)
    return emulator


@pytest.fixture
def group(redis_client: Any) -> Any:
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield name
    redis_client.delete(KEY_PREFIX + name)


def _connection(org: Any, plugins: list[object]) -> Connection:
    installed = discover_connectors().get("salesforce")
    settings = build_settings(
        installed,
        {
            "login_url": LOGIN,
            "auth_flow": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "api_budget_share": 0.5,
        },
    )
    return Connection(
        installed,
        settings,
        extra_plugins=plugins,
        factory_kwargs={"transport": org.transport()},
    )


def _spend(connection: Connection, stopped: list[BaseException]) -> None:
    try:
        while True:
            connection.fetch_changed("Lead", fields=["Email"], cursor=None)
    except BudgetExhausted as error:
        stopped.append(error)


def test_integrations_of_one_org_together_stop_at_the_share(
    org: Any, group: str, redis_client: Any
) -> None:
    connections = [
        _connection(org, [SharedBudget(redis_client, group)]) for _ in range(2)
    ]
    stopped: list[BaseException] = []
    threads = [
        threading.Thread(target=_spend, args=(connection, stopped))
        for connection in connections
        for _ in range(4)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        for connection in connections:
            connection.close()
    assert len(stopped) == len(threads)  # every caller stopped on the budget
    # Token requests are not API calls; every data call is counted by the org.
    assert 90 <= org.api_usage <= 100
    state = budget_state(redis_client, group)
    assert state is not None and state["allowed"] == 100 and state["used"] >= 100


def test_a_new_connection_of_the_group_is_refused_once_the_share_is_spent(
    org: Any, group: str, redis_client: Any
) -> None:
    first = _connection(org, [SharedBudget(redis_client, group)])
    try:
        _spend(first, [])
    finally:
        first.close()
    spent = org.api_usage
    assert spent <= 100
    # Alone, a new connection knows nothing of the org's usage and lets a call
    # through to look; in the group it knows, and makes none.
    second = _connection(org, [SharedBudget(redis_client, group)])
    try:
        with pytest.raises(BudgetExhausted, match=f"group {group!r}"):
            second.fetch_changed("Lead", fields=["Email"], cursor=None)
    finally:
        second.close()
    assert org.api_usage == spent
