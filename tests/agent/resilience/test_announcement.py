"""The recorded-message agent (agent/resilience/announcement.py): plays its frames after the answer,
then hangs up."""

from __future__ import annotations

from sipgw.agent.resilience.announcement import AnnouncementAgent
from tests.agent.parts import FakeCall

A, B = b"\x11" * 160, b"\x22" * 160


def test_nothing_before_the_answer_then_the_message_then_the_hang_up() -> None:
    call = FakeCall()
    agent = AnnouncementAgent(call, (A, B))
    assert agent.next_frame() is None and call.hangups == 0  # still ringing
    agent.on_answered()
    assert call.ready == 1  # its first frame may go out at once
    agent.on_caller_frame(b"\x00" * 160)  # nobody listens
    assert [agent.next_frame(), agent.next_frame()] == [A, B]
    assert call.hangups == 0
    assert agent.next_frame() is None and call.hangups == 1
    assert agent.next_frame() is None and call.hangups == 1  # once
