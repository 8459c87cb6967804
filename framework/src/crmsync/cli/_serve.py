"""``crmsync serve``: the administrator's web app and REST API.

Also makes the credentials it checks: ``--hash-password`` prints the hash of a password
typed at a prompt, ``--new-token`` a new API token and its hash. Only the hashes are
kept (in ``CRMSYNC_WEB_PASSWORD_HASH`` and ``CRMSYNC_WEB_TOKEN_HASH``).
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Annotated

import typer

from crmsync.cli._state import out, state_of
from crmsync.errors import ConfigurationError

if TYPE_CHECKING:
    from crmsync.web import WebSettings

__all__ = ["is_loopback", "serve"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _web_settings() -> WebSettings:
    from pydantic import ValidationError

    from crmsync.web import WebSettings

    try:
        return WebSettings()
    except ValidationError as error:
        problem = error.errors()[0]
        name = f"CRMSYNC_WEB_{str(problem['loc'][0]).upper()}"
        raise ConfigurationError(
            f"{name}: {problem['msg']}", hint="fix it in the environment or .env"
        ) from None


def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")
    ] = 8000,
    behind_tls: Annotated[
        bool,
        typer.Option(
            "--behind-tls",
            help="Allow a non-loopback --host: say so only when a TLS proxy is in "
            "front (sign-in cookies and tokens travel in the clear otherwise).",
        ),
    ] = False,
    hash_password: Annotated[
        bool,
        typer.Option(
            "--hash-password",
            help="Ask for the administrator's password and print the line to set "
            "CRMSYNC_WEB_PASSWORD_HASH to; serve nothing.",
        ),
    ] = False,
    new_token: Annotated[
        bool,
        typer.Option(
            "--new-token",
            help="Print a new REST API token (shown once) and the line to set "
            "CRMSYNC_WEB_TOKEN_HASH to; serve nothing.",
        ),
    ] = False,
) -> None:
    """Serve the web app and the REST API (/api/v1) against the state store."""
    from crmsync.web import hash_password as make_password_hash
    from crmsync.web import hash_token
    from crmsync.web import new_token as make_token

    if hash_password:
        password = typer.prompt(
            "Administrator password", hide_input=True, confirmation_prompt=True
        )
        out().print(f"CRMSYNC_WEB_PASSWORD_HASH={make_password_hash(password)}")
        return
    if new_token:
        token = make_token()
        console = out()
        console.print(f"API token (shown once, keep it safe): {token}", markup=False)
        console.print(f"CRMSYNC_WEB_TOKEN_HASH={hash_token(token)}", markup=False)
        return
    if not is_loopback(host) and not behind_tls:
        raise ConfigurationError(
            f"--host {host} is not a loopback address, and crmsync serves plain HTTP",
            hint="put a TLS proxy in front and pass --behind-tls, or keep the default "
            "--host 127.0.0.1",
        )
    import uvicorn

    from crmsync.web import Backend, create_app

    state = state_of(ctx)
    web = _web_settings()
    backend = Backend(
        settings=state.get_settings(),
        catalog=state.catalog,
        connector_kwargs=state.connector_kwargs,
    )
    app = create_app(backend, web)
    shown = f"[{host}]" if ":" in host else host
    out().print(
        f"crmsync serving on http://{shown}:{port} (Ctrl-C to stop)", markup=False
    )
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)
    finally:
        backend.close()
