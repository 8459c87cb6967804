"""The kit's fixtures and the helpers its checks share.

Every check talks to the connector through a :class:`~crmsync.plugins.Connection` built
the way the engine builds one (settings model, ``factory_kwargs``, the core's retry
policy), with ``sleep`` captured so that waiting is visible. Checks that must see the
connector's own behaviour, without the framework's retries in between, call
``connection.hook.<name>``.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata as metadata
import inspect
import itertools
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, ClassVar, NoReturn, TypeVar

import pytest

from crmsync.contract import Capability, ChangePage, Cursor, FieldSpec, FieldType
from crmsync.plugins import (
    ENTRY_POINT_GROUP,
    Connection,
    InstalledConnector,
    build_settings,
    describe,
)
from crmsync.testing.kit._sandbox import (
    Sandbox,
    SandboxMemberMissing,
    SandboxUnsupported,
)

T = TypeVar("T")
_indices = itertools.count(1)
STRINGY = {FieldType.STRING, FieldType.TEXT, FieldType.PHONE, FieldType.URL}
MAX_PAGES = 10_000
ENTRY_POINT_RULE = "a connector is found through its crmsync.connectors entry point"


def broke(rule: str, detail: str = "") -> NoReturn:
    """Fail the running check, naming the contract rule that was broken."""
    message = f"contract rule broken: {rule}"
    pytest.fail(f"{message}\n{detail}" if detail else message, pytrace=False)


def check(condition: object, rule: str, detail: str = "") -> None:
    """:func:`broke` unless ``condition`` holds."""
    if not condition:
        broke(rule, detail)


def optional(call: Callable[[], T]) -> T:
    """Run an optional sandbox member: a member the sandbox does not implement fails
    the check, saying how to add it; one it declares impossible (``SandboxUnsupported``
    with a reason) skips the check with that reason."""
    try:
        return call()
    except SandboxMemberMissing as missing:
        problem = f"sandbox member missing: {missing}"
    except SandboxUnsupported as reason:
        pytest.skip(f"sandbox: {reason}")
    pytest.fail(problem, pytrace=False)


def frozen(sandbox: Sandbox) -> AbstractContextManager[None]:
    """``sandbox.freeze_clock()``, or skip the check with the sandbox's reason."""
    return optional(sandbox.freeze_clock)


def requires(connection: Connection, capability: Capability) -> None:
    """Skip the check unless the connector declares ``capability``."""
    if capability not in connection.description.capabilities:
        pytest.skip(
            f"{connection.id} does not declare the {capability.value!r} capability"
        )


def fresh_indices(count: int) -> list[int]:
    """Record indices never used before in this process (so seeded values never
    collide)."""
    return [next(_indices) for _ in range(count)]


def new_records(sandbox: Sandbox, count: int) -> list[dict[str, Any]]:
    return [sandbox.new_record(index) for index in fresh_indices(count)]


def seed(sandbox: Sandbox, count: int) -> list[str]:
    """Seed ``count`` new records of the sandbox's object; returns their ids."""
    ids = sandbox.seed(sandbox.object_name, new_records(sandbox, count))
    check(len(ids) == count, "sandbox.seed returns one id per record", f"got {ids!r}")
    return list(ids)


@dataclass
class FeedRead:
    """Everything one read of a change feed returned, page by page."""

    pages: list[ChangePage] = field(default_factory=list)

    @property
    def record_ids(self) -> list[str]:
        return [r.record_id for page in self.pages for r in page.records]

    @property
    def tombstone_ids(self) -> list[str]:
        return [t.record_id for page in self.pages for t in page.tombstones]

    @property
    def ids(self) -> list[str]:
        return self.record_ids + self.tombstone_ids

    @property
    def cursor(self) -> Cursor | None:
        return self.pages[-1].cursor if self.pages else None

    def values(self) -> dict[str, dict[str, Any]]:
        return {
            r.record_id: dict(r.values) for page in self.pages for r in page.records
        }


def read_feed(
    connection: Connection,
    object_name: str,
    *,
    cursor: Cursor | None,
    page_size: int,
    fields: Sequence[str],
) -> FeedRead:
    """Read the feed from ``cursor`` to its end through the framework, page by page."""
    read = FeedRead()
    page: str | None = None
    seen_tokens: set[str] = set()
    for _ in range(MAX_PAGES):
        answer = connection.fetch_changed(
            object_name, fields=fields, cursor=cursor, page=page, page_size=page_size
        )
        read.pages.append(answer)
        page = answer.next_page
        if page is None:
            return read
        check(
            page not in seen_tokens,
            "next_page tokens move forward",
            f"token {page!r} was handed out twice in one read",
        )
        seen_tokens.add(page)
    broke("a read ends", f"no end after {MAX_PAGES} pages")


def comparable(cursor: Cursor | None) -> bool:
    """Whether a cursor has a position the kit can compare (not only an opaque
    token)."""
    return cursor is not None and cursor.modified_at is not None


