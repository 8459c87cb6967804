"""Any emulator on a loopback port (stdlib ``ThreadingHTTPServer``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import httpx

__all__ = ["EmulatorServer"]

Handle = Callable[[httpx.Request], httpx.Response]
_HOP_HEADERS = {"content-length", "transfer-encoding", "connection"}


class EmulatorServer:
    """Serve ``emulator.handle`` on ``http://127.0.0.1:<port>`` (``port=0``: a free
    one), for demos, ``crmsync emulator`` and tests over a real socket.

    ``with EmulatorServer(emulator) as server: server.url``. A handler raising
    ``httpx.RemoteProtocolError`` or ``httpx.ReadTimeout`` (a ``dropped_connection``
    or timed-out ``slow`` fault) closes the connection without an answer.
    """

    def __init__(
        self,
        emulator: object,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        name: str | None = None,
    ) -> None:
        handle: Handle = getattr(emulator, "handle")  # noqa: B009 - any object with handle
        self.emulator = emulator
        self._server = ThreadingHTTPServer((host, port), _make_handler(handle))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._name = name or f"{type(emulator).__name__}-server"

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        text = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{text}]" if ":" in text else text
        return f"http://{shown}:{port!s}"

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, name=self._name
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


def _make_handler(handle: Handle) -> type[BaseHTTPRequestHandler]:
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
                headers=list(self.headers.items()),
                content=body,
            )
            try:
                response = handle(request)
            except (httpx.RemoteProtocolError, httpx.ReadTimeout):
                self.close_connection = True
                self.connection.close()
                return
            content = response.read()
            # send_response would add a Date of this machine's wall clock; the
            # emulator's own (from its clock, maybe frozen) is the vendor's.
            self.log_request(response.status_code)
            self.send_response_only(response.status_code)
            self.send_header("Server", self.version_string())
            if "date" not in response.headers:
                self.send_header("Date", self.date_time_string())
            for key, value in response.headers.items():
                if key.lower() not in _HOP_HEADERS:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = _serve

    return Handler
