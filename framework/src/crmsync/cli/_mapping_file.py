"""Mappings as code: ``mapping export`` writes YAML or JSON, ``mapping apply`` reads it.

The file names object pairs and their mappings; field types are not in it (they come
from ``list_fields`` when the file is applied, as for ``mapping add``)::

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
from typing import TYPE_CHECKING, Any

import typer
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich.text import Text

from crmsync.cli._errors import not_utf8_text
from crmsync.cli._render import mapping_dict, mapping_text
from crmsync.cli._state import out
from crmsync.cli._validate import LiveFields
from crmsync.errors import ConfigurationError
from crmsync.models import Direction, Integration, Mapping, ObjectPair, SourceOfTruth

if TYPE_CHECKING:
    from crmsync.cli._state import CliState

__all__ = ["MappingFile", "apply_file", "export_file", "read_file"]

FORMAT_VERSION = 1


class FileMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platform_field: str = Field(min_length=1)
    crm_field: str = Field(min_length=1)
    direction: Direction
    default: Any = None
    conflict_rule: SourceOfTruth | None = None


class FilePair(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platform_object: str = Field(min_length=1)
    crm_object: str = Field(min_length=1)
    mappings: list[FileMapping] = Field(default_factory=list)


class MappingFile(BaseModel):
    """The mapping file's schema (``version`` 1)."""

    model_config = ConfigDict(extra="forbid", title="mapping file")

    integration: str | None = None
    version: int = FORMAT_VERSION
    pairs: list[FilePair]


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


def export_file(integration: Integration, path: Path) -> int:
    """Write ``integration``'s mappings to ``path``; returns how many were written."""
    document = {
        "integration": integration.name,
        "version": FORMAT_VERSION,
        "pairs": [
            {
                "platform_object": pair.platform_object,
                "crm_object": pair.crm_object,
                "mappings": [_compact(mapping_dict(m)) for m in pair.mappings],
            }
            for pair in integration.pairs_in_match_order()
        ],
    }
    if _is_yaml(path):
        text = _yaml().safe_dump(document, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(document, indent=2, default=str) + "\n"
    path.write_text(text, encoding="utf-8")
    return sum(len(pair.mappings) for pair in integration.object_pairs)


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value is not None}


def read_file(path: Path) -> MappingFile:
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
    if not isinstance(raw, dict):
        raise ConfigurationError(
            f"{path}: expected a mapping file with 'pairs'",
            hint="start from `crmsync mapping export NAME FILE`",
        )
    try:
        document = MappingFile.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigurationError(
            f"{path}: {where}: {first['msg']}",
            hint="start from `crmsync mapping export NAME FILE`",
        ) from None
    if document.version != FORMAT_VERSION:
        raise ConfigurationError(
            f"{path}: mapping file version {document.version} is not supported",
            hint=f"this crmsync reads version {FORMAT_VERSION}",
        )
    # Two entries for one pair would otherwise merge, the last one silently winning.
    seen: set[tuple[str, str]] = set()
    for pair in document.pairs:
        key = (pair.platform_object, pair.crm_object)
        if key in seen:
            raise ConfigurationError(
                f"{path}: object pair {key[0]}:{key[1]} is listed twice",
                hint="list each pair once, with all of its mappings",
            )
        seen.add(key)
    return document


def _diff(
    integration: Integration, document: MappingFile, live: LiveFields, path: Path
) -> tuple[
    list[tuple[ObjectPair, Mapping, Mapping | None]], list[tuple[ObjectPair, Mapping]]
]:
    """(puts: pair, new, old or None) and (deletes: pair, old)."""
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
            f"{path} {what}",
            hint="object pairs are set by `crmsync "
            "integration create --pair`; the file lists every pair",
        )
    puts: list[tuple[ObjectPair, Mapping, Mapping | None]] = []
    deletes: list[tuple[ObjectPair, Mapping]] = []
    for key, file_pair in wanted.items():
        pair = pairs[key]
        seen: set[tuple[str, str]] = set()
        for entry in file_pair.mappings:
            ident = (entry.platform_field, entry.crm_field)
            if ident in seen:
                raise ConfigurationError(
                    f"{path}: {entry.platform_field} ↔ {entry.crm_field} "
                    f"appears twice in {key[0]}:{key[1]}"
                )
            seen.add(ident)
            new = live.build(pair, **entry.model_dump())
            old = pair.mapping_for(*ident)
            if old is None or mapping_dict(old) != mapping_dict(new):
                puts.append((pair, new, old))
        deletes.extend(
            (pair, m)
            for m in pair.mappings
            if (m.platform_field, m.crm_field) not in seen
        )
    return puts, deletes


def apply_file(
    state: CliState, integration: Integration, path: Path, *, yes: bool
) -> None:
    """Show how ``path`` differs from the stored mappings; apply it if confirmed."""
    document = read_file(path)
    if document.integration not in (None, integration.name):
        raise ConfigurationError(
            f"{path} was exported from integration "
            f"{document.integration!r}, not {integration.name!r}",
            hint="edit its 'integration' line to apply it here",
        )
    live = LiveFields(*state.open_integration(integration))
    puts, deletes = _diff(integration, document, live, path)
    console = out()
    if not puts and not deletes:
        console.print(
            f"{path} matches the mappings of {integration.name!r}: nothing to change",
            markup=False,
        )
        return
    for pair, new, old in puts:
        where = f"{pair.platform_object}:{pair.crm_object}"
        if old is None:
            console.print(Text(f"+ {where}  {mapping_text(new)}", style="green"))
        else:
            console.print(
                Text(
                    f"~ {where}  {mapping_text(old)}  →  {mapping_text(new)}",
                    style="yellow",
                )
            )
    for pair, old in deletes:
        console.print(
            Text(
                f"- {pair.platform_object}:{pair.crm_object}  {mapping_text(old)}",
                style="red",
            )
        )
    console.print(
        f"{len(puts)} to add or change, {len(deletes)} to delete", markup=False
    )
    if not yes and not typer.confirm("Apply these changes?", default=False):
        raise ConfigurationError(
            "mapping changes not confirmed; nothing changed",
            hint="pass --yes to apply without a prompt",
        )
    # One transaction: a file is applied whole or not at all.
    state.existing_store().change_mappings(
        integration.name,
        puts=[(p.platform_object, p.crm_object, new) for p, new, _ in puts],
        deletes=[
            (p.platform_object, p.crm_object, old.platform_field, old.crm_field)
            for p, old in deletes
        ],
    )
    console.print(f"applied {path} to {integration.name!r}", markup=False)
