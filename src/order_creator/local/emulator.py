"""A moto server on loopback, in-process and single-threaded.

Single-threaded on purpose: moto's threaded server loses updates under concurrent transactions
(200 committed transactions left 196-199 items), while one request at a time serialises them the way
DynamoDB does. Clients reach it over real HTTP through `AWS_ENDPOINT_URL`.
"""

from __future__ import annotations

import logging
import threading
from typing import Any


class MotoServer:
    """Start with `start()`, which returns the endpoint URL; `stop()` shuts it down."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        """Serve in a daemon thread; return `http://host:port`."""
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(self._host, self._port, app, threaded=False, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-server", daemon=True)
        self._thread.start()
        return self.url

    @property
    def url(self) -> str:
        """The endpoint URL clients should use."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
