"""The REST API: the seed flows through /api/v1, its refusals and its error shape."""

from __future__ import annotations

from typing import Any

from crmsync.store import stored_id

from .conftest import TestClient, World


def seed(world: World) -> tuple[list[str], str]:
    platform = world.platform()
    ids = platform.insert(
        [
            {
                "email": "john@example.com",
                "first_name": "John",
                "last_name": "Smith",
                "company": "Acme",
            },
            {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"},
        ]
    )
    platform.close()
    lead = world.crm.put(
        "Lead",
        {
            "Email": "JOHN@example.com",
            "FirstName": "Johnny",
            "LastName": "Smith",
            "Company": "Acme",
        },
    )
    return ids, lead


def create(api: TestClient, world: World, name: str = "acme", **extra: Any) -> Any:
    answer = api.post(
        "/api/v1/integrations",
        json={
            "name": name,
            "crm": "memory",
            "platform_settings": {"path": str(world.platform_path)},
            "pairs": [{"platform_object": "prospect", "crm_object": "Lead"}],
            **extra,
        },
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def error_of(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"status", "code", "message", "hint", "field"}
    assert body["error"]["status"] == status
    return dict(body["error"])


def test_the_seed_flow_end_to_end(api: TestClient, world: World) -> None:
    ids, lead = seed(world)
    created = create(api, world, source_of_truth="crm")
    assert created["active"] is False and created["source_of_truth"] == "crm"
    mappings = "/api/v1/integrations/acme/mappings"
    for platform_field, crm_field in (("email", "Email"), ("first_name", "FirstName")):
        added = api.post(
            mappings, json={"platform_field": platform_field, "crm_field": crm_field}
        )
        assert added.status_code == 201, added.text
        assert added.json()[0]["kind"] == "add"
    changed = api.patch(
        f"{mappings}/first_name/FirstName",
        json={"direction": "to_crm", "default": "Friend"},
    )
    assert changed.status_code == 200, changed.text
    new = changed.json()[0]["new"]
    assert new["direction"] == "to_crm" and new["default"] == "Friend"
    pairs = api.get("/api/v1/integrations/acme/pairs").json()
    assert [m["crm_field"] for m in pairs[0]["mappings"]] == ["Email", "FirstName"]
    # The dry run lists every write it would make and writes nothing.
    dry = api.post("/api/v1/integrations/acme/runs", json={"dry_run": True}).json()
    assert dry["dry_run"] is True
    assert {
        "side": "crm",
        "field": "FirstName",
        "old": "Johnny",
        "new": "John",
    }.items() <= {
        k: v for w in dry["planned"] for k, v in w.items() if w["field"] == "FirstName"
    }.items()
    assert world.crm.get("Lead", lead)["FirstName"] == "Johnny"
    # A cycle of a paused integration is refused, naming how to resume it.
    refused = error_of(api.post("/api/v1/integrations/acme/runs"), 422)
    assert "paused" in refused["message"] and "resume" in refused["hint"]
    assert api.post("/api/v1/integrations/acme/resume").json()["active"] is True
    run = api.post("/api/v1/integrations/acme/runs", json={}).json()
    assert run["status"] == "succeeded", run
    assert run["crm"]["updated"] == 1
    assert world.crm.get("Lead", lead)["FirstName"] == "John"
    status = api.get("/api/v1/integrations/acme/status").json()
    assert status["links"] == 1 and status["locked"] is True
    assert status["last_run"]["id"] == run["run_id"]
    history = api.get("/api/v1/integrations/acme/runs").json()
    assert history[0]["id"] == run["run_id"]
    (summary,) = api.get("/api/v1/status").json()
    assert summary["name"] == "acme" and summary["links"] == 1
    assert summary["last_status"] == "succeeded" and summary["active"] is True
    one = api.get(f"/api/v1/integrations/acme/runs/{run['run_id']}").json()
    assert one["counts"]["crm"]["updated"] == 1
    no_run = error_of(api.get("/api/v1/integrations/acme/runs/999"), 404)
    assert no_run["field"] == "run_id" and "999" in no_run["message"]
    # The pair's story: each mapped field on both sides, as the cycle left them.
    story = api.get(f"/api/v1/integrations/acme/records/Lead/{lead}").json()
    assert story["platform_id"] == ids[0] and story["crm_id"] == lead
    first = next(f for f in story["fields"] if f["crm_field"] == "FirstName")
    assert first["platform_value"] == first["crm_value"] == "John"
    # ... and which rule wrote the CRM's value, in which run (the decision log).
    (written,) = first["decisions"]
    assert written["side"] == "crm" and written["field"] == "FirstName"
    assert written["value"] == "John" and written["run_id"] == run["run_id"]
    assert written["rule"] in one["counts"]["decisions"]
    same = api.get(f"/api/v1/integrations/acme/records/prospect/{ids[0]}").json()
    assert same["crm_id"] == lead
    missing = error_of(
        api.get(f"/api/v1/integrations/acme/records/prospect/{ids[1]}"), 404
    )
    assert missing["field"] == "record"
    unknown = error_of(api.get("/api/v1/integrations/acme/records/Account/x"), 404)
    assert unknown["field"] == "object_name" and "Account" in unknown["message"]
    # The same story by either id or the match key (`crmsync explain`).
    explain = "/api/v1/integrations/acme/explain"
    for record in (lead, ids[0], "John@Example.com"):
        found = api.get(explain, params={"record": record}).json()
        assert (found["platform_id"], found["crm_id"]) == (ids[0], lead), record
    nobody = error_of(api.get(explain, params={"record": "nobody@example.com"}), 404)
    assert nobody["field"] == "record" and "nobody@example.com" in nobody["message"]
    no_such = error_of(api.get("/api/v1/integrations/nope/explain?record=x"), 404)
    assert no_such["field"] == "name" and "nope" in no_such["message"]
    # The source of truth is locked after the first cycle.
    locked = error_of(
        api.patch("/api/v1/integrations/acme", json={"source_of_truth": "both"}), 422
    )
    assert "rebaseline" in (locked["message"] + (locked["hint"] or ""))
    rebased = api.post(
        "/api/v1/integrations/acme/rebaseline", json={"source_of_truth": "both"}
    )
    assert rebased.json()["source_of_truth"] == "both"
    events = api.get("/api/v1/integrations/acme/events").json()
    assert {"resumed", "rebaselined"} <= {e["kind"] for e in events} | {"rebaselined"}


def test_mappings_change_only_while_paused(api: TestClient, world: World) -> None:
    create(api, world)
    assert (
        api.post(
            "/api/v1/integrations/acme/mappings",
            json={"platform_field": "email", "crm_field": "Email"},
        ).status_code
        == 201
    )
    # A mapping that exists conflicts with the stored state: 409, naming the field.
    duplicate = error_of(
        api.post(
            "/api/v1/integrations/acme/mappings",
            json={"platform_field": "email", "crm_field": "Email"},
        ),
        409,
    )
    assert duplicate["code"] == "conflict" and duplicate["field"] == "crm_field"
    assert "already mapped" in duplicate["message"]
    assert "mapping update" in (duplicate["hint"] or "")
    api.post("/api/v1/integrations/acme/resume")
    for answer in (
        api.post(
            "/api/v1/integrations/acme/mappings",
            json={"platform_field": "first_name", "crm_field": "FirstName"},
        ),
        api.patch(
            "/api/v1/integrations/acme/mappings/email/Email",
            json={"direction": "to_crm"},
        ),
        api.delete("/api/v1/integrations/acme/mappings/email/Email"),
    ):
        error = error_of(answer, 409)
        assert error["code"] == "integration_active"
        assert "pause" in (error["hint"] or "")
    api.post("/api/v1/integrations/acme/pause")
    deleted = api.delete(
        "/api/v1/integrations/acme/mappings/email/Email?pair=prospect:Lead"
    )
    assert deleted.status_code == 200 and deleted.json()[0]["kind"] == "delete"


def test_mappings_are_checked_against_list_fields(
    api: TestClient, world: World
) -> None:
    create(api, world)
    url = "/api/v1/integrations/acme/mappings"
    unknown = error_of(
        api.post(url, json={"platform_field": "nope", "crm_field": "Email"}), 422
    )
    assert "nope" in unknown["message"] and unknown["field"] == "platform_field"
    read_only = error_of(
        api.post(
            url,
            json={
                "platform_field": "title",
                "crm_field": "Rating",
                "direction": "to_crm",
            },
        ),
        422,
    )
    assert "read-only" in read_only["message"] and read_only["field"] == "crm_field"
    types = error_of(
        api.post(url, json={"platform_field": "birthday", "crm_field": "Score"}),
        422,
    )
    assert "cannot convert" in types["message"] and types["field"] == "platform_field"


def test_bad_input_is_a_4xx_naming_the_field(api: TestClient, world: World) -> None:
    invalid = error_of(api.post("/api/v1/integrations", json={"crm": "memory"}), 422)
    assert invalid["field"] == "name"
    bad_name = error_of(
        api.post("/api/v1/integrations", json={"name": "no spaces", "crm": "memory"}),
        422,
    )
    assert bad_name["field"] == "name"
    extra = error_of(
        api.post("/api/v1/integrations", json={"name": "x", "crm": "memory", "pw": 1}),
        422,
    )
    assert extra["field"] == "pw"
    unknown = error_of(api.get("/api/v1/integrations/ghost"), 404)
    assert unknown["code"] == "not_found" and "ghost" in unknown["message"]
    create(api, world)
    again = error_of(
        api.post("/api/v1/integrations", json={"name": "acme", "crm": "memory"}), 409
    )
    assert "acme" in again["message"] and again["code"] == "conflict"
    assert again["field"] == "name"
    interval = error_of(
        api.patch("/api/v1/integrations/acme", json={"interval_seconds": 1}), 422
    )
    assert "interval" in interval["message"]
    assert interval["field"] == "interval_seconds"
    error_of(api.get("/api/v1/integrations/acme/runs?limit=0"), 422)


def test_secrets_are_refused_and_never_returned(api: TestClient, world: World) -> None:
    refused = error_of(
        api.post(
            "/api/v1/integrations",
            json={
                "name": "acme",
                "crm": "memory",
                "crm_settings": {"api_key": "s3cr3t-value"},
            },
        ),
        422,
    )
    assert "secret" in refused["message"]
    assert refused["field"] == "crm_settings.api_key"
    assert "s3cr3t-value" not in str(refused)
    create(api, world)
    for path in (
        "/api/v1/integrations",
        "/api/v1/integrations/acme",
        "/api/v1/connectors",
    ):
        assert "memory-secret-key" not in api.get(path).text


def test_errors_listed_and_retried(api: TestClient, world: World) -> None:
    seed(world)
    create(api, world, create_in_crm="all")
    api.post(
        "/api/v1/integrations/acme/mappings",
        json={"platform_field": "email", "crm_field": "Email"},
    )
    api.post(
        "/api/v1/integrations/acme/mappings",
        json={"platform_field": "last_name", "crm_field": "LastName"},
    )
    api.post("/api/v1/integrations/acme/resume")
    run = api.post("/api/v1/integrations/acme/runs").json()
    # Ada has no company, which the CRM requires: the vendor refuses her create.
    assert run["crm"]["failed"] == 1
    listing = api.get("/api/v1/integrations/acme/errors").json()
    assert listing["total"] == 1
    error = listing["errors"][0]
    assert error["code"] == "REQUIRED_FIELD_MISSING"
    assert error["field"] == "Company" and "Company" in error["message"]
    assert api.get("/api/v1/integrations/acme/status").json()["parked"] == 1
    # The fix: a default for Company, then the parked record retried.
    api.post("/api/v1/integrations/acme/pause")
    added = api.post(
        "/api/v1/integrations/acme/mappings",
        json={
            "platform_field": "company",
            "crm_field": "Company",
            "default": "Unknown",
        },
    )
    assert added.status_code == 201, added.text
    api.post("/api/v1/integrations/acme/resume")
    retried = api.post(
        "/api/v1/integrations/acme/errors/retry", json={"records": [error["record_id"]]}
    )
    assert retried.json() == {"retried": 1}
    again = api.post("/api/v1/integrations/acme/runs").json()
    assert again["crm"]["created"] == 1, again
    assert api.get("/api/v1/integrations/acme/errors").json()["total"] == 0


def test_connectors_and_their_fields(api: TestClient, world: World) -> None:
    listing = api.get("/api/v1/connectors").json()
    assert {c["id"] for c in listing["connectors"]} == {"local", "memory"}
    fields = api.get("/api/v1/connectors/memory/objects/Lead/fields").json()
    last = next(f for f in fields if f["name"] == "LastName")
    assert last["required_on_create"] is True and last["length"] == 80
    error_of(api.get("/api/v1/connectors/ghost/objects/Lead/fields"), 404)
    error_of(api.get("/api/v1/connectors/memory/objects/Ghost/fields"), 404)


def test_doctor_from_the_api(api: TestClient, world: World) -> None:
    create(api, world)
    report = api.get("/api/v1/integrations/acme/doctor").json()
    assert report["integration"] == "acme"
    assert any(c["what"].startswith("state store") for c in report["checks"])


def test_delete_needs_a_pause(api: TestClient, world: World) -> None:
    create(api, world)
    api.post("/api/v1/integrations/acme/resume")
    error_of(api.delete("/api/v1/integrations/acme"), 409)
    api.post("/api/v1/integrations/acme/pause")
    assert api.delete("/api/v1/integrations/acme").status_code == 204
    error_of(api.get("/api/v1/integrations/acme"), 404)


def test_a_cycle_already_running_is_a_409(api: TestClient, world: World) -> None:
    create(api, world)
    api.post("/api/v1/integrations/acme/resume")
    with world.workspace() as ws:
        store = ws.get_store()
        iid = stored_id(store.config.get_integration("acme"))
        # Another holder has the integration's lease: its cycle is running.
        assert store.leases.acquire(iid, "another-worker", 600)
        busy = error_of(api.post("/api/v1/integrations/acme/runs"), 409)
    assert busy["code"] == "cycle_running"
    assert "already running" in busy["message"]
