"""The vendors' WebSocket messages as JSON objects (sipgw/agent/services/json_messages.py)."""

from __future__ import annotations

import logging

import pytest

from sipgw.agent.services.json_messages import json_object

log = logging.getLogger("sipgw.tests.json_messages")


def test_only_json_objects_in_text_frames_are_messages() -> None:
    assert json_object('{"type": "Begin"}', "AssemblyAI", log) == {"type": "Begin"}
    assert json_object(b'{"type": "Begin"}', "AssemblyAI", log) is None  # binary: no message
    assert json_object("[1, 2]", "AssemblyAI", log) is None


def test_a_frame_that_is_no_json_is_logged_without_its_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger=log.name):
        assert json_object("my card is 4111", "ElevenLabs", log) is None
    said = "ElevenLabs sent a message that is not JSON (15 characters); ignored"
    assert caplog.messages == [said]
