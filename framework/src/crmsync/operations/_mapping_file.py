"""Mappings as code: a document of object pairs and their mappings, exported from
and applied to an integration.

The document names object pairs and their mappings; field types are not in it (they
come from ``list_fields`` when it is applied, as for :func:`add_mapping`)::

    integration: demo
    version: 1
    pairs:
    - platform_object: prospect
      crm_object: Contact
      mappings:
      - {platform_field: first_name, crm_field: FirstName, direction: sync}
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crmsync.errors import ConfigurationError
from crmsync.models import Direction, Integration, Mapping, SourceOfTruth
from crmsync.operations._checks import LiveFields
from crmsync.operations._mappings import paused_integration
from crmsync.operations._models import MappingChange, MappingPlan, PairRef
from crmsync.operations._text import not_utf8_text
from crmsync.operations._workspace import Workspace

__all__ = [
    "FORMAT_VERSION",
    "MappingFile",
    "apply_mapping_plan",
    "export_mappings",
    "plan_mapping_file",
    "read_mapping_file",
    "write_mapping_file",
]

FORMAT_VERSION = 1


class FileMapping(BaseModel):
    """One mapping of a mapping document."""

    model_config = ConfigDict(extra="forbid")

    platform_field: str = Field(min_length=1)
    crm_field: str = Field(min_length=1)
    direction: Direction
    default: Any = None
    conflict_rule: SourceOfTruth | None = None


class FilePair(BaseModel):
    """One object pair of a mapping document, with every mapping it should have."""

    model_config = ConfigDict(extra="forbid")

    platform_object: str = Field(min_length=1)
    crm_object: str = Field(min_length=1)
    mappings: list[FileMapping] = Field(default_factory=list)


class MappingFile(BaseModel):
    """The mapping document's schema (``version`` 1)."""

    model_config = ConfigDict(extra="forbid", title="mapping file")

    integration: str | None = None
    version: int = FORMAT_VERSION
    pairs: list[FilePair]


def _essence(mapping: Mapping) -> dict[str, Any]:
    """What a document says of a mapping (its types come from the live fields)."""
    return {
        "platform_field": mapping.platform_field,
        "crm_field": mapping.crm_field,
        "direction": mapping.direction.value,
        "default": mapping.default,
        "conflict_rule": mapping.conflict_rule.value if mapping.conflict_rule else None,
    }


def _is_yaml(path: Path) -> bool:
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return True
    if suffix == ".json":
        return False
    raise ConfigurationError(
        f"{path}: unknown mapping file type {suffix or '(none)'!r}",
        hint="use a .yaml, .yml or .json file",
    )


def _yaml() -> Any:
    try:
        # Imported by name: PyYAML is optional (JSON files need nothing) and untyped.
        yaml = importlib.import_module("yaml")
    except ImportError:
        raise ConfigurationError(
            "YAML mapping files need PyYAML",
            hint="`pip install pyyaml`, or use a .json file",
        ) from None
    return yaml


def export_mappings(integration: Integration) -> MappingFile:
    """The mapping document of ``integration``'s stored mappings."""
    return MappingFile(
        integration=integration.name,
        version=FORMAT_VERSION,
        pairs=[
            FilePair(
                platform_object=pair.platform_object,
                crm_object=pair.crm_object,
                mappings=[FileMapping(**_essence(m)) for m in pair.mappings],
            )
            for pair in integration.pairs_in_match_order()
        ],
    )


