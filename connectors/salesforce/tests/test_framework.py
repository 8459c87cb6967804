"""The connector as the framework sees it: entry-point discovery and the retrying Connection."""

from __future__ import annotations

from crmsync.contract import WriteRequest
from crmsync.plugins import Connection, build_settings, discover_connectors
from crmsync_salesforce import SalesforceConnector

from .conftest import CLIENT_ID, CLIENT_SECRET, LOGIN


def connection(emulator, waits):
    installed = discover_connectors().get("salesforce")
    assert installed.factory is SalesforceConnector
    settings = build_settings(
        installed,
        {
            "login_url": LOGIN,
            "auth_flow": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    return Connection(
        installed,
        settings,
        factory_kwargs={"transport": emulator.transport()},
        sleep=waits.append,
    )


def test_discovered_with_its_description():
    installed = discover_connectors().get("salesforce")
    assert installed.distribution == "crmsync-salesforce"
    assert installed.description.role == "crm"


def test_rate_limit_is_retried_transparently(emulator):
    waits: list[float] = []
    conn = connection(emulator, waits)
    emulator.faults.inject("rate_limit", status=429, retry_after=3, path_contains="/composite")
    (result,) = conn.push_updates(
        "Lead", [WriteRequest(ref="a", op="create", values={"LastName": "A", "Company": "C"})]
    )
    assert result.ok and waits == [3.0]
    assert len(emulator.calls("POST", "/composite/sobjects")) == 2
    assert len(emulator.records["Lead"]) == 1
    conn.close()


def test_expired_session_is_renewed_once(emulator):
    waits: list[float] = []
    conn = connection(emulator, waits)
    emulator.seed("Lead", count=2)
    assert len(conn.fetch_changed("Lead", fields=["Email"], cursor=None).records) == 2
    before = emulator.token_requests
    emulator.expire_sessions()
    assert len(conn.fetch_changed("Lead", fields=["Email"], cursor=None).records) == 2
    assert emulator.token_requests == before + 1 and waits == []
    conn.close()


def test_transient_error_is_retried_and_budget_reported(emulator):
    waits: list[float] = []
    conn = connection(emulator, waits)
    emulator.faults.inject("server_error", status=503, count=2)
    assert conn.list_fields("Contact")
    assert len(waits) == 2
    budget = conn.api_budget()
    assert budget is not None and budget.used == emulator.api_usage
    conn.close()


def test_parallel_workers_over_loopback_renew_the_session_once(emulator):
    from concurrent.futures import ThreadPoolExecutor

    from crmsync_salesforce.emulator import EmulatorServer

    with EmulatorServer(emulator) as server:
        installed = discover_connectors().get("salesforce")
        settings = build_settings(
            installed,
            {
                "login_url": server.url,
                "auth_flow": "client_credentials",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            },
        )
        conn = Connection(installed, settings, sleep=lambda s: None)
        conn.authenticate()
        before = emulator.token_requests
        emulator.expire_sessions()

        def push(worker: int) -> bool:
            requests = [
                WriteRequest(
                    ref=f"{worker}-{i}",
                    op="create",
                    values={"LastName": f"W{worker}", "Company": "C"},
                )
                for i in range(50)
            ]
            return all(r.ok for r in conn.push_updates("Lead", requests))

        with ThreadPoolExecutor(max_workers=4) as pool:
            assert all(pool.map(push, range(4)))
        assert len(emulator.records["Lead"]) == 200
        assert emulator.token_requests == before + 1
        conn.close()
