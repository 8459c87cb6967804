"""Object pairs and their field mappings: list, add, edit, delete (paused only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from crmsync import operations as ops
from crmsync.errors import CrmsyncError
from crmsync.models import Direction, Mapping, ObjectPair, SourceOfTruth
from crmsync.web._errors import ApiError
from crmsync.web.api._common import NamePath, Ws

router = APIRouter(tags=["mappings"])

FieldPath = Annotated[str, Path(min_length=1, max_length=255)]
PairQuery = Annotated[
    list[str] | None,
    Query(
        alias="pair",
        description="PLATFORM_OBJECT:CRM_OBJECT (repeatable); every pair that has "
        "the mapping when omitted.",
    ),
]


class NewMapping(BaseModel):
    """A mapping to add, to the pairs named (every pair of the integration when
    none is)."""

    model_config = ConfigDict(extra="forbid")

    platform_field: str = Field(min_length=1, max_length=255)
    crm_field: str = Field(min_length=1, max_length=255)
    direction: Direction = Direction.SYNC
    default: str | int | float | bool | None = Field(
        default=None,
        description="Used when crmsync creates a record and the source is blank.",
    )
    conflict_rule: SourceOfTruth | None = None
    pairs: list[ops.PairRef] = Field(default_factory=list)


class MappingChanges(BaseModel):
    """Changes to a mapping; a value left out keeps the stored one."""

    model_config = ConfigDict(extra="forbid")

    direction: Direction | None = None
    default: str | int | float | bool | None = None
    clear_default: bool = False
    conflict_rule: SourceOfTruth | None = None


class StoredChange(BaseModel):
    """One mapping stored, replaced or deleted on one pair."""

    pair: ops.PairRef
    kind: str
    old: Mapping | None
    new: Mapping | None


def _changes(changes: list[ops.MappingChange]) -> list[StoredChange]:
    return [
        StoredChange(pair=c.pair, kind=c.kind, old=c.old, new=c.new) for c in changes
    ]


def _pairs(texts: list[str] | None) -> list[ops.PairRef] | None:
    if not texts:
        return None
    refs = []
    for text in texts:
        try:
            platform_object, crm_object = ops.parse_pair(text)
        except CrmsyncError as error:
            raise ApiError(422, "invalid", str(error), field="pair") from None
        refs.append(ops.PairRef(platform_object=platform_object, crm_object=crm_object))
    return refs


@router.get("/integrations/{name}/pairs", response_model=list[ObjectPair])
def list_pairs(ws: Ws, name: NamePath) -> list[ObjectPair]:
    """The object pairs in match order, each with its mappings."""
    return ops.get_integration(ws, name).pairs_in_match_order()


@router.post(
    "/integrations/{name}/mappings", status_code=201, response_model=list[StoredChange]
)
def add_mapping(ws: Ws, name: NamePath, body: NewMapping) -> list[StoredChange]:
    """Add a mapping, checked against both sides' `list_fields` (unknown fields,
    read-only targets and types that cannot convert are refused with the reason).
    The integration must be paused."""
    spec: dict[str, Any] = body.model_dump(exclude={"pairs"})
    return _changes(
        ops.add_mapping(ws, name, ops.MappingSpec(**spec), body.pairs or None)
    )


@router.patch(
    "/integrations/{name}/mappings/{platform_field}/{crm_field}",
    response_model=list[StoredChange],
)
def edit_mapping(
    ws: Ws,
    name: NamePath,
    platform_field: FieldPath,
    crm_field: FieldPath,
    body: MappingChanges,
    pair: PairQuery = None,
) -> list[StoredChange]:
    """Change a mapping's direction, default or conflict rule (paused only)."""
    edit = ops.MappingEdit(
        platform_field=platform_field, crm_field=crm_field, **body.model_dump()
    )
    return _changes(ops.edit_mapping(ws, name, edit, _pairs(pair)))


@router.delete(
    "/integrations/{name}/mappings/{platform_field}/{crm_field}",
    response_model=list[StoredChange],
)
def delete_mapping(
    ws: Ws,
    name: NamePath,
    platform_field: FieldPath,
    crm_field: FieldPath,
    pair: PairQuery = None,
) -> list[StoredChange]:
    """Delete a mapping (paused only)."""
    return _changes(
        ops.delete_mapping(ws, name, platform_field, crm_field, _pairs(pair))
    )
