"""Fixtures: the web app over a temporary store, the `local` platform and the in-memory
CRM; a TestClient for the API and the pages, and (for the browser tests) the app served
by uvicorn on a loopback port in a thread."""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette deprecates driving its TestClient with httpx (for httpx2, which is
    # not a dependency here); the client itself works as documented.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from crmsync import operations as ops
from crmsync.connectors.local import LocalConnector, LocalStore
from crmsync.plugins import ConnectorCatalog, InstalledConnector, describe
from crmsync.settings import CrmsyncSettings
from crmsync.testing.memory import MemoryBackend, MemoryConnector
from crmsync.web import Backend, WebSettings, create_app, hash_password, hash_token

PASSWORD = "correct horse battery staple"
TOKEN = "cst_test-token-0123456789abcdefghijklmnopqrstuv"
# Hashing a password is slow on purpose; the tests hash it once.
PASSWORD_HASH = hash_password(PASSWORD)


def catalog() -> ConnectorCatalog:
    return ConnectorCatalog(
        loaded={
            "local": InstalledConnector(
                "local",
                LocalConnector,
                describe("local", LocalConnector),
                "crmsync",
                "0.1.0",
            ),
            "memory": InstalledConnector(
                "memory",
                MemoryConnector,
                describe("memory", MemoryConnector),
                "crmsync",
                "0.1.0",
            ),
        },
        failed={},
    )


@dataclass
class World:
    """A state store, a `local` platform file and an in-memory CRM, behind the app."""

    tmp: Path
    crm: MemoryBackend = field(default_factory=MemoryBackend)

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.tmp / 'state.db'}"

    @property
    def platform_path(self) -> Path:
        return self.tmp / "platform.db"

    def settings(self) -> CrmsyncSettings:
        return CrmsyncSettings(database_url=self.db_url)

    def backend(self) -> Backend:
        return Backend(
            settings=self.settings(),
            catalog=catalog(),
            connector_kwargs={"memory": {"backend": self.crm}},
        )

    def web(self, **extra: Any) -> WebSettings:
        values: dict[str, Any] = {
            "password_hash": PASSWORD_HASH,
            "token_hash": hash_token(TOKEN),
            "session_key": "k" * 40,
        }
        values.update(extra)
        return WebSettings(**values)

    def workspace(self) -> ops.Workspace:
        return ops.Workspace(
            catalog=catalog(),
            connector_kwargs={"memory": {"backend": self.crm}},
            settings=self.settings(),
        )

    def platform(self) -> LocalStore:
        return LocalStore(self.platform_path)

    def create(self, name: str = "acme", **extra: Any) -> None:
        with self.workspace() as ws:
            ops.create_integration(
                ws,
                ops.NewIntegration(
                    name=name,
                    crm="memory",
                    platform_settings={"path": str(self.platform_path)},
                    **extra,
                ),
            )


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


@pytest.fixture
def app(world: World) -> Iterator[FastAPI]:
    built = create_app(world.backend(), world.web())
    yield built
    built.state.backend.close()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def api(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as test_client:
        yield test_client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(client: TestClient) -> str:
    """Sign ``client`` in through the form; returns the new CSRF token."""
    page = client.get("/login")
    answer = client.post(
        "/login",
        data={"csrf_token": csrf_of(page.text), "password": PASSWORD, "next": "/"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/").text)


@pytest.fixture
def signed_in(client: TestClient) -> TestClient:
    sign_in(client)
    return client


# -- browser ------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium")
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Chromium driven by Playwright (the Debian package: Playwright cannot download
    its own browsers here)."""
    if CHROMIUM is None and os.environ.get("CI", "").lower() not in ("1", "true"):
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=BROWSER_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def live(app: FastAPI) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server


@pytest.fixture
def page(browser: Any, live: LiveServer) -> Iterator[Any]:
    """A fresh browser context on the live app; every wait is an expectation's."""
    context = browser.new_context(base_url=live.url)
    context.set_default_timeout(10_000)
    opened = context.new_page()
    yield opened
    context.close()


class LiveServer:
    """The app served by uvicorn on a loopback port, in a thread of the test session.

    The listening socket is bound before the server starts, so a browser may connect
    at once: the kernel queues the connection until uvicorn accepts it (no sleep).
    """

    def __init__(self, app: FastAPI) -> None:
        import uvicorn

        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(64)
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", lifespan="off")
        )
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()
