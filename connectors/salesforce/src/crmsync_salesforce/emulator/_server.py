"""The emulator on a loopback port (stdlib ``ThreadingHTTPServer``), for demos and benchmarks."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from crmsync_salesforce.emulator._core import SalesforceEmulator

__all__ = ["EmulatorServer"]


class EmulatorServer:
    """Serve ``emulator`` on ``http://127.0.0.1:<port>`` through the same ``handle``.

    ``with EmulatorServer(emulator) as server: server.url`` — the url is both the login
    url and (since the emulator answers with ``instance_url`` = the request origin) the
    instance.
    """

    def __init__(self, emulator: SalesforceEmulator, host: str = "127.0.0.1", port: int = 0):
        self.emulator = emulator
        handler = _make_handler(emulator)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, name="salesforce-emulator"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _make_handler(emulator: SalesforceEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle's algorithm the body waits
        # for the client's delayed ACK of the headers (40 ms on Linux) on every request
        # of a kept-alive connection. A real API answers without that stall.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:
            return

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            host = self.headers.get("Host") or "127.0.0.1"
            request = httpx.Request(
                self.command,
                f"http://{host}{self.path}",
                headers=[(k, v) for k, v in self.headers.items()],
                content=body,
            )
            try:
                response = emulator.handle(request)
            except (httpx.RemoteProtocolError, httpx.ReadTimeout):
                self.close_connection = True
                self.connection.close()
                return
            content = response.content
            self.send_response(response.status_code)
            for key, value in response.headers.items():
                if key.lower() not in {
                    "content-length",
                    "transfer-encoding",
                    "connection",
                }:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

    return Handler
