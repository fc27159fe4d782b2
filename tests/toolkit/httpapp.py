"""A small HTTP service for the real-peer tests: a handler's class served on a free local
port in a thread (:func:`serving`), and a quiet handler that answers JSON (:class:`JsonHandler`)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["JsonHandler", "serving"]


class JsonHandler(BaseHTTPRequestHandler):
    """A handler that logs nothing and answers with :meth:`send_json`."""

    def send_json(self, payload: Any, status: int = 200) -> None:
        """``payload`` as the JSON body of a ``status`` answer."""
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        pass


@contextmanager
def serving(handler: Callable[..., BaseHTTPRequestHandler]) -> Iterator[int]:
    """``handler`` (a class, or a partial of one) served on 127.0.0.1 until the block ends;
    the port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
