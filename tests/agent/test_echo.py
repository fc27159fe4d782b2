"""The echo agent's delay line."""

from __future__ import annotations

from agent.base import CallPurpose, Direction
from agent.echo import EchoAgent

A, B = b"a" * 160, b"b" * 160


class NoCall:
    call_id = caller = called = ""
    direction: Direction = "inbound"
    purpose: CallPurpose | None = None

    def hangup(self) -> None: ...

    def send_dtmf(self, digits: str) -> None: ...

    def audio_ready(self) -> None: ...

    async def transfer(self, target: str) -> bool:
        return False


def run(agent: EchoAgent, frames: list[bytes | None]) -> list[bytes | None]:
    out = []
    for frame in frames:
        agent.on_caller_frame(frame)
        out.append(agent.next_frame())
    return out


def test_echo_after_delay_keeps_timing_of_silence() -> None:
    agent = EchoAgent(NoCall(), delay_ms=60)  # 3 frames
    assert run(agent, [A, None, B, None, None, None]) == [None, None, None, A, None, B]


def test_zero_delay_is_immediate_and_odd_frames_are_dropped() -> None:
    agent = EchoAgent(NoCall(), delay_ms=0)
    assert run(agent, [A, b"short", B]) == [A, None, B]
