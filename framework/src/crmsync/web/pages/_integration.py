"""The Integration page: the Integration Active switch, the source of truth, and the
Mappings with one tab per object pair (add, edit in a dialog, delete with a
confirmation); doctor."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from crmsync import operations as ops
from crmsync.contract import FieldSpec
from crmsync.errors import ConfigurationError, CrmsyncError
from crmsync.models import Direction, Integration, ObjectPair, SourceOfTruth
from crmsync.web._templates import render
from crmsync.web.pages._common import Posted, SignedIn, Ws, attempt, back, quoted

router = APIRouter()

SOURCE_OF_TRUTH_MEANING = {
    SourceOfTruth.CRM: "The CRM wins unless it is blank: a CRM value overwrites the "
    "platform's; a CRM field never set is filled from the platform.",
    SourceOfTruth.PLATFORM: "The platform wins unless it is blank: the mirror image.",
    SourceOfTruth.BOTH: "The most recent change wins, decided field by field against "
    "what both sides last agreed on.",
}
DIRECTION_MEANING = {
    Direction.TO_CRM: "platform → CRM",
    Direction.TO_PLATFORM: "CRM → platform",
    Direction.SYNC: "both ways",
}


def pair_key(pair: ObjectPair) -> str:
    return f"{pair.platform_object}:{pair.crm_object}"


def field_label(spec: FieldSpec) -> str:
    """How a drop-down shows a field: name, type and length, required, read-only."""
    kind = spec.type.value + (f"({spec.length})" if spec.length else "")
    notes = [kind]
    if spec.required_on_create:
        notes.append("required")
    if spec.read_only:
        notes.append("read-only")
    return f"{spec.name} — {', '.join(notes)}"


def _fields(
    ws: ops.Workspace, integration: Integration, pair: ObjectPair
) -> tuple[list[FieldSpec] | None, list[FieldSpec] | None, str | None]:
    """Both sides' fields of ``pair``, or why they cannot be listed now."""
    try:
        platform = ops.list_fields(
            ws,
            integration.platform_connector,
            pair.platform_object,
            integration=integration.name,
        )
        crm = ops.list_fields(
            ws, integration.crm_connector, pair.crm_object, integration=integration.name
        )
    except CrmsyncError as error:
        return None, None, ops.error_line(error)
    return platform, crm, None


@router.get("/integrations/{name}")
def integration_page(
    request: Request, _: SignedIn, ws: Ws, name: str, tab: str | None = None
) -> Response:
    integration = ops.get_integration(ws, name)
    status = ops.integration_status(ws, name)
    pairs = integration.pairs_in_match_order()
    current = next(
        (p for p in pairs if pair_key(p) == tab), pairs[0] if pairs else None
    )
    platform_fields = crm_fields = None
    fields_error = None
    if current is not None and not integration.active:
        # Only a paused integration's mappings can change: only then are the live
        # fields asked for (a call to the CRM).
        platform_fields, crm_fields, fields_error = _fields(ws, integration, current)
    return render(
        request,
        "integration.html",
        {
            "integration": integration,
            "status": status,
            "pairs": pairs,
            "current": current,
            "pair_key": pair_key,
            "platform_fields": platform_fields,
            "crm_fields": crm_fields,
            "fields_error": fields_error,
            "field_label": field_label,
            "directions": list(Direction),
            "direction_meaning": DIRECTION_MEANING,
            "sources": list(SourceOfTruth),
            "source_meaning": SOURCE_OF_TRUTH_MEANING,
            "edit": request.query_params.get("edit"),
            "delete": request.query_params.get("delete"),
            "quoted": quoted,
        },
    )


def _page(name: str, pair: str | None = None) -> str:
    target = f"/integrations/{quoted(name)}"
    return target + (f"?tab={quoted(pair)}" if pair else "")


@router.post("/integrations/{name}/active")
def set_active(
    session: Posted,
    ws: Ws,
    name: str,
    active: Annotated[str | None, Form()] = None,
    tab: Annotated[str | None, Form()] = None,
) -> Response:
    if active:
        attempt(
            session,
            lambda: ops.resume_integration(ws, name),
            f"Integration {name} is active: cycles run again.",
        )
    else:
        attempt(
            session,
            lambda: ops.pause_integration(ws, name),
            f"Integration {name} is paused: mappings may be changed.",
        )
    return back(_page(name, tab))