def is_blank(value: Any) -> bool:
    """Blank as the sync rules define it: None, empty or whitespace text, empty list."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | tuple) and not value


def far_future(read: FeedRead) -> dt.datetime:
    """A moment after everything in ``read`` and after now."""
    latest = [r.modified_at for page in read.pages for r in page.records]
    latest += [t.deleted_at for page in read.pages for t in page.tombstones]
    return max([dt.datetime.now(dt.UTC), *latest]) + dt.timedelta(days=365)


def find_text_field(specs: Sequence[FieldSpec], sandbox: Sandbox) -> FieldSpec | None:
    """A writable, unrestricted text field of 20 characters or more, if there is one."""
    for spec in specs:
        if (
            spec.type in STRINGY
            and not spec.read_only
            and (spec.length or 100) >= 20
            and spec.name != sandbox.match_field
        ):
            return spec
    return None


def text_field(specs: Sequence[FieldSpec], sandbox: Sandbox) -> FieldSpec:
    """A writable, unrestricted text field to update in write checks."""
    found = find_text_field(specs, sandbox)
    if found is None:
        pytest.skip("the object has no writable text field of 20 characters or more")
    return found


class ContractBase:
    """Fixtures every check uses. See :class:`~crmsync.testing.ConnectorContract`."""

    connector_id: ClassVar[str] = ""
    """The connector's id: the entry-point name in ``crmsync.connectors``."""
    connector_class: ClassVar[type | None] = None
    """The connector class, for suites that run without the package installed."""
    require_entry_point: ClassVar[bool] = True
    """Fail (rather than skip) the entry-point check when no entry point is
    installed."""
    slow_call_seconds: ClassVar[float] = 0.5
    """A direct hook call answering a fault slower than this is taken as sleeping."""

    @pytest.fixture
    def sandbox(self) -> Sandbox:
        pytest.fail(
            f"{type(self).__name__} must define a `sandbox` fixture returning a "
            "crmsync.testing.Sandbox",
            pytrace=False,
        )

    @pytest.fixture
    def found_connector(self) -> tuple[Any, str | None, str | None]:
        """``(factory, distribution, version)``: the entry point ``connector_id``, or
        ``connector_class`` when none is installed. Nothing is called on the factory."""
        if not self.connector_id:
            pytest.fail(f"{type(self).__name__}.connector_id is not set", pytrace=False)
        found = entry_point(self.connector_id)
        if found is not None:
            return found
        if self.connector_class is not None:
            return self.connector_class, None, None
        broke(
            ENTRY_POINT_RULE,
            f"no entry point named {self.connector_id!r}; declare it and install "
            "the package, or set connector_class",
        )

    @pytest.fixture
    def installed_connector(
        self, found_connector: tuple[Any, str | None, str | None]
    ) -> InstalledConnector:
        """The connector as discovery finds it, or built from ``connector_class``."""
        factory, dist, version = found_connector
        skip_unless_describable(factory)
        return InstalledConnector(
            self.connector_id,
            factory,
            describe(self.connector_id, factory),
            dist,
            version,
        )

    @pytest.fixture
    def recorded_sleeps(self) -> list[float]:
        """Every wait the framework asked for while retrying
        (``Connection(sleep=...)``)."""
        return []

    @pytest.fixture
    def connection(
        self,
        installed_connector: InstalledConnector,
        sandbox: Sandbox,
        recorded_sleeps: list[float],
    ) -> Iterator[Connection]:
        """A ready connection, authenticated once, closed after the check."""
        settings = build_settings(installed_connector, sandbox.settings)
        built = Connection(
            installed_connector,
            settings,
            factory_kwargs=sandbox.factory_kwargs,
            sleep=recorded_sleeps.append,
        )
        built.authenticate()
        try:
            yield built
        finally:
            built.close()

    @pytest.fixture
    def specs(self, connection: Connection, sandbox: Sandbox) -> list[FieldSpec]:
        """``list_fields`` of the sandbox's object."""
        return connection.list_fields(sandbox.object_name)

    @pytest.fixture
    def field_names(self, specs: list[FieldSpec]) -> list[str]:
        return [spec.name for spec in specs]


def describable(factory: Any) -> bool:
    """Whether ``describe_connector`` can be called on the factory itself (a module's
    function or a class's staticmethod), as discovery calls it before any instance
    exists."""
    if inspect.ismodule(factory):
        return callable(getattr(factory, "describe_connector", None))
    return isinstance(
        inspect.getattr_static(factory, "describe_connector", None), staticmethod
    )


def skip_unless_describable(factory: Any) -> None:
    """Skip a check that needs the description when the connector cannot give one: a
    single check, ``test_hooks_match_hookspecs``, fails on it instead of every check
    erroring in setup."""
    if not describable(factory):
        pytest.skip(
            "describe_connector is not a staticmethod, so the connector cannot be "
            "described (test_hooks_match_hookspecs fails on it)"
        )


def entry_point(connector_id: str) -> tuple[Any, str | None, str | None] | None:
    """The loaded entry point ``connector_id`` with its distribution, or ``None``."""
    for candidate in metadata.entry_points(group=ENTRY_POINT_GROUP, name=connector_id):
        dist = candidate.dist
        return (
            candidate.load(),
            dist.metadata["Name"] if dist is not None else None,
            dist.version if dist is not None else None,
        )
    return None
