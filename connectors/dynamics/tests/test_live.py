"""The contract kit against a real Dataverse environment.

Runs with ``CRMSYNC_DYNAMICS_LIVE=1`` and the connection's settings in the environment
(``CRMSYNC_DYNAMICS_ENVIRONMENT_URL``, ``..._TENANT_ID``, ``..._CLIENT_ID``,
``..._CLIENT_SECRET`` or the certificate settings), as for production; marked ``live``
and excluded by default (``pytest -m live connectors/dynamics``). Seeds and deletes
through the Web API with the connection's own app registration, and deletes every row
whose email carries this run's tag when a check ends.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import pytest

from crmsync.testing import ConnectorContract, SandboxBase, SandboxUnsupported
from crmsync_dynamics import DynamicsConnector, DynamicsSettings
from crmsync_dynamics._org import TABLES, Org

LIVE = os.environ.get("CRMSYNC_DYNAMICS_LIVE") == "1"


def _configured() -> bool:
    try:
        DynamicsSettings()  # type: ignore[call-arg]
    except ValueError:
        return False
    return True


class LiveDataverseSandbox(SandboxBase):
    """A real environment: records tagged per run, removed afterwards."""

    page_size = 50
    match_field = "emailaddress1"

    def __init__(self, object_name: str) -> None:
        self.object_name = object_name
        self.settings: Mapping[str, Any] = {}
        self.factory_kwargs: Mapping[str, Any] = {}
        self._tag = "." + uuid.uuid4().hex[:10]
        self._org = Org(
            DynamicsSettings(),  # type: ignore[call-arg]
            transport=None,
            max_connections=4,
            user_agent="crmsync-dynamics-live-tests",
        )
        self._org.auth.ensure_token(force=True)

    def new_record(self, index: int) -> dict[str, Any]:
        record = {
            "firstname": "Pat",
            "lastname": f"Tester{index}",
            "emailaddress1": f"person{index}{self._tag}@example.com",
        }
        if self.object_name == "lead":
            record["subject"] = "crmsync live contract"
        return record

    def seed(self, object_name: str, records: Sequence[Mapping[str, Any]]) -> list[str]:
        table = TABLES[object_name]
        ids = []
        for record in records:
            response = self._org.http.request(
                "POST", table.entity_set, json=dict(record), write=True, idempotent=False
            )
            entity = response.headers.get("OData-EntityId", "")
            ids.append(entity.rsplit("(", 1)[1].rstrip(")"))
        return ids

    def advance_clock(self, seconds: float = 1.0) -> None:
        time.sleep(max(1.0, seconds) + 0.1)  # modifiedon counts whole seconds

    def freeze_clock(self) -> AbstractContextManager[None]:
        raise SandboxUnsupported("a real environment's clock cannot be frozen")

    def delete(self, object_name: str, record_id: str) -> None:
        table = TABLES[object_name]
        self._org.http.request("DELETE", f"{table.entity_set}({record_id})", write=True)

    def close(self) -> None:
        table = TABLES[self.object_name]
        body = self._org.json(
            self._org.get(
                table.entity_set,
                params={
                    "$select": table.primary_key,
                    "$filter": f"endswith(emailaddress1,'{self._tag}@example.com')",
                },
            )
        )
        for row in body.get("value") or []:
            self.delete(self.object_name, str(row[table.primary_key]))
        self._org.close()


@pytest.mark.live
@pytest.mark.skipif(not LIVE, reason="set CRMSYNC_DYNAMICS_LIVE=1 to run against a real org")
class TestDynamicsLiveContract(ConnectorContract):
    """A real environment, with the credentials a deployment would use."""

    connector_id = "dynamics"
    connector_class = DynamicsConnector

    @pytest.fixture(params=["lead", "contact"])
    def sandbox(self, request: pytest.FixtureRequest) -> Iterator[LiveDataverseSandbox]:
        if not _configured():
            pytest.skip("CRMSYNC_DYNAMICS_* settings are not set or incomplete")
        sandbox = LiveDataverseSandbox(request.param)
        yield sandbox
        sandbox.close()