@router.post("/integrations/{name}/source-of-truth")
def set_source_of_truth(
    session: Posted,
    ws: Ws,
    name: str,
    source_of_truth: Annotated[SourceOfTruth, Form()],
    tab: Annotated[str | None, Form()] = None,
) -> Response:
    attempt(
        session,
        lambda: ops.update_integration(
            ws, name, ops.IntegrationUpdate(source_of_truth=source_of_truth)
        ),
        f"Source of truth is now {source_of_truth.value}.",
    )
    return back(_page(name, tab))


@router.post("/integrations/{name}/rebaseline")
def rebaseline(
    session: Posted,
    ws: Ws,
    name: str,
    source_of_truth: Annotated[SourceOfTruth, Form()],
) -> Response:
    attempt(
        session,
        lambda: ops.rebaseline_integration(ws, name, source_of_truth),
        f"Rebaselined: the source of truth is now {source_of_truth.value}, and the "
        "next cycle decides every mapped field afresh.",
    )
    return back(_page(name))


def _pair_ref(text: str) -> ops.PairRef:
    platform_object, crm_object = ops.parse_pair(text)
    return ops.PairRef(platform_object=platform_object, crm_object=crm_object)


def _rule(text: str | None) -> SourceOfTruth | None:
    """A mapping's conflict rule from its drop-down ("" is the integration's)."""
    if not text:
        return None
    try:
        return SourceOfTruth(text)
    except ValueError:
        raise ConfigurationError(
            f"conflict rule {text!r} is not one of crm, platform, both",
            hint="choose one from the list",
        ) from None


def _default(text: str | None) -> Any:
    return None if text is None or text == "" else ops.parse_value(text)


def _mapping_line(changes: list[ops.MappingChange], verb: str) -> str:
    change = changes[0]
    mapping = change.new or change.old
    assert mapping is not None
    return (
        f"{verb} {mapping.platform_field} ↔ {mapping.crm_field} "
        f"({mapping.direction.value}) on {change.pair}."
    )


@router.post("/integrations/{name}/mappings/add")
def add_mapping(
    session: Posted,
    ws: Ws,
    name: str,
    pair: Annotated[str, Form()],
    platform_field: Annotated[str, Form()],
    crm_field: Annotated[str, Form()],
    direction: Annotated[Direction, Form()] = Direction.SYNC,
    default: Annotated[str | None, Form()] = None,
    conflict_rule: Annotated[str | None, Form()] = None,
) -> Response:
    attempt(
        session,
        lambda: ops.add_mapping(
            ws,
            name,
            ops.MappingSpec(
                platform_field=platform_field,
                crm_field=crm_field,
                direction=direction,
                default=_default(default),
                conflict_rule=_rule(conflict_rule),
            ),
            [_pair_ref(pair)],
        ),
        lambda changes: _mapping_line(changes, "Added"),
    )
    return back(_page(name, pair))


@router.post("/integrations/{name}/mappings/edit")
def edit_mapping(
    session: Posted,
    ws: Ws,
    name: str,
    pair: Annotated[str, Form()],
    platform_field: Annotated[str, Form()],
    crm_field: Annotated[str, Form()],
    direction: Annotated[Direction, Form()],
    default: Annotated[str | None, Form()] = None,
    conflict_rule: Annotated[str | None, Form()] = None,
) -> Response:
    # The dialog shows the stored default; an emptied box clears it.
    value = _default(default)
    attempt(
        session,
        lambda: ops.edit_mapping(
            ws,
            name,
            ops.MappingEdit(
                platform_field=platform_field,
                crm_field=crm_field,
                direction=direction,
                default=value,
                clear_default=value is None,
                conflict_rule=_rule(conflict_rule),
            ),
            [_pair_ref(pair)],
        ),
        lambda changes: _mapping_line(changes, "Changed"),
    )
    return back(_page(name, pair))


@router.post("/integrations/{name}/mappings/delete")
def delete_mapping(
    session: Posted,
    ws: Ws,
    name: str,
    pair: Annotated[str, Form()],
    platform_field: Annotated[str, Form()],
    crm_field: Annotated[str, Form()],
) -> Response:
    attempt(
        session,
        lambda: ops.delete_mapping(
            ws, name, platform_field, crm_field, [_pair_ref(pair)]
        ),
        lambda changes: _mapping_line(changes, "Deleted"),
    )
    return back(_page(name, pair))


@router.get("/integrations/{name}/doctor")
def doctor_page(request: Request, _: SignedIn, ws: Ws, name: str) -> Response:
    integration = ops.get_integration(ws, name)
    report = ops.doctor(ws, name)
    return render(
        request,
        "doctor.html",
        {"integration": integration, "report": report, "saved": True},
    )
