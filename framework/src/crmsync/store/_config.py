"""What administrators configure: integrations, object pairs and mappings."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, select, update

from crmsync.contract.models import FieldType
from crmsync.errors import (
    ConfigurationError,
    Conflict,
    IntegrationActive,
    MappingError,
    NotFound,
)
from crmsync.models import (
    CreationRule,
    Direction,
    Integration,
    Mapping,
    ObjectPair,
    SourceOfTruth,
)
from crmsync.store._cursors import Cursors
from crmsync.store._database import Database, stored_id
from crmsync.store._history import write_event
from crmsync.store._links import Links
from crmsync.store._schema import integrations, mappings, object_pairs

_SECRET_NAME = re.compile(
    r"(secret|password|token|private_key|api_key|assertion)", re.I
)


def is_secret_setting(name: str) -> bool:
    """Whether a connector setting's name marks a secret, which the state never
    stores (the one rule; the CLI asks it before the store refuses)."""
    return bool(_SECRET_NAME.search(name))


def _refuse_secrets(settings: dict[str, Any], side: str) -> None:
    for key in settings:
        if is_secret_setting(key):
            raise ConfigurationError(
                f"{side} setting {key!r} looks like a secret and is never stored in "
                "the state",
                hint="put it in the environment or .env (e.g. CRMSYNC_<CONNECTOR>_"
                f"{key.upper()})",
            )


class Configuration:
    """What administrators configure: integrations, object pairs and mappings, and
    the source-of-truth lock.

    Changing a mapping or the source of truth restarts cursors and clears baselines in
    the same transaction; those writes go through :class:`Cursors` and :class:`Links`.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._cursors = Cursors(database)
        self._links = Links(database)

    # -- integrations ------------------------------------------------------------------
    def create_integration(self, integration: Integration) -> Integration:
        _refuse_secrets(integration.platform_settings, "platform")
        _refuse_secrets(integration.crm_settings, "crm")
        with self.database.transaction() as tx:
            if tx.execute(
                select(integrations.c.id).where(integrations.c.name == integration.name)
            ).first():
                raise Conflict(
                    f"integration {integration.name!r} already exists",
                    hint="choose another name or `crmsync integration show` it",
                    field="name",
                )
            new_id = self.database.new_id(
                tx.execute(
                    integrations.insert().values(
                        name=integration.name,
                        platform_connector=integration.platform_connector,
                        crm_connector=integration.crm_connector,
                        platform_settings=integration.platform_settings,
                        crm_settings=integration.crm_settings,
                        source_of_truth=integration.source_of_truth.value,
                        active=integration.active,
                        interval_seconds=integration.interval_seconds,
                        create_in_crm=integration.create_in_crm.model_dump(mode="json"),
                        create_in_platform=integration.create_in_platform.model_dump(
                            mode="json"
                        ),
                    )
                )
            )
            for pair in integration.object_pairs:
                self._insert_pair(tx, new_id, pair)
            write_event(tx, new_id, "integration_created", {"name": integration.name})
        return self.get_integration(integration.name)

    def get_integration(self, name: str) -> Integration:
        with self.database.engine.connect() as connection:
            row = (
                connection.execute(
                    select(integrations).where(integrations.c.name == name)
                )
                .mappings()
                .first()
            )
            if row is None:
                known = [r[0] for r in connection.execute(select(integrations.c.name))]
                raise NotFound(
                    f"unknown integration {name!r}",
                    field="name",
                    hint=f"known: {', '.join(known)}"
                    if known
                    else "create one with `crmsync integration create`",
                )
            return self._integration_from(connection, row)

    def list_integrations(self) -> list[Integration]:
        """Every integration by name, in three reads whatever their number
        (integrations, then every pair, then every mapping)."""
        with self.database.engine.connect() as connection:
            rows = list(
                connection.execute(
                    select(integrations).order_by(integrations.c.name)
                ).mappings()
            )
            pairs: dict[int, list[Any]] = {}
            for pair in connection.execute(
                select(object_pairs).order_by(
                    object_pairs.c.match_order, object_pairs.c.id
                )
            ).mappings():
                pairs.setdefault(pair["integration_id"], []).append(pair)
            pair_mappings: dict[int, list[Any]] = {}
            for m in connection.execute(
                select(mappings).order_by(mappings.c.id)
            ).mappings():
                pair_mappings.setdefault(m["object_pair_id"], []).append(m)
            return [
                _integration(
                    row,
                    [
                        (pair, pair_mappings.get(pair["id"], []))
                        for pair in pairs.get(row["id"], [])
                    ],
                )
                for row in rows
            ]

    def set_active(self, name: str, active: bool) -> Integration:
        integration = self.get_integration(name)
        with self.database.transaction() as tx:
            tx.execute(
                update(integrations)
                .where(integrations.c.id == integration.id)
                .values(active=active)
            )
            write_event(tx, integration.id, "resumed" if active else "paused", {})
        return self.get_integration(name)

    def update_integration(
        self,
        name: str,
        *,
        interval_seconds: int | None = None,
        create_in_crm: CreationRule | None = None,
        create_in_platform: CreationRule | None = None,
        source_of_truth: SourceOfTruth | None = None,
        platform_settings: dict[str, Any] | None = None,
        crm_settings: dict[str, Any] | None = None,
    ) -> Integration:
        """Change settings. ``platform_settings`` and ``crm_settings`` replace the
        stored connector settings whole.

        The store decides nothing: whether the source of truth may still change is
        the policy's rule (:func:`crmsync.policy.check_source_of_truth_change`), which
        :func:`crmsync.operations.update_integration` asks before it writes.
        """
        integration = self.get_integration(name)
        changes: dict[str, Any] = {}
        if platform_settings is not None:
            _refuse_secrets(platform_settings, "platform")
            changes["platform_settings"] = platform_settings
        if crm_settings is not None:
            _refuse_secrets(crm_settings, "crm")
            changes["crm_settings"] = crm_settings
        if interval_seconds is not None:
            changes["interval_seconds"] = interval_seconds
        if create_in_crm is not None:
            changes["create_in_crm"] = create_in_crm.model_dump(mode="json")
        if create_in_platform is not None:
            changes["create_in_platform"] = create_in_platform.model_dump(mode="json")
        if source_of_truth is not None:
            changes["source_of_truth"] = source_of_truth.value
        if changes:
            with self.database.transaction() as tx:
                tx.execute(
                    update(integrations)
                    .where(integrations.c.id == integration.id)
                    .values(**changes)
                )
                write_event(tx, integration.id, "integration_updated", changes)
        return self.get_integration(name)

    def lock_source_of_truth(
        self, tx: Connection, integration_id: int, at: dt.datetime
    ) -> None:
        tx.execute(
            update(integrations)
            .where(
                integrations.c.id == integration_id,
                integrations.c.source_of_truth_locked_at.is_(None),
            )
            .values(source_of_truth_locked_at=at)
        )

    def rebaseline(self, name: str, source_of_truth: SourceOfTruth) -> Integration:
        """Change a locked source of truth deliberately: every link starts a fresh
        baseline.

        The integration's cursors restart too. A link with no baseline can only be
        decided with both sides' values in hand, so the next cycle re-reads both sides
        (as it does to back-fill a new mapping) and decides every mapped field of every
        link under the new source of truth; without that re-read, a link changed on one
        side only would wait for the other side's next change, and its edit would not
        move.
        """
        integration = self.get_integration(name)
        iid = stored_id(integration)
        with self.database.transaction() as tx:
            tx.execute(
                update(integrations)
                .where(integrations.c.id == iid)
                .values(
                    source_of_truth=source_of_truth.value,
                    source_of_truth_locked_at=None,
                )
            )
            cleared = self._links.clear_baselines(tx, iid)
            self._cursors.restart_all(tx, iid)
            write_event(
                tx,
                integration.id,
                "rebaselined",
                {
                    "from": integration.source_of_truth.value,
                    "to": source_of_truth.value,
                    "links_cleared": cleared,
                },
            )
        return self.get_integration(name)

    # -- object pairs and mappings -----------------------------------------------------
    def add_object_pair(self, name: str, pair: ObjectPair) -> Integration:
        """Add ``pair`` to the paused integration ``name``.

        :raises Conflict: the integration has this pair already.
        """
        integration = self._paused(name, "add an object pair")
        if any(
            (p.platform_object, p.crm_object) == (pair.platform_object, pair.crm_object)
            for p in integration.object_pairs
        ):
            raise Conflict(
                f"integration {name!r} already has object pair "
                f"{pair.platform_object}:{pair.crm_object}",
                hint="list its pairs with `crmsync integration show`",
                field="pairs",
            )
        with self.database.transaction() as tx:
            self._insert_pair(tx, stored_id(integration), pair)
        return self.get_integration(name)

    def put_mapping(
        self, name: str, platform_object: str, crm_object: str, mapping: Mapping
    ) -> Integration:
        """Add or replace a mapping; refused while the integration is active.

        The pair's cursors restart, so the next cycle back-fills the mapping over every
        existing linked record (a one-off full read), as DESIGN.md asks.
        """
        return self.change_mappings(name, puts=[(platform_object, crm_object, mapping)])

    def delete_mapping(
        self,
        name: str,
        platform_object: str,
        crm_object: str,
        platform_field: str,
        crm_field: str,
    ) -> Integration:
        """Delete a mapping; refused while the integration is active."""
        return self.change_mappings(
            name, deletes=[(platform_object, crm_object, platform_field, crm_field)]
        )

    def change_mappings(
        self,
        name: str,
        *,
        puts: Sequence[tuple[str, str, Mapping]] = (),
        deletes: Sequence[tuple[str, str, str, str]] = (),
    ) -> Integration:
        """Add, replace and delete mappings in one transaction: all of them or none.

        ``puts`` are (platform object, crm object, mapping); ``deletes`` are (platform
        object, crm object, platform field, crm field).
        """
        integration = self._paused(name, "change a mapping")
        iid = stored_id(integration)
        with self.database.transaction() as tx:
            for platform_object, crm_object, mapping in puts:
                self._put_mapping(tx, integration, platform_object, crm_object, mapping)
                self._cursors.restart_pair(tx, iid, platform_object, crm_object)
            for platform_object, crm_object, platform_field, crm_field in deletes:
                pair_id = self._pair_id(tx, integration, platform_object, crm_object)
                gone = tx.execute(
                    delete(mappings).where(
                        mappings.c.object_pair_id == pair_id,
                        mappings.c.platform_field == platform_field,
                        mappings.c.crm_field == crm_field,
                    )
                ).rowcount
                if not gone:
                    raise MappingError(
                        f"no mapping {platform_field} <-> {crm_field} on "
                        f"{platform_object}/{crm_object}",
                        hint="list them with `crmsync mapping list`",
                    )
                write_event(
                    tx,
                    iid,
                    "mapping_deleted",
                    {"platform_field": platform_field, "crm_field": crm_field},
                )
        return self.get_integration(name)

    def remove_object_pair(
        self, name: str, platform_object: str, crm_object: str
    ) -> Integration:
        """Remove an object pair with its mappings and links; refused while active."""
        integration = self._paused(name, "remove an object pair")
        iid = stored_id(integration)
        with self.database.transaction() as tx:
            pair_id = self._pair_id(tx, integration, platform_object, crm_object)
            tx.execute(delete(mappings).where(mappings.c.object_pair_id == pair_id))
            tx.execute(delete(object_pairs).where(object_pairs.c.id == pair_id))
            unlinked = self._links.delete_pair(tx, iid, platform_object, crm_object)
            write_event(
                tx,
                iid,
                "object_pair_removed",
                {"pair": f"{platform_object}/{crm_object}", "links_removed": unlinked},
            )
        return self.get_integration(name)

    def delete_integration(self, name: str) -> None:
        """Delete an integration and everything kept for it; refused while active."""
        integration = self._paused(name, "delete the integration")
        with self.database.transaction() as tx:
            tx.execute(
                delete(integrations).where(integrations.c.id == stored_id(integration))
            )

    def _put_mapping(
        self,
        tx: Connection,
        integration: Integration,
        platform_object: str,
        crm_object: str,
        mapping: Mapping,
    ) -> None:
        pair_id = self._pair_id(tx, integration, platform_object, crm_object)
        row = {
            "direction": mapping.direction.value,
            "platform_type": mapping.platform_type.value,
            "crm_type": mapping.crm_type.value,
            "default_value": mapping.default,
            "conflict_rule": mapping.conflict_rule.value
            if mapping.conflict_rule
            else None,
        }
        changed = tx.execute(
            update(mappings)
            .where(
                mappings.c.object_pair_id == pair_id,
                mappings.c.platform_field == mapping.platform_field,
                mappings.c.crm_field == mapping.crm_field,
            )
            .values(**row)
        ).rowcount
        if not changed:
            tx.execute(
                mappings.insert().values(
                    object_pair_id=pair_id,
                    platform_field=mapping.platform_field,
                    crm_field=mapping.crm_field,
                    **row,
                )
            )
        write_event(
            tx,
            integration.id,
            "mapping_updated" if changed else "mapping_added",
            {
                "pair": f"{platform_object}/{crm_object}",
                **mapping.model_dump(mode="json"),
            },
        )

    # -- helpers -----------------------------------------------------------------------
    def _paused(self, name: str, action: str) -> Integration:
        integration = self.get_integration(name)
        if integration.active:
            raise IntegrationActive(
                f"cannot {action} while integration {name!r} is active",
                hint=f"pause it first with `crmsync integration pause {name}`",
            )
        return integration

    def _pair_id(
        self,
        tx: Connection,
        integration: Integration,
        platform_object: str,
        crm_object: str,
    ) -> int:
        pair_id = tx.execute(
            select(object_pairs.c.id).where(
                object_pairs.c.integration_id == integration.id,
                object_pairs.c.platform_object == platform_object,
                object_pairs.c.crm_object == crm_object,
            )
        ).scalar()
        if pair_id is None:
            known = (
                ", ".join(
                    f"{p.platform_object}/{p.crm_object}"
                    for p in integration.object_pairs
                )
                or "none"
            )
            raise MappingError(
                f"integration {integration.name!r} has no object pair "
                f"{platform_object}/{crm_object}",
                hint=f"its pairs: {known}",
            )
        return int(pair_id)

    def _insert_pair(
        self, tx: Connection, integration_id: int, pair: ObjectPair
    ) -> None:
        pair_id = self.database.new_id(
            tx.execute(
                object_pairs.insert().values(
                    integration_id=integration_id,
                    platform_object=pair.platform_object,
                    crm_object=pair.crm_object,
                    match_order=pair.match_order,
                    platform_match_field=pair.platform_match_field,
                    crm_match_field=pair.crm_match_field,
                )
            )
        )
        for mapping in pair.mappings:
            tx.execute(
                mappings.insert().values(
                    object_pair_id=pair_id,
                    platform_field=mapping.platform_field,
                    crm_field=mapping.crm_field,
                    direction=mapping.direction.value,
                    platform_type=mapping.platform_type.value,
                    crm_type=mapping.crm_type.value,
                    default_value=mapping.default,
                    conflict_rule=mapping.conflict_rule.value
                    if mapping.conflict_rule
                    else None,
                )
            )

    def _integration_from(self, connection: Connection, row: Any) -> Integration:
        pairs = [
            (
                pair,
                list(
                    connection.execute(
                        select(mappings)
                        .where(mappings.c.object_pair_id == pair["id"])
                        .order_by(mappings.c.id)
                    ).mappings()
                ),
            )
            for pair in connection.execute(
                select(object_pairs)
                .where(object_pairs.c.integration_id == row["id"])
                .order_by(object_pairs.c.match_order, object_pairs.c.id)
            ).mappings()
        ]
        return _integration(row, pairs)