def write_mapping_file(integration: Integration, path: Path) -> int:
    """Write ``integration``'s mappings to ``path`` (.yaml, .yml or .json); returns
    how many were written."""
    document = export_mappings(integration).model_dump(mode="json", exclude_none=True)
    # Keys with no value are left out of each mapping, so the file stays readable.
    if _is_yaml(path):
        text = _yaml().safe_dump(document, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(document, indent=2, default=str) + "\n"
    path.write_text(text, encoding="utf-8")
    return sum(len(pair.mappings) for pair in integration.object_pairs)


def read_mapping_file(path: Path) -> MappingFile:
    """Parse and check a mapping file; any problem is one ConfigurationError line."""
    is_yaml = _is_yaml(path)
    data = path.read_bytes()
    not_text = not_utf8_text(path, data)
    if not_text is not None:
        raise not_text
    text = data.decode("utf-8")
    try:
        raw = _yaml().safe_load(text) if is_yaml else json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigurationError(
            f"{path}: not valid JSON: {error.msg} at line {error.lineno}",
            hint="fix the file or export it again",
        ) from None
    except Exception as error:  # yaml.YAMLError; PyYAML is imported lazily
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or type(error).__name__
        raise ConfigurationError(
            f"{path}: not valid YAML: {problem}{where}",
            hint="fix the file or export it again",
        ) from None
    return parse_mapping_document(raw, source=str(path))


def parse_mapping_document(raw: Any, *, source: str) -> MappingFile:
    """Check a decoded mapping document (``source`` names it in errors)."""
    if not isinstance(raw, dict):
        raise ConfigurationError(
            f"{source}: expected a mapping file with 'pairs'",
            hint="start from `crmsync mapping export NAME FILE`",
        )
    try:
        document = MappingFile.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigurationError(
            f"{source}: {where}: {first['msg']}",
            hint="start from `crmsync mapping export NAME FILE`",
        ) from None
    if document.version != FORMAT_VERSION:
        raise ConfigurationError(
            f"{source}: mapping file version {document.version} is not supported",
            hint=f"this crmsync reads version {FORMAT_VERSION}",
        )
    # Two entries for one pair would otherwise merge, the last one silently winning.
    seen: set[tuple[str, str]] = set()
    for pair in document.pairs:
        key = (pair.platform_object, pair.crm_object)
        if key in seen:
            raise ConfigurationError(
                f"{source}: object pair {key[0]}:{key[1]} is listed twice",
                hint="list each pair once, with all of its mappings",
            )
        seen.add(key)
    return document


def plan_mapping_file(
    ws: Workspace, name: str, document: MappingFile, *, source: str = "the file"
) -> MappingPlan:
    """How ``document`` differs from the stored mappings of the paused integration
    ``name``, each new mapping checked against the live fields. Stores nothing.

    :raises MappingError: the integration is active.
    :raises ConfigurationError: the document names another integration, lacks or adds
        a pair, repeats a mapping, or a mapping fails its checks.
    """
    integration = paused_integration(ws, name, "apply a mapping file")
    if document.integration not in (None, integration.name):
        raise ConfigurationError(
            f"{source} was exported from integration "
            f"{document.integration!r}, not {integration.name!r}",
            hint="edit its 'integration' line to apply it here",
        )
    pairs = {(p.platform_object, p.crm_object): p for p in integration.object_pairs}
    wanted = {(p.platform_object, p.crm_object): p for p in document.pairs}
    missing = [f"{p}:{c}" for p, c in pairs if (p, c) not in wanted]
    unknown = [f"{p}:{c}" for p, c in wanted if (p, c) not in pairs]
    if unknown or missing:
        what = (
            f"names object pair {unknown[0]} that {integration.name!r} does not have"
            if unknown
            else f"lacks object pair {missing[0]}"
        )
        raise ConfigurationError(
            f"{source} {what}",
            hint="object pairs are set by `crmsync "
            "integration create --pair`; the file lists every pair",
        )
    live = LiveFields(*ws.open_integration(integration))
    puts: list[MappingChange] = []
    deletes: list[MappingChange] = []
    for key, file_pair in wanted.items():
        pair = pairs[key]
        ref = PairRef(platform_object=key[0], crm_object=key[1])
        seen: set[tuple[str, str]] = set()
        for entry in file_pair.mappings:
            ident = (entry.platform_field, entry.crm_field)
            if ident in seen:
                raise ConfigurationError(
                    f"{source}: {entry.platform_field} ↔ {entry.crm_field} "
                    f"appears twice in {key[0]}:{key[1]}"
                )
            seen.add(ident)
            new = live.build(pair, **entry.model_dump())
            old = pair.mapping_for(*ident)
            if old is None or _essence(old) != _essence(new):
                puts.append(MappingChange(pair=ref, old=old, new=new))
        deletes.extend(
            MappingChange(pair=ref, old=m)
            for m in pair.mappings
            if (m.platform_field, m.crm_field) not in seen
        )
    return MappingPlan(integration=name, changes=(*puts, *deletes))


def apply_mapping_plan(ws: Workspace, plan: MappingPlan) -> Integration:
    """Store a plan from :func:`plan_mapping_file` in one transaction: all of it or
    nothing (refused if the integration was resumed meanwhile)."""
    puts = []
    deletes = []
    for change in plan.changes:
        where = (change.pair.platform_object, change.pair.crm_object)
        if change.new is not None:
            puts.append((*where, change.new))
        elif change.old is not None:
            deletes.append((*where, change.old.platform_field, change.old.crm_field))
    return ws.existing_store().config.change_mappings(
        plan.integration, puts=puts, deletes=deletes
    )
