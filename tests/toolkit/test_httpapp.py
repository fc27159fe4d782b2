"""The real-peer tests' small HTTP service (tests/toolkit/httpapp.py)."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest

from tests.toolkit.httpapp import JsonHandler, serving


class Echo(JsonHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/missing":
            self.send_json({"error": "none"}, 404)
            return
        self.send_json({"path": self.path})


def test_a_handler_answers_json_on_its_port_until_the_block_ends() -> None:
    with serving(Echo) as port:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/a/b", timeout=5) as answer:
            assert answer.headers["Content-Type"] == "application/json"
            assert json.loads(answer.read()) == {"path": "/a/b"}
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/missing", timeout=5)
        assert refused.value.code == 404
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass  # closed
