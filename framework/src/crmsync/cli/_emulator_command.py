"""``crmsync emulator <id>``: a connector's emulator on its own, to try by hand; and
how the demo finds an emulator (through ``ConnectorDescription.emulator``, so the
framework imports no connector package and a third party's works the same way)."""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import SecretBytes, SecretStr

from crmsync.authoring import write_secret_file
from crmsync.cli._state import out, state_of
from crmsync.errors import ConfigurationError
from crmsync.plugins import InstalledConnector
from crmsync.store import is_secret_setting
from crmsync.testing.emulator import ServedEmulator, ServeFactory

__all__ = ["emulator", "emulator_factory", "split_settings", "start_emulator"]


def emulator_factory(installed: InstalledConnector) -> ServeFactory:
    """The ``serve`` factory ``installed`` declares, imported now."""
    target = installed.description.emulator
    if not target:
        raise ConfigurationError(
            f"connector {installed.id!r} offers no emulator",
            hint="its description names none (ConnectorDescription.emulator)",
        )
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        factory: Any = getattr(module, attribute)
    except (ImportError, AttributeError) as error:
        raise ConfigurationError(
            f"connector {installed.id!r} names emulator {target!r}, which cannot be "
            f"loaded: {error}",
            hint="reinstall the connector with its emulator",
        ) from None
    if not callable(factory):
        raise ConfigurationError(
            f"emulator {target!r} of {installed.id!r} is not callable"
        )
    served_factory: ServeFactory = factory
    return served_factory


def start_emulator(
    installed: InstalledConnector, *, host: str = "127.0.0.1", port: int = 0
) -> ServedEmulator:
    """Start ``installed``'s emulator on a loopback port (stop it when done)."""
    served = emulator_factory(installed)(host=host, port=port)
    missing = [
        name
        for name in ("url", "settings", "demo_fields", "seed", "edit", "stop")
        if not hasattr(served, name)
    ]
    if missing:
        served_stop = getattr(served, "stop", None)
        if callable(served_stop):
            served_stop()
        raise ConfigurationError(
            f"the emulator of {installed.id!r} lacks {', '.join(missing)}",
            hint="see ServedEmulator in crmsync.testing.emulator",
        )
    return served


def split_settings(
    installed: InstalledConnector, settings: Mapping[str, Any]
) -> tuple[dict[str, str], dict[str, str]]:
    """(settings an integration may store, secrets as environment variables):
    a secret by its type or by the store's rule on names."""
    model = installed.description.settings_model
    prefix = str(model.model_config.get("env_prefix") or "")
    stored: dict[str, str] = {}
    secret: dict[str, str] = {}
    for key, value in settings.items():
        info = model.model_fields.get(key)
        typed_secret = info is not None and _is_secret_type(info.annotation)
        if typed_secret or is_secret_setting(key):
            secret[f"{prefix}{key.upper()}"] = str(value)
        else:
            stored[key] = str(value)
    return stored, secret


def _is_secret_type(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, SecretStr | SecretBytes):
        return True
    return any(_is_secret_type(part) for part in getattr(annotation, "__args__", ()))


def emulator(
    ctx: typer.Context,
    connector_id: Annotated[
        str, typer.Argument(help="The connector whose emulator to run.")
    ],
    port: Annotated[
        int, typer.Option("--port", help="Port (0: a free one).", min=0)
    ] = 0,
    host: Annotated[
        str, typer.Option("--host", help="Loopback address to listen on.")
    ] = "127.0.0.1",
    env_file: Annotated[
        Path,
        typer.Option(
            "--env-file",
            help="Where the emulator's secret settings are written (owner-only), as "
            "environment variables to source before crmsync commands.",
        ),
    ] = Path(".crmsync-emulator.env"),
    seconds: Annotated[
        float | None,
        typer.Option(
            "--seconds", help="Stop after this long (default: at Ctrl-C).", min=0
        ),
    ] = None,
) -> None:
    """Serve a connector's emulator on a loopback port until Ctrl-C.

    Prints the settings that point an integration at it; secrets go to --env-file only.
    """
    if host not in {"127.0.0.1", "::1", "localhost"}:
        raise ConfigurationError(
            f"--host {host} is not a loopback address",
            hint="an emulator trusts what it issued; keep it on this machine",
        )
    installed = state_of(ctx).get_catalog().get(connector_id)
    served = start_emulator(installed, host=host, port=port)
    try:
        stored, secrets = split_settings(installed, served.settings)
        lines = [f"{name}={value}" for name, value in sorted(secrets.items())]
        if lines:
            write_secret_file(env_file, "\n".join(lines))
        console = out()
        console.print(
            f"{installed.description.name} emulator on {served.url}", markup=False
        )
        options = " ".join(
            f"--crm-setting {key}={value}" for key, value in stored.items()
        )
        if lines:
            console.print(
                f"secrets in {env_file} (owner-only): set -a; . {env_file}; set +a",
                markup=False,
            )
        console.print(
            f"try: crmsync integration create NAME --crm {installed.id} {options}",
            markup=False,
        )
        console.print("Ctrl-C stops it.", markup=False)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait(seconds)
    finally:
        served.stop()
