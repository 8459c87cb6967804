"""The connector as the framework sees it: discovery, and the retrying Connection."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from crmsync.contract import WriteRequest
from crmsync.plugins import Connection, build_settings, discover_connectors
from crmsync_autotask import AutotaskConnector
from crmsync_autotask.emulator import AutotaskEmulator, serve


def test_discovered_with_its_description() -> None:
    installed = discover_connectors().get("autotask")
    assert installed.factory is AutotaskConnector
    assert installed.distribution == "crmsync-autotask"
    description = installed.description
    assert (description.max_batch_size, description.max_concurrency) == (1, 3)
    assert description.person_objects == ("Contacts",)
    assert description.emulator == "crmsync_autotask.emulator:serve"


def _connection(settings: dict[str, Any], waits: list[float], **kwargs: Any) -> Connection:
    installed = discover_connectors().get("autotask")
    return Connection(
        installed, build_settings(installed, settings), sleep=waits.append, **kwargs
    )


def test_the_thread_limit_is_retried_with_backoff(
    emulator: AutotaskEmulator, settings_for: Any
) -> None:
    waits: list[float] = []
    settings = settings_for().model_dump()
    settings["secret"] = settings["secret"].get_secret_value()
    settings["integration_code"] = settings["integration_code"].get_secret_value()
    conn = _connection(
        settings, waits, factory_kwargs={"transport": emulator.transport()}
    )
    emulator.faults.inject("thread_limit", path_contains="/Contacts/query")
    emulator.seed("Contacts", [{"firstName": "A", "lastName": "B"}])
    page = conn.fetch_changed("Contacts", fields=["lastName"], cursor=None)
    assert len(page.records) == 1 and len(waits) == 1 and 0 < waits[0] <= 30
    conn.close()


def test_parallel_pushes_over_loopback_rediscover_a_moved_zone_once() -> None:
    served = serve()
    try:
        waits: list[float] = []
        conn = _connection(dict(served.settings), waits)
        conn.authenticate()
        emulator = served.emulator
        ids = served.seed(
            "Contacts", [{"firstName": "A", "lastName": f"B{n}"} for n in range(9)]
        )
        conn.fetch_changed("Contacts", fields=["lastName"], cursor=None)
        before = len(emulator.calls("GET", "zoneInformation"))
        emulator.move_zone(22)

        def push(record_id: str) -> bool:
            request = WriteRequest(
                ref=record_id, op="update", record_id=record_id, values={"title": "T"}
            )
            return all(r.ok for r in conn.push_updates("Contacts", [request]))

        with ThreadPoolExecutor(max_workers=3) as pool:
            assert all(pool.map(push, ids))
        assert len(emulator.calls("GET", "zoneInformation")) == before + 1
        assert all(
            (emulator.get("Contacts", i) or {}).get("title") == "T" for i in ids
        )
        assert waits == []
        conn.close()
    finally:
        served.stop()