def _integration(row: Any, pairs: Sequence[tuple[Any, Sequence[Any]]]) -> Integration:
    """An integration from its row, and its pairs' rows each with its mappings' rows."""
    return Integration(
        id=row["id"],
        name=row["name"],
        platform_connector=row["platform_connector"],
        crm_connector=row["crm_connector"],
        platform_settings=row["platform_settings"],
        crm_settings=row["crm_settings"],
        source_of_truth=SourceOfTruth(row["source_of_truth"]),
        source_of_truth_locked_at=row["source_of_truth_locked_at"],
        active=row["active"],
        interval_seconds=row["interval_seconds"],
        create_in_crm=CreationRule.model_validate(row["create_in_crm"]),
        create_in_platform=CreationRule.model_validate(row["create_in_platform"]),
        object_pairs=tuple(
            ObjectPair(
                platform_object=pair["platform_object"],
                crm_object=pair["crm_object"],
                match_order=pair["match_order"],
                platform_match_field=pair["platform_match_field"],
                crm_match_field=pair["crm_match_field"],
                mappings=tuple(
                    Mapping(
                        platform_field=m["platform_field"],
                        crm_field=m["crm_field"],
                        direction=Direction(m["direction"]),
                        platform_type=FieldType(m["platform_type"]),
                        crm_type=FieldType(m["crm_type"]),
                        default=m["default_value"],
                        conflict_rule=SourceOfTruth(m["conflict_rule"])
                        if m["conflict_rule"]
                        else None,
                    )
                    for m in pair_mappings
                ),
            )
            for pair, pair_mappings in pairs
        ),
    )


__all__ = ["Configuration", "is_secret_setting"]
