"""`crmsync explain NAME RECORD`: a linked pair's story, with the rule of each write."""

from __future__ import annotations

import json

from crmsync.contract import RecordError

from .test_sync import seed


def _json(output):
    """The JSON document of ``output`` (warnings logged before it are skipped)."""
    return json.loads(output[output.index("\n{") + 1 :] if output[0] != "{" else output)


def _synced(mapped):
    (john, ada), lead = seed(mapped)
    mapped.ok("integration", "resume", "acme")
    report = json.loads(mapped.ok("sync", "acme", "--json"))
    assert report["status"] == "succeeded", report
    return john, ada, lead, report


def test_explain_names_the_rule_and_run_of_each_write(mapped):
    john, _ada, lead, _report = _synced(mapped)
    (run,) = json.loads(mapped.ok("history", "acme", "--json"))["runs"]
    story = json.loads(mapped.ok("explain", "acme", lead, "--json"))
    assert (story["platform_id"], story["crm_id"]) == (john, lead)
    first = next(f for f in story["fields"] if f["crm_field"] == "FirstName")
    assert first["platform_value"] == first["crm_value"]
    (written,) = first["decisions"]
    written_side = "crm" if written["field"] == "FirstName" else "platform"
    assert written["side"] == written_side
    assert written["value"] == first["crm_value"]
    assert written["run_id"] == run["id"]
    assert written["rule"] in run["counts"]["decisions"]
    # Fields both sides already agreed on were not written: nothing logged for them.
    email = next(f for f in story["fields"] if f["crm_field"] == "Email")
    assert email["decisions"] == []
    # The same pair by the platform id and by the match key in any case; the text
    # face names the rule and the run.
    for record in (john, " John@Example.COM "):
        again = json.loads(mapped.ok("explain", "acme", record, "--json"))
        assert (again["platform_id"], again["crm_id"]) == (john, lead), record
    text = mapped.ok("explain", "acme", lead)
    assert f"prospect {john} <-> Lead {lead}" in text
    assert f"{written['rule']} wrote" in text and f"run {run['id']}" in text


def test_explain_refuses_what_it_cannot_find_in_one_line(mapped):
    _john, ada, _lead, _report = _synced(mapped)
    # ada was never linked (no creation rule): one line naming the record.
    line = mapped.fails("explain", "acme", ada)
    assert f"no record '{ada}' is linked in integration 'acme'" in line
    assert "nobody@example.com" in mapped.fails("explain", "acme", "nobody@example.com")
    assert "unknown integration 'nope'" in mapped.fails("explain", "nope", ada)


def test_a_write_the_vendor_refused_is_not_logged(mapped):
    john, _ada, lead, _report = _synced(mapped)
    before = json.loads(mapped.ok("explain", "acme", lead, "--json"))
    logged = sum(len(f["decisions"]) for f in before["fields"])
    platform = mapped.platform()
    platform.update(john, {"last_name": "Smythe"})
    platform.close()
    mapped.backend.fail_on_push = lambda obj, req: RecordError(
        code="FIELD_CUSTOM_VALIDATION_EXCEPTION", message="nope", field="LastName"
    )
    failed = _json(mapped.ok("sync", "acme", "--json"))
    assert failed["crm"]["failed"] == 1, failed
    after = json.loads(mapped.ok("explain", "acme", lead, "--json"))
    assert sum(len(f["decisions"]) for f in after["fields"]) == logged
    assert [e["code"] for e in after["open_errors"]] == [
        "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    ]
    # Accepted on the next try: logged, with the run that wrote it.
    mapped.backend.fail_on_push = None
    mapped.ok("errors", "retry", "acme")
    platform = mapped.platform()
    platform.update(john, {"last_name": "Smyth"})
    platform.close()
    ok = _json(mapped.ok("sync", "acme", "--json"))
    assert ok["crm"]["updated"] == 1, ok
    last = json.loads(mapped.ok("explain", "acme", lead, "--json"))
    name = next(f for f in last["fields"] if f["crm_field"] == "LastName")
    assert name["decisions"][0]["value"] == "Smyth"
    assert name["decisions"][0]["run_id"] == ok["run_id"]
    assert last["open_errors"] == []


def test_no_log_is_kept_with_a_retention_of_zero(mapped, monkeypatch):
    monkeypatch.setenv("CRMSYNC_DECISION_LOG_DAYS", "0")
    _john, _ada, lead, _report = _synced(mapped)
    story = json.loads(mapped.ok("explain", "acme", lead, "--json"))
    assert all(f["decisions"] == [] for f in story["fields"])
    assert story["decision_log_days"] == 0
