"""The per-call agent interface (sipgw.agent.base): what a subclass must and may implement, and
which methods must return at once (the media ticker calls them every 20 ms)."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from sipgw.agent.assistant.agent import AssistantAgent
from sipgw.agent.base import FRAME_BYTES, Agent, CallPurpose
from sipgw.agent.echo.agent import EchoAgent
from sipgw.media.quality import CallQuality

SYNCHRONOUS = ("on_answered", "on_caller_frame", "on_caller_audio", "next_frame", "on_dtmf",
               "on_transfer_failed", "on_transfer_refused", "on_quality")  # fmt: skip
"""Called from the ticker or the packet path: they must return at once (no awaiting)."""
ASYNCHRONOUS = ("prepare", "say_goodbye", "close")


class Silent(Agent):
    """The least an agent implements."""

    def on_caller_frame(self, frame: bytes | None) -> None:
        pass

    def next_frame(self) -> bytes | None:
        return None


def test_a_frame_is_20_ms_of_8_khz_mu_law() -> None:
    assert FRAME_BYTES == 8000 * 20 // 1000


def test_an_agent_must_take_caller_frames_and_give_its_own() -> None:
    class Deaf(Agent):
        def next_frame(self) -> bytes | None:
            return None

    with pytest.raises(TypeError, match="on_caller_frame"):
        Deaf()  # type: ignore[abstract]
    assert set(Agent.__abstractmethods__) == {"on_caller_frame", "next_frame"}


async def test_every_other_hook_is_optional_and_does_nothing() -> None:
    agent = Silent()
    assert agent.record is None and agent.observer is None
    await agent.prepare()
    await agent.say_goodbye("Goodbye.")
    await agent.close("remote-bye")
    agent.on_answered()
    agent.on_caller_audio(bytes(FRAME_BYTES))
    agent.on_dtmf("5")
    agent.on_transfer_failed(486, "Busy Here")
    agent.on_transfer_refused(603, "Decline")
    agent.on_quality(CallQuality(0, 0, 0.0, 0.0, None, None, None, 0, 0, 4.4))


@pytest.mark.parametrize("agent", [Agent, EchoAgent, AssistantAgent], ids=lambda a: a.__name__)
def test_the_ticker_hooks_are_plain_functions_and_the_others_coroutines(agent: type) -> None:
    for name in SYNCHRONOUS:
        assert not inspect.iscoroutinefunction(getattr(agent, name)), name
    for name in ASYNCHRONOUS:
        assert inspect.iscoroutinefunction(getattr(agent, name)), name


def test_a_call_purpose_is_frozen_with_empty_defaults() -> None:
    purpose = CallPurpose()
    assert (purpose.reason, purpose.notes, purpose.requested_time) == ("", "", "")
    assert purpose.callback_id is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        purpose.reason = "your refund"  # type: ignore[misc]
    assert CallPurpose("your refund", callback_id=7) == CallPurpose(reason="your refund",
                                                                      callback_id=7)  # fmt: skip
