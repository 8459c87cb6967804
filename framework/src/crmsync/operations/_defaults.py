"""Which installed connector a face uses when the operator names none: the demo's CRM,
and the platform of a new integration (and of the demo). Connectors declare what they
offer (``ConnectorDescription.emulator``, ``self_contained``, ``demo_priority``); the
framework names none of them."""

from __future__ import annotations

from collections.abc import Callable

from crmsync.contract import ConnectorDescription
from crmsync.errors import ConfigurationError
from crmsync.plugins import ConnectorCatalog

__all__ = ["default_platform", "demo_crm"]


def _preferred(
    catalog: ConnectorCatalog,
    offers: Callable[[ConnectorDescription], bool],
    *,
    what: str,
    none_hint: str,
    option: str,
) -> str:
    """The only loaded connector whose description ``offers``, else the one of them
    with the highest ``demo_priority``; none, or a tie at the top, is refused."""
    offering = sorted(
        (installed.description.demo_priority, connector_id)
        for connector_id, installed in catalog.loaded.items()
        if offers(installed.description)
    )
    if not offering:
        raise ConfigurationError(
            f"no installed connector offers {what}", hint=none_hint
        )
    top = offering[-1][0]
    best = [connector_id for priority, connector_id in offering if priority == top]
    if len(best) > 1:
        raise ConfigurationError(
            f"several installed connectors offer {what}: {', '.join(best)}",
            hint=f"pick one with `{option} <id>`, e.g. {option.split()[-1]} {best[0]}",
        )
    return best[0]


def demo_crm(catalog: ConnectorCatalog, wanted: str | None = None) -> str:
    """The demo's CRM: ``wanted``, else the only installed CRM connector that declares
    an emulator, else the one among them with the highest ``demo_priority``.

    :raises ConfigurationError: none declares an emulator, or several tie at the top
        (the error lists them, to pick one with ``--crm``).
    """
    if wanted is not None:
        return wanted
    return _preferred(
        catalog,
        lambda d: d.emulator is not None and d.role != "platform",
        what="an emulator for the demo",
        none_hint="install a CRM connector that declares one (`crmsync connectors` "
        "lists what is installed), then run `crmsync demo --crm <id>`",
        option="crmsync demo --crm",
    )


def default_platform(
    catalog: ConnectorCatalog, wanted: str | None = None, *, option: str = "--platform"
) -> str:
    """The platform connector used when none is named: ``wanted``, else the only
    installed platform connector that declares itself ``self_contained`` (it runs with
    no external service), else the one among them with the highest ``demo_priority``.

    :raises ConfigurationError: none is self-contained, or several tie at the top
        (the error lists them, to pick one with ``option``).
    """
    if wanted is not None:
        return wanted
    return _preferred(
        catalog,
        lambda d: d.self_contained and d.role != "crm",
        what="a self-contained platform",
        none_hint=f"name the platform connector with {option} (`crmsync connectors` "
        "lists what is installed)",
        option=option,
    )
