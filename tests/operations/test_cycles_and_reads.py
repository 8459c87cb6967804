"""Cycles, retries, doctor and the reads, through the operations layer."""

from __future__ import annotations

import json

import pytest
import structlog.testing

from crmsync import operations as ops
from crmsync.errors import ConfigurationError


def test_a_paused_integration_runs_only_dry(mapped):
    ws = mapped.workspace()
    with pytest.raises(ConfigurationError, match="is paused"):
        ops.run_cycle(ws, "acme")
    mapped.backend.put("Contact", {"Email": "ada@example.com", "FirstName": "Ada"})
    ops.update_integration(ws, "acme", ops.IntegrationUpdate(create_in_platform="all"))
    report = ops.run_cycle(ws, "acme", dry_run=True)
    assert report.dry_run and report.status == "succeeded"
    assert {(w.side, w.op) for w in report.planned} == {("platform", "create")}
    with mapped.platform() as platform:
        assert platform.count() == 0  # planned, not written


def test_a_cycle_summary_has_a_stable_json_shape(mapped):
    ws = mapped.workspace()
    ops.update_integration(
        ws, "acme", ops.IntegrationUpdate(create_in_platform="all")
    )
    ops.resume_integration(ws, "acme")
    mapped.backend.put("Contact", {"Email": "ada@example.com", "FirstName": "Ada"})
    summary = ops.cycle_summary(ops.run_cycle(ws, "acme"))
    data = json.loads(summary.model_dump_json())
    assert set(data) == set(ops.CycleSummary.model_fields)
    assert data["status"] == "succeeded"
    assert data["platform"]["created"] == 1 and data["writes"] == 1
    status = ops.integration_status(ws, "acme")
    assert status.links == 1 and status.locked
    assert status.last_run is not None and status.last_run.status == "succeeded"
    assert [run.status for run in ops.run_history(ws, "acme")] == ["succeeded"]
    kinds = [event.kind for event in ops.event_log(ws, "acme")]
    assert "resumed" in kinds and "mapping_added" in kinds


def test_retry_and_errors_of_a_clean_integration(mapped):
    ws = mapped.workspace()
    assert ops.retry_errors(ws, "acme") == 0
    listing = ops.open_errors(ws, "acme")
    assert listing.total == 0 and listing.errors == []


def test_doctor_reports_without_raising_or_writing(mapped):
    report = ops.doctor(mapped.workspace(), "acme")
    assert report.ready, report.checks
    mapped.platform_path.unlink()
    report = ops.doctor(mapped.workspace(), "acme")
    # A missing platform file is a failed check, and doctor does not create it.
    assert not report.ready
    failed = [c.what for c in report.checks if c.level == "fail"]
    assert failed == ["platform connection opens"]
    assert not mapped.platform_path.exists()
    missing = ops.doctor(mapped.workspace(), "ghost")
    assert [c.level for c in missing.checks] == ["ok", "fail"]


def test_connectors_fields_and_versions(world):
    ws = world.workspace()
    listing = ops.list_connectors(ws)
    assert [c.id for c in listing.connectors] == ["local", "memory"]
    fields = {spec.name for spec in ops.list_fields(ws, "memory", "Lead")}
    assert {"Email", "LastName", "Company"} <= fields
    info = ops.version_info(ws)
    assert info.crmsync and [c.id for c in info.connectors] == ["local", "memory"]


def test_operations_print_nothing(mapped, capsys):
    ws = mapped.workspace()
    # Structured logs are the faces' to route; anything else on a stream is a print.
    with structlog.testing.capture_logs() as logs:
        ops.resume_integration(ws, "acme")
        ops.run_cycle(ws, "acme")
        ops.doctor(ws, "acme")
        ops.integration_status(ws, "acme")
    assert any(entry["event"] == "cycle_finished" for entry in logs)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_every_exported_name_exists_and_is_documented():
    for name in ops.__all__:
        value = getattr(ops, name)
        if callable(value) and not isinstance(value, type(ops)):
            assert (value.__doc__ or "").strip(), f"{name} has no docstring"
