"""What an agent reports for the gateway's metrics (sipgw.agent.observer): bounded labels."""

from __future__ import annotations

from typing import get_args

import pytest

from sipgw.agent.observer import TURN_STAGES, ErrorKind, llm_error_kind, status_error_kind


@pytest.mark.parametrize(
    ("kind", "label"),
    [
        ("timeout", "timeout"),
        ("http", "http_status"),
        ("connection", "connect"),
        ("api", "protocol"),
        ("stream", "protocol"),
        ("something new", "protocol"),  # an unknown kind never makes a new label
        ("", "protocol"),
        (None, "protocol"),
    ],
)
def test_llm_error_kinds(kind: str | None, label: str) -> None:
    assert llm_error_kind(kind) == label


@pytest.mark.parametrize(
    ("code", "connecting", "label"),
    [
        (401, True, "http_status"),  # the WebSocket upgrade was refused
        (503, False, "http_status"),
        (100, True, "http_status"),
        (599, False, "http_status"),
        (None, True, "connect"),  # refused or timed out before any answer
        (None, False, "protocol"),  # an error message in the stream
        (1011, False, "protocol"),  # a WebSocket close code
        (4001, True, "protocol"),  # a vendor's close code, even while connecting
        (600, True, "protocol"),
    ],
)
def test_stt_and_tts_failures(code: int | None, connecting: bool, label: str) -> None:
    assert status_error_kind(code, connecting=connecting) == label


def test_the_labels_are_a_closed_set() -> None:
    """Metric labels must not explode: every function answers within ErrorKind."""
    labels = {llm_error_kind(k) for k in ("timeout", "http", "connection", "x", None)}
    labels |= {status_error_kind(c, connecting=b) for c in (None, 200, 1000) for b in (True, False)}
    assert labels == set(get_args(ErrorKind))


def test_the_turn_stages_in_the_order_a_turn_goes() -> None:
    assert TURN_STAGES == (
        "stt_end_of_turn", "llm_first_token", "tools", "tts_first_byte", "gateway_reply_path",
    )  # fmt: skip
